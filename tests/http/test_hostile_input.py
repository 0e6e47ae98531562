"""Hostile input at every kind of endpoint: XML bombs and deep documents, bodies over the limits (with and
without Content-Length), broken HTTP-Redirect messages and DEFLATE bombs, JWTs with odd headers, and
Unicode edge cases (on SQLite and PostgreSQL).

Every refusal is a 4xx with one plain sentence — problem+json on an API, a page on a browser endpoint —
never a traceback or a class name, nothing is fetched from a URL the input names, and the apps answer
``/healthz`` afterwards. One database, three apps and the tenant ``acme`` serve the whole module (the
refusals change nothing; the few writes use fresh emails).
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import secrets
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, select, text

from simulator.ams.idp import keys
from simulator.config import SandboxConfig
from simulator.core.db import Database
from simulator.core.outbox_models import WebhookEndpoint
from simulator.core.request_limits import MAX_FORM_FIELDS, SAML_MESSAGE_BYTES
from simulator.core.webhooks import sign_headers
from tests.conftest import ADMIN, _postgres_url, make_config
from tests.helpers.servers import serving
from tests.sso.client_assertions import AssertingClient, assertion_fields
from tests.sso.saml_attacks import BILLION_LAUGHS, XXE

PROBLEM = "application/problem+json"
LEAKS = re.compile(r"\w*(Error|Exception)\b|Traceback|Errno|<string>|File \"|root:x:0:0")
"""Never in a refusal: a class name, a traceback, an OS error, lxml's input name, /etc/passwd."""
KIB, MIB = 1024, 1024 * 1024
LOGOUT_REDIRECT = "https://rp.example.org/signed-out"
REDIRECT = "https://rp.example.org/callback"


# --- one world for the module -----------------------------------------------------------------------


@dataclass
class World:
    config: SandboxConfig
    db: Database
    apps: dict[str, Any]
    key: str = ""

    def client(self, name: str) -> Any:
        return self.apps[name].test_client()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def build_world(tmp_path: Path, db_url: str) -> World:
    from simulator.ams.app import create_app as ams_app
    from simulator.console.app import create_app as console_app
    from simulator.lms.app import create_app as lms_app

    config = make_config(tmp_path, db_url)
    db = Database(config.resolved_database_url)
    db.upgrade()
    apps = {"console": console_app(config, db), "ams": ams_app(config, db), "lms": lms_app(config, db)}
    world = World(config, db, apps)
    created = world.client("console").post("/api/tenants", json={"id": "acme", "members": 5}, headers=ADMIN)
    assert created.status_code == 201, created.get_json()
    world.key = created.get_json()["api_key"]
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp("hostile")
    built = build_world(tmp_path, f"sqlite:///{tmp_path / 'sandbox.db'}")
    yield built
    built.db.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def any_world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The module's world on SQLite, then a world of its own on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield request.getfixturevalue("world")
        return
    base = _postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    built = build_world(tmp_path_factory.mktemp("hostile-pg"), f"{base}?options=-csearch_path%3D{schema}")
    try:
        yield built
    finally:
        built.db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- what a refusal looks like -------------------------------------------------------------------------


def visible_text(response: Any) -> str:
    """A page's text as a person reads it (no markup, no style sheet, whitespace collapsed)."""
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", response.get_data(as_text=True), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))).strip()


def assert_healthy(world: World, *names: str) -> None:
    for name in names or ("console", "ams", "lms"):
        assert world.client(name).get("/healthz").status_code == 200, name


