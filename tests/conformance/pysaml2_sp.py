"""A SAML 2.0 service provider built on pysaml2's SP (``Saml2Client``), as an integrator writes one from
pysaml2's documentation: a small Flask app served over real HTTP, for the saml-sp suite to certify.

Routes: ``GET /metadata`` (pysaml2's ``create_metadata_string``), ``GET /login?return_to=`` (SP-initiated,
HTTP-Redirect binding, ``prepare_for_authenticate``), ``POST /acs`` (HTTP-POST binding,
``parse_authn_request_response``) and ``GET /whoami`` (200 JSON ``{"name_id": …, "attributes": {…}}`` of
the signed-in identity, 401 when nobody is).

The configuration is what pysaml2's documentation shows for a secure SP, and nothing more:

- the IdP's metadata is fetched once and given inline (``"metadata": {"inline": [xml]}``); the SP's
  entityID is ``BASE/metadata`` and its single ACS ``BASE/acs`` (HTTP-POST);
- ``allow_unsolicited: False``: only responses to a request this SP sent, looked up in
  ``outstanding_queries`` (request id → came-from), the server-side dict pysaml2's docs keep. An entry is
  never removed after use, as in pysaml2's own example SP (pysaml2 itself no longer removes it, and keeps
  no assertion-ID cache; djangosaml2 adds the removal). This glue adds no such defence: the point is to
  certify pysaml2 as it is;
- ``want_assertions_signed: True`` (so the metadata says ``WantAssertionsSigned="true"``) and
  ``want_response_signed: False``: the assertion must carry the IdP's signature, the Response may;
- ``authn_requests_signed: True`` with a key and self-signed certificate generated for the run and
  written to a temporary folder (pysaml2 reads them from files; the folder is removed on exit);
- ``signing_algorithm`` RSA-SHA256 and ``digest_algorithm`` SHA-256 under ``service.sp`` (pysaml2 signs
  with SHA-1 unless told; it reads these per service, not at the top level);
- ``allow_unknown_attributes: True``: pysaml2's attribute maps know ``mail``, ``givenName`` and ``sn``
  but not the sandbox's ``urn:ams-lms-sandbox:attribute:*`` names, which it would otherwise drop; they
  arrive under their full URI;
- ``accepted_time_diff: 60``: a minute of clock skew, as pysaml2's example configurations allow;
- ``xmlsec_binary`` from ``saml2.sigver.get_xmlsec_binary`` (pysaml2's default xmlsec1 backend);
- no encryption key pair: the metadata publishes a signing certificate only.

The ACS reads the identity from ``session_info()``, as djangosaml2 does: pysaml2 may return a response
whose checks failed (a wrong Destination, an IssueInstant out of range) with no assertion read, and only
``session_info()`` then raises. Any exception pysaml2 raises, or a response it returns as
``None``, answers 403 and leaves nobody signed in.

Example::

    with running_pysaml2_sp("http://127.0.0.1:5000/t/acme/saml/metadata") as base_url:
        httpx.get(f"{base_url}/metadata")
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request, session
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from werkzeug.serving import make_server

from conformance.broken.server import HOST, METADATA_TIMEOUT_SECONDS, OneRequestPerConnection, base_url_of
from simulator.core.certificates import self_signed_rsa

METADATA_CONTENT_TYPE = "application/samlmetadata+xml"
DEFAULT_RETURN_TO = "/whoami"
ACCEPTED_CLOCK_SKEW_SECONDS = 60
LOGGED_REASON_CHARS = 200
XMLSEC_PATHS = ["/usr/bin", "/usr/local/bin", "/opt/local/bin"]
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\\\s\x00-\x1f\x7f]*")

views = Blueprint("pysaml2_sp", __name__)
logger = logging.getLogger(__name__)


def sp_config(base_url: str, idp_metadata_xml: str, key_file: Path, cert_file: Path) -> SPConfig:
    """pysaml2's configuration of the SP at ``base_url`` (see the module docstring for each choice)."""
    config = SPConfig()
    config.load(
        {
            "entityid": f"{base_url}/metadata",
            "description": "pysaml2 SP under conformance test",
            "xmlsec_binary": get_xmlsec_binary(XMLSEC_PATHS),
            "key_file": str(key_file),
            "cert_file": str(cert_file),
            "metadata": {"inline": [idp_metadata_xml]},
            "allow_unknown_attributes": True,
            "accepted_time_diff": ACCEPTED_CLOCK_SKEW_SECONDS,
            "delete_tmpfiles": True,
            "service": {
                "sp": {
                    "name": "pysaml2 conformance SP",
                    "endpoints": {
                        "assertion_consumer_service": [(f"{base_url}/acs", BINDING_HTTP_POST)],
                    },
                    "allow_unsolicited": False,
                    "authn_requests_signed": True,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "signing_algorithm": SIG_RSA_SHA256,
                    "digest_algorithm": DIGEST_SHA256,
                },
            },
        }
    )
    return config


