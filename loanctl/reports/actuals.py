"""The schedule with what was paid against each due (`loanctl schedule --actuals`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from ..engine.deal import DealSchedule
from ..model.records import LoadedBook
from ..servicing.allocation import COMPONENTS
from ..ledger.db import ledger_payments
from ..servicing.positions import allocate_facility, facility_inputs


def schedule_with_actuals(loaded: LoadedBook, deal_id: str, facility: str | None = None,
                          as_of: date | None = None) -> tuple[DealSchedule, dict[str, dict]]:
    """(schedule rebuilt with the posted prepayments, {facility: {due date: {component: paid}}}
    plus each facility's unapplied cash under the key None)."""
    payments = [p for p in ledger_payments(loaded.root) if p.deal == deal_id
                and (as_of is None or p.date <= as_of)]
    terms, builder = facility_inputs(loaded, deal_id)
    record = loaded.deals[deal_id]
    schedules = []
    paid: dict[str, dict] = {}
    for fid in terms:
        if facility is not None and fid != facility:
            continue
        fa = allocate_facility(loaded, deal_id, fid, [p for p in payments if p.facility == fid],
                               terms=terms, builder=builder)
        table: dict = defaultdict(lambda: {c: Decimal(0) for c in (*COMPONENTS, "prepayment")})
        unapplied = Decimal(0)
        for a in fa.allocations:
            if a.component == "unapplied":
                unapplied += a.amount
            elif a.component in ("reversal", "reversed"):
                continue  # a reversed payment was allocated to nothing: no due shows it
            elif a.component in ("prepayment", "repayment"):  # balance reductions, against no due
                table[_row_date(fa.schedule, a.due_date)]["prepayment"] += a.amount
            else:
                table[_row_date(fa.schedule, a.due_date)][a.component] += a.amount
        paid[fid] = {"by_date": dict(table), "unapplied": unapplied,
                     "prepayment_fees": [d for d in fa.dues if d.kind == "prepayment fee"]}
        schedules.append(fa.schedule)
    return DealSchedule(deal_id, record.deal.currency, schedules), paid


def _row_date(schedule, due_date: date) -> date:
    """The schedule row a due belongs to: its own date, or the next row (prepayment fees)."""
    for row in schedule.rows:
        if row.date >= due_date:
            return row.date
    return schedule.rows[-1].date
