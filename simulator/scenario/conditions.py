"""Conditions of ``expect`` and ``wait_for``: observable state a scenario checks, as pydantic models.

Each condition names what it reads (``lms.enrollments``, ``ams.transcript``, ``outbox``…); fields left
out are not checked. :mod:`simulator.scenario.steps.expect` evaluates them over HTTP.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- conditions (expect, wait_for) ----------------------------------------------------------------


class CountRange(_Strict):
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _possible(self) -> CountRange:
        if self.min is None and self.max is None:
            raise ValueError("give 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min}) is above 'max' ({self.max}): no count can match")
        return self


def _count(value: Any) -> int | CountRange:
    """A count is a whole number, 0 or more, or a range ``{min, max}`` (one message, not one per shape)."""
    if isinstance(value, CountRange):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a count cannot be negative (got {value})")
        return value
    if isinstance(value, dict):
        try:
            return CountRange.model_validate(value)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from exc
    raise ValueError(f"a count is a whole number (0 or more) or {{min: …, max: …}} (got {value!r})")


Count = Annotated[
    int | CountRange, PlainValidator(_count, json_schema_input_type=Annotated[int, Field(ge=0)] | CountRange)
]
"""An exact count (0 or more), or a range ``{min, max}``."""


class EnrollmentsCondition(_Strict):
    """The actor's LMS enrollments (LMS API)."""

    actor: str
    course: str | None = Field(None, description="One course; with 'absent: true', it must not be there.")
    absent: bool = False
    status: str | None = Field(None, description="enrolled, in_progress, passed, failed, attended, absent")
    courses: list[str] | None = Field(None, description="Exactly these course codes, in any order.")
    count: Count | None = None


class SessionCondition(_Strict):
    """What the LMS says about the actor's browser session (``/t/{t}/me``)."""

    actor: str
    signed_in: bool = True
    access: Literal["full", "read_only", "restricted"] | None = None
    member_status: str | None = None
    member_type: str | None = None
    protocol: Literal["saml", "oidc", "token"] | None = None
    email: str | None = None


class TranscriptCondition(_Strict):
    """The actor's AMS CE transcript and activity history."""

    actor: str
    records: Count | None = Field(None, description="CE transcript entries.")
    totals: dict[str, float] | None = Field(None, description="Credits per credit type, e.g. {CLE: 2}.")
    activities: Count | None = Field(None, description="Activity-history entries.")
    codes: list[str] | None = Field(None, description="Activity codes of the CE entries, in any order.")
    badges: list[str] | None = None
    segments: list[str] | None = None


class RecordCondition(_Strict):
    """The actor's stored writeback records (CE transcript, activity history) holding ``value``, and ``sent``
    as the LMS sent them in their value format (read from the outbox)."""

    actor: str
    destination: str | None = None
    activity_code: str | None = None
    format: str | None = None
    value: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields the stored record must hold: credit_type, credits, completed_on, score, passed, "
        "certificate_number, activity_title, trigger, value (a profile field's)…",
    )
    sent: dict[str, Any] | None = Field(
        None,
        description="Fields the record held as the LMS sent it, in its value format (e.g. units, unit_type, "
        "effective_date, user_fields of 'activity'); nested mappings match by their own fields.",
    )
    count: Count = 1


class MemberCondition(_Strict):
    """The actor's AMS record."""

    actor: str
    status: str | None = None
    member_type: str | None = None
    record_type: str | None = None


class InboxCondition(_Strict):
    """Counts of the AMS writeback inbox log."""

    accepted: Count | None = None
    duplicate: Count | None = None
    rejected: Count | None = None


AttemptOutcome = Literal["delivered", "retrying", "dead", "held", "abandoned"]


class AttemptCount(CountRange):
    """How many delivery attempts the messages made: ``{min: 2}`` for every message, ``{min: 2, of: some}``
    for at least one."""

    of: Literal["all", "some"] = Field("all", description="all: every message; some: at least one.")


