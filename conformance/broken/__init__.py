"""Deliberately broken SAML service providers that prove the SAML SP conformance suite.

:class:`~conformance.broken.minisp.MiniSp` is a small, strict SAML 2.0 SP written directly on lxml and
python-xmlsec (Web Browser SSO: signed HTTP-Redirect AuthnRequests, HTTP-POST responses). Each entry of
:data:`FLAWS` but ``"none"`` is a subclass (:mod:`conformance.broken.flaws`) that breaks exactly one
behaviour; the suite must certify ``"none"`` and fail each flaw on exactly the checks it explains.

Example::

    app = create_app("xsw", "http://127.0.0.1:8080", idp_metadata_xml)

    from conformance.broken.server import running_sp
    with running_sp("ignore-audience", "http://127.0.0.1:5000/saml/metadata") as base_url:
        ...   # base_url/metadata, base_url/login, base_url/acs, base_url/whoami

or, from a shell: ``python -m conformance.broken xsw --idp-metadata-url URL``.
"""

from __future__ import annotations

from flask import Flask

from conformance.broken.app import sp_app
from conformance.broken.flaws import (
    AcceptUnsolicited,
    IgnoreAudience,
    IgnoreTime,
    NoReplayCache,
    SignatureWrapping,
    SkipSignature,
    TruncateNameId,
)
from conformance.broken.minisp import MiniSp

FLAWS: dict[str, type[MiniSp]] = {
    "none": MiniSp,
    "skip-signature": SkipSignature,
    "ignore-audience": IgnoreAudience,
    "no-replay-cache": NoReplayCache,
    "xsw": SignatureWrapping,
    "truncate-nameid": TruncateNameId,
    "ignore-time": IgnoreTime,
    "accept-unsolicited": AcceptUnsolicited,
}


def create_app(flaw: str, base_url: str, idp_metadata_xml: str, allow_unsolicited: bool = False) -> Flask:
    """The SP with ``flaw`` (a key of :data:`FLAWS`) at ``base_url``, trusting the IdP of the metadata."""
    if flaw not in FLAWS:
        raise ValueError(f"Unknown flaw {flaw!r}; known: {', '.join(FLAWS)}.")
    return sp_app(FLAWS[flaw](base_url, idp_metadata_xml, allow_unsolicited=allow_unsolicited))
