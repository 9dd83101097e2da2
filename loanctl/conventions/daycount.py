"""Day-count conventions: the year fraction ``yf(a, b)`` of an accrual period.

Implements ISDA 2006 §4.16 as SPEC §3 states it, in ``Decimal``:

- ``ACT/360``  actual days / 360
- ``ACT/365F`` actual days / 365
- ``30/360``   bond basis: if D1 = 31 then D1 = 30; if D2 = 31 and D1 >= 30 then D2 = 30
- ``30E/360``  Eurobond basis: a 31st becomes the 30th at both ends
- ``ACT/ACT``  ISDA: days falling in leap years / 366 + days in non-leap years / 365

Each year fraction is one exact rational ``numerator / denominator`` divided once at 50
significant digits, so rounding a money figure built from it to the minor unit gives the
same cents as exact rational arithmetic would. Dates are read start included, end excluded.
This runs millions of times per book, hence the precomputed denominators and the cache.
"""

from __future__ import annotations

from datetime import date
from decimal import Context, Decimal
from functools import lru_cache

__all__ = ["DAY_COUNTS", "year_fraction", "day_count_days"]

DAY_COUNTS: tuple[str, ...] = ("ACT/360", "ACT/365F", "30/360", "30E/360", "ACT/ACT")

# A private context (never installed as the thread's context): 50 digits, default traps.
# Its status flags are written by each division but never read.
_CTX = Context(prec=50)

# ACT/ACT puts leap and non-leap days over one common denominator 365 × 366.
_ACT_ACT_DEN = 365 * 366
_DENOMINATORS: dict[int, Decimal] = {n: Decimal(n) for n in (360, 365, _ACT_ACT_DEN)}


@lru_cache(maxsize=1 << 16)
def _divide(numerator: int, denominator: int) -> Decimal:
    """``numerator / denominator`` to 50 significant digits (cached: few distinct pairs)."""
    return _CTX.divide(numerator, _DENOMINATORS[denominator])


def _actual_days(start: date, end: date) -> int:
    return end.toordinal() - start.toordinal()


def _thirty_360_days(start: date, end: date) -> int:
    d1, d2 = start.day, end.day
    if d1 == 31:
        d1 = 30
    if d2 == 31 and d1 >= 30:
        d2 = 30
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def _thirty_e_360_days(start: date, end: date) -> int:
    d1 = 30 if start.day == 31 else start.day
    d2 = 30 if end.day == 31 else end.day
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _act_act_numerator(start: date, end: date) -> int:
    """Numerator over 365 × 366: leap-year days × 365 + non-leap-year days × 366."""
    if end < start:
        return -_act_act_numerator(end, start)
    y1, y2 = start.year, end.year
    if y1 == y2:
        days = _actual_days(start, end)
        return days * 365 if _is_leap(y1) else days * 366
    leap = plain = 0
    # The part of the first year from start to 1 January of the next year …
    first = date(y1 + 1, 1, 1).toordinal() - start.toordinal()
    if _is_leap(y1):
        leap += first
    else:
        plain += first
    # … the whole years in between …
    for year in range(y1 + 1, y2):
        if _is_leap(year):
            leap += 366
        else:
            plain += 365
    # … and the part of the last year from 1 January to end.
    last = end.toordinal() - date(y2, 1, 1).toordinal()
    if _is_leap(y2):
        leap += last
    else:
        plain += last
    return leap * 365 + plain * 366


def year_fraction(day_count: str, start: date, end: date) -> Decimal:
    """The year fraction from ``start`` (included) to ``end`` (excluded) under ``day_count``.

    ``end`` before ``start`` gives the negated fraction for the actual conventions and the
    plain 30/360 formula for the 30/360 family (as QuantLib does). Raises ``ValueError``
    for a convention not in ``DAY_COUNTS``.
    """
    if day_count == "ACT/360":
        return _divide(_actual_days(start, end), 360)
    if day_count == "ACT/365F":
        return _divide(_actual_days(start, end), 365)
    if day_count == "30/360":
        return _divide(_thirty_360_days(start, end), 360)
    if day_count == "30E/360":
        return _divide(_thirty_e_360_days(start, end), 360)
    if day_count == "ACT/ACT":
        return _divide(_act_act_numerator(start, end), _ACT_ACT_DEN)
    raise ValueError(_unknown(day_count))


def day_count_days(day_count: str, start: date, end: date) -> int:
    """The day count's numerator: 30/360-adjusted days for the 30/360 family, else actual days."""
    if day_count in ("ACT/360", "ACT/365F", "ACT/ACT"):
        return _actual_days(start, end)
    if day_count == "30/360":
        return _thirty_360_days(start, end)
    if day_count == "30E/360":
        return _thirty_e_360_days(start, end)
    raise ValueError(_unknown(day_count))


def _unknown(day_count: object) -> str:
    return f"unknown day count {day_count!r}; expected one of {', '.join(DAY_COUNTS)}"
