"""The scenario language: what a ``scenarios/*.yaml`` file may say, as pydantic models.

A scenario declares a tenant (fresh by default, its business clock frozen at ``tenant.clock_start``), a
seed, settings overrides, named actors and steps. Each step is a one-key mapping naming its kind
(``- sso_login: {actor: alex}``), optionally with a ``name`` label beside it. Every model forbids unknown
fields, so a typo is an error before anything runs. :mod:`simulator.scenario.schema` publishes these
models as ``scenarios/schema.json``.

Example::

    scenario = Scenario.model_validate(yaml.safe_load(text))
    scenario.steps[0].kind  # 'sso_login'
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from simulator.core.faults import FaultRuleSpec
from simulator.scenario.conditions import (  # noqa: F401 - part of the language
    Conditions,
    Count,
    CountRange,
    EnrollmentsCondition,
    InboxCondition,
    JournalCondition,
    LedgerCondition,
    MemberCondition,
    OrderCondition,
    OutboxCondition,
    RecordCondition,
    SessionCondition,
    TranscriptCondition,
    WaitFor,
    condition_names,
)

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
DEFAULT_CLOCK_START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
APPROVED_CARD = "4242424242424242"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- tenant, seed, actors -------------------------------------------------------------------------


class TenantSpec(_Strict):
    """Which tenant the scenario runs in."""

    existing: str | None = Field(
        None,
        description="Run in this existing tenant instead of a fresh one (not isolated, not deterministic).",
    )
    name: str | None = Field(None, max_length=200, description="Display name of the fresh tenant.")
    clock_start: dt.datetime | None = Field(
        DEFAULT_CLOCK_START,
        description="Business time when the fresh tenant is created; its clock stays frozen there and "
        "moves only with advance_clock. null: real time (runs then depend on the date).",
    )
    keep: bool = Field(False, description="Keep the fresh tenant after the run (default: delete it).")

    @field_validator("clock_start")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-03-02T09:00:00Z")
        return value


class SeedSpec(_Strict):
    faker_seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Faker seed: the same seed gives the same people."
    )
    members: int = Field(0, ge=0, le=5_000, description="Generated members besides the fixed personas.")


class GeneratedMember(_Strict):
    """A person the runner creates in the AMS (``{actor}@scenario.test``, password ``demo``)."""

    record_type: Literal["member", "non_member", "prospect"] = "member"
    member_type: Literal["regular", "student", "retired", "flex"] | None = Field(
        None, description="Members only; default regular."
    )
    status: Literal["active", "grace", "lapsed", "inactive"] | None = Field(
        None, description="Members only; default active."
    )
    expiry_date: dt.date | None = Field(None, description="Default: a year after the clock start.")
    organisation: str | None = Field(None, description="Organisation id, e.g. ORG-0001.")
    roles: list[str] = Field(default_factory=list, description="e.g. [staff]")
    profile: dict[str, Any] = Field(default_factory=dict, description="Custom profile fields.")


class Actor(_Strict):
    """A named person: an existing persona (by email) or a member the runner creates."""

    persona: str | None = Field(None, description="Email of a seeded person, e.g. active.member@demo.test.")
    member: GeneratedMember | None = None
    count: int = Field(1, ge=1, le=200, description="With member: a group of this many people.")
    password: str = Field("demo", description="Sign-in password.")

    @model_validator(mode="after")
    def _one_kind(self) -> Actor:
        if (self.persona is None) == (self.member is None):
            raise ValueError("an actor is either a 'persona' (email) or a generated 'member', not both")
        if self.persona is not None and self.count != 1:
            raise ValueError("'count' makes a group of generated members; a persona is one person")
        return self


# --- step parameters ------------------------------------------------------------------------------


class SsoLogin(_Strict):
    actor: str
    protocol: Literal["saml", "oidc", "token"] | None = Field(
        None, description="Switch the tenant to this protocol first (default: the tenant's own)."
    )
    via: Literal["lms", "ams"] = Field(
        "lms", description="lms: start at the LMS login; ams: IdP-initiated SAML or the AMS token launch."
    )
    outcome: Literal["signed_in", "denied"] = Field("signed_in", description="What must happen.")


class SsoLogout(_Strict):
    actor: str


class AddToCart(_Strict):
    actor: str
    product: str
    quantity: int = Field(1, ge=1)


class ApplyCoupon(_Strict):
    actor: str
    code: str | None


class Payment(_Strict):
    """A card (tokenised at the gateway stub first) or a purchase order number."""

    card: str | None = Field(None, description=f"Card number; default {APPROVED_CARD} unless po_number.")
    po_number: str | None = None
    challenge_response: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Payment:
        if self.card is not None and self.po_number is not None:
            raise ValueError("pay by 'card' or by 'po_number', not both")
        return self


def _payment(value: Any) -> Any:
    """``payment: card`` and ``payment: po`` are short for the defaults."""
    if value == "card":
        return {}
    if value == "po":
        return {"po_number": "PO-1"}
    return value


PaymentField = Annotated[
    Payment, BeforeValidator(_payment, json_schema_input_type=Payment | Literal["card", "po"])
]


CONNECTION_LOST = "connection_lost"


class Checkout(_Strict):
    actor: str
    payment: PaymentField = Field(default_factory=Payment, description="card (default), po, or a mapping.")
    order: str | None = Field(None, description="Name the order for later steps.")
    error: str | None = Field(
        None,
        description="Expect the checkout to be refused with this code, or 'connection_lost': the AMS goes "
        "away while it runs (a kill step).",
    )


class RecordPayment(_Strict):
    order: str = "last"
    amount: int | None = Field(None, description="Minor units; default: the balance due.")
    reference: str = "SCENARIO-PAYMENT"


class Refund(_Strict):
    order: str = "last"
    product: str | None = Field(None, description="Refund one line; default the whole order.")


class CancelOrder(_Strict):
    order: str = "last"


class BulkOrder(_Strict):
    organisation: str = Field(..., description="Organisation id, e.g. ORG-0001.")
    product: str
    seats: int = Field(..., ge=1)
    payment: PaymentField = Field(default_factory=Payment)
    order: str | None = None


class OrderItem(_Strict):
    product: str
    quantity: int = Field(1, ge=1)


class PhoneOrder(_Strict):
    actor: str = Field(..., description="The member the order is for.")
    staff: str = Field(..., description="The staff actor who enters it.")
    items: list[OrderItem] = Field(..., min_length=1)
    coupon: str | None = None
    payment: PaymentField = Field(default_factory=Payment)
    order: str | None = None
    error: str | None = Field(
        None, description="Expect the order to be refused with this code, e.g. not_staff."
    )


class AssignSeat(_Strict):
    order: str = "last"
    actor: str = Field(..., description="An actor, or a group: one seat each.")
    error: str | None = Field(
        None, description="Expect each assignment to be refused with this code, e.g. no_free_seat."
    )


class Enroll(_Strict):
    actor: str
    course: str


class StartCourse(_Strict):
    actor: str
    course: str


class CompleteCourse(_Strict):
    actor: str
    course: str
    score: float = Field(..., ge=0, le=100)


class AttendWebinar(_Strict):
    actor: str
    course: str
    minutes: int = Field(..., ge=0)


class AdvanceClock(_Strict):
    days: float = Field(0, ge=0)
    hours: float = Field(0, ge=0)
    minutes: float = Field(0, ge=0)
    seconds: float = Field(0, ge=0)
    until: dt.datetime | None = None

    @model_validator(mode="after")
    def _something(self) -> AdvanceClock:
        amount = self.days or self.hours or self.minutes or self.seconds
        if (self.until is None) == (not amount):
            raise ValueError("give an amount (days/hours/minutes/seconds) or 'until', not both")
        return self


class SetMemberStatus(_Strict):
    actor: str
    status: Literal["active", "grace", "lapsed", "inactive"]
    expiry_date: dt.date | None = Field(None, description="E.g. a renewal's new expiry date.")
    member_type: Literal["regular", "student", "retired", "flex"] | None = None
    email: str | None = Field(
        None, max_length=254, description="A new email in the AMS; the actor signs in with it from then on."
    )


class ClearFaults(_Strict):
    pass


class ScenarioFault(FaultRuleSpec):
    """A fault rule, and (in a scenario) when it ends: ``for`` a stretch of business time, or ``until`` a
    later step by name (the rule is removed just before that step runs)."""

    until: str | None = Field(
        None, max_length=200, description="The name of a later step: the rule is removed before it runs."
    )


PROCESS_PATTERN = r"^(ams|lms|worker(-[1-9][0-9]?)?)$"
PROCESS_HELP = "ams, lms, worker (the first delivery worker) or worker-N (`sandbox up --workers N`)."


class Kill(_Strict):
    process: str = Field(..., pattern=PROCESS_PATTERN, description=PROCESS_HELP)
    signal: Literal["KILL", "TERM"] = Field("KILL", description="KILL: at once; TERM: a graceful stop.")
    after: float = Field(
        0,
        ge=0,
        le=300,
        description="Seconds from now (the step returns at once; the next step runs meanwhile).",
    )


class Pause(_Strict):
    process: str = Field(..., pattern=PROCESS_PATTERN, description=PROCESS_HELP)
    seconds: float | None = Field(
        None, gt=0, le=3600, description="Resume after this long (default: at resume)."
    )


class Resume(_Strict):
    process: str = Field(..., pattern=PROCESS_PATTERN, description=PROCESS_HELP)


class Restart(_Strict):
    process: str = Field(..., pattern=PROCESS_PATTERN, description=PROCESS_HELP)


class Wait(_Strict):
    seconds: float = Field(
        ..., gt=0, le=300, description="Wall-clock seconds to sleep (for races that need it)."
    )


# --- steps ----------------------------------------------------------------------------------------

STEP_PARAMETERS: dict[str, type[BaseModel]] = {
    "sso_login": SsoLogin,
    "sso_logout": SsoLogout,
    "add_to_cart": AddToCart,
    "apply_coupon": ApplyCoupon,
    "checkout": Checkout,
    "record_payment": RecordPayment,
    "refund": Refund,
    "cancel_order": CancelOrder,
    "bulk_order": BulkOrder,
    "phone_order": PhoneOrder,
    "assign_seat": AssignSeat,
    "enroll": Enroll,
    "start_course": StartCourse,
    "complete_course": CompleteCourse,
    "attend_webinar": AttendWebinar,
    "advance_clock": AdvanceClock,
    "set_member_status": SetMemberStatus,
    "patch_settings": dict,  # type: ignore[dict-item] - a settings merge patch
    "set_fault": ScenarioFault,
    "clear_faults": ClearFaults,
    "kill": Kill,
    "pause": Pause,
    "resume": Resume,
    "restart": Restart,
    "wait": Wait,
    "wait_for": WaitFor,
    "expect": Conditions,
}
STEP_KINDS = tuple(STEP_PARAMETERS)


STEP_OPTIONS = ("name", "concurrency")
"""Keys a step may carry beside its kind."""


class StepBase(_Strict):
    name: str | None = Field(None, max_length=200, description="A label for the timeline.")
    concurrency: int = Field(
        1,
        ge=1,
        le=50,
        description="For a step on a group of actors: how many act at once (default: one after another).",
    )

    @property
    def kind(self) -> str:
        return next(key for key in type(self).model_fields if key not in STEP_OPTIONS)

    @property
    def params(self) -> Any:
        return getattr(self, self.kind)


def _step_model(kind: str, params: Any) -> type[StepBase]:
    doc = (getattr(params, "__doc__", None) or f"The {kind} step.").strip().splitlines()[0]
    annotation = dict[str, Any] if params is dict else params
    model = type(
        f"Step_{kind}",
        (StepBase,),
        {
            "__annotations__": {kind: annotation},
            "__doc__": doc,
            kind: Field(..., description=STEP_HELP.get(kind, "")),
            "__module__": __name__,
        },
    )
    return model


STEP_HELP = {
    "sso_login": "Sign in at the LMS through the AMS login form, as the actor's browser.",
    "sso_logout": "Sign out at the LMS (and single logout at the AMS when offered).",
    "add_to_cart": "Put a product in the actor's AMS cart.",
    "apply_coupon": "Apply a coupon to the actor's cart (null removes it).",
    "checkout": "Pay the actor's cart by card or purchase order; the order can be named.",
    "record_payment": "Record a payment on an invoiced purchase order.",
    "refund": "Refund an order, or one of its lines.",
    "cancel_order": "Cancel an unpaid invoice.",
    "bulk_order": "An organisation buys seats of a product.",
    "phone_order": "Staff enter an order for a member.",
    "assign_seat": "Assign a seat of a bulk order to the actor (each member of a group).",
    "enroll": "Enrol the actor in an LMS course through the LMS API.",
    "start_course": "Start the actor's enrollment in a course.",
    "complete_course": "Finish the actor's enrollment with a score.",
    "attend_webinar": "Record the actor's attendance of a webinar in minutes.",
    "advance_clock": "Move the tenant's business clock forward; due jobs and deliveries run.",
    "set_member_status": "Change the actor's membership in the AMS (lapse, renew…).",
    "patch_settings": "Merge-patch the tenant's settings document.",
    "set_fault": "Add a fault rule (docs/faults-and-journal.md), for a while ('for', 'until') or for good.",
    "clear_faults": "Remove every fault rule.",
    "kill": "Kill a process of the sandbox (SIGKILL or SIGTERM); `sandbox up` starts it again.",
    "pause": "Freeze a process (SIGSTOP) for some seconds, or until a resume step.",
    "resume": "Let a paused process go on.",
    "restart": "Stop a process gracefully and start it again.",
    "wait": "Sleep a bounded stretch of wall time.",
    "wait_for": "Poll until every condition holds, or fail after 'timeout' seconds.",
    "expect": "Every condition must hold now.",
}

STEP_MODELS: dict[str, type[StepBase]] = {kind: _step_model(kind, p) for kind, p in STEP_PARAMETERS.items()}


def step_kind_of(value: Any) -> str | None:
    """The step kind a raw step mapping names (the one key that is a step kind), else None."""
    if isinstance(value, StepBase):
        return value.kind
    if isinstance(value, dict):
        kinds = [key for key in value if key in STEP_MODELS]
        return kinds[0] if len(kinds) == 1 else None
    return None


Step = Annotated[
    Union[tuple(Annotated[model, Tag(kind)] for kind, model in STEP_MODELS.items())],  # noqa: UP007
    Discriminator(step_kind_of),
]


class Scenario(_Strict):
    """One scenario file."""

    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    tenant: TenantSpec = Field(default_factory=TenantSpec)
    seed: SeedSpec = Field(default_factory=SeedSpec)
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings overrides (docs/settings.schema.json), merged on defaults.",
    )
    actors: dict[str, Actor] = Field(default_factory=dict, description="Named people, by actor name.")
    steps: list[Step] = Field(..., min_length=1)

    @field_validator("actors")
    @classmethod
    def _actor_names(cls, actors: dict[str, Actor]) -> dict[str, Actor]:
        for name in actors:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"actor name {name!r}: use lower-case letters, digits and _")
        return actors