def refused_problem(response: Any, status: int, code: str, sentence: str) -> dict[str, Any]:
    """A problem+json refusal whose ``detail`` contains ``sentence``."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    document = response.get_json()
    assert document["code"] == code
    assert sentence in document["detail"], document
    assert not LEAKS.search(json.dumps(document)), document
    return document


def refused_page(response: Any, status: int, sentence: str) -> str:
    """An HTML refusal showing ``sentence`` (no redirect)."""
    shown = visible_text(response)
    assert response.status_code == status, shown[:500]
    assert response.mimetype == "text/html"
    assert sentence in shown, shown
    assert not LEAKS.search(shown), shown
    assert "Location" not in response.headers
    return shown


def posted(document: str) -> str:
    """SAML bindings 2.0 §3.5.4 (HTTP-POST): base64."""
    return base64.b64encode(document.encode()).decode()


def deflated(data: bytes) -> str:
    """SAML bindings 2.0 §3.4.4.1 (HTTP-Redirect): raw DEFLATE, then base64."""
    compressor = zlib.compressobj(wbits=-15)
    return base64.b64encode(compressor.compress(data) + compressor.flush()).decode()


def chunked(body: bytes) -> dict[str, Any]:
    """Test-client arguments sending ``body`` as a server hands on a chunked one (``Transfer-Encoding:
    chunked`` outweighs any ``Content-Length``, RFC 9112 §6.3; the server ends the stream)."""
    return {
        "input_stream": io.BytesIO(body),
        "environ_overrides": {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True},
    }


# --- XML: external entities, entity bombs, 5,000 elements deep ------------------------------------------

DEEP = "<x>" * 5000 + "</x>" * 5000
DEEP_JSON = '{"a":' * 5000 + "1" + "}" * 5000
ENTITIES = "declares a DTD or entities, which are not allowed."
TOO_DEEP = "nests elements more than 256 deep."
XML_DOCUMENTS = {
    "external-entity": (XXE, ENTITIES),
    "billion-laughs": (BILLION_LAUGHS, ENTITIES),
    "5000-deep": (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">' + DEEP + "</samlp:Response>",
        TOO_DEEP,
    ),
}
METADATA_NS = 'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'


def as_metadata(document: str) -> str:
    """``document`` with an md:EntityDescriptor in place of its samlp:Response."""
    document = document.replace('xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"', METADATA_NS)
    return document.replace("samlp:Response", "md:EntityDescriptor")


@pytest.mark.parametrize("case", XML_DOCUMENTS)
def test_the_acs_refuses_hostile_xml_in_a_sentence(world: World, case: str) -> None:
    document, sentence = XML_DOCUMENTS[case]

    response = world.client("lms").post("/t/acme/saml/acs", data={"SAMLResponse": posted(document)})

    refused_page(response, 400, f"The SAMLResponse {sentence}")
    assert_healthy(world, "lms")


@pytest.mark.parametrize("binding", ["post", "redirect"])
@pytest.mark.parametrize("case", XML_DOCUMENTS)
def test_the_idp_refuses_hostile_xml_in_a_sentence(world: World, case: str, binding: str) -> None:
    document, sentence = XML_DOCUMENTS[case]
    ams = world.client("ams")

    if binding == "post":
        response = ams.post("/t/acme/saml/sso", data={"SAMLRequest": posted(document)})
    else:
        response = ams.get(f"/t/acme/saml/sso?{urlencode({'SAMLRequest': deflated(document.encode())})}")

    refused_page(response, 400, f"The SAMLRequest {sentence}")
    assert_healthy(world, "ams")


@pytest.mark.parametrize("as_json", [False, True], ids=["metadata-document", "json"])
@pytest.mark.parametrize("case", XML_DOCUMENTS)
def test_sp_metadata_upload_refuses_hostile_xml_in_a_sentence(world: World, case: str, as_json: bool) -> None:
    document, sentence = XML_DOCUMENTS[case]
    document = as_metadata(document)
    path = "/api/tenants/acme/saml/service-providers"
    console = world.client("console")
    registered = console.get(path, headers=world.auth).get_json()["service_providers"]

    if as_json:
        response = console.post(path, json={"metadata_xml": document}, headers=world.auth)
    else:
        response = console.post(
            path, data=document, content_type="application/samlmetadata+xml", headers=world.auth
        )

    refused_problem(response, 422, "invalid_metadata", f"The metadata {sentence}")
    assert console.get(path, headers=world.auth).get_json()["service_providers"] == registered
    assert_healthy(world, "console")


def test_json_5000_deep_is_invalid_json(world: World) -> None:
    response = world.client("ams").post(
        "/t/acme/api/members", data=DEEP_JSON, content_type="application/json", headers=world.auth
    )

    refused_problem(response, 400, "invalid_json", "The request body is not valid JSON.")
    assert_healthy(world, "ams")


# --- bodies over the limit of their kind of endpoint ------------------------------------------------------

SAML_TOO_LARGE = "The request body is larger than 1 MiB, the most a SAML message may be."
FORM_TOO_LARGE = "The request body is larger than 64 KiB, the most a form may send."
API_TOO_LARGE = "The request body is larger than 1 MiB, the most this API accepts in one request."
TOO_MANY_FIELDS = f"The form has more than {MAX_FORM_FIELDS:,} fields, the most a request may send."


def saml_form_over_the_limit(field_name: str) -> bytes:
    return urlencode({field_name: "A" * (SAML_MESSAGE_BYTES + 4)}).encode()


@pytest.mark.parametrize("sent", ["content-length", "chunked"])
@pytest.mark.parametrize(
    ("app", "path", "field_name"),
    [("lms", "/t/acme/saml/acs", "SAMLResponse"), ("ams", "/t/acme/saml/sso", "SAMLRequest")],
    ids=["acs", "idp-sso"],
)
def test_a_saml_message_over_the_limit_gets_a_page_naming_it(
    world: World, app: str, path: str, field_name: str, sent: str
) -> None:
    body = saml_form_over_the_limit(field_name)
    form = "application/x-www-form-urlencoded"

    if sent == "chunked":
        response = world.client(app).post(path, content_type=form, **chunked(body))
    else:
        response = world.client(app).post(path, data=body, content_type=form)

    refused_page(response, 413, SAML_TOO_LARGE)
    assert_healthy(world, app)


def test_a_redirect_binding_message_over_the_limit_is_refused_by_the_same_number(world: World) -> None:
    saml_request = "A" * (SAML_MESSAGE_BYTES + 4)

    response = world.client("ams").get(f"/t/acme/saml/sso?SAMLRequest={saml_request}")

    refused_page(response, 400, "The SAMLRequest is larger than 1 MiB, the most a SAML message may be.")


@pytest.mark.parametrize("sent", ["content-length", "chunked"])
def test_a_json_body_over_the_limit_is_413_problem_json(world: World, sent: str) -> None:
    body = json.dumps({"email": "big@example.org", "given_name": "x" * (MIB + 10), "family_name": "y"})
    ams = world.client("ams")

    if sent == "chunked":
        response = ams.post(
            "/t/acme/api/members",
            content_type="application/json",
            headers=world.auth,
            **chunked(body.encode()),
        )
    else:
        response = ams.post(
            "/t/acme/api/members", data=body, content_type="application/json", headers=world.auth
        )

    refused_problem(response, 413, "body_too_large", API_TOO_LARGE)
    listed = ams.get("/t/acme/api/members", query_string={"email": "big@example.org"}, headers=world.auth)
    assert listed.get_json()["members"] == []
    assert_healthy(world, "ams")


@pytest.mark.parametrize("sent", ["content-length", "chunked"])
@pytest.mark.parametrize(
    ("app", "path"), [("ams", "/t/acme/login"), ("console", "/sign-in")], ids=["ams-login", "console-sign-in"]
)
def test_a_login_form_over_64_kib_gets_a_page_naming_the_limit(
    world: World, app: str, path: str, sent: str
) -> None:
    body = urlencode({"email": "active.member@demo.test", "password": "p" * (64 * KIB)}).encode()
    form = "application/x-www-form-urlencoded"

    if sent == "chunked":
        response = world.client(app).post(path, content_type=form, **chunked(body))
    else:
        response = world.client(app).post(path, data=body, content_type=form)

    refused_page(response, 413, FORM_TOO_LARGE)
    assert "Set-Cookie" not in response.headers
    assert_healthy(world, app)


def test_a_form_body_under_the_limit_still_signs_in(world: World) -> None:
    response = world.client("ams").post(
        "/t/acme/login",
        data={"email": "active.member@demo.test", "password": "demo", "padding": "p" * (60 * KIB)},
    )

    assert response.status_code == 303


def test_a_form_with_too_many_fields_is_refused(world: World) -> None:
    body = "email=a%40b.org&password=x&" + "&".join(f"f{index}=" for index in range(MAX_FORM_FIELDS))

    response = world.client("ams").post(
        "/t/acme/login", data=body, content_type="application/x-www-form-urlencoded"
    )

    refused_page(response, 413, TOO_MANY_FIELDS)


def test_a_multipart_form_with_too_many_parts_is_refused(world: World) -> None:
    fields = {f"f{index}": "x" for index in range(MAX_FORM_FIELDS + 1)}

    response = world.client("ams").post(
        "/t/acme/saml/sso", data={"SAMLRequest": "x", **fields}, content_type="multipart/form-data"
    )

    refused_page(response, 413, TOO_MANY_FIELDS)
    assert_healthy(world, "ams")


def test_an_upload_endpoint_takes_more_than_a_json_api(world: World) -> None:
    """SP metadata is an upload (8 MiB): 1.6 MB of it reaches the field's own rule; a JSON API says 413."""
    document = f'<md:EntityDescriptor {METADATA_NS} entityID="big">'
    document += "<!-- padding -->" * 100_000 + "</md:EntityDescriptor>"
    console = world.client("console")

    upload = console.post(
        "/api/tenants/acme/saml/service-providers", json={"metadata_xml": document}, headers=world.auth
    )
    api = console.post("/api/tenants", json={"id": "big", "metadata_xml": document}, headers=ADMIN)

    refused_problem(upload, 422, "validation_failed", "'metadata_xml': String should have at most 1000000")
    refused_problem(api, 413, "body_too_large", API_TOO_LARGE)


