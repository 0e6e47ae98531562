"""The tenant settings document: defaults, validation and merge patches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.core.errors import ValidationFailed
from simulator.core.settings import TenantSettings, apply_merge_patch, merge_patch, settings_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "settings.schema.json"


def test_an_empty_document_is_complete() -> None:
    settings = TenantSettings.model_validate({})
    assert settings.sso.protocol == "saml"
    assert settings.catalog_owner == "ams"
    assert settings.purchase_sync == "immediate"
    assert settings.access.lapsed == "deny"
    assert settings.retry.schedule_seconds[:3] == [0, 5, 300]
    assert {rule.trigger for rule in settings.writeback.rules} == {"credits.awarded", "course.completed"}


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    assert merge_patch(target, {"a": {"b": 2}}) == {"a": {"b": 2, "c": [1, 2]}, "d": "x"}
    assert merge_patch(target, {"a": {"c": [3]}}) == {"a": {"b": 1, "c": [3]}, "d": "x"}
    assert merge_patch(target, {"d": None}) == {"a": {"b": 1, "c": [1, 2]}}


def test_patch_changes_only_what_it_names() -> None:
    updated = apply_merge_patch(TenantSettings(), {"sso": {"protocol": "oidc"}, "timezone": "Europe/Paris"})
    assert updated.sso.protocol == "oidc"
    assert updated.sso.clock_skew_seconds == 120
    assert updated.timezone == "Europe/Paris"


def test_null_puts_a_field_back_to_its_default() -> None:
    changed = apply_merge_patch(TenantSettings(), {"currency": "EUR"})
    assert apply_merge_patch(changed, {"currency": None}).currency == "USD"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"sso": {"protocol": "kerberos"}}, "sso.protocol"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"currency": "dollars"}, "currency"),
        ({"access": {"lapsed": "sometimes"}}, "access.lapsed"),
        ({"retry": {"schedule_seconds": [5, 1]}}, "retry.schedule_seconds"),
        (
            {"writeback": {"rules": [{"name": "x", "trigger": "course.teleported"}]}},
            "writeback.rules.0.trigger",
        ),
        (
            {
                "writeback": {
                    "rules": [
                        {
                            "name": "x",
                            "trigger": "course.passed",
                            "mode": "immediate",
                            "schedule": {"every": "hourly"},
                        }
                    ]
                }
            },
            "writeback.rules.0",
        ),
        ({"branding": {"primary_colour": "blue"}}, "branding.primary_colour"),
        ({"unknown_section": {}}, "unknown_section"),
    ],
)
def test_invalid_patches_name_the_field(patch: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        apply_merge_patch(TenantSettings(), patch)
    assert field in [error["field"] for error in caught.value.errors]
    assert field in caught.value.message


def test_duplicate_rule_names_are_refused() -> None:
    rule = {"name": "same", "trigger": "course.passed"}
    with pytest.raises(ValidationFailed, match="unique"):
        apply_merge_patch(TenantSettings(), {"writeback": {"rules": [rule, rule]}})


def test_batch_rules_get_a_default_nightly_schedule() -> None:
    settings = apply_merge_patch(
        TenantSettings(),
        {"writeback": {"rules": [{"name": "n", "trigger": "course.passed", "mode": "batch"}]}},
    )
    schedule = settings.writeback.rules[0].schedule
    assert schedule is not None and (schedule.every, schedule.at) == ("nightly", "02:00")


def test_published_schema_file_matches_the_code() -> None:
    """docs/settings.schema.json is generated: `sandbox schema settings > docs/settings.schema.json`."""
    assert json.loads(SCHEMA_FILE.read_text()) == settings_schema()
