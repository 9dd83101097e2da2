"""The library's public functions: what the command line (and any script) calls.

Each returns values and diagnostics; none prints, reads the clock or exits.
"""

from __future__ import annotations

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