class CountedInput:
    """A ``wsgi.input`` that counts the bytes the app reads of it."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        return self._counted(self.stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._counted(self.stream.readline(size))

    def _counted(self, data: bytes) -> bytes:
        self.bytes_read += len(data)
        return data


def counting(app: Any, inputs: list[CountedInput]) -> Callable[..., Any]:
    """``app``, its requests' bodies counted as it reads them (outermost: before the journal reads)."""

    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ["wsgi.input"] = CountedInput(environ["wsgi.input"])
        inputs.append(environ["wsgi.input"])
        return app(environ, start_response)

    return wrapper


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("path", "content_type", "limit", "status_text"),
    [
        ("/t/acme/login", "application/x-www-form-urlencoded", 64 * KIB, FORM_TOO_LARGE),
        ("/t/acme/api/members", "application/json", MIB, API_TOO_LARGE),
    ],
    ids=["login-form", "json-api"],
)
def test_a_served_chunked_body_is_read_no_further_than_its_limit(
    world: World, path: str, content_type: str, limit: int, status_text: str
) -> None:
    """Through a real server and Transfer-Encoding: chunked, 32 MiB offered; the AMS reads limit + 1."""
    seen: list[CountedInput] = []
    port = free_port()

    def body() -> Iterator[bytes]:
        for _ in range(32):
            yield b"e" * MIB

    with (
        serving((port, counting(world.apps["ams"], seen))),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        response = client.post(
            path,
            content=body(),
            headers={"Content-Type": content_type, "Accept": "text/html", **world.auth},
        )
        health = client.get("/healthz")

    assert response.status_code == 413
    assert status_text in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))
    assert seen[0].bytes_read == limit + 1
    assert health.status_code == 200


