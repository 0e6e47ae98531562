"""The LMS as OpenID Connect relying party, against a small real OP on 127.0.0.1 (tests/sso/peers.py).

The browser part is played by hand: the LMS's /login redirect is followed at the OP (which approves at
once and redirects to the callback), and the callback is sent to the LMS in the same cookie session.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.sso.peers import PeerServer, b64url
from tests.sso.sp_support import TENANT, page_code, patch_settings

pytest_plugins = ["tests.sso.sp_fixtures"]


class OidcWorld:
    def __init__(self, lms: Any, console: Any, server: PeerServer) -> None:
        self.lms = lms
        self.console = console
        self.server = server
        self.op = server.op

    def begin(self) -> dict[str, list[str]]:
        """GET /login; returns the authorization request's parameters."""
        response = self.lms.get(f"/t/{TENANT}/login")
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        assert location.startswith(f"{self.op.issuer}/authorize?")
        self.authorization_url = location
        return parse_qs(urlsplit(location).query)

    def approve(self) -> str:
        """The OP's answer: the callback path and query the browser would follow."""
        answer = httpx.get(self.authorization_url, follow_redirects=False)
        assert answer.status_code == 302, answer.text
        callback = urlsplit(answer.headers["Location"])
        return f"{callback.path}?{callback.query}"

    def login(self) -> Any:
        self.begin()
        return self.lms.get(self.approve())

    def me(self) -> Any:
        return self.lms.get(f"/t/{TENANT}/me")


@pytest.fixture
def oidc_world(lms: Any, console: Any, make_tenant: Any, peers: PeerServer) -> OidcWorld:
    make_tenant(TENANT)
    patch_settings(
        console, TENANT, {"sso": {"protocol": "oidc", "oidc_discovery_url": peers.op.discovery_url}}
    )
    peers.op.claims = {
        "member_id": "M1001",
        "email": "ada@example.org",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "member_type": "regular",
        "member_status": "active",
        "record_type": "member",
    }
    return OidcWorld(lms, console, peers)


def assert_refused(world: OidcWorld, response: Any, code: str = "oidc_id_token_rejected") -> None:
    assert response.status_code == 403, response.get_data(as_text=True)
    assert page_code(response) == code
    assert world.me().status_code == 401


def test_code_flow_with_pkce_signs_the_learner_in(oidc_world: OidcWorld) -> None:
    params = oidc_world.begin()
    callback = oidc_world.approve()

    response = oidc_world.lms.get(callback)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/t/{TENANT}/me"
    assert params["response_type"] == ["code"]
    assert params["code_challenge_method"] == ["S256"]
    assert set(params["scope"][0].split()) >= {"openid", "email", "profile"}
    assert params["redirect_uri"] == [f"http://127.0.0.1:8002/t/{TENANT}/oidc/callback"]
    verifier = oidc_world.op.token_requests[0]["code_verifier"]
    assert b64url(hashlib.sha256(verifier.encode()).digest()) == params["code_challenge"][0]
    body = oidc_world.me().get_json()
    assert body["member_id"] == "M1001"
    assert body["email"] == "ada@example.org"
    assert body["protocol"] == "oidc"
    assert body["access"] == "full"


def test_the_client_is_registered_once_and_reused(oidc_world: OidcWorld) -> None:
    assert oidc_world.login().status_code == 302
    oidc_world.lms.get(f"/t/{TENANT}/logout")
    assert oidc_world.login().status_code == 302

    assert len(oidc_world.op.clients) == 1


