"""Redaction of secrets from what the request journal stores (applied before storage, never after).

What is redacted:

- header values of ``Authorization`` and ``Proxy-Authorization`` (the scheme is kept:
  ``Bearer [redacted]``), ``Cookie``, ``Set-Cookie``, ``X-Api-Key``, ``webhook-signature`` and any header
  whose name looks secret;
- JSON, form (``application/x-www-form-urlencoded``) and query-string fields whose names look secret
  (password, secret, token, code, api key, card number, CVC, ``Signature``…) become ``[redacted]``;
  the ``SignatureValue`` inside a base64 ``SAMLResponse``/``SAMLRequest`` is redacted in place, also
  in the hidden ``<input>`` of an auto-posting HTML page (the HTTP-POST binding's answer);
- anywhere in any text: card-number-like digit runs that pass the Luhn check (``[card redacted]``),
  JWTs and the contents of XML ``<ds:SignatureValue>`` elements (``[redacted]``).

A JWT signed in compact form (JWS, RFC 7515 §7.1: ``header.payload.signature``, the header base64url JSON
with an ``alg``) keeps its header and payload and loses only its signature (``eyJ….eyJ….[redacted]``),
wherever it appears: in a secret-named field, in ``Authorization: Bearer …`` or in free text. Without its
signature it can no longer be replayed, and its claims are what an integrator debugs. Anything else that
looks like a JWT (a JWE of five parts, a header that does not decode) becomes ``[jwt redacted]``; opaque
tokens, passwords, secrets and codes stay ``[redacted]``.

Example::

    redact_body('{"password": "hunter2"}', "application/json")   # '{"password": "[redacted]"}'
    redact_headers([("Authorization", "Bearer abc")])            # {'Authorization': 'Bearer [redacted]'}
    redact_form("id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2ln")
    # 'id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.[redacted]'
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from simulator.core.request_limits import SAML_MESSAGE_BYTES

REDACTED = "[redacted]"
CARD_REDACTED = "[card redacted]"
JWT_REDACTED = "[jwt redacted]"

SECRET_HEADERS = frozenset({"cookie", "set-cookie", "x-api-key", "webhook-signature"})
SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})
URL_HEADERS = frozenset({"location", "referer", "content-location", "refresh"})

_EXACT_SECRET_FIELDS = frozenset(
    {"code", "cardnumber", "cvc", "cvv", "cvc2", "cvv2", "pan", "signature", "passwd", "apikey"}
)
_SECRET_FIELD_PARTS = ("password", "passwd", "secret", "token", "apikey")
_SAML_MESSAGE_FIELDS = frozenset({"samlresponse", "samlrequest"})

# Both patterns start with what they match first (a digit, ``eyJ``) and check what precedes it with a
# lookbehind afterwards: a leading lookbehind or ``\b`` keeps the regex engine from skipping ahead to
# candidate positions, which made scrubbing a 12 kB SAML form several times slower.
_CARD_CANDIDATE = re.compile(r"\d(?<!\d\d)(?:[ -]?\d){12,18}(?!\d)")
_JWT = re.compile(r"eyJ(?<!\weyJ)[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_COMPACT_JWS = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.(?:[A-Za-z0-9_-]+|\[redacted\])")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/=]*")
_XML_SIGNATURE_VALUE = re.compile(
    r"(<(?:[\w.-]+:)?SignatureValue\b[^>]*>)(.*?)(</(?:[\w.-]+:)?SignatureValue\s*>)", re.DOTALL
)
_HTML_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_SAML_INPUT_NAME = re.compile(r"""\bname\s*=\s*["']?SAML(?:Response|Request)\b""", re.IGNORECASE)
_INPUT_VALUE = re.compile(r"""(\bvalue\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_FORM_PAIR = re.compile(r"(^|[&;])([^=&;]*)=([^&;]*)")
_JSONISH_STRING_PAIR = re.compile(r'"([^"\\]{1,100})"(\s*:\s*)"((?:[^"\\]|\\.)*)"?')
_JSONISH_SCALAR_PAIR = re.compile(r'"([^"\\]{1,100})"(\s*:\s*)(-?[\w.+-]+)')


def _normalised(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


@functools.lru_cache(maxsize=4096)
def is_secret_field(name: str, parent: str | None = None) -> bool:
    """Does a field called ``name`` (inside an object called ``parent``) hold a secret?"""
    key = _normalised(name)
    if key in _EXACT_SECRET_FIELDS or any(part in key for part in _SECRET_FIELD_PARTS):
        return True
    return key == "number" and parent is not None and "card" in _normalised(parent)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment card numbers."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_or_text(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return CARD_REDACTED if luhn_valid(digits) else match.group(0)


def is_jws_header(segment: str) -> bool:
    """Is ``segment`` a base64url JOSE header: a JSON object naming an ``alg`` (RFC 7515 §4.1.1)?"""
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


def _unsigned_jwt(match: re.Match[str]) -> str:
    """A JWT found in text, as stored: a JWS without its signature, anything else ``[jwt redacted]``.

    A JWS whose signature is already gone (``header.payload.`` before ``[redacted]``, or an unsecured
    ``alg: none`` JWT) holds nothing to redact and is kept, so redacting twice changes nothing.
    """
    parts = match.group(0).split(".")
    if len(parts) != 3 or not is_jws_header(parts[0]):
        return JWT_REDACTED
    return f"{parts[0]}.{parts[1]}.{REDACTED}" if parts[2] else match.group(0)


def redact_secret_value(value: str) -> str:
    """The stored form of a secret field's (or credential's) value: a compact JWS keeps its header and
    payload (:func:`_unsigned_jwt`; one already stored so stays as it is); any other value is
    ``[redacted]`` whole."""
    if value.startswith("eyJ") and _COMPACT_JWS.fullmatch(value) and is_jws_header(value.split(".", 1)[0]):
        return value.rsplit(".", 1)[0] + "." + REDACTED
    return REDACTED


def scrub_text(text: str) -> str:
    """Redact card numbers, JWT signatures and XML signature values anywhere in ``text``."""
    if "SignatureValue" in text:
        text = _XML_SIGNATURE_VALUE.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    if "eyJ" in text:
        text = _JWT.sub(_unsigned_jwt, text)
    return _CARD_CANDIDATE.sub(_card_or_text, text)


def _form_quoted(value: str) -> str:
    """``quote_plus(value)``, without its per-character loop for base64 text (the usual SAML message)."""
    if _BASE64_TEXT.fullmatch(value):
        return value.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return quote_plus(value)


def redact_saml_message(value: str) -> str:
    """Redact the signature values inside a base64 (optionally deflated) SAML message, keeping its form."""
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return scrub_text(value)
    deflated = False
    try:
        xml = raw.decode("utf-8")
    except UnicodeDecodeError:
        inflater = zlib.decompressobj(-15)
        try:
            inflated = inflater.decompress(raw, SAML_MESSAGE_BYTES + 1)
            if not inflater.eof:  # cut short, or a DEFLATE bomb: inflated no further than a message may be
                return scrub_text(value)
            xml = inflated.decode("utf-8")
            deflated = True
        except (zlib.error, UnicodeDecodeError):
            return scrub_text(value)
    if "<" not in xml:
        return scrub_text(value)
    redacted = scrub_text(xml).encode("utf-8")
    if deflated:
        compressor = zlib.compressobj(wbits=-15)
        redacted = compressor.compress(redacted) + compressor.flush()
    return base64.b64encode(redacted).decode("ascii")


def redact_form(text: str) -> str:
    """Redact secret fields of a query string or form body, leaving the rest of the text as sent."""

    def replace(match: re.Match[str]) -> str:
        separator, name, value = match.groups()
        decoded_name = unquote_plus(name)
        if is_secret_field(decoded_name):
            value = redact_secret_value(value)  # a JWT has no characters to percent-encode
        elif _normalised(decoded_name) in _SAML_MESSAGE_FIELDS:
            value = _form_quoted(redact_saml_message(unquote_plus(value)))
        return f"{separator}{name}={value}"

    return scrub_text(_FORM_PAIR.sub(replace, text))


def _redact_saml_inputs(text: str) -> str:
    """The signature values inside the SAML messages of an HTML page's ``<input>`` fields, redacted."""

    def redact_value(value: re.Match[str]) -> str:
        message = redact_saml_message(html.unescape(value.group(3)))
        return value.group(1) + value.group(2) + html.escape(message) + value.group(2)

    def redact_input(element: re.Match[str]) -> str:
        if not _SAML_INPUT_NAME.search(element.group(0)):
            return element.group(0)
        return _INPUT_VALUE.sub(redact_value, element.group(0), count=1)

    return _HTML_INPUT.sub(redact_input, text)


