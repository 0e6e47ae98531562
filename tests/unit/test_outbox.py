"""The outbox: enqueue in the caller's transaction, retry timing, the delivery state machine, replay, and
the attempt history when a worker stops holding a claim."""

from __future__ import annotations

import datetime as dt
import email.utils
import itertools
import random
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import simulator.jobs  # noqa: F401 - registers outbox delivery
from simulator.cli import main
from simulator.config import SandboxConfig
from simulator.core import delivery
from simulator.core.clock import tenant_now, wall_now
from simulator.core.db import Database
from simulator.core.delivery import Answer, claim_due_messages, lease_seconds, record_answer
from simulator.core.errors import ValidationFailed
from simulator.core.models import Tenant
from simulator.core.outbox import (
    add_endpoint,
    enqueue,
    get_message,
    next_retry_delay,
    replay,
    retry_after_seconds,
)
from simulator.core.outbox_models import DeliveryAttempt, OutboxMessage, WebhookEndpoint
from simulator.core.settings import RetryPolicy
from simulator.core.tenancy import create_tenant
from tests.conftest import ADMIN

SCHEDULE = [0, 5, 300, 1800]


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture
def tenant(db: Database) -> str:
    with db.session() as session:
        create_tenant(session, "acme", settings={"retry": {"schedule_seconds": SCHEDULE, "jitter": 0}})
        add_endpoint(session, "acme", "receiver", "http://127.0.0.1:9/hook")
    return "acme"


def queue(db: Database, tenant: str, message_id: str = "msg_1") -> int:
    with db.session() as session:
        message = enqueue(session, tenant, endpoint="receiver", topic="t", message_id=message_id, payload={})
        session.flush()
        return message.id


def answer_once(db: Database, tenant: str, answer: Answer) -> str:
    """Claim the first due message (business time far ahead) and record ``answer`` for it."""
    claimed, policy = claim_due_messages(db, tenant, wall_now() + dt.timedelta(days=30), limit=1)
    assert claimed, "nothing was due"
    with db.session() as session:
        return record_answer(session, claimed[0], answer, policy, claimed[0].due_at)


def message(db: Database, pk: int) -> OutboxMessage:
    with db.read() as session:
        row = session.get(OutboxMessage, pk)
        assert row is not None
        return row


def test_a_message_commits_with_the_callers_transaction_or_not_at_all(db: Database, tenant: str) -> None:
    with pytest.raises(RuntimeError), db.session() as session:
        enqueue(session, tenant, endpoint="receiver", topic="t", message_id="lost", payload={"a": 1})
        raise RuntimeError("the event failed to commit")
    queue(db, tenant, "kept")

    with db.read() as session:
        assert list(session.scalars(select(OutboxMessage.message_id))) == ["kept"]


def test_retry_delays_follow_the_schedule_scaled_by_time_scale() -> None:
    policy = RetryPolicy(schedule_seconds=SCHEDULE, time_scale=0.01, jitter=0)

    assert [next_retry_delay(policy, n) for n in range(1, 5)] == [0.05, 3.0, 18.0, None]


def test_jitter_spreads_delays_within_its_fraction() -> None:
    policy = RetryPolicy(schedule_seconds=SCHEDULE, time_scale=1.0, jitter=0.2)
    rng = random.Random(7)

    delays = [next_retry_delay(policy, 2, rng=rng) for _ in range(500)]

    assert all(240 <= delay <= 360 for delay in delays)
    assert max(delays) - min(delays) > 60  # really spread, not constant


def test_retry_after_wins_only_when_it_asks_for_longer() -> None:
    policy = RetryPolicy(schedule_seconds=SCHEDULE, time_scale=0.5, jitter=0)

    assert next_retry_delay(policy, 1, retry_after=60) == 30.0
    assert next_retry_delay(policy, 2, retry_after=60) == 150.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    http_date = email.utils.format_datetime(now + dt.timedelta(minutes=2), usegmt=True)

    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(http_date, now=now) == 120
    assert retry_after_seconds("not a date") is None
    assert retry_after_seconds(None) is None


def test_2xx_delivers_and_records_the_attempt(db: Database, tenant: str) -> None:
    pk = queue(db, tenant)

    assert answer_once(db, tenant, Answer(200, 12.5, snippet='{"ok": true}')) == "delivered"

    row = message(db, pk)
    assert (row.state, row.attempts, row.last_status) == ("delivered", 1, 200)
    with db.read() as session:
        attempt = session.scalars(select(DeliveryAttempt)).one()
    assert (attempt.status, attempt.outcome, attempt.response_snippet) == (200, "delivered", '{"ok": true}')


def test_failures_retry_on_the_business_clock_then_go_dead_after_the_last(db: Database, tenant: str) -> None:
    pk = queue(db, tenant)
    due_times = []
    outcomes = []
    for _ in SCHEDULE:
        due_times.append(message(db, pk).next_attempt_at)
        outcomes.append(answer_once(db, tenant, Answer(503, 3.0)))

    assert outcomes == ["retrying", "retrying", "retrying", "dead"]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(due_times)]
    assert gaps == [5, 300, 1800]
    assert message(db, pk).state == "dead"


def test_timeouts_and_resets_are_retried(db: Database, tenant: str) -> None:
    pk = queue(db, tenant)

    assert answer_once(db, tenant, Answer(None, 500.0, error="ReadTimeout: timed out")) == "retrying"
    assert message(db, pk).last_error == "ReadTimeout: timed out"


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_receiver_refusing_the_payload_itself_makes_a_dead_letter_at_once(
    db: Database, tenant: str, status: int
) -> None:
    pk = queue(db, tenant)

    assert answer_once(db, tenant, Answer(status, 1.0)) == "dead"
    assert message(db, pk).attempts == 1


