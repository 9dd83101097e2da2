"""Overnight rates in arrears (SPEC §3.2): the daily rates of one accrual period under
`interest.method: simple | compounded`, computed once per period from the index's fixings.

The index's business days are the rows of its rates file and, after the last row, the
business days of the facility's calendar (at the last row's rate: `projected`). A period's
rates are kept as runs of calendar days with one per-day index rate each (simple: the
observed rate; compounded without shift: F_i × r_i; with observation shift: R), so the
interest of any sub-interval with a constant balance P is

    P × (Σ of the days' index rates + spread × days) / B

read off cumulative sums with a bisect — a draw, repayment or prepayment inside the period
is exact, and accrued interest to a date is the same sum cut at that date.

`observations` lists what a notice shows (SPEC §5.1): each run's accrual date, observation
date, fixing, observed rate, weight in days and whether it is projected, from the same plan
(business-day positions, lookback, lockout cut-off) as the rates themselves.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Context, Decimal, localcontext

from ..conventions.calendars import Calendar
from ..model.documents import Interest
from ..model.records import RateSeries

ZERO = Decimal(0)
ONE = Decimal(1)
_CTX = Context(prec=50)  # the engine's context, also when positions ask for accrued interest
OVERNIGHT_METHODS = frozenset({"simple", "compounded"})
BASIS = {"ACT/360": Decimal(360), "ACT/365F": Decimal(365)}
GAP_WARN_DAYS = 5
"""A gap of more than this many calendar days between two rows of an overnight rates file is
a warning (E0308): no index is closed that long."""


class OvernightProblem(Exception):
    """A period the fixings cannot serve: code, message, the interest key at fault, a hint."""

    def __init__(self, code: str, message: str, key: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.message, self.key, self.hint = code, message, key, hint


@dataclass(frozen=True, slots=True)
class DailyRates:
    """The index part of each calendar day's rate over one accrual period [start, end)."""

    start: date
    end: date
    basis: Decimal
    spread: Decimal
    starts: tuple[int, ...]
    """Ordinals of the runs' first days (the first is `start`)."""
    rates: tuple[Decimal, ...]
    """Each run's per-day index rate (floors and caps applied, spread not)."""
    cum: tuple[Decimal, ...]
    """Σ of the per-day index rates before each run's first day."""
    projected: bool
    shift: "_Shift | None" = None
    """With observation shift: what accrual to a date inside the period needs."""
    source: tuple = field(default=(), repr=False, compare=False)
    """(series, calendar, interest terms, shock) the rates came from, to list the observations."""

    def _c(self, ordinal: int) -> Decimal:
        j = bisect.bisect_right(self.starts, ordinal) - 1
        return self.cum[j] + self.rates[j] * (ordinal - self.starts[j])

    def amount(self, balance: Decimal, a: date, b: date, until: date | None = None) -> Decimal:
        """Unrounded interest of a constant `balance` over the days [a, b) — cut at `until`
        (excluded) with the fixings known then — spread included."""
        lo, hi = max(a, self.start), min(b, self.end)
        if until is not None and until < hi:
            hi = until
        if hi <= lo or not balance:
            return ZERO
        days = (hi - lo).days
        with localcontext(_CTX):
            if self.shift is not None:
                r = self.rates[0] if until is None or until >= self.end else self.shift.rate_to(until)
                return balance * (r + self.spread) * days / self.basis
            x, y = lo.toordinal(), hi.toordinal()
            return balance * (self._c(y) - self._c(x) + self.spread * days) / self.basis

    def unit_rate(self) -> Decimal:
        """The all-in annual rate of a constant balance over the whole period."""
        days = (self.end - self.start).days
        return (self._c(self.end.toordinal()) - self._c(self.start.toordinal())) / days + self.spread

    def observations(self) -> list["Observation"]:
        """The observed daily rates behind these rates, one per run (see `observations`)."""
        series, cal, it, shock = self.source
        return observations(series, cal, self.start, self.end, it, shock)


