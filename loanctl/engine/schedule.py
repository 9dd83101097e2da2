"""The schedule engine (SPEC §3): a facility's terms in force and fixings in, rows out.

Pure: no I/O, no clock. All arithmetic in `Decimal` under a 50-digit context; each money
figure of a period is summed unrounded over its sub-intervals and rounded once.

Row 0 is the start date (draws on it, upfront fee). Row i ≥ 1 is payment date i: its
accrual period runs from the previous payment date (start included, end excluded), split at
every draw and amendment effective date; draws on a payment date belong to the next period.
"""

from __future__ import annotations

import bisect
import weakref
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Context, Decimal, localcontext
from typing import Callable, Mapping, NamedTuple, Sequence

from ..conventions.calendars import Calendar
from ..conventions.dates import PERIOD_MONTHS
from ..conventions.daycount import year_fraction
from ..conventions.rounding import money_rounder
from ..model.records import RateSeries
from ..model.documents import Facility
from .overnight import OVERNIGHT_METHODS, DailyRates, OvernightProblem, business_days_back, daily_rates
from .periods import payment_dates
from .terms import FacilityTerms, Version

ZERO = Decimal(0)
_CTX = Context(prec=50)
_RATE_PLACES = Decimal("1e-10")
MONEY_FIELDS = ("opening_balance", "draws", "interest", "pik", "commitment_fee", "fees", "principal",
                "transfers", "total_due", "closing_balance")


class ScheduleProblem(Exception):
    """Terms that cannot be scheduled (e.g. a missing fixing); carries where and why."""

    def __init__(self, message: str, version: Version | None, path: tuple, hint: str | None = None,
                 code: str = "E0222") -> None:
        super().__init__(message)
        self.message, self.version, self.path, self.hint, self.code = message, version, path, hint, code

    def diagnostic(self):
        from ..diagnostics import Diagnostic
        if self.version is None:
            return Diagnostic(self.code, self.message, hint=self.hint)
        return self.version.diag(self.code, self.message, self.path, hint=self.hint)


@dataclass(slots=True)
class Row:
    """One line of a schedule: the start date (row 0) or a payment date."""

    date: date
    accrual_start: date | None
    accrual_end: date | None
    days: int
    rate: Decimal | None
    """Cash all-in rate at period start; under an overnight method (SPEC §3.2) the period's
    equivalent annual all-in rate, 10 decimal places."""
    opening_balance: Decimal
    draws: Decimal
    interest: Decimal
    pik: Decimal
    commitment_fee: Decimal
    fees: Decimal
    principal: Decimal
    total_due: Decimal
    closing_balance: Decimal
    projected: bool = False
    spread: Decimal | None = None
    """Spread at period start (floating only), for reporting."""
    shares: tuple[tuple[str, Decimal], ...] = ()
    """Participation shares in force on the row's date."""
    prepayment: Decimal = ZERO
    """Principal prepaid within the period (closing = opening + draws + pik − principal − prepayment)."""
    segments: tuple = ()
    """The accrual period's sub-intervals (`Segment`)."""
    transfers: Decimal = ZERO
    """A lender's principal re-divided to it at a share change (SPEC §3); zero for the facility."""


class Segment(NamedTuple):
    """A sub-interval of an accrual period on which balance and rates are constant.

    Immutable; a named tuple rather than a frozen dataclass because the engine makes one
    per sub-interval and a frozen dataclass's constructor costs several times as much."""

    start: date
    end: date
    balance: Decimal
    rate: Decimal
    """Cash all-in rate."""
    day_count: str
    pik_rate: Decimal
    commitment_fee_rate: Decimal
    undrawn: Decimal
    available_until: date
    """The commitment fee accrues before this date only."""
    daily: DailyRates | None = None
    """Under an overnight method: the period's daily rates (then `rate` is the period's
    equivalent rate, for display)."""

    def accrued(self, until: date) -> tuple[Decimal, Decimal, Decimal]:
        """(cash interest, PIK, commitment fee) accrued from the start to `until` (excluded), unrounded;
        under an overnight method with the fixings known on `until`."""
        b = min(self.end, until)
        if b <= self.start:
            return ZERO, ZERO, ZERO
        yf = year_fraction(self.day_count, self.start, b)
        cfee = ZERO
        if self.commitment_fee_rate and self.start < self.available_until:
            cfee = self.commitment_fee_rate * self.undrawn * year_fraction(self.day_count, self.start,
                                                                          min(b, self.available_until))
        if self.daily is not None:
            cash = self.daily.amount(self.balance, self.start, self.end, until if until < self.daily.end else None)
        else:
            cash = self.balance * self.rate * yf
        return cash, self.balance * self.pik_rate * yf, cfee