def _client() -> Saml2Client:
    return current_app.extensions["saml2_client"]


def _outstanding_queries() -> dict[str, str]:
    return current_app.extensions["saml2_outstanding_queries"]


def _refused(reason: str) -> Response:
    """A refused sign-in: 403, and whoever was signed in in this browser is not any more."""
    session.clear()
    logger.info("pysaml2 refused the response: %.*s", LOGGED_REASON_CHARS, reason)
    return Response("Sign-in refused.", status=403, mimetype="text/plain")


@views.get("/metadata")
def metadata() -> Response:
    xml = create_metadata_string(None, config=_client().config)
    return Response(xml, mimetype=METADATA_CONTENT_TYPE)


@views.get("/login")
def login() -> Response:
    return_to = request.args.get("return_to") or DEFAULT_RETURN_TO
    came_from = return_to if _LOCAL_PATH.fullmatch(return_to) else DEFAULT_RETURN_TO
    client = _client()
    idp_entity_id = next(iter(client.metadata.identity_providers()))
    request_id, info = client.prepare_for_authenticate(
        entityid=idp_entity_id, relay_state=came_from, binding=BINDING_HTTP_REDIRECT
    )
    _outstanding_queries()[request_id] = came_from
    return redirect(dict(info["headers"])["Location"], 302)


@views.post("/acs")
def acs() -> Response:
    saml_response = request.form.get("SAMLResponse")
    if not saml_response:
        return _refused("the form has no SAMLResponse")
    try:
        authn_response = _client().parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding=_outstanding_queries()
        )
        session_info = authn_response.session_info() if authn_response is not None else None
    except Exception as exc:  # noqa: BLE001 - pysaml2 refuses with plain Exception too (response.py)
        return _refused(f"{type(exc).__name__}: {exc}")
    if session_info is None:
        return _refused("pysaml2 could not unravel the message")
    name_id = session_info["name_id"]
    session.clear()
    session["identity"] = {
        "name_id": name_id.text if name_id is not None else None,
        "name_id_format": name_id.format if name_id is not None else None,
        "attributes": session_info["ava"],
    }
    return redirect(session_info["came_from"] or DEFAULT_RETURN_TO, 302)


@views.get("/whoami")
def whoami() -> tuple[Response, int]:
    identity = session.get("identity")
    if identity is None:
        return jsonify(signed_in=False), 401
    return jsonify(identity), 200


def pysaml2_sp_app(base_url: str, idp_metadata_xml: str, key_folder: Path) -> Flask:
    """The Flask app of the SP at ``base_url``; its key and certificate are written to ``key_folder``.

    The session cookie's name is the SP's own: browsers share cookies between ports of one host.
    """
    _, key_pem, certificate_pem = self_signed_rsa(f"{base_url}/metadata")
    key_file, cert_file = key_folder / "sp.key", key_folder / "sp.crt"
    key_file.write_text(key_pem)
    cert_file.write_text(certificate_pem)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_NAME="pysaml2sp_" + hashlib.sha256(base_url.encode()).hexdigest()[:12],
    )
    app.extensions["saml2_client"] = Saml2Client(
        config=sp_config(base_url, idp_metadata_xml, key_file, cert_file)
    )
    app.extensions["saml2_outstanding_queries"] = {}
    app.register_blueprint(views)
    return app


def _not_started(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Stands in for the app while the port, hence the base URL, is not known yet."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


@contextmanager
def running_pysaml2_sp(idp_metadata_url: str) -> Iterator[str]:
    """Serve the pysaml2 SP trusting the IdP at ``idp_metadata_url`` on a free port of 127.0.0.1 in a
    background thread; yields its base URL.

    On exit the server stops, no thread of it is left running and its key folder is removed.
    """
    metadata_response = httpx.get(idp_metadata_url, timeout=METADATA_TIMEOUT_SECONDS, follow_redirects=True)
    metadata_response.raise_for_status()
    key_folder = Path(tempfile.mkdtemp(prefix="pysaml2-sp-"))
    try:
        server = make_server(HOST, 0, _not_started, threaded=True, request_handler=OneRequestPerConnection)
        server.daemon_threads = False  # server_close() then waits for the handler threads
        try:
            server.app = pysaml2_sp_app(base_url_of(server), metadata_response.text, key_folder)
            thread = threading.Thread(target=server.serve_forever, name="pysaml2-sp", daemon=True)
            thread.start()
            try:
                yield base_url_of(server)
            finally:
                server.shutdown()
                thread.join()
        finally:
            server.server_close()
    finally:
        shutil.rmtree(key_folder, ignore_errors=True)
