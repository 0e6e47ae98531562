"""Member directory services: list, read, create, update, deactivate and delete people (no Flask here).

Every function takes the caller's session and a tenant id, reads and writes only that tenant's rows,
validates everything before it writes anything, and stamps changes with the tenant's business clock.

Example::

    with db.session() as session:
        member = create_member(session, "demo", MemberCreate(email="a@example.org", ...), iterations=1000)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from simulator.ams.models import Member, Organisation
from simulator.ams.schemas import MemberCreate, MemberQuery, MemberUpdate, OrganisationQuery
from simulator.core.clock import tenant_now
from simulator.core.db import Base
from simulator.core.errors import Conflict, NotFound, ValidationFailed
from simulator.core.models import Tenant
from simulator.core.security import hash_password
from simulator.core.settings import TenantSettings
from simulator.core.tenancy import get_tenant, tenant_settings
from simulator.seed import FIRST_MEMBER_NUMBER, member_id_for

MEMBERSHIP_FIELDS = ("member_type", "status")


def member_not_found(member_id: str) -> NotFound:
    return NotFound(f"There is no member '{member_id}' in this tenant.", code="member_not_found")


def member_json(member: Member, organisation: Organisation | None) -> dict[str, Any]:
    """The API document of a member (never its password hash)."""
    return {
        "member_id": member.member_id,
        "email": member.email,
        "given_name": member.given_name,
        "family_name": member.family_name,
        "record_type": member.record_type,
        "member_type": member.member_type,
        "status": member.status,
        "join_date": _iso(member.join_date),
        "expiry_date": _iso(member.expiry_date),
        "organisation": {"org_id": organisation.org_id, "name": organisation.name} if organisation else None,
        "phone": member.phone,
        "city": member.city,
        "region": member.region,
        "country": member.country,
        "roles": list(member.roles or []),
        "profile": dict(member.profile or {}),
        "created_at": _iso(member.created_at),
        "updated_at": _iso(member.updated_at),
        "deactivated_at": _iso(member.deactivated_at),
    }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def encode_cursor(after_pk: int) -> str:
    """An opaque page cursor: the last row seen, for keyset paging."""
    return (
        base64.urlsafe_b64encode(json.dumps({"after": after_pk}, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def decode_cursor(cursor: str | None) -> int:
    """The row a cursor points after; 0 for the first page. Raises ``ValidationFailed`` when garbled."""
    if not cursor:
        return 0
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        after = document["after"]
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise _cursor_invalid() from exc
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise _cursor_invalid()
    return after


def _cursor_invalid() -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not one this API handed out; start again without it.",
        errors=[{"field": "cursor", "message": "not a valid page cursor"}],
    )


def _page(session: Session, statement: Select[Any], pk: Any, cursor: str | None, limit: int) -> Any:
    counting = statement.with_only_columns(func.count(pk), maintain_column_froms=True)
    total = session.scalar(counting) or 0
    rows = session.execute(statement.where(pk > decode_cursor(cursor)).order_by(pk).limit(limit + 1)).all()
    next_cursor = encode_cursor(rows[limit - 1][0].pk) if len(rows) > limit else None
    return rows[:limit], next_cursor, total


def _member_filters(tenant_id: str, query: MemberQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Member.tenant_id == tenant_id]
    for field in ("status", "member_type", "record_type"):
        value = getattr(query, field)
        if value is not None:
            conditions.append(getattr(Member, field) == value)
    if query.email is not None:
        conditions.append(Member.email == query.email.strip().lower())
    if query.updated_since is not None:
        since = query.updated_since
        conditions.append(Member.updated_at >= (since if since.tzinfo else since.replace(tzinfo=dt.UTC)))
    if query.organisation is not None:
        conditions.append(Organisation.org_id == query.organisation)
    if query.q is not None:
        full_name = Member.given_name + " " + Member.family_name
        text = query.q
        conditions.append(
            or_(
                full_name.icontains(text, autoescape=True),
                Member.email.icontains(text, autoescape=True),
                Member.member_id.icontains(text, autoescape=True),
            )
        )
    return conditions


def list_members(session: Session, tenant_id: str, query: MemberQuery) -> dict[str, Any]:
    """One page of the tenant's members matching ``query``, in a stable order (keyset paging)."""
    statement = (
        select(Member, Organisation)
        .outerjoin(Organisation, Member.organisation_pk == Organisation.pk)
        .where(*_member_filters(tenant_id, query))
    )
    rows, next_cursor, total = _page(session, statement, Member.pk, query.cursor, query.limit)
    return {
        "members": [member_json(member, organisation) for member, organisation in rows],
        "next_cursor": next_cursor,
        "total": total,
    }