def test_410_disables_the_endpoint_and_holds_its_messages(db: Database, tenant: str) -> None:
    first, second = queue(db, tenant, "m1"), queue(db, tenant, "m2")

    assert answer_once(db, tenant, Answer(410, 1.0)) == "held"

    with db.read() as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        assert not endpoint.enabled and "410" in (endpoint.disabled_reason or "")
    assert message(db, first).state == "pending" and message(db, first).attempts == 0
    assert message(db, second).state == "pending"
    assert claim_due_messages(db, tenant, wall_now() + dt.timedelta(days=30))[0] == []


def test_an_expired_lease_is_claimed_again(db: Database, tenant: str) -> None:
    pk = queue(db, tenant)
    later = wall_now() + dt.timedelta(days=1)
    assert [m.pk for m in claim_due_messages(db, tenant, later)[0]] == [pk]
    assert claim_due_messages(db, tenant, later)[0] == []  # leased

    with db.session() as session:
        session.get(OutboxMessage, pk).lease_until = wall_now() - dt.timedelta(seconds=1)

    again = claim_due_messages(db, tenant, later)[0]
    assert [(m.pk, m.attempt) for m in again] == [(pk, 2)]


def test_replay_sends_dead_letters_again_from_the_start(db: Database, tenant: str) -> None:
    dead, alive = queue(db, tenant, "dead"), queue(db, tenant, "alive")
    answer_once(db, tenant, Answer(422, 1.0))
    with db.session() as session:
        with pytest.raises(ValidationFailed):
            replay(session, tenant, [alive])
        assert replay(session, tenant, [dead]) == 1

    row = message(db, dead)
    assert (row.state, row.attempts) == ("pending", 0)
    with db.read() as session:
        assert row.next_attempt_at <= tenant_now(session.get(Tenant, tenant))


def test_replay_all_dead_takes_every_dead_letter(db: Database, tenant: str) -> None:
    for name in ("a", "b", "c"):
        queue(db, tenant, name)
    for _ in range(3):
        answer_once(db, tenant, Answer(400, 1.0))

    with db.session() as session:
        assert replay(session, tenant) == 3
    with db.read() as session:
        assert set(session.scalars(select(OutboxMessage.state))) == {"pending"}


def lease_ran_out(monkeypatch: pytest.MonkeyPatch, policy: RetryPolicy) -> None:
    """Move the delivery code's wall clock past the end of every lease taken until now."""
    after_the_lease = dt.timedelta(seconds=lease_seconds(policy) + 1)
    monkeypatch.setattr(delivery, "wall_now", lambda: wall_now() + after_the_lease)


def test_a_claim_taken_over_from_a_stopped_worker_shows_its_attempt_as_abandoned(
    db: Database, tenant: str, config: SandboxConfig, console: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = queue(db, tenant)
    later = wall_now() + dt.timedelta(days=1)
    claimed_by_a, policy = claim_due_messages(db, tenant, later, worker="worker-a")  # …and worker A dies
    assert [claimed.pk for claimed in claimed_by_a] == [pk]
    assert claim_due_messages(db, tenant, later, worker="worker-b")[0] == []  # A's lease still holds

    lease_ran_out(monkeypatch, policy)
    [taken_over], _ = claim_due_messages(db, tenant, later, worker="worker-b")
    with db.session() as session:
        assert record_answer(session, taken_over, Answer(200, 8.0), policy, taken_over.due_at) == "delivered"

    listing = console.get(f"/api/tenants/{tenant}/outbox", headers=ADMIN).get_json()
    assert listing["items"][0]["attempt_history"] == [
        {"number": 1, "outcome": "abandoned", "status": None, "worker": "worker-a"},
        {"number": 2, "outcome": "delivered", "status": 200, "worker": "worker-b"},
    ]
    abandoned, delivered = console.get(f"/api/tenants/{tenant}/outbox/{pk}", headers=ADMIN).get_json()[
        "attempts"
    ]
    assert (abandoned["status"], abandoned["latency_ms"]) == (None, None)
    assert "worker-a stopped before finishing" in abandoned["error"]
    assert (delivered["number"], delivered["worker"], delivered["latency_ms"]) == (2, "worker-b", 8.0)

    flags = ["--database-url", config.resolved_database_url, "--data-dir", str(config.data_dir)]
    listed = CliRunner().invoke(main, ["outbox", "list", "--tenant", tenant, *flags])
    assert listed.exit_code == 0, listed.output
    assert "1 abandoned by worker-a, 2 delivered 200 by worker-b" in listed.output


def test_a_worker_answering_after_losing_its_lease_fills_in_its_attempt_without_a_second_number(
    db: Database, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = queue(db, tenant)
    later = wall_now() + dt.timedelta(days=1)
    [slow], policy = claim_due_messages(db, tenant, later, worker="worker-a")
    lease_ran_out(monkeypatch, policy)
    [taken_over], _ = claim_due_messages(db, tenant, later, worker="worker-b")

    with db.session() as session:  # A's answer comes in late, then B's
        assert record_answer(session, slow, Answer(503, 9000.0), policy, slow.due_at) == "superseded"
    with db.session() as session:
        assert record_answer(session, taken_over, Answer(200, 8.0), policy, taken_over.due_at) == "delivered"

    with db.read() as session:
        history = get_message(session, tenant, pk)["attempts"]
    assert [(a["number"], a["outcome"], a["status"], a["worker"]) for a in history] == [
        (1, "superseded", 503, "worker-a"),
        (2, "delivered", 200, "worker-b"),
    ]
