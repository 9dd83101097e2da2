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

from ..conventions.currency import minor_units
from ..conventions.rounding import round_money
from ..engine.deal import deal_terms, schedule_builder
from ..engine.schedule import FacilitySchedule, lender_part
from ..engine.terms import FacilityTerms
from ..model.records import LoadedBook
from .allocation import (PRINCIPAL_COMPONENTS, FacilityAllocation, Payment, PayoffQuote, Rules, allocate,
                         overdue_interest, payoff_quote)
from .credit import CREDIT_MONEY, credit_fields, facility_credit

ZERO = Decimal(0)
MONEY = ("commitment", "drawn", "unfunded", "outstanding_principal", "accrued_interest", "accrued_pik",
         "accrued_commitment_fee", "pik_capitalised",
         "interest_received", "fees_received", "principal_received", "unapplied", "past_due") + CREDIT_MONEY


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
    accrued_pik: Decimal = Decimal(0)
    """PIK accrued from the current period's start, not yet capitalised."""
    accrued_commitment_fee: Decimal = Decimal(0)
    """Commitment fee accrued from the current period's start, not yet due."""
    paid_off: bool = False
    """The facility was ended by a payoff on or before the as-of date."""
    # credit events (SPEC §3.3, §4.4; computed in servicing/credit.py)
    default_interest_due: Decimal = Decimal(0)
    """Default interest fallen due on or before the as-of date and unpaid."""
    accrued_default_interest: Decimal = Decimal(0)
    """Default interest accrued in the current period, due on the next payment date."""
    in_default: bool = False
    """A `default` event is in force (not yet cured)."""
    non_accrual: bool = False
    non_accrual_since: date | None = None
    """The start of the non-accrual in force (by event, or the day the DPD reached policy.non_accrual_dpd)."""
    written_off: Decimal = Decimal(0)
    """Principal written off up to the as-of date (no longer in outstanding_principal)."""
    recoveries: Decimal = Decimal(0)
    """Principal cash received on written-off principal."""


def facility_inputs(loaded: LoadedBook, deal_id: str, as_of: date | None = None):
    """(terms by facility, schedule builder) for a deal."""
    record = loaded.deals[deal_id]
    terms, _ = deal_terms(record, as_of)
    build = schedule_builder(loaded, record)

    def builder(ft: FacilityTerms, reductions=(), end_on: date | None = None, rate_shift=ZERO) -> FacilitySchedule:
        return build(ft, rate_shift=rate_shift, end_on=end_on,
                     prepayments=[(d, a) for d, a, k in reductions if k == "prepayment"],
                     repayments=[(d, a) for d, a, k in reductions if k == "repayment"])
    return terms, builder


def allocation_rules(loaded: LoadedBook, currency: str) -> Rules:
    """The book's waterfall, rounding and unapplied-cash policy."""
    digits = minor_units(currency)
    mode = loaded.book.rounding if loaded.book else "half_up"
    waterfall = loaded.book.waterfall if loaded.book else ("fees", "commitment_fee", "default_interest", "interest",
                                                           "principal")
    hold = bool(loaded.book and loaded.book.policy.unapplied == "hold")
    return Rules(tuple(waterfall), lambda x: round_money(x, digits, mode), hold)


def allocate_facility(loaded: LoadedBook, deal_id: str, facility_id: str, payments: Iterable[Payment],
                      as_of: date | None = None, terms=None, builder=None) -> FacilityAllocation:
    if terms is None or builder is None:
        terms, builder = facility_inputs(loaded, deal_id, as_of)
    ft = terms[facility_id]
    record = loaded.deals[deal_id]
    return allocate(lambda reductions, end_on: builder(ft, reductions, end_on),
                    lambda d: (ft.at(d) or ft.first).facility, payments, allocation_rules(loaded, record.deal.currency),
                    facility_credit(loaded, record, ft))


