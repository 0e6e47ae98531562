"""What a request may carry: a body no larger than its kind of endpoint takes, and no NUL characters.

Every app (AMS, LMS, console) reads its requests as :class:`SandboxRequest` (:func:`install`):

- **Body size by kind of endpoint**, decided by the path (the first pattern of :data:`BODY_LIMITS`
  that matches; any other path is a browser form):

  ===============  =======  ==========================================================================
  kind             limit    endpoints
  ===============  =======  ==========================================================================
  form             64 KiB   browser forms (login, logout, store, learning and console pages), the
                            OIDC token and userinfo endpoints
  saml             1 MiB    ``/t/{t}/saml/acs``, ``/t/{t}/saml/sso``, ``/t/{t}/saml/slo``
  json             1 MiB    ``/t/{t}/api/…``, ``/t/{t}/gateway/…``, webhooks, the token hand-off API,
                            OIDC client registration, the console's ``/api/…``
  upload           8 MiB    SP metadata, scenario and conformance run results
  writeback batch  32 MiB   ``/t/{t}/writeback/records`` (up to 10,000 records a batch)
  ===============  =======  ==========================================================================

  A larger body is refused with 413 (RFC 9110 §15.5.14): one with ``Content-Length`` before it is read,
  a chunked one as soon as reading it passes the limit (werkzeug alone would cut it short at the limit
  and carry on with what it read: :class:`BoundedStream`). A form has at most :data:`MAX_FORM_FIELDS`
  fields. :data:`SAML_MESSAGE_BYTES` is also the largest SAML message read from a query string or
  inflated from DEFLATE (:mod:`simulator.core.untrusted_xml`), so a SAML message meets one limit.
- **No NUL characters** (U+0000) in a query string, a form field, a JSON string or a path parameter:
  no field needs one, and PostgreSQL cannot store one in text (a path parameter with one matches no
  route: 404).

A refusal raised while a view reads the request reaches :func:`simulator.core.web.build_app`'s handler
as :func:`refusal`; a ``page`` kind answers with its blueprint's error page, the others with
problem+json.

Example::

    body_limit("/t/acme/saml/acs").max_bytes   # 1048576
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from flask import Flask, Request, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge, UnprocessableEntity
from werkzeug.routing import UnicodeConverter, ValidationError
from werkzeug.utils import cached_property

from simulator.core.errors import SandboxError

KIB = 1024
MIB = 1024 * KIB
SAML_MESSAGE_BYTES = MIB
"""The largest SAML message read: the body at a SAML endpoint, the message in a query, once inflated."""
MAX_FORM_FIELDS = 1000
"""Fields a form (URL-encoded or multipart) may have."""
NUL = "\x00"


@dataclass(frozen=True)
class BodyLimit:
    """How large a body an endpoint takes, and whether a person (``page``) or a program reads refusals."""

    kind: str
    max_bytes: int
    page: bool
    most: str
    """Completes "The request body is larger than 64 KiB, the most …"."""

    def refusal(self) -> str:
        return f"The request body is larger than {size_text(self.max_bytes)}, the most {self.most}."


FORM = BodyLimit("form", 64 * KIB, True, "a form may send")
TOKEN_FORM = BodyLimit("form", 64 * KIB, False, "this endpoint accepts")
SAML = BodyLimit("saml", SAML_MESSAGE_BYTES, True, "a SAML message may be")
JSON = BodyLimit("json", MIB, False, "this API accepts in one request")
UPLOAD = BodyLimit("upload", 8 * MIB, False, "an upload may be")
WRITEBACK_BATCH = BodyLimit("writeback_batch", 32 * MIB, False, "a writeback batch may be")

_TENANT = r"/t/[^/]+"
BODY_LIMITS: tuple[tuple[re.Pattern[str], BodyLimit], ...] = tuple(
    (re.compile(pattern), limit)
    for pattern, limit in (
        (rf"{_TENANT}/saml/(acs|sso|slo)$", SAML),
        (rf"{_TENANT}/writeback/records$", WRITEBACK_BATCH),
        (r"/api/tenants/[^/]+/saml/service-providers$", UPLOAD),
        (r"/api/(scenario|conformance)-runs$", UPLOAD),
        (rf"{_TENANT}/(api|gateway)/", JSON),
        (rf"{_TENANT}/(commerce|catalog)/webhooks$", JSON),
        (rf"{_TENANT}/sso/token/(validate|members/)", JSON),
        (rf"{_TENANT}/oidc/register$", JSON),
        (rf"{_TENANT}/oidc/(token|userinfo)$", TOKEN_FORM),
        (r"/api/", JSON),
    )
)
"""Path patterns (matched from the path's start) and their limits; the first match wins."""


def body_limit(path: str) -> BodyLimit:
    """The body limit of the endpoint at ``path`` (``/t/acme/api/members``); a form's by default."""
    for pattern, limit in BODY_LIMITS:
        if pattern.match(path):
            return limit
    return FORM


def size_text(size: int) -> str:
    """``1048576`` → ``1 MiB``, ``65536`` → ``64 KiB``."""
    return f"{size // MIB} MiB" if size % MIB == 0 else f"{size // KIB} KiB"


def saml_message_too_large(field: str) -> str:
    """The sentence refusing a SAML message (``SAMLRequest``) over :data:`SAML_MESSAGE_BYTES`."""
    return f"The {field} is larger than {size_text(SAML_MESSAGE_BYTES)}, the most a SAML message may be."


class RequestRefused(SandboxError):
    """A request refused for what it carries, whichever view it reached."""


class BodyTooLarge(RequestRefused):
    code = "body_too_large"
    http_status = 413


class NulCharacter(RequestRefused):
    code = "validation_failed"
    http_status = 422

    def __init__(self, field: str) -> None:
        shown = field.replace(NUL, "\\u0000")
        message = "a NUL character (U+0000) is not allowed"
        errors = [{"field": shown, "message": message}]
        super().__init__(f"Invalid value for '{shown}': {message}.", errors=errors)


class _TooLarge(RequestEntityTooLarge):
    def __init__(self, error: RequestRefused) -> None:
        super().__init__(error.message)
        self.error = error


class _Unprocessable(UnprocessableEntity):
    def __init__(self, error: RequestRefused) -> None:
        super().__init__(error.message)
        self.error = error


def refusal(exc: HTTPException) -> RequestRefused:
    """What a 413 or 422 raised while reading the request refuses, as a :class:`RequestRefused`.

    werkzeug raises a bare 413 for a body over ``max_content_length`` and for a multipart form with
    more than ``max_form_parts`` parts.
    """
    error = getattr(exc, "error", None)
    if isinstance(error, RequestRefused):
        return error
    if exc.code == 413:
        limit = body_limit(request.path)
        length = request.content_length
        if request.mimetype == "multipart/form-data" and length is not None and length <= limit.max_bytes:
            return _too_many_fields()
        return BodyTooLarge(limit.refusal())
    return RequestRefused(exc.description or "The request cannot be processed.", http_status=exc.code or 422)


def answers_with_page() -> bool:
    """Is this request's refusal a page for a person (else problem+json for a program)?"""
    return body_limit(request.path).page


def _too_many_fields() -> BodyTooLarge:
    return BodyTooLarge(f"The form has more than {MAX_FORM_FIELDS:,} fields, the most a request may send.")


def _nul_field(items: Iterable[tuple[str, str]]) -> str | None:
    for name, value in items:
        if NUL in name or NUL in value:
            return name
    return None


def refuse_nul_characters(document: Any, text: bytes) -> None:
    """Raise :class:`NulCharacter` naming where ``document``, parsed from the JSON ``text``, holds a NUL.

    Only a document whose text has a ``\\u0000`` escape is searched (JSON cannot carry a raw NUL).
    """
    if b"\\u0000" in text:
        location = _nul_location(document)
        if location is not None:
            raise NulCharacter(location)


def _nul_location(document: Any) -> str | None:
    """The dotted location (``profile.city``, ``roles.0``) of the first string in ``document`` with a NUL."""
    pending: list[tuple[str, Any]] = [("", document)]  # a stack, not recursion: JSON nests ~1,000 deep
    while pending:
        location, value = pending.pop()
        if isinstance(value, str) and NUL in value:
            return location or "(body)"
        if isinstance(value, dict | list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = [(f"{location}.{key}" if location else str(key), item) for key, item in items]
            for where, _ in children:
                if NUL in where:  # in a key
                    return where
            pending.extend(reversed(children))
    return None


class BoundedStream(io.RawIOBase):
    """A body without ``Content-Length`` (chunked), read to at most ``limit`` bytes.

    werkzeug's own stream for it returns the first ``max_content_length`` bytes as if they were the whole
    body (``LimitedStream.readall`` stops at the limit without a word); here a byte past the limit
    raises 413 instead, so a cut-short body is never taken for the one that was sent.
    """

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._stream.read(len(buffer))
        except (OSError, ValueError) as exc:
            raise ClientDisconnected() from exc
        self._left -= len(data)
        if self._left < 0:
            raise RequestEntityTooLarge()
        buffer[: len(data)] = data
        return len(data)


class SandboxRequest(Request):
    """Flask's request, with its body limits taken from its path and NUL characters refused on reading.

    Refusals are raised where the view (or flask-openapi3 for it) first reads ``args``, ``form`` or the
    JSON body, so the blueprint has resolved the tenant and its error page can be drawn. After a refusal
    ``args`` and ``form`` read as empty, so an error page that looks at them draws.
    """

    @cached_property
    def body_limit(self) -> BodyLimit:
        return body_limit(self.path)

    @cached_property
    def stream(self) -> IO[bytes]:
        if self.content_length is None and "wsgi.input_terminated" in self.environ and not self.shallow:
            return BoundedStream(self.environ["wsgi.input"], self.max_content_length)
        return super().stream

    @property
    def max_content_length(self) -> int:
        return self.body_limit.max_bytes

    @property
    def max_form_memory_size(self) -> int:
        return self.body_limit.max_bytes

    @property
    def max_form_parts(self) -> int:
        return MAX_FORM_FIELDS

    @cached_property
    def args(self) -> ImmutableMultiDict[str, str]:
        args = super().args
        field = _nul_field(args.items(multi=True))
        if field is not None:
            self.__dict__["args"] = ImmutableMultiDict()
            raise _Unprocessable(NulCharacter(field))
        return args

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        urlencoded = self.mimetype == "application/x-www-form-urlencoded"
        if urlencoded and self.get_data(cache=True).count(b"&") >= MAX_FORM_FIELDS:
            self.__dict__["form"] = ImmutableMultiDict()
            raise _TooLarge(_too_many_fields())
        super()._load_form_data()
        field = _nul_field(self.form.items(multi=True))
        if field is not None:
            self.__dict__["form"] = ImmutableMultiDict()
            raise _Unprocessable(NulCharacter(field))

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        document = super().get_json(force=force, silent=silent, cache=cache)
        if document is not None:
            try:
                refuse_nul_characters(document, self.get_data(cache=True))
            except NulCharacter as error:
                raise _Unprocessable(error) from None
        return document


class TextConverter(UnicodeConverter):
    """werkzeug's default path-segment converter, matching no segment that holds a NUL character."""

    def to_python(self, value: str) -> str:
        if NUL in value:
            raise ValidationError()
        return value


def install(app: Flask) -> None:
    """Read ``app``'s requests as :class:`SandboxRequest`; call before any route is added."""
    app.request_class = SandboxRequest
    app.url_map.converters["default"] = TextConverter
    app.url_map.converters["string"] = TextConverter
