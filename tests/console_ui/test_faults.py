"""The Faults page: adding rules through the form (checked as the API checks them), seeing them fire,
removing and clearing them, and tenant isolation."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest

from tests.conftest import ADMIN, ADMIN_KEY
from tests.console_ui.conftest import UiSession, text_of


def api_rules(ui: UiSession, tenant: str = "acme") -> list[dict[str, Any]]:
    response = ui.client.get(f"/api/tenants/{tenant}/faults", headers=ADMIN)
    assert response.status_code == 200
    return response.get_json()["rules"]


def shown_text(html: str) -> str:
    return html_lib.unescape(text_of(html))


def add_rule(ui: UiSession, tenant: str = "acme", **fields: str) -> Any:
    """Post the add-a-rule form (its ``path`` input clashes with ``UiSession.submit``'s argument)."""
    return ui.client.post(f"/tenants/{tenant}/faults", data={"csrf_token": ui.csrf, **fields})


def error_next_to(html: str, field: str) -> str:
    """The message shown next to the input ``field`` (the input is marked invalid and points at it)."""
    assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"[^>]*aria-describedby="e-{field}"', html), field
    found = re.search(rf'<span class="field-error" id="e-{field}">([^<]*)</span>', html)
    assert found, f"no message next to {field}"
    return html_lib.unescape(found.group(1))


def test_the_page_has_a_labelled_input_with_help_for_every_rule_field(
    ui: UiSession, make_tenant: Any
) -> None:
    make_tenant("acme")
    page = ui.page("/tenants/acme/faults")
    assert page.status_code == 200
    html = page.text
    for name in (
        "name", "app", "method", "path", "status", "body", "content_type", "headers", "retry_after",
        "delay_ms", "delay_sigma", "kind", "probability", "seed", "first_n", "every_nth", "for",
        "active_until",
    ):  # fmt: skip
        assert f'<label for="f-{name}">' in html and f'id="f-{name}"' in html, name
    assert '<select id="f-app" name="app"' in html and '<select id="f-kind" name="kind"' in html
    assert "Fire only on the first N matching requests." in shown_text(html)  # help from the model
    assert "No fault rules" in shown_text(html)


def test_a_rule_added_through_the_form_is_the_rule_the_api_lists(ui: UiSession, make_tenant: Any) -> None:
    make_tenant("acme")
    added = add_rule(
        ui,
        name="inbox down", app="ams", method="post", path="/writeback/records", status="503",
        body='{"error": "maintenance"}', headers="X-Reason: drill\n\nX-Other: 2", retry_after="60",
        delay_ms="250", probability="0.5", seed="7", every_nth="2", kind="", first_n="",
    )  # fmt: skip
    assert added.status_code == 303 and added.headers["Location"] == "/tenants/acme/faults"
    [rule] = api_rules(ui)
    assert rule["rule"] == {
        "name": "inbox down",
        "app": "ams",
        "method": "POST",
        "path": "/writeback/records",
        "status": 503,
        "body": '{"error": "maintenance"}',
        "content_type": "application/json",
        "headers": {"X-Reason": "drill", "X-Other": "2"},
        "retry_after": 60,
        "delay": {"fixed_ms": 250.0},
        "probability": 0.5,
        "seed": 7,
        "every_nth": 2,
    }
    page = ui.page("/tenants/acme/faults")
    shown = shown_text(page.text)
    assert "Added fault rule" in shown and "inbox down" in shown
    assert (
        "X-Reason: drill; X-Other: 2" in shown and '{"fixed_ms": 250.0}' in shown and "every_nth 2" in shown
    )

    lognormal = add_rule(ui, path="/api/members*", delay_ms="300", delay_sigma="0.5", **{"for": "1 hour"})
    assert lognormal.status_code == 303
    second = api_rules(ui)[1]["rule"]
    assert second["delay"] == {"lognormal": {"median_ms": 300.0, "sigma": 0.5}}
    assert second["for"] == 3600.0 and "active_until" in second


def test_a_rule_that_fires_answers_the_next_ams_request_and_is_counted(
    ui: UiSession, ams: Any, make_tenant: Any
) -> None:
    make_tenant("acme")
    assert add_rule(ui, app="ams", path="/api/*", status="503", first_n="1").status_code == 303
    [rule] = api_rules(ui)
    assert ams.get("/t/acme/api/members").status_code == 503
    assert ams.get("/t/acme/api/members").status_code != 503  # only the first one
    html = ui.page("/tenants/acme/faults").text
    assert f'id="rule-{rule["id"]}-fired">1<' in html
    assert f'id="rule-{rule["id"]}-matched">2<' in html


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"app": "xyz", "status": "500"}, "app", "'ams' or 'lms'"),
        ({"status": "99"}, "status", "greater than or equal to 100"),
        ({"status": "five hundred"}, "status", "valid integer"),
        ({"status": "500", "probability": "2"}, "probability", "less than or equal to 1"),
        ({"status": "500", "for": "soon"}, "for", "give a duration such as '10 minutes'"),
        ({"status": "500", "headers": "no colon here"}, "headers", "is not 'Name: value'"),
        ({"delay_sigma": "0.5"}, "delay_ms", "Field required"),
        ({"delay_ms": "10", "delay_sigma": "9"}, "delay_sigma", "less than or equal to 5"),
        ({"status": "500", "method": "GET /x"}, "method", "HTTP method"),
    ],
)
def test_bad_input_is_explained_next_to_its_field_and_stores_nothing(
    ui: UiSession, make_tenant: Any, fields: dict[str, str], field: str, message: str
) -> None:
    make_tenant("acme")
    refused = add_rule(ui, path="/api/*", **fields)
    assert refused.status_code == 422
    assert message in error_next_to(refused.text, field)
    assert 'id="f-path" name="path" type="text" value="/api/*"' in refused.text  # the inputs are kept
    assert api_rules(ui) == []