@dataclass(frozen=True, slots=True)
class Observation:
    """One run of an overnight period (SPEC §3.2): from an index business day (or the
    period's first day) to the next, the calendar days that earn one observed rate."""

    accrual_date: date
    """The run's first calendar day in the accrual period."""
    observation_date: date
    """The index business day whose fixing applies (after lookback, shift and lockout)."""
    fixing: Decimal
    """That day's rate in the rates file (the last row's rate after the file ends)."""
    rate: Decimal
    """The observed rate: fixing + index adjustment (+ a simulation shock), floor and cap applied."""
    days: int
    """The calendar days the rate is weighted by (with observation shift: of the observation period)."""
    projected: bool
    """The observation date is after the file's last row."""


@dataclass(frozen=True, slots=True)
class _Shift:
    """Observation-shift runs, to compound a part of the observation period."""

    basis: Decimal
    lookback: int
    bdays: tuple[int, ...]
    """Ordinals of the index business days around the period."""
    obs_start: int
    obs_end: int
    starts: tuple[int, ...]
    rates: tuple[Decimal, ...]
    factors: tuple[Decimal, ...]
    """Π(1 + r n / B) before each run."""

    def shifted(self, d: date) -> int:
        if self.lookback == 0:
            return d.toordinal()
        q = bisect.bisect_left(self.bdays, d.toordinal())
        return self.bdays[max(0, q - self.lookback)]

    def rate_to(self, until: date) -> Decimal:
        """R over the observation days before the shifted `until`."""
        y = min(max(self.shifted(until), self.obs_start), self.obs_end)
        if y <= self.obs_start:
            return self.rates[0]
        j = bisect.bisect_right(self.starts, y - 1) - 1
        f = self.factors[j] * (ONE + self.rates[j] * (y - self.starts[j]) / self.basis)
        return (f - ONE) * self.basis / (y - self.obs_start)


def _business_days(series: RateSeries, cal: Calendar, lo: date, hi: date, before: int
                   ) -> tuple[list[int], list[Decimal], list[bool]]:
    """Index business days from `before` days ahead of the last one on or before `lo` through
    the first one on or after `hi`: (ordinals, fixings, projected flags). After the file's
    last row they are the calendar's business days at the last row's rate."""
    dates, rates = series.dates, series.rates
    last = dates[-1]
    if lo > last:  # wholly projected: start a margin before lo, or at the file's end if that is near
        d = lo - timedelta(days=3 * before + 14)
        if d > last:
            ords, fix, proj = _calendar_days(cal, d, hi, rates[-1])
            if sum(1 for o in ords if o <= lo.toordinal()) > before:
                return ords, fix, proj
    i0 = max(0, bisect.bisect_right(dates, lo) - 1 - before)
    i1 = bisect.bisect_left(dates, hi)  # the first row on or after hi
    ords = [d.toordinal() for d in dates[i0:i1 + 1]]
    fix = list(rates[i0:i1 + 1])
    proj = [False] * len(ords)
    if i1 >= len(dates):
        o, f, p = _calendar_days(cal, last + timedelta(days=1), hi, rates[-1])
        ords += o
        fix += f
        proj += p
    return ords, fix, proj


def _calendar_days(cal: Calendar, d: date, hi: date, rate: Decimal) -> tuple[list[int], list[Decimal], list[bool]]:
    """Business days of `cal` from `d` through the first one on or after `hi`, at `rate`."""
    ords: list[int] = []
    step = timedelta(days=1)
    while True:
        if cal.is_business_day(d):
            ords.append(d.toordinal())
            if d >= hi:
                break
        d += step
    return ords, [rate] * len(ords), [True] * len(ords)


