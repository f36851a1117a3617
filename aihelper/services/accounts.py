"""Accounts and login sessions: registration, authentication, password changes, revocation.

Every function here commits its own work. A login is a `LoginSession` row named by a random token
kept in the signed session cookie; deleting the row ends that login wherever the cookie is replayed.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import unicodedata
from datetime import timedelta
from typing import Annotated, Any

from flask import current_app
from pydantic import Field
from sqlalchemy import delete, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from aihelper.extensions import db
from aihelper.failures import Conflict, Forbidden, Invalid, NotAuthenticated, Term
from aihelper.i18n import N_
from aihelper.live import live_hub
from aihelper.models import AppSetting, LoginSession, User
from aihelper.models.types import Status
from aihelper.services import audit, groups
from aihelper.services.settings import registration_open
from aihelper.services.skeletons import folded_skeleton
from aihelper.services.unique import commit_or_conflict, committed_unique
from aihelper.times import iso_utc, utcnow
from aihelper.validation import Fields, RequiredText

USERNAME_MIN, USERNAME_MAX = 3, 50
# NFKC composes a letter and its accents into one character, so a name as typed may be longer than
# its normal form; one longer than this is no account's name and is never normalised (normalising a
# multi-megabyte name would hold the worker for seconds).
RAW_USERNAME_MAX = 4 * USERNAME_MAX
PASSWORD_MIN, PASSWORD_MAX = 8, 128
USERNAME_PUNCTUATION = frozenset("_-.")
# Letters that render as nothing (Hangul fillers); with format characters they would let two
# accounts look identical.
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")
# The row whose unique key lets exactly one registration become the first admin.
FIRST_ADMIN_CLAIM = "first_admin_id"
# last_seen is refreshed at most this often, so an ordinary request does not write.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


class Credentials(Fields):
    """POST /api/register and /api/login. Only these: an `is_admin` or `status` is refused."""

    username: Annotated[str, RequiredText(), Field(title=N_("field_username"))]
    password: Annotated[str, RequiredText(), Field(title=N_("field_password"))]


class PasswordChange(Fields):
    """POST /api/user/password."""

    old_password: Annotated[str, RequiredText(), Field(title=N_("field_old_password"))]
    new_password: Annotated[str, RequiredText(), Field(title=N_("field_new_password"))]


# What a user is shown as, by who is looking (API.md): a login's answer, the user's own account (and
# their chat page), the admin's list.
LOGIN_VIEW = ("id", "username", "is_admin")
OWN_VIEW = ("id", "username", "avatar", "is_admin", "message_count", "create_time", "last_login")
ADMIN_VIEW = (*OWN_VIEW, "status")


def user_json(user: User, view: tuple[str, ...]) -> dict[str, Any]:
    """The one way a user becomes JSON: the fields `view` names."""
    every = {
        "id": user.id,
        "username": user.username,
        "avatar": user.avatar,
        "is_admin": user.is_admin,
        "status": user.status,
        "message_count": user.message_count,
        "create_time": iso_utc(user.create_time),
        "last_login": iso_utc(user.last_login),
    }
    return {name: every[name] for name in view}


def normalize_username(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip()


def _as_looked_up(username: str) -> str:
    # A name longer than any account's names none: only its beginning is made a skeleton of, and
    # one too long to normalise is looked up as "", which no account has (USERNAME_MIN), so a huge
    # one costs no more than a real one.
    if len(username) > RAW_USERNAME_MAX:
        return ""
    return normalize_username(username)[: USERNAME_MAX + 1]


def _new_username(username: str) -> str:
    """The normal form of a name to give an account, refused before normalising when too long."""
    if len(username) > RAW_USERNAME_MAX:
        raise Invalid(N_("username_length"))
    return normalize_username(username)


def username_key(username: str) -> str:
    """What makes two usernames the same account: they look alike, case and width aside (the same
    folded skeleton), so "admin" spelt with a Cyrillic a, a dotless i, an l, a small capital A, a
    Greek capital A or in full-width letters is "admin".
    Stored as a digest: a skeleton can be several times longer than the name (a Hangul syllable
    becomes several jamo), and the key column has a fixed size and a unique index."""
    digest = hashlib.sha256(folded_skeleton(_as_looked_up(username)).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def earlier_username_key(username: str) -> str:
    """The key from before look-alikes counted (NFKC, case folded). An account whose name looked
    like an earlier account's when keys changed kept it (migration 9b7e3c5a1d42): by it, that
    account is still found under its own name, in any case; so is one that came to look like an
    earlier account when capitals began to count (migration e5f1a7c3b9d2)."""
    return _as_looked_up(username).casefold()


def username_problem(username: str) -> str | None:
    """The message key of what is wrong with `username`, or None when it is acceptable."""
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return N_("username_length")
    if not all((ch.isalnum() and ch not in INVISIBLE_LETTERS) or ch in USERNAME_PUNCTUATION for ch in username):
        return N_("username_chars")
    return None


def password_problem(password: str) -> str | None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return N_("password_length")
    return None


def _check_new_credentials(username: str, password: str) -> None:
    for problem in (username_problem(username), password_problem(password)):
        if problem:
            raise Invalid(problem)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def register(username: str, password: str) -> User:
    """Create an account; the first account ever registered becomes the admin."""
    username = _new_username(username)
    _check_new_credentials(username, password)
    if not registration_open():
        raise Forbidden(N_("registration_closed"))
    user = _insert_account(username, password, is_admin=False)
    if _claim_first_admin(user):
        audit.record_now("user.update", user.username, {"is_admin": [False, True]}, actor_name=user.username)
    return user


def _as_audited(user: User) -> dict[str, Any]:
    """What the audit log shows of an account's change by the operator (the hash only as changed)."""
    return {"is_admin": user.is_admin, "status": str(user.status), "password": user.password_hash}