def _is_problem_document(value: dict[str, Any]) -> bool:
    """An RFC 9457 problem document, whose ``code`` is an error code rather than a secret."""
    return {"type", "title", "status"} <= value.keys()


def _redact_json_value(value: Any, parent: str | None = None) -> Any:
    if isinstance(value, dict):
        problem = _is_problem_document(value)
        result = {}
        for key, item in value.items():
            if problem and key == "code":
                result[key] = item
            elif is_secret_field(str(key), parent) and item is not None:
                result[key] = redact_secret_value(item) if isinstance(item, str) else REDACTED
            elif _normalised(str(key)) in _SAML_MESSAGE_FIELDS and isinstance(item, str):
                result[key] = redact_saml_message(item)
            else:
                result[key] = _redact_json_value(item, str(key))
        return result
    if isinstance(value, list):
        return [_redact_json_value(item, parent) for item in value]
    return value


def _redact_jsonish(text: str) -> str:
    """Key-based redaction for text that looks like JSON but does not parse (e.g. a malformed body)."""

    def replace_string(match: re.Match[str]) -> str:
        key, colon, value = match.groups()
        if not is_secret_field(key):
            return match.group(0)
        return f'"{key}"{colon}"{redact_secret_value(value)}"'

    def replace_scalar(match: re.Match[str]) -> str:
        key, colon, _value = match.groups()
        return f'"{key}"{colon}"{REDACTED}"' if is_secret_field(key) else match.group(0)

    return _JSONISH_SCALAR_PAIR.sub(replace_scalar, _JSONISH_STRING_PAIR.sub(replace_string, text))


