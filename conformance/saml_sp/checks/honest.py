"""Honest responses: the SP must sign the right member in, and show who they are.

The first of them is the run's baseline: the IdP's own response, exactly as the sandbox auto-posts it.
"""

from __future__ import annotations

from conformance.harness.checks import MUST, SHOULD, NotJudged, Verdict
from conformance.harness.identity import shows_value
from conformance.saml_sp.browser import start_idp_initiated, start_sign_on
from conformance.saml_sp.judge import accepted, accepted_and_probed
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.world import World

PROBE_HINT = (
    "Make the probe page show the member's values, or list in the target's probe.shows what it shows."
)


def calibrate(world: World) -> None:
    """The baseline: sign the test member in with the IdP's genuine response (SP-initiated)."""
    if world.registration_error is not None:
        world.baseline = Verdict(
            False, f"the sandbox IdP refused to register the SP: {world.registration_error}"
        )
        return
    try:
        sign_on = start_sign_on(world, world.member)
    except NotJudged as exc:
        world.baseline = Verdict(False, exc.reason)
        return
    description = "The IdP's response as it auto-posts it (response and assertion signed)."
    verdict, seen = accepted_and_probed(world, sign_on, sign_on.xml, description)
    world.baseline, world.baseline_sign_on, world.baseline_body = verdict, sign_on, seen.body


@SUITE.check(
    "SAML-SP-HONEST-1",
    MUST,
    "honest",
    "The IdP's genuine response (response and assertion signed) signs the member in",
    "SAML profiles 2.0 §4.1.4.3",
    "Trust the IdP metadata's signing certificate, and map the NameID or the member_id attribute to a user.",
    needs_baseline=False,
)
def genuine(world: World) -> Verdict:
    if world.baseline is None:
        raise NotJudged("the baseline did not run")
    return world.baseline


@SUITE.check(
    "SAML-SP-HONEST-2",
    MUST,
    "honest",
    "A response whose assertion alone is signed signs the member in",
    "SAML profiles 2.0 §4.1.3.5; core 2.0 §5.2",
    "Accept a signature on the assertion (the most common shape), verified with the IdP's certificate.",
)
def signed_assertion(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = world.mint(sign_on, sign="assertion")
    return accepted(world, sign_on, xml, "The IdP's response with only the assertion signed.")


@SUITE.check(
    "SAML-SP-HONEST-3",
    SHOULD,
    "honest",
    "A response signed on the Response element alone signs the member in",
    "SAML profiles 2.0 §4.1.3.5; core 2.0 §5.2",
    "A signature on the Response covers the assertion inside it: accept it (unless you require signed "
    "assertions and say so in the metadata).",
    applies=lambda world: (
        "the SP's metadata asks for signed assertions (WantAssertionsSigned)"
        if world.sp.want_assertions_signed
        else None
    ),
)
def signed_response(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    xml = world.mint(sign_on, sign="response")
    return accepted(world, sign_on, xml, "The IdP's response with only the Response element signed.")


@SUITE.check(
    "SAML-SP-HONEST-4",
    MUST,
    "honest",
    "An IdP-initiated (unsolicited) response signs the member in, as the target says the SP allows",
    "SAML profiles 2.0 §4.1.5",
    "Accept a response without InResponseTo when you allow IdP-initiated sign-on (replay protection then "
    "rests on the assertion ID cache), or set sp.idp_initiated to false.",
    applies=lambda world: (
        None if world.target.sp.idp_initiated else "the target says the SP does not allow it"
    ),
)
def idp_initiated(world: World) -> Verdict:
    sign_on = start_idp_initiated(world, world.member)
    return accepted(world, sign_on, sign_on.xml, "The IdP's unsolicited response (no InResponseTo).")


def _shows(world: World, field: str, description: str) -> Verdict:
    values = [world.member.identity[name] for name in field.split("+")]
    missing = [value for value in values if not shows_value(world.baseline_body, value)]
    observed = {"probe_body": world.baseline_body[:300], "looked_for": values}
    if missing:
        return Verdict(
            False,
            f"The probe does not show the member's {description} ({', '.join(missing)}).",
            observed=observed,
        )
    return Verdict(
        True, f"The probe shows the member's {description} ({', '.join(values)}).", observed=observed
    )


def _shown(field: str) -> object:
    return lambda world: (
        None if field in world.target.probe.shows else f"the target's probe.shows leaves out {field}"
    )


@SUITE.check(
    "SAML-SP-ATTR-1",
    SHOULD,
    "attributes",
    "The member id reaches the probe",
    "SAML core 2.0 §2.7.3 (AttributeStatement)",
    "Key the account on the member_id attribute (emails change): " + PROBE_HINT,
    applies=_shown("member_id"),
)
def member_id_shown(world: World) -> Verdict:
    return _shows(world, "member_id", "member id")


@SUITE.check(
    "SAML-SP-ATTR-2",
    SHOULD,
    "attributes",
    "The email reaches the probe",
    "SAML core 2.0 §2.7.3; the mail attribute (urn:oid:0.9.2342.19200300.100.1.3)",
    "Map the mail attribute to the account's email. " + PROBE_HINT,
    applies=_shown("email"),
)
def email_shown(world: World) -> Verdict:
    return _shows(world, "email", "email")


@SUITE.check(
    "SAML-SP-ATTR-3",
    SHOULD,
    "attributes",
    "The given and family names reach the probe",
    "SAML core 2.0 §2.7.3; givenName (urn:oid:2.5.4.42) and sn (urn:oid:2.5.4.4)",
    "Map givenName and sn to the account's names at every sign-on. " + PROBE_HINT,
    applies=_shown("given_name"),
)
def names_shown(world: World) -> Verdict:
    return _shows(world, "given_name+family_name", "given and family names")


@SUITE.check(
    "SAML-SP-ATTR-4",
    SHOULD,
    "attributes",
    "The member type reaches the probe",
    "SAML core 2.0 §2.7.3; attribute member_type",
    "Map the member_type attribute (it decides pricing and access). " + PROBE_HINT,
    applies=_shown("member_type"),
)
def member_type_shown(world: World) -> Verdict:
    return _shows(world, "member_type", "member type")


@SUITE.check(
    "SAML-SP-ATTR-5",
    SHOULD,
    "attributes",
    "The member status reaches the probe",
    "SAML core 2.0 §2.7.3; attribute member_status",
    "Map the member_status attribute and refresh it at each sign-on (lapsed members lose access). "
    + PROBE_HINT,
    applies=_shown("member_status"),
)
def member_status_shown(world: World) -> Verdict:
    return _shows(world, "member_status", "member status")
