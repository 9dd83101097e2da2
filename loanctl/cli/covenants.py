"""`loanctl covenants`: covenant tests with headroom and status (loanctl.api.covenants)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from .common import EXIT_INVALID, app, book_root, guarded, print_diagnostics


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
    from ..api import covenants as test
    from ..model.options import option_date
    from ..render import covenants as render

    on = option_date(as_of, "--as-of") or _dt.date.today()
    rows, diags = test(book_root(ctx), on, deal=deal, fund=fund)
    if diags:
        print_diagnostics(diags, stream=sys.stderr)
    if fmt == "json":
        sys.stdout.write(render.to_json(rows))
    else:
        from ..render.text import console
        render.to_table(rows, on, console(min_width=120))
    if any(d.is_error for d in diags):
        raise typer.Exit(EXIT_INVALID)