class _Index:
    """One rate series' business days on one calendar, computed once and reused across
    periods and facilities: the rows' ordinals, then the calendar's business days after the
    last row (extended as periods need them, at the last row's rate, `projected`); the
    observed rates under each (adjustment, floor, cap); and the full-run compounding factors
    1 + r × n / B under each (adjustment, floor, cap, lookback, basis)."""

    __slots__ = ("series", "cal", "ords", "fix", "n_rows", "obs", "growth", "periods")

    def __init__(self, series: RateSeries, cal: Calendar) -> None:
        self.series, self.cal = series, cal
        self.ords = [d.toordinal() for d in series.dates]
        self.fix = list(series.rates)
        self.n_rows = len(self.ords)
        self.obs: dict[tuple, list[Decimal]] = {}
        self.growth: dict[tuple, list[Decimal]] = {}
        self.periods: dict[tuple, tuple] = {}
        """The index part of each period's `DailyRates` computed so far (see `daily_rates`)."""

    def cover(self, hi: int) -> None:
        """Business days through the first one on or after the ordinal `hi` (a year more at once)."""
        ords = self.ords
        if ords[-1] >= hi:
            return
        d, cal, last = date.fromordinal(ords[-1] + 1), self.cal, self.fix[self.n_rows - 1]
        target, step = hi + 366, timedelta(days=1)
        while True:
            if cal.is_business_day(d):
                ords.append(d.toordinal())
                self.fix.append(last)
                if ords[-1] >= target:
                    break
            d += step

    def observed(self, adj: Decimal, floor: Decimal | None, cap: Decimal | None) -> list[Decimal]:
        key = (adj, floor, cap)
        obs = self.obs.get(key)
        if obs is None:
            obs = self.obs[key] = []
        if len(obs) < len(self.fix):
            with localcontext(_CTX):
                for x in self.fix[len(obs):]:
                    r = x + adj
                    if floor is not None and r < floor:
                        r = floor
                    if cap is not None and r > cap:
                        r = cap
                    obs.append(r)
        return obs

    def factors(self, obs: list[Decimal], key: tuple, lookback: int, basis: Decimal) -> list[Decimal]:
        """g[p] = 1 + obs[p − lookback] × (ords[p+1] − ords[p]) / B (None before the first row's lookback)."""
        g = self.growth.get(key)
        if g is None:
            g = self.growth[key] = [None] * min(lookback, len(self.ords))
        ords, n = self.ords, len(self.ords) - 1
        if len(g) < n:
            with localcontext(_CTX):
                for p in range(len(g), n):
                    g.append(ONE + obs[p - lookback] * (ords[p + 1] - ords[p]) / basis)
        return g

    def weights(self, obs: list[Decimal], key: tuple, lookback: int) -> list[Decimal]:
        """w[p] = obs[p − lookback] × (ords[p+1] − ords[p]): a whole business-day run's Σ of
        daily rates (simple), under each (adjustment, floor, cap, lookback)."""
        key = ("weights", *key)
        w = self.growth.get(key)
        if w is None:
            w = self.growth[key] = [None] * min(lookback, len(self.ords))
        ords, n = self.ords, len(self.ords) - 1
        if len(w) < n:
            with localcontext(_CTX):
                for p in range(len(w), n):
                    w.append(obs[p - lookback] * (ords[p + 1] - ords[p]))
        return w


_INDEXES: dict[tuple[int, int], _Index] = {}
_MAX_INDEXES = 64
_MAX_PERIODS = 20_000
"""Periods kept per index (each holds its runs: about 15 kB for a quarter); cleared when full."""


def _index(series: RateSeries, cal: Calendar) -> _Index:
    """The cached `_Index` of (series, calendar), by identity (the entry holds both, so an id
    is never reused while its entry lives)."""
    key = (id(series), id(cal))
    found = _INDEXES.get(key)
    if found is None or found.series is not series or found.cal is not cal:
        if len(_INDEXES) >= _MAX_INDEXES:
            _INDEXES.clear()
        found = _INDEXES[key] = _Index(series, cal)
    return found


