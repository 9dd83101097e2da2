"""`loanctl bench`: time every stage on a synthetic book, against DuckDB and QuantLib
(loanctl.bench.run, shown by loanctl.bench.report)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .common import app, guarded


@app.command()
@guarded
def bench(
    deals: int = typer.Option(1000, "--deals", min=1, help="Deals in the synthetic book."),
    payments: int = typer.Option(100_000, "--payments", min=1, help="Payment rows to post."),
    seed: int = typer.Option(7, "--seed", help="Seed of the generator."),
    growth: bool = typer.Option(True, "--growth/--no-growth", help="Also run at N/10 to show how cost grows."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Where to build the temporary book."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Generate a realistic book, time validate, schedules, post, allocation, reports and rebuild."""
    import datetime as _dt
    from ..bench import report as render
    from ..bench.run import run_bench

    progress = (lambda s: sys.stderr.write(f"  {s}…\n")) if fmt == "text" else (lambda s: None)
    result = render.add_help_target(run_bench(deals, payments, seed, workdir, growth=growth, progress=progress))
    if fmt == "json":
        sys.stdout.write(render.to_json(result, seed, _dt.date.today()))
    else:
        render.to_tables(result, seed)
