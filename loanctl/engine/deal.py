"""Schedules of a whole deal: terms in force (optionally as known on a date), calendars,
fixings and currency digits wired into the facility engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Callable

from ..conventions.calendars import make_calendar
from ..conventions.currency import minor_units
from ..diagnostics import Diagnostic
from ..model.records import DealRecord, LoadedBook
from .periods import book_calendars
from .lenders import ShareTimeline, TradeProblem, lender_view, outstanding_at, share_timeline
from .schedule import ZERO, FacilitySchedule, ScheduleMaker, ScheduleProblem, build_schedule
from .terms import FacilityTerms, facility_terms


@dataclass
class DealSchedule:
    deal: str
    currency: str
    facilities: list[FacilitySchedule]


def deal_terms(record: DealRecord, as_of: date | None = None) -> tuple[dict[str, FacilityTerms], list[Diagnostic]]:
    """Facility terms with the amendments effective on or before `as_of` (all when None)."""
    amendments = record.amendments if as_of is None else [
        a for a in record.amendments if a.amendment.effective_date <= as_of]
    terms, diags = facility_terms(record, amendments)
    if as_of is not None:
        terms = {k: t for k, t in terms.items() if t.first.effective is None or t.first.effective <= as_of}
    return terms, diags


def schedule_builder(loaded: LoadedBook, record: DealRecord, rates=None,
                     as_of: date | None = None) -> "ScheduleBuilder":
    """The one schedule setup: `build(terms, **options)` schedules a facility of `record` with
    the book's calendars, rounding and the deal's currency, on `rates` (default: the book's
    fixings); `options` are `build_schedule`'s (rate_shift, prepayments, repayments, end_on,
    pik_toggles). Each schedule carries its share timeline (`facility_timeline`: amendments
    and the deal's trades settling by `as_of`)."""
    return ScheduleBuilder(loaded, record, rates, as_of)


class ScheduleBuilder:
    """`schedule_builder`'s `build`. Schedules of the same terms (equal, not only the same
    object) and rate shift come from one `ScheduleMaker`, so what they share is worked out
    once; `adopt` lets it use the maker of a schedule made by another builder of the same
    deal, fixings and book."""

    def __init__(self, loaded: LoadedBook, record: DealRecord, rates=None, as_of: date | None = None) -> None:
        self.loaded, self.record, self.as_of = loaded, record, as_of
        self.calendars = book_calendars(loaded.book)
        self.rounding = loaded.book.rounding if loaded.book else "half_up"
        self.currency = record.deal.currency
        self.digits = minor_units(self.currency)
        self.series = loaded.rates if rates is None else rates
        self.context = (record, self.series, loaded.book)
        calendars = self.calendars
        self.calendar_for: Callable = lambda f: make_calendar(f.payments.calendar, calendars)
        """The calendar of a facility's terms (no reference back to the builder: its makers
        hold this, and a cycle would leave every schedule made to the garbage collector)."""
        self._makers: dict[str, list[ScheduleMaker]] = {}
        self._timelines: dict[str, ShareTimeline] = {}

    def __call__(self, ft: FacilityTerms, **options) -> FacilitySchedule:
        maker = self.maker(ft, options.pop("rate_shift", ZERO))
        plain = not any(options.values()) and not maker.rate_shift
        sched = maker.build(**options)
        if self.series is self.loaded.rates:  # the contractual schedule is the same either way
            base = self.maker(ft, ZERO)
            tl = base.timelines.get(self.as_of)
            if tl is None:
                tl = base.timelines[self.as_of] = facility_timeline(self.loaded, self.record, ft, self.as_of,
                                                                    base.build)[0]
        else:  # other fixings: a contractual schedule on them when the first is made without options
            tl = self._timelines.get(ft.id)
            if tl is None:
                tl = self._timelines[ft.id] = facility_timeline(self.loaded, self.record, ft, self.as_of,
                                                                sched if plain else None)[0]
        sched.share_timeline = tl
        return sched

    def maker(self, ft: FacilityTerms, rate_shift: Decimal = ZERO) -> ScheduleMaker:
        """The maker of schedules of `ft` (or terms equal to it) at `rate_shift`."""
        makers = self._makers.setdefault(ft.id, [])
        shift = str(rate_shift)  # 0 and 0.00 shift a fixing to different digits
        for m in makers:
            if m.terms is ft and str(m.rate_shift) == shift:
                return m
        for m in makers:
            if str(m.rate_shift) == shift and m.terms == ft:
                return m
        m = ScheduleMaker(ft, self.series, self.calendar_for, self.currency, self.digits, self.rounding, rate_shift,
                          self.context)
        makers.append(m)
        return m

    def adopt(self, schedule: FacilitySchedule) -> None:
        """Make schedules with the maker of `schedule` too, when it is alive and was made for
        the same deal, fixings and book."""
        maker = schedule.maker() if schedule.maker is not None else None
        if maker is None or len(maker.context) != len(self.context) \
                or not all(a is b for a, b in zip(maker.context, self.context)):
            return
        makers = self._makers.setdefault(maker.terms.id, [])
        if all(m is not maker for m in makers):
            makers.append(maker)


def facility_timeline(loaded: LoadedBook, record: DealRecord, ft: FacilityTerms, as_of: date | None = None,
                      contractual: FacilitySchedule | Callable[[], FacilitySchedule] | None = None
                      ) -> tuple[ShareTimeline, list[TradeProblem]]:
    """A facility's shares over time: its amendments and the deal's trades (settling by
    `as_of`). A trade's fraction is its par over the outstanding at the start of its
    settlement date on the contractual schedule (terms and fixings, no payments; given, or
    made by `contractual()` when needed)."""
    trades = [t.trade for t in record.trades if t.trade.facility == ft.id
              and (as_of is None or t.trade.settlement_date <= as_of)]
    digits = minor_units(record.deal.currency)
    rounding = loaded.book.rounding if loaded.book else "half_up"
    if not trades:
        return share_timeline(ft, (), None, digits, rounding)
    if callable(contractual):
        contractual = contractual()
    if contractual is None:
        calendars = book_calendars(loaded.book)
        contractual = build_schedule(ft, loaded.rates, lambda f: make_calendar(f.payments.calendar, calendars),
                                     record.deal.currency, digits, rounding)
    return share_timeline(ft, trades, lambda d: outstanding_at(contractual, d), digits, rounding)


def schedule_deal(loaded: LoadedBook, deal_id: str, *, as_of: date | None = None, facility: str | None = None,
                  lender: str | None = None, rate_shift: Decimal = Decimal(0)
                  ) -> tuple[DealSchedule | None, list[Diagnostic]]:
    record = loaded.deals[deal_id]
    terms, diags = deal_terms(record, as_of)
    errors = [d for d in diags if d.is_error]
    if errors:
        return None, errors
    build = schedule_builder(loaded, record, as_of=as_of)
    out: list[FacilitySchedule] = []
    for fid, ft in terms.items():
        if facility is not None and fid != facility:
            continue
        try:
            sched = build(ft, rate_shift=rate_shift)
        except ScheduleProblem as problem:
            return None, [problem.diagnostic()]
        out.append(lender_view(sched, lender) if lender is not None else sched)
    return DealSchedule(deal_id, record.deal.currency, out), []