@dataclass(slots=True)
class FacilitySchedule:
    facility_id: str
    currency: str
    digits: int
    rows: list[Row]
    maturity_date: date
    day_count: str = "ACT/360"
    fee_details: list[tuple[date, str, Decimal]] = field(default_factory=list)
    """(date, kind, amount) of every fee in the `fees` column."""
    prepaid: list[tuple[date, Decimal]] = field(default_factory=list)
    """(date, amount applied) of each prepayment, in date order."""
    draws: list[tuple[date, Decimal]] = field(default_factory=list)
    """(date, amount) of every draw."""
    commitments: list[tuple[date, Decimal, date]] = field(default_factory=list)
    """(from date, commitment, availability end) for each version of the terms."""
    facility_type: str = "term"
    pik_rate: Decimal = ZERO
    reductions: list[tuple[date, Decimal, str]] = field(default_factory=list)
    """(date, amount applied, "prepayment" | "repayment") of every balance reduction, in date order."""
    ended_on: date | None = None
    """The payoff date, when the schedule was ended by a payoff."""
    share_timeline: object = None
    """The lenders' shares over time (`engine.lenders.ShareTimeline`, amendments and trades)."""
    lender_cache: dict = field(default_factory=dict, repr=False, compare=False)
    """Lender parts computed from this schedule (`engine.lenders.lender_rows`)."""
    maker: object = field(default=None, repr=False, compare=False)
    """A weak reference to the `ScheduleMaker` that made it (None: made otherwise)."""

    def for_lender(self, lender: str) -> "FacilitySchedule":
        """The lender's parts (`engine.lenders.lender_view`)."""
        from .lenders import lender_view
        return lender_view(self, lender)

    def shares_on(self, on: date):
        """The exact shares in force on a date (`engine.lenders.ShareTimeline.shares_on`)."""
        from .lenders import timeline_of
        return timeline_of(self).shares_on(on)


@dataclass(slots=True)
class _Period:
    index: int
    pay_date: date
    accrual_start: date
    accrual_end: date


def build_schedule(terms: FacilityTerms, rates: Mapping[str, RateSeries], calendar_for: Callable[[Facility], Calendar],
                   currency: str, digits: int, rounding: str = "half_up", rate_shift: Decimal = ZERO,
                   prepayments: Sequence[tuple[date, Decimal]] = (),
                   pik_toggles: Sequence[tuple[date, bool]] = (),
                   repayments: Sequence[tuple[date, Decimal]] = (),
                   end_on: date | None = None) -> FacilitySchedule:
    """The facility's schedule under its terms in force (all versions in `terms`).

    `prepayments` (date, amount) reduce the balance on their dates (interest after accrues
    on the lower balance) and reduce future scheduled principal in inverse order of
    maturity, from the last date backwards (SPEC §4.3). `repayments` (a revolver paid
    down) reduce the balance on their dates and leave scheduled principal as it is (capped
    at the balance). A reduction larger than the balance is capped;
    `FacilitySchedule.reductions` says what each one applied.
    `pik_toggles` (date, on): from a period starting on or after the date, the cash interest
    is capitalised instead of paid (a PIK toggle election) — or paid again when off.
    `end_on` (a payoff): the schedule ends on that date — the period containing it becomes
    a final stub to it (interest, PIK and commitment fee accrued to the date, all principal,
    the exit fee) and nothing accrues after it.
    """
    return ScheduleMaker(terms, rates, calendar_for, currency, digits, rounding, rate_shift).build(
        prepayments, pik_toggles, repayments, end_on)


