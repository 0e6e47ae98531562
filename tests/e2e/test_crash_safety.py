"""Crash safety: `sandbox up` with a process SIGKILLed at random moments, again and again.

The AMS is killed while a checkout is in flight; its client retries with the same ``Idempotency-Key``
once the supervisor has the AMS back (or, every third time, gives up). The delivery worker is killed
while it delivers completions to the AMS inbox. Afterwards nothing is half-made: an order is whole
(charge captured, ledger posted, cart emptied, LMS enrollment made) or absent without a trace, a key
made at most one order and one charge, the ledger balances, and every completion is stored in the AMS
exactly once. On SQLite and on PostgreSQL. Kill moments come from a seeded generator, scaled by the
measured duration of what is killed; kills go through the control API, as a user would send them.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import func, select

from simulator.ams.commerce.models import LedgerEntry
from simulator.ams.gateway.models import Charge, IdempotencyRecord
from simulator.core.db import Database
from simulator.core.delivery import CONCURRENCY
from simulator.core.outbox_models import OutboxMessage
from simulator.scenario.client import SandboxClient, TenantClient
from simulator.scenario.target import free_ports
from tests.conftest import fresh_postgres_schema
from tests.helpers.processes import SANDBOX_COMMAND, ProcessGroup, clean_env, wait_until

pytestmark = pytest.mark.e2e

APPS = ("console", "ams", "lms")
ADMIN_KEY = "sbx_admin_crash-safety-0123456789abcdefghij"
APPROVED = "4242424242424242"
COURSE = "CLE-204"
CHECKOUTS = 10
GIVE_UP_EVERY = 3
"""Every third client gives up after the kill instead of retrying: its order is whole or absent."""
WORKER_KILLS = 5
WAVE = 10
"""Completions queued in the LMS (its endpoint held) before each worker kill, then claimed together."""
LEARNERS = 10
UNFINISHED = ("pending", "in_flight", "retrying")


@dataclass
class Sandbox:
    """A running `sandbox up`, its API client, and its database for the invariants no API shows."""

    group: ProcessGroup
    client: SandboxClient
    db: Database
    started: list[psutil.Process] = field(default_factory=list)
    """Every process of the sandbox seen running (children included), to prove none outlives it."""

    def running(self, name: str, not_pid: int | None = None) -> int:
        """The pid of ``name`` once it runs (as another process than ``not_pid``) and, if an app, answers."""

        def ready() -> int | None:
            assert self.group.process.poll() is None, f"the sandbox stopped\n{self.group.describe()}"
            process = self.client.process(name)
            if process is None or process["state"] != "running" or process["pid"] in (None, not_pid):
                return None
            if name in APPS and not self.answers(name):
                return None
            return process["pid"]

        pid = wait_until(ready, 30, lambda: f"{name} to run\n{self.group.describe()}", interval=0.05)
        self.remember(pid)
        return pid

    def remember(self, pid: int) -> None:
        try:
            process = psutil.Process(pid)
            self.started += [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:  # already killed: nothing of it can be left
            pass

    def left_running(self) -> list[psutil.Process]:
        """The remembered processes still running (``is_running`` tells a reused pid apart)."""
        return [p for p in self.started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def answers(self, app: str) -> bool:
        try:
            return self.client.http.get(f"{getattr(self.client, f'{app}_url')}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` through the control API; the supervisor starts it again (not as a crash)."""
        assert self.client.steer_process(name, "kill", signal="KILL")["name"] == name

    def outbox_done(self, tenant: TenantClient) -> bool:
        counts = tenant.outbox(limit=1)["counts"]
        return not any(counts.get(state) for state in UNFINISHED)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """`sandbox up` (one worker) on free ports and a fresh database, shared by this module's tests."""
    folder = tmp_path_factory.mktemp(f"crash-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'sandbox.db'}"
        else:
            url = stack.enter_context(fresh_postgres_schema())
        ports = dict(zip(APPS, free_ports(3), strict=True))
        env = clean_env(
            data_dir=str(folder / "data"), database_url=url, admin_key=ADMIN_KEY, worker_poll_seconds="0.1"
        )
        command = [*SANDBOX_COMMAND, "up", "--no-demo", *(f"--{app}-port={p}" for app, p in ports.items())]
        group = ProcessGroup.start(command, env, folder / "up")
        stack.callback(group.kill)
        urls = [f"http://127.0.0.1:{ports[app]}" for app in APPS]
        client = stack.enter_context(SandboxClient(*urls, ADMIN_KEY))
        db = Database(url)
        stack.callback(db.dispose)
        running = Sandbox(group, client, db)
        wait_until(
            lambda: all(running.answers(app) for app in APPS) and "Ctrl-C" in group.stdout,
            90,
            lambda: f"the sandbox to be up\n{group.describe()}",
        )
        running.remember(group.pgid)
        for process in client.processes():
            running.remember(process["pid"])
        yield running

        client.close()  # no kept-alive connection for the apps to wait on while they stop
        assert group.interrupt(signal.SIGINT) == 0, group.describe()
        assert running.left_running() == []
        assert "Traceback" not in group.stderr, group.stderr


# checkout


@dataclass
class Checkout:
    """One client's checkout: its key and card token, and what it was answered."""

    member_id: str
    key: str
    token: str
    gives_up: bool
    first: dict[str, Any] | None = None
    first_error: str | None = None
    final: dict[str, Any] | None = None

    def send(self, tenant: TenantClient) -> dict[str, Any]:
        return tenant.checkout(self.member_id, {"card_token": self.token}, idempotency_key=self.key)

    def send_first(self, tenant: TenantClient) -> None:
        try:
            self.first = self.send(tenant)
        except httpx.TransportError as exc:  # the AMS died under it: no answer came
            self.first_error = type(exc).__name__

    def retry(self, tenant: TenantClient, sandbox: Sandbox) -> None:
        """Send again with the same key until an answer comes (as a client does after a lost answer)."""
        for _ in range(3):
            try:
                self.final = self.send(tenant)
                return
            except httpx.TransportError:
                sandbox.running("ams")
        raise AssertionError(f"the checkout with key {self.key} never got an answer")


def test_checkouts_cut_by_sigkill_leave_whole_orders_or_nothing(sandbox: Sandbox) -> None:
    tenant = sandbox.client.create_tenant("shop", seed=5, members=CHECKOUTS + 5)
    members = [m["member_id"] for m in tenant.members() if m["record_type"] == "member"]
    assert len(members) > CHECKOUTS, members
    warm_up = Checkout(members[0], "checkout-warm-up", tenant.card_token(APPROVED), gives_up=False)
    tenant.add_to_cart(warm_up.member_id, COURSE)
    started = time.perf_counter()
    warm_up.final = warm_up.send(tenant)
    checkout_seconds = time.perf_counter() - started
    started = time.perf_counter()
    sandbox.client.processes()
    control_seconds = time.perf_counter() - started  # about how long a kill takes to arrive
    rng = random.Random(19)
    checkouts = [warm_up]

    ams_pid = sandbox.running("ams")
    for index, member_id in enumerate(members[1 : CHECKOUTS + 1], start=1):
        tenant.add_to_cart(member_id, COURSE)
        checkout = Checkout(
            member_id, f"checkout-{index}", tenant.card_token(APPROVED), index % GIVE_UP_EVERY == 0
        )
        checkouts.append(checkout)
        # into the request: early, late or just after (the warm-up was the slowest: cold caches)
        kill_at = rng.uniform(0.1, 1.1) * checkout_seconds
        client = threading.Thread(target=checkout.send_first, args=(tenant,))
        client.start()
        time.sleep(max(0.0, kill_at - control_seconds))
        sandbox.kill("ams")
        client.join(60)
        assert not client.is_alive(), "the checkout never returned"
        ams_pid = sandbox.running("ams", not_pid=ams_pid)
        if not checkout.gives_up:
            checkout.retry(tenant, sandbox)
    assert any(checkout.first_error for checkout in checkouts), "no kill cut a checkout"
    wait_until(lambda: sandbox.outbox_done(tenant), 30, "the purchases to reach the LMS")

    for checkout in checkouts:
        assert_whole_or_absent(sandbox, tenant, checkout)
    orders = tenant.orders(limit=500)
    assert_ledger_balances(sandbox, tenant, orders)
    paid_messages = tenant.outbox(topic="order.paid")["items"]
    assert sorted(item["message_id"] for item in paid_messages) == sorted(
        f"order.paid:{order['number']}:paid" for order in orders
    )
    assert {item["state"] for item in paid_messages} == {"delivered"}


def assert_whole_or_absent(sandbox: Sandbox, tenant: TenantClient, checkout: Checkout) -> None:
    """The member's order is whole — or there is no order and no trace of one."""
    member_id = checkout.member_id
    orders = tenant.orders(member_id=member_id)
    with sandbox.db.read() as session:
        charges = list(
            session.scalars(
                select(Charge).where(Charge.tenant_id == tenant.tenant_id, Charge.token == checkout.token)
            )
        )
        keys = session.scalar(
            select(func.count())
            .select_from(IdempotencyRecord)
            .where(IdempotencyRecord.tenant_id == tenant.tenant_id, IdempotencyRecord.key == checkout.key)
        )
    enrolled = [item["course_code"] for item in tenant.enrollments(member_id=member_id)]
    cart = [line["product_code"] for line in tenant.cart(member_id)["lines"]]
    entitled = tenant.entitlements(member_id)["course_codes"]
    answered = [answer for answer in (checkout.first, checkout.final) if answer is not None]
    if not checkout.gives_up:
        assert answered, checkout
    if answered:
        assert len(orders) == 1, (checkout, orders)
        assert {answer["number"] for answer in answered} == {orders[0]["number"]}  # the retry got the first
    assert len(orders) <= 1, (checkout, orders)
    if not orders:
        assert (charges, keys, enrolled, entitled, cart) == ([], 0, [], [], [COURSE]), checkout
        assert tenant.ledger(member_id=member_id)["accounts"] == dict.fromkeys(
            ("cash", "receivables", "revenue", "refunds"), 0
        )
        return
    order = tenant.order(orders[0]["number"])
    total = order["total"]
    assert total > 0 and (order["status"], order["paid_amount"]) == ("paid", total), order
    assert [charge.charge_id for charge in charges] == [order["gateway_charge_id"]], checkout
    charge = tenant.ams("GET", f"/gateway/v1/charges/{order['gateway_charge_id']}")
    assert (charge["status"], charge["amount"]) == ("succeeded", total)
    postings = sorted((entry["account"], entry["debit"], entry["credit"]) for entry in order["ledger"])
    assert postings == [("cash", total, 0), ("revenue", 0, total)], order["ledger"]
    assert order["balance"]["balanced"] is True
    assert (keys, enrolled, entitled, cart) == (1, [COURSE], [COURSE], []), checkout


def assert_ledger_balances(sandbox: Sandbox, tenant: TenantClient, orders: list[dict[str, Any]]) -> None:
    """The tenant's books: cash and revenue are exactly the orders, and every transaction balances."""
    sales = sum(order["total"] for order in orders)
    ledger = tenant.ledger()
    assert ledger["balanced"] is True and ledger["net_sales"] == sales
    assert ledger["accounts"] == {"cash": sales, "receivables": 0, "revenue": -sales, "refunds": 0}
    with sandbox.db.read() as session:
        unbalanced = session.execute(
            select(LedgerEntry.txn)
            .where(LedgerEntry.tenant_id == tenant.tenant_id)
            .group_by(LedgerEntry.txn)
            .having(func.sum(LedgerEntry.debit) != func.sum(LedgerEntry.credit))
        ).all()
        posted_for = set(
            session.scalars(select(LedgerEntry.order_number).where(LedgerEntry.tenant_id == tenant.tenant_id))
        )
        charges = session.scalar(
            select(func.count()).select_from(Charge).where(Charge.tenant_id == tenant.tenant_id)
        )
    assert unbalanced == []
    assert posted_for == {order["number"] for order in orders}
    assert charges == len(orders)  # no charge without its order


# writeback delivery


CREDITS_ONLY = {"name": "credits", "trigger": "credits.awarded", "value_format": "ce_credit"}
LEARNING_SETTINGS = {
    "writeback": {"rules": [CREDITS_ONLY]},
    "retry": {"time_scale": 0.0001, "jitter": 0, "timeout_seconds": 0.5},
}
INBOX_MEDIAN_SECONDS = 0.1
INBOX_DELAY = {"lognormal": {"median_ms": INBOX_MEDIAN_SECONDS * 1000, "sigma": 0.6}}
ENDPOINT = "/endpoints/ams-writeback"


def test_a_worker_killed_again_and_again_while_delivering_stores_each_completion_once(
    sandbox: Sandbox,
) -> None:
    tenant = sandbox.client.create_tenant("learn", seed=6, members=LEARNERS, settings=LEARNING_SETTINGS)
    members = [m["member_id"] for m in tenant.members() if m["record_type"] == "member"]
    courses = [course["code"] for course in tenant.courses() if course["kind"] == "course"]
    completions = [(member, course) for course in courses for member in members]
    assert len(completions) >= WORKER_KILLS * WAVE, completions
    pairs = iter(completions)
    tenant.set_fault({"app": "ams", "method": "POST", "path": "/writeback/records", "delay": INBOX_DELAY})
    rng = random.Random(19)
    made: Counter[str] = Counter()
    delivery_seconds = math.ceil(WAVE / CONCURRENCY) * INBOX_MEDIAN_SECONDS

    worker_pid = sandbox.running("worker-1")
    for kill in range(WORKER_KILLS):
        tenant.control("POST", f"{ENDPOINT}/disable", json={"reason": "queue a wave of completions"})
        for member_id, course in [next(pairs) for _ in range(WAVE)]:
            enrollment = tenant.enroll(member_id, course)
            assert tenant.complete_enrollment(enrollment["id"], 95)["status"] == "passed"
            made[member_id] += 1
        tenant.control("POST", f"{ENDPOINT}/enable")
        if kill % 2 == 0:  # while it delivers what it claimed
            wait_until(
                lambda pid=worker_pid: claims_held_by(sandbox, tenant, pid),
                30,
                lambda pid=worker_pid: f"worker {pid} to claim messages\n{sandbox.group.describe()}",
                interval=0.02,
            )
            time.sleep(rng.uniform(0, 0.7 * delivery_seconds))
        else:  # any time from before its next claim to the end of its deliveries
            time.sleep(rng.uniform(0, 0.1 + delivery_seconds))
        sandbox.kill("worker-1")
        worker_pid = sandbox.running("worker-1", not_pid=worker_pid)
    wait_until(
        lambda: sandbox.outbox_done(tenant), 60, lambda: f"the outbox to drain\n{sandbox.group.describe()}"
    )

    messages = tenant.outbox(limit=500)["items"]
    assert len(messages) == WORKER_KILLS * WAVE and {m["state"] for m in messages} == {"delivered"}
    stored = Counter(item["record_id"] for item in tenant.inbox_items("accepted"))
    assert stored == Counter(message["message_id"] for message in messages)  # each once, none lost
    for message in messages:
        history = message["attempt_history"]
        outcomes = Counter(attempt["outcome"] for attempt in history)
        assert outcomes["delivered"] == 1 and set(outcomes) <= {"delivered", "abandoned", "retrying"}, history
        assert [attempt["number"] for attempt in history] == list(range(1, message["attempts"] + 1))
    abandoned = sum(a["outcome"] == "abandoned" for m in messages for a in m["attempt_history"])
    assert abandoned > 0, "no kill caught the worker delivering"
    redelivered = {item["record_id"] for item in tenant.inbox_items("duplicate")}
    assert redelivered, "no kill fell between the AMS storing a record and the worker noting it delivered"
    assert redelivered <= set(stored)  # what came twice was deduped by its webhook-id, never stored again
    for member_id in members:
        assert len(tenant.transcript(member_id)["records"]) == made[member_id]


def claims_held_by(sandbox: Sandbox, tenant: TenantClient, pid: int) -> int:
    """How many messages worker ``pid`` holds in flight (the outbox API does not say who holds one)."""
    with sandbox.db.read() as session:
        return session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.tenant_id == tenant.tenant_id,
                OutboxMessage.state == "in_flight",
                OutboxMessage.claimed_by.endswith(f":{pid}"),
            )
        )
