"""Per-account login limits that stop guessing without letting strangers lock the owner out.

Only wrong passwords count, in the limiter's storage (Redis when REDIS_URL is set, so every worker
sees the same counts), three ways:

- against the account from this address (RATELIMIT_LOGIN_PER_ACCOUNT): once full, this address is
  refused before its password is checked, right or wrong;
- against the account from anywhere (RATELIMIT_LOGIN_ACCOUNT_TOTAL): once full, an attempt is let
  through only from an address with no failure against the account within that limit's window, and
  only with the right password; a wrong one is answered 429, like the limit, and that address has
  now failed. The owner, at an address that never failed, still gets in; a guesser gets one attempt
  per address and window beyond the limit, and from then on that address learns nothing;
- "this address has failed against the account", kept for the window of the total.

`create-admin` clears an account's counts: they are named by its `login_limits_reset` time.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from aihelper.extensions import limiter
from aihelper.failures import Forbidden, NotAuthenticated
from aihelper.models import User
from aihelper.services import accounts, audit
from aihelper.web.client_address import client_key


def authenticate(username: str, password: str) -> User:
    """accounts.authenticate behind the per-account limits (429 when they refuse the attempt); a
    failed login and an admin's login go into the audit log."""
    guard = _AccountGuard(username) if limiter.enabled else None
    if guard is not None:
        guard.refuse_when_blocked()
    try:
        user = accounts.authenticate(username, password)
    except (NotAuthenticated, Forbidden) as refused:
        try:
            if guard is not None and refused.code == "bad_credentials":
                guard.count_failure()
        finally:
            _record_failure(username, refused.code)
        raise
    if user.is_admin:
        audit.record_login("login.admin", user.username)
    return user


def _record_failure(username: str, reason: str) -> None:
    """A failed login in the audit log. A name no account has is not written out: people type
    their password into the name field; its digest still shows the same name tried again."""
    if accounts.find_user(username) is None:
        digest = hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()[:12]
        audit.record_login("login.failed", UNKNOWN_NAME, {"reason": [None, reason], "name_digest": [None, digest]})
    else:
        audit.record_login("login.failed", username, {"reason": [None, reason]})


UNKNOWN_NAME = "(unknown name)"


@lru_cache(maxsize=16)
def _limits(setting: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(setting))


@dataclass(frozen=True)
class _Counter:
    """One count of failures, under each of its limits (a setting may name several)."""

    limits: tuple[RateLimitItem, ...]
    name: tuple[str, ...]

    def exhausted(self) -> list[RateLimitItem]:
        return [item for item in self.limits if not limiter.limiter.test(item, *self.name)]

    def freed_at(self) -> float:
        """When every exhausted limit has reset (now, when none is)."""
        resets = [limiter.limiter.get_window_stats(item, *self.name).reset_time for item in self.exhausted()]
        return max(resets, default=time.time())

    def hit(self) -> None:
        for item in self.limits:
            limiter.limiter.hit(item, *self.name)


class _AccountGuard:
    def __init__(self, username: str) -> None:
        config = current_app.config
        account = accounts.username_key(username)
        epoch = accounts.login_limits_epoch(username)
        address = client_key()
        self.here = _Counter(
            _limits(config["RATELIMIT_LOGIN_PER_ACCOUNT"]), ("login-account-address", account, epoch, address)
        )
        self.anywhere = _Counter(_limits(config["RATELIMIT_LOGIN_ACCOUNT_TOTAL"]), ("login-account", account, epoch))
        longest = max(self.anywhere.limits, key=lambda item: item.get_expiry())
        once_in_that_window = type(longest)(1, longest.multiples)
        self.failed_here = _Counter((once_in_that_window,), ("login-account-failed-address", account, epoch, address))
        self.account_full = bool(self.anywhere.exhausted())

    def refuse_when_blocked(self) -> None:
        if self.here.exhausted():
            raise _too_many(self.here.freed_at())
        if self.account_full and self.failed_here.exhausted():
            # Let in again when the account's bucket frees or this address's failure expires.
            raise _too_many(min(self.anywhere.freed_at(), self.failed_here.freed_at()))

    def count_failure(self) -> None:
        for counter in (self.here, self.anywhere, self.failed_here):
            counter.hit()
        if self.account_full:
            # Answered like the limit, so a full bucket tells a guesser nothing but "not this one".
            raise _too_many(self.anywhere.freed_at())


def _too_many(freed_at: float) -> TooManyRequests:
    return TooManyRequests(retry_after=max(1, math.ceil(freed_at - time.time())))