def daily_rates(series: RateSeries, cal: Calendar, start: date, end: date, it: Interest,
                shock: Decimal = ZERO) -> DailyRates:
    """The daily rates of the accrual period [start, end) (SPEC §3.2). Raises
    `OvernightProblem` for a fixing needed before the file's first row (E0307) or a lockout
    as long as the period (E0283). The index part is computed once per (series, calendar,
    period, method settings) and shared by every facility with that period (only the spread
    differs): many loans pay on the same dates."""
    basis = BASIS[it.day_count]
    adj = it.index_adjustment + shock
    _check_first_row(series, start)
    ix = _index(series, cal)
    key = (start, end, it.method, it.lookback_days, it.lockout_days, it.observation_shift, basis, adj,
           it.floor, it.cap)
    part = ix.periods.get(key)
    if part is None:
        with localcontext(_CTX):  # shared by every caller: never the caller's context
            if it.observation_shift:
                part = _shifted(series, cal, start, end, it, basis, adj)
            else:
                part = _unshifted(ix, series, start, end, it, basis, adj)
        if len(ix.periods) >= _MAX_PERIODS:
            ix.periods.clear()
        ix.periods[key] = part
    return DailyRates(start, end, basis, it.spread, *part, (series, cal, it, shock))


def observations(series: RateSeries, cal: Calendar, start: date, end: date, it: Interest,
                 shock: Decimal = ZERO) -> list[Observation]:
    """The observed rates of the accrual period [start, end), one per run of calendar days
    (SPEC §3.2): without observation shift, the runs of the accrual period (the first starts
    on `start`, each later one on an index business day); with it, the runs of the
    observation period, dated in the accrual period by their index business day
    `lookback_days` later. The same plans as `daily_rates`, so the same rates."""
    adj = it.index_adjustment + shock
    _check_first_row(series, start)
    out: list[Observation] = []
    with localcontext(_CTX):
        return _observations(series, cal, start, end, it, adj, out)


def _observations(series: RateSeries, cal: Calendar, start: date, end: date, it: Interest, adj: Decimal,
                  out: list[Observation]) -> list[Observation]:
    if it.observation_shift:
        ords, fix, proj, p_s, p_e, cut, o_s, o_e, observed = _shift_plan(series, cal, start, end, it, adj)
        lookback = it.lookback_days
        for p in range(p_s, p_e + 1):
            a = max(ords[p], o_s)
            b = ords[p + 1] if p < p_e else o_e
            q = min(p, cut) if it.lockout_days else p
            r, pj = observed(q)
            accrual = start if p == p_s else date.fromordinal(ords[p + lookback] if lookback else a)
            out.append(Observation(accrual, date.fromordinal(ords[q]), fix[q], r, b - a, pj))
        return out
    ix = _index(series, cal)
    s_o, e_o, p_s, p_e, cut, obs = _plan(ix, series, start, end, it, adj)
    ords, lookback = ix.ords, it.lookback_days
    for p in range(p_s, p_e + 1):
        a = ords[p] if p > p_s else s_o
        b = ords[p + 1] if p < p_e else e_o
        q = (p if p <= cut else cut) - lookback
        out.append(Observation(date.fromordinal(a), date.fromordinal(ords[q]), ix.fix[q], obs[q], b - a,
                               q >= ix.n_rows))
    return out


def _check_first_row(series: RateSeries, start: date) -> None:
    if not series.dates or start < series.dates[0]:
        first = f" (first row: {series.dates[0]})" if series.dates else ""
        raise OvernightProblem("E0307", f"no {series.index} fixing on or before {start}{first}", "index",
                               f"add daily fixings to {series.file} back to {start}")