def list_organisations(session: Session, tenant_id: str, query: OrganisationQuery) -> dict[str, Any]:
    """One page of the tenant's organisations, each with how many people belong to it."""
    member_count = (
        select(func.count(Member.pk)).where(Member.organisation_pk == Organisation.pk).scalar_subquery()
    )
    statement = select(Organisation, member_count.label("member_count")).where(
        Organisation.tenant_id == tenant_id
    )
    rows, next_cursor, total = _page(session, statement, Organisation.pk, query.cursor, query.limit)
    organisations = [
        {
            "org_id": organisation.org_id,
            "name": organisation.name,
            "kind": organisation.kind,
            "city": organisation.city,
            "region": organisation.region,
            "member_count": count,
        }
        for organisation, count in rows
    ]
    return {"organisations": organisations, "next_cursor": next_cursor, "total": total}


def find_member(session: Session, tenant_id: str, member_id: str) -> Member:
    """The tenant's member ``member_id`` (404 ``member_not_found`` when there is none)."""
    owned = (Member.tenant_id == tenant_id, Member.member_id == member_id)
    member = session.scalar(select(Member).where(*owned))
    if member is None:
        raise member_not_found(member_id)
    return member


def _organisation_of(session: Session, member: Member) -> Organisation | None:
    return session.get(Organisation, member.organisation_pk) if member.organisation_pk else None


def get_member(session: Session, tenant_id: str, member_id: str) -> dict[str, Any]:
    """One member of the tenant; ``member_not_found`` (404) when the tenant has no such member."""
    member = find_member(session, tenant_id, member_id)
    return member_json(member, _organisation_of(session, member))


def _business_today(tenant: Tenant, settings: TenantSettings) -> tuple[dt.datetime, dt.date]:
    now = tenant_now(tenant)
    return now, now.astimezone(settings.zone).date()


def default_dates(status: str, today: dt.date, grace_days: int) -> tuple[dt.date, dt.date]:
    """(join_date, expiry_date) that match ``status`` under the nightly membership sweep."""
    expiry = {
        "active": today + dt.timedelta(days=365),
        "grace": today - dt.timedelta(days=1 if grace_days else 0),
        "lapsed": today - dt.timedelta(days=grace_days + 1),
    }.get(status, today - dt.timedelta(days=1))
    return (today if expiry >= today else expiry - dt.timedelta(days=365)), expiry


def _rule_errors(state: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    if state["record_type"] == "member":
        errors += [
            {"field": field, "message": "is required for a member"}
            for field in MEMBERSHIP_FIELDS
            if state[field] is None
        ]
    else:
        errors += [
            {"field": field, "message": f"must be null for a {state['record_type']} (members only)"}
            for field in MEMBERSHIP_FIELDS
            if state[field] is not None
        ]
    join, expiry = state["join_date"], state["expiry_date"]
    if join is not None and expiry is not None and join > expiry:
        errors.append({"field": "join_date", "message": "must not be after expiry_date"})
    return errors


def _resolve_organisation(session: Session, tenant_id: str, org_id: str | None) -> tuple[int | None, Any]:
    if org_id is None:
        return None, None
    pk = session.scalar(
        select(Organisation.pk).where(Organisation.tenant_id == tenant_id, Organisation.org_id == org_id)
    )
    if pk is None:
        return None, {"field": "organisation", "message": f"there is no organisation '{org_id}'"}
    return pk, None


def _raise_if_invalid(errors: list[dict[str, str]]) -> None:
    if errors:
        first = errors[0]
        message = f"Invalid value for '{first['field']}': {first['message']}."
        if len(errors) > 1:
            message += f" ({len(errors) - 1} more listed in 'errors'.)"
        raise ValidationFailed(message, errors=errors)


def _check_unique(session: Session, tenant_id: str, email: str | None, member_id: str | None) -> None:
    def taken(column: Any, value: str | None) -> bool:
        if value is None:
            return False
        found = session.scalar(select(Member.pk).where(Member.tenant_id == tenant_id, column == value))
        return found is not None

    if taken(Member.email, email):
        raise Conflict(f"Another person in this tenant already uses {email}.", code="email_taken")
    if taken(Member.member_id, member_id):
        raise Conflict(f"There is already a member '{member_id}'.", code="member_id_taken")


def next_member_id(session: Session, tenant_id: str) -> str:
    """One more than the highest numeric member id (``M<digits>``) of the tenant."""
    candidates = session.scalars(
        select(Member.member_id)
        .where(Member.tenant_id == tenant_id, Member.member_id.like("M%"))
        .order_by(func.length(Member.member_id).desc(), Member.member_id.desc())
    )
    for candidate in candidates:
        if candidate[1:].isdigit():
            return member_id_for(int(candidate[1:]) + 1)
    return member_id_for(FIRST_MEMBER_NUMBER)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "Another request changed the same member at the same moment; try again.", code="member_conflict"
        ) from exc


