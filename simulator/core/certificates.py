"""Self-signed RSA signing material, as both apps need it for SAML metadata and signatures."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from simulator.core.clock import wall_now

CERTIFICATE_YEARS = 10


def self_signed_rsa(common_name: str) -> tuple[rsa.RSAPrivateKey, str, str]:
    """A fresh RSA 2048 key and a SHA-256 self-signed certificate: (key, private PEM, certificate PEM).

    The certificate is valid from a day ago (clock skew) for ``CERTIFICATE_YEARS`` years.
    """
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = wall_now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * CERTIFICATE_YEARS))
        .sign(private_key, hashes.SHA256())
    )
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private_key, private_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()
