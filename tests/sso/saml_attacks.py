"""A test SAML IdP (its own RSA key and certificate) and the hostile variants of its responses.

:class:`TestIdp` writes IdP metadata and SAML responses by hand (SAML core 2.0) and signs them with the
``xmlsec`` binding — enveloped, exclusive C14N, RSA-SHA256 (or SHA-1, to prove it is refused). The
``wrap_*`` functions rearrange a signed response into the classic XML signature wrapping shapes.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import xmlsec
from lxml import etree

from simulator.lms.sso.keys import generate_key_pair, pem_body

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"


def instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return "_" + secrets.token_hex(16)


@dataclass
class ResponseSpec:
    """Everything a response says; tests change one field to make it wrong."""

    destination: str
    recipient: str
    audience: str
    issuer: str
    in_response_to: str | None = None
    name_id: str = "M1001"
    attributes: dict[str, str] = field(default_factory=dict)
    friendly_names: dict[str, str] = field(default_factory=dict)
    not_before: dt.datetime | None = None
    not_on_or_after: dt.datetime | None = None
    confirmation_not_on_or_after: dt.datetime | None = None
    response_id: str = field(default_factory=new_id)
    assertion_id: str = field(default_factory=new_id)


class TestIdp:
    """An identity provider made of one key pair, for tests."""

    __test__ = False

    def __init__(self, entity_id: str, sso_url: str) -> None:
        self.entity_id = entity_id
        self.sso_url = sso_url
        self.key_pem, self.cert_pem = generate_key_pair("test idp")

    def metadata(self) -> str:
        return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="{DS}"
    entityID={quoteattr(self.entity_id)}>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"
      WantAuthnRequestsSigned="true">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
      <ds:X509Certificate>{pem_body(self.cert_pem)}</ds:X509Certificate>
    </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location={quoteattr(self.sso_url + "/slo")}/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location={quoteattr(self.sso_url)}/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    def response_xml(self, spec: ResponseSpec) -> etree._Element:
        now = dt.datetime.now(dt.UTC)
        not_before = spec.not_before or now - dt.timedelta(seconds=30)
        not_on_or_after = spec.not_on_or_after or now + dt.timedelta(minutes=5)
        confirmation_until = spec.confirmation_not_on_or_after or not_on_or_after
        irt = f" InResponseTo={quoteattr(spec.in_response_to)}" if spec.in_response_to else ""
        attributes = "".join(
            f'<saml:Attribute Name={quoteattr(name)} NameFormat="{URI_FORMAT}"'
            + (f" FriendlyName={quoteattr(spec.friendly_names[name])}" if name in spec.friendly_names else "")
            + f"><saml:AttributeValue>{escape(value)}</saml:AttributeValue></saml:Attribute>"
            for name, value in spec.attributes.items()
        )
        xml = f"""<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="{spec.response_id}"
    Version="2.0" IssueInstant="{instant(now)}" Destination={quoteattr(spec.destination)}{irt}>
  <saml:Issuer>{escape(spec.issuer)}</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion ID="{spec.assertion_id}" Version="2.0" IssueInstant="{instant(now)}">
    <saml:Issuer>{escape(spec.issuer)}</saml:Issuer>
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
        >{escape(spec.name_id)}</saml:NameID>
      <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
        <saml:SubjectConfirmationData NotOnOrAfter="{instant(confirmation_until)}"
            Recipient={quoteattr(spec.recipient)}{irt}/>
      </saml:SubjectConfirmation>
    </saml:Subject>
    <saml:Conditions NotBefore="{instant(not_before)}" NotOnOrAfter="{instant(not_on_or_after)}">
      <saml:AudienceRestriction><saml:Audience>{escape(spec.audience)}</saml:Audience></saml:AudienceRestriction>
    </saml:Conditions>
    <saml:AuthnStatement AuthnInstant="{instant(now)}" SessionIndex="{new_id()}">
      <saml:AuthnContext><saml:AuthnContextClassRef
        >urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>
      </saml:AuthnContext>
    </saml:AuthnStatement>
    {f"<saml:AttributeStatement>{attributes}</saml:AttributeStatement>" if attributes else ""}
  </saml:Assertion>
