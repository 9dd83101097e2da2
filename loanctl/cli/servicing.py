"""Servicing commands: post-payments, ledger rebuild|refresh|check, query (loanctl.api's
servicing functions). The clock enters here: the posting day is today."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .common import EXIT_INVALID, OutFormat, app, book_root, fail_usage, guarded, print_diagnostics

ledger_app = typer.Typer(help="Rebuild or check the payments ledger.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(ledger_app, name="ledger")


def _working(message: str, long: bool):
    """A spinner on stderr for long work, only when stderr is a terminal."""
    import contextlib
    if not (long and sys.stderr.isatty()):
        return contextlib.nullcontext()
    from rich.console import Console
    return Console(stderr=True).status(message)


@app.command("post-payments")
@guarded
def post_payments(
    ctx: typer.Context,
    files: List[Path] = typer.Argument(..., help="Payment CSV files."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the allocation; write nothing."),
    profile: Optional[str] = typer.Option(None, "--profile", help="A payment profile of book.yaml (bank columns)."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    posting_day: Optional[str] = typer.Option(None, "--posting-day", hidden=True),
) -> None:
    """Check every row of every file, then archive and post them in one transaction — or nothing."""
    import datetime as _dt
    from ..api import post_payments as post
    from ..model.options import option_date
    from ..render import servicing as render
    from ..reports.posting import post_summary

    day = option_date(posting_day, "--posting-day") or _dt.date.today()
    raw_files = []
    for f in files:
        try:
            raw_files.append((str(f), f.read_bytes()))
        except OSError as exc:
            raise fail_usage(f"cannot read {f}: {exc.strerror}") from None
    root = book_root(ctx)
    size = sum(len(raw) for _, raw in raw_files)
    with _working(f"checking and posting {len(raw_files)} file(s), {size / 1e6:.1f} MB", size > 1_000_000):
        result = post(root, raw_files, day, profile=profile, dry_run=dry_run)
    if not result.ok:
        if fmt == "json":
            print_diagnostics(result.diagnostics, "json")
        else:
            from ..plaintext import inert  # messages quote the file's own text (ids, references)
            for d in result.diagnostics:
                sys.stderr.write(inert(f"{d.file}:{d.line}: {d.code}: {d.message}" + (f" (hint: {d.hint})" if d.hint
                                                                                     else "")
                                       if d.line else f"{d.file}: {d.code}: {d.message}", one_line=True) + "\n")
            sys.stderr.write("nothing was posted\n")
        raise typer.Exit(EXIT_INVALID)
    summary = post_summary(result)
    if fmt == "json":
        sys.stdout.write(render.post_json(summary))
    else:
        from ..render.text import console
        render.post_table(summary, console(min_width=180))
    _report_refresh(result.refreshed, [d for d in result.diagnostics if not d.is_error])


def _report_refresh(refreshed, warnings=()) -> None:
    if warnings:
        print_diagnostics(list(warnings), stream=sys.stderr)
    if refreshed:
        sys.stderr.write(f"recomputed the allocations of {len(refreshed)} facilit{'ies' if len(refreshed) != 1 else 'y'} "
                         "whose book inputs changed\n")


@ledger_app.command("rebuild")
@guarded
def ledger_rebuild(ctx: typer.Context) -> None:
    """Recreate the ledger from the archived payment files (atomic: the old one stays until done)."""
    import datetime as _dt
    from ..api import rebuild_ledger
    root = book_root(ctx)
    with _working("rebuilding the ledger from payments/", True):
        files, payments, diags = rebuild_ledger(root, _dt.date.today())
    if diags:
        print_diagnostics(diags, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    sys.stderr.write(f"ledger rebuilt from {files} archived file{'s' if files != 1 else ''}: {payments} payments\n")


@ledger_app.command("refresh")
@guarded
def ledger_refresh(ctx: typer.Context) -> None:
    """Recompute the stored allocations of facilities whose terms, amendments, fixings or book
    settings changed since they were computed (post-payments and query do this first)."""
    from ..api import refresh_ledger
    root = book_root(ctx)
    with _working("recomputing stale allocations", True):
        refreshed = refresh_ledger(root)
    _report_refresh(refreshed)
    if not refreshed:
        sys.stderr.write("ledger refresh: every facility follows the book\n")


@ledger_app.command("check")
@guarded
def ledger_check(ctx: typer.Context, fmt: str = typer.Option("text", "--format", help="text or json.")) -> None:
    """Verify the ledger: archive vs ledger, allocations vs payments and vs the book as it is
    now, no orphans."""
    from ..api import check_ledger
    diags = check_ledger(book_root(ctx))
    print_diagnostics(diags, "json" if fmt == "json" else "text")
    if any(d.is_error for d in diags):  # a warning alone (E0921) is shown, and the check passes
        raise typer.Exit(EXIT_INVALID)
    if fmt != "json":
        sys.stderr.write("ledger check: clean\n" if not diags else
                         f"ledger check: no errors, {len(diags)} warning{'s' if len(diags) != 1 else ''}\n")


@app.command()
@guarded
def query(
    ctx: typer.Context,
    sql: str = typer.Argument(..., help="One read-only SQL statement."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Date of the positions view (default today)."),
    fmt: Optional[OutFormat] = typer.Option(None, "--format", help="table (default on a terminal), csv or json."),
    timeout: float = typer.Option(30.0, "--timeout", metavar="SECONDS", help="Stop the query after this long (E0425)."),
) -> None:
    """Read-only SQL over the ledger (payments, allocations, payment_files) and the book
    (deals, facilities, schedules, positions: one row per facility, lender_positions: one row
    per facility and lender). One SELECT (or EXPLAIN of one); at most 1 GB of memory and 1 GB
    of spill space."""
    import datetime as _dt
    from ..api import query as run_query
    from ..model.options import option_date
    from ..render import servicing as render

    on = option_date(as_of, "--as-of") or _dt.date.today()
    columns, rows, refreshed, warnings = run_query(book_root(ctx), sql, on, timeout=timeout)
    _report_refresh(refreshed, warnings)  # the allocations table followed the book first
    fmt = fmt or (OutFormat.table if sys.stdout.isatty() else OutFormat.csv)
    sys.stdout.write(render.query_output(columns, rows, fmt.value))
