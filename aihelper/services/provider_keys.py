"""Provider API keys at rest: Fernet tokens under AIHELPER_ENCRYPTION_KEYS (newest key first).

A key is decrypted only to call its provider or to compute its hint. A key that was set but can no
longer be used — a token no configured key can read (the encryption keys were replaced), or a key
cleared because the provider moved to another host — is reported as "needs re-entry", never as an
error page, and its provider is not called until a key is entered again.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import select

from aihelper.extensions import db
from aihelper.failures import Conflict
from aihelper.models import ApiProvider

KEY_SET = "set"
KEY_MISSING = "missing"
KEY_NEEDS_REENTRY = "needs_reentry"

# What a key cleared by a move to another host is stored as (providers.py). Not a Fernet token, so
# nothing decrypts it; not empty, so its provider is not taken for one that needs no key and
# called without it.
KEY_CLEARED = "cleared"

# `sk-`, `gsk_`, `xai-`: how a vendor marks its keys, which says which vendor and nothing more.
_VENDOR_PREFIX = re.compile(r"[a-z]{2,4}[-_]")


@lru_cache(maxsize=4)
def _cipher_for(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])


def _cipher() -> MultiFernet:
    return _cipher_for(current_app.config["AIHELPER_ENCRYPTION_KEYS"])


def encrypt_key(plain: str) -> str:
    return _cipher().encrypt(plain.encode()).decode()


def decrypt_key(token: str | None) -> str | None:
    """The plain key, or None when there is none or it cannot be decrypted with the current keys."""
    if not token or token == KEY_CLEARED:
        return None
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def key_state(token: str | None) -> str:
    if not token:
        return KEY_MISSING
    return KEY_SET if decrypt_key(token) is not None else KEY_NEEDS_REENTRY


def key_to_send(token: str | None, refusal: str) -> str | None:
    """The plain key a call to the provider sends; None for a provider that has no key. A key that
    was set but cannot be used refuses the call (409 key_needs_reentry, with the message *refusal*)
    instead of letting it go without the key."""
    if not token:
        return None
    plain = decrypt_key(token)
    if plain is None:
        raise Conflict("key_needs_reentry", refusal)
    return plain


def key_hint(token: str | None) -> str:
    """A mask such as `sk-…3f9a` that tells keys apart without revealing them.

    It shows at most a quarter of the key, so that even a short key keeps most of itself secret:
    the last characters (4 at most), then a vendor prefix such as `sk-` (the same in every key of
    that vendor) only where it still fits."""
    plain = decrypt_key(token)
    if not plain:
        return ""
    budget = len(plain) // 4
    tail = plain[len(plain) - min(4, budget) :]
    prefix = _VENDOR_PREFIX.match(plain)
    head = prefix.group() if prefix and len(prefix.group()) + len(tail) <= budget else ""
    return f"{head}…{tail}"


def rotate_keys() -> tuple[int, int]:
    """Re-encrypt every stored key with the newest encryption key; returns (rotated, unreadable)."""
    cipher = _cipher()
    rotated = unreadable = 0
    stored = select(ApiProvider).where(ApiProvider.api_key.is_not(None), ApiProvider.api_key != KEY_CLEARED)
    for provider in db.session.scalars(stored):
        try:
            provider.api_key = cipher.rotate(provider.api_key.encode()).decode()
            rotated += 1
        except InvalidToken:
            unreadable += 1
    db.session.commit()
    return rotated, unreadable
