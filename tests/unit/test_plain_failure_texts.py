"""The phrases and sentences that stand in for library exceptions in what a person reads: why an HTTP
call failed (:mod:`simulator.core.http_failures`) and why XML from outside was not read
(:mod:`simulator.core.untrusted_xml`)."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import httpx
import pytest

from simulator.core.http_failures import http_failure
from simulator.core.untrusted_xml import UnreadableXml, parse_untrusted
from simulator.scenario.target import free_ports

# --- HTTP failures --------------------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    return free_ports(1)[0]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def failure_of(call: object) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_a_refused_connection_is_named_as_such(closed_port: int) -> None:
    failure = failure_of(lambda: httpx.get(f"http://127.0.0.1:{closed_port}/", timeout=2))

    assert isinstance(failure, httpx.ConnectError)
    assert http_failure(failure) == "the connection was refused"


def test_a_refused_connection_through_http_client_reads_the_same(closed_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", closed_port, timeout=2)

    failure = failure_of(lambda: connection.request("GET", "/"))

    assert http_failure(failure) == "the connection was refused"


def test_a_server_that_never_answers_is_a_timeout(silent_port: int) -> None:
    failure = failure_of(lambda: httpx.get(f"http://127.0.0.1:{silent_port}/", timeout=0.2))

    assert http_failure(failure) == "no answer came in time"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://[::1/x"])
def test_a_url_httpx_cannot_use_is_named_as_such(url: str) -> None:
    assert http_failure(failure_of(lambda: httpx.get(url, timeout=2))) == "the URL is not usable"


def test_an_unresolvable_host_name_is_named_as_such() -> None:
    failure = httpx.ConnectError("[Errno -2] Name or service not known")
    failure.__cause__ = socket.gaierror(-2, "Name or service not known")

    assert http_failure(failure) == "its host name does not resolve"


def test_no_phrase_names_a_class_or_an_error_number(closed_port: int) -> None:
    phrase = http_failure(failure_of(lambda: httpx.get(f"http://127.0.0.1:{closed_port}/", timeout=2)))

    assert "Error" not in phrase and "Errno" not in phrase and "111" not in phrase


# --- XML from outside -----------------------------------------------------------------------------------

BOMB = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><r>&b;</r>'
)


@pytest.mark.parametrize(
    "document",
    [
        BOMB.encode(),
        BOMB.replace('<?xml version="1.0"?>', "").encode("utf-16"),
        b"<!DOCTYPE r><r/>",
        b'<!doctype r SYSTEM "http://evil.example/r.dtd"><r/>',
    ],
    ids=["entity-bomb", "utf-16-bomb", "bare-doctype", "external-dtd"],
)
def test_a_dtd_or_entities_are_refused_unparsed(document: bytes) -> None:
    with pytest.raises(UnreadableXml) as refused:
        parse_untrusted(document, "The metadata")

    assert str(refused.value) == "The metadata declares a DTD or entities, which are not allowed."


@pytest.mark.parametrize(
    ("document", "sentence"),
    [
        ("<a><b></a>", "The SAMLResponse is not well-formed XML (line 1, column 11)."),
        ("<a>\n  <b>\n</a>", "The SAMLResponse is not well-formed XML (line 3, column 5)."),
        (" \n", "The SAMLResponse is empty."),
    ],
)
def test_xml_that_is_not_well_formed_is_placed_by_line_and_column(document: str, sentence: str) -> None:
    with pytest.raises(UnreadableXml) as refused:
        parse_untrusted(document, "The SAMLResponse")

    assert str(refused.value) == sentence


def test_well_formed_xml_is_read_with_its_comments() -> None:
    root = parse_untrusted(b"<a><!-- kept --><b>text</b></a>", "The document")

    assert root.findtext("b") == "text"
    assert len(root) == 2  # the comment, then b
