"""Taking an enrollment away (a refund or a cancelled order): the one thing the learning service lacks."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from simulator.lms.learning.models import Course, Enrollment
from simulator.lms.models import Learner


def revoke_enrollment(session: Session, tenant_id: str, member_id: str, course_code: str) -> bool:
    """Delete the member's enrollment in ``course_code`` with its learning events; True if there was one."""
    enrollment_pk = session.scalar(
        select(Enrollment.pk)
        .join(Course, Course.pk == Enrollment.course_pk)
        .join(Learner, Learner.pk == Enrollment.learner_pk)
        .where(Enrollment.tenant_id == tenant_id, Learner.member_id == member_id, Course.code == course_code)
    )
    if enrollment_pk is None:
        return False
    session.execute(delete(Enrollment).where(Enrollment.pk == enrollment_pk))
    return True
