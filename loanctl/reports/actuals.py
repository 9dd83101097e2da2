"""The schedule with what was paid against each due (`loanctl schedule --actuals`), for the
whole facility or one lender's cash (`--lender`): every figure split with the engine's
`lender_part` by the shares in force on its date, the schedule with `for_lender`."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from ..engine.deal import DealSchedule
from ..engine.lenders import lender_part, row_weights, timeline_of
from ..ledger.db import ledger_payments
from ..model.records import LoadedBook
from ..servicing.allocation import DEFAULT_INTEREST, OVERDUE_INTEREST
from ..servicing.positions import allocate_facility, facility_inputs

ZERO = Decimal(0)
PAID_KEYS = ("fees", "commitment_fee", "default_interest", "interest", "overdue_interest", "principal", "prepayment",
             "repayment")
DUE_KEYS = ("overdue_interest", "default_interest", "prepayment_fee")
"""Dues that are not on the schedule's rows: interest on overdue principal, default interest
(SPEC §3.3), prepayment fees."""


def schedule_with_actuals(loaded: LoadedBook, deal_id: str, facility: str | None = None,
                          as_of: date | None = None, lender: str | None = None
                          ) -> tuple[DealSchedule, dict[str, dict]]:
    """(schedule rebuilt with the posted prepayments — the lender's part with `lender` —,
    {facility: {"by_date": {date: {paid component: amount}}, "due": {date: {overdue_interest,
    prepayment_fee}}, "events": [dates of prepayments and repayments off the schedule's rows],
    "unapplied": cash still held}}). A date is the due's own date; cash applied after `as_of`
    is not counted."""
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
        s = fa.schedule
        if lender is not None and not timeline_of(s).holds(lender):
            continue
        shares_on = timeline_of(s).shares_on

        def part(amount: Decimal, on: date, shares_on=shares_on, digits=s.digits) -> Decimal:
            return lender_part(amount, shares_on(on), lender, digits)

        def counted(on: date) -> bool:
            return as_of is None or on <= as_of

        by_date: dict = defaultdict(lambda: dict.fromkeys(PAID_KEYS, ZERO))
        due: dict = defaultdict(lambda: dict.fromkeys(DUE_KEYS, ZERO))
        events: set[date] = set()
        unapplied = ZERO
        for a in fa.allocations:
            if not counted(a.on) or a.component in ("reversed", "reversal"):
                continue
            if a.due_date is not None and a.component in ("interest", "fees", "commitment_fee", "principal"):
                amount = lender_part(a.amount, row_weights(s, a.due_date, a.component), lender, s.digits)
            else:
                amount = part(a.amount, a.payment_date)
            if a.component == "unapplied":
                unapplied += amount
            elif a.due_date is not None and a.component in PAID_KEYS:
                by_date[a.due_date][a.component] += amount
                if a.component in ("prepayment", "repayment"):
                    events.add(a.due_date)
        for d in fa.netted:  # an upfront fee netted from the closing draw: paid at closing
            if counted(d.date):
                by_date[d.date]["fees"] += part(d.amount, d.date)
        for d in fa.dues:
            if d.kind == OVERDUE_INTEREST:
                due[d.date]["overdue_interest"] += part(d.amount, d.date)
                settled = sum((part(x, on) for on, x in d.settled if counted(on)), ZERO)
                by_date[d.date]["overdue_interest"] += settled
                by_date[d.date]["interest"] -= settled  # paid as interest: shown apart
            elif d.component == DEFAULT_INTEREST:
                due[d.date]["default_interest"] += part(d.amount, d.date)
            elif d.component == "fees" and d.kind == "prepayment fee":
                due[d.date]["prepayment_fee"] += part(d.amount, d.date)
                events.add(d.date)
        paid[fid] = {"by_date": dict(by_date), "due": dict(due), "events": sorted(events),
                     "unapplied": unapplied}
        schedules.append(s.for_lender(lender) if lender is not None else s)
    return DealSchedule(deal_id, record.deal.currency, schedules), paid
