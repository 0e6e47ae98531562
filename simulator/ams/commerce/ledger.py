"""A double-entry ledger: every money event posts one balanced transaction (debits = credits).

Accounts: ``cash`` (money received), ``receivables`` (invoiced, not yet paid), ``revenue`` (sales) and
``refunds`` (contra-revenue). Postings:

====================  ========================  =========================
Event                 Debit                     Credit
====================  ========================  =========================
card order paid       cash                      revenue
PO order invoiced     receivables               revenue
PO payment recorded   cash                      receivables
refund                refunds                   cash
invoice cancelled     refunds                   receivables
====================  ========================  =========================

Balances are computed from entries (never stored), per member, per order, or for the whole tenant.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from simulator.ams.commerce.models import LEDGER_ACCOUNTS, LedgerEntry, Order


def post(
    session: Session, order: Order, debit: str, credit: str, amount: int, memo: str, at: dt.datetime
) -> str:
    """Post ``amount`` from ``credit`` to ``debit`` for ``order``; returns the transaction id."""
    assert debit in LEDGER_ACCOUNTS and credit in LEDGER_ACCOUNTS and amount > 0
    txn = f"txn_{secrets.token_hex(8)}"
    for account, side in ((debit, "debit"), (credit, "credit")):
        session.add(
            LedgerEntry(
                tenant_id=order.tenant_id,
                txn=txn,
                order_number=order.number,
                member_id=order.member_id,
                account=account,
                debit=amount if side == "debit" else 0,
                credit=amount if side == "credit" else 0,
                memo=memo,
                posted_at=at,
            )
        )
    return txn


def balances(
    session: Session, tenant_id: str, member_id: str | None = None, order_number: str | None = None
) -> dict[str, Any]:
    """Debit-minus-credit balance of every account, plus what is owed (receivables) and net sales."""
    query = select(LedgerEntry.account, func.sum(LedgerEntry.debit), func.sum(LedgerEntry.credit)).where(
        LedgerEntry.tenant_id == tenant_id
    )
    if member_id:
        query = query.where(LedgerEntry.member_id == member_id)
    if order_number:
        query = query.where(LedgerEntry.order_number == order_number)
    sums = {
        account: (int(debit or 0), int(credit or 0))
        for account, debit, credit in session.execute(query.group_by(LedgerEntry.account))
    }
    accounts = {
        account: sums.get(account, (0, 0))[0] - sums.get(account, (0, 0))[1] for account in LEDGER_ACCOUNTS
    }
    return {
        "accounts": accounts,
        "amount_due": accounts["receivables"],
        "net_sales": -(accounts["revenue"]) - accounts["refunds"],
        "balanced": sum(accounts.values()) == 0,
    }


def entries(session: Session, tenant_id: str, order_number: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.order_number == order_number)
        .order_by(LedgerEntry.pk)
    )
    return [
        {
            "txn": row.txn,
            "account": row.account,
            "debit": row.debit,
            "credit": row.credit,
            "memo": row.memo,
            "posted_at": row.posted_at.isoformat(),
        }
        for row in rows
    ]
