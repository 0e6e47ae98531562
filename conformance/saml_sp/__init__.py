"""The saml-sp suite: certify a SAML 2.0 service provider that trusts the sandbox AMS as its IdP.

Checks run in the order of :data:`GROUPS`: metadata, honest sign-ins and attributes, signatures and
wrapping, protocol, time, encryption, hostile XML, and last the AuthnRequests the run's logins sent.
"""

from __future__ import annotations

from importlib import resources

from conformance.saml_sp.checks import documents as _documents  # noqa: F401 - each module registers its checks
from conformance.saml_sp.checks import encryption as _encryption  # noqa: F401
from conformance.saml_sp.checks import honest
from conformance.saml_sp.checks import hostile_xml as _hostile_xml  # noqa: F401
from conformance.saml_sp.checks import protocol as _protocol  # noqa: F401
from conformance.saml_sp.checks import requests as _requests  # noqa: F401
from conformance.saml_sp.checks import signature as _signature  # noqa: F401
from conformance.saml_sp.checks import timing as _timing  # noqa: F401
from conformance.saml_sp.suite import SUITE
from conformance.saml_sp.target import SamlSpTarget
from conformance.saml_sp.world import open_world

GROUPS = (
    "metadata",
    "honest",
    "attributes",
    "signature",
    "wrapping",
    "protocol",
    "time",
    "encryption",
    "xml",
    "requests",
)
SUITE.checks.sort(key=lambda check: (GROUPS.index(check.group), int(check.id.rsplit("-", 1)[1])))
SUITE.target_model = SamlSpTarget
SUITE.open_world = open_world
SUITE.calibrate = honest.calibrate
SUITE.template = resources.files(__package__).joinpath("target-template.yaml").read_text(encoding="utf-8")

__all__ = ["SUITE"]
