"""Credit events and default interest (SPEC §2.7, §3.3, §4.3, §4.4): the one implementation
of each rule, below servicing so that allocation and simulation use the same arithmetic.

- `default_interest`: default interest over a span of days on overdue amounts (from their
  due date until paid) and, while a `default` event is in force, on all principal; simple,
  on the facility's day count, never on default interest itself, returned unrounded (the
  caller rounds once per period).
- `CreditEvents`: a facility's events as spans of days (`in_default`, non-accrual by event).
- `carrying`: a write-off moves principal from the carrying balance to `written_off`;
  principal cash received afterwards reduces the carrying balance first, then is a recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Callable, Iterable, Sequence

from ..conventions.daycount import year_fraction

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Overdue:
    """An amount not paid by its due date: it bears default interest from `since` until paid."""

    since: date
    amount: Decimal
    settled: tuple[tuple[date, Decimal], ...] = ()
    """(date, amount) of each settlement; a payment on a day stops the interest from that day."""
    principal: bool = False

    def unpaid_on(self, on: date) -> Decimal:
        return self.amount - sum((a for d, a in self.settled if d <= on), ZERO)


RateSteps = Sequence[tuple[date, Decimal | None]]
"""(from date, default rate or None) in date order: the default rate in force from each date."""


def rate_on(steps: RateSteps, on: date) -> Decimal | None:
    rate = None
    for since, r in steps:
        if since <= on:
            rate = r
        else:
            break
    return rate


def default_interest(start: date, end: date, day_count: str, rates: RateSteps, overdue: Sequence[Overdue],
                     balance_on: Callable[[date], Decimal] | None = None, balance_cuts: Iterable[date] = (),
                     default_spans: Sequence[tuple[date, date | None]] = ()) -> Decimal:
    """Default interest, unrounded, over the days [start, end).

    Each day t bears rate(t) × yf on: the overdue amounts unpaid on t (due on or before t),
    plus, on a day a default is in force, the principal balance `balance_on(t)` (the
    schedule's balance: overdue principal is among `overdue` and so bears it once)."""
    if end <= start or not any(r for _, r in rates):
        return ZERO
    cuts = {start, end}
    cuts.update(d for d, _ in rates if start < d < end)
    for o in overdue:
        if start < o.since < end:
            cuts.add(o.since)
        cuts.update(d for d, _ in o.settled if start < d < end)
    spans = [(a, b) for a, b in default_spans if a < end and (b is None or b > start)]
    if spans and balance_on is not None:
        for a, b in spans:
            cuts.update(x for x in (a, b) if x is not None and start < x < end)
        cuts.update(d for d in balance_cuts if start < d < end)
    ordered = sorted(cuts)
    total = ZERO
    for a, b in zip(ordered, ordered[1:]):
        rate = rate_on(rates, a)
        if not rate:
            continue
        base = sum((o.unpaid_on(a) for o in overdue if o.since <= a), ZERO)
        if balance_on is not None and any(x <= a and (y is None or a < y) for x, y in spans):
            base += balance_on(a)
        if base > 0:
            total += base * rate * year_fraction(day_count, a, b)
    return total


# --- events as spans -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Event:
    """The part of a credit event a facility needs (the model's CreditEvent, unpositioned)."""

    date: date
    type: str
    amount: Decimal | None = None


@dataclass(slots=True)
class CreditEvents:
    """A facility's credit events in (date, id) order."""

    events: list[Event] = field(default_factory=list)

    def spans(self, start_type: str, end_type: str) -> list[tuple[date, date | None]]:
        """[from, until) spans between a `start_type` event and the next `end_type` event."""
        out: list[tuple[date, date | None]] = []
        open_from: date | None = None
        for e in self.events:
            if e.type == start_type and open_from is None:
                open_from = e.date
            elif e.type == end_type and open_from is not None:
                if e.date > open_from:
                    out.append((open_from, e.date))
                open_from = None
        if open_from is not None:
            out.append((open_from, None))
        return out

    @property
    def default_spans(self) -> list[tuple[date, date | None]]:
        return self.spans("default", "default_cured")

    def in_default(self, on: date) -> bool:
        return any(a <= on and (b is None or on < b) for a, b in self.default_spans)

    @property
    def write_offs(self) -> list[Event]:
        return [e for e in self.events if e.type == "write_off"]


def non_accrual_spans(events: CreditEvents, overdue: Sequence[tuple[date, date | None]],
                      threshold: int | None) -> list[tuple[date, date | None]]:
    """Non-accrual (SPEC §2.7): from a `non_accrual` event until `accrual_restored`; and
    automatically on the day the DPD reaches `threshold` until the facility is current again
    (or accrual is restored). `overdue`: [due date, day paid) of each due paid late
    (`overdue_intervals`). Returned in date order."""
    marks: list[tuple[date, int, str]] = []  # (date, order on the date, what)
    for e in events.events:
        if e.type in ("non_accrual", "accrual_restored"):
            marks.append((e.date, 1, e.type))
    if threshold:
        current = _merged(overdue)
        for since, until in overdue:
            trigger = since + timedelta(days=threshold)  # DPD = t − the oldest unpaid due's date
            if until is None or trigger < until:
                end = next((b for a, b in current if a <= since and (b is None or since < b)), None)
                marks.append((trigger, 2, "auto"))
                if end is not None:
                    marks.append((end, 0, "current"))
    marks.sort(key=lambda m: (m[0], m[1]))
    out: list[tuple[date, date | None]] = []
    open_from: date | None = None
    by_event = False
    for d, _, what in marks:
        if what in ("non_accrual", "auto") and open_from is None:
            open_from, by_event = d, what == "non_accrual"
        elif what == "non_accrual":
            by_event = True
        elif open_from is not None and (what == "accrual_restored" or (what == "current" and not by_event)):
            if d > open_from:
                out.append((open_from, d))
            open_from, by_event = None, False
    if open_from is not None:
        out.append((open_from, None))
    return out


def in_span(spans: Sequence[tuple[date, date | None]], on: date) -> date | None:
    """The start of the span in force on `on` (None: none is)."""
    for a, b in spans:
        if a <= on and (b is None or on < b):
            return a
    return None


# --- write-offs and recoveries -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Carrying:
    """Principal on a date, split by write-offs (SPEC §4.3, §4.4)."""

    carrying: Decimal
    """Outstanding principal less what was written off and not recovered: the book's figure."""
    written_off: Decimal
    """Σ principal written off up to the date."""
    recoveries: Decimal
    """Principal cash received on written-off principal (after the carrying balance was repaid)."""
    write_offs: tuple[tuple[date, Decimal], ...] = ()
    """(date, amount) of each write-off applied, in date order."""
    recovered: tuple[tuple[date, Decimal], ...] = ()
    """(date, amount) of each recovery, in date order."""


def carrying(increases: Iterable[tuple[date, Decimal]], principal_cash: Iterable[tuple[date, Decimal]],
             write_offs: Sequence[Event], on: date) -> Carrying:
    """Carrying principal on `on` (end of day). `increases`: draws and PIK capitalised;
    `principal_cash`: principal received. On one date, draws and cash come before a
    write-off; a write-off without an amount writes off the whole carrying balance then and
    the facility with it: PIK capitalised (or drawn) afterwards is written off as it comes.
    One larger than the balance is capped at it (validate reports it, E0625)."""
    steps: list[tuple[date, int, Decimal]] = []
    steps += [(d, 0, a) for d, a in increases if d <= on]
    steps += [(d, 1, a) for d, a in principal_cash if d <= on]
    steps.sort(key=lambda s: (s[0], s[1]))
    wos = sorted((e for e in write_offs if e.date <= on), key=lambda e: e.date)
    bal = written = recovered = ZERO
    whole = False  # written off in full: later increases are written off as they come
    applied: list[tuple[date, Decimal]] = []
    recov: list[tuple[date, Decimal]] = []
    i = 0
    for e in wos + [None]:
        limit = e.date if e is not None else date.max
        while i < len(steps) and steps[i][0] <= limit:
            d, kind, amount = steps[i]
            if kind == 0 and whole:
                written += amount
                applied.append((d, amount))
            elif kind == 0:
                bal += amount
            else:
                take = min(amount, max(bal, ZERO))
                bal -= take
                if amount > take:
                    recovered += amount - take
                    recov.append((d, amount - take))
            i += 1
        if e is None:
            break
        amount = bal if e.amount is None else min(e.amount, bal)
        whole = whole or e.amount is None
        if amount > 0:
            bal -= amount
            written += amount
            applied.append((e.date, amount))
    return Carrying(bal, written, recovered, tuple(applied), tuple(recov))


def overdue_intervals(dues: Iterable[tuple[date, Decimal, Sequence[tuple[date, Decimal]]]]
                      ) -> list[tuple[date, date | None]]:
    """[due date, day paid in full) of each due (date, amount, settlements) not paid by its
    due date (None: still unpaid). A due counts in the DPD on the days after its date on
    which it is unpaid at the end of the day (SPEC §4.4)."""
    out: list[tuple[date, date | None]] = []
    for d, amount, settled in dues:
        if amount <= 0:
            continue
        paid = ZERO
        until = None
        for sd, a in settled:
            paid += a
            if paid >= amount:
                until = sd
                break
        if until is None or until > d:
            out.append((d, until))
    return sorted(out, key=lambda x: x[0])


def _merged(intervals: Sequence[tuple[date, date | None]]) -> list[tuple[date, date | None]]:
    """Spells when something is overdue: overlapping intervals joined."""
    out: list[tuple[date, date | None]] = []
    for a, b in sorted(intervals, key=lambda x: x[0]):
        if out and (out[-1][1] is None or a < out[-1][1]):
            last_a, last_b = out[-1]
            out[-1] = (last_a, None if last_b is None or b is None else max(last_b, b))
        else:
            out.append((a, b))
    return out


# --- from the book ----------------------------------------------------------------------------
def facility_events(record, facility_id: str) -> CreditEvents:
    """The deal's events that concern a facility (those without a facility concern all), in
    (date, id) order. `record`: a `model.records.DealRecord`."""
    return CreditEvents([Event(r.event.date, r.event.type, r.event.amount) for r in record.sorted_events()
                         if r.event.facility in (None, facility_id)])


def default_rate_steps(ft) -> list[tuple[date, Decimal | None]]:
    """(from date, default rate) of each version of a facility's terms (`engine.terms.FacilityTerms`)."""
    out: list[tuple[date, Decimal | None]] = []
    for v in ft.versions:
        since = v.effective or v.facility.start_date
        out.append((since, v.facility.interest.default_rate))
    return out
