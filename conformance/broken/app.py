"""The Flask app around one :class:`MiniSp`: its views only translate HTTP.

Routes: ``GET /metadata``, ``GET /login?return_to=``, ``POST /acs``, ``GET /whoami``, ``GET /healthz``.
The signed-in identity lives in Flask's signed session cookie; any refused sign-in clears it.

Example::

    app = sp_app(MiniSp("http://127.0.0.1:8080", idp_metadata_xml))
"""

from __future__ import annotations

import hashlib
import html
import logging
import secrets

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request, session
from werkzeug.exceptions import RequestEntityTooLarge

from conformance.broken.minisp import MiniSp
from conformance.broken.saml import MalformedMessage, SignInRefused

METADATA_CONTENT_TYPE = "application/samlmetadata+xml"
MAX_FORM_BYTES = 1024 * 1024
"""Above the SP's own 512 KiB limit, so that it, not werkzeug (500,000 bytes by default), decides."""

views = Blueprint("minisp", __name__)
logger = logging.getLogger(__name__)


def _sp() -> MiniSp:
    return current_app.extensions["minisp"]


def _refused(refusal: SignInRefused) -> Response:
    """The page a browser sees for a refused sign-in; whoever was signed in is not any more."""
    session.clear()
    logger.info("sign-in refused (%s): %s", refusal.code, refusal.message)
    reason = html.escape(refusal.message)
    body = f"<!doctype html><title>Sign-in refused</title><h1>Sign-in refused</h1><p>{reason}</p>"
    return Response(body, status=refusal.http_status, mimetype="text/html")


@views.get("/metadata")
def metadata() -> Response:
    return Response(_sp().metadata(), mimetype=METADATA_CONTENT_TYPE)


@views.get("/login")
def login() -> Response:
    return redirect(_sp().start_login(request.args.get("return_to")).redirect_url, 302)


@views.post("/acs")
def acs() -> Response:
    saml_response = request.form.get("SAMLResponse")
    try:
        if saml_response is None:
            raise MalformedMessage("The form has no SAMLResponse field.")
        sign_in = _sp().consume(saml_response, request.form.get("RelayState"))
    except SignInRefused as refusal:
        return _refused(refusal)
    session.clear()
    session["identity"] = sign_in.identity
    return redirect(sign_in.redirect_to, 302)


@views.get("/whoami")
def whoami() -> tuple[Response, int]:
    identity = session.get("identity")
    if identity is None:
        return jsonify(signed_in=False), 401
    return jsonify(identity), 200


@views.get("/healthz")
def healthz() -> Response:
    return Response("ok", mimetype="text/plain")


@views.app_errorhandler(RequestEntityTooLarge)
def too_large(_: RequestEntityTooLarge) -> Response:
    return _refused(MalformedMessage("The request is too large."))


def sp_app(sp: MiniSp) -> Flask:
    """A Flask app serving ``sp`` at its base URL, with a session secret of its own.

    The session cookie's name is the SP's own too: browsers share cookies between ports of one host.
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_NAME="minisp_" + hashlib.sha256(sp.base_url.encode()).hexdigest()[:12],
        MAX_FORM_MEMORY_SIZE=MAX_FORM_BYTES,
        MAX_CONTENT_LENGTH=2 * MAX_FORM_BYTES,
    )
    app.extensions["minisp"] = sp
    app.register_blueprint(views)
    return app
