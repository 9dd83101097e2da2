"""Lender parts (SPEC §3 "Participations", §2.6 trades): the one implementation.

A facility's shares change by amendment (a new `participations` list, from its effective
date) and by trade settlement (an exact fraction of the facility moves from seller to buyer
at the start of the settlement date, after amendments effective that day). `ShareTimeline`
holds those changes with exact `Fraction` shares.

`lender_rows` divides every figure of a facility schedule among its lenders:
- draws, fees, principal and prepayments by largest remainder on the shares in force on
  their own date;
- interest, PIK and commitment fee by largest remainder on each lender's exact part: for
  each of the facility's own sub-intervals (`Row.segments`), the unrounded amount times the
  lender's share averaged over the sub-interval's calendar days (days held);
- balances carried per lender; at a share change the outstanding principal then is
  re-divided on the new shares and the difference shown in `Row.transfers`;
- on a row where the facility's balance reaches zero each lender repays its own balance.

The parts of every column of every row sum exactly to the facility's figure, and each
lender row satisfies closing = opening + draws + pik + transfers − principal − prepayment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from math import floor
from typing import Callable, Sequence

from ..conventions.rounding import round_money
from ..conventions.split import split_by_shares
from ..model.documents import Trade
from .schedule import FacilitySchedule, Row
from .terms import FacilityTerms

ZERO = Decimal(0)
Shares = tuple[tuple[str, Fraction], ...]


@dataclass(frozen=True, slots=True)
class TradeMove:
    """A trade as applied: the exact fraction of the facility moved, its par and cash."""

    id: str
    seller: str
    buyer: str
    trade_date: date
    settlement_date: date
    fraction: Fraction
    """Of the whole facility (exact)."""
    par: Decimal
    """Principal moved: the trade's amount, or its share × the outstanding at settlement (rounded)."""
    price: Decimal
    cash: Decimal
    """price / 100 × par, rounded: paid by the buyer to the seller at settlement."""


@dataclass(frozen=True, slots=True)
class TradeProblem:
    """A trade the timeline could not apply (validation turns it into a diagnostic)."""

    trade_id: str
    code: str
    message: str
    key: str
    hint: str


@dataclass(frozen=True, slots=True)
class ShareTimeline:
    changes: tuple[tuple[date, Shares], ...]
    """(from date, shares); the first entry holds from the start."""
    order: tuple[str, ...]
    """Every lender, in order of appearance."""
    trades: tuple[TradeMove, ...] = ()

    def shares_on(self, on: date) -> Shares:
        """The shares in force on a date (a change dated `on` is in force on it)."""
        current = self.changes[0][1]
        for when, shares in self.changes:
            if when > on:
                break
            current = shares
        return current

    def share_of(self, lender: str, on: date) -> Fraction:
        return dict(self.shares_on(on)).get(lender, Fraction(0))

    def change_dates(self) -> list[date]:
        return [d for d, _ in self.changes[1:]]

    def holds(self, lender: str) -> bool:
        return lender in self.order

    def ordered(self, on: date) -> list[str]:
        """Largest-remainder order on a date: the list then, then lenders that left."""
        now = [n for n, _ in self.shares_on(on)]
        return now + [n for n in self.order if n not in now]


def _fraction(x) -> Fraction:
    return x if isinstance(x, Fraction) else Fraction(x)


def base_changes(terms: FacilityTerms) -> list[tuple[date, Shares]]:
    """The participation lists in force by amendment: the deal's, then each amendment that
    set `participations` (an amendment changing another term keeps the shares in force)."""
    out: list[tuple[date, Shares]] = []
    prev = None
    for v in terms.versions:
        shares = tuple((p.lender, _fraction(p.share)) for p in v.facility.participations)
        if prev is None:
            out.append((v.facility.start_date, shares))
        else:
            set_here = v.origin(("participations",))[0] is not prev.origin(("participations",))[0]
            if set_here or v.facility.participations != prev.facility.participations:
                out.append((v.effective, shares))
        prev = v
    return out