def create_account(username: str, password: str, *, is_admin: bool = False) -> User:
    """An account an admin creates: the rules of registration (names, passwords, look-alikes
    taken), whether registration is open or not."""
    username = normalize_username(username)
    _check_new_credentials(username, password)
    return _insert_account(username, password, is_admin=is_admin)


def _insert_account(username: str, password: str, *, is_admin: bool) -> User:
    user = User(
        username=username,
        username_key=username_key(username),
        password_hash=hash_password(password),
        status=Status.ACTIVE,
        is_admin=is_admin,
    )
    db.session.add(user)
    groups.join_default_group(user)
    commit_or_conflict(Conflict(N_("username_taken")))
    return user


def _claim_first_admin(user: User) -> bool:
    """Make `user` the admin if no admin exists and no one has claimed the role yet.

    The claim is an insert into a primary key: among concurrent registrations exactly one insert
    succeeds, on SQLite and on MySQL alike, without locking the users table.
    """
    if db.session.scalar(select(User.id).where(User.is_admin.is_(True)).limit(1)) is not None:
        return False
    db.session.add(AppSetting(key=FIRST_ADMIN_CLAIM, value=str(user.id)))
    user.is_admin = True
    return committed_unique()


def any_account() -> bool:
    """Whether anyone has an account yet (on a fresh install, the first one becomes the admin)."""
    return db.session.scalar(select(User.id).limit(1)) is not None


def find_user(username: str) -> User | None:
    keys = (earlier_username_key(username), username_key(username))
    found = {user.username_key: user for user in db.session.scalars(select(User).where(User.username_key.in_(keys)))}
    # An account that kept its earlier key is the one its own name means, before the look-alike
    # that came first.
    return found.get(keys[0]) or found.get(keys[1])


def login_limits_epoch(username: str) -> str:
    """Names the login-limit counters of the account `username` (whether it exists or not): when
    an operator clears its limits, counting starts afresh under a new name."""
    user = find_user(username)
    return user.login_limits_reset.isoformat() if user is not None and user.login_limits_reset else "-"


