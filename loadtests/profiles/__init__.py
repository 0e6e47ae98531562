"""The load profiles, one module each (each defines ``PROFILE``), imported when one is used."""

from __future__ import annotations

import importlib

from loadtests.profile import Profile

PROFILE_MODULES = {
    "writeback-ingest": "writeback_ingest",
    "completion-storm": "completion_storm",
    "sso-storm": "sso_storm",
    "checkout": "checkout",
    "exam-day": "exam_day",
}


def profile_names() -> list[str]:
    return list(PROFILE_MODULES)


def load_profile(name: str) -> Profile:
    return importlib.import_module(f"loadtests.profiles.{PROFILE_MODULES[name]}").PROFILE