def share_timeline(terms: FacilityTerms, trades: Sequence[Trade] = (),
                   outstanding_at: Callable[[date], Decimal] | None = None, digits: int = 2,
                   rounding: str = "half_up") -> tuple[ShareTimeline, list[TradeProblem]]:
    """The facility's share changes: amendments, then its trades in (settlement_date, id)
    order, each after the amendments effective that day. A trade that cannot apply is
    skipped and reported."""
    base = base_changes(terms)
    mine = sorted((t for t in trades if t.facility == terms.id), key=lambda t: (t.settlement_date, t.id))
    problems: list[TradeProblem] = []
    moves: list[TradeMove] = []
    events: list[tuple[date, int, object]] = [(d, 0, s) for d, s in base] + [(t.settlement_date, 1, t) for t in mine]
    events.sort(key=lambda e: (e[0], e[1]))
    changes: list[tuple[date, Shares]] = []
    order: list[str] = []
    current: Shares = ()
    for when, kind, item in events:
        if kind == 0:
            current = item
        else:
            t: Trade = item
            moved = _apply_trade(t, current, outstanding_at, digits, rounding)
            if isinstance(moved, TradeProblem):
                problems.append(moved)
                continue
            move, current = moved
            moves.append(move)
        if changes and changes[-1][0] == when:
            changes[-1] = (when, current)
        else:
            changes.append((when, current))
        order += [n for n, _ in current if n not in order]
    return ShareTimeline(tuple(changes), tuple(order), tuple(moves)), problems


def _apply_trade(t: Trade, current: Shares, outstanding_at, digits: int, rounding: str):
    held = dict(current)
    outstanding = outstanding_at(t.settlement_date) if outstanding_at is not None else None
    if t.share is not None:
        fraction = _fraction(t.share)
    elif t.amount is None:
        return TradeProblem(t.id, "E0611", "a trade gives its par amount or its share", "id",
                            "write amount: 5000000 or share: 25%")
    else:
        if outstanding is None or outstanding <= 0:
            return TradeProblem(t.id, "E0616", f"nothing is outstanding on facility '{t.facility}' at the start of "
                                f"{t.settlement_date}, so a par amount cannot be moved", "amount",
                                "trade a share of the facility instead (share: 25%)")
        fraction = Fraction(t.amount) / Fraction(outstanding)
    has = held.get(t.seller, Fraction(0))
    if fraction <= 0 or has < fraction:
        had = round_money(Decimal(has.numerator) / Decimal(has.denominator) * (outstanding or 0), digits)
        what = f"{t.amount:,}" if t.amount is not None else f"{_pct(fraction)} of the facility"
        return TradeProblem(t.id, "E0614", f"seller '{t.seller}' holds {_pct(has)} of facility '{t.facility}' "
                            f"({had:,} par) at the start of {t.settlement_date}, less than the {what} it sells",
                            "amount" if t.amount is not None else "share",
                            "sell at most what the seller holds on the settlement date")
    new: dict[str, Fraction] = {}
    for name, share in current:
        new[name] = share - fraction if name == t.seller else share
    new[t.buyer] = new.get(t.buyer, Fraction(0)) + fraction
    shares = tuple((n, s) for n, s in new.items() if s != 0)
    if sum((s for _, s in shares), Fraction(0)) != 1:
        return TradeProblem(t.id, "E0615", f"after trade '{t.id}' the shares of facility '{t.facility}' would sum "
                            f"to {_pct(sum((s for _, s in shares), Fraction(0)))}, not 100%", "facility",
                            "fix the facility's participations so they sum to 100%")
    if t.amount is not None:
        par = round_money(t.amount, digits, rounding)
    else:
        base = outstanding if outstanding is not None else ZERO
        par = round_money(Decimal(fraction.numerator) * base / Decimal(fraction.denominator), digits, rounding)
    cash = round_money(t.price * par / 100, digits, rounding)
    return TradeMove(t.id, t.seller, t.buyer, t.trade_date, t.settlement_date, fraction, par, t.price, cash), shares


def _pct(x: Fraction) -> str:
    return f"{Decimal(x.numerator) * 100 / Decimal(x.denominator):.6f}".rstrip("0").rstrip(".") + "%"


def outstanding_at(schedule: FacilitySchedule, on: date) -> Decimal:
    """The facility's outstanding principal at the start of `on`: the balance after every
    draw and prepayment dated before it; PIK and principal of a payment date `on` come after."""
    rows = schedule.rows
    if on <= rows[0].date:
        return round_money(ZERO, schedule.digits)
    for i in range(1, len(rows)):
        if on <= rows[i].date:
            lo = rows[i - 1].date
            bal = rows[i].opening_balance
            bal += sum((a for d, a in schedule.draws if (lo <= d if i > 1 else lo < d) and d < on), ZERO)
            bal -= sum((a for d, a, _ in schedule.reductions if (lo <= d or i == 1) and d < on), ZERO)
            return bal
    return rows[-1].closing_balance


