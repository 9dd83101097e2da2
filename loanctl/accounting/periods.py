"""Period ends of the journal: month or quarter ends between two dates (SPEC §9)."""

from __future__ import annotations

from datetime import date, timedelta

from ..conventions.dates import add_months

PERIODS = ("month", "quarter")


def period_ends(first: date, last: date, period: str = "month") -> list[date]:
    """Every month end (or calendar quarter end) on or after `first` and on or before `last`,
    then `last` itself when it is not one (the journal closes its last period there)."""
    step = 1 if period == "month" else 3
    out: list[date] = []
    month = first.month if period == "month" else ((first.month - 1) // 3 + 1) * 3
    d = add_months(date(first.year, month, 1), 1) - timedelta(days=1)
    while d <= last:
        if d >= first:
            out.append(d)
        d = add_months(date(d.year, d.month, 1), step + 1) - timedelta(days=1)
    if not out or out[-1] != last:
        out.append(last)
    return out
