"""`loanctl covenants`: covenant tests with headroom and status."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from .common import EXIT_INVALID, app, book_root, fail_usage, guarded, print_diagnostics


@app.command()
@guarded
def covenants(
    ctx: typer.Context,
    deal: Optional[str] = typer.Argument(None, help="A deal id (or use --fund)."),
    fund: Optional[str] = typer.Option(None, "--fund", help="Every deal the fund (or its SPVs) holds."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Test date (default today)."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Test every covenant against every financials file: value, bound, headroom, status."""
    import datetime as _dt
    from ..api import load_valid_book
    from ..underwriting.covenants import test_deal
    from ..reports.build import ScopeProblem, resolve_scope
    from .schedule import parse_date_option

    on = parse_date_option(as_of, "--as-of") or _dt.date.today()
    if (deal is None) == (fund is None):
        raise fail_usage("give a DEAL or --fund F")
    loaded, errors = load_valid_book(book_root(ctx))
    if errors:
        print_diagnostics(errors, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    if deal is not None and deal not in loaded.deals:
        raise fail_usage(f"unknown deal '{deal}'")
    if fund is not None:
        try:
            scope = resolve_scope(loaded, fund=fund)
        except ScopeProblem as exc:
            raise fail_usage(str(exc)) from None
        ids = [d for d, r in sorted(loaded.deals.items())
               if any(p.lender in scope.lenders for f in r.deal.facilities for p in f.participations)]
    else:
        ids = [deal]
    rows, diags = [], []
    for d in ids:
        r, dg = test_deal(loaded.deals[d], on, loaded=loaded)
        rows += r
        diags += dg
    if diags:
        print_diagnostics(diags, stream=sys.stderr)
    if fmt == "json":
        keys = ("deal", "covenant", "period_end", "metric", "value", "bound", "headroom", "status")
        out = [{k: (str(r[k]) if r[k] is not None and k not in ("deal", "covenant", "metric", "status") else r[k])
                for k in keys} for r in rows]
        for o, r in zip(out, rows):
            if "waiver" in r:  # only where a waiver names this test: {by, note}
                o["waiver"] = r["waiver"]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        from rich.table import Table
        from rich.text import Text
        from ..render.text import console
        t = Table(title=f"covenants as of {on}", title_justify="left", header_style="bold")
        for name in ("Deal", "Covenant", "Period end", "Metric", "Value", "Bound", "Headroom", "Status"):
            t.add_column(name, justify="right" if name in ("Value", "Bound", "Headroom") else "left")
        for r in rows:
            style = {"breached": "bold red", "at_risk": "yellow", "overdue": "magenta", "missing": "magenta",
                     "waived": "cyan"}.get(
                r["status"], "green")
            t.add_row(r["deal"], r["covenant"], str(r["period_end"]), r["metric"],
                      f"{r['value']:.2f}x" if r["value"] is not None else "—",
                      f"{'≤' if r['bound_kind'] == 'max' else '≥'} {r['bound']}",
                      f"{r['headroom']:.2f}" if r["headroom"] is not None else "—", Text(r["status"], style=style))
        console(min_width=120).print(t)
    if any(d.is_error for d in diags):
        raise typer.Exit(EXIT_INVALID)
