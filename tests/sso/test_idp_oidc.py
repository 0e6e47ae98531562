"""The AMS OpenID Connect provider, driven by authlib's OAuth2 client and by plain httpx + PyJWT.

Both clients talk to the AMS app through httpx's WSGI transport (real HTTP semantics, no sockets).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt as pyjwt
from authlib.integrations.httpx_client import OAuth2Client
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from tests.conftest import ADMIN
from tests.sso.idp_fixtures import AMS_URL

pytest_plugins = ["tests.sso.idp_fixtures"]
ISSUER = f"{AMS_URL}/t/acme"
REDIRECT = "https://rp.example.org/callback"
LOGOUT_REDIRECT = "https://rp.example.org/signed-out"
SCOPE = "openid profile email membership"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register_client(console: Any, **metadata: Any) -> dict[str, Any]:
    body = {
        "client_name": "Test RP",
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": [LOGOUT_REDIRECT],
        **metadata,
    }
    response = console.post("/api/tenants/acme/oidc/clients", json=body, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def authorize(browser: httpx.Client, client_id: str, **overrides: Any) -> httpx.Response:
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st-1",
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    params = {name: value for name, value in params.items() if value is not None}
    response = browser.get(f"/t/acme/oidc/authorize?{urlencode(params)}")
    response.extensions["code_verifier"] = verifier
    return response


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def exchange(browser: httpx.Client, client: dict[str, Any], code: str, verifier: str) -> httpx.Response:
    return browser.post(
        "/t/acme/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client["client_id"], client["client_secret"]),
    )


def verify_with_pyjwt(browser: httpx.Client, id_token: str, audience: str) -> dict[str, Any]:
    header = pyjwt.get_unverified_header(id_token)
    jwks = pyjwt.PyJWKSet.from_dict(browser.get("/t/acme/oidc/jwks").json())
    key = next(key for key in jwks.keys if key.key_id == header["kid"])
    return pyjwt.decode(id_token, key.key, algorithms=["RS256"], audience=audience, issuer=ISSUER)


def test_discovery_document(ams: Any, tenant: Any) -> None:
    document = ams.get("/t/acme/.well-known/openid-configuration").get_json()

    assert document["issuer"] == ISSUER
    assert document["jwks_uri"] == f"{ISSUER}/oidc/jwks"
    assert document["authorization_endpoint"] == f"{ISSUER}/oidc/authorize"
    assert document["token_endpoint"] == f"{ISSUER}/oidc/token"
    assert document["userinfo_endpoint"] == f"{ISSUER}/oidc/userinfo"
    assert document["end_session_endpoint"] == f"{ISSUER}/oidc/logout"
    assert document["registration_endpoint"] == f"{ISSUER}/oidc/register"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }


def test_discovery_lists_every_released_claim_under_the_tenants_names(
    ams: Any, console: Any, tenant: Any
) -> None:
    before = set(ams.get("/t/acme/.well-known/openid-configuration").get_json()["claims_supported"])
    assert {"sub", "email", "member_id", "record_type", "member_status", "access"} <= before

    patch = {"sso": {"attribute_names": {"member_status": "urn:imis:MemberStatus"}}}
    assert console.patch("/api/tenants/acme/settings", json=patch, headers=ADMIN).status_code == 200
    after = set(ams.get("/t/acme/.well-known/openid-configuration").get_json()["claims_supported"])

    assert "urn:imis:MemberStatus" in after
    assert "member_status" not in after


def test_jwks_publishes_the_signing_key(ams: Any, console: Any, tenant: Any) -> None:
    jwks = ams.get("/t/acme/oidc/jwks").get_json()
    keys = console.get("/api/tenants/acme/keys", headers=ADMIN).get_json()["keys"]

    assert [key["kid"] for key in jwks["keys"]] == [keys[0]["kid"]]
    assert jwks["keys"][0]["kty"] == "RSA" and "d" not in jwks["keys"][0]


def test_code_flow_with_httpx_and_pyjwt(browser: httpx.Client, console: Any) -> None:
    client = register_client(console)
    response = authorize(browser, client["client_id"], nonce="n-1")
    tokens = exchange(browser, client, code_from(response), response.extensions["code_verifier"])

    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    claims = verify_with_pyjwt(browser, body["id_token"], client["client_id"])
    assert claims["nonce"] == "n-1"
    assert claims["sub"] == claims["member_id"]
    assert claims["email"] == "active.member@demo.test"
    assert claims["member_status"] == "active"
    assert abs(claims["auth_time"] - time.time()) < 60
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    userinfo = browser.get(
        "/t/acme/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == claims["sub"]
    assert userinfo.json()["given_name"] == "Alex"


def test_code_flow_with_authlib_client(browser: httpx.Client, console: Any) -> None:
    client = register_client(console, token_endpoint_auth_method="client_secret_post")
    rp = OAuth2Client(
        client["client_id"],
        client["client_secret"],
        scope=SCOPE,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
        transport=httpx.WSGITransport(app=browser._transport.app),
        base_url=AMS_URL,
    )
    verifier = secrets.token_urlsafe(48)
    url, _state = rp.create_authorization_url(f"{ISSUER}/oidc/authorize", code_verifier=verifier, nonce="n-2")

    callback = browser.get(url)
    assert callback.status_code == 302
    token = rp.fetch_token(
        f"{ISSUER}/oidc/token", authorization_response=callback.headers["Location"], code_verifier=verifier
    )

    key_set = KeySet.import_key_set(rp.get(f"{ISSUER}/oidc/jwks").json())
    decoded = jose_jwt.decode(token["id_token"], key_set, algorithms=["RS256"])
    registry = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": client["client_id"]},
        nonce={"essential": True, "value": "n-2"},
    )
    registry.validate(decoded.claims)
    assert decoded.header["kid"]
    assert rp.get(f"{ISSUER}/oidc/userinfo").json()["email"] == "active.member@demo.test"


def test_pkce_is_required(browser: httpx.Client, console: Any) -> None:
    client = register_client(console)

    missing = authorize(browser, client["client_id"], code_challenge=None, code_challenge_method=None)
    plain = authorize(browser, client["client_id"], code_challenge="a" * 43, code_challenge_method="plain")

    for response in (missing, plain):
        assert response.status_code == 302
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["error"] == ["invalid_request"]
        assert "code" not in query


def test_wrong_redirect_uri_gets_a_page_not_a_redirect(browser: httpx.Client, console: Any) -> None:
    client = register_client(console)

    response = authorize(browser, client["client_id"], redirect_uri="https://evil.example/cb")

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_a_code_works_once(browser: httpx.Client, console: Any) -> None:
    client = register_client(console)
    response = authorize(browser, client["client_id"])
    code, verifier = code_from(response), response.extensions["code_verifier"]

    assert exchange(browser, client, code, verifier).status_code == 200
    again = exchange(browser, client, code, verifier)

    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_wrong_code_verifier_is_refused(browser: httpx.Client, console: Any) -> None:
    client = register_client(console)
    response = authorize(browser, client["client_id"])

    refused = exchange(browser, client, code_from(response), "x" * 50)

    assert refused.status_code == 400


def test_refresh_tokens_rotate(browser: httpx.Client, console: Any) -> None:
    client = register_client(console)
    response = authorize(browser, client["client_id"])
    first = exchange(browser, client, code_from(response), response.extensions["code_verifier"]).json()

    def refresh(token: str) -> httpx.Response:
        return browser.post(
            "/t/acme/oidc/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
            auth=(client["client_id"], client["client_secret"]),
        )

    second = refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert refresh(first["refresh_token"]).status_code == 400
    assert refresh(second.json()["refresh_token"]).status_code == 200


def test_userinfo_needs_a_valid_bearer(browser: httpx.Client) -> None:
    assert browser.get("/t/acme/oidc/userinfo").status_code == 401
    bad = browser.get("/t/acme/oidc/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["WWW-Authenticate"]


def test_private_key_jwt_client_authentication(browser: httpx.Client, console: Any) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = pyjwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk.update(kid="rp-key-1", use="sig", alg="RS256")
    client = register_client(
        console, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public_jwk]}
    )
    assert "client_secret" not in client
    response = authorize(browser, client["client_id"])
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    def assertion() -> str:
        now = int(time.time())
        claims = {
            "iss": client["client_id"],
            "sub": client["client_id"],
            "aud": f"{ISSUER}/oidc/token",
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 60,
        }
        return pyjwt.encode(claims, pem, algorithm="RS256", headers={"kid": "rp-key-1"})

    tokens = browser.post(
        "/t/acme/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code_from(response),
            "redirect_uri": REDIRECT,
            "code_verifier": response.extensions["code_verifier"],
            "client_id": client["client_id"],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(),
        },
    )

    assert tokens.status_code == 200, tokens.text
    verify_with_pyjwt(browser, tokens.json()["id_token"], client["client_id"])


def test_dynamic_registration(browser: httpx.Client) -> None:
    registered = browser.post(
        "/t/acme/oidc/register", json={"redirect_uris": [REDIRECT], "client_name": "Dynamic RP"}
    )
    assert registered.status_code == 201
    client = registered.json()
    assert client["client_secret"] and client["client_id"]

    response = authorize(browser, client["client_id"])
    assert (
        exchange(browser, client, code_from(response), response.extensions["code_verifier"]).status_code
        == 200
    )

    bad = browser.post("/t/acme/oidc/register", json={"redirect_uris": ["not a uri"]})
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_redirect_uri"


def test_rp_initiated_logout(browser: httpx.Client, console: Any) -> None:
    client = register_client(console)
    response = authorize(browser, client["client_id"])
    id_token = exchange(browser, client, code_from(response), response.extensions["code_verifier"]).json()[
        "id_token"
    ]

    evil = browser.get(
        "/t/acme/oidc/logout?"
        + urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"})
    )
    assert evil.status_code == 200
    assert "Location" not in evil.headers

    browser.post("/t/acme/login", data={"email": "active.member@demo.test", "password": "demo"})
    out = browser.get(
        "/t/acme/oidc/logout?"
        + urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": LOGOUT_REDIRECT, "state": "bye"})
    )
    assert out.status_code == 302
    assert out.headers["Location"] == f"{LOGOUT_REDIRECT}?state=bye"
    signed_out = authorize(browser, client["client_id"])
    assert signed_out.status_code == 200 and "Location" not in signed_out.headers
    assert 'action="/t/acme/login"' in signed_out.text  # the login form, served at the authorize URL


def test_a_reused_nonce_is_refused(browser: httpx.Client, console: Any) -> None:
    client = register_client(console)
    code_from(authorize(browser, client["client_id"], nonce="same"))

    replay = authorize(browser, client["client_id"], nonce="same")

    assert parse_qs(urlsplit(replay.headers["Location"]).query)["error"] == ["invalid_request"]


def _journal_after_a_login(
    browser: httpx.Client, console: Any
) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    client = register_client(console)
    response = authorize(browser, client["client_id"])
    code = code_from(response)
    tokens = exchange(browser, client, code, response.extensions["code_verifier"]).json()
    browser.get("/t/acme/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    journal = console.get("/api/tenants/acme/journal?limit=100", headers=ADMIN)
    assert journal.status_code == 200
    text = journal.get_data(as_text=True)
    assert "/t/acme/oidc/token" in text
    return text, code, tokens, client


def test_tokens_and_secrets_never_reach_the_journal(browser: httpx.Client, console: Any) -> None:
    text, _, tokens, client = _journal_after_a_login(browser, console)

    for secret in (
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["id_token"],
        client["client_secret"],
    ):
        assert secret not in text


def test_authorization_codes_never_reach_the_journal(browser: httpx.Client, console: Any) -> None:
    text, code, _, _ = _journal_after_a_login(browser, console)

    assert code not in text
