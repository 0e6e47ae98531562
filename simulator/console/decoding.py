"""Decoding the SSO messages a journal entry carries (SAML 2.0 messages and JWTs), for a person to read.

Nothing here verifies a signature: it shows what was sent, as the journal stored it (redacted). This is
the ``decoded`` part of ``GET /api/tenants/{t}/journal/{id}`` and of the console's entry page.

- SAML (SAML 2.0 Bindings): ``SAMLRequest``/``SAMLResponse`` in a query string or a ``Location`` header
  use the HTTP-Redirect binding (§3.4.4.1: raw DEFLATE, RFC 1951, then base64); in a form body or an
  auto-posting page the HTTP-POST binding (§3.5.4: base64). The XML is untrusted: XML that declares a
  DOCTYPE or entities is refused unparsed, the rest is parsed without entity resolution, DTDs or network
  access, and at most :data:`MAX_MESSAGE_BYTES` decoded bytes are looked at.
- JWTs (RFC 7519 §3; compact JWS, RFC 7515 §7.1) in query and form fields, JSON bodies (at any depth),
  headers (``Authorization: Bearer …``) and other text. The journal keeps a JWS's header and payload and
  redacts its signature (:mod:`simulator.core.redaction`).

Anything that does not decode is described in one plain sentence (``error``), never raised.

Example::

    decoded = decode_entry(journal.get_entry(db, "acme", 42), body_limit=4096)
    decoded["saml"][0]["summary"]["assertions"][0]["name_id"]   # 'M100001'
    decoded["jwts"][0]["times"]["exp"]                          # '2026-05-01T10:00:00+00:00'
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
import itertools
import json
import re
import zlib
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from simulator.console.saml_summary import DecodeError, parse_saml_xml, summarize_saml
from simulator.core.db import Database
from simulator.core.journal import get_entry
from simulator.core.redaction import JWT_REDACTED, REDACTED

MAX_MESSAGE_BYTES = 256 * 1024
"""Decoded SAML messages and JWT parts larger than this are not shown."""
MAX_DECODED = 20
"""At most this many SAML messages, and this many JWTs, are decoded from one entry."""
MAX_FORM_FIELDS = 1000
REDIRECT_BINDING = "HTTP-Redirect"
POST_BINDING = "HTTP-POST"
SAML_FIELDS = ("SAMLResponse", "SAMLRequest")
TIME_CLAIMS = ("exp", "iat", "nbf", "auth_time")

_JWT_SHAPED = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.(?:\[redacted\]|[A-Za-z0-9_-]*)"
    r"(?:\.[A-Za-z0-9_-]+){0,2}"
)
_HIDDEN_FIELD = re.compile(
    r'<input\b[^>]*?\bname="(SAMLResponse|SAMLRequest|RelayState)"[^>]*?\bvalue="([^"]*)(")?', re.IGNORECASE
)


def decoded_journal_entry(db: Database, tenant_id: str, entry_id: int, body_limit: int) -> dict[str, Any]:
    """A journal entry of the tenant with its SSO messages decoded (404 for an unknown id).

    The service behind ``GET /api/tenants/{t}/journal/{id}`` and the console's entry page;
    ``body_limit`` is the journal's ``journal_body_limit`` (to tell a cut-short message apart).
    """
    entry = get_entry(db, tenant_id, entry_id)
    return {**entry, "decoded": decode_entry(entry, body_limit)}


def decode_entry(entry: dict[str, Any], body_limit: int) -> dict[str, list[dict[str, Any]]]:
    """The SAML messages and JWTs found in an entry (as :func:`simulator.core.journal.entry_out` shows it)."""
    at = dt.datetime.fromisoformat(entry["at"])
    saml: list[dict[str, Any]] = []
    jwts: list[dict[str, Any]] = []
    for group in _field_groups(entry, body_limit):
        values = dict(group.fields)
        for name in SAML_FIELDS:
            if name in values and len(saml) < MAX_DECODED:
                cut_short = body_limit if group.truncated and name == group.fields[-1][0] else None
                saml.append(decode_saml(name, values[name], group.binding, group.source, values, cut_short))
        if group.has_own_jwts:
            for name, value in group.fields:
                if name not in SAML_FIELDS:
                    jwts.extend(_jwts_in(value, f"{group.source}, field {name}", at))
    for source, text in _texts(entry):
        jwts.extend(_jwts_in(text, source, at))
    return {"saml": saml, "jwts": jwts[:MAX_DECODED]}


def _header(headers: dict[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


def _media_type(headers: dict[str, str]) -> str:
    return _header(headers, "Content-Type").split(";")[0].strip().lower()


def _is_cut(body: str, body_limit: int) -> bool:
    return body_limit > 0 and len(body.encode("utf-8")) >= body_limit


class _Fields(NamedTuple):
    """Named fields of an entry: where, the fields, the SAML binding they would use, whether the journal
    may have cut the last one short, and whether to look for JWTs in them (else the page text is)."""

    source: str
    fields: list[tuple[str, str]]
    binding: str
    truncated: bool = False
    has_own_jwts: bool = True


def _field_groups(entry: dict[str, Any], body_limit: int) -> Iterator[_Fields]:
    if entry["query"]:
        yield _Fields("the query string", _form_fields(entry["query"]), REDIRECT_BINDING)
    body = entry["request_body"]
    if body and _media_type(entry["request_headers"]) == "application/x-www-form-urlencoded":
        yield _Fields("the request body", _form_fields(body), POST_BINDING, _is_cut(body, body_limit))
    location = _header(entry["response_headers"], "Location")
    base, _, fragment = location.partition("#")
    for part, text in (("query", base.partition("?")[2]), ("fragment", fragment)):
        if text:
            yield _Fields(f"the Location header's {part}", _form_fields(text), REDIRECT_BINDING)
    page = entry["response_body"]
    if page and _media_type(entry["response_headers"]) == "text/html":
        hidden = [
            (name, html.unescape(value), bool(closed)) for name, value, closed in _HIDDEN_FIELD.findall(page)
        ]
        if hidden:
            cut = not all(closed for _, _, closed in hidden) and _is_cut(page, body_limit)
            fields = [(name, value) for name, value, _ in hidden]
            yield _Fields("the response page's form", fields, POST_BINDING, cut, has_own_jwts=False)


def _form_fields(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:  # more fields than any SSO message comes with
        return []


def _texts(entry: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Unstructured places a JWT may sit: headers, JSON documents (walked) and other bodies."""
    for side in ("request", "response"):
        for name, value in entry[f"{side}_headers"].items():
            if name.lower() != "location":
                yield f"the {side} header {name}", value
        body = entry[f"{side}_body"]
        if body and _media_type(entry[f"{side}_headers"]) != "application/x-www-form-urlencoded":
            yield from _body_strings(body, f"the {side} body")