def quote_payoff(loaded: LoadedBook, deal_id: str, facility_id: str, payments: Iterable[Payment], on: date
                 ) -> PayoffQuote | None:
    """The payoff quote of a facility on a date, after the payments dated before it."""
    terms, builder = facility_inputs(loaded, deal_id)
    ft = terms[facility_id]
    record = loaded.deals[deal_id]
    return payoff_quote(lambda reductions, end_on: builder(ft, reductions, end_on),
                        lambda d: (ft.at(d) or ft.first).facility, payments, on,
                        allocation_rules(loaded, record.deal.currency), facility_credit(loaded, record, ft))


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
        if a.on > as_of:
            continue
        if a.component in PRINCIPAL_COMPONENTS:
            received["principal"] += a.amount
        elif a.component in ("fees", "commitment_fee"):
            received["fees"] += a.amount
        elif a.component == "default_interest":
            received["interest"] += a.amount
        elif a.component in received:
            received[a.component] += a.amount
    received["fees"] += sum((d.amount for d in fa.netted if d.date <= as_of), zero)
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
        if due.date < as_of:
            unpaid = due.unpaid_on(as_of)
            if unpaid > 0:
                past_due += unpaid
                oldest = due.date if oldest is None or due.date < oldest else oldest
    dpd = (as_of - oldest).days if oldest else 0
    accrued, accrued_pik, accrued_cfee, rate, spread = _accrued(fa, as_of, digits, mode)
    paid_off = s.ended_on is not None and s.ended_on <= as_of
    unfunded = zero
    if as_of < avail_end and as_of < s.maturity_date and not paid_off:
        unfunded = max(commitment - (outstanding if _is_revolver(s) else drawn), zero)
    position = Position(deal, s.facility_id, None, s.currency, as_of, commitment, drawn, unfunded, outstanding,
                        accrued, pik, received["interest"], received["fees"], received["principal"],
                        received["unapplied"], past_due, dpd, bucket_name(dpd, buckets), rate, spread, s.pik_rate,
                        s.maturity_date, avail_end if avail_end != s.maturity_date else None, Decimal(1), held,
                        accrued_pik, accrued_cfee, paid_off)
    return replace(position, **credit_fields(fa, position, mode)) if fa.credit.tracked else position


def _is_revolver(s: FacilitySchedule) -> bool:
    return s.facility_type == "revolver"


def _accrued(fa: FacilityAllocation, as_of: date, digits: int, mode: str):
    """(cash interest, PIK, commitment fee) accrued from the current period's start to
    `as_of` (not yet due), each rounded once, with the period's rate and spread. Cash
    interest includes the contractual interest on principal overdue since its due date."""
    s = fa.schedule
    for i, row in enumerate(s.rows[1:], start=1):
        if row.accrual_start is not None and row.accrual_start <= as_of < row.date:
            cash = pik = cfee = ZERO
            for seg in row.segments:
                if seg.start >= as_of:
                    break
                c, p, f = seg.accrued(as_of)
                cash, pik, cfee = cash + c, pik + p, cfee + f
            cash += overdue_interest(fa.dues, s.rows[i - 1].date, row, as_of, s.day_count)
            r = lambda x: round_money(x, digits, mode)  # noqa: E731
            return r(cash), r(pik), r(cfee), row.rate, row.spread
    zero = round_money(ZERO, digits)
    last = s.rows[-1]
    if len(s.rows) > 1 and s.ended_on is None and as_of > last.date:
        # after maturity overdue principal keeps bearing the last period's rate; what accrued
        # falls due on each later payment's date (allocation), so accrue from the latest one
        since = max([last.date] + [d.date for d in fa.dues if last.date < d.date <= as_of])
        cash = overdue_interest(fa.dues, since, last, as_of, s.day_count)
        if cash:
            return round_money(cash, digits, mode), zero, zero, last.rate, last.spread
    return zero, zero, zero, None, None


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
        if a.on > as_of:
            continue
        key = _KIND.get(a.component, a.component)
        if key in rec:
            rec[key] += part(a.amount, shares_on(a.payment_date))
    for d in fa.netted:
        if d.date <= as_of:
            rec["fees"] += part(d.amount, shares_on(d.date))
    held = part(whole.held, now)
    rec["principal"] -= held
    rec["unapplied"] += held
    return replace(
        whole, lender=lender, held=held,
        commitment=part(whole.commitment, now), drawn=out["drawn"], unfunded=part(whole.unfunded, now),
        outstanding_principal=part(whole.outstanding_principal, now),
        accrued_interest=part(whole.accrued_interest, now), pik_capitalised=out["pik_capitalised"],
        accrued_pik=part(whole.accrued_pik, now), accrued_commitment_fee=part(whole.accrued_commitment_fee, now),
        written_off=part(whole.written_off, now), recoveries=part(whole.recoveries, now),
        default_interest_due=part(whole.default_interest_due, now),
        accrued_default_interest=part(whole.accrued_default_interest, now),
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


_KIND = {"prepayment": "principal", "repayment": "principal", "commitment_fee": "fees", "default_interest": "interest"}


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
        if a.on <= as_of and a.component not in ("reversed", "reversal"):
            events.append(Flow(a.on, _KIND.get(a.component, a.component), part(a.amount, shares_on(a.payment_date))))
    for d in fa.netted:
        if d.date <= as_of:
            events.append(Flow(d.date, "fees", part(d.amount, shares_on(d.date))))
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