def timeline_of(schedule: FacilitySchedule) -> ShareTimeline:
    """The schedule's share timeline (attached by `engine.deal.schedule_builder`), or one
    read off the rows' participations when none is attached."""
    tl = schedule.share_timeline
    if tl is None:
        changes: list[tuple[date, Shares]] = []
        for r in schedule.rows:
            shares = tuple((n, _fraction(s)) for n, s in r.shares)
            if not changes or changes[-1][1] != shares:
                changes.append((r.date, shares))
        order = list(dict.fromkeys(n for _, s in changes for n, _ in s))
        tl = ShareTimeline(tuple(changes), tuple(order))
        schedule.share_timeline = tl
    return tl


def split_on(amount: Decimal, shares: Shares, digits: int) -> dict[str, Decimal]:
    """`amount` by largest remainder on `shares` (order: the list)."""
    if not shares:
        return {}
    return dict(zip((n for n, _ in shares), split_by_shares(amount, [s for _, s in shares], digits)))


def split_exact(amount: Decimal, exact: dict[str, Fraction], order: Sequence[str], digits: int,
                fallback: Shares = ()) -> dict[str, Decimal]:
    """`amount` (rounded) divided by largest remainder applied to each lender's exact,
    unrounded part (SPEC §3): each part floored to the minor unit, the units left over going
    one each to the largest remainders (ties, to 1e-12 of a unit: `order`). Falls back to the shares when the
    exact parts cannot carry the amount (a zero or mixed-sign total)."""
    names = [n for n in order if n in exact]
    scale = 10 ** digits
    units = int(amount * scale)
    xs = [exact[n] * scale for n in names]
    neg = units < 0 or (units == 0 and sum(xs, Fraction(0)) < 0)
    if neg:
        units, xs = -units, [-x for x in xs]
    floors = [floor(x) for x in xs]
    left = units - sum(floors)
    if not names or any(x < 0 for x in xs) or not 0 <= left <= len(names):
        out = {n: round_money(ZERO, digits) for n in order}
        out.update(split_on(amount, fallback, digits))
        return out
    # remainders compared to 1e-12 of a minor unit: the engine's unrounded figures carry 50 digits,
    # so parts that are equal by the arithmetic tie (and go by `order`) instead of by noise
    rank = sorted(range(len(names)), key=lambda i: -round((xs[i] - floors[i]) * 10 ** 12))
    for i in rank[:left]:
        floors[i] += 1
    sign = -1 if neg else 1
    out = {n: round_money(ZERO, digits) for n in order}
    for n, u in zip(names, floors):
        out[n] = Decimal(sign * u).scaleb(-digits)
    return out


def days_held(tl: ShareTimeline, a: date, b: date) -> dict[str, Fraction]:
    """Each lender's share averaged over the calendar days [a, b)."""
    total = (b - a).days
    out: dict[str, Fraction] = {}
    if total <= 0:
        return out
    cuts = [a] + [d for d in tl.change_dates() if a < d < b] + [b]
    for p, q in zip(cuts, cuts[1:]):
        for n, s in tl.shares_on(p):
            out[n] = out.get(n, Fraction(0)) + s * (q - p).days
    return {n: x / total for n, x in out.items()}


def accrued_exact(row: Row, tl: ShareTimeline, until: date | None = None
                  ) -> tuple[dict[str, Fraction], dict[str, Fraction], dict[str, Fraction], tuple[Fraction, ...]]:
    """Each lender's exact (cash interest, PIK, commitment fee) of a row's period accrued to
    `until` (excluded; None: the whole period), and the facility's unrounded totals."""
    cash: dict[str, Fraction] = {}
    pik: dict[str, Fraction] = {}
    cfee: dict[str, Fraction] = {}
    totals = [Fraction(0)] * 3
    for seg in row.segments:
        end = seg.end if until is None else min(seg.end, until)
        if end <= seg.start:
            break
        amounts = [Fraction(x) for x in seg.accrued(seg.end if until is None else until)]
        held = days_held(tl, seg.start, end)
        for k, (target, x) in enumerate(zip((cash, pik, cfee), amounts)):
            totals[k] += x
            if x:
                for n, s in held.items():
                    target[n] = target.get(n, Fraction(0)) + x * s
    return cash, pik, cfee, tuple(totals)


