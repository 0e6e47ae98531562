"""What every sandbox app shares: the app skeleton, errors as problem+json, health, OpenAPI, tenancy.

Each app (AMS, LMS, console) is built by :func:`build_app`; its views only translate HTTP and call
services. Tenant-scoped views hang off :func:`tenant_blueprint` (``/t/<tenant>/…``) and take the tenant
from :func:`current_tenant`. A URL of a tenant that does not exist, and the root of the AMS and LMS
(:func:`install_root_page`), answer a browser with a page (:mod:`simulator.core.pages`) and any other
client with JSON (:func:`wants_html_page`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, abort, after_this_request, current_app, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from flask_openapi3 import APIBlueprint, Info, OpenAPI, Tag
from itsdangerous import URLSafeTimedSerializer
from pydantic import BaseModel, Field, ValidationError
from werkzeug.exceptions import HTTPException

from simulator import __version__
from simulator.config import SandboxConfig
from simulator.core import json_text, pages, request_limits, secrets_at_rest
from simulator.core.clock import wall_now
from simulator.core.db import Database
from simulator.core.errors import (
    PROBLEM_CONTENT_TYPE,
    BadRequest,
    Forbidden,
    SandboxError,
    Unauthorized,
    ValidationFailed,
    validation_failed_from_pydantic,
)
from simulator.core.journal import JournalRecord, record_request
from simulator.core.key_attempts import KeyGuard, TooManyFailedKeys
from simulator.core.middleware import TENANT_ENVIRON_KEY, request_tenant, split_tenant_path
from simulator.core.models import Tenant
from simulator.core.openapi_links import document_links
from simulator.core.openapi_problems import document_problems
from simulator.core.tenancy import Principal, authenticate, authorize_tenant, bearer_key, tenant_not_found

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")

BEARER_SECURITY = {"bearer": {"type": "http", "scheme": "bearer", "description": "Admin or tenant API key"}}


@dataclass
class AppState:
    """Per-app singletons, kept in ``app.extensions['sandbox']``."""

    name: str
    config: SandboxConfig
    db: Database
    admin_key: str
    key_guard: KeyGuard
    title: str = ""


def app_state() -> AppState:
    return current_app.extensions["sandbox"]


def database() -> Database:
    return app_state().db


_REQUEST_SCHEMAS: dict[type[BaseModel], dict[str, Any]] = {}


class RequestParameters(BaseModel):
    """The base of every query-string and form model a view declares.

    flask-openapi3 asks such a model for its JSON schema on every request (to find its list fields), and
    pydantic builds the schema anew each time: about 0.3 ms per request. A class's schema never changes,
    so that argument-less call is answered from a per-class cache; the OpenAPI document passes arguments
    and is built as before. Callers only read the returned dict.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        schema = _REQUEST_SCHEMAS.get(cls)
        if schema is None:
            schema = _REQUEST_SCHEMAS[cls] = super().model_json_schema()
        return schema


class TenantPath(BaseModel):
    tenant: str = Field(..., description="Tenant id (the first path segment after /t/).", max_length=63)


