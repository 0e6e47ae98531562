"""SAML IdP endpoints: metadata, SSO (HTTP-Redirect and HTTP-POST), IdP-initiated SSO and SLO.

Views translate HTTP only: the protocol lives in :mod:`simulator.ams.idp.saml.idp`, who may sign in in
:mod:`simulator.ams.idp.attributes`. Refusals are plain pages (400/403), never redirects.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, request
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

from simulator.ams.idp import browser, keys, web_session
from simulator.ams.idp.attributes import access_decision, member_attributes, released
from simulator.ams.idp.login import signed_in_member
from simulator.ams.idp.saml.idp import AuthnRequestInfo, SamlRequestRefused, TenantIdp, idp_urls, tenant_idp
from simulator.ams.idp.saml.metadata import idp_metadata
from simulator.core.web import database

saml_pages = browser.idp_blueprint("ams_saml", __name__)


def _idp() -> TenantIdp:
    """The tenant's IdP, read without a write transaction (a key is made only for a tenant lacking one)."""
    return tenant_idp(database(), browser.tenant_id(), browser.ams_url(), browser.settings().sso)


@saml_pages.get("/saml/metadata")
def metadata(tenant: str) -> Response:
    """The IdP's metadata: entityID (this URL), SSO/SLO endpoints and every published certificate."""
    urls = idp_urls(browser.ams_url(), browser.tenant_id())
    with database().session() as session:
        published = keys.published_keys(session, browser.tenant_id()) or [
            keys.active_key(session, browser.tenant_id())
        ]
    document = idp_metadata(urls.entity_id, urls.sso, urls.slo, published)
    return Response(document, mimetype="application/samlmetadata+xml")


def _answer(info: AuthnRequestInfo, idp: TenantIdp, relay_state: str | None, resume_url: str) -> Response:
    """Send the signed response to the ACS, or the login form (posting back to resume here), or a refusal."""
    login = browser.current_login()
    if login is None:
        return browser.login_page(resume_url, info.sp_entity_id)
    sso = browser.settings().sso
    member = signed_in_member(database(), browser.tenant_id(), login["member_id"])
    if member is None:
        response = browser.login_page(resume_url, info.sp_entity_id)
        web_session.clear_login(response, browser.tenant_id())
        return response
    decision = access_decision(member, browser.settings().access)
    if not decision.allowed:
        return browser.message_page("Access denied", decision.message, 403)
    values = member_attributes(member, sso, decision.access)
    sp = idp.sps[info.sp_entity_id]
    response_b64 = idp.authn_response(
        info,
        released(values, sp.attributes),
        member.member_id,
        member.email,
        sso.assertion_lifetime_seconds,
    )
    fields = {"SAMLResponse": response_b64}
    if relay_state:
        fields["RelayState"] = relay_state
    return browser.post_form(info.acs_url, fields)


@saml_pages.route("/saml/sso", methods=["GET", "POST"])
def single_sign_on(tenant: str) -> Response:
    """SP-initiated SSO (SAML profiles 2.0 §4.1.4): an AuthnRequest by HTTP-Redirect or HTTP-POST."""
    values = request.form if request.method == "POST" else request.args
    saml_request = values.get("SAMLRequest", "")
    relay_state = values.get("RelayState")
    if not saml_request:
        raise SamlRequestRefused("This address expects a SAML AuthnRequest (the SAMLRequest parameter).")
    is_post = request.method == "POST" or request.args.get("binding") == "post"
    binding = BINDING_HTTP_POST if is_post else BINDING_HTTP_REDIRECT
    idp = _idp()
    info = idp.parse_authn_request(saml_request, binding, request.query_string)
    query = {"SAMLRequest": saml_request, **({"RelayState": relay_state} if relay_state else {})}
    if is_post:
        query["binding"] = "post"
    resume = urlencode(query)
    if not is_post and "Signature" in request.args:
        resume = request.query_string.decode("ascii")  # the signature covers these exact octets
    return _answer(info, idp, relay_state, f"/t/{browser.tenant_id()}/saml/sso?{resume}")


@saml_pages.get("/saml/idp-initiated")
def idp_initiated(tenant: str) -> Response:
    """IdP-initiated SSO (SAML profiles 2.0 §4.1.5): an unsolicited response to a registered SP."""
    sp_entity_id = request.args.get("sp", "")
    relay_state = request.args.get("RelayState")
    idp = _idp()
    info = idp.unsolicited(sp_entity_id)
    query = {"sp": sp_entity_id, **({"RelayState": relay_state} if relay_state else {})}
    return _answer(info, idp, relay_state, f"/t/{browser.tenant_id()}/saml/idp-initiated?{urlencode(query)}")


@saml_pages.route("/saml/slo", methods=["GET", "POST"])
def single_logout(tenant: str) -> Response:
    """Single logout (SAML profiles 2.0 §4.4): end the AMS session; answer at the SP's registered URL."""
    values = request.form if request.method == "POST" else request.args
    saml_request = values.get("SAMLRequest", "")
    relay_state = values.get("RelayState")
    response: Response
    if not saml_request:
        response = browser.message_page("You are signed out", "You have signed out.", 200)
    else:
        binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
        idp = _idp()
        destination, fields = idp.logout_response(saml_request, binding, relay_state)
        if destination is None:
            response = browser.message_page("You are signed out", "You have signed out.", 200)
        else:
            response = browser.post_form(destination, fields)
    web_session.clear_login(response, browser.tenant_id())
    return response
