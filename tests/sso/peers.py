"""Test peers served over real HTTP on 127.0.0.1: documents (IdP metadata) and a small OpenID provider.

:class:`PeerServer` runs one Flask app in a thread (werkzeug's server); tests put documents under paths
and steer the OpenID provider (:class:`FakeOpenIdProvider`) through plain attributes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    key: RSAKey
    public_pem: bytes

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(kid, RSAKey.import_key(pem), public_pem)

    def jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": "RS256"}


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    scope: str


@dataclass
class FakeOpenIdProvider:
    """An OpenID provider good enough to drive the RP: discovery, JWKS, registration, code + PKCE."""

    base_url: str
    signing_key: SigningKey = field(default_factory=lambda: SigningKey.generate("key-1"))
    published_keys: list[SigningKey] = field(default_factory=list)
    clients: dict[str, str] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    subject: str = "M1001"
    claims: dict[str, Any] = field(default_factory=dict)
    userinfo_overrides: dict[str, Any] = field(default_factory=dict)
    id_token_hook: Callable[[dict[str, Any], dict[str, Any]], str | None] | None = None
    jwks_requests: int = 0
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.published_keys = [self.signing_key]

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/op"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def rotate(self, kid: str) -> None:
        """Sign with a brand-new key and publish only that one (the old kid disappears)."""
        self.signing_key = SigningKey.generate(kid)
        self.published_keys = [self.signing_key]

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        return jwt.encode(
            header or {"alg": "RS256", "kid": self.signing_key.kid}, claims, self.signing_key.key
        )

    def id_token_claims(self, grant: Grant, access_token: str) -> dict[str, Any]:
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode()).digest()
        return {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": grant.client_id,
            "exp": now + 300,
            "iat": now,
            "nonce": grant.nonce,
            "at_hash": b64url(digest[:16]),
            **self.claims,
        }

    def register_routes(self, app: Flask) -> None:
        @app.get("/op/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                userinfo_endpoint=f"{self.issuer}/userinfo",
                registration_endpoint=f"{self.issuer}/register",
                end_session_endpoint=f"{self.issuer}/logout",
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/op/jwks")
        def jwks() -> Any:
            self.jwks_requests += 1
            return jsonify(keys=[key.jwk() for key in self.published_keys])

        @app.post("/op/register")
        def register() -> Any:
            client_id, secret = f"client-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
            self.clients[client_id] = secret
            return jsonify(client_id=client_id, client_secret=secret, **request.get_json()), 201

        @app.get("/op/authorize")
        def authorize() -> Any:
            args = request.args
            if args.get("code_challenge_method") != "S256" or args.get("client_id") not in self.clients:
                return Response("bad authorization request", status=400)
            code = secrets.token_urlsafe(16)
            self.grants[code] = Grant(
                args["client_id"], args["redirect_uri"], args["code_challenge"], args["nonce"], args["scope"]
            )
            return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args['state']})}")

        @app.post("/op/token")
        def token() -> Any:
            self.token_requests.append(dict(request.form))
            auth = request.authorization
            grant = self.grants.pop(request.form.get("code", ""), None)
            if auth is None or self.clients.get(auth.username or "") != auth.password or grant is None:
                return jsonify(error="invalid_grant"), 400
            verifier = request.form.get("code_verifier", "")
            if b64url(hashlib.sha256(verifier.encode()).digest()) != grant.code_challenge:
                return jsonify(error="invalid_grant", error_description="PKCE"), 400
            access_token = secrets.token_urlsafe(24)
            self.tokens[access_token] = self.subject
            claims = self.id_token_claims(grant, access_token)
            id_token = self.id_token_hook(claims, {}) if self.id_token_hook else None
            return jsonify(
                access_token=access_token,
                token_type="Bearer",
                expires_in=300,
                id_token=id_token or self.sign(claims),
            )

        @app.get("/op/userinfo")
        def userinfo() -> Any:
            bearer = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            if bearer not in self.tokens:
                return jsonify(error="invalid_token"), 401
            return jsonify({"sub": self.tokens[bearer], **self.claims, **self.userinfo_overrides})


class PeerServer:
    """A threaded HTTP server on a free 127.0.0.1 port serving documents and the fake OP."""

    def __init__(self) -> None:
        self.app = Flask("sso-test-peers")
        self.documents: dict[str, tuple[str, str]] = {}
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self.op = FakeOpenIdProvider(self.base_url)
        self.op.register_routes(self.app)

        @self.app.get("/docs/<path:name>")
        def document(name: str) -> Response:
            if name not in self.documents:
                return Response("not found", status=404)
            content_type, body = self.documents[name]
            return Response(body, mimetype=content_type)

        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> PeerServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def put(self, name: str, body: str, content_type: str = "application/xml") -> str:
        """Serve ``body`` at ``/docs/{name}``; returns its URL."""
        self.documents[name] = (content_type, body)
        return f"{self.base_url}/docs/{name}"
