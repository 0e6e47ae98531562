"""Per-tenant signing keys: RSA 2048 with a self-signed X.509 certificate, rotation and a parse cache.

A tenant has one ``active`` key (it signs), at most one ``previous`` key (still published in SAML
metadata and the JWKS during a rotation, so partners holding the old certificate keep working) and any
number of ``retired`` keys (kept for the record, never published). The ``kid`` is the RFC 7638 JWK
thumbprint of the public key. Private keys never leave this module except as parsed objects for signing.

Example::

    with db.session() as session:
        create_initial_key(session, "demo")
        rotate_keys(session, "demo")          # new active key; the old one becomes "previous"
        retire_previous_key(session, "demo")  # stop publishing the old one
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from simulator.ams.idp.models import SigningKey
from simulator.core.certificates import self_signed_rsa
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.errors import Conflict
from simulator.core.prepared import Prepared


@dataclass(frozen=True)
class ParsedKey:
    """A signing key ready to use: parsed once per process (PEM parsing costs tens of milliseconds)."""

    kid: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    private_key_pem: bytes
    certificate_pem: bytes

    @property
    def certificate_base64(self) -> str:
        """The DER certificate in base64, as ``ds:X509Certificate`` carries it."""
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517) with ``kid``, ``use=sig`` and ``alg=RS256``."""
        return {
            **_rsa_public_jwk(self.private_key.public_key()),
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
        }


_cache: dict[str, ParsedKey] = {}
_cache_lock = threading.Lock()


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _rsa_public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {"kty": "RSA", "e": _b64url_uint(numbers.e), "n": _b64url_uint(numbers.n)}


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 §3: SHA-256 over the required members in lexicographic order, base64url."""
    canonical = json.dumps(_rsa_public_jwk(public_key), sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def generate_key_material(common_name: str) -> tuple[str, str, str]:
    """A fresh RSA 2048 key and a self-signed SHA-256 certificate: (kid, private PEM, certificate PEM)."""
    private_key, private_pem, certificate_pem = self_signed_rsa(common_name)
    return jwk_thumbprint(private_key.public_key()), private_pem, certificate_pem


def parsed(row: SigningKey) -> ParsedKey:
    """The parsed form of ``row``, from the in-process cache keyed by kid."""
    cached = _cache.get(row.kid)
    if cached is not None:
        return cached
    private_key = serialization.load_pem_private_key(row.private_key_pem.encode(), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise TypeError("signing keys are RSA keys")
    key = ParsedKey(
        kid=row.kid,
        private_key=private_key,
        certificate=x509.load_pem_x509_certificate(row.certificate_pem.encode()),
        private_key_pem=row.private_key_pem.encode(),
        certificate_pem=row.certificate_pem.encode(),
    )
    with _cache_lock:
        _cache[row.kid] = key
    return key


def cached_key(kid: str) -> ParsedKey | None:
    """A key parsed earlier in this process (used by the XML signing backend)."""
    return _cache.get(kid)


def _new_key(session: Session, tenant_id: str, state: str) -> SigningKey:
    kid, private_pem, certificate_pem = generate_key_material(f"AMS sandbox IdP {tenant_id}")
    row = SigningKey(
        tenant_id=tenant_id,
        kid=kid,
        state=state,
        private_key_pem=private_pem,
        certificate_pem=certificate_pem,
        created_at=wall_now(),
        retired_at=None,
    )
    session.add(row)
    session.flush()
    return row


def _keys(session: Session, tenant_id: str, *states: str) -> list[SigningKey]:
    statement = select(SigningKey).where(SigningKey.tenant_id == tenant_id, SigningKey.state.in_(states))
    return list(session.scalars(statement.order_by(SigningKey.pk)))


def create_initial_key(session: Session, tenant_id: str) -> SigningKey:
    """Give a new tenant its first active key (no-op when it already has one, e.g. after a reset)."""
    existing = _keys(session, tenant_id, "active")
    return existing[0] if existing else _new_key(session, tenant_id, "active")


def active_key(session: Session, tenant_id: str) -> ParsedKey:
    """The key that signs for ``tenant_id`` (created on first use for tenants older than this feature)."""
    rows = _keys(session, tenant_id, "active")
    return parsed(rows[0] if rows else _new_key(session, tenant_id, "active"))


_ACTIVE_KID = Prepared(
    select(SigningKey.kid)
    .where(SigningKey.tenant_id == bindparam("tenant_id"), SigningKey.state == "active")
    .order_by(SigningKey.pk)
    .limit(1)
)


def ensure_active_key(db: Database, tenant_id: str) -> ParsedKey:
    """The tenant's active key, read without a write transaction unless the tenant has none yet.

    The hot path reads only the active ``kid``: a kid is the key's thumbprint, so a key parsed earlier
    under that kid is the same key.
    """
    found = db.first(_ACTIVE_KID, {"tenant_id": tenant_id})
    cached = _cache.get(found.kid) if found is not None else None
    if cached is not None:
        return cached
    with db.read() as session:
        rows = _keys(session, tenant_id, "active")
        if rows:
            return parsed(rows[0])
    with db.session() as session:
        return active_key(session, tenant_id)


def published_keys(session: Session, tenant_id: str) -> list[ParsedKey]:
    """Keys partners should trust: the active one first, then the previous one during a rotation."""
    rows = _keys(session, tenant_id, "active", "previous")
    rows.sort(key=lambda row: (row.state != "active", row.pk))
    return [parsed(row) for row in rows]


def key_summary(row: SigningKey) -> dict[str, Any]:
    """What the control API shows about a key: never the private key."""
    return {
        "kid": row.kid,
        "state": row.state,
        "certificate_pem": row.certificate_pem,
        "created_at": row.created_at.isoformat(),
        "retired_at": row.retired_at.isoformat() if row.retired_at else None,
    }


def list_keys(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    return [key_summary(row) for row in _keys(session, tenant_id, "active", "previous", "retired")]


def rotate_keys(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    """Make a new active key; the current one becomes ``previous`` and stays published.

    Refused (409) while a previous key is still published: retire it first, so that at most two keys
    are ever trusted at once.
    """
    if _keys(session, tenant_id, "previous"):
        raise Conflict(
            "A rotation is already in progress: retire the previous key first "
            "(POST .../keys/retire-previous).",
            code="rotation_in_progress",
        )
    for row in _keys(session, tenant_id, "active"):
        row.state = "previous"
    session.flush()
    _new_key(session, tenant_id, "active")
    return list_keys(session, tenant_id)


def retire_previous_key(session: Session, tenant_id: str) -> list[dict[str, Any]]:
    """Stop publishing the previous key (SAML metadata and JWKS then list the active key only)."""
    now = wall_now()
    for row in _keys(session, tenant_id, "previous"):
        row.state, row.retired_at = "retired", now
    session.flush()
    return list_keys(session, tenant_id)
