"""Control API for SSO: signing keys, SAML service providers and OIDC clients."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from simulator.ams.idp.testing import SamlTestSp
from simulator.config import SandboxConfig
from tests.conftest import ADMIN

SPS = "/api/tenants/acme/saml/service-providers"
CLIENTS = "/api/tenants/acme/oidc/clients"


@pytest.fixture
def tenant(make_tenant: Any) -> Any:
    return make_tenant("acme")


def registered_entities(console: Any, path: str = SPS) -> list[str]:
    return [sp["entity_id"] for sp in console.get(path, headers=ADMIN).get_json()["service_providers"]]


def lms_entity(config: SandboxConfig, tenant_id: str = "acme") -> str:
    return f"{config.lms_url}/t/{tenant_id}/saml/metadata"


def test_a_new_tenant_has_its_own_lms_registered_as_a_service_provider(
    console: Any, config: SandboxConfig, tenant: Any
) -> None:
    listed = console.get(SPS, headers=tenant.auth).get_json()["service_providers"]

    assert [sp["entity_id"] for sp in listed] == [lms_entity(config)]
    assert listed[0]["acs"][0]["location"] == f"{config.lms_url}/t/acme/saml/acs"
    assert (listed[0]["sign"], listed[0]["encrypt_assertion"], listed[0]["attributes"]) == (
        "both",
        False,
        None,
    )


def test_a_reset_registers_the_lms_again_with_the_defaults(
    console: Any, config: SandboxConfig, tenant: Any, sp: SamlTestSp
) -> None:
    lms_sp = console.get(SPS, headers=ADMIN).get_json()["service_providers"][0]
    console.delete(f"{SPS}/{lms_sp['id']}", headers=ADMIN)
    console.post(SPS, json={"metadata_xml": sp.metadata()}, headers=ADMIN)
    assert registered_entities(console) == ["https://sp.example.org/metadata"]

    assert console.post("/api/tenants/acme/reset", headers=ADMIN).status_code == 200

    assert sorted(registered_entities(console)) == sorted(
        [lms_entity(config), "https://sp.example.org/metadata"]
    )


@pytest.fixture
def sp() -> SamlTestSp:
    return SamlTestSp.create("http://127.0.0.1:8001", "acme", [], want_encrypted=True)


def test_register_list_get_and_delete_a_service_provider(console: Any, tenant: Any, sp: SamlTestSp) -> None:
    created = console.post(SPS, json={"metadata_xml": sp.metadata(), "sign": "response"}, headers=tenant.auth)
    assert created.status_code == 201
    body = created.get_json()
    assert body["entity_id"] == "https://sp.example.org/metadata"
    assert body["acs"][0]["location"] == "https://sp.example.org/acs"
    assert body["has_encryption_certificate"] is True
    assert "metadata_xml" not in body

    listed = console.get(SPS, headers=tenant.auth).get_json()["service_providers"]
    assert [item["entity_id"] for item in listed if item["id"] == body["id"]] == [body["entity_id"]]
    assert len(listed) == 2  # besides the tenant's own LMS
    assert console.get(f"{SPS}/{body['id']}", headers=tenant.auth).get_json()["sign"] == "response"

    assert console.delete(f"{SPS}/{body['id']}", headers=tenant.auth).status_code == 204
    assert console.get(f"{SPS}/{body['id']}", headers=tenant.auth).status_code == 404


def test_registering_the_same_entity_again_replaces_it(console: Any, tenant: Any, sp: SamlTestSp) -> None:
    first = console.post(SPS, json={"metadata_xml": sp.metadata()}, headers=ADMIN).get_json()
    second = console.post(SPS, json={"metadata_xml": sp.metadata(), "sign": "assertion"}, headers=ADMIN)

    assert second.get_json()["id"] == first["id"]
    assert registered_entities(console).count("https://sp.example.org/metadata") == 1


ENTITIES_REFUSED = "The metadata declares a DTD or entities, which are not allowed."
CLASS_NAMES = re.compile(r"\w*(Error|Exception)\b|Errno|<string>")
"""What a refusal must never show: a class name, an OS error number, lxml's name for its input."""


def post_metadata(console: Any, metadata: str, sent_as: str, path: str = SPS) -> Any:
    """POST ``metadata`` to the registry as a JSON body or as the document itself."""
    if sent_as == "json":
        return console.post(path, json={"metadata_xml": metadata}, headers=ADMIN)
    return console.post(path, data=metadata, headers={**ADMIN, "Content-Type": sent_as})


