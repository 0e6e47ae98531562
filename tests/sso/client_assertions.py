"""A relying party that authenticates with ``private_key_jwt``: its key pair and the assertions it signs."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class AssertingClient:
    """An RSA key (made on creation) whose public JWK the client registers; ``assertion`` signs with it."""

    kid: str = "rp-key-1"
    private_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def jwks(self) -> dict[str, Any]:
        public = pyjwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def assertion(self, client_id: str, audience: str, jti: str | None = None, lifetime: int = 60) -> str:
        """A client assertion (RFC 7523 §3) for ``client_id`` at ``audience`` (the token endpoint)."""
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": jti or secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + lifetime,
        }
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return pyjwt.encode(claims, pem, algorithm="RS256", headers={"kid": self.kid})


def assertion_fields(client_id: str, assertion: str) -> dict[str, str]:
    """The token request's client-authentication fields for ``private_key_jwt``."""
    return {"client_id": client_id, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
