"""`loanctl simulate`: a deal under a scenario beside its base (loanctl.api.simulate)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .common import app, book_root, fail_usage, guarded


@app.command()
@guarded
def simulate(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id (a draft deal works too)."),
    rate_shock: Optional[str] = typer.Option(None, "--rate-shock", help="Shift every index fixing, e.g. +200bps."),
    index_path: Optional[List[str]] = typer.Option(None, "--index-path", help="[INDEX=]FILE of date,rate rows "
                                                                            "replacing the projected fixings."),
    prepay: Optional[List[str]] = typer.Option(None, "--prepay", help="DATE:AMOUNT[:FACILITY] (repeatable)."),
    default: Optional[str] = typer.Option(None, "--default", help="Default date: payments stop."),
    recovery: str = typer.Option("60%", "--recovery", help="Recovery on the outstanding at default."),
    recovery_lag: str = typer.Option("12m", "--recovery-lag", help="When the recovery is received (e.g. 12m)."),
    amendment: Optional[Path] = typer.Option(None, "--amendment", help="A draft amendment file to apply."),
    pik_toggle: Optional[List[str]] = typer.Option(None, "--pik-toggle", help="DATE:on|off (repeatable)."),
    grid: bool = typer.Option(False, "--grid", help="A grid of rate shocks × prepayment dates."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Coverage windows after DATE (default today)."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Run a deal under a scenario: totals, XIRR and MOIC (book and lenders), interest coverage."""
    import datetime as _dt
    from ..api import simulate as run
    from ..model.options import option_date
    from ..render import simulate as render
    from ..underwriting.scenario import ScenarioSpec

    if fmt not in ("text", "json"):
        raise fail_usage(f"--format {fmt} is not one of text, json")
    on = option_date(as_of, "--as-of") or _dt.date.today()
    spec = ScenarioSpec(rate_shock=rate_shock, index_paths=index_path or (), prepay=prepay or (), default=default,
                        recovery=recovery, recovery_lag=recovery_lag, amendment=amendment,
                        pik_toggle=pik_toggle or ())
    result = run(book_root(ctx), deal, spec, on, grid=grid)
    if fmt == "json":
        sys.stdout.write(render.to_json(result))
    else:
        from ..render.text import console
        render.to_table(result, console(min_width=120))
