"""Redirect targets a request may name: reduced to a normalised path of one tenant, or refused.

A browser resolves a ``Location`` the WHATWG URL way: it drops tabs and newlines, reads ``\\`` as ``/``,
treats ``%2e`` as a dot in a dot segment and then removes dot segments (RFC 3986 §5.2.4). So a target is
checked as the browser will read it and the *normalised* path is what we send, never the raw input:

- no control character or backslash, raw or percent-encoded; no scheme, no host, no empty segment (``//``);
- no encoded slash or dot (``%2f``, ``%2e``) and no double encoding (``%252e``): these mean one thing to a
  browser and another to a server, and no page of ours needs them;
- after RFC 3986 §5.2.4 dot-segment removal the path MUST start with ``/t/{tenant_id}/`` (tenant ids are
  lower case and compared exactly, so ``/t/Acme/`` is not ``/t/acme/``).

The query string and fragment are kept as sent (a signed SAML redirect is verified over those octets).

Example::

    tenant_path("acme", "/t/acme/courses/../learning?tab=2")   # '/t/acme/learning?tab=2'
    tenant_path("acme", "/t/acme/%2e%2e/other/me")             # None
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

PATH_SAFE = "/!$&'()*+,;=:@"
"""Characters of an RFC 3986 §3.3 path kept as they are when the normalised path is encoded again."""


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path: ``/a/b/../c/./d`` → ``/a/c/d`` (``/a/b/..`` → ``/a/``)."""
    output: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and output:
                output.pop()
            if index == len(segments) - 1:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output)


def tenant_path(tenant_id: str, candidate: str | None, max_chars: int | None = None) -> str | None:
    """The normalised ``/t/{tenant_id}/…`` target ``candidate`` leads a browser to, or ``None``.

    ``max_chars`` bounds ``candidate`` (a pending sign-on URL with a SAML request in it can be long).
    """
    if not candidate or (max_chars is not None and len(candidate) > max_chars):
        return None
    if any(_is_control(char) or char == "\\" for char in candidate):
        return None
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    try:
        decoded = unquote(parts.path, errors="strict")
    except UnicodeDecodeError:
        return None
    if unquote(decoded) != decoded:  # double encoding: decoding again would change it
        return None
    if any(_is_control(char) or char == "\\" for char in decoded) or "//" in decoded:
        return None
    if decoded.count("/") != parts.path.count("/") or decoded.count(".") != parts.path.count("."):
        return None  # an encoded slash or dot
    path = remove_dot_segments(decoded)
    if not path.startswith(f"/t/{tenant_id}/"):
        return None
    target = quote(path, safe=PATH_SAFE)
    if parts.query:
        target += f"?{parts.query}"
    if parts.fragment:
        target += f"#{parts.fragment}"
    return target
