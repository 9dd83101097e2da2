"""Option values as a command line (or any caller) writes them, read into domain values: dates
(inside the supported window), rates, shares, money, month counts. A bad value is a
`UsageProblem` naming the option, so the edge reports it as a usage error (exit 2).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..diagnostics import UsageProblem
from .values import ValueProblem, parse_date, parse_money, parse_rate, parse_share

MAX_LAG_MONTHS = 1200  # a century: a date this far on stays far inside date arithmetic's range


def option_date(text: str | None, option: str) -> date | None:
    """`2026-01-15` → a date (None stays None); out of the window or not a date: usage error."""
    if text is None:
        return None
    try:
        return parse_date(text)
    except ValueProblem as p:
        raise UsageProblem(f"{option}: {p.message}", p.hint) from None


def option_rate(text: str, option: str) -> Decimal:
    """`+200bps`, `1.5%`, `0.015` → a rate."""
    try:
        return parse_rate(text)
    except ValueProblem as p:
        raise UsageProblem(f"{option} {text}: {p.message}", p.hint) from None


def option_share(text: str, option: str) -> Decimal:
    """`60%` or `0.6` → a share between 0 and 1."""
    try:
        return parse_share(text)
    except ValueProblem as p:
        raise UsageProblem(f"{option} {text}: {p.message}", p.hint) from None


def option_amount(text: str, option: str, item: str | None = None) -> Decimal:
    """A positive amount (`5000000`, `5_000_000.00`); `item` is the whole option value, for the message."""
    shown = item if item is not None else text
    try:
        amount = parse_money(text)
    except ValueProblem as p:
        raise UsageProblem(f"{option} {shown}: {p.message}") from None
    if amount <= 0:
        raise UsageProblem(f"{option} {shown}: the amount must be positive")
    return amount


def option_months(text: str, option: str, most: int = MAX_LAG_MONTHS) -> int:
    """`12m`, `1y` or `12` → months, from 0 to `most`."""
    t = text.strip().lower()
    try:
        if not t.isascii():  # int() reads other scripts' digits too
            raise ValueError(t)
        if t.endswith("m"):
            months = int(t[:-1])
        elif t.endswith("y"):
            months = 12 * int(t[:-1])
        else:
            months = int(t)
    except ValueError:
        raise UsageProblem(f"{option} {text}: write months like 12m or years like 1y") from None
    if not 0 <= months <= most:
        raise UsageProblem(f"{option} {text}: the lag must be between 0 and {most} months")
    return months