class AttemptHistory(_Strict):
    """The attempts of one message, in order: what became of each (``abandoned`` when its worker died)."""

    message: Literal["first", "last", "any"] | Annotated[int, Field(ge=1)] = Field(
        "first",
        description="The oldest or newest message (of the topic), the nth (oldest first), or any: at least "
        "one message's attempts match.",
    )
    outcomes: list[AttemptOutcome] | None = Field(None, description="Exactly these outcomes, in order.")
    includes: list[AttemptOutcome] | None = Field(None, description="These outcomes among its attempts.")


class OutboxCondition(_Strict):
    """Outbox message counts by state (states not named are not checked), and their delivery attempts."""

    topic: str | None = None
    pending: Count | None = None
    in_flight: Count | None = None
    delivered: Count | None = None
    retrying: Count | None = None
    dead: Count | None = None
    total: Count | None = None
    attempts: AttemptCount | None = None
    history: AttemptHistory | None = None


class JournalCondition(_Strict):
    """How many request-journal entries match."""

    app: Literal["ams", "lms"] | None = None
    method: str | None = None
    path: str | None = Field(None, description="Glob after /t/{tenant}, e.g. /writeback/records")
    status: int | None = Field(None, ge=100, le=599)
    fault: str | None = Field(
        None, description="Only requests this fault rule (by name) fired on; '*': any fault."
    )
    connection_reset: bool | None = Field(None, description="Only requests whose connection a fault reset.")
    count: Count = Field(default_factory=lambda: CountRange(min=1))


class FaultCondition(_Strict):
    """How often a fault rule (by its name) matched and fired, over the whole run (removed rules too)."""

    fired: Count | None = None
    matched: Count | None = None


class ProcessCondition(_Strict):
    """A process of the sandbox (``sandbox up``): its state and how often it was started again."""

    state: Literal["running", "paused", "restarting"] | None = None
    restarts: Count | None = Field(None, description="Restarts during this run (any cause).")


class OrderCondition(_Strict):
    order: str = Field("last", description="An order named by an earlier step ('last': the latest).")
    status: Literal["paid", "invoiced", "partially_refunded", "refunded", "cancelled"] | None = None
    channel: str | None = None
    total: int | None = Field(None, description="Minor units (cents).")
    balance: int | None = Field(None, description="Amount still due, minor units.")
    lines: int | None = None
    price_class: str | None = Field(None, description="member, student, retired, non_member or default.")
    entered_by: str | None = Field(None, description="The staff actor who entered a phone order.")


class LedgerCondition(_Strict):
    actor: str | None = Field(None, description="Only this member's postings.")
    order: str | None = Field(None, description="Only this order's postings.")
    balanced: bool | None = None
    amount_due: int | None = None
    net_sales: int | None = None


class Conditions(_Strict):
    """Observable state to check; every condition given must hold."""

    lms_enrollments: EnrollmentsCondition | None = Field(None, alias="lms.enrollments")
    lms_session: SessionCondition | None = Field(None, alias="lms.session")
    ams_transcript: TranscriptCondition | None = Field(None, alias="ams.transcript")
    ams_record: RecordCondition | None = Field(None, alias="ams.record")
    ams_member: MemberCondition | None = Field(None, alias="ams.member")
    ams_inbox: InboxCondition | None = Field(None, alias="ams.inbox")
    outbox: OutboxCondition | None = None
    journal: JournalCondition | None = None
    order: OrderCondition | None = None
    ledger: LedgerCondition | None = None
    faults: dict[str, FaultCondition] | None = Field(None, description="By fault rule name.")
    processes: dict[str, ProcessCondition] | None = Field(
        None, description="By process name: ams, lms, console, worker (worker-1), worker-2…"
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Conditions:
        if not self.given():
            raise ValueError(f"name at least one condition: {', '.join(condition_names())}")
        return self

    def given(self) -> list[tuple[str, BaseModel]]:
        """(dotted name, condition) for every condition set, in declaration order."""
        return [
            (field.alias or name, value)
            for name, field in Conditions.model_fields.items()
            if (value := getattr(self, name)) is not None
        ]


def condition_names() -> list[str]:
    return [field.alias or name for name, field in Conditions.model_fields.items()]


class WaitFor(Conditions):
    timeout: float = Field(10.0, gt=0, le=600, description="Seconds of wall time to wait.")
    interval: float = Field(0.25, gt=0, le=30, description="Seconds between polls.")
