"""The saml-sp suite object; its checks register themselves from :mod:`conformance.saml_sp.checks`."""

from __future__ import annotations

from conformance.harness.checks import Suite

SUITE = Suite(
    "saml-sp",
    "SAML 2.0 service provider",
    "Certifies a SAML 2.0 service provider (an LMS, a portal…) that trusts the sandbox AMS as its identity "
    "provider: honest responses must sign the right member in; forged, replayed, wrapped, expired and "
    "malformed ones must not, and the SP must stay healthy.",
)