def lender_rows(schedule: FacilitySchedule) -> dict[str, list[Row]]:
    """Every lender's rows of a facility schedule (cached on the schedule)."""
    cached = schedule.lender_cache.get("rows")
    if cached is not None:
        return cached
    tl = timeline_of(schedule)
    digits = schedule.digits
    zero = round_money(ZERO, digits)
    rows = schedule.rows
    out: dict[str, list[Row]] = {n: [] for n in tl.order}
    bal = {n: zero for n in tl.order}
    changes = tl.change_dates()
    moved: list[tuple[date, str, Decimal]] = []
    for i, row in enumerate(rows):
        lo = rows[i - 1].date if i else None
        events: list[tuple[date, int, Decimal]] = []
        if i == 0:
            events += [(d, 1, a) for d, a in schedule.draws if d == row.date]
        else:
            events += [(d, 0, ZERO) for d in changes if lo < d <= row.date]
            events += [(d, 1, a) for d, a in schedule.draws if (lo <= d if i > 1 else lo < d) and d < row.date]
            events += [(d, 2, a) for d, a, _ in schedule.reductions if (lo <= d or i == 1) and d < row.date]
        events.sort(key=lambda e: (e[0], e[1]))
        opening = dict(bal)
        draws = {n: zero for n in tl.order}
        prepay = dict(draws)
        transfers = dict(draws)
        fb = row.opening_balance
        for when, kind, amt in events:
            shares = tl.shares_on(when)
            if kind == 0:
                target = {n: zero for n in tl.order}
                target.update(split_on(fb, shares, digits))
                for n in tl.order:
                    transfers[n] += target[n] - bal[n]
                    if target[n] != bal[n]:
                        moved.append((when, n, target[n] - bal[n]))
                    bal[n] = target[n]
            else:
                parts = split_on(amt, shares, digits)
                for n, x in parts.items():
                    if kind == 1:
                        draws[n] += x
                        bal[n] += x
                    else:
                        prepay[n] += x
                        bal[n] -= x
                fb += amt if kind == 1 else -amt
        now = tl.shares_on(row.date)
        order = tl.ordered(row.date)
        if i == 0 or not row.segments:
            interest = {n: zero for n in tl.order}
            pik, cfee = dict(interest), dict(interest)
            interest.update(split_on(row.interest, now, digits))
            pik.update(split_on(row.pik, now, digits))
            cfee.update(split_on(row.commitment_fee, now, digits))
        else:
            c, p, f, totals = accrued_exact(row, tl)
            if not row.interest and totals[0] and row.pik:  # a PIK toggle: the cash interest capitalised
                p = {n: p.get(n, Fraction(0)) + c.get(n, Fraction(0)) for n in set(p) | set(c)}
                c = {}
            mid = tl.shares_on(row.accrual_start or row.date)
            interest = split_exact(row.interest, c, order, digits, mid)
            pik = split_exact(row.pik, p, order, digits, mid)
            cfee = split_exact(row.commitment_fee, f, order, digits, mid)
        fees = {n: zero for n in tl.order}
        fees.update(split_on(row.fees, now, digits))
        for n in tl.order:
            bal[n] += pik[n]
        principal = {n: zero for n in tl.order}
        if i and not row.closing_balance:
            principal.update(bal)  # the facility is repaid: each lender repays its own balance
        else:
            principal.update(split_on(row.principal, now, digits))
        share_now = tuple((n, Decimal(s.numerator) / Decimal(s.denominator)) for n, s in now)
        for n in tl.order:
            bal[n] -= principal[n]
            out[n].append(replace(
                row, opening_balance=opening[n], draws=draws[n], interest=interest[n], pik=pik[n],
                commitment_fee=cfee[n], fees=fees[n], principal=principal[n], prepayment=prepay[n],
                transfers=transfers[n], total_due=interest[n] + cfee[n] + fees[n] + principal[n],
                closing_balance=bal[n], shares=share_now))
    schedule.lender_cache["rows"] = out
    schedule.lender_cache["moved"] = moved
    return out


