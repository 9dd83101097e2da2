"""The borrower's account for a period (`loanctl statement`, SPEC §5.1): every draw, PIK
capitalisation, due and payment (with its allocation) of a deal's facilities in date order,
with a running balance.

The balance is what the borrower owes net of cash received: draws and PIK capitalised add
to it, so do interest, commitment fees and fees as they fall due; a principal due moves
principal already owed into the "due" column and does not change it; every payment (its
whole amount, unapplied cash included) reduces it. So the closing balance is outstanding
principal plus unpaid dues minus unapplied cash, and closing = opening + debits − credits.
An upfront fee netted from the closing draw (SPEC §4.3) is a due and a credit on the closing
date; cash applied from suspense as a due falls due keeps its date in the payment's
allocation (`applied_on`); a reversal owes the returned payment again (a debit).
Figures come from the allocation's schedule and dues (`facility_allocations`); nothing
here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterable

from ..diagnostics import Diagnostic
from ..model.records import LoadedBook
from ..servicing.allocation import Payment
from .build import facility_allocations, money

_ORDER = {"draw": 0, "pik": 1, "due": 2, "netted": 3, "payment": 4}


@dataclass(frozen=True)
class Statement:
    deal: str
    data: dict
    """JSON-ready: deal, borrower, period, opening balance, lines (each with the running
    balance), total debits and credits, closing balance."""


def build_statement(loaded: LoadedBook, payments: Iterable[Payment], deal_id: str, start: date, end: date
                    ) -> tuple[Statement | None, list[Diagnostic]]:
    record = loaded.deals[deal_id]
    allocations, diags = facility_allocations(loaded, deal_id, payments)
    if diags:
        return None, diags
    zero = Decimal(0)
    events: list[tuple] = []  # (date, order, facility, seq, line without balance, signed amount)
    digits = 2
    for _, fa in allocations:
        fs = fa.schedule
        fid, digits = fs.facility_id, fs.digits
        for d, amount in fs.draws:
            events.append((d, _ORDER["draw"], fid, 0, {"kind": "draw", "description": "draw",
                                                       "debit": amount}, amount))
        for r in fs.rows:
            if r.pik:
                events.append((r.date, _ORDER["pik"], fid, 0, {"kind": "pik", "description": "PIK capitalised",
                                                               "debit": r.pik}, r.pik))
        for k, due in enumerate(fa.dues):
            affects = due.component != "principal"
            text = due.component.replace("_", " ") + (f" ({due.kind})" if due.kind else "") + " due"
            events.append((due.date, _ORDER["due"], fid, k, {
                "kind": "due", "description": text, "component": due.component,
                "due": due.amount, "debit": due.amount if affects else zero}, due.amount if affects else zero))
        for k, due in enumerate(fa.netted):
            events.append((due.date, _ORDER["netted"], fid, k, {
                "kind": "netted", "description": f"{due.kind} fee netted from the draw", "component": due.component,
                "credit": due.amount}, -due.amount))
        by_payment: dict[str, list] = {}
        for a in fa.allocations:
            by_payment.setdefault(a.payment_id, []).append(a)
        for p in sorted({(a.payment_date, a.payment_id) for a in fa.allocations}):
            parts = by_payment[p[1]]
            total = sum((a.amount for a in parts), zero)
            allocation = [{"component": a.component, "due_date": a.due_date.isoformat() if a.due_date else None,
                           "amount": money(a.amount, digits)} | ({"applied_on": a.applied_on.isoformat()}
                                                                  if a.applied_on else {}) for a in parts]
            if any(a.component == "reversal" for a in parts):  # the returned cash is owed again
                events.append((p[0], _ORDER["payment"], fid, p[1], {
                    "kind": "reversal", "description": f"reversal {p[1]}", "payment_id": p[1], "debit": total,
                    "allocation": allocation}, total))
                continue
            events.append((p[0], _ORDER["payment"], fid, p[1], {
                "kind": "payment", "description": f"payment {p[1]}", "payment_id": p[1], "credit": total,
                "allocation": allocation}, -total))
    events.sort(key=lambda e: (e[0], e[1], e[2], str(e[3])))
    opening = sum((e[5] for e in events if e[0] < start), zero)
    balance = opening
    lines = []
    totals = {"debit": zero, "credit": zero}
    for when, _, fid, _, line, signed in events:
        if not start <= when <= end:
            continue
        balance += signed
        totals["debit"] += line.get("debit", zero)
        totals["credit"] += line.get("credit", zero)
        out = {"date": when.isoformat(), "facility": fid, "kind": line["kind"], "description": line["description"]}
        for key in ("component", "payment_id"):
            if key in line:
                out[key] = line[key]
        for key in ("due", "debit", "credit"):
            out[key] = money(line.get(key, zero), digits)
        out["allocation"] = line.get("allocation", [])
        out["balance"] = money(balance, digits)
        lines.append(out)
    borrower = loaded.entities.get(record.deal.borrower)
    data = {"kind": "statement", "book": loaded.book.name if loaded.book else "", "deal": deal_id,
            "deal_name": record.deal.name, "currency": record.deal.currency,
            "borrower": {"id": record.deal.borrower, "name": borrower.name if borrower else record.deal.borrower},
            "date": end.isoformat(), "from": start.isoformat(), "to": end.isoformat(),
            "opening_balance": money(opening, digits), "lines": lines,
            "total_debits": money(totals["debit"], digits), "total_credits": money(totals["credit"], digits),
            "closing_balance": money(balance, digits)}
    return Statement(deal_id, data), []