def _plan(ix: "_Index", series: RateSeries, start: date, end: date, it: Interest, adj: Decimal
          ) -> tuple[int, int, int, int, int, list[Decimal]]:
    """Without observation shift: (start and end ordinals, positions of b(start) and b(end − 1)
    in the index's business days, the lockout cut-off position, the observed rates)."""
    lookback, lockout = it.lookback_days, it.lockout_days
    s_o, e_o = start.toordinal(), end.toordinal()
    ix.cover(e_o)
    ords = ix.ords
    obs = ix.observed(adj, it.floor, it.cap)
    p_s = bisect.bisect_right(ords, s_o) - 1  # b(start)
    p_e = bisect.bisect_left(ords, e_o) - 1  # b(end − 1)
    if p_s - lookback < 0:
        raise OvernightProblem("E0307", f"the period {start} to {end} needs the {series.index} fixing "
                                        f"{lookback} business days before {date.fromordinal(ords[0])}, "
                                        f"before the file's first row", "index",
                               f"add daily fixings to {series.file} before {date.fromordinal(ords[0])}")
    p_first = p_s if ords[p_s] >= s_o else p_s + 1
    _check_lockout(lockout, p_e - p_first + 1, start, end, "accrual period")
    cut = p_e - lockout if lockout else p_e
    return s_o, e_o, p_s, p_e, cut, obs


def _unshifted(ix: "_Index", series: RateSeries, start: date, end: date, it: Interest, basis: Decimal,
               adj: Decimal) -> tuple:
    """(starts, rates, cum, projected, None) of a period without observation shift."""
    s_o, e_o, p_s, p_e, cut, obs = _plan(ix, series, start, end, it, adj)
    ords, lookback = ix.ords, it.lookback_days
    projected = (min(p_e, cut) - lookback) >= ix.n_rows
    # runs: [s_o, ords[p_s+1]), [ords[p_s+1], ords[p_s+2]), …, [ords[p_e], e_o); the run of
    # position p observes obs[min(p, cut) − lookback]
    total = ZERO
    if it.method != "compounded":  # simple: runs of equal rate are one run (exact sums)
        w = ix.weights(obs, (adj, it.floor, it.cap, lookback), lookback)
        last = obs[(p_s if p_s <= cut else cut) - lookback]
        starts, rates, cum = [s_o], [last], [total]
        total += last * ((ords[p_s + 1] if p_s < p_e else e_o) - s_o)
        mid = min(cut + 1, p_e)  # whole business-day runs observing their own day: p_s < p < mid
        for p in range(p_s + 1, mid):
            r = obs[p - lookback]
            if r != last:
                starts.append(ords[p])
                rates.append(r)
                cum.append(total)
                last = r
            total += w[p]
        for p in range(max(mid, p_s + 1), p_e + 1):  # locked-out runs and the last one
            b = ords[p + 1] if p < p_e else e_o
            r = obs[(p if p <= cut else cut) - lookback]
            if r != last:
                starts.append(ords[p])
                rates.append(r)
                cum.append(total)
                last = r
            total += r * (b - ords[p])
        return tuple(starts), tuple(rates), tuple(cum), projected, None
    g = ix.factors(obs, (adj, it.floor, it.cap, lookback, basis), lookback, basis)
    starts = [s_o, *ords[p_s + 1:p_e + 1]]
    rates, cum = [], []
    add_rate, add_cum = rates.append, cum.append
    # the first run, from the accrual start
    n = (ords[p_s + 1] if p_s < p_e else e_o) - s_o
    r = obs[(p_s if p_s <= cut else cut) - lookback]
    add_rate(r)
    add_cum(total)
    total += r * n
    f = ONE * (ONE + r * n / basis)
    # whole business-day runs before the cut-off: their growth factors are the index's
    for p in range(p_s + 1, cut):
        day = f * obs[p - lookback]
        add_rate(day)
        add_cum(total)
        total += day * (ords[p + 1] - ords[p])
        f = f * g[p]
    # the runs from the cut-off on (the last one ends at the accrual end)
    for p in range(max(cut, p_s + 1), p_e + 1):
        n = (ords[p + 1] if p < p_e else e_o) - ords[p]
        r = obs[(p if p <= cut else cut) - lookback]
        day = f * r
        add_rate(day)
        add_cum(total)
        total += day * n
        f = f * (ONE + r * n / basis)
    return tuple(starts), tuple(rates), tuple(cum), projected, None


