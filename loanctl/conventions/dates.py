"""Unadjusted payment dates: month arithmetic and the payment-date rule of SPEC §3.

``D_k = F + k·period`` for k = 0, 1, …, each computed from the first payment date ``F``
(never from the previous date, so a clamped 28 February does not drag later dates to the
28th), the day clamped to the month's length, or always the month end when ``F`` is one.
Dates before maturity are kept and the maturity date is appended (a short final stub).
Business-day adjustment is separate (``calendars.adjust``).
"""

from __future__ import annotations

from datetime import date

__all__ = [
    "PERIOD_MONTHS",
    "is_month_end",
    "add_months",
    "default_first_payment",
    "unadjusted_payment_dates",
]

PERIOD_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


def is_month_end(d: date) -> bool:
    """True when ``d`` is the last day of its month."""
    return d.day == _days_in_month(d.year, d.month)


def add_months(d: date, n: int, month_end: bool = False) -> date:
    """``d`` plus ``n`` months (``n`` may be negative), the day clamped to the month's length.

    With ``month_end`` the result is always the last day of the target month.
    """
    index = d.year * 12 + (d.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    last = _days_in_month(year, month)
    return date(year, month, last if month_end else min(d.day, last))


def default_first_payment(start: date, months: int) -> date:
    """The default first payment date: ``start`` plus one period, keeping a month end."""
    return add_months(start, months, month_end=is_month_end(start))


def unadjusted_payment_dates(first_payment: date, maturity: date, months: int,
                             anchor: date | None = None) -> list[date]:
    """The unadjusted payment dates from ``first_payment`` to ``maturity`` inclusive.

    Every ``D_k`` strictly before ``maturity`` is kept, then ``maturity`` is appended. When
    ``first_payment`` is on or after ``maturity`` the schedule is ``[maturity]``.
    """
    if months <= 0:
        raise ValueError(f"payment period must be a positive number of months, got {months}")
    if first_payment >= maturity:
        return [maturity]
    # With an `anchor` (the start date, when the first payment date is the default one) the
    # dates roll on the anchor's day: a start on the 30th pays on the 30th, even though its
    # first date in February was clamped to the 28th (which is not a month-end roll).
    base, step0 = (anchor, 1) if anchor is not None else (first_payment, 0)
    eom = is_month_end(base)
    dates: list[date] = []
    k = 0
    current = first_payment
    while current < maturity:
        dates.append(current)
        k += 1
        current = add_months(base, (k + step0) * months, month_end=eom)
    dates.append(maturity)
    return dates
