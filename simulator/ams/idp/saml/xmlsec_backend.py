"""A pysaml2 ``CryptoBackend`` that signs, verifies and encrypts in process with python-xmlsec.

pysaml2's default backend runs the ``xmlsec1`` binary two or three times per signature (temporary files,
a process each: about 15 signatures per second). This one calls libxmlsec1 through the ``xmlsec``
binding on the same libxml2 as lxml. Signing keys are named by reference — ``"kid:<kid>"`` — and
resolved from :mod:`simulator.ams.idp.keys`' in-process cache, so private keys never touch the disk.

Algorithms are whatever the ``ds:Signature`` template pysaml2 wrote says (we configure RSA-SHA256 and
SHA-256; XML Signature 1.1 §6). Encryption uses AES-256-CBC for the assertion and RSA-OAEP (MGF1P) for
the session key (XML Encryption 1.1 §5), which every common SP library decrypts.

Example::

    server.sec.crypto = XmlsecBackend()
    server.sec.key_file = key_reference(kid)
"""

from __future__ import annotations

import threading
from typing import Any

import xmlsec
from lxml import etree
from saml2.sigver import CryptoBackend, SignatureError

from simulator.ams.idp.keys import cached_key

KEY_REFERENCE_PREFIX = "kid:"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
SAFE_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "huge_tree": False,
    "remove_comments": False,
    "load_dtd": False,
}

_xmlsec_keys: dict[str, xmlsec.Key] = {}
_lock = threading.Lock()


def key_reference(kid: str) -> str:
    """The string pysaml2 carries as ``key_file`` to name a signing key held in memory."""
    return KEY_REFERENCE_PREFIX + kid


def safe_parse(text: str | bytes) -> etree._Element:
    """Parse XML without entities, DTDs or network access (no XXE, no entity-expansion bombs)."""
    data = text.encode() if isinstance(text, str) else text
    parser = etree.XMLParser(**SAFE_PARSER_OPTIONS)
    root = etree.fromstring(data, parser)
    if root.getroottree().docinfo.internalDTD is not None:
        raise ValueError("XML with a DTD is not accepted")
    return root


def _xml_bytes(statement: Any) -> bytes:
    """pysaml2 hands over ``SamlBase`` objects, ``str`` or ``bytes``; lxml wants bytes."""
    if isinstance(statement, bytes):
        return statement
    return str(statement).encode()


