"""The loaded book as the engine sees it: deals with their amendment and financials files, rate
fixings, and the tree the files were read from. Built by `loanctl.source.loader`; read by
every layer above it (the engine never imports the file-reading layer).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from .documents import Amendment, Book, CreditEvent, Deal, Financials, Trade
from .origin import Doc


class Tree(Protocol):
    """Read access to the book's files, by path relative to the book root."""

    root: Path

    def list_dir(self, rel: str) -> list[tuple[str, bool]]:  # (name, is_dir)
        ...

    def read(self, rel: str, max_bytes: int) -> bytes | int | None:
        """The file's bytes; its size (int) when over `max_bytes`; None when it does not exist;
        `OUTSIDE` when a link leads out of the book (a tree on disk only)."""
        ...

    # optional: `outside(rel) -> bool`, whether a folder leads out of the book (see FsTree)

    def display(self, rel: str) -> str:
        ...


@dataclass(frozen=True, slots=True)
class RateSeries:
    """Fixings of one index, dates strictly increasing."""

    index: str
    file: str
    dates: tuple[date, ...]
    rates: tuple[Decimal, ...]
    lines: tuple[int, ...] = ()
    """The file line of each row (for diagnostics about a row)."""

    def fixing(self, on: date) -> tuple[Decimal, bool] | None:
        """The latest fixing dated on or before `on`, and whether it is projected (after the
        last row). None when no row is that early."""
        i = bisect.bisect_right(self.dates, on)
        if i == 0:
            return None
        return self.rates[i - 1], i == len(self.dates) and on > self.dates[-1]

    def shifted(self, shock: Decimal) -> "RateSeries":
        return RateSeries(self.index, self.file, self.dates, tuple(r + shock for r in self.rates), self.lines)


@dataclass(frozen=True, slots=True)
class Mark:
    """One row of a marks file (SPEC §9): a facility's fair value as a price, % of par."""

    deal: str
    facility: str
    price: Decimal
    source: str
    line: int


@dataclass(frozen=True, slots=True)
class MarkFile:
    """`marks/<date>.csv`: the marks of one valuation date."""

    date: date
    file: str
    marks: tuple[Mark, ...]


@dataclass(frozen=True, slots=True)
class AmendmentRecord:
    amendment: Amendment
    doc: Doc
    rel: str


@dataclass(frozen=True, slots=True)
class FinancialsRecord:
    financials: Financials
    doc: Doc
    rel: str


@dataclass(frozen=True, slots=True)
class TradeRecord:
    trade: Trade
    doc: Doc
    rel: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    event: CreditEvent
    doc: Doc
    rel: str


@dataclass(slots=True)
class DealRecord:
    """A deal with its source and its amendment, financials, trade and credit-event files."""

    deal: Deal
    doc: Doc
    rel: str
    amendments: list[AmendmentRecord] = field(default_factory=list)
    financials: list[FinancialsRecord] = field(default_factory=list)
    trades: list[TradeRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)

    def sorted_amendments(self) -> list[AmendmentRecord]:
        return sorted(self.amendments, key=lambda a: (a.amendment.effective_date, a.amendment.id))

    def sorted_trades(self) -> list[TradeRecord]:
        """Trades in `(settlement_date, id)` order (SPEC §2.6)."""
        return sorted(self.trades, key=lambda t: (t.trade.settlement_date, t.trade.id))

    def sorted_events(self) -> list[EventRecord]:
        """Credit events in `(date, id)` order."""
        return sorted(self.events, key=lambda e: (e.event.date, e.event.id))


@dataclass(slots=True)
class LoadedBook:
    root: Path
    tree: Tree
    book: Book | None
    doc: Doc | None
    deals: dict[str, DealRecord] = field(default_factory=dict)
    rates: dict[str, RateSeries] = field(default_factory=dict)
    deal_folders: list[str] = field(default_factory=list)
    """Every deal folder found, valid or not."""
    fx: dict[str, RateSeries] = field(default_factory=dict)
    """FX rates by pair (`GBPUSD`: units of USD per one GBP), from rates/FX-<BASE><QUOTE>.csv."""
    marks: list[MarkFile] = field(default_factory=list)
    """Fair-value marks files in date order."""
    _entities: dict | None = None

    @property
    def entities(self) -> dict:
        """book.yaml's entities by id, built once (a book may have thousands of borrowers)."""
        if self._entities is None:
            self._entities = {}
            for e in (self.book.entities if self.book is not None else ()):
                self._entities.setdefault(e.id, e)
        return self._entities

    @property
    def kinds(self) -> dict[str, str]:
        return {k: e.kind for k, e in self.entities.items()}
