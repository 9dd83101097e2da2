"""The library's public functions: what the command line (and any script) calls.

Each returns values and diagnostics; none prints, reads the clock or exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .checks import check_book
from .diagnostics import Diagnostic, sort_key
from .loader import LoadedBook, Tree, find_book, load_book


class UsageProblem(Exception):
    """A usage error (exit 2): unknown deal, no book, a path outside the book."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def locate_book(explicit: str | None) -> Path:
    root = find_book(explicit)
    if root is None:
        raise UsageProblem("no book found", "pass --book PATH, set LOANCTL_BOOK, or run in a folder with deals/ "
                                            "or book.yaml (create one with: loanctl init)")
    if not root.is_dir():
        raise UsageProblem(f"book folder {root} does not exist", "check --book or LOANCTL_BOOK")
    if not (root / "book.yaml").is_file():
        raise UsageProblem(f"{root} has no book.yaml", "create a book with: loanctl init")
    return root


def deals_for_paths(root: Path, paths: Iterable[str]) -> set[str] | None:
    """The deal ids that PATHS name (deal folders or files in them); None: the whole book."""
    wanted: set[str] = set()
    root_abs = root.resolve()
    for p in paths:
        path = Path(p).resolve()
        if path == root_abs:
            return None
        try:
            rel = path.relative_to(root_abs)
        except ValueError:
            raise UsageProblem(f"{p} is not inside the book {root}", "pass paths inside the book, or --book") from None
        first = rel.parts[0]
        if first in ("book.yaml", "rates"):
            return None
        wanted.add(first)
    return wanted


@dataclass
class ValidationResult:
    loaded: LoadedBook
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if not d.is_error)


def validate_book(root: Path, paths: Iterable[str] = (), tree: Tree | None = None) -> ValidationResult:
    """Load and check the book (or the deals PATHS name); diagnostics sorted by position."""
    wanted = deals_for_paths(root, paths) if paths else None
    loaded, diags = load_book(root, tree=tree, deal_ids=wanted)
    diags = diags + check_book(loaded)
    return ValidationResult(loaded, sorted(diags, key=sort_key))


def load_valid_book(root: Path, deal_ids: Iterable[str] | None = None, tree: Tree | None = None
                    ) -> tuple[LoadedBook, list[Diagnostic]]:
    """Load (a part of) the book for commands that compute: errors only, sorted."""
    loaded, diags = load_book(root, tree=tree, deal_ids=deal_ids)
    diags = diags + check_book(loaded)
    return loaded, sorted((d for d in diags if d.is_error), key=sort_key)
