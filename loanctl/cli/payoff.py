"""`loanctl payoff`: what ends a facility on a date, by component (SPEC §4.3; loanctl.api.payoff)."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from .common import EXIT_INVALID, app, book_root, fail_usage, guarded, print_diagnostics


@app.command()
@guarded
def payoff(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    facility: Optional[str] = typer.Option(None, "--facility", help="Facility id (required for a deal with several)."),
    on: str = typer.Option(..., "--date", help="Payoff date, YYYY-MM-DD."),
    fmt: str = typer.Option("text", "--format", help="text or json (money as strings)."),
) -> None:
    """Quote the payoff of a facility on a date, after the ledger's payments dated before it:
    past-due dues, accrued interest, PIK and commitment fee, principal, prepayment and exit fees."""
    from ..api import payoff as quote
    from ..model.options import option_date
    from ..render.payoff import payoff_json, payoff_text

    if fmt not in ("text", "json"):
        raise fail_usage(f"--format must be text or json, not {fmt!r}")
    day = option_date(on, "--date")
    result, diags = quote(book_root(ctx), deal, facility, day)
    if result is None:
        print_diagnostics(diags, fmt, stream=sys.stdout if fmt == "json" else sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    if fmt == "json":
        sys.stdout.write(json.dumps(payoff_json(result.deal, result.facility, result.currency, result.quote),
                                    indent=2) + "\n")
    else:
        sys.stdout.write(payoff_text(result.deal, result.facility, result.currency, result.quote))