def _shift_plan(series: RateSeries, cal: Calendar, start: date, end: date, it: Interest, adj: Decimal):
    """With observation shift: (business-day ordinals, fixings, projected flags, first and last
    run positions, lockout cut-off, observation start and end ordinals, observed(p) → (rate,
    projected))."""
    lookback, lockout = it.lookback_days, it.lockout_days
    floor, cap = it.floor, it.cap
    ords, fix, proj = _business_days(series, cal, start, end, lookback + 1)

    def observed(p: int) -> tuple[Decimal, bool]:
        if p < 0:
            raise OvernightProblem("E0307", f"the period {start} to {end} needs the {series.index} fixing "
                                            f"{lookback} business days before {date.fromordinal(ords[0])}, "
                                            f"before the file's first row", "index",
                                   f"add daily fixings to {series.file} before {date.fromordinal(ords[0])}")
        r = fix[p] + adj
        if floor is not None and r < floor:
            r = floor
        if cap is not None and r > cap:
            r = cap
        return r, proj[p]

    s_o, e_o = start.toordinal(), end.toordinal()
    q_s = bisect.bisect_left(ords, s_o)
    q_e = bisect.bisect_left(ords, e_o)
    if lookback == 0:
        p_s = bisect.bisect_right(ords, s_o) - 1
        o_s, o_e = s_o, e_o
    else:
        if q_s - lookback < 0:
            observed(-1)
        p_s = q_s - lookback
        o_s, o_e = ords[p_s], ords[q_e - lookback]
    p_e = bisect.bisect_left(ords, o_e) - 1  # the last business day before the observation end
    p_first = p_s if ords[p_s] >= o_s else p_s + 1
    _check_lockout(lockout, p_e - p_first + 1, start, end, "observation period")
    cut = p_e - lockout
    return ords, fix, proj, p_s, p_e, cut, o_s, o_e, observed


def _shifted(series: RateSeries, cal: Calendar, start: date, end: date, it: Interest, basis: Decimal,
             adj: Decimal) -> tuple:
    """Compounded with observation shift: R over the observation period (SPEC §3.2), as
    (starts, rates, cum, projected, shift)."""
    ords, fix, proj, p_s, p_e, cut, o_s, o_e, observed = _shift_plan(series, cal, start, end, it, adj)
    lockout = it.lockout_days
    run_starts, run_rates, factors = [], [], []
    f = ONE
    projected = False
    for p in range(p_s, p_e + 1):
        a = max(ords[p], o_s)
        b = ords[p + 1] if p < p_e else o_e
        r, pj = observed(min(p, cut) if lockout else p)
        projected = projected or pj
        run_starts.append(a)
        run_rates.append(r)
        factors.append(f)
        f = f * (ONE + r * (b - a) / basis)
    rate = (f - ONE) * basis / (o_e - o_s)
    shift = _Shift(basis, it.lookback_days, tuple(ords), o_s, o_e, tuple(run_starts), tuple(run_rates),
                   tuple(factors))
    return (start.toordinal(),), (rate,), (ZERO,), projected, shift


def _check_lockout(lockout: int, bdays: int, start: date, end: date, what: str) -> None:
    if lockout and lockout >= bdays:
        raise OvernightProblem("E0283", f"lockout_days {lockout} is not shorter than the {bdays} index business "
                                        f"days of the {what} {start} to {end}", "lockout_days",
                               "a lockout covers only the last few business days of a period (typically 2 to 5)")


def business_days_back(cal: Calendar, d: date, n: int) -> date:
    """The date `n` business days of `cal` before `d` (d itself when n = 0)."""
    while n > 0:
        d -= timedelta(days=1)
        if cal.is_business_day(d):
            n -= 1
    return d


def gaps(series: RateSeries, days: int = GAP_WARN_DAYS) -> list[tuple[int, date, date]]:
    """(row index, previous date, date) of each gap of more than `days` calendar days."""
    ds = series.dates
    return [(i, ds[i - 1], ds[i]) for i in range(1, len(ds)) if (ds[i] - ds[i - 1]).days > days]
