"""HTTPS for the sandbox: a local certificate authority made once per data folder, the server certificate
it signs, and the one SSL context every outgoing call of a sandbox process verifies with.

``sandbox up --tls`` (setting ``tls``) keeps four files in ``data_dir/tls``: ``ca.pem`` (the CA
certificate a connector, a browser or ``curl --cacert`` trusts), ``ca-key.pem``, ``server.pem`` and
``server-key.pem`` (keys readable by their owner only). Each is made on first use, race-safely, by
:func:`simulator.config.read_or_create_file`; later starts reuse them. The server certificate names
``localhost``, ``127.0.0.1``, ``::1``, ``public_host`` and ``bind``; when it was issued by this CA and
misses one of those names or expires within :data:`RENEW_DAYS`, it is reissued (same key). A certificate
put there by hand (not issued by ``ca-key.pem``) is never touched.

Outgoing calls (metadata and discovery fetches, token and back-channel calls, webhook delivery, the
scenario client…) pass ``verify=client_verify()``: the default trust store (certifi, or
``SSL_CERT_FILE``/``SSL_CERT_DIR``) plus the CAs this process was told to :func:`trust` plus the files
named in ``SANDBOX_CA_BUNDLE`` (paths separated by ``os.pathsep``). Verification is never turned off.

Example::

    files = configure(config)  # None unless config.tls; else the files, and their CA trusted
    httpx.get(f"{config.ams_url}/healthz", verify=client_verify())
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from simulator.config import SandboxConfig, read_or_create_file
from simulator.core.errors import ConfigError

log = logging.getLogger(__name__)

CA_BUNDLE_ENV = "SANDBOX_CA_BUNDLE"
TLS_FOLDER = "tls"
CA_DAYS = 3650
SERVER_DAYS = 825
"""The longest validity macOS and iOS accept from a CA a user added."""
RENEW_DAYS = 30
PUBLIC_FILE_MODE = 0o644

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class TlsFiles:
    """Where a data folder keeps its CA and server certificate (PEM)."""

    ca: Path
    ca_key: Path
    certificate: Path
    key: Path


def tls_files(config: SandboxConfig) -> TlsFiles:
    """The paths of the TLS files of ``config``'s data folder (they need not exist yet)."""
    folder = config.data_dir.resolve() / TLS_FOLDER
    return TlsFiles(
        folder / "ca.pem", folder / "ca-key.pem", folder / "server.pem", folder / "server-key.pem"
    )


def server_names(config: SandboxConfig) -> list[str]:
    """The host names and addresses the server certificate must name."""
    names = {"localhost", "127.0.0.1", "::1"}
    if config.public_host:
        names.add(config.public_host)
    if config.bind and not _all_interfaces(config.bind):
        names.add(config.bind)
    return sorted(names)


def _all_interfaces(bind: str) -> bool:
    try:
        return ipaddress.ip_address(bind).is_unspecified
    except ValueError:
        return False


def ensure_certificates(config: SandboxConfig) -> TlsFiles:
    """Make the CA and the server certificate of ``config``'s data folder unless they exist; return them."""
    files = tls_files(config)
    config.ensure_data_dir()
    files.ca.parent.mkdir(mode=0o700, exist_ok=True)
    ca_key = _private_key(read_or_create_file(files.ca_key, _new_key_pem))
    ca_pem = read_or_create_file(files.ca, lambda: _ca_certificate_pem(ca_key), PUBLIC_FILE_MODE)
    ca = x509.load_pem_x509_certificate(ca_pem)
    names = server_names(config)

    def issue() -> bytes:  # the server key is read only here: a certificate of your own may use any key
        server_key = _private_key(read_or_create_file(files.key, _new_key_pem))
        return _server_certificate_pem(server_key.public_key(), names, ca, ca_key)

    certificate = x509.load_pem_x509_certificate(
        read_or_create_file(files.certificate, issue, PUBLIC_FILE_MODE)
    )
    problem = _renewal_reason(certificate, names)
    if problem and _issued_by(certificate, ca, ca_key):
        log.info("reissuing the sandbox's server certificate: %s", problem)
        files.certificate.unlink(missing_ok=True)
        read_or_create_file(files.certificate, issue, PUBLIC_FILE_MODE)
    elif problem:
        log.warning("the server certificate %s %s", files.certificate, problem)
    return files