def _signing_key(reference: str) -> xmlsec.Key:
    if not reference.startswith(KEY_REFERENCE_PREFIX):
        raise SignatureError("signing keys are named 'kid:<kid>'")
    kid = reference.removeprefix(KEY_REFERENCE_PREFIX)
    key = _xmlsec_keys.get(kid)
    if key is None:
        parsed = cached_key(kid)
        if parsed is None:
            raise SignatureError(f"signing key {kid} is not loaded")
        key = xmlsec.Key.from_memory(parsed.private_key_pem, xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_memory(parsed.certificate_pem, xmlsec.constants.KeyDataFormatCertPem)
        with _lock:
            _xmlsec_keys[kid] = key
    return key


def sign_element(root: etree._Element, node_id: str, key_ref: str) -> None:
    """Fill in the ``ds:Signature`` template that is a child of the element whose ``ID`` is ``node_id``."""
    matches = root.xpath("//*[@ID=$id]", id=node_id)
    if len(matches) != 1:
        raise SignatureError(f"expected exactly one element with ID {node_id}")
    signature = matches[0].find(f"{{{DSIG_NS}}}Signature")
    if signature is None:
        raise SignatureError(f"element {node_id} has no signature template")
    _fill_signature(root, signature, key_ref)


def _fill_signature(root: etree._Element, signature: etree._Element, key_ref: str) -> None:
    """Compute the ``ds:Signature`` template ``signature`` in the document ``root`` (xmlsec errors
    propagate)."""
    xmlsec.tree.add_ids(root, ["ID"])  # so that a reference "#ID" resolves
    context = xmlsec.SignatureContext()
    context.key = _signing_key(key_ref)
    context.sign(signature)


class XmlsecBackend(CryptoBackend):
    """In-process XML signatures and encryption for pysaml2 (see the module docstring)."""

    @property
    def version(self) -> str:
        return ".".join(str(part) for part in xmlsec.get_libxmlsec_version())

    def sign_statement(self, statement: Any, node_name: str, key_file: str, node_id: str) -> str:
        """Sign the element ``node_id`` of ``statement`` with the key ``key_file`` names."""
        root = safe_parse(_xml_bytes(statement))
        try:
            sign_element(root, node_id, key_file)
        except xmlsec.Error as exc:
            raise SignatureError(str(exc)) from exc
        return etree.tostring(root, encoding="unicode")

    def validate_signature(
        self, signedtext: Any, cert_file: str, cert_type: str, node_name: str, node_id: str
    ) -> bool:
        """True when the signature of element ``node_id`` verifies with the certificate in ``cert_file``."""
        root = safe_parse(_xml_bytes(signedtext))
        xmlsec.tree.add_ids(root, ["ID"])
        matches = root.xpath("//*[@ID=$id]", id=node_id) if node_id else [root]
        signature = matches[0].find(f"{{{DSIG_NS}}}Signature") if len(matches) == 1 else None
        if signature is None:
            return False
        manager = xmlsec.KeysManager()
        manager.add_key(xmlsec.Key.from_file(cert_file, xmlsec.constants.KeyDataFormatCertPem))
        context = xmlsec.SignatureContext(manager)
        try:
            context.verify(signature)
        except xmlsec.Error:
            return False
        return True

    def encrypt_assertion(
        self,
        statement: Any,
        enc_key: str,
        template: Any,
        key_type: str = "aes256",
        node_xpath: str | None = None,
        node_id: str | None = None,
    ) -> str:
        """Not used: :func:`encrypt_assertion_in_place` encrypts after pysaml2 has built the response."""
        raise NotImplementedError("the IdP encrypts with encrypt_assertion_in_place")


def encrypt_assertion_in_place(root: etree._Element, certificate_pem: bytes) -> None:
    """Replace the response's ``saml:Assertion`` by a ``saml:EncryptedAssertion``.

    SAML core 2.0 §2.3.4 and §6.2: the EncryptedAssertion holds ``xenc:EncryptedData`` (AES-256-CBC over
    the Assertion element) whose KeyInfo carries the session key, RSA-OAEP encrypted to the SP's
    certificate. A signed assertion is encrypted as it was signed, so its signature still verifies
    after decryption.
    """
    assertion = root.find(f"{{{SAML_NS}}}Assertion")
    if assertion is None:
        raise SignatureError("no assertion to encrypt")
    wrapper = etree.Element(f"{{{SAML_NS}}}EncryptedAssertion")
    assertion.addprevious(wrapper)
    wrapper.append(assertion)
    data = xmlsec.template.encrypted_data_create(
        root, xmlsec.constants.TransformAes256Cbc, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(data)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(data, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(certificate_pem, xmlsec.constants.KeyDataFormatCertPem))
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession)
    context.encrypt_xml(data, assertion)


SIGNATURE_METHODS = {
    "rsa-sha1": xmlsec.constants.TransformRsaSha1,
    "rsa-sha256": xmlsec.constants.TransformRsaSha256,
    "rsa-sha384": xmlsec.constants.TransformRsaSha384,
    "rsa-sha512": xmlsec.constants.TransformRsaSha512,
}
"""XML Signature 1.1 §6.4 signature methods by short name (SHA-1 only for minted hostile messages)."""
DIGEST_METHODS = {
    "sha1": xmlsec.constants.TransformSha1,
    "sha256": xmlsec.constants.TransformSha256,
    "sha384": xmlsec.constants.TransformSha384,
    "sha512": xmlsec.constants.TransformSha512,
}
"""XML Signature 1.1 §6.2 digest methods by short name."""


def sign_enveloped(
    root: etree._Element,
    element: etree._Element,
    key_ref: str,
    signature_method: str = "rsa-sha256",
    digest_method: str = "sha256",
) -> None:
    """Sign ``element`` of the document ``root`` (enveloped, exclusive C14N, RSA-SHA256, SHA-256).

    The ``ds:Signature`` goes right after the element's ``saml:Issuer``, where the SAML schema puts it
    (SAML core 2.0 §5.4); its reference names the element's ``ID``. The certificate in its KeyInfo is
    written on one line, as pysaml2 writes it (KeyInfo is outside what the signature covers). The
    IdP always signs with the defaults; other :data:`SIGNATURE_METHODS` and :data:`DIGEST_METHODS` are
    for minted messages (:mod:`.minting`).
    """
    node_id = element.get("ID")
    if not node_id:
        raise SignatureError(f"{element.tag} has no ID to sign")
    signature = xmlsec.template.create(
        root, xmlsec.constants.TransformExclC14N, SIGNATURE_METHODS[signature_method], ns="ds"
    )
    reference = xmlsec.template.add_reference(signature, DIGEST_METHODS[digest_method], uri=f"#{node_id}")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    issuer = element.find(f"{{{SAML_NS}}}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    try:
        _fill_signature(root, signature, key_ref)
    except xmlsec.Error as exc:
        raise SignatureError(str(exc)) from exc
    for certificate in signature.iter(f"{{{DSIG_NS}}}X509Certificate"):
        certificate.text = "".join((certificate.text or "").split())