class Health(BaseModel):
    app: str
    version: str
    database: str = Field(..., description="'ok' when the database answers, else 'unavailable'.")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    code: str = Field(..., description="Stable machine-readable error code.")
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its signing serializer built once per set of secret keys.

    Flask builds a serializer on every request, signed in or not, and itsdangerous serialises a probe
    document to build one; the cookies, their signatures and their lifetime are Flask's own.
    """

    def __init__(self) -> None:
        self._serializer: tuple[tuple[str | bytes | None, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            self._serializer = cached
        return cached[1]


class SandboxJSONProvider(DefaultJSONProvider):
    """Flask's JSON, keys kept in their order, and request bodies parsed by :func:`json_text.loads`.

    A body nested too deeply is then invalid JSON like any other (``request.get_json(silent=True)`` is
    ``None``), never a ``RecursionError``.
    """

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json_text.loads(s, **kwargs)


def problem_response(error: SandboxError) -> Response:
    response = jsonify(error.to_problem(instance=request.path if request else None))
    response.status_code = error.http_status
    response.mimetype = PROBLEM_CONTENT_TYPE
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


JSON_BODY_REQUIRED = "The request body must be JSON (Content-Type: application/json)."
_WHOLE_BODY_ERRORS = frozenset({"model_type", "model_attributes_type", "dataclass_type", "dict_type"})


def _no_json_body(exc: ValidationError) -> bool:
    """Did validation fail because the request carried no JSON document at all?

    flask-openapi3 validates a view's body model against ``request.get_json(silent=True)``, which is
    ``None`` when the body is missing, not JSON, or not declared JSON.
    """
    return any(
        not err["loc"] and err["type"] in _WHOLE_BODY_ERRORS and err.get("input") is None
        for err in exc.errors(include_url=False)
    )


def _parses(body: bytes) -> bool:
    try:
        json_text.loads(body)
    except ValueError:
        return False
    return True


def _validation_error(exc: ValidationError) -> Response:
    """flask-openapi3's validation failures as problem+json, never naming the model classes.

    A body that is not declared JSON answers 415 (RFC 9110 §15.5.16), a body declared JSON that does
    not parse 400 ``invalid_json``, a missing body 422; anything else names each offending field.
    """
    if _no_json_body(exc):
        has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding") == "chunked"
        if not request.is_json and (has_body or request.mimetype):
            return problem_response(
                SandboxError(JSON_BODY_REQUIRED, code="unsupported_media_type", http_status=415)
            )
        if has_body and not _parses(request.get_data(cache=True)):
            return problem_response(BadRequest("The request body is not valid JSON.", code="invalid_json"))
        return problem_response(
            ValidationFailed(
                "The request needs a JSON object as its body.",
                errors=[{"field": "(body)", "message": "a JSON object is required"}],
            )
        )
    return problem_response(validation_failed_from_pydantic(exc))


def validated_body(model: type[ModelT]) -> ModelT:
    """The request's JSON body as ``model``, refused as a declared ``body`` is (415, 400 or 422).

    For a view that also takes a body other than JSON, and so cannot declare ``body`` (flask-openapi3
    refuses every other content type before the view runs).
    """
    try:
        return model.model_validate(request.get_json(silent=True))
    except ValidationError as exc:
        abort(_validation_error(exc))


def _refuse_unknown_tenant() -> None:
    """A ``/t/{tenant}`` URL of a tenant that does not exist is a 404, whatever its route and method.

    Runs before routing errors are raised, so a method a route does not take (405), a path no route has
    and Flask's own ``OPTIONS`` answer all give way to :func:`tenant_not_found_response`. The tenant is
    the one the middleware read, so this costs no query for a tenant that exists.
    """
    target = split_tenant_path(request.path)
    if target is not None and request_tenant(request.environ, database(), target[0]) is None:
        abort(tenant_not_found_response(target[0]))


def _handle_http_exception(exc: HTTPException) -> Response:
    if exc.response is not None:  # already a response (e.g. abort(validation_error_callback(...)))
        return exc.response
    code = (exc.name or "error").lower().replace(" ", "_")
    return problem_response(SandboxError(exc.description or exc.name, code=code, http_status=exc.code or 500))


def _handle_refused_request(exc: HTTPException) -> Response:
    """A body too large or input refused while a view read it (:mod:`simulator.core.request_limits`).

    Registered by status, so it comes before any blueprint's handlers: a browser endpoint answers with
    its blueprint's error page for the refusal, any other with problem+json.
    """
    if exc.response is not None:
        return exc.response
    error = request_limits.refusal(exc)
    if request_limits.answers_with_page():
        return current_app.handle_user_exception(error)
    return problem_response(error)


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response(
        SandboxError(
            "The sandbox hit an unexpected error; details are in its log.",
            code="internal_error",
            http_status=500,
        )
    )


def build_app(
    name: str, title: str, description: str, config: SandboxConfig, db: Database | None = None
) -> OpenAPI:
    """A Flask app with the sandbox's error handling, ``/healthz``, ``/openapi.json`` and ``/docs``."""
    app = OpenAPI(
        f"simulator.{name}",
        info=Info(title=title, version=__version__, description=description),
        security_schemes=BEARER_SECURITY,
        doc_prefix="/docs",
        doc_url="/openapi.json",
        validation_error_callback=_validation_error,
    )
    app.config["SECRET_KEY"] = config.flask_secret_key()
    request_limits.install(app)  # body limits per kind of endpoint, no NUL characters
    app.session_interface = CookieSessionInterface()
    app.json = SandboxJSONProvider(app)
    db = db or Database(config.resolved_database_url)
    secrets_at_rest.configure(config, db)  # refuses to serve with a key that opens no stored secret
    app.extensions["sandbox"] = AppState(
        name=name,
        config=config,
        db=db,
        admin_key=config.effective_admin_key(),
        key_guard=KeyGuard(db, config),
        title=title,
    )
    app.before_request(_refuse_unknown_tenant)
    app.register_error_handler(SandboxError, problem_response)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(413, _handle_refused_request)
    app.register_error_handler(422, _handle_refused_request)
    app.register_error_handler(Exception, _handle_unexpected)

    health_tag = Tag(name="health", description="Liveness and readiness")

    @app.get("/healthz", tags=[health_tag], responses={200: Health, 503: Health})
    def healthz() -> tuple[dict[str, str], int]:
        """Is this app up, and does it reach its database?"""
        ok = database().ping()
        body = {"app": name, "version": __version__, "database": "ok" if ok else "unavailable"}
        return body, 200 if ok else 503

    @app.get("/openapi.json", doc_ui=False)
    def openapi_document() -> dict[str, Any]:
        return document_links(document_problems(app.api_doc, api_prefixes=API_PATH_PREFIXES))

    return app


