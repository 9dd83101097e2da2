"""Positions as of a date (SPEC §4.4), per facility and per lender share — the basis of every report.

`allocate_facility` wires a book's terms, fixings and calendars into the pure allocation;
`facility_position` reads a position off an allocation; `lender_position` splits it by the
participation shares in force when each cash flow happened (largest remainder, so the
lenders' parts always sum to the facility's figures exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from typing import Iterable, Sequence

from ..conventions.calendars import make_calendar
from ..conventions.currency import minor_units
from ..conventions.daycount import year_fraction
from ..conventions.rounding import round_money
from ..engine.deal import deal_terms
from ..engine.periods import book_calendars
from ..engine.schedule import FacilitySchedule, build_schedule, lender_part
from ..engine.terms import FacilityTerms
from ..model.records import LoadedBook
from .allocation import FacilityAllocation, Payment, allocate

ZERO = Decimal(0)
MONEY = ("commitment", "drawn", "unfunded", "outstanding_principal", "accrued_interest", "pik_capitalised",
         "interest_received", "fees_received", "principal_received", "unapplied", "past_due")


@dataclass(frozen=True, slots=True)
class Position:
    deal: str
    facility: str
    lender: str | None
    """None: the whole facility."""
    currency: str
    as_of: date
    commitment: Decimal
    drawn: Decimal
    unfunded: Decimal
    outstanding_principal: Decimal
    accrued_interest: Decimal
    pik_capitalised: Decimal
    interest_received: Decimal
    fees_received: Decimal
    principal_received: Decimal
    unapplied: Decimal
    past_due: Decimal
    dpd: int
    dpd_bucket: str
    rate: Decimal | None
    """Cash all-in rate of the current period."""
    spread: Decimal | None
    pik_rate: Decimal
    maturity_date: date
    availability_end: date | None
    share: Decimal = Decimal(1)
    """The lender's share in force on the as-of date."""
    held: Decimal = Decimal(0)
    """Principal paid ahead of PIK not yet capitalised, shown as unapplied (see facility_position)."""


def facility_inputs(loaded: LoadedBook, deal_id: str, as_of: date | None = None):
    """(terms by facility, schedule builder) for a deal."""
    record = loaded.deals[deal_id]
    terms, _ = deal_terms(record, as_of)
    calendars = book_calendars(loaded.book)
    rounding = loaded.book.rounding if loaded.book else "half_up"
    digits = minor_units(record.deal.currency)

    def builder(ft: FacilityTerms, prepayments=(), rate_shift=ZERO) -> FacilitySchedule:
        return build_schedule(ft, loaded.rates, lambda f: make_calendar(f.payments.calendar, calendars),
                              record.deal.currency, digits, rounding, rate_shift=rate_shift, prepayments=prepayments)
    return terms, builder


def allocate_facility(loaded: LoadedBook, deal_id: str, facility_id: str, payments: Iterable[Payment],
                      as_of: date | None = None, terms=None, builder=None) -> FacilityAllocation:
    if terms is None or builder is None:
        terms, builder = facility_inputs(loaded, deal_id, as_of)
    ft = terms[facility_id]
    record = loaded.deals[deal_id]
    digits = minor_units(record.deal.currency)
    mode = loaded.book.rounding if loaded.book else "half_up"
    waterfall = loaded.book.waterfall if loaded.book else ("fees", "commitment_fee", "interest", "principal")
    return allocate(lambda pre: builder(ft, pre), lambda d: (ft.at(d) or ft.first).facility, payments,
                    waterfall, lambda x: round_money(x, digits, mode))


def bucket_name(dpd: int, edges: Sequence[int]) -> str:
    """dpd_buckets [0, 30, 60, 90, 120] → current, 1-30, 31-60, 61-90, 91-120, 120+."""
    if dpd <= 0:
        return "current"
    for lo, hi in zip(edges, edges[1:]):
        if lo < dpd <= hi:
            return f"{lo + 1}-{hi}"
    return f"{edges[-1]}+" if edges else "past due"


