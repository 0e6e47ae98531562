"""The Settings page: the small form and the JSON editor both merge-patch the tenant's settings as the
API does; bad input changes nothing; secrets are never shown and survive the masked document posted back."""

from __future__ import annotations

import html as html_lib
import json
import re
from typing import Any

from simulator.core import tenancy
from simulator.core.db import Database
from tests.conftest import ADMIN, ADMIN_KEY
from tests.console_ui.conftest import UiSession, text_of

OIDC_SECRET = "oidc-client-secret-value-1234"
ENDPOINT_SECRET = "endpoint-secret-value-5678"


def shown_text(html: str) -> str:
    return html_lib.unescape(text_of(html))


def api_settings(ui: UiSession, tenant: str = "acme") -> dict[str, Any]:
    response = ui.client.get(f"/api/tenants/{tenant}/settings", headers=ADMIN)
    assert response.status_code == 200
    return response.get_json()


def stored_settings(db: Database, tenant: str = "acme") -> dict[str, Any]:
    """The unmasked settings, as the database holds them."""
    with db.read() as session:
        return tenancy.get_tenant(session, tenant).settings


def editor_text(html: str) -> str:
    found = re.search(r'<textarea id="f-document" name="document"[^>]*>(.*?)</textarea>', html, re.S)
    assert found, "the page has no settings editor"
    return html_lib.unescape(found.group(1))


def with_secrets(ui: UiSession) -> None:
    patch = {
        "sso": {"oidc_client_secret": OIDC_SECRET},
        "writeback": {"external_endpoint": {"url": "https://example.org/hook", "secret": ENDPOINT_SECRET}},
    }
    assert ui.client.patch("/api/tenants/acme/settings", json=patch, headers=ADMIN).status_code == 200


def common_form(**changes: str) -> dict[str, str]:
    """The small form as the page fills it for a fresh tenant (ticked boxes send 'true'), with changes."""
    fields = {
        "sso.protocol": "saml",
        "sso.allow_idp_initiated": "true",
        "purchase_sync": "immediate",
        "catalog_owner": "ams",
        "membership.grace_days": "30",
        "timezone": "America/New_York",
        "currency": "USD",
    }
    return {**fields, **changes}


def test_the_page_shows_the_masked_document_a_small_form_and_the_schema_link(
    ui: UiSession, make_tenant: Any, db: Database
) -> None:
    make_tenant("acme")
    with_secrets(ui)
    page = ui.page("/tenants/acme/settings")
    assert page.status_code == 200
    assert json.loads(editor_text(page.text)) == api_settings(ui)
    assert '<label for="f-document">' in page.text
    for path in (
        "sso.protocol",
        "purchase_sync",
        "catalog_owner",
        "timezone",
        "currency",
        "membership.grace_days",
    ):
        assert f'<label for="f-{path}">' in page.text, path
    assert 'href="/api/schema/settings"' in page.text
    assert ui.client.get("/api/schema/settings").status_code == 200
    stored = stored_settings(db)
    for secret in (OIDC_SECRET, ENDPOINT_SECRET, stored["sso"]["token_service_secret"], ADMIN_KEY):
        assert secret not in page.text


def test_the_small_form_changes_fields_and_empty_inputs_go_back_to_their_default(
    ui: UiSession, make_tenant: Any
) -> None:
    make_tenant("acme")
    form = common_form(**{"sso.protocol": "oidc", "purchase_sync": "next_sign_on", "currency": "EUR"})
    del form["sso.allow_idp_initiated"]  # unticked
    form["commerce.access_before_payment"] = "true"
    saved = ui.submit("/tenants/acme/settings", **form)
    assert saved.status_code == 303 and saved.headers["Location"] == "/tenants/acme/settings"
    settings = api_settings(ui)
    assert settings["sso"]["protocol"] == "oidc" and settings["sso"]["allow_idp_initiated"] is False
    assert settings["purchase_sync"] == "next_sign_on" and settings["currency"] == "EUR"
    assert settings["commerce"]["access_before_payment"] is True
    page = ui.page("/tenants/acme/settings").text
    assert "Settings saved." in shown_text(page)
    assert '<option value="oidc" selected>' in page

    assert ui.submit("/tenants/acme/settings", **common_form(currency="")).status_code == 303
    assert api_settings(ui)["currency"] == "USD"


def test_bad_values_in_the_small_form_are_shown_next_to_the_input_and_change_nothing(
    ui: UiSession, make_tenant: Any
) -> None:
    make_tenant("acme")
    before = api_settings(ui)
    refused = ui.submit(
        "/tenants/acme/settings", **common_form(timezone="Mars/Olympus", **{"membership.grace_days": "-1"})
    )
    assert refused.status_code == 422
    assert re.search(r'id="e-timezone">[^<]*is not an IANA time zone name', refused.text)
    assert re.search(r'id="e-membership.grace_days">[^<]*greater than or equal to 0', refused.text)
    assert "timezone: 'Mars/Olympus' is not an IANA time zone name" in shown_text(refused.text)
    assert 'value="Mars/Olympus"' in refused.text  # what was typed is kept
    assert api_settings(ui) == before


