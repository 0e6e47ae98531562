"""Where a learner may be sent after signing in: only paths of the same tenant on this LMS.

RelayState and ``return_to`` come from the browser (or an IdP), so they are reduced to the normalised path
under ``/t/{tenant}/`` a browser would follow (:func:`simulator.core.local_redirects.tenant_path`: no
scheme, no host, no backslash, no control character, no encoded slash or dot, dot segments removed) or
replaced by the default landing page. This closes the open redirect that RelayState otherwise is (SAML
bindings §3.4.3), across tenants too: ``/t/demo/%2e%2e/other/me`` is not a path of ``demo``.

Example::

    safe_return_path("demo", "https://evil.example/")     # '/t/demo/me'
    safe_return_path("demo", "/t/demo/courses?x=1")        # '/t/demo/courses?x=1'
    safe_return_path("demo", "/t/demo/a/../courses")       # '/t/demo/courses'
"""

from __future__ import annotations

from simulator.core.local_redirects import tenant_path

MAX_RETURN_PATH = 1024


def default_landing(tenant_id: str) -> str:
    return f"/t/{tenant_id}/me"


def safe_return_path(tenant_id: str, candidate: str | None, lms_url: str | None = None) -> str:
    """The normalised path of ``tenant_id`` that ``candidate`` names (absolute URLs on ``lms_url`` too)."""
    if candidate and lms_url and candidate.startswith(lms_url + "/"):
        candidate = candidate[len(lms_url) :]
    return tenant_path(tenant_id, candidate, MAX_RETURN_PATH) or default_landing(tenant_id)
