"""Where a learner may be sent after signing in: only paths of the same tenant on this LMS.

RelayState and ``return_to`` come from the browser (or an IdP), so they are reduced to a path under
``/t/{tenant}/`` — no scheme, no host, no ``//``, no backslash, no control character — or replaced by the
default landing page. This closes the open redirect that RelayState otherwise is (SAML bindings §3.4.3).

Example::

    safe_return_path("demo", "https://evil.example/")   # '/t/demo/me'
    safe_return_path("demo", "/t/demo/courses?x=1")      # '/t/demo/courses?x=1'
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_RETURN_PATH = 1024


def default_landing(tenant_id: str) -> str:
    return f"/t/{tenant_id}/me"


def safe_return_path(tenant_id: str, candidate: str | None, lms_url: str | None = None) -> str:
    """``candidate`` if it is a path of ``tenant_id`` on this LMS (absolute URLs on ``lms_url`` too)."""
    fallback = default_landing(tenant_id)
    if not candidate or len(candidate) > MAX_RETURN_PATH:
        return fallback
    if lms_url and candidate.startswith(lms_url + "/"):
        candidate = candidate[len(lms_url) :]
    if any(ord(char) < 0x20 or char in "\\\x7f" for char in candidate):
        return fallback
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or candidate.startswith("//"):
        return fallback
    if not parts.path.startswith(f"/t/{tenant_id}/") or "/../" in parts.path or parts.path.endswith("/.."):
        return fallback
    return candidate
