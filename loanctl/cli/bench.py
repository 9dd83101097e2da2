"""`loanctl bench`: time every stage on a synthetic book, against DuckDB and QuantLib."""

from __future__ import annotations

import json
import math
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
    from ..bench.run import help_seconds, run_bench

    progress = (lambda s: sys.stderr.write(f"  {s}…\n")) if fmt == "text" else (lambda s: None)
    result = run_bench(deals, payments, seed, workdir, growth=growth, progress=progress)
    help_s = help_seconds()
    result.targets["loanctl --help ≤ 0.3 s"] = {"value": help_s, "target": 0.3, "met": help_s <= 0.3}
    if fmt == "json":
        out = {"date": _dt.date.today().isoformat(), "deals": result.deals, "payments": result.payments,
               "seed": seed, "stages": [{"stage": s.name, "seconds": round(s.seconds, 4), "peak_mb": round(s.peak_mb),
                                         "detail": s.detail} for s in result.stages],
               "references": {k: round(v, 4) for k, v in result.references.items()},
               "ratios": {k: (round(v, 3) if v is not None else None) for k, v in result.ratios.items()},
               "targets": {k: {"value": (round(v["value"], 3) if v["value"] is not None else None),
                               "target": v["target"], "met": v["met"]} for k, v in result.targets.items()},
               "growth_n_over_n10": {k: round(v, 2) for k, v in result.growth.items()}}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    console = Console(width=max(110, Console().width))
    t = Table(title=f"loanctl bench: {result.deals:,} deals, {result.payments:,} payments (seed {seed})",
              title_justify="left", header_style="bold")
    for c in ("stage", "seconds", "peak MB", "×(N/10)", "detail"):
        t.add_column(c, justify="left" if c in ("stage", "detail") else "right")
    for s in result.stages:
        g = result.growth.get(s.name)
        t.add_row(s.name, "—" if math.isnan(s.seconds) else f"{s.seconds:.3f}", f"{s.peak_mb:.0f}",
                  f"{g:.1f}" if g else "", s.detail)
    for k, v in result.references.items():
        t.add_row(f"reference: {k.replace('_', ' ')}", f"{v:.3f}", "", "", "")
    console.print(t)
    g = Table(title="targets", title_justify="left", header_style="bold")
    for c in ("target", "measured", "limit", "met"):
        g.add_column(c, justify="left" if c == "target" else "right")
    for name, v in result.targets.items():
        g.add_row(name, "—" if v["value"] is None else f"{v['value']:.3f}", f"{v['target']}",
                  "[green]yes[/green]" if v["met"] else "[red]no[/red]")
    console.print(g)
