"""How fast does the AMS IdP sign, and what does signing in process buy over the ``xmlsec1`` binary?

Measures, on this machine, for a realistic SAML Response (signed assertion, RSA-SHA256 / SHA-256):

- ``sign_verify_inprocess``: one signature by :class:`XmlsecBackend` (python-xmlsec) plus one
  verification with python-xmlsec, per second;
- ``sign_verify_xmlsec1``: the same with pysaml2's default backend (the ``xmlsec1`` binary, run per
  signature and per verification) — only when the binary is installed;
- ``saml_response_build``: whole signed Responses built by the tenant IdP (pysaml2 + our backend);
- ``saml_logins_wsgi`` / ``oidc_logins_wsgi``: full SP-initiated SAML and OIDC code-flow logins
  (login form included) through the apps' WSGI interface in process — no sockets, so an upper bound
  of what real HTTP reaches.

Usage::

    .venv/bin/python benchmarks/sso.py [--seconds 3]

Results are printed and written to ``benchmarks/results/sso.json``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import platform
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import xmlsec
from lxml import etree

from simulator.ams.idp import keys
from simulator.ams.idp.saml.idp import tenant_idp
from simulator.ams.idp.saml.xmlsec_backend import XmlsecBackend, key_reference
from simulator.ams.idp.testing import SamlTestSp, form_fields
from simulator.config import load_config
from simulator.core.db import Database
from simulator.core.settings import SsoSettings

RESULTS = Path(__file__).resolve().parent / "results" / "sso.json"
AMS_URL = "http://127.0.0.1:8001"
ADMIN = {"Authorization": "Bearer bench-admin"}


def rate(action: Callable[[], Any], seconds: float) -> dict[str, float]:
    """Operations per second of ``action`` over about ``seconds`` (after one warm-up call)."""
    action()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        action()
        count += 1
    elapsed = time.perf_counter() - start
    return {
        "per_second": round(count / elapsed, 1),
        "ms_each": round(1000 * elapsed / count, 2),
        "runs": count,
    }


def _unsigned_response(idp: Any, sp_entity: str) -> tuple[str, str]:
    info = idp.unsolicited(sp_entity)
    signed = base64.b64decode(
        idp.authn_response(info, {"email": "a@example.org"}, "M1", "a@example.org", 300)
    )
    root = etree.fromstring(signed)
    assertion = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    signature = assertion.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    for name in ("DigestValue", "SignatureValue"):
        signature.find(f".//{{http://www.w3.org/2000/09/xmldsig#}}{name}").text = ""
    return etree.tostring(root, encoding="unicode"), assertion.get("ID")


def _verify_inprocess(xml: str, node_id: str, certificate_pem: bytes) -> None:
    root = etree.fromstring(xml.encode())
    xmlsec.tree.add_ids(root, ["ID"])
    node = root.xpath("//*[@ID=$id]", id=node_id)[0]
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(certificate_pem, xmlsec.constants.KeyDataFormatCertPem)
    context.verify(node.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))


def crypto_benchmarks(db: Database, config: Any, seconds: float) -> dict[str, Any]:
    from simulator.ams.idp.registry import register_service_provider

    sp = SamlTestSp.create(AMS_URL, "bench", [])
    with db.session() as session:
        register_service_provider(session, "bench", sp.metadata(), sign="assertion")
        key = keys.active_key(session, "bench")
        idp = tenant_idp(session, "bench", AMS_URL, SsoSettings())
    template, node_id = _unsigned_response(idp, sp.settings["sp"]["entityId"])
    backend = XmlsecBackend()
    results: dict[str, Any] = {}

    def inprocess() -> None:
        signed = backend.sign_statement(template, "", key_reference(key.kid), node_id)
        _verify_inprocess(signed, node_id, key.certificate_pem)

    results["sign_verify_inprocess"] = rate(inprocess, seconds)
    binary = shutil.which("xmlsec1")
    if binary:
        from saml2.sigver import CryptoBackendXmlSec1

        workdir = Path(tempfile.mkdtemp())
        key_file, cert_file = workdir / "key.pem", workdir / "cert.pem"
        key_file.write_bytes(key.private_key_pem)
        cert_file.write_bytes(key.certificate_pem)
        legacy = CryptoBackendXmlSec1(binary)
        node = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"

        def with_binary() -> None:
            signed = legacy.sign_statement(template, node, str(key_file), node_id)
            if not legacy.validate_signature(signed, str(cert_file), "pem", node, node_id):
                raise RuntimeError("xmlsec1 did not verify its own signature")

        results["sign_verify_xmlsec1"] = rate(with_binary, seconds)
        shutil.rmtree(workdir)
    else:
        results["sign_verify_xmlsec1"] = "skipped: the xmlsec1 binary is not installed"

    info = idp.unsolicited(sp.settings["sp"]["entityId"])
    attributes = {"email": "a@example.org", "member_type": "regular", "member_status": "active"}
    results["saml_response_build"] = rate(
        lambda: idp.authn_response(info, attributes, "M1", "a@x.org", 300), seconds
    )
    return results


def login_benchmarks(ams: Any, console: Any, seconds: float) -> dict[str, Any]:
    certificate = console.get("/api/tenants/bench/keys", headers=ADMIN).get_json()["keys"][0][
        "certificate_pem"
    ]
    certificates = ["".join(line for line in certificate.splitlines() if "-----" not in line)]
    sp = SamlTestSp.create(AMS_URL, "bench", certificates, entity_id="https://bench-sp.example.org/metadata")
    console.post(
        "/api/tenants/bench/saml/service-providers", json={"metadata_xml": sp.metadata()}, headers=ADMIN
    )
    client = console.post(
        "/api/tenants/bench/oidc/clients",
        json={"redirect_uris": ["https://rp.example.org/cb"]},
        headers=ADMIN,
    ).get_json()

    def saml_login() -> None:
        ams.delete_cookie("ams_login_bench", path="/t/bench/")
        request_id, saml_request = sp.authn_request()
        first = ams.get(f"/t/bench/saml/sso?{urlencode({'SAMLRequest': saml_request})}")
        next_url = parse_qs(urlsplit(first.headers["Location"]).query)["next"][0]
        form = {"email": "active.member@demo.test", "password": "demo", "next": next_url}
        page = ams.get(ams.post("/t/bench/login", data=form).headers["Location"])
        _, fields = form_fields(page.get_data(as_text=True))
        sp.validate(fields["SAMLResponse"], request_id)

    def oidc_login() -> None:
        ams.delete_cookie("ams_login_bench", path="/t/bench/")
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": "https://rp.example.org/cb",
            "scope": "openid email",
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        first = ams.get(f"/t/bench/oidc/authorize?{urlencode(query)}")
        next_url = parse_qs(urlsplit(first.headers["Location"]).query)["next"][0]
        form = {"email": "active.member@demo.test", "password": "demo", "next": next_url}
        callback = ams.get(ams.post("/t/bench/login", data=form).headers["Location"])
        code = parse_qs(urlsplit(callback.headers["Location"]).query)["code"][0]
        token = ams.post(
            "/t/bench/oidc/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "https://rp.example.org/cb",
                "code_verifier": verifier,
            },
            auth=(client["client_id"], client["client_secret"]),
        )
        if token.status_code != 200:
            raise RuntimeError(token.get_data(as_text=True))

    return {"saml_logins_wsgi": rate(saml_login, seconds), "oidc_logins_wsgi": rate(oidc_login, seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="Time per measurement.")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp())
    config = load_config(env={}, overrides={"data_dir": str(workdir), "admin_key": "bench-admin"})
    db = Database(config.resolved_database_url)
    db.upgrade()
    from simulator.ams.app import create_app as create_ams
    from simulator.console.app import create_app as create_console

    console = create_console(config, db).test_client()
    ams = create_ams(config, db).test_client()
    console.post("/api/tenants", json={"id": "bench"}, headers=ADMIN)
    results = {
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        **crypto_benchmarks(db, config, args.seconds),
        **login_benchmarks(ams, console, args.seconds),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name, value in results.items():
        print(f"{name:24} {value}")
    db.dispose()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
