"""How a saml-sp check is judged: by what the SP does, never by what it says.

An honest message passes when the probe shows the right member signed in. A hostile one passes when no
session appears at the probe for any identity it must not grant (the test member, the victim whose
identity a forgery claims), the ACS answers within the target's timeout, and the SP is still healthy
afterwards: its login URL still answers, or — after messages built to exhaust a parser — a whole honest
sign-in still works.

Example::

    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, audience="https://another-sp.example/metadata"))
    return refused(world, sign_on, serialise(root), "Audience names another SP")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conformance.harness.checks import NotJudged, Verdict
from conformance.harness.identity import shows_value
from conformance.saml_sp.browser import (
    Posted,
    Probed,
    SignOn,
    describe_sent,
    liveness,
    post_response,
    probe,
    start_sign_on,
)
from conformance.saml_sp.messages import encode
from conformance.saml_sp.world import World

MEMBER_AND_VICTIM = ("member", "victim")
KEEP_RELAY_STATE = object()


def _who(world: World, roles: Sequence[str]) -> str:
    people = {person.role: person for person in world.people}
    return " and ".join(f"the {role} ({people[role].member_id})" for role in roles)


def _acs_words(posted: Posted) -> str:
    if posted.status is None:
        return f"the ACS gave no answer ({posted.error})"
    return f"the ACS answered {posted.status}"


def send(
    world: World, sign_on: SignOn, xml: bytes, relay_state: Any = KEEP_RELAY_STATE
) -> tuple[Posted, Probed, dict[str, Any]]:
    """Post ``xml`` (base64-encoded) to the sign-on's ACS in its browser, then ask the probe."""
    state = sign_on.relay_state if relay_state is KEEP_RELAY_STATE else relay_state
    posted = post_response(world, sign_on.agent, sign_on.acs_url, encode(xml), state)
    seen = probe(world, sign_on.agent)
    return posted, seen, posted.observed() | seen.observed()


def accepted(
    world: World, sign_on: SignOn, xml: bytes, description: str, expected: str = "member"
) -> Verdict:
    """An honest response: the probe must show ``expected`` (and nobody else) signed in."""
    return accepted_and_probed(world, sign_on, xml, description, expected)[0]


def accepted_and_probed(
    world: World, sign_on: SignOn, xml: bytes, description: str, expected: str = "member"
) -> tuple[Verdict, Probed]:
    """:func:`accepted`, with what the probe answered."""
    posted, seen, observed = send(world, sign_on, xml)
    sent = describe_sent(sign_on, xml, description)
    if seen.signed_in_as == [expected]:
        return Verdict(True, f"Signed in as {_who(world, [expected])}, as expected.", sent, observed), seen
    if seen.signed_in_as:
        reason = f"Signed in as {_who(world, seen.signed_in_as)}, expected the {expected}."
        return Verdict(False, reason, sent, observed), seen
    reason = f"No session appeared at the probe (it answered {seen.status}); {_acs_words(posted)}."
    return Verdict(False, reason, sent, observed), seen


def health(world: World, full: bool) -> tuple[bool, str]:
    """After an attack: a whole honest sign-in works (``full``), or at least the login URL answers."""
    if not full:
        return liveness(world)
    try:
        sign_on = start_sign_on(world, world.member)
    except NotJudged as exc:
        return False, f"an honest sign-in no longer works afterwards: {exc.reason[0].lower()}{exc.reason[1:]}"
    _, seen, _ = send(world, sign_on, sign_on.xml)
    if seen.signed_in_as == ["member"]:
        return True, "an honest sign-in still works"
    return False, f"an honest sign-in no longer works afterwards (the probe answered {seen.status})"


def refused(
    world: World,
    sign_on: SignOn,
    xml: bytes,
    description: str,
    forbidden: Sequence[str] = MEMBER_AND_VICTIM,
    full_health: bool = False,
    relay_state: Any = KEEP_RELAY_STATE,
    must_not_show: str | None = None,
    identity_leaks: Sequence[str] = (),
) -> Verdict:
    """A hostile response: no session for any ``forbidden`` identity, nothing of ``must_not_show`` in the
    SP's answers, none of ``identity_leaks`` shown as a whole value by a signed-in probe, and the SP
    healthy afterwards."""
    posted, seen, observed = send(world, sign_on, xml, relay_state)
    sent = describe_sent(sign_on, xml, description)
    granted = [role for role in seen.signed_in_as if role in forbidden]
    healthy, how = health(world, full_health)
    observed |= {"healthy": healthy, "health": how}
    if granted:
        return Verdict(False, f"Accepted: a session appeared as {_who(world, granted)}.", sent, observed)
    if posted.timed_out:
        return Verdict(
            False, f"No session appeared, but {_acs_words(posted)}: unbounded work.", sent, observed
        )
    signed_in_page = seen.status == world.target.probe.signed_in.status
    leaked = [value for value in identity_leaks if signed_in_page and shows_value(seen.body, value)]
    if leaked:
        return Verdict(
            False, f"Accepted under a shortened identity: the probe shows {leaked[0]}.", sent, observed
        )
    if must_not_show is not None and (must_not_show in posted.body or must_not_show in seen.body):
        return Verdict(
            False, f"The SP's answer shows what it must never show ({must_not_show}…).", sent, observed
        )
    if not healthy:
        return Verdict(False, f"No session appeared, but the SP did not stay healthy: {how}.", sent, observed)
    if seen.signed_in_as:
        allowed = _who(world, seen.signed_in_as)
        reason = f"Passed: no forbidden session; the probe shows {allowed}, identity kept whole, and {how}."
        return Verdict(True, reason, sent, observed)
    return Verdict(True, f"Refused: no session appeared; {_acs_words(posted)} and {how}.", sent, observed)
