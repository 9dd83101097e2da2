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
from ..engine.deal import ScheduleBuilder, deal_terms, schedule_builder
from ..engine.lenders import accrued_exact, lender_part, lender_rows, row_weights, split_exact, timeline_of
from ..engine.schedule import FacilitySchedule
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


def facility_inputs(loaded: LoadedBook, deal_id: str, as_of: date | None = None, build: ScheduleBuilder | None = None,
                    terms: dict[str, FacilityTerms] | None = None):
    """(terms by facility, schedule builder) for a deal: the terms as of `as_of` (unless
    given) and a builder of schedules with balance reductions (on `build`, the deal's
    `engine.deal.schedule_builder`, unless given)."""
    record = loaded.deals[deal_id]
    if terms is None:
        terms, _ = deal_terms(record, as_of)
    if build is None:
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
    """The lender's part (SPEC §3, §4.4): cash applied to a due split like the lender's part
    of that due (days held for interest), other flows by the shares in force on their date,
    its balance carried through share changes (`facility_flows`); commitment, drawn, unfunded
    and what is accrued or past due follow its share on the as-of date (accrued interest by
    the days it held the current period)."""
    s = fa.schedule
    tl = timeline_of(s)
    if not tl.holds(lender):
        return None
    digits = s.digits
    zero = round_money(ZERO, digits)
    as_of = whole.as_of
    now = tl.shares_on(as_of)

    def part(amount: Decimal) -> Decimal:
        return lender_part(amount, now, lender, digits)

    got = {"draw": zero, "pik": zero, "interest": zero, "fees": zero, "principal": zero, "unapplied": zero,
           "transfer": zero}
    for f in facility_flows(fa, as_of, lender):
        if f.kind in got:
            got[f.kind] += f.amount
    held = part(whole.held)  # principal paid beyond the balance, unapplied (`facility_position`)
    outstanding = got["draw"] + got["pik"] + got["transfer"] - (got["principal"] - held)
    if whole.written_off or whole.recoveries:  # the carrying figure (servicing.credit), by the shares now
        outstanding = part(whole.outstanding_principal)
    accrued = _accrued_parts(s, whole, lender)
    commitment = part(whole.commitment)
    return replace(
        whole, lender=lender, held=held, commitment=commitment, drawn=min(part(whole.drawn), commitment),
        unfunded=part(whole.unfunded), outstanding_principal=outstanding,
        written_off=part(whole.written_off), recoveries=part(whole.recoveries),
        default_interest_due=part(whole.default_interest_due),
        accrued_default_interest=part(whole.accrued_default_interest),
        accrued_interest=accrued[0], pik_capitalised=got["pik"], accrued_pik=accrued[1],
        accrued_commitment_fee=accrued[2] if whole.accrued_commitment_fee else zero, interest_received=got["interest"], fees_received=got["fees"],
        principal_received=got["principal"] - held, unapplied=got["unapplied"] + held, past_due=part(whole.past_due),
        share=_decimal(dict(now).get(lender, 0)))


def _decimal(x) -> Decimal:
    from fractions import Fraction
    x = Fraction(x)
    return Decimal(x.numerator) / Decimal(x.denominator)


def _accrued_parts(s: FacilitySchedule, whole: Position, lender: str) -> tuple[Decimal, Decimal, Decimal]:
    """The lender's parts of the accrued (interest, PIK, commitment fee): each lender's exact
    part for the days it held the current period so far (anything beyond the schedule's own
    accrual, e.g. interest on overdue principal, by the shares on the as-of date), divided by
    largest remainder."""
    from fractions import Fraction
    tl = timeline_of(s)
    as_of = whole.as_of
    figures = (whole.accrued_interest, whole.accrued_pik, whole.accrued_commitment_fee)
    now = tl.shares_on(as_of)
    row = next((r for r in s.rows[1:] if r.accrual_start is not None and r.accrual_start <= as_of < r.date), None)
    exact: tuple = ({}, {}, {})
    totals = (Fraction(0),) * 3
    if row is not None:
        *exact, totals = accrued_exact(row, tl, as_of)
    order = tl.ordered(as_of)
    out = []
    for figure, parts, total in zip(figures, exact, totals):
        rest = Fraction(figure) - total
        parts = dict(parts)
        for n, share in now:
            parts[n] = parts.get(n, Fraction(0)) + rest * share
        out.append(split_exact(figure, parts, order, s.digits, now).get(lender, round_money(ZERO, s.digits)))
    return out[0], out[1], out[2]


def money_fields() -> list[str]:
    return [f.name for f in fields(Position) if f.name in MONEY]



