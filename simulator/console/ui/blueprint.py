"""The console UI's one blueprint, its security headers and its error pages.

Every page module (``tenants``, ``journal``, ``writeback``, …) adds its routes to :data:`ui`; the
package's :func:`simulator.console.ui.install` registers it on the console app. A page never gains a
capability the control API lacks: it calls the same service functions the API views call.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, render_template
from werkzeug.exceptions import HTTPException

from simulator.core.errors import SandboxError

log = logging.getLogger(__name__)

ui = Blueprint(
    "ui", __name__, template_folder="templates", static_folder="static", static_url_path="/ui-static"
)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@ui.after_app_request
def _security_headers(response: Response) -> Response:
    """Every page of the console (and its API answers) carries the security headers; pages are not cached."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("ui/error.html", title=title, message=message), status


@ui.errorhandler(SandboxError)
def _sandbox_error(error: SandboxError) -> tuple[str, int]:
    titles = {
        401: "Sign in needed",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        422: "Not valid",
    }
    return error_page(error.http_status, titles.get(error.http_status, "Error"), error.message)


@ui.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    if status == 404:
        return error_page(404, "Not found", "There is no such page, or your key does not open it.")
    return error_page(status, error.name, error.description or error.name)


@ui.errorhandler(Exception)
def _unexpected(error: Exception) -> tuple[str, int]:
    log.exception("unhandled error on a console page")
    return error_page(
        500, "Something went wrong", "The console hit an unexpected error; details are in its log."
    )