def test_the_editor_saves_an_edited_document_and_a_key_taken_out_goes_back_to_its_default(
    ui: UiSession, make_tenant: Any
) -> None:
    make_tenant("acme")
    document = json.loads(editor_text(ui.page("/tenants/acme/settings").text))
    document["sso"]["protocol"] = "token"
    document["writeback"]["batch_max_size"] = 50
    document["branding"]["primary_colour"] = "#000000"
    del document["journal"]
    assert (
        ui.client.patch(
            "/api/tenants/acme/settings", json={"journal": {"max_entries": 500}}, headers=ADMIN
        ).status_code
        == 200
    )
    saved = ui.submit("/tenants/acme/settings", document=json.dumps(document, indent=2))
    assert saved.status_code == 303
    settings = api_settings(ui)
    assert settings["sso"]["protocol"] == "token" and settings["writeback"]["batch_max_size"] == 50
    assert settings["branding"]["primary_colour"] == "#000000"
    assert settings["journal"]["max_entries"] == 10_000  # taken out of the document: the default

    unchanged = ui.submit("/tenants/acme/settings", document=json.dumps(settings))
    assert unchanged.status_code == 303
    assert "Nothing changed" in shown_text(ui.page("/tenants/acme/settings").text)


def test_invalid_json_and_invalid_documents_give_422_with_the_message_and_change_nothing(
    ui: UiSession, make_tenant: Any
) -> None:
    make_tenant("acme")
    before = api_settings(ui)
    broken = ui.submit("/tenants/acme/settings", document='{\n  "currency": "EUR",\n  "sso": {\n}')
    assert broken.status_code == 422
    assert re.search(r'id="e-document">line 4, column 2: [^<]+<', broken.text)
    assert '"currency": "EUR"' in html_lib.unescape(broken.text)  # the text typed is kept

    document = json.loads(editor_text(ui.page("/tenants/acme/settings").text))
    document["currency"] = "euro"
    document["sso"]["protocol"] = "kerberos"
    document["retry"]["schedule_seconds"] = [5, 1]
    invalid = ui.submit("/tenants/acme/settings", document=json.dumps(document))
    assert invalid.status_code == 422
    shown = shown_text(invalid.text)
    assert "currency: String should match pattern" in shown
    assert "sso.protocol: Input should be 'saml', 'oidc' or 'token'" in shown
    assert "retry.schedule_seconds: delays must not decrease" in shown
    assert re.search(r'id="e-sso.protocol">Input should be', invalid.text)  # next to the small-form input
    assert 'aria-invalid="true">' in invalid.text and "kerberos" in editor_text(invalid.text)

    not_an_object = ui.submit("/tenants/acme/settings", document="[1, 2]")
    assert not_an_object.status_code == 422 and "must be a JSON object" in shown_text(not_an_object.text)
    assert api_settings(ui) == before


def test_the_masked_document_posted_back_keeps_every_secret(
    ui: UiSession, make_tenant: Any, db: Database
) -> None:
    make_tenant("acme")
    with_secrets(ui)
    before = stored_settings(db)
    page = ui.page("/tenants/acme/settings").text
    document = json.loads(editor_text(page))
    assert document["sso"]["oidc_client_secret"] == "[redacted]"
    assert ui.submit("/tenants/acme/settings", document=editor_text(page)).status_code == 303
    assert stored_settings(db) == before

    document["currency"] = "CAD"
    assert ui.submit("/tenants/acme/settings", document=json.dumps(document)).status_code == 303
    after = stored_settings(db)
    assert after["currency"] == "CAD"
    assert after["sso"]["oidc_client_secret"] == OIDC_SECRET
    assert after["writeback"]["external_endpoint"]["secret"] == ENDPOINT_SECRET
    assert after["sso"]["token_service_secret"] == before["sso"]["token_service_secret"]

    document["sso"]["oidc_client_secret"] = "a-new-client-secret"
    document["writeback"]["external_endpoint"] = None
    assert ui.submit("/tenants/acme/settings", document=json.dumps(document)).status_code == 303
    changed = stored_settings(db)
    assert changed["sso"]["oidc_client_secret"] == "a-new-client-secret"
    assert changed["writeback"]["external_endpoint"] is None


def test_a_mask_where_no_secret_is_stored_is_refused(ui: UiSession, make_tenant: Any, db: Database) -> None:
    make_tenant("acme")
    document = json.loads(editor_text(ui.page("/tenants/acme/settings").text))
    document["sso"]["oidc_client_secret"] = "[redacted]"
    refused = ui.submit("/tenants/acme/settings", document=json.dumps(document))
    assert refused.status_code == 422
    assert "sso.oidc_client_secret: '[redacted]' stands for a stored secret" in shown_text(refused.text)
    assert stored_settings(db)["sso"]["oidc_client_secret"] is None


def test_a_tenant_key_cannot_see_or_change_another_tenants_settings(ui_as: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    make_tenant("other")
    session = ui_as(acme.api_key)
    assert session.page("/tenants/acme/settings").status_code == 200
    assert session.page("/tenants/other/settings").status_code == 404
    assert session.submit("/tenants/other/settings", **common_form(currency="EUR")).status_code == 404
    assert session.submit("/tenants/other/settings", document='{"currency": "EUR"}').status_code == 404
    assert api_settings(ui_as(ADMIN_KEY), "other")["currency"] == "USD"
    assert session.submit("/tenants/acme/settings", document='{"currency": "EUR"}').status_code == 303


def test_a_refused_document_is_shown_again_without_the_secrets_typed_into_it(
    ui: UiSession, make_tenant: Any, db: Database
) -> None:
    make_tenant("acme")
    document = json.loads(editor_text(ui.page("/tenants/acme/settings").text))
    document["sso"]["oidc_client_secret"] = "typed-but-refused-secret"
    document["currency"] = "euro"
    refused = ui.submit("/tenants/acme/settings", document=json.dumps(document))
    assert refused.status_code == 422
    assert "typed-but-refused-secret" not in refused.text
    assert json.loads(editor_text(refused.text))["sso"]["oidc_client_secret"] == "[redacted]"
    assert "type them once more" in shown_text(refused.text)
    assert stored_settings(db)["sso"]["oidc_client_secret"] is None