def configure(config: SandboxConfig) -> TlsFiles | None:
    """For a process that serves or calls the sandbox: when ``config.tls``, make the files if need be and
    trust their CA in every outgoing call of this process."""
    if not config.tls:
        return None
    files = ensure_certificates(config)
    trust(files.ca)
    return files


_trusted: list[str] = []
"""PEM text of the CAs :func:`trust` was given (kept in memory: the file may go away, as a temporary
sandbox's does)."""
_contexts: dict[tuple[str, ...], ssl.SSLContext] = {}
_lock = threading.Lock()


def trust(path: Path) -> None:
    """Trust the CA certificate(s) in the PEM file ``path`` in every later :func:`client_verify`."""
    pem = path.read_text()
    with _lock:
        if pem not in _trusted:
            _trusted.append(pem)


def child_trust_environment(folder: Path) -> dict[str, str]:
    """The environment that makes a child process (a locust worker) trust what this process trusts.

    The CAs given to :func:`trust` are written to a file in ``folder`` (which must outlive the child) and
    named in ``SANDBOX_CA_BUNDLE`` after the files it names already; empty when there is nothing to trust.
    """
    paths = [part for part in os.environ.get(CA_BUNDLE_ENV, "").split(os.pathsep) if part]
    with _lock:
        pem = "\n".join(_trusted)
    if pem:
        bundle = folder / "trusted-ca.pem"
        bundle.write_text(pem)
        paths.append(str(bundle))
    return {CA_BUNDLE_ENV: os.pathsep.join(paths)} if paths else {}


def client_verify() -> ssl.SSLContext:
    """The SSL context for an outgoing call: the default trust store, the CAs given to :func:`trust` and
    the CA files named in ``SANDBOX_CA_BUNDLE``."""
    key = (os.environ.get(CA_BUNDLE_ENV, ""), *_trusted)
    context = _contexts.get(key)
    if context is None:
        ca_files = tuple(part for part in key[0].split(os.pathsep) if part)
        context = verifying_context(ca_files, "\n".join(key[1:]))
        with _lock:
            _contexts[key] = context
    return context


def verifying_context(ca_files: tuple[str, ...] = (), ca_pem: str = "") -> ssl.SSLContext:
    """A verifying context: the default trust store plus the CAs in the files ``ca_files`` and ``ca_pem``."""
    context = httpx.create_ssl_context()
    for path in ca_files:
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"Cannot load the CA certificate file {path} ({CA_BUNDLE_ENV}): {exc}."
            ) from exc
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    return context


def _new_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _private_key(pem: bytes) -> SigningKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigError("A key in the data folder's tls/ is neither an EC nor an RSA private key.")
    return key


def _ca_certificate_pem(key: SigningKey) -> bytes:
    public = key.public_key()
    # Named after its key: a CA certificate remade from the same key keeps the name it signed with.
    fingerprint = hashlib.sha256(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()[:12]
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AMS-LMS Integration Sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Sandbox local CA {fingerprint}"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _server_certificate_pem(
    public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    names: list[str],
    ca: x509.Certificate,
    ca_key: SigningKey,
) -> bytes:
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _renewal_reason(certificate: x509.Certificate, names: list[str]) -> str | None:
    """Why ``certificate`` will not do for ``names`` (a missing name, expiry soon), or None."""
    try:
        alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "names no host (no subjectAltName)"
    named = {str(ip) for ip in alternative.get_values_for_type(x509.IPAddress)}
    named |= {dns.lower() for dns in alternative.get_values_for_type(x509.DNSName)}
    missing = [name for name in names if str(_general_name(name).value).lower() not in named]
    if missing:
        return f"does not name {', '.join(missing)}"
    if certificate.not_valid_after_utc - dt.datetime.now(dt.UTC) < dt.timedelta(days=RENEW_DAYS):
        return f"expires on {certificate.not_valid_after_utc:%Y-%m-%d}"
    return None


def _issued_by(certificate: x509.Certificate, ca: x509.Certificate, ca_key: SigningKey) -> bool:
    """Whether this data folder's CA (whose key is at hand) issued ``certificate``."""
    if ca.public_key() != ca_key.public_key():
        return False
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