def settlement_cash(schedule: FacilitySchedule, lender: str) -> list[tuple[date, Decimal]]:
    """The lender's cash at each share change of the schedule (+ received): a trade's price
    for its buyer (−) and seller (+); any other principal re-divided to or from it at par."""
    lender_rows(schedule)
    tl = timeline_of(schedule)
    by_date: dict[date, Decimal] = {}
    for when, n, amount in schedule.lender_cache["moved"]:
        if n == lender:
            by_date[when] = by_date.get(when, ZERO) - amount
    for t in tl.trades:
        if lender == t.buyer:
            by_date[t.settlement_date] = by_date.get(t.settlement_date, ZERO) + t.par - t.cash
        elif lender == t.seller:
            by_date[t.settlement_date] = by_date.get(t.settlement_date, ZERO) + t.cash - t.par
    return sorted((d, x) for d, x in by_date.items() if x)


def lender_view(schedule: FacilitySchedule, lender: str) -> FacilitySchedule:
    """The lender's part of every figure of the schedule (all zero for a lender that never held it)."""
    rows = lender_rows(schedule).get(lender)
    if rows is None:
        zero = round_money(ZERO, schedule.digits)
        rows = [replace(r, prepayment=zero, transfers=zero, shares=(),
                        **{k: zero for k in ("opening_balance", "draws", "interest", "pik", "commitment_fee",
                                             "fees", "principal", "total_due", "closing_balance")})
                for r in schedule.rows]
    return replace(schedule, rows=rows, lender_cache={})


def lender_part(amount: Decimal, shares, lender: str | None, digits: int) -> Decimal:
    """The lender's largest-remainder part of an amount on `shares` (the whole for lender None)."""
    if lender is None:
        return amount
    if not amount:
        return round_money(ZERO, digits)
    return split_on(amount, tuple((n, _fraction(s)) for n, s in shares), digits).get(lender, round_money(ZERO, digits))


def row_weights(schedule: FacilitySchedule, on: date, component: str) -> Shares:
    """The lenders' weights for cash applied to a due of `component` on the row dated `on`:
    interest and commitment fee by each lender's exact part (days held); the principal of a
    row where the facility is repaid by each lender's own remaining balance; anything else
    by the shares in force on that date. Cached on the schedule (the same weights object for
    every lender and payment of a due)."""
    cache = schedule.lender_cache.get("weights")
    tl = timeline_of(schedule)
    if cache is None or cache[0] is not schedule.rows or cache[1] is not tl:
        cache = schedule.lender_cache["weights"] = (schedule.rows, tl, _fixed_shares(tl), {})
    key = (on, component)
    got = cache[3].get(key)
    if got is None:
        got = cache[3][key] = _row_weights(schedule, tl, cache[2], on, component)
    return got


def _fixed_shares(tl: ShareTimeline) -> Shares | None:
    """The shares, when they never change and none is zero (else None): then each lender's
    exact part of an accrual is the amount × its share, so the accrual's weights are the
    shares themselves (worked out once a schedule: the sum is of fractions)."""
    only = tl.changes[0][1]
    if len(tl.changes) == 1 and all(w for _, w in only) and sum((w for _, w in only), Fraction(0)) == 1:
        return only
    return None


def _row_weights(schedule: FacilitySchedule, tl: ShareTimeline, fixed: Shares | None, on: date,
                 component: str) -> Shares:
    idx = next((i for i, r in enumerate(schedule.rows) if r.date == on), None)
    if idx:
        row = schedule.rows[idx]
        ws: list[tuple[str, Fraction]] = []
        if component in ("interest", "commitment_fee") and row.segments:
            if fixed is not None:
                return fixed  # (and so is the fallback below)
            key = ("exact", idx)
            exact = schedule.lender_cache.get(key)
            if exact is None:
                exact = schedule.lender_cache[key] = accrued_exact(row, tl)
            parts = exact[0] if component == "interest" else exact[2]
            ws = [(n, parts.get(n, Fraction(0))) for n in tl.ordered(on)]
        elif component == "principal" and not row.closing_balance:
            rows = lender_rows(schedule)
            ws = [(n, Fraction(rows[n][idx].principal)) for n in tl.ordered(on)]
        total = sum((w for _, w in ws), Fraction(0))
        if ws and total > 0 and all(w >= 0 for _, w in ws):
            return tuple((n, w / total) for n, w in ws if w)
    return tl.shares_on(on)
