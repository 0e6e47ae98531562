"""The suites ``sandbox certify`` knows, by name (each imported only when asked for)."""

from __future__ import annotations

import importlib

from conformance.harness.checks import Suite

SUITE_MODULES = {"saml-sp": "conformance.saml_sp"}


def suite_names() -> list[str]:
    return sorted(SUITE_MODULES)


def load_suite(name: str) -> Suite:
    """The suite called ``name`` (KeyError when there is none)."""
    return importlib.import_module(SUITE_MODULES[name]).SUITE