def _body_strings(body: str, where: str) -> list[tuple[str, str]]:
    """The strings of a JSON body with their paths, or the whole body when it is not JSON."""
    if body.lstrip()[:1] not in ("{", "["):
        return [(where, body)]
    try:
        return list(_json_strings(json.loads(body), where))
    except (ValueError, RecursionError):  # not JSON (e.g. cut short), or nested deeper than Python recurses
        return [(where, body)]


def _json_strings(value: Any, where: str, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_strings(item, where, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, where, f"{path}[{index}]")
    elif isinstance(value, str):
        yield (f"{where}, field {path}" if path else where), value


def _jwts_in(text: str, source: str, at: dt.datetime) -> list[dict[str, Any]]:
    found = []
    if "eyJ" in text:
        matches = itertools.islice(_JWT_SHAPED.finditer(text), MAX_DECODED)
        found = [decode_jwt(match.group(0), source, at) for match in matches]
    for _ in range(min(text.count(JWT_REDACTED), MAX_DECODED)):
        found.append(
            _jwt_result(
                source,
                error="A JWT here was redacted whole when it was journaled: it was not a signed JWT whose "
                "claims could be kept (for example an encrypted JWE, or a header that does not decode).",
            )
        )
    return found[:MAX_DECODED]


# --- SAML ------------------------------------------------------------------------------------------------


def decode_saml(
    name: str,
    value: str,
    binding: str,
    source: str,
    fields: dict[str, str] | None = None,
    cut_short: int | None = None,
) -> dict[str, Any]:
    """One SAML message field, decoded: the message as pretty XML, its summary, or a plain ``error``.

    ``fields`` are the other fields sent with it (``RelayState``, ``SigAlg``, ``Signature``);
    ``cut_short`` is the body limit when the journal may have cut the value short.
    """
    fields = fields or {}
    signature = fields.get("Signature")
    message: dict[str, Any] = {
        "source": source,
        "field": name,
        "binding": binding,
        "relay_state": fields.get("RelayState"),
        "sig_alg": fields.get("SigAlg"),
        "query_signature": None if signature is None else _value_state(signature),
        "error": None,
        "notes": [],
        "xml": None,
        "summary": None,
    }
    try:
        root = parse_saml_xml(name, _saml_bytes(name, value, binding, message["notes"]), MAX_MESSAGE_BYTES)
    except DecodeError as error:
        message["error"] = str(error)
        if cut_short is not None:
            message["error"] = (
                f"The {name} was cut short when it was journaled (the journal keeps the first {cut_short} "
                "bytes of each body; raise journal_body_limit to keep more), so it cannot be decoded."
            )
        return message
    message["summary"] = summarize_saml(root, message["notes"])
    message["xml"] = pretty_xml(root)
    return message


def pretty_xml(root: Any) -> str:
    from lxml import etree

    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode")


def _value_state(value: str) -> str:
    if value.strip() == REDACTED:
        return "redacted in the journal"
    return "present" if value.strip() else "empty"


def _saml_bytes(name: str, value: str, binding: str, notes: list[str]) -> bytes:
    """The XML bytes of a base64 (and, for HTTP-Redirect, deflated) SAML message field."""
    compact = re.sub(r"[\r\n\t]", "", value).strip().replace(" ", "+")  # a '+' sent unescaped reads as ' '
    if not compact:
        raise DecodeError(f"The {name} is empty.")
    if len(compact) > MAX_MESSAGE_BYTES * 4 // 3 + 4:
        raise DecodeError(f"The {name} is larger than {MAX_MESSAGE_BYTES // 1024} kB; it is not decoded.")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"The {name} is not valid base64.") from None
    looks_like_xml = raw.lstrip()[:1] == b"<"
    if binding == REDIRECT_BINDING and not looks_like_xml:
        return _inflate(name, raw)
    if binding == REDIRECT_BINDING:
        notes.append(f"The {name} was not deflated, though the HTTP-Redirect binding requires it.")
    elif not looks_like_xml:
        try:
            inflated = _inflate(name, raw)
        except DecodeError:
            return raw
        notes.append(f"The {name} was deflated, though the HTTP-POST binding sends it only base64-encoded.")
        return inflated
    return raw