def tenant_blueprint(
    name: str, import_name: str, tags: list[Tag], prefix: str = "", secured: bool = False
) -> APIBlueprint:
    """A blueprint under ``/t/<tenant>{prefix}`` whose views see the tenant via :func:`current_tenant`.

    ``secured`` blueprints require the tenant's API key (or the admin key) on every request.
    """
    blueprint = APIBlueprint(
        name,
        import_name,
        url_prefix=f"/t/<tenant>{prefix}",
        abp_tags=tags,
        abp_security=[{"bearer": []}] if secured else None,
        abp_responses={"404": Problem},
    )

    @blueprint.before_request
    def _resolve_tenant() -> None:
        tenant_id = (request.view_args or {}).get("tenant", "")
        g.tenant = resolve_tenant(tenant_id)
        if secured:
            with database().read() as session:
                g.principal = checked_key(
                    lambda: authenticate(session, request.headers.get("Authorization"), app_state().admin_key)
                )
                authorize_tenant(session, g.principal, tenant_id)

    return blueprint


def resolve_tenant(tenant_id: str) -> Tenant:
    """The request's tenant (read once per request by the middleware); 404 when there is none.

    The 404 is :func:`tenant_not_found_response`, raised past the blueprints' own error pages.
    """
    snapshot = request_tenant(request.environ, database(), tenant_id)
    if snapshot is None:
        abort(tenant_not_found_response(tenant_id))
    return snapshot.tenant


API_PATH_PREFIXES = ("/api/", "/gateway/")
"""Paths under ``/t/{tenant}`` that answer JSON, whatever the client accepts."""


def wants_html_page() -> bool:
    """Should this request get an HTML page rather than JSON?

    Only when the client prefers ``text/html`` to JSON (browsers do; ``*/*``, no ``Accept`` and
    ``Accept: application/json`` do not) and the path is not an API path.
    """
    target = split_tenant_path(request.path)
    if target is not None and target[1].startswith(API_PATH_PREFIXES):
        return False
    offered = ["application/json", "application/problem+json", "text/html"]
    return request.accept_mimetypes.best_match(offered) == "text/html"