def create_member(session: Session, tenant_id: str, data: MemberCreate, iterations: int) -> dict[str, Any]:
    """Add a person; members default to a regular, active membership of one year from today."""
    tenant = get_tenant(session, tenant_id)
    settings = tenant_settings(tenant)
    now, today = _business_today(tenant, settings)
    state = data.model_dump(exclude={"password", "organisation"})
    if data.record_type == "member":
        state["member_type"] = state["member_type"] or "regular"
        state["status"] = state["status"] or "active"
        join, expiry = default_dates(state["status"], today, settings.membership.grace_days)
        state["expiry_date"] = state["expiry_date"] or expiry
        state["join_date"] = state["join_date"] or min(join, state["expiry_date"])
    organisation_pk, organisation_error = _resolve_organisation(session, tenant_id, data.organisation)
    _raise_if_invalid(_rule_errors(state) + ([organisation_error] if organisation_error else []))
    _check_unique(session, tenant_id, data.email, data.member_id)
    state["member_id"] = data.member_id or next_member_id(session, tenant_id)
    member = Member(
        tenant_id=tenant_id,
        **(state | {"roles": data.roles or [], "profile": data.profile or {}}),
        organisation_pk=organisation_pk,
        password_hash=hash_password(data.password or secrets.token_urlsafe(18), iterations),
        created_at=now,
        updated_at=now,
        deactivated_at=now if state["status"] == "inactive" else None,
    )
    session.add(member)
    _flush(session)
    return member_json(member, _organisation_of(session, member))


def update_member(
    session: Session, tenant_id: str, member_id: str, changes: MemberUpdate, iterations: int
) -> dict[str, Any]:
    """Change the fields sent in ``changes``; the merged record is validated before anything is written."""
    tenant = get_tenant(session, tenant_id)
    member = find_member(session, tenant_id, member_id)
    values = changes.model_dump(exclude_unset=True)
    password = values.pop("password", None)
    errors = []
    if "organisation" in values:
        values["organisation_pk"], organisation_error = _resolve_organisation(
            session, tenant_id, values.pop("organisation")
        )
        errors += [organisation_error] if organisation_error else []
    state = {field: getattr(member, field) for field in ("record_type", "join_date", "expiry_date")}
    state |= {field: getattr(member, field) for field in MEMBERSHIP_FIELDS} | values
    _raise_if_invalid(_rule_errors(state) + errors)
    if values.get("email", member.email) != member.email:
        _check_unique(session, tenant_id, values["email"], None)
    now = tenant_now(tenant)
    if "status" in values and values["status"] != member.status:
        values["deactivated_at"] = (member.deactivated_at or now) if values["status"] == "inactive" else None
    changed = {field: value for field, value in values.items() if getattr(member, field) != value}
    if password is not None:
        changed["password_hash"] = hash_password(password, iterations)
    if changed:
        for field, value in changed.items():
            setattr(member, field, value)
        member.updated_at = now
        _flush(session)
    return member_json(member, _organisation_of(session, member))


def deactivate_member(session: Session, tenant_id: str, member_id: str) -> dict[str, Any]:
    """Make a member ``inactive`` and stamp ``deactivated_at`` (non-members get the stamp only).

    Deactivating twice changes nothing the second time.
    """
    tenant = get_tenant(session, tenant_id)
    member = find_member(session, tenant_id, member_id)
    now = tenant_now(tenant)
    already = member.deactivated_at is not None and member.status in (None, "inactive")
    if not already:
        if member.record_type == "member":
            member.status = "inactive"
        member.deactivated_at = member.deactivated_at or now
        member.updated_at = now
        _flush(session)
    return member_json(member, _organisation_of(session, member))


AMS_TABLE_PREFIXES = ("ams_", "idp_")


def _member_data_tables() -> tuple[list[Table], list[Table]]:
    """(tables of a person's records, tables of their transient state), found from the metadata.

    Every AMS table with a ``member_id`` column counts: orders, ledger lines, transcripts and the like are
    records (a person who has them is never deleted); tables marked ``info={"member_data": "transient"}``
    (carts, sign-on codes and tokens) go with the person. A new table is a record until it says otherwise.
    """
    import simulator.ams.commerce.models
    import simulator.ams.idp.models
    import simulator.ams.idp.token.models
    import simulator.ams.writeback.models  # noqa: F401 - every AMS table registered on the metadata

    records, transient = [], []
    for table in Base.metadata.sorted_tables:
        if table.name == Member.__tablename__ or "member_id" not in table.c:
            continue
        if table.name.startswith(AMS_TABLE_PREFIXES):
            (transient if table.info.get("member_data") == "transient" else records).append(table)
    return records, transient


def delete_member(session: Session, tenant_id: str, member_id: str) -> None:
    """Erase a person who has no records yet (no order, payment, transcript entry…), with their cart and
    sign-on state; a person with records is refused (409 ``member_has_records``): deactivate them instead.
    """
    member = find_member(session, tenant_id, member_id)
    records, transient = _member_data_tables()
    for table in records:
        owned = (table.c.tenant_id == tenant_id, table.c.member_id == member_id)
        if session.scalar(select(func.count()).select_from(table).where(*owned)):
            raise Conflict(
                f"Member '{member_id}' has records ({table.name.split('_', 1)[1].replace('_', ' ')}) and "
                "cannot be deleted; deactivate them instead.",
                code="member_has_records",
            )
    for table in transient:
        session.execute(delete(table).where(table.c.tenant_id == tenant_id, table.c.member_id == member_id))
    session.delete(member)
    _flush(session)
