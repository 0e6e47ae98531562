"""Learning steps over the LMS API, as a connector (or the LMS's own pages) would drive them.

A step acts on the actor's existing enrollment in the course; a missing enrollment fails the step (a
purchase that should have enrolled them did not), unless the scenario enrols them with ``enroll`` first.
"""

from __future__ import annotations

from typing import Any

from simulator.scenario.model import AttendWebinar, CompleteCourse, Enroll, StartCourse
from simulator.scenario.steps import Person, RunContext, StepFailed, step


def enrollment_summary(enrollment: dict[str, Any]) -> dict[str, Any]:
    return {
        "course": enrollment["course_code"],
        "status": enrollment["status"],
        "score": enrollment.get("score"),
        "minutes_attended": enrollment.get("minutes_attended"),
        "credits_awarded": enrollment.get("credits_awarded"),
        "certificate": bool(enrollment.get("certificate_number")),
    }


def find_enrollment(ctx: RunContext, person: Person, course: str) -> dict[str, Any]:
    found = ctx.tenant.enrollments(member_id=person.member_id, course_code=course)
    if not found:
        held = sorted(e["course_code"] for e in ctx.tenant.enrollments(member_id=person.member_id))
        raise StepFailed(
            f"{person.label} is not enrolled in {course} at the LMS "
            f"(enrolled in: {', '.join(held) or 'nothing'})",
            {"enrollments": held},
        )
    return found[0]


@step("enroll")
def enroll(ctx: RunContext, params: Enroll) -> dict[str, Any]:
    return ctx.per_person(
        params.actor, lambda person: enrollment_summary(ctx.tenant.enroll(person.member_id, params.course))
    )


@step("start_course")
def start_course(ctx: RunContext, params: StartCourse) -> dict[str, Any]:
    def start(person: Person) -> dict[str, Any]:
        enrollment = find_enrollment(ctx, person, params.course)
        return enrollment_summary(ctx.tenant.start_enrollment(enrollment["id"]))

    return ctx.per_person(params.actor, start)


@step("complete_course")
def complete_course(ctx: RunContext, params: CompleteCourse) -> dict[str, Any]:
    def complete(person: Person) -> dict[str, Any]:
        enrollment = find_enrollment(ctx, person, params.course)
        return enrollment_summary(ctx.tenant.complete_enrollment(enrollment["id"], params.score))

    return ctx.per_person(params.actor, complete)


@step("attend_webinar")
def attend_webinar(ctx: RunContext, params: AttendWebinar) -> dict[str, Any]:
    def attend(person: Person) -> dict[str, Any]:
        enrollment = find_enrollment(ctx, person, params.course)
        return enrollment_summary(ctx.tenant.attend(enrollment["id"], params.minutes))

    return ctx.per_person(params.actor, attend)
