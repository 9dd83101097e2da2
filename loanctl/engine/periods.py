"""Payment dates of a facility: the unadjusted dates of SPEC §3 and their business-day adjustment."""

from __future__ import annotations

from datetime import date

from ..conventions.calendars import Calendar, adjust, make_calendar
from ..conventions.dates import PERIOD_MONTHS, default_first_payment, unadjusted_payment_dates
from ..model.documents import Book, Facility

BookCalendars = dict[str, tuple[str, tuple[date, ...], tuple[date, ...]]]


def book_calendars(book: Book | None) -> BookCalendars:
    if book is None:
        return {}
    return {c.id: (c.base, c.add, c.remove) for c in book.calendars}


def facility_calendar(facility: Facility, calendars: BookCalendars) -> Calendar:
    return make_calendar(facility.payments.calendar, calendars)


def first_payment_date(facility: Facility) -> date:
    months = PERIOD_MONTHS[facility.payments.frequency]
    return facility.payments.first_payment_date or default_first_payment(facility.start_date, months)


def payment_dates(facility: Facility, cal: Calendar) -> list[tuple[date, date]]:
    """(unadjusted, adjusted) payment dates up to and including maturity."""
    months = PERIOD_MONTHS[facility.payments.frequency]
    bdc = facility.payments.business_day
    explicit = facility.payments.first_payment_date is not None
    unadjusted = unadjusted_payment_dates(first_payment_date(facility), facility.maturity_date, months,
                                          anchor=None if explicit else facility.start_date)
    return [(d, adjust(d, bdc, cal)) for d in unadjusted]
