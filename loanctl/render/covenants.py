"""Renderers of `loanctl covenants`: the covenant test rows as JSON or a rich table."""

from __future__ import annotations

from .text import print_table

import json
from datetime import date

KEYS = ("deal", "covenant", "period_end", "metric", "value", "bound", "headroom", "status")
STATUS_STYLE = {"breached": "bold red", "at_risk": "yellow", "overdue": "magenta", "missing": "magenta",
                "waived": "cyan"}


def to_json(rows: list[dict]) -> str:
    out = [{k: (str(r[k]) if r[k] is not None and k not in ("deal", "covenant", "metric", "status") else r[k])
            for k in KEYS} for r in rows]
    for o, r in zip(out, rows):
        if "waiver" in r:  # only where a waiver names this test: {by, note}
            o["waiver"] = r["waiver"]
    return json.dumps(out, indent=2) + "\n"


def to_table(rows: list[dict], on: date, console) -> None:
    from rich.table import Table
    from rich.text import Text
    t = Table(title=f"covenants as of {on}", title_justify="left", header_style="bold")
    for name in ("Deal", "Covenant", "Period end", "Metric", "Value", "Bound", "Headroom", "Status"):
        t.add_column(name, justify="right" if name in ("Value", "Bound", "Headroom") else "left")
    for r in rows:
        t.add_row(r["deal"], r["covenant"], str(r["period_end"]), r["metric"],
                  f"{r['value']:.2f}x" if r["value"] is not None else "—",
                  f"{'≤' if r['bound_kind'] == 'max' else '≥'} {r['bound']}",
                  f"{r['headroom']:.2f}" if r["headroom"] is not None else "—",
                  Text(r["status"], style=STATUS_STYLE.get(r["status"], "green")))
    print_table(console, t)
