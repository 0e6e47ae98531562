"""Webhook signing and verification per the Standard Webhooks specification.

Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md

- The sender MUST send ``webhook-id`` (unique per message, the same on every retry: receivers use it as
  the idempotency key), ``webhook-timestamp`` (integer Unix seconds) and ``webhook-signature``.
- The signed content is ``f"{webhook_id}.{webhook_timestamp}.{body}"``; the signature is
  ``v1,`` + base64(HMAC-SHA256(secret, signed content)).
- Secrets are ``whsec_`` + base64 of the key bytes; the HMAC key is the decoded bytes.
- ``webhook-signature`` MAY hold several space-separated signatures (e.g. during secret rotation); a
  receiver MUST accept the message when any of them verifies, and SHOULD compare in constant time.
- A receiver SHOULD reject timestamps too far from its own clock (replay protection); five minutes is
  the tolerance the spec suggests.

Example::

    secret = new_secret()
    headers = sign_headers(secret, "msg_123", body)      # dict of the three headers
    verify(secret, headers, body)                        # raises WebhookVerificationError when bad
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 5 * 60
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class WebhookVerificationError(Exception):
    """A message failed verification; ``reason`` is a stable code (``bad_signature``, ``stale_timestamp``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def new_secret(num_bytes: int = 24) -> str:
    """A fresh signing secret, ``whsec_<base64>`` (the spec recommends 24 to 64 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(num_bytes)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of ``secret``: the base64-decoded bytes after the ``whsec_`` prefix."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` (Standard Webhooks, "Signature scheme")."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign_headers(
    secret: str | Sequence[str], message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``; several secrets give several signatures."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    keys = [secret] if isinstance(secret, str) else list(secret)
    return {
        HEADER_ID: message_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: " ".join(signature(key, message_id, timestamp, body) for key in keys),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError("missing_header", f"The '{name}' header is missing.")


def verify(
    secrets_: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check a received message; returns its ``webhook-id``, else raises :class:`WebhookVerificationError`.

    ``secrets_`` may list several secrets (rotation): any secret matching any ``v1`` signature passes.
    The timestamp MUST lie within ``tolerance_seconds`` of ``now`` (either way) — else ``stale_timestamp``.
    """
    message_id = _header(headers, HEADER_ID)
    raw_timestamp = _header(headers, HEADER_TIMESTAMP)
    received = _header(headers, HEADER_SIGNATURE)
    try:
        timestamp = int(raw_timestamp)
    except ValueError as exc:
        raise WebhookVerificationError(
            "bad_timestamp", "The 'webhook-timestamp' header is not an integer."
        ) from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError(
            "stale_timestamp",
            f"The message timestamp is {int(current - timestamp)} s away from now "
            f"(tolerance {tolerance_seconds} s).",
        )
    keys = [secrets_] if isinstance(secrets_, str) else list(secrets_)
    offered = [part.partition(",") for part in received.split()]
    candidates = [value for version, _, value in offered if version == SIGNATURE_VERSION]
    for key in keys:
        expected = signature(key, message_id, timestamp, body).partition(",")[2]
        for value in candidates:
            if hmac.compare_digest(expected.encode(), value.encode()):
                return message_id
    raise WebhookVerificationError("bad_signature", "No signature in 'webhook-signature' matches.")