def redact_body(text: str, content_type: str | None) -> str:
    """Redact a request or response body given its content type.

    JSON is parsed, redacted and written back compactly; JSON that does not parse (or nests deeper than
    Python recurses) is redacted by key pattern; form bodies keep their exact text apart from the
    redacted values.
    """
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return redact_form(text)
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            return scrub_text(json.dumps(_redact_json_value(json.loads(text)), ensure_ascii=False))
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
            return scrub_text(_redact_jsonish(text))
    return scrub_text(_redact_saml_inputs(text) if "SAMLRe" in text else text)


def _redacted_json_pieces(value: Any, parent: str | None = None) -> Iterator[str]:
    """``json.dumps(_redact_json_value(value), ensure_ascii=False)``, lazily, in pieces that never split
    a scalar: the concatenation of every piece is exactly that text."""
    if isinstance(value, dict):
        problem = _is_problem_document(value)
        yield "{"
        for index, (key, item) in enumerate(value.items()):
            yield (", " if index else "") + json.dumps(key, ensure_ascii=False) + ": "
            if problem and key == "code":
                yield json.dumps(item, ensure_ascii=False)
            elif is_secret_field(str(key), parent) and item is not None:
                yield json.dumps(redact_secret_value(item) if isinstance(item, str) else REDACTED)
            elif _normalised(str(key)) in _SAML_MESSAGE_FIELDS and isinstance(item, str):
                yield json.dumps(redact_saml_message(item), ensure_ascii=False)
            else:
                yield from _redacted_json_pieces(item, str(key))
        yield "}"
    elif isinstance(value, list):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ", "
            yield from _redacted_json_pieces(item, parent)
        yield "]"
    else:
        yield json.dumps(value, ensure_ascii=False)


