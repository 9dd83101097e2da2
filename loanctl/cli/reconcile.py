"""`loanctl reconcile STATEMENT`: match a bank statement's credits to open dues."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .common import EXIT_INVALID, app, book_root, fail_usage, guarded, print_diagnostics


@app.command()
@guarded
def reconcile(
    ctx: typer.Context,
    statement: Path = typer.Argument(..., help="Bank statement: camt.053 XML, SWIFT MT940, or CSV with --profile."),
    profile: Optional[str] = typer.Option(None, "--profile", help="A CSV statement profile of book.yaml (reconcile.profiles)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the payments CSV for post-payments here."),
    fmt: str = typer.Option("text", "--format", help="Report format: text or json."),
) -> None:
    """Match each credit to open dues (by reference, then borrower and amount, then amount within
    the book's tolerance); report matched, partial, unexpected credits and missing dues; with
    --out, write the payments file. Bad input writes nothing (exit 1)."""
    from ..reconcile.output import payments_csv, report_json, report_text
    from ..reconcile.run import reconcile_statement
    from ..api import load_valid_book

    if fmt not in ("text", "json"):
        raise fail_usage(f"--format must be text or json, not {fmt!r}")
    try:
        raw = statement.read_bytes()
    except OSError as exc:
        raise fail_usage(f"cannot read {statement}: {exc.strerror}") from None
    loaded, errors = load_valid_book(book_root(ctx))
    if errors:
        print_diagnostics(errors, stream=sys.stderr)
        sys.stderr.write("the book is invalid: fix it first (loanctl validate)\n")
        raise typer.Exit(EXIT_INVALID)
    result, diags = reconcile_statement(loaded, str(statement), raw, profile)
    if result is None:
        print_diagnostics(diags, "json" if fmt == "json" else "text", stream=sys.stderr)
        sys.stderr.write("nothing was written\n")
        raise typer.Exit(EXIT_INVALID)
    if out is not None:
        _write_atomically(out, payments_csv(result))
    sys.stdout.write(report_json(result) if fmt == "json" else report_text(result))
    if out is not None:
        sys.stderr.write(f"wrote {len(result.payment_rows())} payment(s) to {out}\n")


def _write_atomically(path: Path, text: str) -> None:
    import os
    import tempfile
    try:
        fd, tmp = tempfile.mkstemp(prefix=".reconcile-", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise fail_usage(f"cannot write {path}: {exc.strerror}") from None
