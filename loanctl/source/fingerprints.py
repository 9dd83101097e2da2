"""Content fingerprints: what a facility's stored allocation depends on, and what a payment
profile reads a file as.

A deal's fingerprint is the sha256 of the canonical content (parsed data, not bytes: a
comment or a re-indent changes nothing) of every input its schedules and allocations are
computed from: deal.yaml, its amendments, financials, trades and credit events, the fixings of every rate index
the deal names, book.yaml's calendars, rounding and waterfall, and the versions of loanctl
and of the holidays package (the engine and the holiday tables are inputs too). The ledger
stores it beside each facility's allocations; a different fingerprint means stale rows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .loader import DealRecord, LoadedBook
from ..model.documents import PaymentProfile

PROFILE_SIDECAR_SUFFIX = ".profile"
"""payments/<archive name>.profile: the payment profile an archived file was posted with."""
PROFILE_DIGEST_SUFFIX = ".profile.sha256"
"""payments/<archive name>.profile.sha256: `<profile name> <profile_digest>` at post time."""


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True).encode()


def _strings(data: Any, out: set[str]) -> set[str]:
    if isinstance(data, str):
        out.add(data)
    elif isinstance(data, dict):
        for k, v in data.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(data, (list, tuple)):
        for v in data:
            _strings(v, out)
    return out


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__
    try:
        hol = version("holidays")
    except PackageNotFoundError:  # pragma: no cover - holidays is a dependency
        hol = "?"
    return f"loanctl {__version__}; holidays {hol}"


class DealFingerprints:
    """Fingerprints of a book's deals, each shared part (book settings, a rate index) hashed once."""

    def __init__(self, loaded: LoadedBook) -> None:
        self.loaded = loaded
        book = loaded.book
        settings = book.model_dump(mode="json", include={"calendars", "rounding", "waterfall"}) if book else {}
        self._book = hashlib.sha256(_canonical([_versions(), settings])).hexdigest()
        self._rates: dict[str, str] = {}
        self._deals: dict[str, str | None] = {}

    def _index(self, name: str) -> str:
        if name not in self._rates:
            s = self.loaded.rates[name]
            h = hashlib.sha256(name.encode() + b"\0")
            for d, r in zip(s.dates, s.rates):
                h.update(f"{d.isoformat()},{r}\n".encode())
            self._rates[name] = h.hexdigest()
        return self._rates[name]

    def of(self, deal_id: str) -> str | None:
        """The deal's fingerprint; None when the book has no such deal."""
        if deal_id not in self._deals:
            record = self.loaded.deals.get(deal_id)
            self._deals[deal_id] = None if record is None else self._compute(record)
        return self._deals[deal_id]

    def _compute(self, record: DealRecord) -> str:
        parts: list[Any] = [self._book, record.doc.data]
        names = _strings(record.doc.data, set())
        for a in sorted(record.amendments, key=lambda a: a.rel):
            parts += [a.rel, a.doc.data]
            _strings(a.doc.data, names)
        for f in sorted(record.financials, key=lambda f: f.rel):
            parts += [f.rel, f.doc.data]
        for x in sorted([*record.trades, *record.events], key=lambda x: x.rel):
            parts += [x.rel, x.doc.data]
        # every index the deal could name (a string equal to a rate file's index), safe by excess
        parts += [[n, self._index(n)] for n in sorted(names & self.loaded.rates.keys())]
        return hashlib.sha256(_canonical(parts)).hexdigest()


def profile_digest(profile: PaymentProfile) -> str:
    """sha256 of a payment profile's definition (column mapping and date format)."""
    return hashlib.sha256(_canonical(profile.model_dump(mode="json"))).hexdigest()
