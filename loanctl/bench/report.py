"""The bench's result as shown: the `loanctl --help` start-up target added to the measured ones,
then JSON (dated by the caller) or rich tables."""

from __future__ import annotations

import json
import math
from datetime import date

from .run import BenchResult, help_seconds

HELP_TARGET = "loanctl --help ≤ 0.3 s"


def add_help_target(result: BenchResult) -> BenchResult:
    """Time `loanctl --help` and add it to the targets."""
    help_s = help_seconds()
    result.targets[HELP_TARGET] = {"value": help_s, "target": 0.3, "met": help_s <= 0.3}
    return result


def to_json(result: BenchResult, seed: int, on: date) -> str:
    out = {"date": on.isoformat(), "deals": result.deals, "payments": result.payments,
           "seed": seed, "stages": [{"stage": s.name, "seconds": round(s.seconds, 4), "peak_mb": round(s.peak_mb),
                                     "detail": s.detail} for s in result.stages],
           "references": {k: round(v, 4) for k, v in result.references.items()},
           "ratios": {k: (round(v, 3) if v is not None else None) for k, v in result.ratios.items()},
           "targets": {k: {"value": (round(v["value"], 3) if v["value"] is not None else None),
                           "target": v["target"], "met": v["met"]} for k, v in result.targets.items()},
           "growth_n_over_n10": {k: round(v, 2) for k, v in result.growth.items()}}
    return json.dumps(out, indent=2) + "\n"


def to_tables(result: BenchResult, seed: int) -> None:
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
        limit = f"{v['target']:.3f}".rstrip("0").rstrip(".")
        g.add_row(name, "—" if v["value"] is None else f"{v['value']:.3f}", limit,
                  "[green]yes[/green]" if v["met"] else "[red]no[/red]")
    console.print(g)