def test_a_registration_raced_by_another_sign_in_keeps_the_client_stored_first(
    oidc_world: OidcWorld, lms: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulator.lms.sso.oidc import rp

    register = rp._register
    other_browser = lms.application.test_client()
    started: list[str] = []
    raced_once: list[bool] = []

    def raced(*args: Any) -> Any:
        if (
            not raced_once
        ):  # while this sign-in registers, another browser's sign-in registers and stores first
            raced_once.append(True)
            response = other_browser.get(f"/t/{TENANT}/login")
            started.append(response.headers["Location"])
        return register(*args)

    monkeypatch.setattr(rp, "_register", raced)
    assert oidc_world.login().status_code == 302
    answer = httpx.get(started[0], follow_redirects=False)
    callback = urlsplit(answer.headers["Location"])

    response = other_browser.get(f"{callback.path}?{callback.query}")

    assert response.status_code == 302, response.get_data(as_text=True)  # its code redeems with its client
    assert other_browser.get(f"/t/{TENANT}/me").status_code == 200
    assert oidc_world.me().status_code == 200


def test_a_callback_with_another_state_is_refused(oidc_world: OidcWorld) -> None:
    oidc_world.begin()
    callback = oidc_world.approve().replace("state=", "state=x")

    response = oidc_world.lms.get(callback)

    assert response.status_code == 400
    assert page_code(response) == "oidc_login_failed"
    assert oidc_world.me().status_code == 401


def test_a_callback_in_a_browser_that_did_not_start_the_login_is_refused(
    oidc_world: OidcWorld, lms: Any
) -> None:
    oidc_world.begin()
    callback = oidc_world.approve()
    other_browser = lms.application.test_client()

    response = other_browser.get(callback)

    assert response.status_code == 400
    assert page_code(response) == "oidc_login_failed"


def _forge(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None = None) -> str:
    def part(value: dict[str, Any]) -> str:
        return b64url(json.dumps(value).encode())

    signing_input = f"{part(header)}.{part(claims)}"
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def test_a_bad_signature_is_refused(oidc_world: OidcWorld) -> None:
    def tamper(claims: dict[str, Any], _: dict[str, Any]) -> str:
        token = oidc_world.op.sign(claims)
        header, _, signature = token.split(".")
        forged = b64url(json.dumps({**claims, "sub": "M6666"}).encode())
        return f"{header}.{forged}.{signature}"

    oidc_world.op.id_token_hook = tamper
    assert_refused(oidc_world, oidc_world.login())


def test_alg_none_is_refused(oidc_world: OidcWorld) -> None:
    oidc_world.op.id_token_hook = lambda claims, _: _forge({"alg": "none", "typ": "JWT"}, claims)
    assert_refused(oidc_world, oidc_world.login())


def test_hs256_signed_with_the_public_key_is_refused(oidc_world: OidcWorld) -> None:
    public_pem = oidc_world.op.signing_key.public_pem
    oidc_world.op.id_token_hook = lambda claims, _: _forge(
        {"alg": "HS256", "kid": oidc_world.op.signing_key.kid}, claims, secret=public_pem
    )
    assert_refused(oidc_world, oidc_world.login())


@pytest.mark.parametrize(
    "change",
    [
        {"iss": "https://someone-else.test"},
        {"aud": "another-client"},
        {"nonce": "not-the-nonce"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"iat": int(time.time()) + 3600},
        {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"},
    ],
    ids=["iss", "aud", "nonce", "expired", "issued-in-the-future", "at_hash"],
)
def test_an_id_token_with_a_wrong_claim_is_refused(oidc_world: OidcWorld, change: dict[str, Any]) -> None:
    oidc_world.op.id_token_hook = lambda claims, _: oidc_world.op.sign({**claims, **change})
    assert_refused(oidc_world, oidc_world.login())


def test_several_audiences_need_azp_naming_this_client(oidc_world: OidcWorld) -> None:
    def without_azp(claims: dict[str, Any], _: dict[str, Any]) -> str:
        return oidc_world.op.sign({**claims, "aud": [claims["aud"], "another-client"]})

    def with_azp(claims: dict[str, Any], _: dict[str, Any]) -> str:
        return oidc_world.op.sign({**claims, "aud": [claims["aud"], "another-client"], "azp": claims["aud"]})

    oidc_world.op.id_token_hook = without_azp
    assert_refused(oidc_world, oidc_world.login())
    oidc_world.op.id_token_hook = with_azp
    assert oidc_world.login().status_code == 302


def test_an_id_token_without_sub_is_refused(oidc_world: OidcWorld) -> None:
    oidc_world.op.id_token_hook = lambda claims, _: oidc_world.op.sign(
        {name: value for name, value in claims.items() if name != "sub"}
    )
    assert_refused(oidc_world, oidc_world.login())


def test_userinfo_about_another_subject_is_refused(oidc_world: OidcWorld) -> None:
    oidc_world.op.userinfo_overrides = {"sub": "M6666"}
    assert_refused(oidc_world, oidc_world.login(), code="oidc_login_failed")


def test_an_unknown_kid_refetches_the_jwks_so_key_rotation_works(oidc_world: OidcWorld) -> None:
    assert oidc_world.login().status_code == 302
    oidc_world.lms.get(f"/t/{TENANT}/logout")
    fetched = oidc_world.op.jwks_requests

    oidc_world.op.rotate("key-2")
    response = oidc_world.login()

    assert response.status_code == 302
    assert oidc_world.op.jwks_requests == fetched + 1
    assert oidc_world.me().status_code == 200


def test_a_kid_the_provider_never_published_is_refused_after_one_refetch(oidc_world: OidcWorld) -> None:
    from joserfc import jwt

    from tests.sso.peers import SigningKey

    rogue = SigningKey.generate("rogue")
    oidc_world.op.id_token_hook = lambda claims, _: jwt.encode(
        {"alg": "RS256", "kid": rogue.kid}, claims, rogue.key
    )

    assert_refused(oidc_world, oidc_world.login())
    assert oidc_world.op.jwks_requests == 2  # the cached set, then one refetch


def test_a_token_signed_by_an_unpublished_key_under_a_known_kid_is_refused(oidc_world: OidcWorld) -> None:
    from joserfc import jwt

    from tests.sso.peers import SigningKey

    rogue = SigningKey.generate(oidc_world.op.signing_key.kid)
    oidc_world.op.id_token_hook = lambda claims, _: jwt.encode(
        {"alg": "RS256", "kid": rogue.kid}, claims, rogue.key
    )
    assert_refused(oidc_world, oidc_world.login())


def test_logout_goes_to_the_end_session_endpoint(oidc_world: OidcWorld) -> None:
    assert oidc_world.login().status_code == 302

    response = oidc_world.lms.get(f"/t/{TENANT}/logout")

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{oidc_world.op.issuer}/logout"
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == [f"http://127.0.0.1:8002/t/{TENANT}/logout"]
    assert "id_token_hint" in query
    assert oidc_world.me().status_code == 401


def test_client_credentials_from_settings_are_used_without_registration(oidc_world: OidcWorld) -> None:
    oidc_world.op.clients["configured"] = "configured-secret-1234"
    patch_settings(
        oidc_world.console,
        TENANT,
        {"sso": {"oidc_client_id": "configured", "oidc_client_secret": "configured-secret-1234"}},
    )

    params = oidc_world.begin()
    response = oidc_world.lms.get(oidc_world.approve())

    assert params["client_id"] == ["configured"]
    assert response.status_code == 302
    assert list(oidc_world.op.clients) == ["configured"]


def _page_message(response: Any) -> str:
    """The sentence an SSO page shows (``<p id="message">…</p>``)."""
    match = re.search(r'<p id="message">([^<]*)</p>', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return html.unescape(match.group(1))


def _tampered_signature(world: OidcWorld) -> Any:
    def tamper(claims: dict[str, Any], _: dict[str, Any]) -> str:
        header, _, signature = world.op.sign(claims).split(".")
        return f"{header}.{b64url(json.dumps({**claims, 'sub': 'M6666'}).encode())}.{signature}"

    return tamper


@pytest.mark.parametrize(
    ("hook", "sentence"),
    [
        (_tampered_signature, "The ID token's signature does not verify with the provider's keys."),
        (
            lambda world: lambda claims, _: _forge({"alg": "none", "typ": "JWT"}, claims),
            "The ID token's algorithm is refused; RS256 is required.",
        ),
        (
            lambda world: (
                lambda claims, _: world.op.sign(
                    {**claims, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}
                )
            ),
            "The ID token has expired.",
        ),
        (
            lambda world: lambda claims, _: world.op.sign({**claims, "iss": "https://someone-else.test"}),
            "The ID token's 'iss' claim is not valid.",
        ),
        (
            lambda world: (
                lambda claims, _: world.op.sign(
                    {name: value for name, value in claims.items() if name != "nonce"}
                )
            ),
            "The ID token lacks the 'nonce' claim.",
        ),
    ],
    ids=["bad-signature", "alg-none", "expired", "iss", "no-nonce"],
)
def test_a_refused_id_token_is_explained_in_a_sentence(
    oidc_world: OidcWorld, hook: Any, sentence: str
) -> None:
    oidc_world.op.id_token_hook = hook(oidc_world)

    response = oidc_world.login()

    assert_refused(oidc_world, response)
    assert _page_message(response) == sentence
