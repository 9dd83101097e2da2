"""Parsing of the book's value kinds (SPEC §2.1): money, rates, shares, dates, ids, currencies.

Each parser takes what the YAML reader produced (str, int, Decimal, None) and returns an
exact value or raises `ValueProblem` carrying a stable code and a hint. Floats are refused:
they can only come from code that bypassed the reader, and they are never exact.
"""

from __future__ import annotations

import calendar as _calendar
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ..conventions.currency import is_currency

ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_NUM_RE = re.compile(r"^[-+]?(\d[\d_]*)?(\.\d[\d_]*)?$")
_HUNDRED = Decimal(100)
_TEN_THOUSAND = Decimal(10_000)


class ValueProblem(ValueError):
    """A value that does not parse; `code` is a diagnostics code."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def _number_text(text: str) -> Decimal | None:
    text = text.strip()
    if not text or not _NUM_RE.match(text) or text in "+-." or text.replace("_", "") in {"+", "-", "."}:
        return None
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        return None


def _as_decimal(value: Any, code: str, what: str, hint: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueProblem(code, f"expected {what}, found {_show(value)}", hint)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueProblem(code, f"expected {what}, found {value}", hint)
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        raise ValueProblem(code, f"{what} given as a binary float ({value!r})", "pass the source text or a Decimal")
    if isinstance(value, str):
        number = _number_text(value)
        if number is None:
            raise ValueProblem(code, f"expected {what}, found {_show(value)}", hint)
        return number
    raise ValueProblem(code, f"expected {what}, found {_show(value)}", hint)


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def parse_money(value: Any) -> Decimal:
    """Money: `25000000`, `25_000_000.00`, `"1250.50"`; digits are checked against the
    currency later, where the currency is known."""
    if isinstance(value, str) and value.strip().startswith(("$", "€", "£")):
        raise ValueProblem("E0105", f"expected an amount, found {_show(value)}", "write the number without a currency sign")
    amount = _as_decimal(value, "E0105", "an amount", "write a plain number such as 25000000 or 1250.50")
    if amount.adjusted() >= 15:
        raise ValueProblem("E0105", f"amount {value} is beyond 10^15", "check the number of digits")
    return amount


def parse_number(value: Any) -> Decimal:
    """A plain exact number (ratios, financial figures)."""
    return _as_decimal(value, "E0111", "a number", "write a plain number such as 4.5")


def parse_rate(value: Any) -> Decimal:
    """A rate: `"5.75%"`, `"575bps"`, `"575 bps"` or a fraction `0.0575`."""
    hint = "write 5.75% or 575bps or 0.0575"
    if isinstance(value, str):
        text = value.strip().lower()
        if text.endswith("%"):
            return _as_decimal(text[:-1], "E0104", "a rate", hint) / _HUNDRED
        if text.endswith("bps") or text.endswith("bp"):
            text = text[:-3] if text.endswith("bps") else text[:-2]
            return _as_decimal(text, "E0104", "a rate", hint) / _TEN_THOUSAND
    rate = _as_decimal(value, "E0104", "a rate", hint)
    if abs(rate) > 1:
        raise ValueProblem("E0104", f"rate {value} is more than 100% as a fraction",
                           f"write {value}% or {(rate / _HUNDRED).normalize()}")
    return rate


def parse_share(value: Any) -> Decimal:
    """A share: `"60%"` or `0.6`, between 0 and 100% inclusive."""
    hint = "write 60% or 0.6"
    if isinstance(value, str) and value.strip().endswith("%"):
        share = _as_decimal(value.strip()[:-1], "E0107", "a share", hint) / _HUNDRED
    else:
        share = _as_decimal(value, "E0107", "a share", hint)
    if share < 0 or share > 1:
        raise ValueProblem("E0107", f"share {value} is outside 0–100%", hint)
    return share


def parse_date(value: Any) -> date:
    """An ISO date `2026-01-15`; an impossible one says why."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueProblem("E0106", f"expected a date, found {_show(value)}", "write an ISO date such as 2026-01-15")
    m = _DATE_RE.match(value.strip())
    if not m:
        raise ValueProblem("E0106", f"{_show(value)} is not an ISO date", "write an ISO date such as 2026-01-15")
    y, mo, d = (int(g) for g in m.groups())
    if y < 1:
        raise ValueProblem("E0106", f"{value} has no year 0", "write a year from 0001")
    if not 1 <= mo <= 12:
        raise ValueProblem("E0106", f"{value} has no month {mo}", "months run 01 to 12")
    last = _calendar.monthrange(y, mo)[1]
    if not 1 <= d <= last:
        raise ValueProblem("E0106", f"{value} is not a date: {_calendar.month_name[mo]} {y} has {last} days",
                           f"the last day of that month is {y:04d}-{mo:02d}-{last:02d}")
    return date(y, mo, d)


def parse_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and hasattr(value, "source"):
        value = value.source  # `id: 001` is the id "001", as written
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ValueProblem("E0109", f"{_show(value)} is not a valid id",
                           "ids are lowercase letters, digits, '.', '_' and '-', starting with a letter or digit "
                           "(at most 64 characters; no '/' or '..')")
    if ".." in value:
        raise ValueProblem("E0109", f"{_show(value)} is not a valid id", "ids may not contain '..'")
    return value


def parse_currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value) or not is_currency(value):
        raise ValueProblem("E0108", f"{_show(value)} is not an ISO 4217 currency code",
                           "write a three-letter code such as USD, EUR or GBP")
    return value


def money_digits(amount: Decimal) -> int:
    """Number of decimal places written (0 for 25000000 and 25000000.)."""
    exp = amount.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def fmt_rate(rate: Decimal | None) -> str:
    """A rate for people: `5.75%`."""
    if rate is None:
        return "—"
    pct = (rate * _HUNDRED).normalize()
    text = format(pct, "f")
    return f"{text}%"


def fmt_bps(rate: Decimal) -> str:
    bps = (rate * _TEN_THOUSAND).normalize()
    return f"{format(bps, 'f')}bps"