_OPEN_SIGNATURE_VALUE = re.compile(r"<(?:[\w.-]+:)?SignatureValue\b[^>]*>")


def redact_body_prefix(text: str, content_type: str | None, limit: int) -> str:
    """``redact_body(text, content_type)`` cut to ``limit`` UTF-8 bytes, without redacting all of a big
    JSON body.

    A JSON document is redacted and serialised lazily (:func:`_redacted_json_pieces`) until the scrubbed
    text holds more than ``limit`` bytes. The result is exactly the full redaction cut to ``limit``:
    cutting between pieces never splits a string or a number; card numbers and JWTs never span JSON
    tokens (``,`` ``:`` and ``"`` stop both patterns), so scrubbing the prefix finds the same matches
    in it as scrubbing the whole text; and while an XML ``SignatureValue`` element (the one pattern that
    can span tokens) is still open within the kept bytes, more of the document is taken before cutting.
    Other bodies (form, text, JSON that does not parse) go through :func:`redact_body` whole.
    """
    media_type = (content_type or "").split(";")[0].strip().lower()
    first_size = 2 * limit + 256
    if (
        media_type == "application/x-www-form-urlencoded"
        or text.lstrip()[:1] not in ("{", "[")
        or len(text) < first_size  # the lazy path below would redact all of it anyway
    ):
        return _cut_bytes(redact_body(text, content_type), limit)
    try:
        document = json.loads(text)
        return _redacted_json_prefix(document, limit, first_size)
    except (ValueError, RecursionError):  # as in redact_body
        return _cut_bytes(scrub_text(_redact_jsonish(text)), limit)


def _redacted_json_prefix(document: Any, limit: int, first_size: int) -> str:
    """The redaction of a parsed JSON ``document`` cut to ``limit`` bytes (see :func:`redact_body_prefix`)."""
    collected: list[str] = []
    size, wanted = 0, first_size
    for piece in _redacted_json_pieces(document):
        collected.append(piece)
        size += len(piece)
        if size < wanted:
            continue
        scrubbed = scrub_text("".join(collected))
        if len(scrubbed.encode("utf-8")) > limit and not _open_signature_value_before(scrubbed, limit):
            return _cut_bytes(scrubbed, limit)
        wanted *= 2
    return _cut_bytes(scrub_text("".join(collected)), limit)


def _open_signature_value_before(text: str, limit: int) -> bool:
    """Does an XML ``SignatureValue`` element start within ``text[:limit]`` without closing in ``text``?"""
    for opening in _OPEN_SIGNATURE_VALUE.finditer(text):
        if opening.start() >= limit:
            return False
        if not _XML_SIGNATURE_VALUE.match(text, opening.start()):
            return True
    return False


def _cut_bytes(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def redact_url(url: str) -> str:
    """A URL with the secret fields of its query and fragment redacted (e.g. an OAuth ``code``)."""
    base, hash_mark, fragment = url.partition("#")
    path, question_mark, query = base.partition("?")
    redacted = scrub_text(path) + question_mark + (redact_form(query) if question_mark else "")
    return redacted + hash_mark + (redact_form(fragment) if hash_mark else "")


def redact_header(name: str, value: str) -> str:
    """The value of header ``name`` as it may be stored."""
    lowered = name.lower()
    if lowered in SCHEME_HEADERS:
        scheme, space, credentials = value.strip().partition(" ")
        return f"{scheme} {redact_secret_value(credentials.strip())}" if space else REDACTED
    if lowered in SECRET_HEADERS:
        return REDACTED
    if is_secret_field(lowered):
        return redact_secret_value(value.strip())
    if lowered in URL_HEADERS:
        return redact_url(value)
    return scrub_text(value)


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers as a name → value mapping, redacted (repeated headers are joined with ', ')."""
    result: dict[str, str] = {}
    for name, value in headers:
        redacted = redact_header(name, value)
        result[name] = f"{result[name]}, {redacted}" if name in result else redacted
    return result
