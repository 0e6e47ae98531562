"""Keys and the sandbox's fake passwords.

API keys are random, shown once, and stored only as SHA-256 digests. Passwords use PBKDF2-SHA256 with a
configurable (low by default) number of rounds: the sandbox's passwords are fake, logins must be fast.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PASSWORD_SCHEME = "pbkdf2_sha256"  # noqa: S105 - a scheme name, not a password


def new_api_key(tenant_id: str) -> str:
    return f"sbx_{tenant_id}_{secrets.token_urlsafe(24)}"


def digest_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def keys_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def hash_password(password: str, iterations: int, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(12)
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    encoded_salt = base64.b64encode(salt).decode()
    return f"{PASSWORD_SCHEME}${iterations}${encoded_salt}${base64.b64encode(derived).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, expected = stored.split("$")
    except ValueError:
        return False
    if scheme != PASSWORD_SCHEME:
        return False
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(base64.b64encode(derived).decode(), expected)
