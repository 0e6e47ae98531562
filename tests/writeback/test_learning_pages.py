"""The LMS "My learning" pages: a learner signed in through SAML (in process) starts, progresses, finishes
and attends from server-rendered forms, which call the same services (and writebacks) as the API."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from simulator.core.db import Database
from simulator.core.outbox_models import OutboxMessage
from tests.conftest import ADMIN
from tests.sso.sp_support import SamlWorld, patch_settings

pytest_plugins = ["tests.sso.sp_fixtures"]
PAGE = "/t/acme/learning"


def sign_in(world: SamlWorld, **attributes: str) -> None:
    request_id, _ = world.start_login()
    spec = world.spec(in_response_to=request_id)
    spec.attributes.update({f"urn:ams-lms-sandbox:attribute:{k}": v for k, v in attributes.items()})
    response = world.post(world.idp.signed_response(spec))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def enroll(lms: Any, member_id: str, course: str) -> int:
    response = lms.post(
        "/t/acme/api/enrollments", json={"member_id": member_id, "course_code": course}, headers=ADMIN
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:1000]
    return match.group(1)


def row(page: str, enrollment_id: int) -> str:
    match = re.search(rf'<tr id="enrollment-{enrollment_id}".*?</tr>', page, re.DOTALL)
    assert match, page[:2000]
    return match.group(0)


def field(html: str, name: str) -> str:
    match = re.search(rf'<td class="{name}">(.*?)</td>', html, re.DOTALL)
    assert match
    return " ".join(match.group(1).split())


def outbox_count(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage))


def test_a_visitor_who_is_not_signed_in_is_sent_to_the_login(saml_world: SamlWorld) -> None:
    response = saml_world.lms.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"] == "/t/acme/login?return_to=%2Ft%2Facme%2Flearning"
    assert saml_world.lms.post(f"{PAGE}/enrollments/1/start").status_code == 302


def test_a_learner_starts_progresses_finishes_and_attends_from_the_page(
    saml_world: SamlWorld, db: Database
) -> None:
    lms = saml_world.lms
    sign_in(saml_world)
    course, webinar = enroll(lms, "M1001", "ETH-101"), enroll(lms, "M1001", "CLE-310")
    page = lms.get(PAGE).get_data(as_text=True)
    assert "My learning" in page and "M1001" in page
    assert field(row(page, course), "status") == "enrolled"
    csrf = token(page)

    assert lms.post(f"{PAGE}/enrollments/{course}/start", data={"csrf_token": csrf}).status_code == 303
    assert (
        lms.post(
            f"{PAGE}/enrollments/{course}/progress", data={"csrf_token": csrf, "percent": "40"}
        ).status_code
        == 303
    )
    page = lms.get(PAGE).get_data(as_text=True)
    assert (field(row(page, course), "status"), field(row(page, course), "progress")) == (
        "in_progress",
        "40 %",
    )

    before = outbox_count(db)
    done = lms.post(f"{PAGE}/enrollments/{course}/complete", data={"csrf_token": csrf, "score": "91"})
    assert done.status_code == 303 and done.headers["Location"] == f"{PAGE}#enrollment-{course}"
    page = lms.get(PAGE).get_data(as_text=True)
    assert field(row(page, course), "status") == "passed"
    assert field(row(page, course), "result") == "score 91"
    assert re.search(
        r"certificate <code>ETH-101-\d+</code><br> 2 CLE credits", field(row(page, course), "certificate")
    )
    assert outbox_count(db) > before  # the same writebacks as the API fires

    attended = lms.post(f"{PAGE}/enrollments/{webinar}/attend", data={"csrf_token": csrf, "minutes": "80"})
    assert attended.status_code == 303
    via_api = lms.get(f"/t/acme/api/enrollments/{webinar}", headers=ADMIN).get_json()
    assert (via_api["status"], via_api["minutes_attended"]) == ("attended", 80)
    assert via_api["certificate_number"] and via_api["certificate_number"] in lms.get(PAGE).get_data(
        as_text=True
    )


def test_forms_without_the_session_token_or_with_bad_values_change_nothing(saml_world: SamlWorld) -> None:
    lms = saml_world.lms
    sign_in(saml_world)
    course = enroll(lms, "M1001", "ETH-101")
    csrf = token(lms.get(PAGE).get_data(as_text=True))

    forged = lms.post(f"{PAGE}/enrollments/{course}/complete", data={"score": "95"})
    assert forged.status_code == 400 and "form expired" in forged.get_data(as_text=True)
    wrong = lms.post(f"{PAGE}/enrollments/{course}/complete", data={"csrf_token": "x" + csrf, "score": "95"})
    assert wrong.status_code == 400
    bad = lms.post(f"{PAGE}/enrollments/{course}/complete", data={"csrf_token": csrf, "score": "101"})
    assert bad.status_code == 422 and "score" in bad.get_data(as_text=True)
    kind = lms.post(f"{PAGE}/enrollments/{course}/attend", data={"csrf_token": csrf, "minutes": "50"})
    assert kind.status_code == 422 and "use &#39;complete&#39;" in kind.get_data(as_text=True)
    assert lms.get(f"/t/acme/api/enrollments/{course}", headers=ADMIN).get_json()["status"] == "enrolled"


def test_a_learner_cannot_act_on_someone_elses_enrollment(saml_world: SamlWorld) -> None:
    lms = saml_world.lms
    sign_in(saml_world)
    theirs = enroll(lms, "M2002", "ETH-101")
    enroll(lms, "M1001", "CPE-110")
    csrf = token(lms.get(PAGE).get_data(as_text=True))

    response = lms.post(f"{PAGE}/enrollments/{theirs}/complete", data={"csrf_token": csrf, "score": "99"})

    assert response.status_code == 404
    assert lms.get(f"/t/acme/api/enrollments/{theirs}", headers=ADMIN).get_json()["status"] == "enrolled"
    assert f'id="enrollment-{theirs}"' not in lms.get(PAGE).get_data(as_text=True)


def test_a_read_only_learner_sees_the_page_but_cannot_change_it(saml_world: SamlWorld) -> None:
    patch_settings(saml_world.console, "acme", {"access": {"grace": "read_only"}})
    lms = saml_world.lms
    sign_in(saml_world, member_status="grace")
    course = enroll(lms, "M1001", "ETH-101")

    page = lms.get(PAGE)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="read-only"' in text and "<form" not in text
    assert f'id="enrollment-{course}"' in text
    with lms.session_transaction() as browser_session:
        csrf = browser_session["lms_learning_csrf"]["acme"]
    refused = lms.post(f"{PAGE}/enrollments/{course}/complete", data={"csrf_token": csrf, "score": "99"})
    assert refused.status_code == 403
    assert lms.get(f"/t/acme/api/enrollments/{course}", headers=ADMIN).get_json()["status"] == "enrolled"