# --- the HTTP-Redirect binding: broken base64, broken DEFLATE, a DEFLATE bomb -------------------------------


@pytest.mark.parametrize("path", ["sso", "slo"])
@pytest.mark.parametrize(
    ("saml_request", "sentence"),
    [
        ("%%% not base64 %%%", "The SAMLRequest is not valid base64."),
        (
            base64.b64encode(b"\x00\xffnot DEFLATE at all" * 4).decode(),
            "The SAMLRequest is not DEFLATE-compressed, as the HTTP-Redirect binding requires.",
        ),
    ],
    ids=["base64", "deflate"],
)
def test_a_malformed_redirect_message_is_refused_in_a_sentence(
    world: World, path: str, saml_request: str, sentence: str
) -> None:
    response = world.client("ams").get(f"/t/acme/saml/{path}?{urlencode({'SAMLRequest': saml_request})}")

    refused_page(response, 400, sentence)
    assert_healthy(world, "ams")


@pytest.fixture
def inflation(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of everything zlib inflates while the test runs (pysaml2, the journal, the sandbox)."""
    sizes: list[int] = []
    decompress, decompressobj = zlib.decompress, zlib.decompressobj

    def counted_decompress(data: bytes, *args: Any, **kwargs: Any) -> bytes:
        out = decompress(data, *args, **kwargs)
        sizes.append(len(out))
        return out

    class CountedInflater:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.inflater = decompressobj(*args, **kwargs)

        def decompress(self, data: bytes, *args: Any) -> bytes:
            out = self.inflater.decompress(data, *args)
            sizes.append(len(out))
            return out

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inflater, name)

    monkeypatch.setattr(zlib, "decompress", counted_decompress)
    monkeypatch.setattr(zlib, "decompressobj", CountedInflater)
    return sizes


@pytest.mark.parametrize("path", ["sso", "slo"])
def test_a_deflate_bomb_is_refused_without_being_inflated(
    world: World, inflation: list[int], path: str
) -> None:
    bomb = deflated(b"<samlp:AuthnRequest " + b" " * (64 * MIB))  # 64 MiB of XML in 64 KiB of URL
    assert len(bomb) < 100 * KIB

    response = world.client("ams").get(f"/t/acme/saml/{path}?{urlencode({'SAMLRequest': bomb})}")

    sentence = "The SAMLRequest inflates to more than 1 MiB, the most a SAML message may be."
    refused_page(response, 400, sentence)
    assert inflation, "nothing was inflated at all"
    assert max(inflation) <= SAML_MESSAGE_BYTES + 1
    journal = world.client("console").get(
        "/api/tenants/acme/journal",
        query_string={"path": f"/t/acme/saml/{path}", "limit": 1, "newest": "true"},
        headers=world.auth,
    )
    [entry] = journal.get_json()["entries"]  # journaled too, its query redacted without inflating it
    assert entry["status"] == 400
    assert bomb[:64] in unquote(entry["query"])


# --- JWTs with odd headers at the OIDC provider ---------------------------------------------------------


@dataclass
class Listener:
    """A TCP server on 127.0.0.1 that records every connection made to it and answers nothing."""

    sock: socket.socket
    connections: list[bytes] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self.stopped.is_set():
            try:
                peer, _ = self.sock.accept()
            except TimeoutError:
                continue
            with peer:
                peer.settimeout(1)
                try:
                    self.connections.append(peer.recv(4096))
                except OSError:
                    self.connections.append(b"")


@pytest.fixture
def listener() -> Iterator[Listener]:
    recorder = Listener(socket.create_server(("127.0.0.1", 0)))
    thread = threading.Thread(target=recorder.serve, daemon=True)
    thread.start()
    yield recorder
    recorder.stopped.set()
    thread.join(timeout=5)
    recorder.sock.close()


@pytest.fixture(scope="module")
def rp(world: World) -> dict[str, Any]:
    """A private_key_jwt client of acme, its signing key, and the token endpoint it authenticates at."""
    signer = AssertingClient()
    registered = world.client("console").post(
        "/api/tenants/acme/oidc/clients",
        json={
            "client_name": "Hostile RP",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [LOGOUT_REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": signer.jwks,
        },
        headers=ADMIN,
    )
    assert registered.status_code == 201, registered.get_json()
    return {
        "client_id": registered.get_json()["client_id"],
        "signer": signer,
        "token_endpoint": f"{world.config.ams_url}/t/acme/oidc/token",
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(rp: dict[str, Any], **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    client_id = rp["client_id"]
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": rp["token_endpoint"],
        "jti": secrets.token_urlsafe(12),
        "iat": now,
        "exp": now + 60,
        **extra,
    }


def unsigned(
    header: dict[str, Any] | str, payload: dict[str, Any] | str, signature: bytes = b"forged"
) -> str:
    """A compact JWS of ``header`` and ``payload`` (JSON text when given as ``str``), signed by nobody."""
    parts = [part if isinstance(part, str) else json.dumps(part) for part in (header, payload)]
    return ".".join([*(b64url(part.encode()) for part in parts), b64url(signature)])


def signed(key: Any, payload: dict[str, Any], **header: Any) -> str:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pyjwt.encode(payload, pem, algorithm="RS256", headers=header)


def token_request(world: World, rp: dict[str, Any], assertion: str) -> Any:
    return world.client("ams").post(
        "/t/acme/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": "no-such-code",
            "redirect_uri": REDIRECT,
            **assertion_fields(rp["client_id"], assertion),
        },
    )


def with_own_key(payload: dict[str, Any], **header: Any) -> str:
    """``payload`` signed by a key nobody registered, ``header`` saying where to find it."""
    key = AssertingClient().private_key
    if header.pop("embed", False):
        header["jwk"] = pyjwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return signed(key, payload, kid="attacker", **header)


HOSTILE_ASSERTIONS: dict[str, Callable[[dict[str, Any], Listener], str]] = {
    "alg-missing": lambda rp, _: unsigned({"typ": "JWT"}, claims(rp)),
    "alg-none": lambda rp, _: unsigned({"alg": "none"}, claims(rp), signature=b""),
    "unknown-crit": lambda rp, _: signed(
        rp["signer"].private_key,
        claims(rp),
        kid=rp["signer"].kid,
        crit=["urn:x:unknown"],
        **{"urn:x:unknown": 1},
    ),
    "jku-elsewhere": lambda rp, there: with_own_key(claims(rp), jku=f"{there.url}/jwks.json"),
    "x5u-elsewhere": lambda rp, there: with_own_key(claims(rp), x5u=f"{there.url}/chain.pem"),
    "embedded-jwk": lambda rp, _: with_own_key(claims(rp), embed=True),
    "payload-5000-deep": lambda rp, _: unsigned({"alg": "RS256"}, DEEP_JSON),
    "header-5000-deep": lambda rp, _: unsigned(DEEP_JSON, claims(rp)),
}


@pytest.mark.parametrize("case", HOSTILE_ASSERTIONS)
def test_the_token_endpoint_refuses_a_hostile_client_assertion(
    world: World, rp: dict[str, Any], listener: Listener, case: str
) -> None:
    response = token_request(world, rp, HOSTILE_ASSERTIONS[case](rp, listener))

    assert response.status_code in (400, 401), response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_client"
    assert response.get_json()["error_description"]
    assert not LEAKS.search(response.get_data(as_text=True))
    assert listener.connections == []
    assert_healthy(world, "ams")


def test_a_jku_beside_a_good_signature_is_ignored_not_fetched(
    world: World, rp: dict[str, Any], listener: Listener
) -> None:
    """The registered key verifies; the header's jku is not fetched (the code is wrong, so: invalid_grant)."""
    assertion = signed(rp["signer"].private_key, claims(rp), kid=rp["signer"].kid, jku=f"{listener.url}/jwks")

    response = token_request(world, rp, assertion)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert listener.connections == []


def test_an_oversized_client_assertion_is_413(world: World, rp: dict[str, Any]) -> None:
    assertion = signed(rp["signer"].private_key, claims(rp, padding="x" * (100 * KIB)), kid=rp["signer"].kid)

    response = token_request(world, rp, assertion)

    refused_problem(response, 413, "body_too_large", "larger than 64 KiB, the most this endpoint accepts.")


def test_an_unreachable_registered_jwks_uri_refuses_the_client(world: World) -> None:
    signer = AssertingClient()
    jwks_uri = f"http://127.0.0.1:{free_port()}/jwks.json"  # nobody listens there
    registered = world.client("console").post(
        "/api/tenants/acme/oidc/clients",
        json={
            "client_name": "Gone RP",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
        },
        headers=ADMIN,
    )
    client = {
        "client_id": registered.get_json()["client_id"],
        "token_endpoint": f"{world.config.ams_url}/t/acme/oidc/token",
    }

    response = token_request(world, client, signed(signer.private_key, claims(client), kid=signer.kid))

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json() == {
        "error": "invalid_client",
        "error_description": f"The client's jwks_uri could not be fetched ({jwks_uri}).",
    }


def hint_claims(world: World, rp: dict[str, Any]) -> dict[str, Any]:
    """What an ID token for ``rp`` says (OIDC Core §2), but for its signature."""
    now = int(time.time())
    return {
        "iss": f"{world.config.ams_url}/t/acme",
        "aud": rp["client_id"],
        "sub": "M100001",
        "iat": now,
        "exp": now + 300,
    }


HOSTILE_HINTS: dict[str, Callable[[dict[str, Any], Listener], str]] = {
    "alg-missing": lambda ours, _: unsigned({"typ": "JWT"}, ours),
    "alg-none": lambda ours, _: unsigned({"alg": "none"}, ours, signature=b""),
    "unknown-crit": lambda ours, _: unsigned({"alg": "RS256", "crit": ["urn:x"], "urn:x": 1}, ours),
    "jku-elsewhere": lambda ours, there: with_own_key(ours, jku=f"{there.url}/jwks.json"),
    "x5u-elsewhere": lambda ours, there: with_own_key(ours, x5u=f"{there.url}/chain.pem"),
    "embedded-jwk": lambda ours, _: with_own_key(ours, embed=True),
    "100-kB": lambda ours, _: with_own_key(ours | {"padding": "x" * (100 * KIB)}),
    "header-5000-deep": lambda ours, _: unsigned(DEEP_JSON, ours),
}


def end_session(world: World, hint: str) -> Any:
    query = urlencode({"id_token_hint": hint, "post_logout_redirect_uri": LOGOUT_REDIRECT})
    return world.client("ams").get(f"/t/acme/oidc/logout?{query}")


def test_end_session_follows_a_hint_the_op_signed(world: World, rp: dict[str, Any]) -> None:
    """The control: with its own ID token as the hint, the client's registered redirect is followed."""
    with world.db.read() as session:
        key = keys.active_key(session, "acme")
    hint = pyjwt.encode(
        hint_claims(world, rp), key.private_key_pem, algorithm="RS256", headers={"kid": key.kid}
    )

    response = end_session(world, hint)

    assert response.status_code == 302
    assert response.headers["Location"] == LOGOUT_REDIRECT


@pytest.mark.parametrize("case", HOSTILE_HINTS)
def test_end_session_trusts_no_hostile_id_token_hint(
    world: World, rp: dict[str, Any], listener: Listener, case: str
) -> None:
    """The sign-in ends, but a hint the OP did not sign names no client: no redirect, nothing fetched."""
    response = end_session(world, HOSTILE_HINTS[case](hint_claims(world, rp), listener))

    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You have signed out." in visible_text(response)
    assert listener.connections == []


def test_a_posted_end_session_over_the_form_limit_is_refused(world: World, rp: dict[str, Any]) -> None:
    hint = with_own_key(hint_claims(world, rp) | {"padding": "x" * (100 * KIB)})

    response = world.client("ams").post("/t/acme/oidc/logout", data={"id_token_hint": hint})

    refused_page(response, 413, FORM_TOO_LARGE)


@pytest.mark.parametrize("parameter", ["request", "request_uri"])
def test_authorize_fetches_no_request_object(
    world: World, rp: dict[str, Any], listener: Listener, parameter: str
) -> None:
    """Request objects are not supported (discovery says so): neither one is fetched nor trusted."""
    value = (
        unsigned({"alg": "RS256", "jku": f"{listener.url}/jwks"}, {"redirect_uri": "https://evil.example/"})
        if parameter == "request"
        else f"{listener.url}/request.jwt"
    )
    query = {
        "response_type": "code",
        "client_id": rp["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        parameter: value,
    }

    response = world.client("ams").get(f"/t/acme/oidc/authorize?{urlencode(query)}")

    assert response.status_code == 200  # the sign-in form, the request object neither used nor fetched
    assert "Location" not in response.headers
    assert listener.connections == []


# --- Unicode in names, emails and login forms (SQLite and PostgreSQL) --------------------------------------

ACCEPTED_NAMES = {
    "combining-marks": "Zoe\u0301 Ren\u0303e\u0308",
    "rtl-override": "\u202eevil\u202c",
    "cjk": "山田",
    "emoji": "Pat 🦉",
    "100-chars": "é" * 100,
}


def member_fields(email: str, **fields: Any) -> dict[str, Any]:
    return {"email": email, "given_name": "Pat", "family_name": "Doe", **fields}


def member_count(world: World) -> int:
    return world.client("ams").get("/t/acme/api/members", headers=world.auth).get_json()["total"]


@pytest.mark.parametrize("case", ACCEPTED_NAMES)
def test_unusual_but_valid_names_round_trip_unchanged(any_world: World, case: str) -> None:
    name = ACCEPTED_NAMES[case]
    email = f"{case}@example.org"
    ams = any_world.client("ams")

    created = ams.post(
        "/t/acme/api/members", json=member_fields(email, family_name=name), headers=any_world.auth
    )
    assert created.status_code == 201, created.get_json()
    member_id = created.get_json()["member_id"]
    updated = ams.patch(f"/t/acme/api/members/{member_id}", json={"given_name": name}, headers=any_world.auth)

    assert updated.status_code == 200, updated.get_json()
    stored = ams.get(f"/t/acme/api/members/{member_id}", headers=any_world.auth).get_json()
    assert (stored["given_name"], stored["family_name"]) == (name, name)


def test_an_international_email_signs_in_after_round_tripping(any_world: World) -> None:
    email = f"ünï.{uuid.uuid4().hex[:6]}@exämple.org"
    ams = any_world.client("ams")
    created = ams.post(
        "/t/acme/api/members", json=member_fields(email, password="pässwörd"), headers=any_world.auth
    )
    assert created.status_code == 201, created.get_json()

    signed_in = ams.post("/t/acme/login", data={"email": email, "password": "pässwörd"})

    assert created.get_json()["email"] == email
    assert signed_in.status_code == 303


NUL_FIELDS = {
    "given_name": {"given_name": "Pa\x00t"},
    "email": {"email": "pat\x00@example.org"},
    "profile.city": {"profile": {"city": "Ber\x00lin"}},
    "roles.1": {"roles": ["board", "\x00"]},
}


@pytest.mark.parametrize("field_name", NUL_FIELDS)
def test_a_nul_character_is_a_422_naming_the_field_on_create_and_update(
    any_world: World, field_name: str
) -> None:
    ams = any_world.client("ams")
    before = member_count(any_world)
    member_id = ams.get("/t/acme/api/members", headers=any_world.auth).get_json()["members"][0]["member_id"]
    original = ams.get(f"/t/acme/api/members/{member_id}", headers=any_world.auth).get_json()
    sentence = f"Invalid value for '{field_name}': a NUL character (U+0000) is not allowed."

    created = ams.post(
        "/t/acme/api/members",
        json=member_fields("nul@example.org") | NUL_FIELDS[field_name],
        headers=any_world.auth,
    )
    updated = ams.patch(
        f"/t/acme/api/members/{member_id}", json=NUL_FIELDS[field_name], headers=any_world.auth
    )

    assert refused_problem(created, 422, "validation_failed", sentence)["errors"][0]["field"] == field_name
    refused_problem(updated, 422, "validation_failed", sentence)
    assert member_count(any_world) == before
    assert ams.get(f"/t/acme/api/members/{member_id}", headers=any_world.auth).get_json() == original
    assert_healthy(any_world, "ams")


def test_a_nul_character_in_a_query_string_or_a_path_is_refused(any_world: World) -> None:
    ams = any_world.client("ams")

    by_email = ams.get("/t/acme/api/members?email=a%00b%40example.org", headers=any_world.auth)
    by_text = ams.get("/t/acme/api/members?q=%00", headers=any_world.auth)
    by_id = ams.get("/t/acme/api/members/M%00", headers=any_world.auth)

    refused_problem(by_email, 422, "validation_failed", "Invalid value for 'email': a NUL character")
    refused_problem(by_text, 422, "validation_failed", "Invalid value for 'q': a NUL character")
    assert by_id.status_code == 404 and by_id.mimetype == PROBLEM
    assert_healthy(any_world, "ams")


@pytest.mark.parametrize("field_name", ["email", "password"])
def test_a_nul_character_in_the_login_form_gets_a_page(any_world: World, field_name: str) -> None:
    form = {"email": "active.member@demo.test", "password": "demo"}
    form[field_name] += "\x00"

    response = any_world.client("ams").post("/t/acme/login", data=form)

    refused_page(response, 422, f"Invalid value for '{field_name}': a NUL character (U+0000) is not allowed.")
    assert "Set-Cookie" not in response.headers
    assert_healthy(any_world, "ams")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"email": "a@example.org", "given_name": "\xc0\xaf", "family_name": "B"}', 400, "invalid_json"),
        (
            b'{"email": "a@example.org", "given_name": "\xed\xa0\x80", "family_name": "B"}',
            422,
            "validation_failed",
        ),
        (
            b'{"email": "a@example.org", "given_name": "\\ud800", "family_name": "B"}',
            422,
            "validation_failed",
        ),
        (b'{"email": "a@example.org", "given_name": "A\x00", "family_name": "B"}', 400, "invalid_json"),
    ],
    ids=["overlong-utf8", "encoded-surrogate", "lone-surrogate-escape", "raw-nul-byte"],
)
def test_invalid_utf8_and_raw_nul_bytes_are_refused_and_journaled(
    any_world: World, body: bytes, status: int, code: str
) -> None:
    ams = any_world.client("ams")
    before = member_count(any_world)

    response = ams.post(
        "/t/acme/api/members", data=body, content_type="application/json", headers=any_world.auth
    )

    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == code
    assert not LEAKS.search(response.get_data(as_text=True))
    assert member_count(any_world) == before
    journal = any_world.client("console").get(
        "/api/tenants/acme/journal",
        query_string={"path": "/t/acme/api/members", "method": "POST", "limit": 1, "newest": "true"},
        headers=any_world.auth,
    )
    assert journal.get_json()["entries"][0]["status"] == status