@pytest.mark.parametrize("sent_as", ["json", "application/samlmetadata+xml"])
@pytest.mark.parametrize(
    ("metadata", "sentence"),
    [
        ("not xml at all", "The metadata is not well-formed XML (line 1, column 1)."),
        (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">',
            "The metadata is not well-formed XML (line 1, column 83).",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
            ENTITIES_REFUSED,
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;">]><r>&b;</r>',
            ENTITIES_REFUSED,
        ),
        (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
            "The metadata needs an entityID and an md:SPSSODescriptor.",
        ),
    ],
    ids=["not-xml", "unclosed", "external-entity", "entity-expansion", "no-sp-descriptor"],
)
def test_bad_metadata_is_a_422_with_a_plain_sentence_and_changes_nothing(
    console: Any, tenant: Any, metadata: str, sentence: str, sent_as: str
) -> None:
    before = console.get(SPS, headers=ADMIN).get_json()

    response = post_metadata(console, metadata, sent_as)

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert (problem["code"], problem["detail"]) == ("invalid_metadata", sentence)
    assert problem["errors"] == [{"field": "metadata_xml", "message": sentence}]
    assert not CLASS_NAMES.search(response.get_data(as_text=True))
    assert console.get(SPS, headers=ADMIN).get_json() == before
    assert console.get("/healthz").status_code == 200


@pytest.mark.parametrize("content_type", ["application/samlmetadata+xml", "application/xml", "text/xml"])
def test_a_metadata_document_posted_as_it_is_registers_with_the_defaults(
    console: Any, tenant: Any, sp: SamlTestSp, content_type: str
) -> None:
    response = post_metadata(console, sp.metadata(), content_type)

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["entity_id"] == "https://sp.example.org/metadata"
    assert body["acs"][0]["location"] == "https://sp.example.org/acs"
    assert (body["sign"], body["encrypt_assertion"], body["attributes"]) == ("both", False, None)
    assert response.headers["Location"] == f"{SPS}/{body['id']}"
    assert "https://sp.example.org/metadata" in registered_entities(console)


def test_a_metadata_document_takes_no_options_in_the_query(console: Any, tenant: Any, sp: SamlTestSp) -> None:
    response = post_metadata(console, sp.metadata(), "application/samlmetadata+xml", f"{SPS}?sign=assertion")

    assert response.status_code == 422
    assert response.get_json()["code"] == "options_need_json"
    assert "to set sign, send a JSON object" in response.get_json()["detail"]
    assert "https://sp.example.org/metadata" not in registered_entities(console)


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        (b"", "The request body is empty."),
        (
            "<md:EntityDescriptor>\xe9</md:EntityDescriptor>".encode("latin-1"),
            "The metadata is not UTF-8 text.",
        ),
    ],
    ids=["empty", "not-utf8"],
)
def test_an_unusable_metadata_document_is_a_422(
    console: Any, tenant: Any, body: bytes, sentence: str
) -> None:
    response = console.post(SPS, data=body, headers={**ADMIN, "Content-Type": "application/xml"})

    assert response.status_code == 422
    assert response.get_json()["code"] == "invalid_metadata"
    assert response.get_json()["detail"].startswith(sentence)


def test_a_body_neither_json_nor_xml_is_a_415_naming_both(console: Any, tenant: Any, sp: SamlTestSp) -> None:
    response = console.post(  # what `curl --data-binary @metadata.xml` sends without a Content-Type
        SPS, data=sp.metadata(), headers={**ADMIN, "Content-Type": "application/x-www-form-urlencoded"}
    )

    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"
    assert "application/samlmetadata+xml" in response.get_json()["detail"]
    assert "application/json" in response.get_json()["detail"]


def test_the_json_body_is_still_validated_as_before(console: Any, tenant: Any) -> None:
    missing = console.post(SPS, headers=ADMIN)
    not_json = console.post(SPS, data="{", headers={**ADMIN, "Content-Type": "application/json"})
    both = console.post(
        SPS, json={"metadata_xml": "<x/>", "metadata_url": "https://x.test/md"}, headers=ADMIN
    )
    bad_sign = console.post(SPS, json={"metadata_xml": "<x/>", "sign": "never"}, headers=ADMIN)

    assert (missing.status_code, missing.get_json()["code"]) == (422, "validation_failed")
    assert (not_json.status_code, not_json.get_json()["code"]) == (400, "invalid_json")
    assert both.status_code == 422 and "exactly one of" in both.get_json()["detail"]
    assert bad_sign.status_code == 422 and bad_sign.get_json()["errors"][0]["field"] == "sign"


