"""Standard Webhooks signing and verification (known answers computed here, independently)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from simulator.core.webhooks import (
    WebhookVerificationError,
    new_secret,
    secret_key,
    sign_headers,
    signature,
    verify,
)

KEY = b"sandbox-known-answer-key-0123456"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"type":"credit.recorded","data":{"member_id":"M100001"}}'
MESSAGE_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
TIMESTAMP = 1_700_000_000


def independent_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The spec's recipe, written out without the module under test."""
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_signature_matches_the_spec_recipe_computed_independently() -> None:
    expected = independent_signature(KEY, MESSAGE_ID, TIMESTAMP, BODY)

    assert signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == expected
    assert sign_headers(SECRET, MESSAGE_ID, BODY, TIMESTAMP) == {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": expected,
    }


def test_the_published_standard_webhooks_example_verifies() -> None:
    """The example of the Standard Webhooks reference libraries (secret, id, timestamp, body, signature)."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }

    assert verify(secret, headers, body, now=1614265330) == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_new_secrets_are_whsec_base64_of_random_bytes() -> None:
    first, second = new_secret(), new_secret()

    assert first.startswith("whsec_") and first != second
    assert len(secret_key(first)) == 24


def test_a_signed_message_verifies_and_returns_its_id() -> None:
    headers = sign_headers(SECRET, MESSAGE_ID, BODY, TIMESTAMP)

    assert verify(SECRET, headers, BODY, now=TIMESTAMP + 10) == MESSAGE_ID


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h, b + b" "), "bad_signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "bad_signature"),
        (lambda h, b: ({**h, "webhook-timestamp": str(TIMESTAMP + 1)}, b), "bad_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing_header"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "bad_timestamp"),
        (lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b), "bad_signature"),
    ],
)
def test_tampering_is_detected(change, reason: str) -> None:
    headers, body = change(sign_headers(SECRET, MESSAGE_ID, BODY, TIMESTAMP), BODY)

    with pytest.raises(WebhookVerificationError) as caught:
        verify(SECRET, headers, body, now=TIMESTAMP)
    assert caught.value.reason == reason


@pytest.mark.parametrize("offset", [-301, 301, 3600])
def test_timestamps_beyond_the_tolerance_are_stale_either_way(offset: int) -> None:
    headers = sign_headers(SECRET, MESSAGE_ID, BODY, TIMESTAMP)

    with pytest.raises(WebhookVerificationError) as caught:
        verify(SECRET, headers, BODY, now=TIMESTAMP + offset)
    assert caught.value.reason == "stale_timestamp"
    assert verify(SECRET, headers, BODY, now=TIMESTAMP + offset, tolerance_seconds=4000) == MESSAGE_ID


def test_during_rotation_any_of_several_signatures_and_secrets_passes() -> None:
    old, new = new_secret(), new_secret()
    both = sign_headers([old, new], MESSAGE_ID, BODY, TIMESTAMP)

    assert len(both["webhook-signature"].split(" ")) == 2
    assert verify(new, both, BODY, now=TIMESTAMP) == MESSAGE_ID
    assert verify(old, both, BODY, now=TIMESTAMP) == MESSAGE_ID
    signed_with_new = sign_headers(new, MESSAGE_ID, BODY, TIMESTAMP)
    assert verify([old, new], signed_with_new, BODY, now=TIMESTAMP) == MESSAGE_ID
    with pytest.raises(WebhookVerificationError):
        verify([old, new_secret()], signed_with_new, BODY, now=TIMESTAMP)
