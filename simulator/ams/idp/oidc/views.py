"""OIDC provider endpoints under ``/t/{tenant}``: discovery, JWKS, authorize, token, userinfo, logout and
dynamic client registration (views translate HTTP; the protocol is in the sibling modules)."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from flask import Flask, Response, current_app, jsonify, redirect, request
from pydantic import ValidationError

from simulator.ams.idp import browser, keys, web_session
from simulator.ams.idp.attributes import access_decision
from simulator.ams.idp.login import signed_in_member
from simulator.ams.idp.oidc import clients, endpoints, provider
from simulator.ams.idp.oidc.extensions import PrivateKeyJwt, TenantOpenIDCode
from simulator.core.errors import validation_failed_from_pydantic
from simulator.core.tenancy import tenant_settings
from simulator.core.web import app_state, database, resolve_tenant

oidc_pages = browser.idp_blueprint("ams_oidc", __name__)


def install_oidc_provider(app: Flask) -> AuthorizationServer:
    """Bind authlib's authorization server to the AMS app, with the sandbox's grants and auth methods."""
    server = AuthorizationServer(app, query_client=provider.query_client, save_token=provider.save_token)
    server.register_token_generator("default", provider.token_generator())
    server.register_grant(
        provider.AuthorizationCodeGrant,
        [TenantOpenIDCode(require_nonce=False), provider.S256CodeChallenge(required=True)],
    )
    server.register_grant(provider.RefreshTokenGrant)
    server.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt())
    app.extensions["ams_oidc_server"] = server
    return server


def _server() -> AuthorizationServer:
    return current_app.extensions["ams_oidc_server"]


def _issuer() -> str:
    return f"{browser.ams_url()}/t/{browser.tenant_id()}"


@oidc_pages.before_request
def _bind_tenant() -> None:
    provider.use_tenant(
        provider.TenantContext(app_state().db, browser.tenant_id(), _issuer(), browser.settings())
    )


def _json(body: Any, status: int = 200, **headers: str) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


@oidc_pages.get("/.well-known/openid-configuration")
def discovery(tenant: str) -> Response:
    """OpenID Connect Discovery 1.0 provider metadata."""
    return jsonify(endpoints.discovery_document(_issuer(), tenant_settings(resolve_tenant(tenant)).sso))


@oidc_pages.get("/oidc/jwks")
def jwks(tenant: str) -> Response:
    """The public signing keys (active, and the previous one during a rotation)."""
    keys.ensure_active_key(database(), browser.tenant_id())
    with database().read() as session:
        return jsonify(endpoints.jwks(session, browser.tenant_id()))


@oidc_pages.get("/oidc/authorize")
def authorize(tenant: str) -> Response:
    """Authorization endpoint (OIDC Core §3.1.2): code flow; the login form is served here when needed.

    Errors before the client and redirect_uri are known good are shown as a page (no open redirect);
    later errors go back to the client's redirect_uri as RFC 6749 §4.1.2.1 says.
    """
    try:
        grant = _server().get_consent_grant(end_user=None)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            return _server().handle_error_response(request, error)
        return browser.message_page(
            "We could not sign you in", error.get_error_description() or error.error, 400
        )
    requester = grant.client.metadata.get("client_name")
    login = browser.current_login()
    if login is None:
        return browser.login_page(request.full_path, requester)
    member = signed_in_member(database(), browser.tenant_id(), login["member_id"])
    if member is None:
        response = browser.login_page(request.full_path, requester)
        web_session.clear_login(response, browser.tenant_id())
        return response
    decision = access_decision(member, browser.settings().access)
    if not decision.allowed:
        return browser.message_page("Access denied", decision.message, 403)
    user = provider.SignedInUser(
        login["member_id"], int(login["auth_time"]), grant.client.client_id, decision.access
    )
    return _server().create_authorization_response(grant_user=user, grant=grant)


@oidc_pages.post("/oidc/token")
def token(tenant: str) -> Response:
    """Token endpoint (OIDC Core §3.1.3): authorization_code and refresh_token grants."""
    return _server().create_token_response()


@oidc_pages.route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo(tenant: str) -> Response:
    """UserInfo endpoint (OIDC Core §5.3): bearer token in the Authorization header (RFC 6750 §2.1)."""
    scheme, _, access_token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not access_token.strip():
        return _json({"error": "invalid_request"}, 401, WWW_Authenticate='Bearer realm="userinfo"')
    claims = endpoints.userinfo(access_token.strip())
    if claims is None:
        return _json(
            {"error": "invalid_token"}, 401, WWW_Authenticate='Bearer realm="userinfo", error="invalid_token"'
        )
    return _json(claims)


@oidc_pages.route("/oidc/logout", methods=["GET", "POST"])
def end_session(tenant: str) -> Response:
    """RP-initiated logout: end the AMS sign-in; go back only to a registered post_logout_redirect_uri."""
    values = request.values
    target = endpoints.logout_redirect(
        values.get("id_token_hint"),
        values.get("post_logout_redirect_uri"),
        values.get("state"),
        values.get("client_id"),
    )
    response = (
        redirect(target, 302)
        if target
        else browser.message_page("You are signed out", "You have signed out.", 200)
    )
    web_session.clear_login(response, browser.tenant_id())
    return response


@oidc_pages.post("/oidc/register")
def register(tenant: str) -> Response:
    """Dynamic client registration (RFC 7591 §3): returns the client, and its secret once."""
    document = request.get_json(silent=True)
    if not isinstance(document, dict):
        return _json({"error": "invalid_client_metadata", "error_description": "Send a JSON object."}, 400)
    try:
        data = clients.ClientCreate.model_validate(document)
    except ValidationError as exc:
        description = validation_failed_from_pydantic(exc).message
        error = "invalid_redirect_uri" if "redirect_uris" in description else "invalid_client_metadata"
        return _json({"error": error, "error_description": description}, 400)
    with database().session() as session:
        client = clients.register_client(session, browser.tenant_id(), data)
    return _json(client, 201)
