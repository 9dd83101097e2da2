"""Credit events in servicing (SPEC §2.7, §3.3, §4.4): a facility's default rate and events
wired into allocation, and the credit figures of a position — default interest due and
accrued, in default, non-accrual, written off and recoveries. The rules themselves are in
`engine.credit` (shared with simulation)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..conventions.rounding import round_money
from ..engine.credit import (carrying, default_rate_steps, facility_events, in_span, non_accrual_spans,
                             overdue_intervals)
from ..model.records import DealRecord, LoadedBook
from .allocation import (DEFAULT_INTEREST, PRINCIPAL_COMPONENTS, Credit, FacilityAllocation,
                         default_interest_on)

ZERO = Decimal(0)
CREDIT_MONEY = ("default_interest_due", "accrued_default_interest", "written_off", "recoveries")


def facility_credit(loaded: LoadedBook, record: DealRecord, ft) -> Credit:
    """The facility's default rate over time, its default spans and its events."""
    events = facility_events(record, ft.id)
    dpd = loaded.book.policy.non_accrual_dpd if loaded.book is not None else None
    return Credit(tuple(default_rate_steps(ft)), tuple(events.default_spans), events, dpd)


def non_accrual_history(fa: FacilityAllocation, as_of: date) -> list[tuple[date, date | None]]:
    """[from, until) of each non-accrual up to `as_of` (by event or automatic), from the
    allocation's dues as settled by the end of `as_of` (for the journal, §9)."""
    dues = [(d.date, d.amount, [(sd, a) for sd, a in d.settled if sd <= as_of]) for d in fa.dues
            if d.date < as_of]
    spans = non_accrual_spans(fa.credit.events, overdue_intervals(dues), fa.credit.non_accrual_dpd)
    return [(a, b if b is None or b <= as_of else None) for a, b in spans if a <= as_of]


def principal_history(fa: FacilityAllocation, as_of: date):
    """`engine.credit.Carrying` on `as_of`: carrying principal, written off (with the
    dated write-offs) and recoveries (with their dates)."""
    s = fa.schedule
    increases = [(d, a) for d, a in s.draws] + [(r.date, r.pik) for r in s.rows if r.pik]
    cash = [(a.on, a.amount) for a in fa.allocations if a.component in PRINCIPAL_COMPONENTS]
    return carrying(increases, cash, fa.credit.events.write_offs, as_of)


def credit_fields(fa: FacilityAllocation, position, mode: str = "half_up") -> dict:
    """The credit figures of a facility's position (SPEC §4.4), to replace into it."""
    as_of = position.as_of
    s = fa.schedule
    digits = s.digits
    zero = round_money(ZERO, digits)
    due = sum((d.unpaid_on(as_of) for d in fa.dues if d.component == DEFAULT_INTEREST and d.date <= as_of), zero)
    accrued = zero
    if fa.credit.active:
        start, row = _period(fa, as_of)
        if start is not None:
            accrued = round_money(default_interest_on(fa.dues, fa.credit, start, as_of, row, s.day_count),
                                  digits, mode)
    out = {"default_interest_due": due, "accrued_default_interest": accrued,
           "in_default": fa.credit.events.in_default(as_of)}
    since = in_span(non_accrual_history(fa, as_of), as_of)
    out["non_accrual"] = since is not None
    out["non_accrual_since"] = since
    if fa.credit.events.write_offs:
        c = principal_history(fa, as_of)
        out["outstanding_principal"] = max(min(position.outstanding_principal, c.carrying), zero)
        out["written_off"] = c.written_off + zero
        out["recoveries"] = c.recoveries + zero
        if any(e.amount is None and e.date <= as_of for e in fa.credit.events.write_offs):
            # written off in full: the facility is closed, its unfunded commitment cancelled from
            # the write-off date, and no commitment fee accrues on it (the schedule's commitment
            # fee dues stay what the borrower owes, §4.3; the journal recognises none, §9)
            out["unfunded"] = zero
            out["accrued_commitment_fee"] = zero
    return out


def _period(fa: FacilityAllocation, as_of: date):
    """(start of the span whose default interest is not yet due, its schedule row or None after maturity)."""
    s = fa.schedule
    for i, row in enumerate(s.rows[1:], start=1):
        if row.accrual_start is not None and row.accrual_start <= as_of < row.date:
            return s.rows[i - 1].date, row
    last = s.rows[-1].date
    if len(s.rows) < 2 or as_of <= last or (s.ended_on is not None):
        return None, None
    made_due = [d.date for d in fa.dues if d.date <= as_of]
    return max([last] + made_due), None