def bucket_names(edges: Sequence[int]) -> list[str]:
    return ["current"] + [f"{lo + 1}-{hi}" for lo, hi in zip(edges, edges[1:])] + [f"{edges[-1]}+"]


def facility_position(fa: FacilityAllocation, deal: str, as_of: date, buckets: Sequence[int],
                      mode: str = "half_up") -> Position:
    """The facility's position on `as_of` (allocations must come from payments dated ≤ as_of)."""
    s = fa.schedule
    digits = s.digits
    zero = round_money(ZERO, digits)
    commitment, avail_end = s.commitments[0][1], s.commitments[0][2]
    for since, c, end in s.commitments:
        if since <= as_of:
            commitment, avail_end = c, end
    drawn = sum((a for d, a in s.draws if d <= as_of), zero)
    pik = sum((r.pik for r in s.rows if r.date <= as_of), zero)
    received = {"interest": zero, "fees": zero, "principal": zero, "unapplied": zero}
    for a in fa.allocations:
        if a.payment_date > as_of:
            continue
        if a.component in ("principal", "prepayment"):
            received["principal"] += a.amount
        elif a.component in ("fees", "commitment_fee"):
            received["fees"] += a.amount
        elif a.component in received:
            received[a.component] += a.amount
    outstanding = drawn + pik - received["principal"]
    held = zero
    if outstanding < 0:
        held = -outstanding
        # cash paid ahead against a maturity amount that includes PIK not yet capitalised:
        # it is held (unapplied) until that PIK exists, so the balance never goes below zero
        received["principal"] += outstanding
        received["unapplied"] -= outstanding
        outstanding = zero
    past_due = zero
    oldest: date | None = None
    for due in fa.dues:
        if due.date < as_of and due.unpaid > 0:
            past_due += due.unpaid
            oldest = due.date if oldest is None or due.date < oldest else oldest
    dpd = (as_of - oldest).days if oldest else 0
    accrued, rate, spread = _accrued(s, as_of, digits, mode)
    unfunded = zero
    if as_of < avail_end and as_of < s.maturity_date:
        unfunded = max(commitment - (outstanding if _is_revolver(s) else drawn), zero)
    return Position(deal, s.facility_id, None, s.currency, as_of, commitment, drawn, unfunded, outstanding, accrued,
                    pik, received["interest"], received["fees"], received["principal"], received["unapplied"],
                    past_due, dpd, bucket_name(dpd, buckets), rate, spread, s.pik_rate, s.maturity_date,
                    avail_end if avail_end != s.maturity_date else None, Decimal(1), held)


def _is_revolver(s: FacilitySchedule) -> bool:
    return s.facility_type == "revolver"


def _accrued(s: FacilitySchedule, as_of: date, digits: int, mode: str):
    """Cash interest accrued from the current period's start to `as_of` (not yet due)."""
    for row in s.rows[1:]:
        if row.accrual_start is not None and row.accrual_start <= as_of < row.date:
            total = ZERO
            for seg in row.segments:
                if seg.start >= as_of:
                    break
                total += seg.accrued(as_of)[0]
            return round_money(total, digits, mode), row.rate, row.spread
    return round_money(ZERO, digits), None, None