@dataclass(frozen=True, slots=True)
class Flow:
    """A dated amount for a lender (or the whole facility): draw, pik, interest, fees,
    principal, unapplied, transfer (principal re-divided to (+) or from (−) the lender at a
    share change; no cash) or settlement (the cash of a share change, + received: a trade's
    price, par otherwise)."""

    date: date
    kind: str
    amount: Decimal


_KIND = {"prepayment": "principal", "repayment": "principal", "commitment_fee": "fees", "default_interest": "interest"}


def facility_flows(fa: FacilityAllocation, as_of: date, lender: str | None = None) -> list[Flow]:
    """Every flow up to `as_of`, for the whole facility or one lender's part, in date order.

    A lender's cash applied to a due is its part of the cumulative cash applied to that due,
    split like its part of the due (`engine.lenders.row_weights`); draws, netted fees and
    other cash by the shares on their date; PIK as its schedule part (days held). At each
    share change the facility's outstanding then is re-divided (a `transfer`, par moved, no
    cash), and the cash of the change is a `settlement` (signed: + received): the trade's
    price for a trade's buyer (−) and seller (+), par for any other re-division. On a date
    the facility's outstanding reaches zero the lender repays what it still holds."""
    s = fa.schedule
    digits = s.digits
    zero = round_money(ZERO, digits)
    tl = timeline_of(s)

    def part(amount: Decimal, shares) -> Decimal:
        return lender_part(amount, shares, lender, digits)

    events: list[Flow] = []
    for d, a in s.draws:
        if d <= as_of:
            events.append(Flow(d, "draw", part(a, tl.shares_on(d))))
    if lender is None:
        piks = [(r.date, r.pik) for r in s.rows]
    else:
        piks = [(r.date, r.pik) for r in lender_rows(s).get(lender, [])]
    events += [Flow(d, "pik", x) for d, x in piks if d <= as_of and x]
    cum: dict[tuple, Decimal] = {}
    given: dict[tuple, Decimal] = {}
    for a in fa.allocations:
        if a.on > as_of or a.component in ("reversed", "reversal"):
            continue
        if lender is None:
            events.append(Flow(a.on, _KIND.get(a.component, a.component), a.amount))
            continue
        key = (a.due_date or a.payment_date, a.component) if a.component in _ROW_COMPONENTS else (
            a.payment_date, a.component, a.payment_id)
        cum[key] = cum.get(key, ZERO) + a.amount
        weights = row_weights(s, key[0], a.component) if a.component in _ROW_COMPONENTS else tl.shares_on(key[0])
        mine = part(cum[key], weights)
        events.append(Flow(a.on, _KIND.get(a.component, a.component), mine - given.get(key, zero)))
        given[key] = mine
    for d in fa.netted:
        if d.date <= as_of:
            events.append(Flow(d.date, "fees", part(d.amount, tl.shares_on(d.date))))
    events.sort(key=lambda f: (f.date, f.kind))
    if lender is None:
        return [e for e in events if e.amount]
    whole = facility_flows(fa, as_of)
    dates = sorted({e.date for e in events} | {e.date for e in whole} | {d for d in tl.change_dates() if d <= as_of})
    trades = [t for t in tl.trades if t.settlement_date <= as_of]
    out: list[Flow] = []
    carried = whole_out = zero
    ei = wi = 0
    changes = set(tl.change_dates())
    for d in dates:
        if d in changes:
            target = part(whole_out, tl.shares_on(d))
            moved = target - carried
            cash = -moved
            for t in trades:
                if t.settlement_date == d and lender in (t.buyer, t.seller):
                    cash += (t.par - t.cash) if lender == t.buyer else (t.cash - t.par)
            out.append(Flow(d, "transfer", moved))
            out.append(Flow(d, "settlement", cash))
            carried = target
        repaid = False
        while ei < len(events) and events[ei].date == d:
            e = events[ei]
            carried += _sign(e.kind) * e.amount
            out.append(e)
            ei += 1
        while wi < len(whole) and whole[wi].date == d:
            w = whole[wi]
            whole_out += _sign(w.kind) * w.amount
            repaid = repaid or _sign(w.kind) < 0
            wi += 1
        if repaid and whole_out <= 0:
            # repaid: the lender holds nothing more — or, paid beyond the balance (cash ahead of
            # PIK not yet capitalised: `facility_position`'s `held`), its part of that excess
            target = part(whole_out, tl.shares_on(d)) if whole_out < 0 else zero
            if carried != target:
                out.append(Flow(d, "principal", carried - target))
                carried = target
    return [f for f in out if f.amount]


_ROW_COMPONENTS = ("interest", "fees", "commitment_fee", "principal")


def _sign(kind: str) -> int:
    return {"draw": 1, "pik": 1, "principal": -1, "transfer": 1}.get(kind, 0)
