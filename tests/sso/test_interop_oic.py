"""Interop: pyoidc (PyPI ``oic``), an OpenID Connect client we do not use ourselves, signs in at our OP.

The AMS is served over real HTTP (a werkzeug server in a thread on a free port). oic discovers the
provider, registers itself dynamically (RFC 7591), sends the authorization request with PKCE S256, a
browser (httpx) signs in at the AMS login form, and oic redeems the code with ``client_secret_basic``,
verifies the ID token against the JWKS it fetched itself (signature, iss, aud, nonce) and calls userinfo.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from simulator.ams.idp.testing import form_fields
from simulator.core.db import Database
from simulator.scenario.target import free_ports
from tests.conftest import ADMIN, make_config
from tests.helpers.servers import serving

oic = pytest.importorskip("oic")
from oic import rndstr  # noqa: E402
from oic.oic import Client  # noqa: E402
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, OpenIDSchema  # noqa: E402
from oic.utils.authn.client import CLIENT_AUTHN_METHOD  # noqa: E402

TENANT = "oic-interop"
REDIRECT_URI = "https://rp.example.org/oic/callback"


@pytest.fixture
def issuer(tmp_path: Path, db_url: str) -> Iterator[str]:
    """The tenant's issuer URL, with the AMS answering on a free port."""
    from simulator.ams.app import create_app as create_ams
    from simulator.console.app import create_app as create_console

    (ams_port,) = free_ports(1)
    config = make_config(tmp_path, db_url, ams_port=ams_port)
    db = Database(config.resolved_database_url)
    db.upgrade()
    console = create_console(config, db).test_client()
    created = console.post("/api/tenants", json={"id": TENANT, "seed": 7, "members": 3}, headers=ADMIN)
    assert created.status_code == 201, created.get_json()
    with serving((ams_port, create_ams(config, db))):
        try:
            yield f"{config.ams_url}/t/{TENANT}"
        finally:
            db.dispose()


def sign_in_and_get_code(authorization_url: str) -> dict[str, str]:
    """A browser: follow the AMS redirects, submit the login form, stop at the RP's redirect URI."""
    with httpx.Client(timeout=20) as browser:
        page = browser.get(authorization_url, follow_redirects=True)
        assert page.status_code == 200 and 'name="password"' in page.text, page.text
        action, fields = form_fields(page.text)
        fields.update({"email": "active.member@demo.test", "password": "demo"})
        response = browser.post(page.url.join(action), data=fields)
        while response.status_code in (302, 303) and not response.headers["Location"].startswith(
            REDIRECT_URI
        ):
            response = browser.get(response.url.join(response.headers["Location"]))
    assert response.status_code in (302, 303), response.text
    return {"query": urlsplit(response.headers["Location"]).query}


def test_oic_client_completes_a_code_flow_with_pkce(issuer: str) -> None:
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    provider = client.provider_config(issuer)
    assert provider["issuer"] == issuer
    assert "S256" in provider["code_challenge_methods_supported"]
    registration = client.register(
        provider["registration_endpoint"],
        redirect_uris=[REDIRECT_URI],
        client_name="pyoidc interop",
        token_endpoint_auth_method="client_secret_basic",
        response_types=["code"],
        grant_types=["authorization_code", "refresh_token"],
    )
    assert registration["client_id"] and registration["client_secret"]

    state, nonce = rndstr(16), rndstr(16)
    challenge, verifier = client.add_code_challenge()
    assert challenge["code_challenge_method"] == "S256"
    request = client.construct_AuthorizationRequest(
        request_args={
            "response_type": "code",
            "scope": ["openid", "email", "profile", "membership"],
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "nonce": nonce,
            **challenge,
        }
    )
    callback = sign_in_and_get_code(request.request(client.authorization_endpoint))
    authorization = client.parse_response(AuthorizationResponse, info=callback["query"], sformat="urlencoded")
    assert authorization["state"] == state

    tokens = client.do_access_token_request(
        state=state,
        request_args={"code": authorization["code"], "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
        authn_method="client_secret_basic",
    )
    assert isinstance(tokens, AccessTokenResponse), tokens
    id_token: Any = tokens["id_token"]  # verified by oic: RS256 signature with the JWKS kid, iss, aud
    assert id_token["iss"] == issuer
    assert id_token["aud"] == [registration["client_id"]]
    assert id_token["nonce"] == nonce
    assert id_token.jws_header["alg"] == "RS256"
    assert id_token.jws_header["kid"] in {key.kid for key in client.keyjar.get_issuer_keys(issuer)}

    # GET puts the access token in the Authorization header, the only place our userinfo takes it
    # (oic's default POST would send it in the form body, RFC 6750 §2.2).
    userinfo = client.do_user_info_request(method="GET", state=state)
    assert isinstance(userinfo, OpenIDSchema), userinfo.to_dict()
    assert userinfo["sub"] == id_token["sub"]
    assert userinfo["email"] == "active.member@demo.test"


def test_oic_client_without_the_pkce_verifier_gets_no_tokens(issuer: str) -> None:
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    provider = client.provider_config(issuer)
    client.register(
        provider["registration_endpoint"],
        redirect_uris=[REDIRECT_URI],
        token_endpoint_auth_method="client_secret_basic",
    )
    state = rndstr(16)
    challenge, _verifier = client.add_code_challenge()
    request = client.construct_AuthorizationRequest(
        request_args={
            "response_type": "code",
            "scope": ["openid"],
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "nonce": rndstr(16),
            **challenge,
        }
    )
    callback = sign_in_and_get_code(request.request(client.authorization_endpoint))
    authorization = client.parse_response(AuthorizationResponse, info=callback["query"], sformat="urlencoded")

    refused = client.do_access_token_request(
        state=state,
        request_args={"code": authorization["code"], "redirect_uri": REDIRECT_URI},
        authn_method="client_secret_basic",
    )
    assert refused.get("error") == "invalid_request", refused.to_dict()
    assert "code_verifier" in refused.get("error_description", "")
