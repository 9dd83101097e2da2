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
from .schedule import FacilitySchedule, ScheduleProblem, build_schedule
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
                     as_of: date | None = None) -> Callable[..., FacilitySchedule]:
    """The one schedule setup: `build(terms, **options)` schedules a facility of `record` with
    the book's calendars, rounding and the deal's currency, on `rates` (default: the book's
    fixings); `options` are `build_schedule`'s (rate_shift, prepayments, repayments, end_on,
    pik_toggles). Each schedule carries its share timeline (`facility_timeline`: amendments
    and the deal's trades settling by `as_of`)."""
    calendars = book_calendars(loaded.book)
    rounding = loaded.book.rounding if loaded.book else "half_up"
    currency = record.deal.currency
    digits = minor_units(currency)
    series = loaded.rates if rates is None else rates

    timelines: dict[str, ShareTimeline] = {}

    def build(ft, **options) -> FacilitySchedule:
        sched = build_schedule(ft, series, lambda f: make_calendar(f.payments.calendar, calendars), currency, digits,
                               rounding, **options)
        tl = timelines.get(ft.id)
        if tl is None:
            tl = timelines[ft.id] = facility_timeline(loaded, record, ft, as_of,
                                                      sched if not any(options.values()) else None)[0]
        sched.share_timeline = tl
        return sched
    return build


def facility_timeline(loaded: LoadedBook, record: DealRecord, ft: FacilityTerms, as_of: date | None = None,
                      contractual: FacilitySchedule | None = None) -> tuple[ShareTimeline, list[TradeProblem]]:
    """A facility's shares over time: its amendments and the deal's trades (settling by
    `as_of`). A trade's fraction is its par over the outstanding at the start of its
    settlement date on the contractual schedule (terms and fixings, no payments)."""
    trades = [t.trade for t in record.trades if t.trade.facility == ft.id
              and (as_of is None or t.trade.settlement_date <= as_of)]
    digits = minor_units(record.deal.currency)
    rounding = loaded.book.rounding if loaded.book else "half_up"
    if not trades:
        return share_timeline(ft, (), None, digits, rounding)
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
