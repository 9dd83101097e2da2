"""The library's public functions: what the command line (and any script) calls.

Each returns values and diagnostics; none prints, reads the clock or exits.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Iterable

from .diagnostics import UsageProblem, sort_key
from .model.records import Tree
from .source.loader import find_book, load_book
from .validation.run import ValidationResult, deals_for_paths, load_valid_book, validate

__all__ = ["UsageProblem", "ValidationResult", "deals_for_paths", "load_valid_book", "locate_book", "validate_book"]


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


def validate_book(root: Path, paths: Iterable[str] = (), tree: Tree | None = None,
                  workers: int | None = None, base: Tree | None = None) -> ValidationResult:
    """Load and check the book (or the deals PATHS name), with the audit rules against git:
    approvals dated before a deal appeared in git, and — given the `base` revision's tree —
    the no-drift rules of `validate --base`. Diagnostics sorted by position."""
    from .audit.drift import approvals_before_creation, check_against_base

    result = validate(root, paths, tree, workers)
    extra = approvals_before_creation(result.loaded, root, tree)
    if base is not None:
        base_book, _ = load_book(root, tree=base)
        extra += check_against_base(result.loaded, base_book)
    result.diagnostics = sorted(result.diagnostics + extra, key=sort_key)
    return result




def load_deal(root: Path, deal: str, rev_tree: Tree | None = None):
    """The book with `deal` loaded and valid (from the git revision's tree, if given): an
    unknown deal is a usage problem (with the closest id), an invalid one a DiagnosticError."""
    import difflib

    from .diagnostics import DiagnosticError
    from .source.loader import FsTree

    tree = rev_tree or FsTree(root)
    if tree.read(f"{deal}/deal.yaml", 1 << 30) is None or deal.startswith((".", "_")) or "/" in deal:
        known = sorted(load_book(root, tree=tree)[0].deal_folders)
        close = difflib.get_close_matches(deal, known, n=1)
        raise UsageProblem(f"unknown deal '{deal}'", f"did you mean '{close[0]}'?" if close else
                           f"deals: {', '.join(known[:20]) or 'none'}")
    loaded, errors = load_valid_book(root, [deal], tree=tree)
    if errors:
        raise DiagnosticError(errors)
    return loaded


def simulate(root: Path, deal: str, spec, as_of: date, grid: bool = False):
    """`loanctl simulate`: the deal (a draft works too) under the scenario the options in `spec`
    (an `underwriting.scenario.ScenarioSpec`) describe, beside its base — or the grid of rate
    shocks × full prepayment dates. Coverage windows start after `as_of`."""
    from .diagnostics import DiagnosticError
    from .underwriting.scenario import build_scenario
    from .underwriting.simulate import simulate as run_simulation

    loaded, errors = load_valid_book(root, [deal])
    if deal not in loaded.deals and not errors:
        raise UsageProblem(f"unknown deal '{deal}'")
    if errors:
        raise DiagnosticError(errors)
    scenario, diags = build_scenario(loaded.deals[deal], spec)
    if any(d.is_error for d in diags):
        raise DiagnosticError(diags)
    return run_simulation(loaded, deal, scenario, as_of, with_grid=grid)
