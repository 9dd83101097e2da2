"""`loanctl validate`: the check CI runs on every deal pull request."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from .common import EXIT_INVALID, DiagFormat, app, book_root, git_tree, guarded, print_diagnostics


@app.command()
@guarded
def validate(
    ctx: typer.Context,
    paths: Optional[List[str]] = typer.Argument(None, help="Deal folders or files to check (default: the whole book)."),
    fmt: DiagFormat = typer.Option(DiagFormat.text, "--format", help="text, json, or github (Actions annotations)."),
    strict: bool = typer.Option(False, "--strict", help="Warnings fail too."),
    base: Optional[str] = typer.Option(None, "--base", help="Also enforce the audit rules against git revision REV "
                                                            "(funded deals change only by new amendments)."),
    rev: Optional[str] = typer.Option(None, "--rev", help="Validate the book as it was at git revision REV."),
) -> None:
    """Check the book: syntax, types, references, dates, shares, approvals. Silent on success."""
    from ..api import validate_book

    root = book_root(ctx)
    tree = git_tree(root, rev)
    result = validate_book(root, paths or (), tree=tree, base=git_tree(root, base) if base is not None else None,
                           kept=True)
    print_diagnostics(result.diagnostics, fmt.value, read=tree.read_display if tree is not None else None)
    if fmt is DiagFormat.text:
        deals = len(result.loaded.deal_folders)
        sys.stderr.write(f"{deals} deal{'s' if deals != 1 else ''} checked: {result.errors} error"
                         f"{'s' if result.errors != 1 else ''}, {result.warnings} warning"
                         f"{'s' if result.warnings != 1 else ''}\n")
    if result.errors or (strict and result.warnings):
        raise typer.Exit(EXIT_INVALID)
