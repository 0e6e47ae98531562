"""Why an HTTP call failed, as a short phrase a person can read (never an exception's class name).

httpx, http.client and the socket layer each raise their own exceptions, with texts such as
``[Errno 111] Connection refused``; :func:`http_failure` names the cause in words, looking through the
chain of exceptions (httpx wraps httpcore's, which wraps the socket's). The exception itself belongs in
the log.

Example::

    except httpx.HTTPError as exc:
        raise Unavailable(f"The LMS at {url} did not answer: {http_failure(exc)}.") from exc
    # The LMS at http://127.0.0.1:8002/t/acme/courses did not answer: the connection was refused.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Iterator

import httpx

_PHRASES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (ConnectionRefusedError, "the connection was refused"),
    (socket.gaierror, "its host name does not resolve"),
    (ssl.SSLCertVerificationError, "its TLS certificate is not trusted"),
    (ssl.SSLError, "the TLS handshake failed"),
    (httpx.ConnectTimeout, "the connection timed out"),
    ((httpx.TimeoutException, TimeoutError), "no answer came in time"),
    (
        (ConnectionResetError, BrokenPipeError, httpx.RemoteProtocolError, http.client.HTTPException),
        "the connection broke off before a complete answer",
    ),
    ((httpx.UnsupportedProtocol, httpx.InvalidURL), "the URL is not usable"),
    (httpx.TooManyRedirects, "it redirected too many times"),
    (httpx.DecodingError, "its answer could not be decoded"),
    ((httpx.ConnectError, OSError), "no connection could be made"),
    (httpx.TransportError, "the connection failed"),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def http_failure(exc: BaseException) -> str:
    """``"the connection was refused"``, ``"no answer came in time"``, … (``"the request failed"``)."""
    causes = list(_chain(exc))
    for kinds, phrase in _PHRASES:
        if any(isinstance(cause, kinds) for cause in causes):
            return phrase
    return "the request failed"