def create_or_promote_admin(username: str, password: str | None) -> tuple[User, bool]:
    """For the `create-admin` command: returns the admin and whether the account is new; the
    account's login limits start afresh."""
    username = _new_username(username)
    user = find_user(username)
    created = user is None
    before = {} if created else _as_audited(user)
    if created:
        if password is None:
            raise Invalid("missing_field", N_("field_required"), field=Term(N_("field_password")))
        _check_new_credentials(username, password)
        user = User(username=username, username_key=username_key(username), status=Status.ACTIVE)
        db.session.add(user)
    elif password is not None:
        problem = password_problem(password)
        if problem:
            raise Invalid(problem)
    if password is not None:
        user.password_hash = hash_password(password)
    user.is_admin = True
    user.status = Status.ACTIVE
    # The operator is letting this admin in: whatever guessing filled its login limits is forgotten.
    user.login_limits_reset = utcnow()
    if db.session.get(AppSetting, FIRST_ADMIN_CLAIM) is None:
        db.session.flush()
        db.session.add(AppSetting(key=FIRST_ADMIN_CLAIM, value=str(user.id)))
    changes = {**audit.diff(before, _as_audited(user)), "login_limits": [None, "reset"]}
    audit.record("user.create" if created else "user.update", user.username, changes)
    db.session.commit()
    if not created:
        # The operator may be taking over a name someone else registered first: whoever held
        # that account must log in again (with the new password, when one was given).
        end_other_logins(user)
    return user, created


# A hash to check against when the username does not exist, so both failures take equally long.
_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_hex(8), method=method)
    return _DUMMY_HASHES[method]


def authenticate(username: str, password: str) -> User:
    """The account for these credentials; 401 for a wrong name or password, 403 when disabled."""
    user = find_user(username)
    if user is None:
        check_password_hash(_dummy_hash(), password)
        raise NotAuthenticated(N_("bad_credentials"))
    if not check_password_hash(user.password_hash, password):
        raise NotAuthenticated(N_("bad_credentials"))
    if user.status != Status.ACTIVE:
        raise Forbidden(N_("account_disabled"))
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_login(user: User, ip: str | None, user_agent: str | None) -> str:
    """Record a new login for `user` and return the token its session cookie will carry."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        LoginSession(
            user_id=user.id,
            token_hash=_token_hash(token),
            create_time=now,
            last_seen=now,
            ip=(ip or "")[:45] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
    )
    user.last_login = now
    db.session.commit()
    user.login_token = token
    return token


def load_login(token: str) -> User | None:
    """The active user behind a session cookie's token, or None when that login has ended."""
    row = db.session.execute(
        select(LoginSession, User)
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    login, user = row
    now = utcnow()
    if now - login.create_time > current_app.permanent_session_lifetime:
        end_login(token)
        return None
    if user.status != Status.ACTIVE:
        return None
    if now - login.last_seen > LAST_SEEN_RESOLUTION:
        login.last_seen = now
        db.session.commit()
    user.login_token = token
    return user


def end_login(token: str | None) -> None:
    if not token:
        return
    user_id = db.session.scalar(select(LoginSession.user_id).where(LoginSession.token_hash == _token_hash(token)))
    db.session.execute(delete(LoginSession).where(LoginSession.token_hash == _token_hash(token)))
    db.session.commit()
    if user_id is not None:
        logins_ended(user_id)


def end_other_logins(user: User, keep_token: str | None = None) -> None:
    """End every login of `user` except the one with `keep_token`."""
    statement = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_token:
        statement = statement.where(LoginSession.token_hash != _token_hash(keep_token))
    db.session.execute(statement)
    db.session.commit()
    logins_ended(user.id)


def logins_ended(user_id: int) -> None:
    """The user's open sockets, in every worker, check their login at once (SECURITY.md rule 10)."""
    live_hub().logins_ended(user_id)


def change_password(user: User, old_password: str, new_password: str) -> None:
    """Change the password and end every other login of this user."""
    if not check_password_hash(user.password_hash, old_password):
        raise Invalid(N_("wrong_old_password"))
    problem = password_problem(new_password)
    if problem:
        raise Invalid(problem)
    if old_password == new_password:
        raise Invalid(N_("password_same"))
    user.password_hash = hash_password(new_password)
    db.session.commit()
    end_other_logins(user, keep_token=user.login_token)


def set_status(user: User, status: str) -> None:
    """Enable or disable an account; disabling ends all of its logins at once."""
    db.session.execute(update(User).where(User.id == user.id).values(status=status))
    if status == Status.DISABLED:
        db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    db.session.commit()
    db.session.refresh(user)
    if status == Status.DISABLED:
        live_hub().stop_user(user.id)  # nothing more is paid for on the admin's keys
        logins_ended(user.id)