class ScheduleMaker:
    """`build_schedule` for one facility's terms on one set of fixings, calendars, currency,
    rounding and rate shift, called as often as needed: what depends only on the terms
    (periods, daily overnight rates, payment dates) is worked out once, and each distinct
    run is made once — a schedule with prepayments starts from the one without them, which
    every such schedule (and the contractual schedule) shares. A schedule asked for again
    is a copy of the one made (its lists shared: schedules are never changed once made).
    Each schedule made refers to its maker (`FacilitySchedule.maker`, weakly), so a caller
    holding a schedule can make others from the same terms without starting over."""

    __slots__ = ("terms", "rate_shift", "context", "timelines", "_b", "_runs", "_made", "_bullet", "__weakref__")

    def __init__(self, terms: FacilityTerms, rates: Mapping[str, RateSeries],
                 calendar_for: Callable[[Facility], Calendar], currency: str, digits: int,
                 rounding: str = "half_up", rate_shift: Decimal = ZERO, context: tuple = ()) -> None:
        self.terms = terms
        self.rate_shift = rate_shift
        self.context = context
        """What the caller made it from besides the arguments (`engine.deal`: the deal, fixings, book)."""
        self.timelines: dict = {}
        """Share timelines of these terms, as `engine.deal` works them out (by as-of date)."""
        self._b = _Builder(terms, rates, calendar_for, currency, digits, rounding, rate_shift)
        self._runs: dict[tuple, FacilitySchedule] = {}
        self._made: dict[tuple, FacilitySchedule] = {}
        self._bullet = all(v.facility.amortization.type == "bullet" for v in terms.versions)

    def build(self, prepayments: Sequence[tuple[date, Decimal]] = (), pik_toggles: Sequence[tuple[date, bool]] = (),
              repayments: Sequence[tuple[date, Decimal]] = (), end_on: date | None = None) -> FacilitySchedule:
        """The schedule with these balance reductions, PIK toggles and payoff date (`build_schedule`)."""
        b = self._b
        with localcontext(_CTX):
            toggles = tuple(sorted(pik_toggles))
            wanted = sorted([(d, b.r(a), "prepayment") for d, a in prepayments]
                            + [(d, b.r(a), "repayment") for d, a in repayments], key=lambda x: x[0])
            key = (tuple(wanted), end_on, toggles)
            made = self._made.get(key)
            if made is not None:
                return _copy(made)
            b.pik_toggles = list(toggles)
            b.end_on = end_on
            if not any(k == "prepayment" for _, _, k in wanted):
                sched = self._run([x for x in wanted if x[2] == "repayment"], end_on, toggles)
            else:
                # scheduled principal reduced from the last date back: none to reduce when every
                # version is a bullet (nothing but the maturity amount, which is the balance left)
                base = None if self._bullet else self._run([x for x in wanted if x[2] == "repayment"], end_on,
                                                            toggles)
                applied = wanted
                for _ in range(3):  # a capped prepayment changes the reductions; converges at once
                    overrides = None if base is None else _reduced_principal(
                        base, [(d, a) for d, a, k in applied if k == "prepayment"])
                    sched = b.run(applied, overrides)
                    if sched.reductions == applied:
                        break
                    applied = sched.reductions
                sched.maker = self.ref()
            self._made[key] = sched
            return sched

    def ref(self) -> "weakref.ref[ScheduleMaker]":
        return weakref.ref(self)

    def _run(self, reductions: list, end_on: date | None, toggles: tuple) -> FacilitySchedule:
        """A run without principal overrides (the builder's pik_toggles and end_on already set)."""
        key = (tuple(reductions), end_on, toggles)
        found = self._runs.get(key)
        if found is None:
            found = self._runs[key] = self._b.run(reductions)
            found.maker = self.ref()
        return found


def _copy(s: FacilitySchedule) -> FacilitySchedule:
    """A schedule as made again: its own object (callers attach a share timeline and fill
    `lender_cache`), the same rows and lists."""
    return FacilitySchedule(s.facility_id, s.currency, s.digits, s.rows, s.maturity_date, s.day_count, s.fee_details,
                            s.prepaid, s.draws, s.commitments, s.facility_type, s.pik_rate, s.reductions, s.ended_on,
                            s.share_timeline, {}, s.maker)


def _reduced_principal(base: FacilitySchedule, prepayments: list[tuple[date, Decimal]]) -> dict[date, Decimal]:
    """Scheduled principal by payment date after prepayments, reduced from the last date back."""
    amounts = {r.date: r.principal for r in base.rows[1:]}
    dates = sorted(amounts)
    for when, amount in prepayments:
        left = amount
        for d in reversed(dates):
            if d <= when or left <= 0:
                break
            cut = min(left, amounts[d])
            amounts[d] -= cut
            left -= cut
    return amounts


