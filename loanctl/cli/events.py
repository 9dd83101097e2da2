"""`loanctl event DEAL --type T --date D`: record a credit event (a thin adapter over
`loanctl.api.record_event`)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from .common import EXIT_INVALID, app, book_root, guarded, print_diagnostics


@app.command()
@guarded
def event(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    type_: str = typer.Option(..., "--type", help="default | default_cured | non_accrual | accrual_restored | "
                                                  "write_off."),
    on: str = typer.Option(..., "--date", help="The event's date."),
    amount: Optional[str] = typer.Option(None, "--amount", help="write_off: principal written off (default: all "
                                                                "outstanding)."),
    facility: Optional[str] = typer.Option(None, "--facility", help="The facility (default: all of the deal's)."),
    note: Optional[str] = typer.Option(None, "--note", help="What happened (a reference, a letter sent)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the file; write nothing."),
) -> None:
    """Write a credit-event file (events/<date>-<type>.yaml), after checking the book with it."""
    from ..api import record_event
    from ..model.options import option_amount, option_date

    result = record_event(book_root(ctx), deal, type_, option_date(on, "--date"),
                          amount=option_amount(amount, "--amount") if amount is not None else None,
                          facility=facility, note=note, dry_run=dry_run)
    if not result.ok:
        print_diagnostics(result.diagnostics, stream=sys.stderr)
        sys.stderr.write("nothing was written\n")
        raise typer.Exit(EXIT_INVALID)
    if dry_run:
        sys.stdout.write(result.text)
    else:
        sys.stderr.write(f"wrote {result.written}\n")
