"""Allocation (SPEC §4.3): a pure function of a facility's schedule and all its payments.

Payments are taken in (value date, payment_id) order. Prepayments change the schedule
itself (lower balance from their date, future principal cut from the last date back), so
the schedule is rebuilt with them first; then scheduled and fee payments settle the dues.
Whatever a payment cannot settle is `unapplied` — reported, never dropped.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Callable, Iterable, Sequence

from ..engine.fees import prepayment_fee_rate
from ..engine.schedule import FacilitySchedule
from ..model.documents import Facility

ZERO = Decimal(0)
COMPONENTS = ("fees", "commitment_fee", "interest", "principal")
FEE_COMPONENTS = ("fees", "commitment_fee")


@dataclass(frozen=True, slots=True)
class Payment:
    """One row of a posted payment file."""

    payment_id: str
    deal: str
    facility: str
    date: date
    amount: Decimal
    currency: str
    type: str = "scheduled"
    """scheduled · prepayment · fee"""
    reference: str = ""
    file: str = ""
    """Archive file name the payment was posted from."""
    line: int = 0

    def content(self) -> tuple:
        """What must match for a re-posted payment_id to be a harmless duplicate."""
        return (self.deal, self.facility, self.date, self.amount, self.currency, self.type, self.reference)


@dataclass(slots=True)
class Due:
    date: date
    component: str
    amount: Decimal
    kind: str = ""
    """For fees: upfront, exit, prepayment fee, or the fixed fee's name."""
    paid: Decimal = ZERO

    @property
    def unpaid(self) -> Decimal:
        return self.amount - self.paid


@dataclass(frozen=True, slots=True)
class Allocation:
    payment_id: str
    payment_date: date
    due_date: date | None
    component: str
    """fees · commitment_fee · interest · principal · prepayment · unapplied"""
    amount: Decimal


@dataclass(slots=True)
class FacilityAllocation:
    schedule: FacilitySchedule
    dues: list[Due]
    allocations: list[Allocation] = field(default_factory=list)


def order(payments: Iterable[Payment]) -> list[Payment]:
    return sorted(payments, key=lambda p: (p.date, p.payment_id))


def allocate(schedule_with: Callable[[Sequence[tuple[date, Decimal]]], FacilitySchedule],
             terms_at: Callable[[date], Facility], payments: Iterable[Payment],
             waterfall: Sequence[str] = COMPONENTS, rounding: Callable[[Decimal], Decimal] = lambda x: x
             ) -> FacilityAllocation:
    """Allocate a facility's payments.

    `schedule_with(prepayments)` builds the schedule with the given (date, amount)
    prepayments; `terms_at(d)` gives the terms in force on a date (prepayment fees);
    `rounding` rounds a money figure to the currency's minor unit."""
    ordered = order(payments)
    prepays = [(p.date, p.amount) for p in ordered if p.type == "prepayment"]
    schedule = schedule_with(prepays)
    dues = _dues(schedule)
    rank = {c: i for i, c in enumerate(waterfall)}

    # prepayment fees are dues created by the prepayments actually applied
    applied = list(schedule.prepaid)
    prepay_applied: dict[str, Decimal] = {}
    for p in (p for p in ordered if p.type == "prepayment"):
        for i, (d, amt) in enumerate(applied):
            if d == p.date:
                prepay_applied[p.payment_id] = amt
                applied.pop(i)
                break
        amount = prepay_applied.get(p.payment_id, ZERO)
        rate = prepayment_fee_rate(terms_at(p.date), p.date)
        if rate and amount:
            dues.append(Due(p.date, "fees", rounding(rate * amount), "prepayment fee"))
    dues.sort(key=lambda d: (d.date, rank.get(d.component, 99)))
    pay_dates = sorted({r.date for r in schedule.rows})

    result = FacilityAllocation(schedule, dues)
    out = result.allocations
    fee_dues = [d for d in dues if d.component in FEE_COMPONENTS]
    first_open = 0  # dues before this index are settled (scheduled payments settle oldest first)
    for p in ordered:
        left = p.amount
        if p.type == "prepayment":
            applied_amt = prepay_applied.get(p.payment_id, ZERO)
            if applied_amt:
                out.append(Allocation(p.payment_id, p.date, p.date, "prepayment", applied_amt))
                left -= applied_amt
        elif p.type == "fee":
            for due in fee_dues:
                if left <= 0:
                    break
                left = _settle(due, left, p, out)
        else:
            i = bisect.bisect_left(pay_dates, p.date)
            cutoff = pay_dates[i] if i < len(pay_dates) else None
            k = first_open
            while k < len(dues) and left > 0:
                due = dues[k]
                if cutoff is not None and due.date > cutoff:
                    break
                left = _settle(due, left, p, out)
                k += 1
            while first_open < len(dues) and dues[first_open].paid >= dues[first_open].amount:
                first_open += 1
        if left > 0:
            out.append(Allocation(p.payment_id, p.date, None, "unapplied", left))
    return result


def _settle(due: Due, left: Decimal, p: Payment, out: list[Allocation]) -> Decimal:
    """Apply what is left of a payment to one due; returns what is still left."""
    unpaid = due.amount - due.paid
    if unpaid <= 0:
        return left
    take = unpaid if unpaid < left else left
    due.paid += take
    out.append(Allocation(p.payment_id, p.date, due.date, due.component, take))
    return left - take


def _dues(schedule: FacilitySchedule) -> list[Due]:
    dues: list[Due] = []
    fee_kinds: dict[date, list[str]] = {}
    for d, kind, _ in schedule.fee_details:
        fee_kinds.setdefault(d, []).append(kind)
    for row in schedule.rows:
        for component in COMPONENTS:
            amount = getattr(row, component)
            if amount > 0:
                kind = ", ".join(fee_kinds.get(row.date, [])) if component == "fees" else ""
                dues.append(Due(row.date, component, amount, kind))
    return dues

