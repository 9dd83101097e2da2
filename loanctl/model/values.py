"""Parsing of the book's value kinds (SPEC §2.1): money, rates, shares, dates, ids, currencies.

Each parser takes what the YAML reader produced (str, int, Decimal, None) and returns an
exact value or raises `ValueProblem` carrying a stable code and a hint. Floats are refused:
they can only come from code that bypassed the reader, and they are never exact.
"""

from __future__ import annotations

import calendar as _calendar
import functools
import re
import unicodedata
from datetime import date
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from typing import Any

from ..conventions.currency import is_currency

ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# ASCII digits only: `\d`, int(), Decimal() and date.fromisoformat() all accept other
# scripts' digits (١٠٠٠, １０００), which a reviewer reads as something else or not at all.
_DATE_RE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_NUM_RE = re.compile(r"^[-+]?([0-9][0-9_]*)?(\.[0-9][0-9_]*)?$")
_HUNDRED = Decimal(100)
_TEN_THOUSAND = Decimal(10_000)
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2200, 12, 31)
"""Every date loanctl reads lies in this window: wide enough for any loan's life, narrow
enough that date arithmetic on it (periods, lags, recovery lags) can never overflow."""
SHARE_MAX_PLACES = 40
"""A share has at most this many decimal places (as a fraction): exact sums stay small."""


class ValueProblem(ValueError):
    """A value that does not parse; `code` is a diagnostics code."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def _refuse_foreign_digits(text: str, what: str) -> None:
    """E0113 for a digit outside 0-9 (Arabic-Indic, fullwidth, Devanagari …)."""
    if text.isascii():
        return
    for ch in text:
        if ch.isdigit() and not ch.isascii():
            name = unicodedata.name(ch, "a non-ASCII digit")
            raise ValueProblem("E0113", f"{what} {_show(text)} contains {ch!r} (U+{ord(ch):04X} {name}), "
                                        "not one of the digits 0-9",
                               "retype the value with the ASCII digits 0-9")


def _shift(value: Decimal, places: int) -> Decimal:
    """`value` × 10^places, exactly: the default context would round past 28 digits. In a
    context wide enough (Inexact trapped to prove it) the result keeps division's form:
    575bps is 0.0575, 200bps is 0.02."""
    prec = len(value.as_tuple().digits) + abs(places) + 2
    ctx = _SHIFT_CONTEXTS.get(prec)
    if ctx is None:
        ctx = _SHIFT_CONTEXTS[prec] = Context(prec=prec, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact])
    scale = Decimal(10) ** abs(places)
    return ctx.multiply(value, scale) if places >= 0 else ctx.divide(value, scale)


_SHIFT_CONTEXTS: dict[int, Context] = {}  # by precision: a context's flags never change a result


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
        _refuse_foreign_digits(value, what)
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


def _by_text(parse):
    """`parse`, remembering its result for each text it accepted (a pure function of the text,
    giving an immutable value: a book repeats its rates, shares and dates thousands of times).
    Anything but a `str`, and every refusal, goes to `parse` each time."""
    seen: dict[str, Any] = {}

    @functools.wraps(parse)
    def run(value: Any):
        if type(value) is not str:
            return parse(value)
        found = seen.get(value)
        if found is None:
            found = parse(value)
            if len(seen) < _BY_TEXT_MAX:
                seen[value] = found
        return found
    return run


_BY_TEXT_MAX = 4096


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


@_by_text
def parse_rate(value: Any) -> Decimal:
    """A rate: `"5.75%"`, `"575bps"`, `"575 bps"` or a fraction `0.0575`."""
    hint = "write 5.75% or 575bps or 0.0575"
    if isinstance(value, str):
        text = value.strip().lower()
        if text.endswith("%"):
            return _shift(_as_decimal(text[:-1], "E0104", "a rate", hint), -2)
        if text.endswith("bps") or text.endswith("bp"):
            text = text[:-3] if text.endswith("bps") else text[:-2]
            return _shift(_as_decimal(text, "E0104", "a rate", hint), -4)
    rate = _as_decimal(value, "E0104", "a rate", hint)
    if abs(rate) > 1:
        raise ValueProblem("E0104", f"rate {value} is more than 100% as a fraction",
                           f"write {value}% or {(rate / _HUNDRED).normalize()}")
    return rate


@_by_text
def parse_share(value: Any) -> Decimal:
    """A share: `"60%"` or `0.6`, between 0 and 100% inclusive."""
    hint = "write 60% or 0.6"
    if isinstance(value, str) and value.strip().endswith("%"):
        share = _shift(_as_decimal(value.strip()[:-1], "E0107", "a share", hint), -2)
    else:
        share = _as_decimal(value, "E0107", "a share", hint)
    if share < 0 or share > 1:
        raise ValueProblem("E0107", f"share {value} is outside 0–100%", hint)
    if share and _places(share) > SHARE_MAX_PLACES:
        raise ValueProblem("E0107", f"share {_show(value)} has more than {SHARE_MAX_PLACES} decimal places",
                           "no participation needs that precision: shares must sum to exactly 100%, "
                           "so give the last lender the remainder")
    return share


def _places(value: Decimal) -> int:
    """Decimal places of `value` once trailing zeros are dropped (exact, no context)."""
    _, digits, exp = value.as_tuple()
    assert isinstance(exp, int)
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exp + trailing))


def parse_date(value: Any) -> date:
    """An ISO date `2026-01-15`; an impossible one says why."""
    if isinstance(value, date):
        return _in_window(value, value.isoformat())
    if (type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-" and value.isascii()
            and value[:4].isdigit() and value[5:7].isdigit() and value[8:].isdigit()):
        try:  # the common case, plainly written; anything date() refuses is explained below
            return _in_window(date(int(value[:4]), int(value[5:7]), int(value[8:])), value)
        except ValueError:
            pass
    if not isinstance(value, str):
        raise ValueProblem("E0106", f"expected a date, found {_show(value)}", "write an ISO date such as 2026-01-15")
    _refuse_foreign_digits(value, "date")
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
    return _in_window(date(y, mo, d), value.strip())


def _in_window(day: date, text: str) -> date:
    if not DATE_MIN <= day <= DATE_MAX:
        raise ValueProblem("E0112", f"{text} is outside the dates loanctl accepts ({DATE_MIN} to {DATE_MAX})",
                           "check the year; no loan term, fixing or financials date lies outside this window")
    return day


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
    text = format(_shift(rate, 2), "f")  # exact: 33.3333333333333333333333333333333% stays whole
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{'0' if text in ('', '-0') else text}%"


def fmt_bps(rate: Decimal) -> str:
    bps = (rate * _TEN_THOUSAND).normalize()
    return f"{format(bps, 'f')}bps"
