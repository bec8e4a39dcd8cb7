"""Secrets as ragqa keeps them: passwords under argon2id, random tokens (API keys, sign-in
sessions) under SHA-256. The plain secret is returned once to whoever made it and never stored.

    >>> digest = hash_password("correct horse battery")
    >>> digest.startswith("$argon2id$"), password_matches(digest, "correct horse battery")
    (True, True)
    >>> password_matches(digest, "wrong horse battery")
    False
    >>> token_hash("rqa_abc") == token_hash("rqa_abc"), len(token_hash("rqa_abc"))
    (True, 71)

A password is guessable, so it gets a slow, salted, memory-hard hash (argon2-cffi's defaults,
RFC 9106's second recommendation). A key or session token is 256 random bits: nobody can
search that space, so one unsalted SHA-256 makes a stolen database useless and keeps checking
a request to one indexed look-up.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.services.access import AccessError

KEY_PREFIX = "rqa_"
MIN_PASSWORD_CHARS = 8
_HASHER = PasswordHasher()
# Verified against when a name is unknown, so that a wrong name costs as long as a wrong
# password and the time taken does not tell which names exist.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccessError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _HASHER.hash(password)


def password_matches(digest: str | None, password: str) -> bool:
    """Whether `password` is the one `digest` was made from (`None`: an unknown user, checked
    against a dummy hash all the same)."""
    try:
        return _HASHER.verify(digest or _DUMMY_HASH, password) and digest is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = "") -> str:
    """256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()
