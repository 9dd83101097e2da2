"""Renderers of `loanctl show`: the terms view (`reports.terms.terms_view`) as JSON or text."""

from __future__ import annotations

import json


def to_json(view: dict) -> str:
    from .text import json_text  # names and descriptions: C1 and bidi controls as \u escapes
    return json_text(json.dumps(view, indent=2, ensure_ascii=False)) + "\n"


def to_text(view: dict, console) -> None:
    from rich.table import Table

    from .text import print_table, text as inert_text

    console.print(inert_text(f"{view['name']} ({view['deal']})", "bold"))
    console.print(f"borrower {view['borrower']} · status {view['status']} · {view['currency']} · "
                  f"terms in force on {view['as_of']}")
    for a in view["amendments_applied"]:
        console.print(f"  applied: amendment {a['id']} effective {a['effective_date']} — {a['description'] or ''}")
    for a in view["amendments_pending"]:
        console.print(f"  not yet effective: amendment {a['id']} effective {a['effective_date']}", style="dim")
    if view["underwriting"]:
        uw = view["underwriting"]
        shown = {"total_leverage": "total leverage {}x", "net_leverage": "net leverage {}x",
                 "interest_coverage": "interest coverage {}x", "fixed_charge_coverage": "fixed-charge coverage {}x",
                 "debt_service_coverage": "DSCR {}x (next 12 months' debt service {})", "ltv": "LTV {}"}
        parts = []
        for k, text in shown.items():
            if uw.get(k) is not None:
                parts.append(text.format(uw[k], uw.get("debt_service_12m")))
        console.print("underwriting: " + " · ".join(parts))
    for fac in view["facilities"]:
        t = Table(title=f"facility {fac['facility']}", title_justify="left", header_style="bold")
        t.add_column("Term")
        t.add_column("Value", overflow="fold")
        t.add_column("Source")
        for row in fac["terms"]:
            style = "yellow" if row["source"] != "deal.yaml" else None
            t.add_row(row["term"], inert_text(row["value"]), row["source"], style=style)
        print_table(console, t)
