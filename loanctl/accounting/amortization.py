"""Deferred fees over a position's life (SPEC §9): the effective interest rate and the
cumulative yield adjustment it recognises, or straight line.

Pure Decimal arithmetic under a 50-digit context. The effective rate is periodic: one rate
per payment period that discounts the position's projected cash flows (row 0 = funding, row
k = payment date k) to zero — what `numpy_financial.irr` solves on the same flows. The
carrying amount after row k is B_k = Σ_{j>k} cf_j (1+i)^-(j-k); the yield adjustment
recognised by row k is Y_k = B_k − balance_k + upfront + Σ_{j≤k} exit_j (0 at funding, the
whole fee at the last row), linear by days inside a period. Amounts are rounded once per
period from the cumulative figure, so Σ recognised = the fee exactly.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, localcontext
from typing import Callable, Sequence

ZERO = Decimal(0)
ONE = Decimal(1)
_CTX = Context(prec=50)
TOLERANCE = Decimal("1e-40")
"""|NPV| per unit of flows at which the rate is taken as solved."""


def npv(rate: Decimal, flows: Sequence[Decimal]) -> Decimal:
    """Σ flows[k] (1+rate)^-k, by Horner from the last flow (in the caller's context)."""
    v = ONE / (ONE + rate)
    acc = ZERO
    for cf in reversed(flows):
        acc = acc * v + cf
    return acc


_BRACKETS = tuple((Decimal(a) / 1000, Decimal(b) / 1000) for a, b in (
    (0, 100), (-100, 0), (100, 1000), (-500, -100), (-990, -500), (1000, 100000)))


def discount(rate: Decimal, offset: Decimal) -> Decimal:
    """(1+rate)^-offset in the caller's context, as exp(−offset · ln(1+rate)): within a few
    units of its last digit (the solver's tolerance is ten digits above that), in well under
    the time of `**`, which rounds correctly."""
    return (-offset * (ONE + rate).ln()).exp()


_NEAR_STEP = Decimal("1e-9")
"""A rate this close to one whose power is known has its own from `nearby_discount`'s series."""


def nearby_discount(known: Decimal, at: Decimal, rate: Decimal, offset: Decimal) -> Decimal:
    """(1+rate)^-offset from `known` = (1+at)^-offset, `rate` within _NEAR_STEP of `at` (the
    last Newton steps): known × exp(−offset · ln(1 + d)), d = (rate − at) / (1 + at), the
    logarithm and the exponential summed as their series (|d| < 1e-9: six terms each reach the
    context's 50 digits) — within a few units of the last digit, as `discount`, at a tenth of
    its cost."""
    d = (rate - at) / (ONE + at)
    ln = term = d
    k = 1
    while term:  # ln(1 + d) = d − d²/2 + d³/3 − …, until a term is below the context's precision
        k += 1
        term = -term * d
        before, ln = ln, ln + term / k
        if ln == before:
            break
    y = -offset * ln
    total = term = ONE
    k = 0
    while True:  # exp(y) = 1 + y + y²/2! + …
        k += 1
        term = term * y / k
        before, total = total, total + term
        if total == before:
            break
    return known * total


Objective = tuple[Callable[[Decimal], Decimal], Callable[[Decimal], Decimal]]


def _objective(flows: Sequence[Decimal], offset: Decimal | None) -> Objective:
    """(the flows' NPV at a rate, its derivative), computed in the caller's context — the one
    this is called in too (the derivative's terms are worked out here, once). `offset` None:
    flow k comes after k periods; else the first now and flow k after offset + k − 1 periods
    (a re-solve mid-period), the one fractional power (1+rate)^-offset computed once a rate
    for both."""
    if offset is None:
        weighted = [k * cf for k, cf in enumerate(flows)]  # k cf_k

        def value(rate: Decimal) -> Decimal:
            return npv(rate, flows)

        def slope(rate: Decimal) -> Decimal:  # Σ −k cf_k v^(k+1), by Horner
            v = ONE / (ONE + rate)
            acc = ZERO
            for w in reversed(weighted):
                acc = acc * v - w
            return acc * v
        return value, slope

    tail = [ZERO, *flows[1:]]
    weighted = [ZERO] + [(offset + k - 1) * flows[k] for k in range(1, len(flows))]  # (offset + k − 1) cf_k
    powers: dict[Decimal, Decimal] = {}
    last: list = []  # the last (rate, power) worked out from ln and exp: the series start from it

    def power(rate: Decimal) -> Decimal:
        got = powers.get(rate)
        if got is None:
            near = last and abs(rate - last[0]) < _NEAR_STEP
            got = powers[rate] = nearby_discount(last[1], last[0], rate, offset) if near else discount(rate, offset)
            if not near:
                last[:] = rate, got
        return got

    def value_at(rate: Decimal) -> Decimal:  # flows[0] + Σ_{k≥1} cf_k v^(k−1) × (1+rate)^-offset
        return flows[0] + npv(rate, tail) * (ONE + rate) * power(rate)

    def slope_at(rate: Decimal) -> Decimal:  # Σ_{k≥1} −(offset + k − 1) cf_k (1+rate)^-(offset + k)
        v = ONE / (ONE + rate)
        acc = ZERO
        for k in range(len(flows) - 1, 0, -1):
            acc = acc * v - weighted[k]
        return acc * power(rate) * v
    return value_at, slope_at


_COARSE = Context(prec=20)
"""The context of the first Newton iterates (`solve_rate`): a fractional power costs half
there, and the iterates only need to come near the root."""
_CLEAR = Decimal("1e-12")
"""A 20-digit NPV beyond this fraction of Σ|flows| from zero has the sign of the exact one (its
error is below 1e-16 of it for flows of up to a thousand periods)."""
COARSE_STEP = Decimal("1e-12")
"""A coarse Newton step this small ends the coarse phase: the next (50-digit) steps square
the error (1e-24, then 1e-48)."""


def solve_rate(flows: Sequence[Decimal], offset: Decimal | None = None, guess: Decimal | None = None) -> Decimal | None:
    """The periodic rate i with npv(i) = 0, or None when there is none in (−99%, 10,000%).
    `offset`: flows after the first come at offset, offset + 1, … periods (default 1, 2, …).
    `guess`: where to start (a rate re-solved starts from the old one), when inside the bracket.

    Newton from the guess (else the middle of a bracket found by scanning, its ends' signs read
    at 20 digits when clear of zero), its first steps at 20 digits until a step is below 1e-12,
    then at 50 digits (their fractional powers by series from the first one's), kept inside the
    bracket (bisection whenever a step leaves it). Converges to |npv| ≤ TOLERANCE × Σ|flows| at
    50 digits: where the iterates start changes the rate only below that."""
    if not any(flows):
        return None
    if offset == ONE:
        offset = None  # the flows fall on whole periods
    with localcontext(_CTX):
        value, slope = _objective(flows, offset)
        scale = sum((abs(f) for f in flows), ZERO)
        clear = scale * _CLEAR
    with localcontext(_COARSE):
        rough = _objective([+f for f in flows], None if offset is None else +offset)

    def signed(rate: Decimal) -> Decimal:
        """The NPV at `rate` as far as its sign goes: at 20 digits when clear of zero, else at 50."""
        with localcontext(_COARSE):
            got = rough[0](rate)
        if abs(got) > clear:
            return got
        with localcontext(_CTX):
            return value(rate)

    lo = hi = None
    for a, b in _BRACKETS:  # the usual range first, then ever wider
        fa, fb = signed(a), signed(b)
        if fa == 0:
            return a
        if (fa < 0) != (fb < 0):
            lo, hi, f_lo = a, b, fa
            break
    if lo is None:
        return None
    x = guess if guess is not None and lo < guess < hi else (lo + hi) / 2
    with localcontext(_COARSE):
        x = _coarse(x, lo, hi, *rough)
    with localcontext(_CTX):
        for _ in range(400):
            fx = value(x)
            if abs(fx) <= TOLERANCE * scale:
                return x
            if (fx < 0) == (f_lo < 0):
                lo, f_lo = x, fx
            else:
                hi = x
            d = slope(x)
            step = x - fx / d if d else None
            x = step if step is not None and lo < step < hi else (lo + hi) / 2
        return x


def _coarse(x: Decimal, lo: Decimal, hi: Decimal, value, slope) -> Decimal:
    """Newton (in the caller's context) from x until a step is below COARSE_STEP (the last
    iterate), or leaves (lo, hi) or meets a zero derivative (the iterate it was at: the
    50-digit phase goes on from there, with its bracket)."""
    for _ in range(30):
        d = slope(x)
        if not d:
            return x
        step = x - value(x) / d
        if not lo < step < hi:
            return x
        if abs(step - x) < COARSE_STEP:
            return step
        x = step
    return x


@dataclass(frozen=True, slots=True)
class Curve:
    """Cumulative yield adjustment (upfront fee/OID amortized + exit fee accreted) by date."""

    dates: tuple[date, ...]
    """Row dates: funding, then each payment date."""
    cumulative: tuple[Decimal, ...]
    """Unrounded Y at each row date (after its payment)."""
    total: Decimal
    method: str
    rate: Decimal | None = None
    """The periodic effective rate (effective_interest)."""

    def at(self, on: date) -> Decimal:
        """Y at the end of `on` (unrounded): linear by days between row dates, the whole fee after the last."""
        if on >= self.dates[-1]:
            return self.total
        if on < self.dates[0]:
            return ZERO
        k = bisect_right(self.dates, on) - 1
        a, b = self.dates[k], self.dates[k + 1]
        with localcontext(_CTX):
            y0, y1 = self.cumulative[k], self.cumulative[k + 1]
            return y0 + (y1 - y0) * Decimal((on - a).days) / Decimal((b - a).days)


def effective_interest_curve(dates: Sequence[date], flows: Sequence[Decimal], balances: Sequence[Decimal],
                             upfront: Decimal, exits: Sequence[Decimal]) -> Curve | None:
    """The effective-interest curve of a position, or None when no rate solves its flows.

    `flows[k]` is the lender's net cash flow of row k (row 0: upfront fee received − draws
    funded; then interest, commitment fee, principal, prepayments and exit fee received −
    draws); `balances[k]` its principal after row k; `exits[k]` the exit fee due at row k.
    Newton starts from the flows' simple yield: their sum (what the position earns) over the
    balance it earns it on, period by period (the rate itself for a loan at par without fees)."""
    with localcontext(_CTX):
        outstanding = sum(balances[:-1], ZERO)
        rate = solve_rate(flows, guess=sum(flows, ZERO) / outstanding if outstanding > 0 else None)
    if rate is None:
        return None
    with localcontext(_CTX):
        total = upfront + sum(exits, ZERO)
        n = len(flows)
        carrying = [ZERO] * n
        v = ONE / (ONE + rate)
        for k in range(n - 2, -1, -1):
            carrying[k] = (carrying[k + 1] + flows[k + 1]) * v
        cum, exited = [], ZERO
        for k in range(n):
            exited += exits[k]
            y = carrying[k] - balances[k] + upfront + exited
            cum.append(min(max(y, ZERO), total))
        cum[-1] = total
        return Curve(tuple(dates), tuple(cum), total, "effective_interest", rate)


def reforecast(curve: Curve, on: date, dates: Sequence[date], flows: Sequence[Decimal],
               balances: Sequence[Decimal], upfront: Decimal, exits: Sequence[Decimal],
               settled: Decimal = ZERO, coupons: Sequence[Decimal] = ()) -> Curve | None:
    """The effective-interest curve re-solved prospectively on `on` (SPEC §9) for the
    projection made then (`dates`, `flows`, `balances`, `exits` as for
    `effective_interest_curve`: the lender's rows of the schedule as projected on `on`).

    What is recognised up to `on` stays (Y_c = curve.at(on)). The carrying amount then is
    B_c = Y_c + balance_j − upfront − Σ exits_{≤j}, j the last row dated on or before `on`;
    the new rate i' solves B_c = Σ_{m>j} cf_m (1+i')^-t_m with t_m = f + (m − j − 1), f the
    fraction of period j→j+1 still to run; after that the curve is built as at funding.
    `settled`: principal prepaid after row j and by `on`, which the schedule books on row j+1:
    it came back on its date, so it leaves the carrying amount now, not at row j+1.
    `coupons`: the interest (and commitment fee) in each row's flow; the part of row j+1's
    accrued by `on` (1 − f of it) is owed on `on` beside the carrying amount, so the future
    flows are discounted against both (without it a re-solve mid-period would read the
    accrued coupon as yield and drop the curve). None when nothing is left to project or no
    rate solves it (the old curve stands)."""
    j = bisect_right(list(dates), on) - 1
    n = len(flows)
    if j < 0 or j >= n - 1:
        return None
    with localcontext(_CTX):
        total = upfront + sum(exits, ZERO)
        y_c = min(curve.at(on), total)
        carrying = y_c + balances[j] - settled - upfront - sum(exits[:j + 1], ZERO)
        span = Decimal((dates[j + 1] - dates[j]).days)
        f = Decimal((dates[j + 1] - on).days) / span if span else ONE
        accrued = coupons[j + 1] * (ONE - f) if len(coupons) > j + 1 else ZERO
        future = list(flows[j + 1:])
        future[0] -= settled
        rate = solve_rate([-(carrying + accrued)] + future, f, curve.rate)
        if rate is None:
            return None
        v = ONE / (ONE + rate)
        b = [ZERO] * n
        tail = list(flows[:j + 1]) + future
        for k in range(n - 2, j, -1):
            b[k] = (b[k + 1] + tail[k + 1]) * v
        cum, exited = [], sum(exits[:j + 1], ZERO)
        for k in range(j + 1, n):
            exited += exits[k]
            cum.append(min(max(b[k] - balances[k] + upfront + exited, ZERO), total))
        cum[-1] = total
        keep = [(d, y) for d, y in zip(curve.dates, curve.cumulative) if d < on]
        new_dates = tuple(d for d, _ in keep) + (on,) + tuple(dates[j + 1:])
        new_cum = tuple(y for _, y in keep) + (y_c,) + tuple(cum)
        return Curve(new_dates, new_cum, total, curve.method, rate)


def straight_line_curve(dates: Sequence[date], upfront: Decimal, exits: Sequence[Decimal]) -> Curve:
    """The fee recognised evenly per calendar day from funding to the last row date."""
    total = upfront + sum(exits, ZERO)
    first, last = dates[0], dates[-1]
    span = Decimal(max((last - first).days, 1))
    with localcontext(_CTX):
        cum = tuple(total * Decimal((d - first).days) / span for d in dates[:-1]) + (total,)
    return Curve(tuple(dates), cum, total, "straight_line")


def split_recognised(y: Decimal, total: Decimal, upfront: Decimal, rounder) -> tuple[Decimal, Decimal]:
    """(upfront amortized, exit accreted) to date from the unrounded cumulative Y, each rounded
    once: at Y = total they are exactly (upfront, total − upfront)."""
    if total == 0:
        return rounder(ZERO), rounder(ZERO)
    whole = rounder(y)
    with localcontext(_CTX):
        up = rounder(y * upfront / total)
    exit_total = total - upfront
    up = min(max(up, whole - exit_total, rounder(ZERO)), upfront, whole)
    return up, whole - up


def purchase_curve(on: date, dates: Sequence[date], flows: Sequence[Decimal], balances: Sequence[Decimal],
                   cash: Decimal, par: Decimal) -> Curve | None:
    """A buyer's premium or discount (par − cash, signed) accreted by its own effective rate
    (SPEC §9): the rate i solves −cash (+ the buyer's flows of a row dated `on`) at `on`, then
    the buyer's flows of each later row at f, f + 1, … periods (f the fraction of the current
    period still to run); the carrying amount after row k is B_k = Σ_{m>k} cf_m (1+i)^-(m−k),
    the accretion recognised by then Y_k = B_k − balance_k + (par − cash): 0 at `on`, the whole
    premium or discount at the last row. `dates`, `flows` (interest, commitment fee, principal
    and prepayments received − draws), `balances`: the buyer's rows. None when nothing is left
    after `on` or no rate solves the flows."""
    j = bisect_right(list(dates), on) - 1
    n = len(flows)
    if j < 0 or j >= n - 1:
        return None
    with localcontext(_CTX):
        total = par - cash
        t0 = -cash + (flows[j] if dates[j] == on else ZERO)
        span = Decimal((dates[j + 1] - dates[j]).days)
        f = Decimal((dates[j + 1] - on).days) / span if span else ONE
        rate = solve_rate([t0, *flows[j + 1:]], f)
        if rate is None:
            return None
        v = ONE / (ONE + rate)
        b = [ZERO] * n
        for k in range(n - 2, j, -1):
            b[k] = (b[k + 1] + flows[k + 1]) * v
        cum = [b[k] - balances[k] + total for k in range(j + 1, n)]
        cum[-1] = total
        return Curve((on, *dates[j + 1:]), (ZERO, *cum), total, "effective_interest", rate)


def straight_line_purchase(on: date, last: date, cash: Decimal, par: Decimal) -> Curve:
    """A buyer's premium or discount recognised evenly per day from `on` to `last`."""
    return straight_line_curve([on, max(last, on)], par - cash, [ZERO])
