"""Each deliberately broken SP of conformance/broken lets exactly its own attack through, offline; and
the SPs are served over real HTTP without leaving a thread behind."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lxml import etree

from conformance.broken import FLAWS, create_app
from conformance.broken.server import running_sp
from tests.conformance.broken_sp_support import BASE, Sp, commented_name_id, minutes, replay
from tests.sso import saml_attacks as attacks
from tests.sso.peers import PeerServer
from tests.sso.saml_attacks import TestIdp, encode, new_id

# --- each flaw lets exactly its own attack through ---------------------------------------------------


def _posted_twice(sp: Sp) -> Any:
    message = encode(sp.idp.signed_response(sp.spec()))
    sp.post(message)
    return replay(sp, message)


@dataclass(frozen=True)
class Attack:
    flaw: str
    run: Callable[[Sp], Any]
    flawed_sign_in: str
    strict_sign_in: str | None = None


ATTACKS = {
    "unsigned": Attack(
        "skip-signature", lambda sp: sp.post(sp.idp.response_xml(sp.spec(name_id="M666"))), "M666"
    ),
    "another audience": Attack(
        "ignore-audience",
        lambda sp: sp.post(sp.idp.signed_response(sp.spec(audience="https://other-sp.test/md"))),
        "M1001",
    ),
    "replay": Attack("no-replay-cache", _posted_twice, "M1001"),
    "evil assertion before the signed one": Attack(
        "xsw", lambda sp: sp.post(attacks.wrap_evil_before(sp.idp.signed_response(sp.spec()), "evil")), "evil"
    ),
    "comment inside the NameID": Attack(
        "truncate-nameid",
        lambda sp: sp.post(commented_name_id(sp)),
        "victim@x.test",
        "victim@x.test.evil.test",
    ),
    "expired": Attack(
        "ignore-time",
        lambda sp: sp.post(sp.idp.signed_response(sp.spec(not_on_or_after=minutes(-60)))),
        "M1001",
    ),
    "unsolicited": Attack(
        "accept-unsolicited",
        lambda sp: sp.post(sp.idp.signed_response(sp.spec(in_response_to=None))),
        "M1001",
    ),
}


def test_every_flaw_has_its_attack() -> None:
    assert sorted(attack.flaw for attack in ATTACKS.values()) == sorted(set(FLAWS) - {"none"})


@pytest.mark.parametrize("flaw", FLAWS)
@pytest.mark.parametrize("attack", ATTACKS)
def test_flaw_lets_exactly_its_attack_through(make_sp: Callable[..., Sp], flaw: str, attack: str) -> None:
    sp = make_sp(flaw)
    expected = ATTACKS[attack]
    response = expected.run(sp)
    if expected.flaw == flaw:
        assert response.status_code == 302
        assert sp.signed_in_as() == expected.flawed_sign_in
    else:
        assert response.status_code == (302 if expected.strict_sign_in else 403)
        assert sp.signed_in_as() == expected.strict_sign_in


@pytest.mark.parametrize("flaw", FLAWS)
def test_every_flaw_still_accepts_an_honest_response(make_sp: Callable[..., Sp], flaw: str) -> None:
    make_sp(flaw).sign_in()


def test_accept_unsolicited_still_refuses_an_unknown_in_response_to(make_sp: Callable[..., Sp]) -> None:
    sp = make_sp("accept-unsolicited")
    assert sp.post(sp.idp.signed_response(sp.spec(in_response_to=new_id()))).status_code == 403


def test_ignore_time_still_refuses_a_replay(make_sp: Callable[..., Sp]) -> None:
    sp = make_sp("ignore-time")
    message = encode(sp.idp.signed_response(sp.spec(not_on_or_after=minutes(-60)), where="response"))
    assert sp.post(message).status_code == 302
    assert replay(sp, message).status_code == 403


def test_unknown_flaw_is_refused(idp: TestIdp) -> None:
    with pytest.raises(ValueError, match="Unknown flaw"):
        create_app("sloppy", BASE, idp.metadata())


# --- served over HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def idp_metadata_url(idp: TestIdp) -> Iterator[str]:
    peers = PeerServer().start()
    yield peers.put("idp-metadata.xml", idp.metadata())
    peers.stop()


def test_running_sp_serves_on_a_free_port_and_stops(idp_metadata_url: str) -> None:
    threads_before = threading.active_count()
    with running_sp("none", idp_metadata_url) as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        assert httpx.get(f"{base_url}/healthz").status_code == 200
        metadata = etree.fromstring(httpx.get(f"{base_url}/metadata").content)
        assert metadata.get("entityID") == f"{base_url}/metadata"
        login = httpx.get(f"{base_url}/login")
        assert login.status_code == 302
        assert login.headers["Location"].startswith("https://idp.test/sso?SAMLRequest=")
    assert threading.active_count() == threads_before
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/healthz")
