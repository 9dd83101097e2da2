"""Renderers for post-payments summaries and query results."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal

from ..ledger.posting import PostResult
from ..ledger.query import inert_text

_KEEP = "\t\n"  # kept as they are: harmless on a terminal (and quoted by CSV)


def _s(x: Decimal) -> str:
    return format(x, "f")


def post_summary(result: PostResult) -> dict:
    per_deal: dict[str, dict] = defaultdict(lambda: {"payments": 0, "amount": Decimal(0), "unapplied": Decimal(0)})
    currency: dict[str, str] = {}
    new_ids = {p.payment_id for p in result.posted}
    for p in result.posted:
        per_deal[p.deal]["payments"] += 1
        per_deal[p.deal]["amount"] += p.amount
        currency[p.deal] = p.currency
    allocation_rows = []
    if result.unapplied_by_payment is not None:  # streamed: only the unapplied amounts were kept
        for p in result.posted:
            per_deal[p.deal]["unapplied"] += result.unapplied_by_payment.get(p.payment_id, Decimal(0))
    for (deal, facility), fa in sorted(result.allocations.items()):
        for a in fa.allocations:
            if a.payment_id in new_ids:
                if a.component == "unapplied":
                    per_deal[deal]["unapplied"] += a.amount
                allocation_rows.append({"payment_id": a.payment_id, "deal": deal, "facility": facility,
                                        "date": a.payment_date.isoformat(),
                                        "due_date": a.due_date.isoformat() if a.due_date else None,
                                        "component": a.component, "amount": _s(a.amount)})
    return {
        "dry_run": result.dry_run,
        "posted": len(result.posted),
        "duplicates": result.duplicates,
        "archived": result.archived,
        "deals": [{"deal": d, "currency": currency[d], "payments": v["payments"], "amount": _s(v["amount"]),
                   "unapplied": _s(v["unapplied"])} for d, v in sorted(per_deal.items())],
        "allocations": allocation_rows,
    }


def post_table(result: PostResult, console) -> None:
    from rich.table import Table

    summary = post_summary(result)
    verb = "would post" if result.dry_run else "posted"
    console.print(f"{verb} {summary['posted']} payment{'s' if summary['posted'] != 1 else ''}, "
                  f"{summary['duplicates']} duplicate{'s' if summary['duplicates'] != 1 else ''} skipped"
                  + (f"; archived {', '.join(summary['archived'])}" if summary["archived"] else ""))
    if not summary["deals"]:
        return
    t = Table(header_style="bold")
    for name in ("Deal", "Ccy", "Payments", "Amount", "Unapplied"):
        t.add_column(name, justify="left" if name in ("Deal", "Ccy") else "right")
    for d in summary["deals"]:
        t.add_row(d["deal"], d["currency"], str(d["payments"]), f"{Decimal(d['amount']):,}",
                  f"{Decimal(d['unapplied']):,}" if Decimal(d["unapplied"]) else "")
    console.print(t)
    if result.dry_run:
        a = Table(title="allocation", title_justify="left", header_style="bold")
        for name in ("Payment", "Deal", "Facility", "Date", "Due date", "Component", "Amount"):
            a.add_column(name, justify="right" if name == "Amount" else "left")
        for row in summary["allocations"]:
            a.add_row(row["payment_id"], row["deal"], row["facility"], row["date"], row["due_date"] or "",
                      row["component"], f"{Decimal(row['amount']):,}")
        console.print(a)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def query_output(columns: list[str], rows: list[tuple], fmt: str) -> str:
    """Query rows as JSON (valid JSON: Decimals as strings, NaN/±Infinity as strings), CSV or a
    table; in CSV and the table, data is inert (no markup, control characters shown escaped)."""
    if fmt == "json":
        return json.dumps([{c: _json_value(v) for c, v in zip(columns, r)} for r in rows], indent=2,
                          allow_nan=False) + "\n"
    if fmt == "csv":
        from .report import csv_safe  # spreadsheet formula injection: the same guard as report CSV
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([csv_safe(_csv_text(c)) for c in columns])
        w.writerows([csv_safe(_csv_text(_cell(v))) for v in r] for r in rows)
        return buf.getvalue()
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
    t = Table(header_style="bold")
    for c in columns:
        t.add_column(Text(inert_text(c, keep=_KEEP)))
    for r in rows:
        t.add_row(*(Text(inert_text(_cell(v), keep=_KEEP)) for v in r))
    console = Console(file=io.StringIO(), width=200)
    console.print(t)
    return console.file.getvalue()


def _csv_text(text: str) -> str:
    """Inert text for CSV: a CR LF inside a value stays (the field is quoted, so a reference's
    line breaks round-trip); a lone CR, which CSV would not quote, is shown as \\x0d."""
    return "\r\n".join(inert_text(part, keep=_KEEP) for part in text.split("\r\n"))


def _json_value(value):
    """A query value as JSON: Decimals as strings (as everywhere in loanctl), non-finite floats
    as "NaN", "Infinity", "-Infinity", lists, structs and maps recursively, anything else as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (Decimal, date)):
        return _cell(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return str(value)