def tenant_not_found_response(tenant_id: str) -> Response:
    """404 for a URL of a tenant that does not exist: a page for a browser, else problem+json."""
    if not wants_html_page():
        return problem_response(tenant_not_found(tenant_id))
    state = app_state()
    html = pages.no_such_tenant_html(tenant_id, state.title, state.config.console_url)
    return Response(html, status=404, mimetype="text/html", headers={"Cache-Control": "no-store"})


def install_root_page(app: Flask) -> None:
    """Answer ``/`` with where to go: a page for a browser, else the same links as JSON."""

    @app.get("/", doc_ui=False)
    def root_page() -> Response:
        state = app_state()
        console_url = state.config.console_url
        if wants_html_page():
            return Response(pages.root_html(state.title, console_url), mimetype="text/html")
        return jsonify(
            {
                "app": state.name,
                "version": __version__,
                "tenant_pages": "/t/{tenant}/",
                "demo": pages.DEMO_TENANT_PATH,
                "console": console_url,
                "docs": "/docs",
                "openapi": "/openapi.json",
            }
        )


def current_tenant() -> Tenant:
    return g.tenant


def require_principal() -> Principal:
    """The caller of a control-plane view (raises 401 without a valid key)."""
    if "principal" not in g:
        with database().read() as session:
            g.principal = checked_key(
                lambda: authenticate(session, request.headers.get("Authorization"), app_state().admin_key)
            )
    return g.principal


def checked_key(check: Callable[[], T]) -> T:
    """``check()`` of the request's API key, guarded against guessing (:mod:`simulator.core.key_attempts`).

    A client locked out by its wrong keys is refused (429) before ``check`` runs; an ``Unauthorized`` from
    ``check`` counts against the client. Both refusals are journaled (:func:`_journal_key_refusal`).
    """
    key = bearer_key(request.headers.get("Authorization"))
    if key is None:
        return check()
    guard = app_state().key_guard
    client = request.remote_addr or ""
    try:
        guard.refuse_if_locked(client, key)
        try:
            return check()
        except Unauthorized:
            raise guard.failed(client, key, request.path) from None
    except (Unauthorized, TooManyFailedKeys):
        after_this_request(_journal_key_refusal)
        raise


def _journal_key_refusal(response: Response) -> Response:
    """Journal a refused key under the URL's tenant, unless the request middleware journals the request
    anyway (AMS and LMS URLs); a URL without a tenant leaves only the log line."""
    tenant_id = (request.view_args or {}).get("tenant")
    if isinstance(tenant_id, str) and TENANT_ENVIRON_KEY not in request.environ:
        state = app_state()
        record = JournalRecord(
            at=wall_now(),
            app=state.name,
            method=request.method,
            path=request.path,
            query=request.query_string.decode(errors="replace"),
            request_headers=list(request.headers.items()),
            status=response.status_code,
            response_headers=list(response.headers.items()),
            response_body=response.get_data(),
            remote_addr=request.remote_addr,
        )
        try:
            record_request(state.db, tenant_id, record, state.config.journal_body_limit)
        except Exception:  # the journal must never break a request
            log.exception("could not journal a refused key on %s", request.path)
    return response


def authorized_tenant_id(tenant_id: str) -> str:
    """``tenant_id``, once the caller's key is known to open it (else 401, or 404 as if it did not exist)."""
    principal = require_principal()
    with database().read() as session:
        authorize_tenant(session, principal, tenant_id)
    return tenant_id


def require_admin() -> None:
    """Refuse (403) any caller but the holder of the admin key."""
    if not require_principal().is_admin:
        raise Forbidden("Only the admin key may do this.", code="admin_key_required")


def created(body: Any, location: str | None = None) -> tuple[Any, int, dict[str, str]]:
    return body, 201, ({"Location": location} if location else {})


def no_content() -> Response:
    return Response(status=204)


def register_blueprints(app: Flask, *blueprints: Any) -> None:
    for blueprint in blueprints:
        app.register_api(blueprint)
