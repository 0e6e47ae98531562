"""The member portal's "My learning / CE transcript" page, ``/t/{tenant}/portal/transcript``, and its CSV.

For a member signed in to the AMS portal (the login cookie of :mod:`simulator.ams.idp.web_session`); a
visitor who is not is sent to the login page and comes back here afterwards. Views only translate HTTP:
the records and totals come from :mod:`.transcript`, the same service as the API.
"""

from __future__ import annotations

from flask import Response

from simulator.ams.idp import browser
from simulator.ams.writeback import transcript
from simulator.core.web import database

portal_pages = browser.idp_blueprint("ams_portal", __name__)


@portal_pages.get("/portal/transcript")
def my_transcript(tenant: str) -> Response:
    """The signed-in member's CE records, totals per credit type and per year, activity and badges."""
    login = browser.current_login()
    if login is None:
        return browser.redirect_to_login(f"/t/{browser.tenant_id()}/portal/transcript")
    with database().read() as session:
        document = transcript.transcript(session, browser.tenant_id(), login["member_id"])
    credit_types = sorted(document["totals"]["by_credit_type"])
    return browser.page(
        "portal_transcript.html",
        tenant_id=browser.tenant_id(),
        transcript=document,
        credit_types=credit_types,
    )


@portal_pages.get("/portal/transcript.csv")
def my_transcript_csv(tenant: str) -> Response:
    """The signed-in member's CE transcript as CSV."""
    login = browser.current_login()
    if login is None:
        return browser.redirect_to_login(f"/t/{browser.tenant_id()}/portal/transcript")
    with database().read() as session:
        text = transcript.transcript_csv(session, browser.tenant_id(), login["member_id"])
    return Response(
        text,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="transcript-{login["member_id"]}.csv"',
            "Cache-Control": "no-store",
        },
    )
