"""Protocol and binding checks: validly signed responses that say the wrong thing must not sign in.

Each is minted by the sandbox IdP with the tenant's real key, so only what the check changed is wrong.
"""

from __future__ import annotations

import copy
import secrets

from conformance.harness.checks import MUST, SHOULD, NotJudged, Verdict
from conformance.saml_sp.browser import new_agent, start_idp_initiated, start_sign_on
from conformance.saml_sp.judge import MEMBER_AND_VICTIM, refused, send
from conformance.saml_sp.messages import assertion_of, parse, serialise
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.world import World

OTHER_SP = "https://another-sp.example"
OTHER_IDP = "https://another-idp.example/saml/metadata"
MEMBER = ("member",)


def _minted_refused(
    world: World, description: str, forbidden: tuple[str, ...] = MEMBER, **overrides: object
) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    return refused(world, sign_on, world.mint(sign_on, **overrides), description, forbidden)


@SUITE.check(
    "SAML-SP-PROTO-1",
    MUST,
    "protocol",
    "A response whose Destination is another URL is refused",
    "SAML bindings 2.0 §3.5.5.2; core 2.0 §3.2.2",
    "Compare the Response's Destination with the URL of your own ACS, exactly.",
)
def wrong_destination(world: World) -> Verdict:
    return _minted_refused(world, f"Destination is {OTHER_SP}/saml/acs.", destination=f"{OTHER_SP}/saml/acs")


@SUITE.check(
    "SAML-SP-PROTO-17",
    MUST,
    "protocol",
    "A signed response without a Destination is refused",
    "SAML bindings 2.0 §3.5.5.2 (a signed message MUST carry Destination, and the recipient MUST check it)",
    "Refuse a signed response whose Destination is missing, not only one whose Destination is wrong.",
)
def missing_destination(world: World) -> Verdict:
    return _minted_refused(world, "The Response (signed) carries no Destination.", destination=None)


@SUITE.check(
    "SAML-SP-PROTO-2",
    MUST,
    "protocol",
    "A bearer SubjectConfirmation whose Recipient is another URL is refused",
    "SAML profiles 2.0 §4.1.4.2 and §4.1.4.3",
    "Require a bearer SubjectConfirmationData whose Recipient is your ACS URL.",
)
def wrong_recipient(world: World) -> Verdict:
    return _minted_refused(world, f"Recipient is {OTHER_SP}/saml/acs.", recipient=f"{OTHER_SP}/saml/acs")


@SUITE.check(
    "SAML-SP-PROTO-3",
    MUST,
    "protocol",
    "An assertion meant for another audience is refused",
    "SAML core 2.0 §2.5.1.4; profiles 2.0 §4.1.4.2",
    "Require your entityID in every AudienceRestriction.",
)
def wrong_audience(world: World) -> Verdict:
    return _minted_refused(
        world, f"Audience is {OTHER_SP}/saml/metadata.", audience=f"{OTHER_SP}/saml/metadata"
    )


@SUITE.check(
    "SAML-SP-PROTO-4",
    MUST,
    "protocol",
    "An assertion without any AudienceRestriction is refused",
    "SAML profiles 2.0 §4.1.4.2 (the assertion MUST contain an AudienceRestriction naming the SP)",
    "Refuse an assertion without an AudienceRestriction that names your entityID.",
)
def missing_audience(world: World) -> Verdict:
    return _minted_refused(world, "No AudienceRestriction in the Conditions.", audience=None)


@SUITE.check(
    "SAML-SP-PROTO-5",
    MUST,
    "protocol",
    "A response from another Issuer (signed with the trusted key) is refused",
    "SAML profiles 2.0 §4.1.4.2 and §4.1.4.3",
    "Check that the Issuer of the response and of the assertion is the IdP's entityID.",
)
def wrong_issuer(world: World) -> Verdict:
    return _minted_refused(world, f"Issuer (response and assertion) is {OTHER_IDP}.", issuer=OTHER_IDP)


@SUITE.check(
    "SAML-SP-PROTO-6",
    MUST,
    "protocol",
    "A response whose InResponseTo names no request of this SP is refused",
    "SAML profiles 2.0 §4.1.4.3; core 2.0 §3.2.2",
    "Remember the IDs of the AuthnRequests you sent and accept InResponseTo only for one of them.",
)
def unknown_in_response_to(world: World) -> Verdict:
    request_id = f"_{secrets.token_hex(16)}"
    return _minted_refused(
        world, f"InResponseTo is {request_id}, a request never sent.", in_response_to=request_id
    )


@SUITE.check(
    "SAML-SP-PROTO-7",
    MUST,
    "protocol",
    "An unsolicited (IdP-initiated) response is refused, as the target says the SP does not allow them",
    "SAML profiles 2.0 §4.1.5",
    "Refuse responses without InResponseTo unless you mean to allow IdP-initiated sign-on.",
    applies=lambda world: "the target says the SP allows them" if world.target.sp.idp_initiated else None,
)
def unsolicited(world: World) -> Verdict:
    sign_on = start_idp_initiated(world, world.member)
    return refused(world, sign_on, sign_on.xml, "The IdP's genuine unsolicited response.", MEMBER)


