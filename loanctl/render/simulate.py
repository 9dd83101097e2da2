"""Renderers of `loanctl simulate`: JSON and rich tables of a `Simulation` built beforehand
(base, scenario and difference, or the grid); amounts in the currency's minor units."""

from __future__ import annotations

from .text import print_table

import json
from decimal import Decimal

from ..underwriting.simulate import Simulation


def to_json(sim: Simulation) -> str:
    return json.dumps(sim.view, indent=2) + "\n"


def amount(x, digits: int) -> str:
    return "—" if x is None else f"{Decimal(x):,.{digits}f}"


def pct(x) -> str:
    return "—" if x is None else f"{Decimal(x) * 100:.2f}%"


def grid_table(sim: Simulation, console) -> None:
    from rich.table import Table
    rows = sim.view["grid"]
    t = Table(title=f"{sim.deal}: gross XIRR / MOIC by rate shock and full prepayment date", header_style="bold")
    cols = list(dict.fromkeys(r["prepay"] for r in rows))
    t.add_column("shock")
    for c in cols:
        t.add_column(c, justify="right")
    for shock in dict.fromkeys(r["shock"] for r in rows):
        cells = []
        for c in cols:
            x = next(r for r in rows if r["shock"] == shock and r["prepay"] == c)
            cells.append(f"{pct(x['xirr'])} / {x['moic'] or '—'}x" if not x.get("error") else x["error"])
        t.add_row(shock, *cells)
    print_table(console, t)


def to_table(sim: Simulation, console) -> None:
    from rich.table import Table

    from .text import text as inert_text
    if "grid" in sim.view:
        grid_table(sim, console)
        return
    out, n = sim.view, sim.digits
    b, r, diff = out["base"], out["result"], out["difference"]
    console.print(inert_text(sim.deal, "bold") + f" scenario: {json.dumps(out['scenario']) if out['scenario'] else 'none (base)'}")
    t = Table(header_style="bold")
    for c in ("", "base", "scenario", "difference"):
        t.add_column(c, justify="left" if not c else "right")
    for k in diff["totals"]:
        t.add_row(k.replace("_", " "), amount(b["totals"].get(k), n), amount(r["totals"].get(k), n),
                  amount(diff["totals"][k], n))
    t.add_row("gross XIRR", pct(b["xirr"]), pct(r["xirr"]), pct(diff["xirr"]))
    t.add_row("MOIC", f"{b['moic'] or '—'}x", f"{r['moic'] or '—'}x", diff["moic"] or "—")
    bi, ri = b["min_interest_coverage"], r["min_interest_coverage"]
    t.add_row("min interest coverage", f"{bi['value']}x ({bi['date']})" if bi else "—",
              f"{ri['value']}x ({ri['date']})" if ri else "—", diff["min_interest_coverage"] or "—")
    for lender, x in r["lenders"].items():
        t.add_row(f"{lender} XIRR / MOIC", f"{pct(b['lenders'].get(lender, {}).get('xirr'))} / "
                  f"{b['lenders'].get(lender, {}).get('moic') or '—'}x",
                  f"{pct(x['xirr'])} / {x['moic'] or '—'}x", "")
    print_table(console, t)
    for note in sim.notes:
        console.print(f"note: {note}", style="yellow")
