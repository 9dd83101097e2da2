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

from datetime import date

from pathlib import Path

from ..diagnostics import Diagnostic
from ..model.records import LoadedBook
from ..source.cache import cache_disabled
from ..source.loader import load_book
from ..validation.checks import Repaid
from ..validation.run import load_valid_book, validate
from ..underwriting.covenants import test_deal
from ..ledger.stored_positions import PositionStore, context_digest, decode_value, encode_value, open_store

COVENANTS = "covenants"
"""The `facility` key of a deal's stored covenant tests (one entry per deal)."""


def open_covenant_store(loaded: LoadedBook, as_of: date) -> PositionStore | None:
    book = loaded.book.model_dump(mode="json") if loaded.book else None
    return open_store(loaded, as_of, context_digest(COVENANTS, book), with_payments=False)


def covenant_tests(loaded: LoadedBook, deal_ids: list[str], as_of: date, store: PositionStore | None
                   ) -> tuple[list[dict], list[Diagnostic]]:
    """Every covenant test of the deals, in the given order: (rows, diagnostics) — the stored
    rows of each deal whose entry is up to date, `test_deal` for the others (stored when clean)."""
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


def load_checked_book(root: Path, repaid: Repaid | None) -> tuple[LoadedBook, list[Diagnostic]]:
    """The whole book read from its folder and its errors, as `validation.run.load_valid_book`
    gives them — with the checks taken from validate's kept results (`validation.cached`: each
    unchanged deal's diagnostics under the digest of its files and of what its checks read)
    instead of run again. When they hold an error (or the cache is off) the book is loaded and
    checked as before, so the errors shown are the same."""
    if not cache_disabled():
        result = validate(root, repaid=repaid, kept=True)
        if not any(d.is_error for d in result.diagnostics):
            loaded, diags = load_book(root)
            if not any(d.is_error for d in diags):
                return loaded, []
    return load_valid_book(root, repaid=repaid)