def _replayed(world: World, idp_started: bool) -> Verdict:
    sign_on = start_idp_initiated(world, world.member) if idp_started else start_sign_on(world, world.member)
    _, first, _ = send(world, sign_on, sign_on.xml)
    if first.signed_in_as != ["member"]:
        raise NotJudged(
            f"the genuine response was not accepted the first time (the probe answered {first.status})"
        )
    sign_on.agent = new_agent(world, "replay")
    description = "The genuine response, posted a second time from another browser after it signed in."
    return refused(world, sign_on, sign_on.xml, description, MEMBER)


@SUITE.check(
    "SAML-SP-PROTO-8",
    MUST,
    "protocol",
    "The same response posted twice signs in only once",
    "SAML profiles 2.0 §4.1.4.5 (one-time use of bearer assertions)",
    "Use each request ID once and remember accepted assertion IDs until they expire, across all processes.",
)
def replay(world: World) -> Verdict:
    return _replayed(world, idp_started=False)


@SUITE.check(
    "SAML-SP-PROTO-9",
    MUST,
    "protocol",
    "The same unsolicited response posted twice signs in only once",
    "SAML profiles 2.0 §4.1.4.5 and §4.1.5",
    "Without an InResponseTo only the assertion ID cache stops a replay: keep every accepted assertion ID "
    "until its NotOnOrAfter, shared by all processes.",
    applies=lambda world: (
        None if world.target.sp.idp_initiated else "the target says the SP refuses unsolicited responses"
    ),
)
def replay_unsolicited(world: World) -> Verdict:
    return _replayed(world, idp_started=True)


@SUITE.check(
    "SAML-SP-PROTO-10",
    MUST,
    "protocol",
    "A response with status Requester (and an assertion inside) does not sign in",
    "SAML core 2.0 §3.2.2.2; profiles 2.0 §4.1.4.2",
    "Read the top-level StatusCode first; anything but Success means no sign-in, whatever else is inside.",
)
def status_requester(world: World) -> Verdict:
    return _minted_refused(
        world, "StatusCode Requester, a signed assertion still inside.", status={"code": "Requester"}
    )


@SUITE.check(
    "SAML-SP-PROTO-11",
    MUST,
    "protocol",
    "A response with status Responder (and an assertion inside) does not sign in",
    "SAML core 2.0 §3.2.2.2",
    "Read the top-level StatusCode first; anything but Success means no sign-in, whatever else is inside.",
)
def status_responder(world: World) -> Verdict:
    return _minted_refused(
        world, "StatusCode Responder, a signed assertion still inside.", status={"code": "Responder"}
    )


@SUITE.check(
    "SAML-SP-PROTO-12",
    MUST,
    "protocol",
    "A response with status Responder/AuthnFailed (and an assertion inside) does not sign in",
    "SAML core 2.0 §3.2.2.2 (second-level status codes)",
    "Read the top-level StatusCode first; anything but Success means no sign-in, whatever else is inside.",
)
def status_authn_failed(world: World) -> Verdict:
    status = {"code": "Responder", "second_level": "AuthnFailed", "message": "The password was wrong."}
    return _minted_refused(
        world, "StatusCode Responder with AuthnFailed inside, an assertion still inside.", status=status
    )


@SUITE.check(
    "SAML-SP-PROTO-13",
    MUST,
    "protocol",
    "A Success response without any assertion does not sign in",
    "SAML profiles 2.0 §4.1.4.2 (a successful response carries at least one assertion)",
    "Refuse a response without an assertion instead of carrying on with an empty identity.",
)
def no_assertion(world: World) -> Verdict:
    return _minted_refused(
        world, "Status Success, signed, but no assertion at all.", assertion=False, sign="response"
    )


@SUITE.check(
    "SAML-SP-PROTO-14",
    SHOULD,
    "protocol",
    "An assertion whose Subject has no NameID does not sign in",
    "SAML core 2.0 §2.4.1; profiles 2.0 §4.1.4.2",
    "Refuse an assertion that does not say whom it is about (python3-saml: wantNameId).",
)
def missing_name_id(world: World) -> Verdict:
    return _minted_refused(world, "The assertion's Subject has no NameID.", name_id=None)


@SUITE.check(
    "SAML-SP-PROTO-15",
    MUST,
    "protocol",
    "A response whose Version is not 2.0 is refused",
    "SAML core 2.0 §4.1 (VersionMismatch)",
    "Refuse any Version but 2.0 on the Response and the Assertion.",
)
def wrong_version(world: World) -> Verdict:
    return _minted_refused(world, 'Version="3.0" on the Response and the Assertion.', version="3.0")


@SUITE.check(
    "SAML-SP-PROTO-16",
    SHOULD,
    "protocol",
    "A response carrying two signed assertions about different people does not sign in",
    "SAML profiles 2.0 §4.1.4.2 (every assertion names the same principal)",
    "Insist on exactly one assertion per response; an SP cannot tell whom two of them authenticate.",
)
def two_assertions(world: World) -> Verdict:
    sign_on = start_sign_on(world, world.member)
    root = parse(world.mint(sign_on, sign="assertion"))
    other = assertion_of(parse(world.mint(sign_on, member=world.victim, sign="assertion")))
    assertion_of(root).addnext(copy.deepcopy(other))
    description = "The member's signed assertion followed by a second, also validly signed, for the victim."
    return refused(world, sign_on, serialise(root), description, MEMBER_AND_VICTIM)