def test_the_openapi_document_offers_json_and_the_metadata_document(console: Any) -> None:
    operation = console.get("/openapi.json").get_json()["paths"][
        "/api/tenants/{tenant}/saml/service-providers"
    ]

    content = operation["post"]["requestBody"]["content"]
    assert sorted(content) == [
        "application/json",
        "application/samlmetadata+xml",
        "application/xml",
        "text/xml",
    ]
    assert "metadata_xml" in content["application/json"]["schema"]["properties"]
    assert content["application/samlmetadata+xml"]["schema"] == {"type": "string"}


def test_encryption_needs_a_certificate_in_the_metadata(console: Any, tenant: Any) -> None:
    signing_only = SamlTestSp.create("http://127.0.0.1:8001", "acme", [], want_encrypted=False)
    assert 'use="encryption"' not in signing_only.metadata()

    response = console.post(
        SPS, json={"metadata_xml": signing_only.metadata(), "encrypt_assertion": True}, headers=ADMIN
    )

    assert response.status_code == 422
    assert response.get_json()["code"] == "no_encryption_certificate"


@pytest.fixture
def metadata_server(sp: SamlTestSp) -> Iterator[str]:
    document = sp.metadata().encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metadata"
    finally:
        server.shutdown()
        server.server_close()


def test_metadata_can_be_fetched_from_a_url(console: Any, tenant: Any, metadata_server: str) -> None:
    response = console.post(SPS, json={"metadata_url": metadata_server}, headers=ADMIN)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["entity_id"] == "https://sp.example.org/metadata"


def test_an_unreachable_metadata_url_is_a_422(console: Any, tenant: Any) -> None:
    response = console.post(SPS, json={"metadata_url": "http://127.0.0.1:9/metadata"}, headers=ADMIN)

    assert response.status_code == 422
    assert response.get_json()["code"] == "metadata_unreachable"
    assert response.get_json()["detail"] == (
        "Could not fetch the metadata from http://127.0.0.1:9/metadata: the connection was refused."
    )


def test_keys_never_show_the_private_key_and_rotation_is_guarded(console: Any, tenant: Any) -> None:
    keys = console.get("/api/tenants/acme/keys", headers=tenant.auth)
    assert keys.status_code == 200
    assert "PRIVATE" not in keys.get_data(as_text=True)
    assert [key["state"] for key in keys.get_json()["keys"]] == ["active"]

    rotated = console.post("/api/tenants/acme/keys/rotate", headers=tenant.auth).get_json()["keys"]
    assert sorted(key["state"] for key in rotated) == ["active", "previous"]
    assert "PRIVATE" not in str(rotated)
    assert console.post("/api/tenants/acme/keys/rotate", headers=tenant.auth).status_code == 409

    retired = console.post("/api/tenants/acme/keys/retire-previous", headers=tenant.auth).get_json()["keys"]
    assert sorted(key["state"] for key in retired) == ["active", "retired"]


def test_oidc_clients_secret_is_shown_once(console: Any, tenant: Any) -> None:
    created = console.post(
        CLIENTS, json={"redirect_uris": ["https://rp.example.org/cb"]}, headers=tenant.auth
    )
    assert created.status_code == 201
    client = created.get_json()
    assert client["client_secret"]

    fetched = console.get(f"{CLIENTS}/{client['client_id']}", headers=tenant.auth)
    assert fetched.status_code == 200
    assert "client_secret" not in fetched.get_json()
    assert client["client_secret"] not in console.get(CLIENTS, headers=tenant.auth).get_data(as_text=True)

    assert console.delete(f"{CLIENTS}/{client['client_id']}", headers=tenant.auth).status_code == 204
    assert console.get(f"{CLIENTS}/{client['client_id']}", headers=tenant.auth).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_uris": []},
        {"redirect_uris": ["https://rp.example.org/cb#fragment"]},
        {"redirect_uris": ["https://rp.example.org/cb"], "token_endpoint_auth_method": "private_key_jwt"},
        {"redirect_uris": ["https://rp.example.org/cb"], "scope": "openid admin"},
    ],
)
def test_invalid_client_metadata_is_a_422(console: Any, tenant: Any, body: dict[str, Any]) -> None:
    assert console.post(CLIENTS, json=body, headers=ADMIN).status_code == 422


def test_another_tenants_key_sees_nothing(
    console: Any, config: SandboxConfig, tenant: Any, make_tenant: Any, sp: SamlTestSp
) -> None:
    other = make_tenant("other")
    console.post(SPS, json={"metadata_xml": sp.metadata()}, headers=ADMIN)

    assert console.get(SPS, headers=other.auth).status_code == 404
    assert console.get("/api/tenants/acme/keys", headers=other.auth).status_code == 404
    theirs = console.get("/api/tenants/other/saml/service-providers", headers=other.auth).get_json()
    assert [item["entity_id"] for item in theirs["service_providers"]] == [lms_entity(config, "other")]
