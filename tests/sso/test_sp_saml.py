"""The LMS as SAML service provider: the good response signs a learner in; every hostile one is refused.

Responses are made by hand by a test IdP (tests/sso/saml_attacks.py) whose metadata the LMS fetches over
HTTP; each attack is checked against a control (the same response, untampered, is accepted).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import xmlsec
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from simulator.core.db import Database
from simulator.lms.app import create_app
from simulator.lms.sso.keys import service_provider_key
from tests.sso import saml_attacks as attacks
from tests.sso.saml_attacks import NS, assertion_of, encode
from tests.sso.sp_support import SamlWorld, page_code, patch_settings

pytest_plugins = ["tests.sso.sp_fixtures"]

MD = "urn:oasis:names:tc:SAML:2.0:metadata"


def assert_refused(world: SamlWorld, response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert page_code(response) == code
    assert world.me().status_code == 401


def test_sp_initiated_login_signs_the_learner_in_and_me_answers(saml_world: SamlWorld) -> None:
    request_id, _ = saml_world.start_login(return_to="/t/acme/courses/intro")
    signed = saml_world.idp.signed_response(saml_world.spec(in_response_to=request_id))

    response = saml_world.post(signed)

    assert response.status_code == 302
    assert response.headers["Location"] == "/t/acme/courses/intro"
    me = saml_world.me()
    assert me.status_code == 200
    body = me.get_json()
    assert body["member_id"] == "M1001"
    assert body["email"] == "ada@example.org"
    assert (body["given_name"], body["family_name"]) == ("Ada", "Lovelace")
    assert (body["member_type"], body["member_status"], body["access"]) == ("regular", "active", "full")
    assert body["protocol"] == "saml"
    assert dt.datetime.fromisoformat(body["signed_in_at"]) <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("where", ["response", "both"])
def test_a_signature_on_the_response_alone_or_on_both_is_accepted(saml_world: SamlWorld, where: str) -> None:
    response = saml_world.post(saml_world.idp.signed_response(saml_world.spec(), where=where))

    assert response.status_code == 302
    assert saml_world.me().get_json()["member_id"] == "M1001"


def signed_query(params: dict[str, list[str]], saml_type: str) -> bytes:
    """The part of an HTTP-Redirect query that its ``Signature`` covers (SAML bindings §3.4.4.1)."""
    parts = {saml_type: params[saml_type][0]}
    if "RelayState" in params:
        parts["RelayState"] = params["RelayState"][0]
    parts["SigAlg"] = params["SigAlg"][0]
    return urlencode(parts).encode()


def assert_signed_by_the_sp_metadata_key(
    world: SamlWorld, params: dict[str, list[str]], saml_type: str
) -> None:
    metadata = etree.fromstring(world.lms.get("/t/acme/saml/metadata").data)
    certificate = metadata.findtext(".//ds:X509Certificate", namespaces=NS).strip()
    pem = "-----BEGIN CERTIFICATE-----\n" + certificate + "\n-----END CERTIFICATE-----\n"
    signed_part = signed_query(params, saml_type)

    assert params["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)
    context = xmlsec.SignatureContext()
    context.key = key
    signature = base64.b64decode(params["Signature"][0])
    context.verify_binary(signed_part, xmlsec.constants.TransformRsaSha256, signature)
    with pytest.raises(xmlsec.Error):
        context.verify_binary(signed_part + b"x", xmlsec.constants.TransformRsaSha256, signature)


def test_the_authn_request_is_signed_with_rsa_sha256_by_the_key_in_the_sp_metadata(
    saml_world: SamlWorld,
) -> None:
    _, params = saml_world.start_login()

    assert_signed_by_the_sp_metadata_key(saml_world, params, "SAMLRequest")


def test_redirect_signatures_are_the_bytes_python3_saml_itself_signs(saml_world: SamlWorld) -> None:
    # The LMS signs with its SP key parsed once; python3-saml parses the PEM text for every signature.
    _, params = saml_world.start_login()
    db = Database(saml_world.config.resolved_database_url)
    try:
        private_key_pem = service_provider_key(db, "acme").private_key_pem
    finally:
        db.dispose()

    expected = OneLogin_Saml2_Utils.sign_binary(signed_query(params, "SAMLRequest"), private_key_pem)
    assert base64.b64decode(params["Signature"][0]) == expected


def test_sp_metadata_names_entity_acs_and_a_per_tenant_certificate(
    saml_world: SamlWorld, make_tenant: Any
) -> None:
    make_tenant("other")
    first = etree.fromstring(saml_world.lms.get("/t/acme/saml/metadata").data)
    again = etree.fromstring(saml_world.lms.get("/t/acme/saml/metadata").data)
    other = etree.fromstring(saml_world.lms.get("/t/other/saml/metadata").data)

    assert first.get("entityID") == saml_world.entity_id
    descriptor = first.find(f"{{{MD}}}SPSSODescriptor")
    assert descriptor.get("WantAssertionsSigned") == "true"
    assert descriptor.get("AuthnRequestsSigned") == "true"
    acs = descriptor.find(f"{{{MD}}}AssertionConsumerService")
    assert acs.get("Location") == saml_world.acs
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    uses = {key.get("use") for key in descriptor.findall(f"{{{MD}}}KeyDescriptor")}
    assert uses == {"signing", "encryption"}

    def certificate(document: Any) -> str:
        return document.findtext(".//ds:X509Certificate", namespaces=NS).strip()

    assert certificate(first) == certificate(again)
    assert certificate(first) != certificate(other)
    assert other.get("entityID").endswith("/t/other/saml/metadata")


def test_a_stripped_signature_is_refused(saml_world: SamlWorld) -> None:
    root = saml_world.idp.signed_response(saml_world.spec())
    assertion = assertion_of(root)
    assertion.remove(assertion.find("ds:Signature", NS))

    assert_refused(saml_world, saml_world.post(root), 403, "saml_unsigned")


def test_a_signature_by_a_key_not_in_the_idp_metadata_is_refused(saml_world: SamlWorld) -> None:
    from simulator.lms.sso.keys import generate_key_pair

    foreign_key, foreign_cert = generate_key_pair("attacker")
    root = saml_world.idp.signed_response(saml_world.spec(), key_pem=foreign_key, cert_pem=foreign_cert)

    assert_refused(saml_world, saml_world.post(root), 403, "saml_bad_signature")


@pytest.mark.parametrize("target", ["name_id", "attribute"])
def test_a_change_after_signing_is_refused(saml_world: SamlWorld, target: str) -> None:
    root = saml_world.idp.signed_response(saml_world.spec())
    if target == "name_id":
        assertion_of(root).find("saml:Subject/saml:NameID", NS).text = "M9999"
    else:
        values = assertion_of(root).findall(".//saml:AttributeValue", NS)
        values[0].text = "M9999"

    assert_refused(saml_world, saml_world.post(root), 403, "saml_bad_signature")


@pytest.mark.parametrize(
    ("arrangement", "where"),
    [
        (attacks.wrap_evil_before, "assertion"),
        (attacks.wrap_evil_after, "assertion"),
        (attacks.wrap_evil_around, "assertion"),
        (attacks.wrap_original_in_object, "assertion"),
        (attacks.wrap_response_in_extensions, "response"),
        (attacks.wrap_evil_before, "response"),
        (attacks.wrap_evil_after, "response"),
    ],
    ids=[
        "before",
        "after",
        "around",
        "in-ds-object",
        "in-extensions",
        "before-signed-response",
        "after-signed-response",
    ],
)
def test_xml_signature_wrapping_is_refused(saml_world: SamlWorld, arrangement: Any, where: str) -> None:
    control = saml_world.idp.signed_response(saml_world.spec(), where=where)
    wrapped = arrangement(saml_world.idp.signed_response(saml_world.spec(), where=where), "M6666")

    response = saml_world.post(wrapped)

    assert response.status_code == 403, response.get_data(as_text=True)
    assert saml_world.me().status_code == 401
    assert saml_world.post(control).status_code == 302  # the same response, untampered, is good
    assert saml_world.me().get_json()["member_id"] == "M1001"


def test_a_comment_in_the_name_id_is_refused_and_nobody_is_signed_in(saml_world: SamlWorld) -> None:
    spec = saml_world.spec(name_id="user@evil.com.good.com", attributes={})
    root = saml_world.idp.signed_response(spec)
    name_id = assertion_of(root).find("saml:Subject/saml:NameID", NS)
    name_id.text = "user@evil.com"
    name_id.append(etree.Comment(""))
    name_id[-1].tail = ".good.com"

    assert_refused(saml_world, saml_world.post(root), 403, "saml_comment_injection")


def test_a_replayed_assertion_is_refused_even_by_another_lms_process(saml_world: SamlWorld) -> None:
    signed = encode(saml_world.idp.signed_response(saml_world.spec()))
    assert saml_world.post(signed).status_code == 302
    saml_world.lms.get("/t/acme/logout")

    assert_refused(saml_world, saml_world.post(signed), 403, "saml_replayed_assertion")
    second_db = Database(saml_world.config.resolved_database_url)
    try:
        second = create_app(saml_world.config, second_db).test_client()
        response = second.post("/t/acme/saml/acs", data={"SAMLResponse": signed})
        assert response.status_code == 403
        assert page_code(response) == "saml_replayed_assertion"
    finally:
        second_db.dispose()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"audience": "https://someone-else.test/sp"}, "saml_wrong_audience"),
        ({"destination": "https://someone-else.test/acs"}, "saml_wrong_destination"),
        ({"destination": "http://127.0.0.1:8002/t/acme/saml/acs/extra"}, "saml_wrong_destination"),
        ({"recipient": "https://someone-else.test/acs"}, "saml_wrong_subject_confirmation"),
        ({"recipient": "http://127.0.0.1:8002/t/acme/saml/acs/extra"}, "saml_wrong_subject_confirmation"),
    ],
    ids=["audience", "destination", "destination-prefix", "recipient", "recipient-prefix"],
)
def test_a_response_meant_for_someone_else_is_refused(
    saml_world: SamlWorld, change: dict[str, str], code: str
) -> None:
    root = saml_world.idp.signed_response(saml_world.spec(**change), where="both")

    assert_refused(saml_world, saml_world.post(root), 403, code)


def test_expired_and_not_yet_valid_assertions_are_refused_beyond_the_skew(saml_world: SamlWorld) -> None:
    now = dt.datetime.now(dt.UTC)
    skew = dt.timedelta(seconds=120)
    expired = saml_world.spec(
        not_before=now - dt.timedelta(hours=1), not_on_or_after=now - skew - dt.timedelta(seconds=5)
    )
    early = saml_world.spec(not_before=now + skew + dt.timedelta(seconds=30))
    stale_confirmation = saml_world.spec(confirmation_not_on_or_after=now - skew - dt.timedelta(seconds=5))
    within_skew = saml_world.spec(not_before=now + dt.timedelta(seconds=60))

    assert_refused(saml_world, saml_world.post(saml_world.idp.signed_response(expired)), 403, "saml_expired")
    assert_refused(
        saml_world, saml_world.post(saml_world.idp.signed_response(early)), 403, "saml_not_yet_valid"
    )
    assert_refused(
        saml_world,
        saml_world.post(saml_world.idp.signed_response(stale_confirmation)),
        403,
        "saml_wrong_subject_confirmation",
    )
    assert saml_world.post(saml_world.idp.signed_response(within_skew)).status_code == 302


@pytest.mark.parametrize(
    ("element", "hours", "code"),
    [
        ("response", -1, "saml_expired"),
        ("assertion", -1, "saml_expired"),
        ("response", 1, "saml_not_yet_valid"),
    ],
)
def test_a_response_issued_long_ago_or_in_the_future_is_refused_while_its_conditions_hold(
    saml_world: SamlWorld, element: str, hours: int, code: str
) -> None:
    issued = attacks.instant(dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours))
    root = saml_world.idp.response_xml(saml_world.spec())
    (root if element == "response" else assertion_of(root)).set("IssueInstant", issued)
    saml_world.idp.sign(assertion_of(root))

    assert_refused(saml_world, saml_world.post(root), 403, code)
    assert saml_world.post(saml_world.idp.signed_response(saml_world.spec())).status_code == 302


def test_an_unsolicited_response_is_refused_when_the_tenant_does_not_allow_it(saml_world: SamlWorld) -> None:
    patch_settings(saml_world.console, "acme", {"sso": {"allow_idp_initiated": False}})

    response = saml_world.post(saml_world.idp.signed_response(saml_world.spec()))

    assert_refused(saml_world, response, 403, "saml_unsolicited_response")


def test_in_response_to_must_name_a_request_this_sp_sent_and_only_once(saml_world: SamlWorld) -> None:
    request_id, _ = saml_world.start_login()
    unknown = saml_world.idp.signed_response(saml_world.spec(in_response_to="_never-sent"))
    assert_refused(saml_world, saml_world.post(unknown), 403, "saml_wrong_in_response_to")

    assert (
        saml_world.post(
            saml_world.idp.signed_response(saml_world.spec(in_response_to=request_id))
        ).status_code
        == 302
    )
    saml_world.lms.get("/t/acme/logout")
    second_answer = saml_world.idp.signed_response(saml_world.spec(in_response_to=request_id))
    assert_refused(saml_world, saml_world.post(second_answer), 403, "saml_wrong_in_response_to")


def test_sha1_signatures_are_refused(saml_world: SamlWorld) -> None:
    root = saml_world.idp.signed_response(saml_world.spec(), sha1=True)

    assert_refused(saml_world, saml_world.post(root), 403, "saml_weak_algorithm")


@pytest.mark.parametrize("document", [attacks.XXE, attacks.BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
def test_dtds_and_entities_get_a_400_and_the_app_stays_healthy(saml_world: SamlWorld, document: str) -> None:
    response = saml_world.post(encode(document))

    assert response.status_code == 400
    assert page_code(response) == "saml_response_malformed"
    assert "root:" not in response.get_data(as_text=True)
    assert saml_world.lms.get("/healthz").status_code == 200


@pytest.mark.parametrize("garbage", ["", "not base64 at all!", base64.b64encode(b"<unclosed").decode()])
def test_garbage_gets_a_400(saml_world: SamlWorld, garbage: str) -> None:
    assert_refused(saml_world, saml_world.post(garbage), 400, "saml_response_malformed")


@pytest.mark.parametrize(
    "relay_state",
    ["https://evil.example/", "//evil.example/x", "/t/other/me", "/\\evil.example", "javascript:alert(1)"],
)
def test_relay_state_never_leaves_the_tenant(saml_world: SamlWorld, relay_state: str) -> None:
    response = saml_world.post(saml_world.idp.signed_response(saml_world.spec()), relay_state=relay_state)

    assert response.status_code == 302
    assert response.headers["Location"] == "/t/acme/me"


def test_login_return_to_is_kept_only_when_it_is_a_path_of_the_tenant(saml_world: SamlWorld) -> None:
    _, evil = saml_world.start_login(return_to="https://evil.example/")
    _, good = saml_world.start_login(return_to="/t/acme/courses?page=2")

    assert evil["RelayState"] == ["/t/acme/me"]
    assert good["RelayState"] == ["/t/acme/courses?page=2"]


def test_a_session_at_one_tenant_does_not_open_another(saml_world: SamlWorld, make_tenant: Any) -> None:
    make_tenant("other")
    assert saml_world.post(saml_world.idp.signed_response(saml_world.spec())).status_code == 302

    assert saml_world.me().status_code == 200
    response = saml_world.me("other")
    assert response.status_code == 401
    assert response.get_json()["code"] == "not_signed_in"


def test_logout_ends_the_session_and_goes_to_the_idp_single_logout(saml_world: SamlWorld) -> None:
    assert saml_world.post(saml_world.idp.signed_response(saml_world.spec())).status_code == 302

    response = saml_world.lms.get("/t/acme/logout")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == saml_world.idp.sso_url + "/slo"
    assert_signed_by_the_sp_metadata_key(saml_world, parse_qs(location.query), "SAMLRequest")
    assert saml_world.me().status_code == 401
    assert saml_world.lms.get("/t/acme/logout").status_code == 200  # nothing left to end at the IdP


def test_an_unreachable_idp_gets_a_clear_page(saml_world: SamlWorld) -> None:
    patch_settings(saml_world.console, "acme", {"sso": {"idp_metadata_url": "http://127.0.0.1:9/metadata"}})

    response = saml_world.lms.get("/t/acme/login")

    assert response.status_code == 502
    assert page_code(response) == "idp_unavailable"


def test_token_protocol_sends_the_learner_to_the_ams_token_authorize_endpoint(saml_world: SamlWorld) -> None:
    patch_settings(saml_world.console, "acme", {"sso": {"protocol": "token"}})

    response = saml_world.lms.get("/t/acme/login")

    assert response.status_code == 302
    assert "/t/acme/sso/token/authorize?" in response.headers["Location"]
    assert "SAMLRequest" not in response.headers["Location"]
