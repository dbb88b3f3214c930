"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 30-second steps,
6 digits, one step of clock drift either way — what authenticator apps use by default.

The shared secret is 20 random bytes, shown to the user once as Base32 and as an
``otpauth://`` URI (which authenticator apps read from a QR code).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

from reunite.errors import ReuniteError

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
SECRET_BYTES = 20
ISSUER = "reunite"


def new_secret() -> str:
    """A fresh Base32 secret (32 characters, no padding)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def secret_bytes(secret: str) -> bytes:
    """The key of a Base32 secret (spaces and lower case allowed, padding optional)."""
    text = secret.replace(" ", "").upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise ReuniteError("totp_secret: expected a Base32 secret (A-Z, 2-7)") from None


def hotp(key: bytes, counter: int, *, digits: int = DIGITS) -> str:
    """RFC 4226: the ``digits``-digit code of ``counter`` (dynamic truncation of HMAC-SHA-1)."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def step_of(at: float) -> int:
    return int(at // STEP_SECONDS)


def totp(key: bytes, at: float | None = None, *, digits: int = DIGITS) -> str:
    """RFC 6238: the code at Unix time ``at`` (default: now)."""
    return hotp(key, step_of(time.time() if at is None else at), digits=digits)


def matching_step(secret: str, code: str | None, *, at: float | None = None, window: int = WINDOW) -> int | None:
    """The time step whose code ``code`` is (within ``window`` steps of ``at``), or None.

    Compares in constant time; a code that is not 6 digits never matches."""
    code = (code or "").replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = secret_bytes(secret)
    now = step_of(time.time() if at is None else at)
    found = None
    for step in range(now - window, now + window + 1):
        if hmac.compare_digest(hotp(key, step), code) and found is None:
            found = step
    return found


def provisioning_uri(secret: str, username: str, *, issuer: str = ISSUER) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app enrols from."""
    label = quote(f"{issuer}:{username}", safe=":@")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"
