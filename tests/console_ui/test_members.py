"""The console's members, orders and enrollments pages, as a person reads them.

A real purchase goes through the AMS API; the outbox messages it and the LMS completion write (the
purchase webhook, the CE writeback) are delivered to the other app's test client with their real
signatures, as the worker would deliver them over HTTP. The pages are then read as text and tables.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from simulator.console.ui import members as member_pages
from simulator.core.clock import wall_now
from simulator.core.delivery import claim_due_messages, post_message, record_answer
from simulator.lms.sso.saml import idp as lms_idp
from tests.console_ui.conftest import UiSession, text_of
from tests.sso.sp_support import form_action_and_fields

CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
ALEX = "active.member@demo.test"


def visible(page: str) -> str:
    """What a person reads: the page's text with character references resolved."""
    return html.unescape(text_of(page))


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The body rows of table ``table_id``, each as the visible text of its cells."""
    table = re.search(rf'<table id="{table_id}".*?</table>', page, re.S)
    assert table, f"no table {table_id}"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(0), re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1) if body else "", re.S)
    return [[visible(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)] for row in rows]


def link(page: str, text: str) -> str:
    """The href of the link whose text is ``text``."""
    found = re.search(rf'<a [^>]*href="([^"]+)"[^>]*>\s*{re.escape(text)}\s*</a>', page)
    assert found, f"no link {text!r}"
    return html.unescape(found.group(1))


@dataclass
class Acme:
    """Tenant ``acme`` seen through the AMS and LMS APIs (its key), with the outbox delivered by hand."""

    ams: Any
    lms: Any
    db: Any
    config: Any
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def member_id(self, email: str) -> str:
        found = self.ams.get("/t/acme/api/members", query_string={"email": email}, headers=self.auth)
        return found.get_json()["members"][0]["member_id"]

    def buy(self, member_id: str, *codes: str) -> dict[str, Any]:
        for code in codes:
            added = self.ams.post(
                f"/t/acme/api/members/{member_id}/cart/items", json={"product_code": code}, headers=self.auth
            )
            assert added.status_code == 200, added.get_json()
        token = self.ams.post("/t/acme/gateway/v1/tokens", json={"card": CARD}, headers=self.auth)
        order = self.ams.post(
            f"/t/acme/api/members/{member_id}/cart/checkout",
            json={"payment": {"card_token": token.get_json()["id"]}},
            headers=self.auth,
        )
        assert order.status_code == 201, order.get_json()
        return order.get_json()

    def refund(self, number: str, product_code: str) -> dict[str, Any]:
        refunded = self.ams.post(
            f"/t/acme/api/orders/{number}/refunds", json={"product_code": product_code}, headers=self.auth
        )
        assert refunded.status_code == 200, refunded.get_json()
        return refunded.get_json()

    def enrollments(self, **query: Any) -> dict[str, Any]:
        listed = self.lms.get("/t/acme/api/enrollments", query_string=query, headers=self.auth)
        assert listed.status_code == 200, listed.get_json()
        return listed.get_json()

    def enroll(self, member_id: str, course: str) -> dict[str, Any]:
        made = self.lms.post(
            "/t/acme/api/enrollments", json={"member_id": member_id, "course_code": course}, headers=self.auth
        )
        assert made.status_code == 201, made.get_json()
        return made.get_json()

    def complete(self, enrollment_id: int, score: float) -> None:
        done = self.lms.post(
            f"/t/acme/api/enrollments/{enrollment_id}/complete", json={"score": score}, headers=self.auth
        )
        assert done.status_code == 200, done.get_json()

    def deliver_outbox(self) -> int:
        """Deliver every due outbox message to the AMS or LMS test client; returns how many went."""
        claimed, policy = claim_due_messages(self.db, "acme", wall_now() + dt.timedelta(days=3650))
        mounts = {
            self.config.ams_url: httpx.WSGITransport(app=self.ams.application),
            self.config.lms_url: httpx.WSGITransport(app=self.lms.application),
        }
        with httpx.Client(mounts=mounts) as client:
            for message in claimed:
                answer = post_message(client, message)
                assert answer.status in (200, 201), answer.snippet
                with self.db.session() as session:
                    record_answer(session, message, answer, policy, wall_now())
        return len(claimed)


@pytest.fixture
def acme(make_tenant: Any, ams: Any, lms: Any, db: Any, config: Any) -> Acme:
    tenant = make_tenant("acme", members=20, settings={"currency": "EUR"})
    return Acme(ams, lms, db, config, tenant.api_key)


@pytest.fixture
def learner_history(acme: Acme) -> dict[str, Any]:
    """Alex buys a course and passes it (purchase webhook and CE writeback delivered); Alex is also
    enrolled in a webinar through the LMS API."""
    alex = acme.member_id(ALEX)
    order = acme.buy(alex, "CPE-110", "ETH-101")
    assert acme.deliver_outbox() >= 1  # order.paid → the LMS enrols Alex
    purchased = {e["course_code"]: e for e in acme.enrollments(member_id=alex)["enrollments"]}
    acme.complete(purchased["CPE-110"]["id"], 92)
    assert acme.deliver_outbox() >= 1  # the CE credits go back to the AMS
    acme.enroll(alex, "CEU-W10")
    return {"member_id": alex, "order": order}


def test_search_and_filters_narrow_the_member_list_and_pages_link_both_ways(
    ui: UiSession, acme: Acme
) -> None:
    first = ui.page("/tenants/acme/members")
    assert first.status_code == 200
    assert "26 members match · page 1" in visible(first.text)
    assert len(table_rows(first.text, "members")) == 25
    second = ui.page(link(first.text, "Next page →"))
    assert "page 2" in visible(second.text) and len(table_rows(second.text, "members")) == 1
    back = ui.page(link(second.text, "← Previous page"))
    assert table_rows(back.text, "members") == table_rows(first.text, "members")

    larry = table_rows(ui.page("/tenants/acme/members?q=larry").text, "members")
    assert larry == [["M100003", "Larry Lapsed", "lapsed.member@demo.test", "regular", "lapsed", larry[0][5]]]
    assert [row[0] for row in table_rows(ui.page("/tenants/acme/members?q=m100005").text, "members")] == [
        "M100005"
    ]
    by_email = table_rows(ui.page("/tenants/acme/members?q=student@demo").text, "members")
    assert [row[1] for row in by_email] == ["Sam Student"]

    lapsed = table_rows(ui.page("/tenants/acme/members?status=lapsed").text, "members")
    assert lapsed and len(lapsed) < 25 and {row[4] for row in lapsed} == {"lapsed"}
    students = ui.page("/tenants/acme/members?member_type=student&status=active")
    assert 'value="student" selected' in students.text  # the form shows what it filters by
    rows = table_rows(students.text, "members")
    assert rows and {(row[3], row[4]) for row in rows} == {("student", "active")}
    assert "No member matches." in visible(ui.page("/tenants/acme/members?q=nobody-at-all").text)

    bad = ui.page("/tenants/acme/members?status=bogus")
    assert bad.status_code == 422 and 'id="e-status"' in bad.text and 'aria-invalid="true"' in bad.text
    garbled = ui.page("/tenants/acme/members?cursor=not-a-cursor")
    assert garbled.status_code == 422 and "start again" in visible(garbled.text)


def test_the_member_page_lists_their_order_enrollments_and_transcript(
    ui: UiSession, acme: Acme, learner_history: dict[str, Any]
) -> None:
    alex, number = learner_history["member_id"], learner_history["order"]["number"]
    page = ui.page(f"/tenants/acme/members/{alex}")
    assert page.status_code == 200
    text = visible(page.text)
    assert "Alex Active" in text and ALEX in text

    orders = table_rows(page.text, "member-orders")
    assert [row[0] for row in orders] == [number] and orders[0][3] == "paid"
    assert (
        orders[0][4].startswith("EUR ")
        and orders[0][4] == f"EUR {learner_history['order']['total'] / 100:,.2f}"
    )
    assert link(page.text, number) == f"/tenants/acme/orders/{number}"

    enrollments = {row[0].rsplit(" ", 1)[1]: row for row in table_rows(page.text, "member-enrollments")}
    assert set(enrollments) == {"CPE-110", "ETH-101", "CEU-W10"}
    _, status, progress, score, source, _, completed = enrollments["CPE-110"]
    assert (status, progress, score, source) == ("passed", "100%", "92.0", "purchase")
    assert completed != "—"
    assert enrollments["CEU-W10"][1:5] == ["enrolled", "0%", "—", "api"]
    assert enrollments["ETH-101"][6] == "—"

    transcript = acme.ams.get(f"/t/acme/api/members/{alex}/transcript", headers=acme.auth).get_json()
    record = transcript["records"][0]
    rows = table_rows(page.text, "member-transcript")
    assert len(rows) == len(transcript["records"]) == 1
    assert rows[0][0] == record["completed_on"] and "CPE-110" in rows[0][1]
    assert (
        rows[0][2] == f"{record['credits']} {record['credit_type']}"
        and rows[0][5] == record["certificate_number"]
    )
    assert table_rows(page.text, "transcript-totals") == [[record["credit_type"], str(record["credits"])]]


def test_sign_in_as_this_member_starts_a_real_sso_at_the_tenants_lms(
    ui: UiSession, acme: Acme, monkeypatch: pytest.MonkeyPatch
) -> None:
    alex = acme.member_id(ALEX)
    page = ui.page(f"/tenants/acme/members/{alex}")
    href = link(page.text, "Sign in as this member")
    lms_url, ams_url = acme.config.lms_url, acme.config.ams_url
    assert href == f"{lms_url}/t/acme/login?return_to=%2Ft%2Facme%2Flearning"
    assert "published password is demo" in visible(page.text)
    generated = visible(ui.page("/tenants/acme/members/M100010").text)
    assert "published password is" not in generated and "never shows a member's password" in generated

    def metadata_from_the_ams(
        url: str, refresh: bool = False
    ) -> str:  # the LMS's one fetch, served in-process
        return acme.ams.get(urlsplit(url).path).get_data(as_text=True)

    monkeypatch.setattr(lms_idp, "fetch_text", metadata_from_the_ams)
    started = acme.lms.get(href.removeprefix(lms_url))
    assert started.status_code == 302
    location = started.headers["Location"]
    assert location.startswith(f"{ams_url}/t/acme/saml/sso?SAMLRequest=")

    login_form = acme.ams.get(location.removeprefix(ams_url))  # the AMS asks who is signing in
    assert login_form.status_code == 200 and 'autocomplete="current-password"' in login_form.text
    action, fields = form_action_and_fields(login_form.text)
    answered = acme.ams.post(action, data={**fields, "email": ALEX, "password": "demo"})
    acs, saml_fields = form_action_and_fields(answered.get_data(as_text=True))
    assert acs == f"{lms_url}/t/acme/saml/acs"
    landed = acme.lms.post(acs.removeprefix(lms_url), data=saml_fields)
    assert landed.status_code == 302 and landed.headers["Location"] == "/t/acme/learning"
    assert acme.lms.get("/t/acme/me").get_json()["member_id"] == alex


def test_the_orders_list_filters_and_the_order_page_shows_payment_refund_and_a_balanced_ledger(
    ui: UiSession, acme: Acme
) -> None:
    alex, sam = acme.member_id(ALEX), acme.member_id("student@demo.test")
    older = acme.buy(sam, "ETH-101")
    order = acme.buy(alex, "CPE-110", "ETH-101")
    listed = ui.page("/tenants/acme/orders")
    rows = table_rows(listed.text, "orders")
    assert [row[0] for row in rows] == [order["number"], older["number"]]  # newest first
    _, _, member, channel, status, total, paid, refunded = rows[0]
    assert (member, channel, status) == (alex, "api", "paid")
    assert total == paid == f"EUR {order['total'] / 100:,.2f}" and refunded == "EUR 0.00"
    assert [
        row[0] for row in table_rows(ui.page(f"/tenants/acme/orders?member_id={sam}").text, "orders")
    ] == [older["number"]]
    assert "No order matches." in visible(ui.page("/tenants/acme/orders?status=refunded").text)

    page = ui.page(link(listed.text, order["number"]))
    assert page.status_code == 200
    lines = table_rows(page.text, "order-lines")
    assert sorted(row[0].rsplit(" ", 1)[1] for row in lines) == ["CPE-110", "ETH-101"]
    charge = acme.ams.get(f"/t/acme/gateway/v1/charges/{order['gateway_charge_id']}", headers=acme.auth)
    payment = table_rows(page.text, "order-payments")
    assert payment[0][:3] == [order["gateway_charge_id"], total, "succeeded"]
    assert charge.get_json()["token"] not in page.text  # the card token is not shown
    assert "No refunds." in visible(page.text)

    refund = acme.refund(order["number"], "CPE-110")
    page = ui.page(f"/tenants/acme/orders/{order['number']}")
    text = visible(page.text)
    assert "partially refunded" in text
    refunds = table_rows(page.text, "order-refunds")
    assert len(refunds) == 1 and refunds[0][1] == f"EUR {refund['refunded_amount'] / 100:,.2f}"
    assert [row[-1] for row in lines] == ["no", "no"]
    by_product = {row[0].rsplit(" ", 1)[1]: row[-1] for row in table_rows(page.text, "order-lines")}
    assert by_product == {"CPE-110": "yes", "ETH-101": "no"}

    api = acme.ams.get(f"/t/acme/api/orders/{order['number']}", headers=acme.auth).get_json()
    ledger = table_rows(page.text, "order-ledger")
    assert len(ledger) == len(api["ledger"]) == 4
    assert {row[2] for row in ledger} == {"cash", "revenue", "refunds"}
    assert api["balance"]["balanced"] is True and "Balanced: debits equal credits." in text
    footer = re.search(r"<tfoot>(.*?)</tfoot>", page.text, re.S).group(1)
    debit, credit = (visible(cell) for cell in re.findall(r"<td>(.*?)</td>", footer)[:2])
    assert debit == credit == f"EUR {(order['total'] + refund['refunded_amount']) / 100:,.2f}"


def test_the_enrollments_page_filters_by_status_and_course_and_names_the_source(
    ui: UiSession, acme: Acme, learner_history: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    alex = learner_history["member_id"]
    page = ui.page("/tenants/acme/enrollments")
    rows = table_rows(page.text, "enrollments")
    assert len(rows) == 3 and {row[1] for row in rows} == {alex}
    assert {row[2].rsplit(" ", 1)[1]: row[4] for row in rows} == {
        "CPE-110": "purchase",
        "ETH-101": "purchase",
        "CEU-W10": "api",
    }
    passed = table_rows(ui.page("/tenants/acme/enrollments?status=passed").text, "enrollments")
    assert [(row[2].rsplit(" ", 1)[1], row[3]) for row in passed] == [("CPE-110", "passed")]
    assert passed[0][8] != "—"
    by_course = ui.page("/tenants/acme/enrollments?course_code=CEU-W10")
    assert 'value="CEU-W10" selected' in by_course.text
    assert [row[2].rsplit(" ", 1)[1] for row in table_rows(by_course.text, "enrollments")] == ["CEU-W10"]
    assert link(page.text, alex) == f"/tenants/acme/members/{alex}"
    bad = ui.page("/tenants/acme/enrollments?status=finished")
    assert bad.status_code == 422 and 'id="e-status"' in bad.text

    monkeypatch.setattr(member_pages, "ENROLLMENTS_PER_PAGE", 2)
    first = ui.page("/tenants/acme/enrollments?member_id=" + alex)
    second = ui.page(link(first.text, "Next page →"))
    assert len(table_rows(first.text, "enrollments")) == 2
    assert [row[0] for row in table_rows(second.text, "enrollments")] == [rows[2][0]]
    assert "Next page" not in second.text
    assert table_rows(ui.page(link(second.text, "← Previous page")).text, "enrollments") == rows[:2]


def test_a_tenant_key_gets_404_for_another_tenants_members_and_orders(
    ui_as: Any, acme: Acme, make_tenant: Any
) -> None:
    order = acme.buy(acme.member_id(ALEX), "ETH-101")
    other = ui_as(make_tenant("other").api_key)
    for path in (
        "/tenants/acme/members",
        "/tenants/acme/members/M100001",
        "/tenants/acme/orders",
        f"/tenants/acme/orders/{order['number']}",
        "/tenants/acme/enrollments",
    ):
        assert other.page(path).status_code == 404, path
    assert other.page("/tenants/other/members/M100001").status_code == 200
    assert other.page(f"/tenants/other/orders/{order['number']}").status_code == 404
    own = ui_as(acme.key)
    assert own.page(f"/tenants/acme/orders/{order['number']}").status_code == 200


def test_an_unknown_member_or_order_is_a_not_found_page(ui: UiSession, acme: Acme) -> None:
    member = ui.page("/tenants/acme/members/M999999")
    assert member.status_code == 404 and "There is no member 'M999999'" in visible(member.text)
    order = ui.page("/tenants/acme/orders/O-000000-00000000")
    assert order.status_code == 404 and "There is no order 'O-000000-00000000'" in visible(order.text)


def test_the_apis_behind_the_pages_offer_the_same_search_filters_and_sources(
    acme: Acme, learner_history: dict[str, Any]
) -> None:
    by_id = acme.ams.get("/t/acme/api/members?q=m100002", headers=acme.auth).get_json()
    assert [m["member_id"] for m in by_id["members"]] == ["M100002"]
    sam = acme.member_id("student@demo.test")
    newer = acme.buy(sam, "CEU-100")
    orders = acme.ams.get("/t/acme/api/orders?newest_first=true", headers=acme.auth).get_json()["items"]
    assert [o["number"] for o in orders] == [newer["number"], learner_history["order"]["number"]]
    acme.refund(newer["number"], "CEU-100")
    refunded = acme.ams.get("/t/acme/api/orders?status=refunded", headers=acme.auth).get_json()["items"]
    assert [o["number"] for o in refunded] == [newer["number"]]
    assert acme.ams.get("/t/acme/api/orders?status=lost", headers=acme.auth).status_code == 422

    listing = acme.enrollments()
    assert {e["course_code"]: e["source"] for e in listing["enrollments"]} == {
        "CPE-110": "purchase",
        "ETH-101": "purchase",
        "CEU-W10": "api",
    }
    assert listing["next_since"] is None
    assert [e["course_code"] for e in acme.enrollments(status="passed")["enrollments"]] == ["CPE-110"]
    first = acme.enrollments(limit=2)
    assert len(first["enrollments"]) == 2 and first["next_since"] == first["enrollments"][-1]["id"]
    rest = acme.enrollments(limit=2, since=first["next_since"])["enrollments"]
    assert [e["course_code"] for e in rest] == ["CEU-W10"]
