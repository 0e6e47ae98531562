"""Fetching an IdP's public documents (SAML metadata, OpenID discovery, JWKS) with a short-lived cache.

Documents are fetched with httpx (timeouts, no cookies) and cached per URL for :data:`CACHE_SECONDS`;
``refresh=True`` bypasses the cache (used when a JWKS lacks the ``kid`` a token names: key rotation).

Example::

    xml = fetch_text("http://127.0.0.1:8001/t/demo/saml/metadata")
    config = fetch_json(".../.well-known/openid-configuration")
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from simulator.core.errors import SandboxError
from simulator.core.http_failures import http_failure
from simulator.core.tls import client_verify

CACHE_SECONDS = 60.0
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
MAX_DOCUMENT_BYTES = 1024 * 1024

_cache: dict[str, tuple[float, str]] = {}
_lock = threading.Lock()


class IdentityProviderUnavailable(SandboxError):
    """The IdP's metadata, discovery document or keys could not be fetched or read."""

    code = "idp_unavailable"
    http_status = 502


def clear_cache() -> None:
    """Forget every cached document (tests; a changed setting takes effect at the next fetch anyway)."""
    with _lock:
        _cache.clear()


def fetch_text(url: str, refresh: bool = False) -> str:
    """The body at ``url`` (cached for :data:`CACHE_SECONDS` unless ``refresh``)."""
    now = time.monotonic()
    if not refresh:
        with _lock:
            cached = _cache.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
    try:
        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False, verify=client_verify())
    except httpx.HTTPError as exc:
        raise IdentityProviderUnavailable(
            f"The identity provider at {url} did not answer: {http_failure(exc)}."
        ) from exc
    if response.status_code != 200:
        raise IdentityProviderUnavailable(
            f"The identity provider answered {response.status_code} for {url}; expected 200."
        )
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise IdentityProviderUnavailable(f"The document at {url} is larger than 1 MiB.")
    with _lock:
        _cache[url] = (now + CACHE_SECONDS, response.text)
    return response.text


def fetch_json(url: str, refresh: bool = False) -> dict[str, Any]:
    """The JSON object at ``url`` (cached like :func:`fetch_text`)."""
    return json_object(url, fetch_text(url, refresh=refresh))


def json_object(url: str, text: str) -> dict[str, Any]:
    """``text``, fetched from ``url``, as a JSON object; ``IdentityProviderUnavailable`` otherwise."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise IdentityProviderUnavailable(f"The document at {url} is not JSON.") from exc
    if not isinstance(document, dict):
        raise IdentityProviderUnavailable(f"The document at {url} is not a JSON object.")
    return document
