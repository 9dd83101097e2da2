"""Content fingerprints: what a facility's stored allocation depends on, and what a payment
profile reads a file as.

A deal's fingerprint is the sha256 of the canonical content (parsed data, not bytes: a
comment or a re-indent changes nothing) of every input its schedules and allocations are
computed from: deal.yaml, its amendments, financials, trades and credit events, the fixings of every rate index
the deal names, book.yaml's calendars, rounding, waterfall and unapplied-cash policy
(`policy.unapplied`), and the versions of loanctl and of the holidays package (the engine and the holiday tables are inputs too). The ledger
stores it beside each facility's allocations; a different fingerprint means stale rows.

Kept beside the parsed-file cache (`.loanctl/cache/fingerprints.json`, signed like every entry
there): a deal's fingerprint is kept under the sha256 of the bytes of each of its files (as the
parsed-file cache read them), the book settings' digest, the set of rate indices and the
digest of every loanctl source; each kept fingerprint names the digests of the indices it
covered, which must still be the book's. So an unchanged deal is not canonicalised and hashed
again, and a changed file, a new file, a changed fixing or another loanctl all miss.
`--no-cache` / LOANCTL_NO_CACHE bypasses it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .cache import ParsedCache, cache_disabled, package_fingerprint
from .loader import DealRecord, LoadedBook
from ..model.documents import PaymentProfile

PROFILE_SIDECAR_SUFFIX = ".profile"
"""payments/<archive name>.profile: the payment profile an archived file was posted with."""
FINGERPRINTS_ENTRY = "fingerprints"
"""The entry of `.loanctl/cache/` (signed JSON) that keeps the deals' fingerprints."""
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


def holidays_version() -> str:
    """The installed holidays package's version (calendars are part of every fingerprint)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("holidays")
    except PackageNotFoundError:  # pragma: no cover - holidays is a dependency
        return "?"


def _versions() -> str:
    from .. import __version__
    return f"loanctl {__version__}; holidays {holidays_version()}"


class DealFingerprints:
    """Fingerprints of a book's deals, each shared part (book settings, a rate index) hashed once."""

    def __init__(self, loaded: LoadedBook) -> None:
        self.loaded = loaded
        book = loaded.book
        settings = book.model_dump(mode="json", include={"calendars": True, "rounding": True, "waterfall": True,
                                                         "policy": {"unapplied"}}) if book else {}
        self._book = hashlib.sha256(_canonical([_versions(), settings])).hexdigest()
        self._rates: dict[str, str] = {}
        self._deals: dict[str, str | None] = {}
        cache = getattr(loaded.tree, "parsed_cache", None)
        self._cache: ParsedCache | None = None if cache_disabled() else cache
        self._kept: dict[str, list] | None = None  # key → [fingerprint, {index: digest}], read on first use
        self._new: dict[str, list] = {}
        self._salt = ""
        self.computed = 0
        """Fingerprints canonicalised and hashed by this object (not taken from the cache)."""

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
        key = self._key(record) if self._cache is not None else None
        if key is not None:
            kept = self._lookup(key)
            if kept is not None:
                return kept
        fp, indices = self._hash(record)
        if key is not None:
            self._new[key] = [fp, {n: self._index(n) for n in indices}]
        return fp

    def _key(self, record: DealRecord) -> str | None:
        """What the deal's fingerprint is kept under: the content digests of its files (None
        when the parsed-file cache did not read one of them: computed, not kept)."""
        cache = self._cache
        assert cache is not None
        files: list[Any] = []
        groups = [("deal", [record]), ("amendment", record.amendments), ("financials", record.financials),
                  ("trade", record.trades), ("event", record.events)]
        for kind, records in groups:
            for r in records:
                digest = cache.content_digest(r.doc)
                if digest is None:
                    return None
                files.append([kind, r.rel, r.doc.file, digest])
        if not self._salt:
            self._salt = hashlib.sha256(_canonical([package_fingerprint(), self._book,
                                                    sorted(self.loaded.rates)])).hexdigest()
        return hashlib.sha256(_canonical([self._salt, sorted(files)])).hexdigest()

    def _lookup(self, key: str) -> str | None:
        if self._kept is None:
            assert self._cache is not None
            value = self._cache.get_json(FINGERPRINTS_ENTRY)
            self._kept = value if type(value) is dict else {}
        item = self._new.get(key) or self._kept.get(key)
        if (type(item) is not list or len(item) != 2 or type(item[0]) is not str or type(item[1]) is not dict
                or any(type(n) is not str or n not in self.loaded.rates or self._index(n) != d
                       for n, d in item[1].items())):
            return None
        if key not in self._new:
            self._new[key] = item
        return item[0]

    def flush(self) -> None:
        """Keep the fingerprints this object used beside the parsed-file cache (best effort; a
        no-op when nothing new was computed)."""
        cache = self._cache
        kept = self._kept or {}
        if cache is None or all(kept.get(k) == v for k, v in self._new.items()):
            return
        kept = dict(kept)
        if len(kept) + len(self._new) > max(4 * len(self.loaded.deals), 50_000):
            kept = {}  # entries of deals' earlier versions go when they far outnumber the book (or a big one)
        kept.update(self._new)
        cache.put_json(FINGERPRINTS_ENTRY, kept)
        self._kept = kept

    def _hash(self, record: DealRecord) -> tuple[str, list[str]]:
        """The fingerprint, canonicalised and hashed, and the rate indices it covers."""
        self.computed += 1
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
        indices = sorted(names & self.loaded.rates.keys())
        parts += [[n, self._index(n)] for n in indices]
        return hashlib.sha256(_canonical(parts)).hexdigest(), indices


def profile_digest(profile: PaymentProfile) -> str:
    """sha256 of a payment profile's definition (column mapping and date format)."""
    return hashlib.sha256(_canonical(profile.model_dump(mode="json"))).hexdigest()
