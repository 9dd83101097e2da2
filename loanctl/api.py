"""The library's public functions: what the command line (and any script) calls.

Each returns values and diagnostics; none prints, reads the clock or exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .diagnostics import Diagnostic, UsageProblem, sort_key
from .model.records import LoadedBook, Tree
from .source.loader import find_book, load_book
from .validation.run import ValidationResult, deals_for_paths, validate
from .validation.run import load_valid_book as _load_valid_book

if TYPE_CHECKING:
    from .servicing.allocation import PayoffQuote

__all__ = ["PayoffResult", "UsageProblem", "ValidationResult", "deals_for_paths", "load_valid_book", "locate_book",
           "payoff_quote", "validate_book"]


def locate_book(explicit: str | None) -> Path:
    root = find_book(explicit)
    if root is None:
        raise UsageProblem("E0011: no book found", "pass --book PATH, set LOANCTL_BOOK, or run in a folder with deals/ "
                                            "or book.yaml (create one with: loanctl init)")
    if not root.is_dir():
        raise UsageProblem(f"book folder {root} does not exist", "check --book or LOANCTL_BOOK")
    if not (root / "book.yaml").is_file():
        raise UsageProblem(f"{root} has no book.yaml", "create a book with: loanctl init")
    return root


def load_valid_book(root: Path, deal_ids: Iterable[str] | None = None, tree: Tree | None = None):
    """Load (a part of) the book for commands that compute: (book, errors sorted). A
    revolver's draws are checked against the repayments archived in payments/."""
    return _load_valid_book(root, deal_ids, tree, _repaid(tree))


def _repaid(tree: Tree | None):
    """The archive's repayments for a book read from its folder (not from a git revision)."""
    from .ledger.store import archive_repaid
    from .source.loader import FsTree
    return archive_repaid() if tree is None or isinstance(tree, FsTree) else None


def validate_book(root: Path, paths: Iterable[str] = (), tree: Tree | None = None,
                  workers: int | None = None, base: Tree | None = None) -> ValidationResult:
    """Load and check the book (or the deals PATHS name), with the audit rules against git:
    approvals dated before a deal appeared in git, and — given the `base` revision's tree —
    the no-drift rules of `validate --base`. Diagnostics sorted by position."""
    from .audit.drift import approvals_before_creation, check_against_base

    result = validate(root, paths, tree, workers, _repaid(tree))
    extra = approvals_before_creation(result.loaded, root, tree)
    if base is not None:
        base_book, _ = load_book(root, tree=base)
        extra += check_against_base(result.loaded, base_book)
    result.diagnostics = sorted(result.diagnostics + extra, key=sort_key)
    return result




@dataclass(frozen=True, slots=True)
class PayoffResult:
    """A payoff quote (SPEC §4.3) with what it is for."""

    deal: str
    facility: str
    currency: str
    quote: "PayoffQuote"


def payoff_quote(loaded: LoadedBook, deal_id: str, facility_id: str | None, on: date
                 ) -> tuple[PayoffResult | None, list[Diagnostic]]:
    """What ends a facility on `on` by component, after the ledger's payments dated before
    it. A date outside the facility's life (on or before its start, after its maturity)
    is E0276; a facility a payoff already ended is E0277. Unknown deal or facility, or a
    deal of several facilities without one named: a usage problem."""
    from .ledger.store import ledger_payments
    from .servicing.positions import allocate_facility, facility_inputs, quote_payoff

    record = loaded.deals.get(deal_id)
    if record is None:
        raise UsageProblem(f"unknown deal '{deal_id}'", "the deal id is its folder name under the book")
    terms, _ = facility_inputs(loaded, deal_id)
    if facility_id is None:
        if len(terms) != 1:
            raise UsageProblem(f"deal '{deal_id}' has {len(terms)} facilities: name one with --facility",
                               f"facilities: {', '.join(terms)}")
        facility_id = next(iter(terms))
    ft = terms.get(facility_id)
    if ft is None:
        raise UsageProblem(f"deal '{deal_id}' has no facility '{facility_id}'", f"facilities: {', '.join(terms)}")
    start, maturity = ft.first.facility.start_date, ft.last.facility.maturity_date
    if not start < on <= maturity:
        return None, [ft.last.diag("E0276", f"a payoff on {on} is outside facility {facility_id}'s life: after "
                                            f"its start {start}, up to its maturity {maturity}", ("maturity_date",),
                                   hint=f"quote a date after {start} and on or before {maturity}")]
    payments = [p for p in ledger_payments(loaded.root) if p.deal == deal_id and p.facility == facility_id]
    before = [p for p in payments if p.date < on]
    ended = allocate_facility(loaded, deal_id, facility_id, before)
    if ended.payoff is not None:
        off = next(p for p in before if p.payment_id == ended.payoff)
        return None, [Diagnostic("E0277", f"facility {deal_id}/{facility_id} was paid off on {off.date} by payment "
                                          f"{off.payment_id!r}: nothing is owed on {on}", record.doc.file,
                                 hint="a reversal of the payoff reopens the facility")]
    quote = quote_payoff(loaded, deal_id, facility_id, before, on)
    if quote is None:
        return None, [ft.last.diag("E0276", f"no payoff quote on {on}: the facility's schedule does not run to it",
                                   ("maturity_date",), hint=f"quote a date after {start} and on or before {maturity}")]
    return PayoffResult(deal_id, facility_id, record.deal.currency, quote), []
