"""The AMS member portal's "My learning / CE transcript": records, totals per credit type and per year,
and a CSV download, for the member signed in to the portal (the real login form, in process)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from sqlalchemy import select

from simulator.ams.models import Member
from simulator.ams.writeback import inbox
from simulator.core.db import Database
from simulator.core.models import Tenant

PAGE = "/t/acme/portal/transcript"


def member_id(db: Database, email: str) -> str:
    with db.read() as session:
        return session.scalar(
            select(Member.member_id).where(Member.tenant_id == "acme", Member.email == email)
        )


def record(db: Database, member: str, code: str, credit_type: str, credits: float, day: str) -> None:
    envelope = {
        "id": f"wb_{member}_{code}_{day}",
        "destination": "ce_transcript",
        "format": "ce_credit",
        "record": {
            "member_id": member,
            "activity_code": code,
            "activity_title": f"Title of {code}",
            "credit_type": credit_type,
            "credits": credits,
            "completion_date": day,
            "score": 88,
            "certificate_number": f"CERT-{code}",
        },
    }
    with db.session() as session:
        [result] = inbox.ingest(session, session.get(Tenant, "acme"), [envelope], None)
    assert result["result"] == "accepted", result


def sign_in(ams: Any, email: str) -> None:
    response = ams.post("/t/acme/login", data={"email": email, "password": "demo", "next": PAGE})
    assert response.status_code == 303 and response.headers["Location"] == PAGE


def cells(page: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.DOTALL)
    assert table, page[:2000]
    rows = re.findall(r"<tr\b[^>]*>(.*?)</tr>", table.group(1), re.DOTALL)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, re.DOTALL)
        ]
        for row in rows
    ]


def test_a_visitor_who_is_not_signed_in_goes_to_the_login_and_comes_back(ams: Any, make_tenant: Any) -> None:
    make_tenant("acme")
    for url in (PAGE, f"{PAGE}.csv"):
        response = ams.get(url)
        assert response.status_code == 302
        assert response.headers["Location"] == "/t/acme/login?next=%2Ft%2Facme%2Fportal%2Ftranscript"


def test_the_member_sees_records_totals_per_type_and_year_and_downloads_csv(
    ams: Any, make_tenant: Any, db: Database
) -> None:
    make_tenant("acme")
    alex = member_id(db, "active.member@demo.test")
    grace = member_id(db, "grace.member@demo.test")
    record(db, alex, "ETH-101", "CLE", 2.0, "2025-11-03")
    record(db, alex, "CLE-204", "CLE", 3.0, "2026-02-01")
    record(db, alex, "CPE-110", "CPE", 4.0, "2026-03-01")
    record(db, grace, "CME-120", "CME", 9.0, "2026-03-01")  # someone else's
    sign_in(ams, "active.member@demo.test")

    response = ams.get(PAGE)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<code id="member">{alex}</code>' in page
    assert cells(page, "totals-by-type") == [["Credit type", "Credits"], ["CLE", "5"], ["CPE", "4"]]
    assert cells(page, "totals-by-year") == [["Year", "CLE", "CPE"], ["2025", "2", "0"], ["2026", "3", "4"]]
    records = cells(page, "records")
    assert [row[0] for row in records[1:]] == ["2025-11-03", "2026-02-01", "2026-03-01"]
    assert records[3] == ["2026-03-01", "Title of CPE-110 CPE-110", "CPE", "4", "88", "CERT-CPE-110"]
    assert "CME-120" not in page

    download = ams.get(f"{PAGE}.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert [(row["activity_code"], row["credit_type"], row["credits"]) for row in rows] == [
        ("ETH-101", "CLE", "2.0"),
        ("CLE-204", "CLE", "3.0"),
        ("CPE-110", "CPE", "4.0"),
    ]


def test_a_member_without_credits_sees_an_empty_transcript(ams: Any, make_tenant: Any) -> None:
    make_tenant("acme")
    sign_in(ams, "grace.member@demo.test")
    page = ams.get(PAGE).get_data(as_text=True)
    assert 'id="no-credits"' in page and 'id="records"' not in page
