"""Argon2id password hashes (argon2-cffi, RFC 9106 parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from reunite.errors import ReuniteError

MIN_PASSWORD_LENGTH = 12
_HASHER = PasswordHasher()  # Argon2id, time_cost 3, memory 64 MiB, parallelism 4


def check_password_strength(password: str, *, username: str = "") -> None:
    """Raise unless ``password`` is at least 12 characters and not the user name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ReuniteError(f"password: at least {MIN_PASSWORD_LENGTH} characters are needed, found {len(password)}")
    if username and username.lower() in password.lower():
        raise ReuniteError("password: must not contain the user name")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)


DUMMY_HASH = _HASHER.hash("not-a-real-password-used-for-timing")  # unknown users cost the same
