"""The seeded LMS catalog: a dozen CE courses and webinars, the same for every tenant (deterministic)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from simulator.lms.learning.models import Course

_FIELDS = ("code", "title", "kind", "contact_hours", "credit_type", "pass_mark",
           "attendance_threshold_minutes", "duration_minutes")  # fmt: skip
_ROWS = (
    ("ETH-101", "Professional Ethics in Practice", "course", 2.0, "CLE", 70.0, None, 120),
    ("CLE-204", "Contract Drafting: Avoiding Ambiguity", "course", 3.0, "CLE", 75.0, None, 180),
    ("CLE-310", "Data Privacy Law Update", "webinar", 1.5, "CLE", None, 75, 90),
    ("CPE-110", "Revenue Recognition (ASC 606) Essentials", "course", 4.0, "CPE", 70.0, None, 240),
    ("CPE-215", "Fraud Detection for Auditors", "course", 8.0, "CPE", 80.0, None, 480),
    ("CPE-W01", "Annual Tax Update", "webinar", 2.0, "CPE", None, 100, 120),
    ("CME-120", "Opioid Prescribing: Safe Practice", "course", 3.0, "CME", 80.0, None, 180),
    ("CME-230", "Sepsis Recognition and Early Management", "course", 1.0, "CME", 75.0, None, 60),
    ("CME-W05", "Grand Rounds: Advances in Cardiology", "webinar", 1.0, "CME", None, 50, 60),
    ("CEU-100", "Project Management Fundamentals", "course", 15.0, "CEU", 70.0, None, 900),
    ("CEU-150", "Inclusive Leadership Workshop", "course", 10.0, "CEU", 65.0, None, 600),
    ("CEU-W10", "Association Governance Roundtable", "webinar", 1.0, "CEU", None, 45, 60),
)
CATALOG: tuple[dict[str, Any], ...] = tuple(dict(zip(_FIELDS, row, strict=True)) for row in _ROWS)
"""Code, title, kind, contact hours, credit type, pass mark (courses), attendance threshold (webinars)."""


def seed_catalog(session: Session, tenant_id: str) -> int:
    """Insert the standard catalog for ``tenant_id``; returns how many courses were added."""
    rows = [{**course, "tenant_id": tenant_id} for course in CATALOG]
    session.execute(insert(Course), rows)
    return len(rows)