def _inflate(name: str, raw: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        data = inflater.decompress(raw, MAX_MESSAGE_BYTES + 1)
    except zlib.error:
        raise DecodeError(
            f"The {name} is not valid DEFLATE data (the HTTP-Redirect binding deflates a message, then "
            "base64-encodes it)."
        ) from None
    if len(data) > MAX_MESSAGE_BYTES:
        raise DecodeError(
            f"The {name} inflates to more than {MAX_MESSAGE_BYTES // 1024} kB; it is not shown."
        )
    if not inflater.eof:
        raise DecodeError(f"The {name}'s DEFLATE data ends early: the message is incomplete.")
    return data


# --- JWT -------------------------------------------------------------------------------------------------


def _jwt_result(source: str, **values: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "source": source,
        "kind": None,
        "header": None,
        "claims": None,
        "times": {},
        "signature": None,
        "expired_at_request": None,
        "error": None,
        "notes": [],
    }
    result.update(values)
    return result


def _base64url_json(segment: str) -> Any:
    """The JSON document a base64url segment encodes, or ``None``."""
    if len(segment) > MAX_MESSAGE_BYTES * 4 // 3:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return None


def decode_jwt(token: str, source: str, at: dt.datetime) -> dict[str, Any]:
    """A compact JWT's header and claims, its time claims as UTC dates, or a plain ``error``.

    ``at`` is when the request was made: a JWT whose ``exp`` lies before it was already expired.
    """
    parts = token.split(".")
    header = _base64url_json(parts[0])
    if len(parts) == 5:
        return _jwt_result(
            source,
            kind="JWE",
            header=header if isinstance(header, dict) else None,
            error="This is an encrypted JWT (a JWE, five parts): its claims cannot be shown.",
        )
    if len(parts) != 3:
        return _jwt_result(
            source, error="This is not a JWT: a compact JWT has three parts separated by dots."
        )
    if not isinstance(header, dict):
        return _jwt_result(source, error="The JWT's header is not base64url-encoded JSON.")
    if not isinstance(header.get("alg"), str):
        return _jwt_result(source, header=header, error='The JWT\'s header names no "alg": it is not a JWS.')
    signature = {"": "none (an unsecured JWT)", REDACTED: "redacted in the journal"}.get(parts[2], "present")
    claims = _base64url_json(parts[1])
    if not isinstance(claims, dict):
        return _jwt_result(
            source,
            kind="JWS",
            header=header,
            signature=signature,
            error="The JWT's payload is not a base64url-encoded JSON object, so it has no claims to show.",
        )
    result = _jwt_result(source, kind="JWS", header=header, claims=claims, signature=signature)
    for claim in TIME_CLAIMS:
        value = claims.get(claim)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                result["times"][claim] = dt.datetime.fromtimestamp(value, dt.UTC).isoformat()
            except (OverflowError, ValueError, OSError):
                result["notes"].append(f"The {claim} claim ({value}) is not a valid time.")
    exp = claims.get("exp")
    if "exp" in result["times"]:
        result["expired_at_request"] = exp < at.timestamp()
        if result["expired_at_request"]:
            result["notes"].append("Expired at the time of the request.")
    return result