def test_problems_with_the_rule_as_a_whole_are_shown_at_the_top_of_the_form(
    ui: UiSession, make_tenant: Any
) -> None:
    make_tenant("acme")
    both = add_rule(ui, status="500", first_n="1", every_nth="2")
    assert both.status_code == 422
    top = re.search(r'id="e-_form">([^<]*)<', both.text)
    assert top and "give either 'first_n' or 'every_nth', not both" in html_lib.unescape(top.group(1))
    no_effect = add_rule(ui, path="/api/*")
    assert no_effect.status_code == 422 and "a rule needs an effect" in shown_text(no_effect.text)
    assert api_rules(ui) == []


def test_removing_one_rule_and_clearing_all(ui: UiSession, make_tenant: Any) -> None:
    make_tenant("acme")
    for status in ("500", "502", "503"):
        assert add_rule(ui, status=status).status_code == 303
    first, second, third = api_rules(ui)
    removed = ui.submit(f"/tenants/acme/faults/{second['id']}/remove")
    assert removed.status_code == 303
    assert [rule["id"] for rule in api_rules(ui)] == [first["id"], third["id"]]
    assert f"Removed fault rule {second['id']}" in shown_text(ui.page("/tenants/acme/faults").text)
    assert ui.submit(f"/tenants/acme/faults/{second['id']}/remove").status_code == 404
    assert ui.submit("/tenants/acme/faults/clear").status_code == 303
    assert api_rules(ui) == []
    assert "Removed 2 fault rules" in shown_text(ui.page("/tenants/acme/faults").text)


def test_a_tenant_key_cannot_see_or_change_another_tenants_faults(ui_as: Any, make_tenant: Any) -> None:
    acme = make_tenant("acme")
    make_tenant("other")
    admin = ui_as(ADMIN_KEY)
    assert add_rule(admin, tenant="other", status="500").status_code == 303
    [rule] = api_rules(admin, "other")
    session = ui_as(acme.api_key)
    assert session.page("/tenants/acme/faults").status_code == 200
    assert session.page("/tenants/other/faults").status_code == 404
    assert add_rule(session, tenant="other", status="503").status_code == 404
    assert session.submit(f"/tenants/other/faults/{rule['id']}/remove").status_code == 404
    assert session.submit(f"/tenants/acme/faults/{rule['id']}/remove").status_code == 404  # not acme's rule
    assert session.submit("/tenants/other/faults/clear").status_code == 404
    assert [r["rule"]["status"] for r in api_rules(admin, "other")] == [500]