</samlp:Response>"""
        return etree.fromstring(xml.encode())

    def sign(
        self,
        element: etree._Element,
        key_pem: str | None = None,
        cert_pem: str | None = None,
        sha1: bool = False,
    ) -> etree._Element:
        """Put an enveloped signature right after the element's Issuer (where the schema wants it)."""
        method = xmlsec.constants.TransformRsaSha1 if sha1 else xmlsec.constants.TransformRsaSha256
        digest = xmlsec.constants.TransformSha1 if sha1 else xmlsec.constants.TransformSha256
        signature = xmlsec.template.create(element, xmlsec.constants.TransformExclC14N, method, ns="ds")
        issuer = element.find("saml:Issuer", NS)
        element.insert(element.index(issuer) + 1, signature)
        reference = xmlsec.template.add_reference(signature, digest, uri="#" + element.get("ID"))
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
        key = xmlsec.Key.from_memory(key_pem or self.key_pem, xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_memory(cert_pem or self.cert_pem, xmlsec.constants.KeyDataFormatPem)
        context = xmlsec.SignatureContext()
        context.key = key
        context.register_id(element, "ID")
        context.sign(signature)
        return element

    def signed_response(self, spec: ResponseSpec, where: str = "assertion", **sign: Any) -> etree._Element:
        """A response signed on the ``assertion``, the ``response``, or ``both``."""
        root = self.response_xml(spec)
        if where in ("assertion", "both"):
            self.sign(assertion_of(root), **sign)
        if where in ("response", "both"):
            self.sign(root, **sign)
        return root


def assertion_of(root: etree._Element) -> etree._Element:
    return root.find("saml:Assertion", NS)


def encode(root: etree._Element | str | bytes) -> str:
    data = (
        root if isinstance(root, bytes) else root.encode() if isinstance(root, str) else etree.tostring(root)
    )
    return base64.b64encode(data).decode()


def _evil_copy(signed: etree._Element, name_id: str) -> etree._Element:
    evil = copy.deepcopy(signed)
    for signature in evil.findall("ds:Signature", NS):
        evil.remove(signature)
    evil.set("ID", new_id())
    evil.find("saml:Subject/saml:NameID", NS).text = name_id
    return evil


def wrap_evil_before(root: etree._Element, name_id: str) -> etree._Element:
    """XSW: an unsigned evil assertion placed before the signed one."""
    original = assertion_of(root)
    root.insert(root.index(original), _evil_copy(original, name_id))
    return root


def wrap_evil_after(root: etree._Element, name_id: str) -> etree._Element:
    """XSW: an unsigned evil assertion placed after the signed one."""
    original = assertion_of(root)
    root.insert(root.index(original) + 1, _evil_copy(original, name_id))
    return root


def wrap_evil_around(root: etree._Element, name_id: str) -> etree._Element:
    """XSW: the evil assertion takes the signed one's place and carries it inside (in saml:Advice)."""
    original = assertion_of(root)
    evil = _evil_copy(original, name_id)
    root.replace(original, evil)
    advice = etree.Element(f"{{{SAML}}}Advice")
    advice.append(original)
    evil.find("saml:Conditions", NS).addnext(advice)
    return root


def wrap_original_in_object(root: etree._Element, name_id: str) -> etree._Element:
    """XSW: the evil assertion keeps the original signature, whose ds:Object hides the signed original."""
    original = assertion_of(root)
    evil = _evil_copy(original, name_id)
    evil.set("ID", original.get("ID"))
    signature = copy.deepcopy(original.find("ds:Signature", NS))
    hidden = copy.deepcopy(original)
    hidden.remove(hidden.find("ds:Signature", NS))
    ds_object = etree.SubElement(signature, f"{{{DS}}}Object")
    ds_object.append(hidden)
    evil.insert(1, signature)
    root.replace(original, evil)
    return root


def wrap_response_in_extensions(root: etree._Element, name_id: str) -> etree._Element:
    """XSW on a signed *response*: a new evil response holds the signed original in samlp:Extensions."""
    evil = copy.deepcopy(root)
    evil.set("ID", new_id())
    for signature in evil.findall("ds:Signature", NS):
        evil.remove(signature)
    evil_assertion = assertion_of(evil)
    evil_assertion.set("ID", new_id())
    evil_assertion.find("saml:Subject/saml:NameID", NS).text = name_id
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    extensions.append(root)
    evil.find("saml:Issuer", NS).addnext(extensions)
    evil.insert(1, copy.deepcopy(root.find("ds:Signature", NS)))
    return evil


XXE = """<?xml version="1.0"?>
<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x"
    Version="2.0">&xxe;</samlp:Response>"""

_LAUGHS = "".join(
    f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
)
BILLION_LAUGHS = (
    f'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">{_LAUGHS}]>\n'
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol9;</samlp:Response>'
)
