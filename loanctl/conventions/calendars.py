"""Business-day calendars and business-day conventions (following, modified following, …).

A calendar spec (SPEC §2.3 ``payments.calendar``) is one of

- ``WEEKENDS``: Saturdays and Sundays only (the default);
- a country code the ``holidays`` package knows (``US``, ``GB``, or an alias like ``USA``);
- ``COUNTRY-SUBDIVISION`` (``GB-ENG``, ``US-NY``);
- a financial market code from ``holidays.list_supported_financial()`` (``NYSE``, ``XNYS``,
  ``ECB``, ``TAR``, …; ``TARGET`` is accepted as the market name for the ECB's TARGET
  calendar), or ``MARKET-SUBDIVISION`` where the market has them (``ENX-XPAR``);
- the id of a book calendar (``book.yaml`` ``calendars``: a base spec plus added and removed
  holidays); a book id is looked up before the codes above, so it may shadow one;
- several of these joined with ``+``: a day is a business day only if it is one in every
  part (the union of their holidays).

Weekends are never business days, whatever the holiday lists say. Holiday sets are built
lazily, one calendar year at a time, and cached; made calendars are cached too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, timedelta
from functools import lru_cache

import holidays

__all__ = [
    "BUSINESS_DAY_CONVENTIONS",
    "WEEKENDS",
    "Calendar",
    "adjust",
    "calendar_error",
    "make_calendar",
]

WEEKENDS = "WEEKENDS"
BUSINESS_DAY_CONVENTIONS: tuple[str, ...] = (
    "following",
    "modified_following",
    "preceding",
    "unadjusted",
)

# Market names used in loan agreements that the holidays package spells differently.
_MARKET_ALIASES: dict[str, str] = {"TARGET": "XECB"}

_ONE_DAY = timedelta(days=1)
# No real calendar has a year of holidays in a row; a longer search is a broken calendar.
_MAX_ROLL_DAYS = 366

BookCalendars = Mapping[str, tuple[str, Sequence[date], Sequence[date]]]
_FrozenBook = tuple[tuple[str, tuple[str, tuple[date, ...], tuple[date, ...]]], ...]


class Calendar:
    """A business-day calendar: weekends plus a set of holidays for each year.

    ``holidays_of_year(year)`` gives the holidays falling in ``year``; it is called at most
    once per year per calendar.
    """

    __slots__ = ("name", "_holidays_of_year", "_years")

    def __init__(self, name: str, holidays_of_year: Callable[[int], frozenset[date]]):
        self.name = name
        self._holidays_of_year = holidays_of_year
        self._years: dict[int, frozenset[date]] = {}

    def holidays(self, year: int) -> frozenset[date]:
        """The (weekday or weekend) holidays of ``year``."""
        found = self._years.get(year)
        if found is None:
            found = self._years[year] = frozenset(self._holidays_of_year(year))
        return found

    def is_business_day(self, d: date) -> bool:
        """True when ``d`` is neither a Saturday, a Sunday nor a holiday."""
        if d.weekday() >= 5:
            return False
        found = self._years.get(d.year)
        if found is None:
            found = self.holidays(d.year)
        return d not in found

    def __repr__(self) -> str:
        return f"Calendar({self.name!r})"


# ---------------------------------------------------------------------------- sources


@lru_cache(maxsize=1)
def _countries() -> dict[str, tuple[str, ...]]:
    return {code: tuple(subs) for code, subs in holidays.list_supported_countries().items()}


@lru_cache(maxsize=1)
def _markets() -> dict[str, tuple[str, ...]]:
    markets = {code: tuple(subs) for code, subs in holidays.list_supported_financial().items()}
    for alias, code in _MARKET_ALIASES.items():
        markets.setdefault(alias, markets.get(code, ()))
    return markets


@lru_cache(maxsize=4096)
def _generated(kind: str, code: str, subdiv: str | None, year: int) -> frozenset[date]:
    """Every date the holidays package lists when asked for ``year`` (may spill over)."""
    if kind == "country":
        found = holidays.country_holidays(code, subdiv=subdiv, years=year)
    else:
        found = holidays.financial_holidays(
            _MARKET_ALIASES.get(code, code), subdiv=subdiv, years=year
        )
    return frozenset(found.keys())


@lru_cache(maxsize=4096)
def _package_year(kind: str, code: str, subdiv: str | None, year: int) -> frozenset[date]:
    """The package's holidays falling in ``year``.

    An observed day can be listed under a neighbouring year (New Year's Day on a Saturday
    observed on 31 December), so the neighbours are asked too.
    """
    years = range(max(year - 1, date.min.year), min(year + 1, date.max.year) + 1)
    spill = frozenset().union(*(_generated(kind, code, subdiv, y) for y in years))
    return frozenset(d for d in spill if d.year == year)


def _no_holidays(year: int) -> frozenset[date]:
    return frozenset()


def _package_source(part: str) -> Callable[[int], frozenset[date]] | None:
    """The year → holidays function for a country or market part, or None if unknown."""
    code, dash, subdiv = part.partition("-")
    if dash and not subdiv:
        return None
    for kind, table in (("country", _countries()), ("market", _markets())):
        if code in table and (not subdiv or subdiv in table[code]):
            sub = subdiv or None
            return lambda year, kind=kind, code=code, sub=sub: _package_year(
                kind, code, sub, year
            )
    return None


# ---------------------------------------------------------------------------- validation


def _split(spec: str) -> list[str]:
    return [part.strip() for part in spec.split("+")]


def calendar_error(spec: str, book_calendar_ids: Collection[str] = ()) -> str | None:
    """A message naming the unknown part of ``spec`` (with a suggestion), or None if valid."""
    if not isinstance(spec, str) or not spec.strip():
        return "a calendar must be WEEKENDS, a country, market or book calendar id, not empty"
    book_ids = set(book_calendar_ids)
    if spec.strip() in book_ids:
        return None
    for part in _split(spec):
        if not part:
            return f"calendar {spec!r} has an empty part; join calendars like 'US+GB'"
        if part == WEEKENDS or part in book_ids or _package_source(part) is not None:
            continue
        where = "" if part == spec.strip() else f" in {spec!r}"
        code, dash, subdiv = part.partition("-")
        subs = _countries().get(code, _markets().get(code))
        if dash and not subdiv:
            return f"calendar {part!r}{where} names no subdivision after '-'; write e.g. 'GB-ENG'"
        if dash and subs is not None:
            suggestion = _suggest(part, [f"{code}-{s}" for s in subs])
            known = f"; {code} has no subdivisions" if not subs else ""
            return f"unknown subdivision {subdiv!r} of {code!r}{where}{known}{suggestion}"
        return f"unknown calendar {part!r}{where}{_suggest(part, _all_names(book_ids))}"
    return None


def _all_names(book_ids: Collection[str]) -> list[str]:
    names = [WEEKENDS, *sorted(book_ids), *_countries(), *_markets()]
    names += [f"{c}-{s}" for c, subs in _countries().items() for s in subs]
    return names


def _suggest(word: str, candidates: Sequence[str]) -> str:
    """``"; did you mean 'X'?"`` for the closest candidate, ignoring case, or ``""``.

    A candidate equal to ``word`` but for case wins, then the shortest one ``word`` is the
    start of (``nyc`` → ``nyc-bank``), then difflib's closest.
    """
    by_upper: dict[str, str] = {}
    for name in candidates:
        by_upper.setdefault(name.upper(), name)
    key = word.upper()
    if key in by_upper:
        return f"; did you mean {by_upper[key]!r}?"
    if len(key) >= 3:
        longer = sorted((u for u in by_upper if u.startswith(key)), key=lambda u: (len(u), u))
        if longer:
            return f"; did you mean {by_upper[longer[0]]!r}?"
    close = difflib.get_close_matches(key, list(by_upper), n=1, cutoff=0.6)
    return f"; did you mean {by_upper[close[0]]!r}?" if close else ""


# ---------------------------------------------------------------------------- construction


def make_calendar(spec: str, book_calendars: BookCalendars | None = None) -> Calendar:
    """The calendar for ``spec``; ``book_calendars`` maps id → (base spec, added, removed).

    Raises ``ValueError`` (with ``calendar_error``'s message) for an unknown part, and for
    a book calendar whose base is unknown or refers back to itself.
    """
    return _make_cached(spec, _freeze(book_calendars))


def _freeze(book_calendars: BookCalendars | None) -> _FrozenBook:
    if not book_calendars:
        return ()
    return tuple(
        sorted(
            (cid, (base, tuple(added), tuple(removed)))
            for cid, (base, added, removed) in book_calendars.items()
        )
    )


@lru_cache(maxsize=256)
def _make_cached(spec: str, book: _FrozenBook) -> Calendar:
    return _make(spec, dict(book), ())


def _make(
    spec: str,
    book: dict[str, tuple[str, tuple[date, ...], tuple[date, ...]]],
    resolving: tuple[str, ...],
) -> Calendar:
    error = calendar_error(spec, book)
    if error is not None:
        if resolving:
            error = f"book calendar {resolving[-1]!r}: {error}"
        raise ValueError(error)
    if spec.strip() in book:
        return _make_book(spec.strip(), book, resolving)
    parts = _split(spec)
    sources: list[Callable[[int], frozenset[date]]] = []
    for part in parts:
        if part in book:
            sources.append(_make_book(part, book, resolving).holidays)
        elif part != WEEKENDS:
            source = _package_source(part)
            assert source is not None  # calendar_error accepted it
            sources.append(source)
    name = "+".join(parts)
    if not sources:
        return Calendar(name, _no_holidays)
    if len(sources) == 1:
        return Calendar(name, sources[0])
    return Calendar(name, lambda year: frozenset().union(*(s(year) for s in sources)))


def _make_book(
    cid: str,
    book: dict[str, tuple[str, tuple[date, ...], tuple[date, ...]]],
    resolving: tuple[str, ...],
) -> Calendar:
    if cid in resolving:
        chain = " -> ".join((*resolving, cid))
        raise ValueError(f"book calendar {cid!r} is based on itself ({chain})")
    base_spec, added, removed = book[cid]
    base = _make(base_spec, book, (*resolving, cid))
    added_set, removed_set = frozenset(added), frozenset(removed)

    def holidays_of_year(year: int) -> frozenset[date]:
        return (
            base.holidays(year) | {d for d in added_set if d.year == year}
        ) - removed_set

    return Calendar(cid, holidays_of_year)


# ---------------------------------------------------------------------------- conventions


def adjust(d: date, convention: str, cal: Calendar) -> date:
    """``d`` moved to a business day of ``cal`` by ``convention``.

    ``following``: the next business day; ``preceding``: the previous one;
    ``modified_following``: the next one unless that falls in the next month, then the
    previous one; ``unadjusted``: ``d`` itself.
    """
    if convention == "modified_following":
        rolled = _roll(d, cal, _ONE_DAY)
        return rolled if rolled.month == d.month else _roll(d, cal, -_ONE_DAY)
    if convention == "following":
        return _roll(d, cal, _ONE_DAY)
    if convention == "preceding":
        return _roll(d, cal, -_ONE_DAY)
    if convention == "unadjusted":
        return d
    raise ValueError(
        f"unknown business-day convention {convention!r}; "
        f"expected one of {', '.join(BUSINESS_DAY_CONVENTIONS)}"
    )


def _roll(d: date, cal: Calendar, step: timedelta) -> date:
    rolled = d
    for _ in range(_MAX_ROLL_DAYS):
        if cal.is_business_day(rolled):
            return rolled
        rolled += step
    raise ValueError(f"calendar {cal.name!r} has no business day within a year of {d}")