def lender_position(fa: FacilityAllocation, whole: Position, lender: str) -> Position | None:
    """The lender's part: each flow split by the shares in force on its date; the balance
    re-split whenever the shares change (a participation transfer)."""
    s = fa.schedule
    digits = s.digits
    rows = s.rows
    if not any(lender in dict(r.shares) for r in rows):
        return None

    shares_on = s.shares_on

    def part(amount: Decimal, shares) -> Decimal:
        return lender_part(amount, shares, lender, digits)

    as_of = whole.as_of
    now = shares_on(as_of)
    out: dict[str, Decimal] = {}
    out["drawn"] = sum((part(a, shares_on(d)) for d, a in s.draws if d <= as_of), round_money(ZERO, digits))
    out["pik_capitalised"] = sum((part(r.pik, r.shares) for r in rows if r.date <= as_of), round_money(ZERO, digits))
    rec = {"interest": ZERO, "fees": ZERO, "principal": ZERO, "unapplied": ZERO}
    for a in fa.allocations:
        if a.payment_date > as_of:
            continue
        key = {"prepayment": "principal", "commitment_fee": "fees"}.get(a.component, a.component)
        if key in rec:
            rec[key] += part(a.amount, shares_on(a.payment_date))
    held = part(whole.held, now)
    rec["principal"] -= held
    rec["unapplied"] += held
    return replace(
        whole, lender=lender, held=held,
        commitment=part(whole.commitment, now), drawn=out["drawn"], unfunded=part(whole.unfunded, now),
        outstanding_principal=part(whole.outstanding_principal, now),
        accrued_interest=part(whole.accrued_interest, now), pik_capitalised=out["pik_capitalised"],
        interest_received=rec["interest"], fees_received=rec["fees"], principal_received=rec["principal"],
        unapplied=rec["unapplied"], past_due=part(whole.past_due, now), share=dict(now).get(lender, Decimal(0)))


def money_fields() -> list[str]:
    return [f.name for f in fields(Position) if f.name in MONEY]



@dataclass(frozen=True, slots=True)
class Flow:
    """A dated amount for a lender (or the whole facility): draw, pik, interest, fees,
    principal, unapplied or transfer (a participation bought (+) or sold (−) at par)."""

    date: date
    kind: str
    amount: Decimal


_KIND = {"prepayment": "principal", "commitment_fee": "fees"}


def facility_flows(fa: FacilityAllocation, as_of: date, lender: str | None = None) -> list[Flow]:
    """Every flow up to `as_of`, for the whole facility or one lender's split, in date order."""
    s = fa.schedule
    digits = s.digits
    rows = s.rows
    zero = round_money(ZERO, digits)
    change_dates = [r.date for prev, r in zip(rows, rows[1:]) if r.shares != prev.shares]
    shares_on = s.shares_on

    def part(amount: Decimal, shares) -> Decimal:
        return lender_part(amount, shares, lender, digits)

    events: list[Flow] = []
    for d, a in s.draws:
        if d <= as_of:
            events.append(Flow(d, "draw", part(a, shares_on(d))))
    for r in rows:
        if r.date <= as_of and r.pik:
            events.append(Flow(r.date, "pik", part(r.pik, r.shares)))
    for a in fa.allocations:
        if a.payment_date <= as_of:
            events.append(Flow(a.payment_date, _KIND.get(a.component, a.component), part(a.amount, shares_on(a.payment_date))))
    events.sort(key=lambda f: (f.date, f.kind))
    if lender is None or not change_dates:
        return [e for e in events if e.amount]
    out: list[Flow] = []
    carried = zero
    whole_out = zero
    pending = [d for d in change_dates if d <= as_of]
    whole_events = facility_flows(fa, as_of) if pending else []
    wi = 0
    for e in events + [Flow(date.max, "end", zero)]:
        while pending and pending[0] <= e.date:
            t = pending.pop(0)
            while wi < len(whole_events) and whole_events[wi].date < t:
                w = whole_events[wi]
                whole_out += _sign(w.kind) * w.amount
                wi += 1
            target = part(whole_out, shares_on(t))
            if target != carried:
                out.append(Flow(t, "transfer", target - carried))
                carried = target
        if e.kind == "end":
            break
        carried += _sign(e.kind) * e.amount
        out.append(e)
    return [f for f in out if f.amount]


def _sign(kind: str) -> int:
    return {"draw": 1, "pik": 1, "principal": -1}.get(kind, 0)