class _Builder:
    def __init__(self, terms, rates, calendar_for, currency, digits, rounding, rate_shift) -> None:
        self.terms: FacilityTerms = terms
        self.rates = rates
        self.calendar_for = calendar_for
        self.currency = currency
        self.digits = digits
        self.rounding = rounding
        self.rate_shift = rate_shift
        self.first = terms.first.facility
        self.start = self.first.start_date
        self._grid_cache: dict[int, list[date]] = {}
        self.pik_toggles: list[tuple[date, bool]] = []
        self.end_on: date | None = None
        self._daily: dict[tuple, DailyRates] = {}
        self.r: Callable[[Decimal], Decimal] = money_rounder(digits, rounding)
        """A money figure rounded to the currency's minor unit (`round_money`)."""
        # per-run caches of what depends only on the terms (a schedule with prepayments runs 2-4 times)
        self._single = terms.first if len(terms.versions) == 1 else None
        self._dates: dict[int, list[tuple[date, date]]] = {}
        self._periods: dict[date | None, list[_Period]] = {}
        self._cfee_terms: dict[int, tuple[Decimal | None, date]] = {}
        self._shares_of: dict[int, tuple[tuple[str, Decimal], ...]] = {}
        self._yf: dict[tuple[str, date, date], Decimal] = {}
        self._cash_rates: dict[tuple[int, date], tuple[Decimal, Decimal | None, bool]] = {}
        self._all_draws: list[tuple[date, Decimal]] | None = None
        """Every draw (date, rounded amount) in date order, and the fixed fees: the terms' own."""
        self._fixed: list = []

    # -- dates -----------------------------------------------------------------------------
    def grid(self) -> list[tuple[date, date]]:
        """(unadjusted, adjusted) payment dates, regenerated after date-changing amendments."""
        versions = self.terms.versions
        grid = self._payment_dates(versions[0].facility)
        for prev, version in zip(versions, versions[1:]):
            a, b = prev.facility, version.facility
            if (a.maturity_date, a.payments, a.start_date) == (b.maturity_date, b.payments, b.start_date):
                continue
            eff = version.effective or self.start
            fresh = self._payment_dates(b)
            grid = [g for g in grid if g[1] <= eff] + [g for g in fresh if g[1] > eff]
        out: list[tuple[date, date]] = []
        for g in grid:  # adjustment can collapse two dates onto one; keep strictly increasing
            if g[1] > self.start and (not out or g[1] > out[-1][1]):
                out.append(g)
        return out

    def _payment_dates(self, f: Facility) -> list[tuple[date, date]]:
        found = self._dates.get(id(f))
        if found is None:
            found = self._dates[id(f)] = payment_dates(f, self.calendar_for(f))
        return found

    def periods(self) -> list[_Period]:
        found = self._periods.get(self.end_on)
        if found is None:
            found = self._periods[self.end_on] = self._make_periods()
        return found

    def _make_periods(self) -> list[_Period]:
        grid = self.grid()
        out = []
        prev_adj, prev_unadj = self.start, self.start
        for i, (unadj, adj) in enumerate(grid, start=1):
            v = self.version_at(prev_adj)
            if v.facility.payments.accrual == "unadjusted":
                a, b = prev_unadj, unadj
            else:
                a, b = prev_adj, adj
            if self.end_on is not None and adj >= self.end_on:
                if a < self.end_on:  # the period containing the payoff ends on it
                    out.append(_Period(i, self.end_on, a, self.end_on))
                break
            out.append(_Period(i, adj, a, b))
            prev_adj, prev_unadj = adj, unadj
        return out

    def version_at(self, d: date) -> Version:
        if self._single is not None:
            return self._single
        return self.terms.at(d) or self.terms.first

    # -- rates -----------------------------------------------------------------------------
    def cash_rate(self, f: Facility, fixing_on: date, version: Version) -> tuple[Decimal, Decimal | None, bool]:
        """(all-in cash rate, spread, projected) for a period starting on `fixing_on` (each
        worked out once: the builder's terms live as long as it)."""
        key = (id(f), fixing_on)
        found = self._cash_rates.get(key)
        if found is None:
            found = self._cash_rates[key] = self._cash_rate(f, fixing_on, version)
        return found

    def _cash_rate(self, f: Facility, fixing_on: date, version: Version) -> tuple[Decimal, Decimal | None, bool]:
        it = f.interest
        if it.index is None:
            return it.fixed_rate or ZERO, None, False
        series = self.rates.get(it.index)
        if it.fixing_lag_business_days is not None:
            fixing_date = business_days_back(self.calendar_for(f), fixing_on, it.fixing_lag_business_days)
        else:
            fixing_date = fixing_on - timedelta(days=it.fixing_lag_days)
        found = series.fixing(fixing_date) if series is not None else None
        if found is None:
            first = f" (first row: {series.dates[0]})" if series is not None and series.dates else ""
            raise ScheduleProblem(f"no {it.index} fixing on or before {fixing_date}{first}", version,
                                  ("interest", "index"), hint=f"add fixings to rates/{it.index}.csv")
        fixing, projected = found
        fixing += self.rate_shift + it.index_adjustment
        if it.floor is not None and fixing < it.floor:
            fixing = it.floor
        if it.cap is not None and fixing > it.cap:
            fixing = it.cap
        return fixing + it.spread, it.spread, projected

    def daily(self, f: Facility, a: date, b: date, version: Version) -> DailyRates:
        """The overnight daily rates of the accrual period [a, b) under the terms `f` (cached:
        a schedule with prepayments runs more than once)."""
        it = f.interest
        key = (a, b, id(f))  # the builder's terms live as long as it
        found = self._daily.get(key)
        if found is None:
            series = self.rates.get(it.index)
            if series is None:
                raise ScheduleProblem(f"no rate file for index {it.index}", version, ("interest", "index"),
                                      hint=f"add rates/{it.index}.csv", code="E0205")
            try:
                found = daily_rates(series, self.calendar_for(f), a, b, it, self.rate_shift)
            except OvernightProblem as problem:
                raise ScheduleProblem(problem.message, version, ("interest", problem.key), hint=problem.hint,
                                      code=problem.code) from None
            self._daily[key] = found
        return found

    # -- the run ---------------------------------------------------------------------------
    def run(self, reductions: Sequence[tuple[date, Decimal, str]] = (),
            overrides: Mapping[date, Decimal] | None = None) -> FacilitySchedule:
        versions = self.terms.versions
        n_versions = len(versions)
        periods = self.periods()
        n_periods = len(periods)
        zero = self.r(ZERO)
        if self._all_draws is None:
            self._all_draws = sorted(((d.date, self.r(d.amount)) for d in self._draws()), key=lambda x: x[0])
            self._fixed = self._fixed_fees()
        draws = [x for x in self._all_draws if self.end_on is None or x[0] < self.end_on]
        fixed_fees = self._fixed
        fee_details: list[tuple[date, str, Decimal]] = []

        # row 0: draws on the start date and the upfront fee
        start_draws = sum((a for d, a in draws if d == self.start), zero)
        fees0 = zero
        for fee in self.first.fees:
            if fee.type == "upfront":
                amt = self.r(fee.rate * self.first.commitment)
                fees0 += amt
                fee_details.append((self.start, "upfront", amt))
        for fee in fixed_fees:
            if fee.date == self.start:
                fees0 += self.r(fee.amount)
                fee_details.append((self.start, fee.name or "fixed", self.r(fee.amount)))
        rows = [Row(self.start, None, None, 0, None, zero, start_draws, zero, zero, zero, fees0, zero, fees0,
                    start_draws, False, None, self._shares(self.start))]

        balance = start_draws
        cum_draws = start_draws
        pending = [(d, a) for d, a in draws if d > self.start]
        pending_prepay = sorted(reductions, key=lambda x: x[0])
        prepaid: list[tuple[date, Decimal, str]] = []
        amount: Decimal | None = None  # straight / level amount in force
        prev_open = prev_principal = prev_rate = None
        prev_maturity: date | None = None
        custom_done: set[tuple[int, date]] = set()

        version_at, commitment_terms, yf_of, r = self.version_at, self._commitment_terms, self._year_fraction, self.r
        single = self._single
        single_shares = self._shares(self.start) if single is not None else None
        for p in periods:
            v0 = single or version_at(p.accrual_start)
            overnight = v0.facility.interest.method in OVERNIGHT_METHODS and v0.facility.interest.index is not None
            if overnight:  # rate0 is the equivalent rate, known after the sub-intervals
                d0 = self.daily(v0.facility, p.accrual_start, p.accrual_end, v0)
                rate0, spread0, projected = None, v0.facility.interest.spread, d0.projected
            else:
                rate0, spread0, projected = self.cash_rate(v0.facility, p.accrual_start, v0)
            opening = balance
            row_draws = row_prepay = ()  # (both lists in date order: the period's are a head)
            if pending and pending[0][0] < p.pay_date:
                row_draws = [(d, a) for d, a in pending if d < p.pay_date]
                pending = pending[len(row_draws):]
            if pending_prepay and pending_prepay[0][0] < p.pay_date:
                row_prepay = [x for x in pending_prepay if x[0] < p.pay_date]
                pending_prepay = pending_prepay[len(row_prepay):]
            applied_prepay: list[tuple[date, Decimal]] = []
            applied_idx: set[int] = set()
            segments = []
            seg_args = []  # overnight: the segments' fields, made into Segments once the rate is known
            if row_draws or row_prepay or n_versions > 1:
                cuts = {p.accrual_start, p.accrual_end}
                cuts.update(d for d, _ in row_draws if p.accrual_start < d < p.accrual_end)
                cuts.update(x[0] for x in row_prepay if p.accrual_start < x[0] < p.accrual_end)
                cuts.update(v.effective for v in versions[1:]
                            if v.effective and p.accrual_start < v.effective < p.accrual_end)
                cuts = sorted(cuts)
            else:
                cuts = [p.accrual_start, p.accrual_end]
            interest = pik = cfee = ZERO
            weight = ZERO  # Σ balance(t) over the period's days (overnight: the equivalent rate's base)
            prepaid_sum = ZERO
            for k in range(len(cuts) - 1):
                a, b = cuts[k], cuts[k + 1]
                drawn_by_a = ZERO
                if row_draws:
                    for d, amt in row_draws:
                        if d <= a:
                            drawn_by_a += amt
                if row_prepay:
                    for j, (d, amt, kind) in enumerate(row_prepay):  # reductions dated by `a` act from `a`
                        if d <= a and j not in applied_idx:
                            self._apply_prepay(opening + drawn_by_a, amt, d, kind, applied_prepay)
                            applied_idx.add(j)
                    prepaid_sum = ZERO
                    for x in applied_prepay:
                        prepaid_sum += x[1]
                seg_balance = opening + drawn_by_a - prepaid_sum
                v = single or version_at(a)
                f = v.facility
                daily = None
                if overnight and f.interest.method in OVERNIGHT_METHODS and f.interest.index is not None:
                    daily = d0 if v is v0 else self.daily(f, p.accrual_start, p.accrual_end, v)
                    projected = projected or daily.projected
                    rate = rate0
                elif v is v0:
                    rate = rate0
                else:  # amended mid-period: new spread / floor / cap on the period's fixing
                    rate, _, proj = self.cash_rate(f, p.accrual_start, v)
                    projected = projected or proj
                it = f.interest
                yf = yf_of(it.day_count, a, b)
                if daily is not None:
                    interest += daily.amount(seg_balance, a, b)
                    weight += seg_balance * (b - a).days
                else:
                    interest += seg_balance * rate * yf
                if it.pik_rate:
                    pik += seg_balance * it.pik_rate * yf
                c_rate, undrawn, c_end = commitment_terms(f, cum_draws + drawn_by_a, seg_balance)
                if c_rate and a < c_end:
                    cfee += c_rate * undrawn * yf_of(it.day_count, a, b if b < c_end else c_end)
                if overnight:
                    seg_args.append([a, b, seg_balance, rate, it.day_count, it.pik_rate or ZERO, c_rate, undrawn,
                                     c_end, daily])
                else:
                    segments.append(Segment(a, b, seg_balance, rate, it.day_count, it.pik_rate or ZERO, c_rate,
                                            undrawn, c_end))
            if overnight:  # the equivalent rate: interest × B / Σ balance(t), 10 places half-even
                rate0 = interest * d0.basis / weight if weight else d0.unit_rate()
                rate0 = rate0.quantize(_RATE_PLACES, rounding="ROUND_HALF_EVEN")
                for args in seg_args:
                    if args[9] is not None:
                        args[3] = rate0
                    segments.append(Segment(*args))
            interest, pik, cfee = r(interest), r(pik), r(cfee)
            if self.pik_toggles and self._toggled(p.accrual_start):
                pik, interest = pik + interest, zero
            period_draws = zero
            for _, a in row_draws:
                period_draws += a
            cum_draws += period_draws
            for j, (d, amt, kind) in enumerate(row_prepay):  # dated after the accrual end (unadjusted accrual)
                if j not in applied_idx:  # (a reduction of the period not yet applied)
                    self._apply_prepay(opening + period_draws, amt, d, kind, applied_prepay)
            prepaid_now = zero
            for x in applied_prepay:
                prepaid_now += x[1]
            prepaid += applied_prepay
            due_balance = opening + period_draws + pik - prepaid_now

            # scheduled principal, by the terms in force at the payment date
            f_pay = (single or version_at(min(p.pay_date, p.accrual_end))).facility
            am = f_pay.amortization
            if p.index == n_periods:
                principal = due_balance  # maturity repays everything left
            elif overrides is not None:
                principal = overrides.get(p.pay_date, zero)
            elif p.index <= am.interest_only_periods or am.type == "bullet":
                principal = zero
            elif am.type == "percent":
                principal = self.r((am.annual_rate or ZERO) / self._ppy(f_pay) * cum_draws)
            elif am.type == "custom":
                principal = zero
                for j, inst in enumerate(am.schedule):
                    if inst.date == p.pay_date and (j, inst.date) not in custom_done:
                        principal += self.r(inst.amount)
                        custom_done.add((j, inst.date))
            else:  # straight and level keep their amount until the recompute rule fires
                n = self._dates_left(f_pay, p)
                if (amount is None or opening != prev_open - prev_principal
                        or f_pay.maturity_date != prev_maturity
                        or (am.type == "level" and rate0 != prev_rate)):
                    rp = rate0 / self._ppy(f_pay)
                    if am.type == "straight" or rp == 0:
                        amount = r(opening / n)
                    else:
                        amount = r(opening * rp / (1 - (1 + rp) ** -n))
                principal = amount if am.type == "straight" else max(amount - interest, zero)
            principal = max(min(principal, due_balance), zero) + zero
            prev_open, prev_principal, prev_rate, prev_maturity = opening, principal, rate0, f_pay.maturity_date

            fees = zero
            for fee in fixed_fees:
                if rows[-1].date < fee.date <= p.pay_date:
                    fees += self.r(fee.amount)
                    fee_details.append((p.pay_date, fee.name or "fixed", self.r(fee.amount)))
            if p.index == n_periods:
                total_drawn = cum_draws
                for fee in f_pay.fees:
                    if fee.type == "exit":
                        amt = self.r(fee.rate * total_drawn)
                        fees += amt
                        fee_details.append((p.pay_date, "exit", amt))
            closing = due_balance - principal
            rows.append(Row(p.pay_date, p.accrual_start, p.accrual_end, (p.accrual_end - p.accrual_start).days,
                            rate0, opening, period_draws, interest, pik, cfee, fees, principal,
                            interest + cfee + fees + principal, closing, projected, spread0,
                            single_shares or self._shares(p.pay_date), prepaid_now, tuple(segments)))
            balance = closing
        last = versions[-1].facility
        commitments = [(v.effective or self.start, v.facility.commitment,
                        v.facility.availability_end or v.facility.maturity_date) for v in versions]
        return FacilitySchedule(self.terms.id, self.currency, self.digits, rows, last.maturity_date,
                                last.interest.day_count, fee_details, [(d, a) for d, a, k in prepaid if k == "prepayment"],
                                draws, commitments, last.type, last.interest.pik_rate, prepaid, self.end_on)

    def _year_fraction(self, day_count: str, a: date, b: date) -> Decimal:
        """`year_fraction`, each (day count, start, end) worked out once (runs share their periods)."""
        key = (day_count, a, b)
        found = self._yf.get(key)
        if found is None:
            found = self._yf[key] = year_fraction(day_count, a, b)
        return found

    def _toggled(self, on: date) -> bool:
        state = False
        for when, flag in self.pik_toggles:
            if when <= on:
                state = flag
        return state

    @staticmethod
    def _apply_prepay(balance_before: Decimal, amount: Decimal, when: date, kind: str, applied: list) -> None:
        """Cap a reduction at the balance left after earlier reductions of the period."""
        left = balance_before - sum((x[1] for x in applied), ZERO)
        applied.append((when, min(amount, max(left, ZERO)), kind))

    def _dates_left(self, f: Facility, p: _Period) -> int:
        """Amortizing payment dates from this period to maturity, under the terms `f`."""
        key = id(f)
        grid = self._grid_cache.get(key)
        if grid is None:
            grid = self._grid_cache[key] = [adj for _, adj in self._payment_dates(f)]
        # the adjusted dates never decrease: those on or after the payment date are a tail of the grid
        first = max(bisect.bisect_left(grid, p.pay_date), f.amortization.interest_only_periods)
        return max(1, len(grid) - first)

    @staticmethod
    def _ppy(f: Facility) -> Decimal:
        return Decimal(12 // PERIOD_MONTHS[f.payments.frequency])

    def _fixed_fees(self):
        seen, out = set(), []
        for version in self.terms.versions:
            for fee in version.facility.fees:
                if fee.type == "fixed" and (fee.date, fee.amount, fee.name) not in seen:
                    seen.add((fee.date, fee.amount, fee.name))
                    out.append(fee)
        return out

    def _draws(self):
        """Every draw across versions (an amendment may list more draws), once each."""
        seen: dict[tuple[date, Decimal], int] = {}
        out = []
        for version in self.terms.versions:
            counts: dict[tuple[date, Decimal], int] = {}
            for d in version.facility.effective_draws:
                key = (d.date, d.amount)
                counts[key] = counts.get(key, 0) + 1
                if counts[key] > seen.get(key, 0):
                    seen[key] = counts[key]
                    out.append(d)
        return out

    def _commitment_terms(self, f: Facility, cum_draws: Decimal, balance: Decimal) -> tuple[Decimal, Decimal, date]:
        """(commitment fee rate, undrawn, availability end) for a sub-interval."""
        found = self._cfee_terms.get(id(f))
        if found is None:
            found = self._cfee_terms[id(f)] = (next((fee.rate for fee in f.fees if fee.type == "commitment"), None),
                                               f.availability_end or f.maturity_date)
        rate, end = found
        if rate is None:
            return ZERO, ZERO, end
        used = balance if f.type == "revolver" else cum_draws
        undrawn = f.commitment - used
        if rate is None or undrawn <= 0:
            return ZERO, ZERO, end
        return rate, undrawn, end

    def _shares(self, on: date) -> tuple[tuple[str, Decimal], ...]:
        v = self._single or self.version_at(on)
        found = self._shares_of.get(id(v))
        if found is None:
            found = self._shares_of[id(v)] = tuple((p.lender, p.share) for p in v.facility.participations)
        return found


def overnight_problems(terms: FacilityTerms, rates: Mapping[str, RateSeries],
                       calendar_for: Callable[[Facility], Calendar]) -> list[ScheduleProblem]:
    """What the fixings cannot serve in a facility's overnight periods, without building the
    schedule: a fixing needed before the file's first row (E0307, the earliest period of
    each version) and a lockout as long as a period (E0283, every period)."""
    b = _Builder(terms, rates, calendar_for, "USD", 2, "half_up", ZERO)
    out: list[ScheduleProblem] = []
    seen: set[tuple] = set()
    with localcontext(_CTX):
        for p in b.periods():
            v = b.version_at(p.accrual_start)
            it = v.facility.interest
            if it.method not in OVERNIGHT_METHODS or it.index not in rates:
                continue
            first = id(v) not in seen
            seen.add(id(v))
            if not first and not it.lockout_days:
                continue
            try:
                b.daily(v.facility, p.accrual_start, p.accrual_end, v)
            except ScheduleProblem as problem:
                if (problem.code, id(v)) not in seen:
                    seen.add((problem.code, id(v)))
                    out.append(problem)
    return out
