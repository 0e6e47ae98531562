"""Time checks: expired, not-yet-valid and oddly dated responses must not sign in.

Times are set an hour or more away from now: beyond any sane clock skew, and far from any limit an SP
might draw at exactly a day.
"""

from __future__ import annotations

from conformance.harness.checks import MUST, SHOULD, Verdict
from conformance.saml_sp.browser import start_sign_on
from conformance.saml_sp.judge import refused
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.world import World

HOUR = 3600
TIME_HINT = "Compare NotBefore and NotOnOrAfter with the current time, allowing a few minutes of clock skew."


def _minted_refused(world: World, description: str, **overrides: object) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    return refused(world, sign_on, world.mint(sign_on, **overrides), description, ("member",))


@SUITE.check(
    "SAML-SP-TIME-1",
    MUST,
    "time",
    "An assertion whose Conditions NotOnOrAfter has passed is refused",
    "SAML core 2.0 §2.5.1.2",
    TIME_HINT,
)
def conditions_expired(world: World) -> Verdict:
    return _minted_refused(
        world,
        "Conditions valid from 2 hours ago until 1 hour ago.",
        not_before=-2 * HOUR,
        not_on_or_after=-HOUR,
    )


@SUITE.check(
    "SAML-SP-TIME-2",
    MUST,
    "time",
    "A bearer SubjectConfirmationData whose NotOnOrAfter has passed is refused",
    "SAML profiles 2.0 §4.1.4.2 and §4.1.4.3",
    "Check the bearer SubjectConfirmationData's NotOnOrAfter too, not only the Conditions'.",
)
def subject_expired(world: World) -> Verdict:
    return _minted_refused(
        world, "SubjectConfirmationData NotOnOrAfter 1 hour ago.", subject_not_on_or_after=-HOUR
    )


@SUITE.check(
    "SAML-SP-TIME-3",
    MUST,
    "time",
    "An assertion whose Conditions NotBefore is in the future is refused",
    "SAML core 2.0 §2.5.1.2",
    TIME_HINT,
)
def not_yet_valid(world: World) -> Verdict:
    return _minted_refused(
        world,
        "Conditions valid from 1 hour ahead until 2 hours ahead.",
        not_before=HOUR,
        not_on_or_after=2 * HOUR,
    )


@SUITE.check(
    "SAML-SP-TIME-4",
    SHOULD,
    "time",
    "A response issued an hour ago (its conditions still valid) is refused",
    "SAML core 2.0 §3.2.2 and §2.3.3 (IssueInstant); profiles 2.0 §4.1.4.3",
    "Refuse a response whose IssueInstant is older than a few minutes: browsers post it at once.",
)
def issued_long_ago(world: World) -> Verdict:
    return _minted_refused(
        world, "IssueInstant of the response and assertion an hour ago.", issue_instant=-HOUR
    )


@SUITE.check(
    "SAML-SP-TIME-5",
    SHOULD,
    "time",
    "A response dated an hour in the future is refused",
    "SAML core 2.0 §3.2.2 and §2.3.3 (IssueInstant)",
    "Refuse a response whose IssueInstant is later than now plus your clock skew.",
)
def issued_in_future(world: World) -> Verdict:
    return _minted_refused(
        world, "IssueInstant of the response and assertion an hour ahead.", issue_instant=HOUR
    )
