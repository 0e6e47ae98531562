"""Where the catalog lives (tenant setting ``catalog_owner``): publish AMS products, or import LMS courses.

No Flask here. The AMS reaches the LMS only over HTTP, authenticated with the purchase-sync secret the
console gives both sides at seeding (see :mod:`simulator.console.commerce_setup`):

- ``ams`` (default): creating or changing a course or webinar product enqueues, in the same
  transaction, a signed ``catalog.course.published`` message to the ``lms-catalog`` outbox endpoint
  (``{lms}/t/{t}/catalog/webhooks``). The product is saved whatever the LMS does; the worker (or a clock
  advance) delivers it with the outbox's retries, so an LMS outage delays the publish but never loses it.
- ``lms``: the LMS owns courses. :func:`import_catalog` (``POST /api/catalog/import``) and the nightly
  ``ams.catalog_import`` job read ``{lms}/t/{t}/catalog/courses`` (a signed GET) and create a product
  for every LMS course the AMS lacks, priced from its contact hours as the demo catalog is; existing
  products keep their AMS prices (only title and kind follow the LMS). Creating a course or webinar
  product in the AMS is refused (422 ``catalog_owned_by_lms``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from simulator.ams.commerce.entitlements import PURCHASE_ENDPOINT
from simulator.ams.commerce.models import LMS_KINDS, Product
from simulator.ams.commerce.seed import _course_prices
from simulator.core.clock import pinned_clock, tenant_now
from simulator.core.db import Database
from simulator.core.errors import Conflict, SandboxError, ValidationFailed
from simulator.core.http_failures import http_failure
from simulator.core.jobs import JobContext, daily_at, recurring_job, register_due_work
from simulator.core.models import ScheduledJob, Tenant
from simulator.core.outbox import endpoint_by_name, enqueue
from simulator.core.tenancy import tenant_settings
from simulator.core.tls import client_verify
from simulator.core.webhooks import sign_headers

log = logging.getLogger(__name__)
CATALOG_ENDPOINT = "lms-catalog"
PUBLISH_TOPIC = "catalog.course.published"
IMPORT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def catalog_webhook_url(lms_url: str, tenant_id: str) -> str:
    return f"{lms_url}/t/{tenant_id}/catalog/webhooks"


def refuse_if_lms_owned(tenant: Tenant, kind: str) -> None:
    """With ``catalog_owner: lms`` the AMS may not create course or webinar products itself."""
    if kind in LMS_KINDS and tenant_settings(tenant).catalog_owner == "lms":
        raise ValidationFailed(
            f"The LMS owns this tenant's catalog (catalog_owner: lms): create the {kind} in the LMS, "
            "then import it with POST /api/catalog/import.",
            code="catalog_owned_by_lms",
            errors=[{"field": "kind", "message": "courses and webinars come from the LMS"}],
        )


def publish(session: Session, tenant: Tenant, product: dict[str, Any]) -> bool:
    """With ``catalog_owner: ams``, enqueue ``product`` (a course or webinar) for the LMS; True if sent."""
    if tenant_settings(tenant).catalog_owner != "ams" or product["kind"] not in LMS_KINDS:
        return False
    course = {"code": product["lms_code"], "title": product["title"], "kind": product["kind"]}
    enqueue(
        session,
        tenant.id,
        endpoint=CATALOG_ENDPOINT,
        topic=PUBLISH_TOPIC,
        message_id=f"{PUBLISH_TOPIC}:{product['code']}:{uuid.uuid4().hex}",
        payload={"type": PUBLISH_TOPIC, "product": product["code"], "course": course},
    )
    return True


def lms_catalog_target(session: Session, tenant_id: str) -> tuple[str, str]:
    """The LMS catalog URL and the shared secret that signs requests to it."""
    secret = endpoint_by_name(session, tenant_id, PURCHASE_ENDPOINT).secret
    base = endpoint_by_name(session, tenant_id, CATALOG_ENDPOINT).url.removesuffix("/webhooks")
    return f"{base}/courses", secret


def fetch_lms_courses(url: str, secret: str) -> list[dict[str, Any]]:
    """The LMS catalog, by a GET signed with the shared secret (outside any transaction); 502 on failure."""
    headers = sign_headers(secret, f"catalog-import:{uuid.uuid4().hex}", b"")
    try:
        response = httpx.get(url, headers=headers, timeout=IMPORT_TIMEOUT, verify=client_verify())
    except httpx.HTTPError as exc:
        raise SandboxError(
            f"The LMS did not answer: {http_failure(exc)}.", code="lms_unavailable", http_status=502
        ) from exc
    if response.status_code != 200:
        raise SandboxError(
            f"The LMS answered {response.status_code} to the catalog import.",
            code="lms_unavailable",
            http_status=502,
        )
    return list(response.json()["courses"])


def apply_import(session: Session, tenant: Tenant, courses: list[dict[str, Any]]) -> dict[str, Any]:
    """Create products for new LMS courses; bring titles and kinds of existing ones up to date."""
    products = session.scalars(
        select(Product).where(Product.tenant_id == tenant.id, Product.kind.in_(LMS_KINDS))
    ).all()
    by_lms_code: dict[str, list[Product]] = {}
    for product in products:
        by_lms_code.setdefault(product.lms_code or "", []).append(product)
    taken = set(session.scalars(select(Product.code).where(Product.tenant_id == tenant.id)))
    result: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "skipped": []}
    for course in courses:
        code, title, kind = str(course["code"]), str(course["title"]), str(course["kind"])
        existing = by_lms_code.get(code)
        if existing:
            for product in existing:
                changed = (product.title, product.kind) != (title, kind)
                product.title, product.kind = title, kind
                result["updated" if changed else "unchanged"].append(product.code)
            continue
        if code in taken:  # a non-course product already uses the code
            result["skipped"].append(code)
            continue
        prices = _course_prices(float(course["contact_hours"]), kind)
        session.add(
            Product(
                tenant_id=tenant.id,
                code=code,
                kind=kind,
                title=title,
                lms_code=code,
                default_price=prices["non_member"],
                prices=prices,
                bundle_items=[],
                active=True,
                created_at=tenant_now(tenant),
            )
        )
        result["created"].append(code)
    session.flush()
    return {name: sorted(codes) for name, codes in result.items()}


def import_catalog(db: Database, tenant_id: str) -> dict[str, Any]:
    """``POST /api/catalog/import``: pull the LMS catalog now (only with ``catalog_owner: lms``)."""
    with db.read() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        if tenant_settings(tenant).catalog_owner != "lms":
            raise Conflict(
                "This tenant's catalog lives in the AMS (catalog_owner: ams); there is nothing to import.",
                code="catalog_owned_by_ams",
            )
        target = lms_catalog_target(session, tenant_id)
    courses = fetch_lms_courses(*target)
    with db.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        return apply_import(session, tenant, courses)


# The nightly import is a recurring job, but its HTTP call cannot run inside the job's transaction (a
# write transaction: the LMS's own writes, e.g. its request journal, would wait on it). So a due-work
# step runs first, at the job's due time and outside any transaction: it fetches the LMS catalog, applies
# it in its own transaction and notes the outcome in the pending job's payload; the job then reports it.
IMPORT_JOB = "ams.catalog_import"
_OUTCOMES = ("imported", "import_error")


def _pending_import(session: Session, tenant_id: str, until: dt.datetime) -> ScheduledJob | None:
    job = session.scalar(
        select(ScheduledJob)
        .where(
            ScheduledJob.tenant_id == tenant_id,
            ScheduledJob.kind == IMPORT_JOB,
            ScheduledJob.state == "pending",
            ScheduledJob.due_at <= until,
        )
        .order_by(ScheduledJob.due_at)
        .limit(1)
    )
    if job is None or any(key in (job.payload or {}) for key in _OUTCOMES):
        return None
    tenant = session.get(Tenant, tenant_id)
    return job if tenant is not None and tenant_settings(tenant).catalog_owner == "lms" else None


def _next_import_due(db: Database, tenant_id: str, until: dt.datetime) -> dt.datetime | None:
    with db.read() as session:
        job = _pending_import(session, tenant_id, until)
        return job.due_at if job is not None else None


def _run_import(db: Database, tenant_id: str, until: dt.datetime, simulated: bool) -> dict[str, Any] | None:
    with db.read() as session:
        job = _pending_import(session, tenant_id, until)
        if job is None:
            return None
        job_id, due_at = job.id, job.due_at
        target = lms_catalog_target(session, tenant_id)
    outcome: dict[str, Any]
    try:
        courses: list[dict[str, Any]] | None = fetch_lms_courses(*target)
    except SandboxError as exc:
        log.warning("tenant %s: nightly catalog import failed: %s", tenant_id, exc.message)
        courses, outcome = None, {"import_error": exc.message}
    with db.session() as session, pinned_clock(tenant_id, due_at):
        scheduled = session.get(ScheduledJob, job_id)
        tenant = session.get(Tenant, tenant_id)
        if scheduled is None or tenant is None or scheduled.state != "pending":
            return None
        if courses is not None:
            outcome = {"imported": apply_import(session, tenant, courses)}
        scheduled.payload = {**(scheduled.payload or {}), **outcome}
    return {"kind": "catalog.import.fetch", "due_at": due_at.isoformat(), **outcome}


register_due_work("catalog.import.fetch", _next_import_due, _run_import)


@recurring_job(IMPORT_JOB, daily_at(2, 30))
def nightly_catalog_import(ctx: JobContext) -> dict[str, Any]:
    """Nightly, with ``catalog_owner: lms``: report the import fetched just before (else nothing)."""
    if ctx.settings.catalog_owner != "lms":
        return {"skipped": "catalog_owner is ams"}
    payload = ctx.job.payload or {}
    if "import_error" in payload:
        raise RuntimeError(payload["import_error"])
    if "imported" in payload:
        return dict(payload["imported"])
    return {"skipped": "the LMS catalog was not fetched"}
