"""Value formats: the ready-made shapes, custom templates, and templates refused when settings are saved."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from simulator.core.value_formats import ADL_VERBS, CREDITS_EXTENSION, SAMPLE_CONTEXT, render_format
from tests.conftest import ADMIN


def test_ce_credit_is_a_flat_credit_record() -> None:
    record = render_format("ce_credit", SAMPLE_CONTEXT)

    assert record["member_id"] == "M000001"
    assert (record["activity_code"], record["credit_type"], record["credits"]) == ("ETH-101", "CLE", 2.0)
    assert record["completion_date"] == "2026-03-01"
    assert record["certificate_number"] == "CERT-SAMPLE-0001"


def test_activity_has_type_subtype_units_effective_date_and_user_fields() -> None:
    record = render_format("activity", {**SAMPLE_CONTEXT, "course_kind": "webinar", "minutes_attended": 55})

    assert (record["type"], record["subtype"], record["code"]) == ("EDUCATION", "WEBINAR", "ETH-101")
    assert (record["units"], record["unit_type"], record["effective_date"]) == (2.0, "CLE", "2026-03-01")
    assert record["user_fields"]["minutes_attended"] == 55


@pytest.mark.parametrize(
    ("trigger", "verb"),
    [
        ("course.completed", "completed"),
        ("course.passed", "passed"),
        ("webinar.attended", "attended"),
        ("course.failed", "failed"),
    ],
)
def test_xapi_statements_are_structurally_valid(trigger: str, verb: str) -> None:
    statement = render_format("xapi", {**SAMPLE_CONTEXT, "trigger": trigger})

    uuid.UUID(statement["id"])
    assert statement["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": SAMPLE_CONTEXT["lms_url"], "name": "M000001"},
    }
    assert set(statement["actor"]) & {"mbox", "mbox_sha1sum", "openid"} == set()  # one IFI only
    assert statement["verb"] == {"id": ADL_VERBS + verb, "display": {"en-US": verb}}
    assert statement["verb"]["id"].startswith("http://adlnet.gov/expapi/verbs/")
    activity = statement["object"]
    assert activity["objectType"] == "Activity" and activity["id"].startswith("http")
    assert activity["definition"]["type"].startswith("http://adlnet.gov/expapi/activities/")
    result = statement["result"]
    assert result["score"]["scaled"] == 0.88 and -1 <= result["score"]["scaled"] <= 1
    assert result["score"]["min"] <= result["score"]["raw"] <= result["score"]["max"]
    assert result["success"] is True and result["completion"] is True
    assert result["extensions"][CREDITS_EXTENSION]["amount"] == 2.0
    assert dt.datetime.fromisoformat(statement["timestamp"]).tzinfo is not None


def test_custom_templates_render_types_and_text() -> None:
    template = (
        '{"who": "{{ member_id }}", "hours": "{{ credits * 60 }}",'
        ' "label": "{{ course_code }}/{{ credit_type }}", "ok": "{{ passed }}", "fixed": 7}'
    )

    assert render_format(template, SAMPLE_CONTEXT) == {
        "who": "M000001",
        "hours": 120.0,
        "label": "ETH-101/CLE",
        "ok": True,
        "fixed": 7,
    }


@pytest.mark.parametrize(
    ("value_format", "message"),
    [
        ('{"who": "{{ nobody }}"}', "'nobody' is undefined"),
        ('{"who": "{{ member_id "}', "template error"),
        ('["not", "an", "object"]', "must be a JSON object"),
        ("xml", "ce_credit, activity, xapi or a JSON object template"),
        ('{"x": "{{ member_id.__class__ }}"}', "unsafe"),
    ],
)
def test_a_bad_template_is_refused_when_settings_are_saved(
    console, make_tenant, value_format, message
) -> None:
    tenant = make_tenant("fmt")
    rule = {"name": "custom", "trigger": "course.passed", "value_format": value_format}

    response = console.patch(
        f"/api/tenants/{tenant.id}/settings", json={"writeback": {"rules": [rule]}}, headers=ADMIN
    )

    assert response.status_code == 422
    error = response.get_json()["errors"][0]
    assert error["field"] == "writeback.rules.0.value_format"
    assert message in error["message"]
    settings = console.get(f"/api/tenants/{tenant.id}/settings", headers=ADMIN).get_json()
    assert [r["name"] for r in settings["writeback"]["rules"]] == ["ce-credits", "completions"]