def test_a_very_long_name_is_a_422_with_the_limit(any_world: World) -> None:
    response = any_world.client("ams").post(
        "/t/acme/api/members",
        json=member_fields("long@example.org", given_name="x" * 10_000),
        headers=any_world.auth,
    )

    refused_problem(
        response,
        422,
        "validation_failed",
        "Invalid value for 'given_name': String should have at most 100 characters.",
    )


def test_a_signed_writeback_record_with_a_nul_character_is_refused(any_world: World) -> None:
    """The writeback inbox reads its body itself (it verifies the signature over the bytes first)."""
    with any_world.db.read() as session:
        secret = session.scalar(
            select(WebhookEndpoint.secret).where(
                WebhookEndpoint.tenant_id == "acme", WebhookEndpoint.name == "ams-writeback"
            )
        )
    record = {"id": "wb_nul", "trigger": "course.completed", "member_id": "M100001\x00", "record": {}}
    body = json.dumps(record).encode()

    response = any_world.client("ams").post(
        "/t/acme/writeback/records",
        data=body,
        headers=sign_headers(secret, "wb_nul", body),
        content_type="application/json",
    )

    refused_problem(response, 422, "validation_failed", "Invalid value for 'member_id': a NUL character")
    assert_healthy(any_world, "ams")
