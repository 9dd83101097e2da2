"""Stored covenant tests (SPEC §10, issue #19 item 2): `loanctl covenants` reads each deal's
tests from the ledger's stored entries while the deal's fingerprint (its files, the fixings of
its indexes, the book's calendars, rounding and waterfall, loanctl's version), book.yaml as a
whole and loanctl's sources are unchanged, and tests (and stores) only the deals that changed.
No payment enters a covenant test, so the entries carry no payment digest.

A deal whose tests give a diagnostic (E0229 and the like) is tested every time (its
diagnostics are not kept): only clean results are stored, so the output is the same with or
without the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterable

from ..diagnostics import Diagnostic, DiagnosticError, sort_key
from ..model.records import LoadedBook
from ..source.cache import ParsedCache, cache_disabled
from ..source.loader import batched_writes, load_deal
from ..validation.checks import Repaid
from ..validation.run import load_valid_book, validate
from ..underwriting.covenants import deal_lenders, test_deal
from ..ledger.stored_positions import (KnownFingerprints, PositionStore, context_digest, decode_value, encode_value,
                                       open_store)

COVENANTS = "covenants"
"""The `facility` key of a deal's stored covenant tests (one entry per deal)."""


def open_covenant_store(loaded: LoadedBook, as_of: date, index: DealIndex | None = None) -> PositionStore | None:
    book = loaded.book.model_dump(mode="json") if loaded.book else None
    return open_store(loaded, as_of, context_digest(COVENANTS, book), with_payments=False,
                      known=index.fingerprints if index is not None else None)


def covenant_tests(loaded: LoadedBook, deal_ids: list[str], as_of: date, store: PositionStore | None,
                   index: DealIndex | None = None) -> tuple[list[dict], list[Diagnostic]]:
    """Every covenant test of the deals, in the given order: (rows, diagnostics) — the stored
    rows of each deal whose entry is up to date, `test_deal` for the others (stored when clean)."""
    if index is not None:  # the deals to test are loaded
        index.load([d for d in deal_ids if store is None or store.fresh(d, COVENANTS) is None])
    rows: list[dict] = []
    diags: list[Diagnostic] = []
    for deal_id in deal_ids:
        text = store.fresh(deal_id, COVENANTS) if store is not None else None
        if text is not None:
            try:
                rows += decode_value(text)
                continue
            except (ValueError, TypeError, ArithmeticError):
                pass  # unreadable: tested again (and replaced)
        r, dg = test_deal(loaded.deals[deal_id], as_of, loaded=loaded)
        rows += r
        diags += dg
        if store is not None and not dg:
            store.put(deal_id, COVENANTS, 0, 1, encode_value(r))
    return rows, diags


DEAL_INDEX = "report-deals"
"""The entry of `.loanctl/cache/` (signed JSON) keeping each deal's `DealIndex` facts."""


@dataclass
class DealIndex:
    """Every deal of a valid book whose deals are loaded only when needed: a report reads an
    unchanged deal's figures from its stored entries and needs of the deal itself only its
    status (is it in a report: `reports.build.scope_deals`), its lenders (are its covenants
    tested: `underwriting.covenants.deal_lenders`) and its fingerprint (are its stored entries
    current). Those are kept in `.loanctl/cache/report-deals.json` under the deal folder's
    digest as `validate` found it (`validation.cached.deal_digest`: the folder's files, book.yaml,
    the rate, marks and archive files, loanctl's sources) and the holidays package's version,
    which are all a fingerprint is made of: a folder with another digest is loaded, and its facts
    computed again."""

    loaded: LoadedBook
    statuses: dict[str, str]
    lenders: dict[str, set[str]]
    fingerprints: dict[str, str]
    """Each deal not loaded: its fingerprint (`ledger.stored_positions.KnownFingerprints`)."""

    def load(self, deal_ids: Iterable[str]) -> None:
        """Load these deals (those not loaded yet) into `loaded.deals`; a deal whose folder no
        longer loads cleanly (changed since it was checked) is a DiagnosticError."""
        todo = [d for d in dict.fromkeys(deal_ids) if d not in self.loaded.deals and d in self.statuses]
        if not todo:
            return
        errors: list[Diagnostic] = []
        with batched_writes(self.loaded.tree):
            for deal_id in todo:
                record, diags = load_deal(self.loaded.tree, deal_id)
                errors += [d for d in diags if d.is_error]
                if record is not None:
                    self.loaded.deals[deal_id] = record
        if errors:  # the folder changed since it was checked
            raise DiagnosticError(sorted(errors, key=sort_key))


def _index_salt() -> str:
    from ..source.fingerprints import holidays_version
    return f"1; holidays {holidays_version()}"


def load_report_book(root: Path, repaid: Repaid | None) -> tuple[LoadedBook, list[Diagnostic], DealIndex | None]:
    """The book a report reads from its folder, its errors, and its DealIndex: the checks are
    validate's kept results (`validation.cached`), and only the deals whose folders changed since
    their facts were kept are loaded (the others when a report needs them: `DealIndex.load`).
    When the kept results hold an error (or the cache is off) the whole book is loaded and
    checked as before (`validation.run.load_valid_book`), so the errors shown are the same; no
    DealIndex."""
    if cache_disabled():
        return (*load_valid_book(root, repaid=repaid), None)
    result = validate(root, repaid=repaid, kept=True)
    if any(d.is_error for d in result.diagnostics):
        return (*load_valid_book(root, repaid=repaid), None)
    loaded = result.loaded
    cache = ParsedCache(root)
    salt = _index_salt()
    kept = cache.get_json(DEAL_INDEX)
    known = kept.get("deals") if type(kept) is dict and kept.get("salt") == salt else None
    known = known if type(known) is dict else {}
    statuses: dict[str, str] = {}
    lenders: dict[str, set[str]] = {}
    fingerprints: dict[str, str] = {}
    facts: dict[str, list] = {}
    changed: list[str] = []
    for folder in loaded.deal_folders:
        digest = result.digests.get(folder)
        hit = known.get(folder)
        if (digest is not None and type(hit) is list and len(hit) == 4 and hit[0] == digest
                and type(hit[1]) is str and type(hit[2]) is str and type(hit[3]) is list
                and all(type(x) is str for x in hit[3])):
            fingerprints[folder], statuses[folder], lenders[folder] = hit[1], hit[2], set(hit[3])
            facts[folder] = hit
        else:
            changed.append(folder)
    index = DealIndex(loaded, statuses, lenders, fingerprints)
    if changed:
        index.statuses.update({f: "" for f in changed})  # known to the index: loaded now, facts below
        index.load(changed)
        fps = KnownFingerprints(loaded, {})
        for folder in changed:
            record = loaded.deals.get(folder)
            if record is None:
                del statuses[folder]
                continue
            statuses[folder], lenders[folder] = record.deal.status, deal_lenders(record)
            fp = fps.of(folder)
            digest = result.digests.get(folder)
            if digest is not None and fp is not None:
                facts[folder] = [digest, fp, statuses[folder], sorted(lenders[folder])]
        fps.flush()
    if facts != known:
        cache.put_json(DEAL_INDEX, {"salt": salt, "deals": facts})
    return loaded, [], index
