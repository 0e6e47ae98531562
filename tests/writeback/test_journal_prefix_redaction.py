"""The journal redacts only the kept prefix of a big JSON body: proven equal to redacting it whole."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from simulator.core.journal import stored_body
from simulator.core.redaction import redact_body, redact_body_prefix

CARD = "4242 4242 4242 4242"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJNMTAwMDAxIn0.c2lnbmF0dXJlLXZhbHVl"
SIGNED_XML = "<ds:SignatureValue>c2VjcmV0LXNpZ25hdHVyZQ==</ds:SignatureValue>"


def full_then_cut(text: str, limit: int) -> str:
    return redact_body(text, "application/json").encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def random_value(rng: random.Random, depth: int = 0) -> Any:
    leaves = [
        lambda: rng.randint(-(10**16), 10**16),
        lambda: rng.random() * 1000,
        lambda: rng.choice([True, False, None]),
        lambda: "x" * rng.randint(0, 40),
        lambda: CARD,
        lambda: f"card {CARD} and {JWT} inside é text",
        lambda: JWT,
        lambda: SIGNED_XML,
        lambda: "<SignatureValue>opened here",
        lambda: "closed here</SignatureValue>",
        lambda: "".join(rng.choice("0123456789 -") for _ in range(rng.randint(10, 30))),
    ]
    if depth > 3 or rng.random() < 0.5:
        return rng.choice(leaves)()
    if rng.random() < 0.5:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))]
    names = ["id", "password", "token", "code", "card", "number", "member_id", "SAMLResponse", "note", "é"]
    return {f"{rng.choice(names)}{n}": random_value(rng, depth + 1) for n in range(4)}


@pytest.mark.parametrize("seed", range(300))
def test_redacting_the_prefix_equals_redacting_the_whole_then_cutting(seed: int) -> None:
    rng = random.Random(seed)
    document = {"records": [random_value(rng) for _ in range(rng.randint(1, 40))]}
    if rng.random() < 0.3:
        document = {"type": "about:blank", "title": "t", "status": 400, "code": "bad", "detail": document}
    text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
    for limit in (0, 1, 17, 64, 300, 1000, 4096):
        assert redact_body_prefix(text, "application/json", limit) == full_then_cut(text, limit)


def test_a_secret_straddling_the_cut_is_still_redacted() -> None:
    body = json.dumps({"records": [{"n": "a" * 50, "note": f"{CARD} / {JWT} / {SIGNED_XML}"}] * 200})
    for limit in range(40, 220):
        kept = redact_body_prefix(body, "application/json", limit)
        assert kept == full_then_cut(body, limit)
        assert "4242 4242" not in kept and "c2lnbmF0dXJl" not in kept and "c2VjcmV0" not in kept


def test_an_element_left_open_until_far_beyond_the_cut_hides_what_it_encloses() -> None:
    body = json.dumps(
        {"a": "<SignatureValue>" + "secret-" * 2000, "b": ["x"] * 2000, "c": "</SignatureValue>", "d": "y"}
    )
    kept = redact_body_prefix(body, "application/json", 100)
    assert kept == full_then_cut(body, 100)
    assert "secret" not in kept


def test_the_journal_keeps_a_redacted_prefix_of_a_big_bulk_delivery() -> None:
    records = [{"id": f"wb_{n}", "record": {"member_id": "M1", "password": "hunter2"}} for n in range(2000)]
    body = json.dumps({"records": records}).encode()
    kept = stored_body(body, "application/json", 4096)
    assert len(kept.encode()) == 4096
    first = '{"records": [{"id": "wb_0", "record": {"member_id": "M1", "password": "[redacted]"}}'
    assert kept.startswith(first)
    assert "hunter2" not in kept
