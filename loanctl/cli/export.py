"""`loanctl export`: the book's tables as Parquet for Spark, Trino, DuckDB or Polars (loanctl.api.export)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .common import app, book_root, guarded


@app.command()
@guarded
def export(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="The folder to write (new or empty; see --force)."),
    fmt: str = typer.Option("parquet", "--format", help="parquet (the only format)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Positions, allocations and journal as of this day; "
                                                              "payments with value dates up to it (default today)."),
    force: bool = typer.Option(False, "--force", help="Replace what --out holds (a previous export)."),
) -> None:
    """Write deals, facilities, schedules, payments, allocations, positions and the journal as
    Parquet (money as DECIMAL), the large tables partitioned by currency."""
    import datetime as _dt
    from ..api import export as run
    from ..model.options import option_date

    on = option_date(as_of, "--as-of") or _dt.date.today()
    result = run(book_root(ctx), out, on, fmt, force)
    rows = ", ".join(f"{name} {n:,}" for name, n in result.tables.items())
    sys.stderr.write(f"wrote {result.out} as of {result.as_of}: {rows}\n")
