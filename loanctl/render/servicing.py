"""Renderers for post-payments summaries (built by `reports.posting`) and query results."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date
from decimal import Decimal

from ..ledger.query import inert_text
from .text import print_table

_KEEP = "\t\n"  # kept as they are: harmless on a terminal (and quoted by CSV)


def post_json(summary: dict) -> str:
    return json.dumps(summary, indent=2) + "\n"


def post_table(summary: dict, console) -> None:
    """The summary `reports.posting.post_summary` built: counts, per deal, and (dry run) the allocation."""
    from rich.table import Table

    verb = "would post" if summary["dry_run"] else "posted"
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
    print_table(console, t)
    if summary["dry_run"]:
        a = Table(title="allocation", title_justify="left", header_style="bold")
        for name in ("Payment", "Deal", "Facility", "Date", "Due date", "Component", "Amount"):
            a.add_column(name, justify="right" if name == "Amount" else "left")
        for row in summary["allocations"]:
            a.add_row(row["payment_id"], row["deal"], row["facility"], row["date"], row["due_date"] or "",
                      row["component"], f"{Decimal(row['amount']):,}")
        print_table(console, a)


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
    for i, c in enumerate(columns):  # a column of numbers is figures: never wrapped nor cut
        figures = any(isinstance(r[i], (Decimal, int, float)) and not isinstance(r[i], bool) for r in rows)
        t.add_column(Text(inert_text(c, keep=_KEEP)), no_wrap=figures)
    for r in rows:
        t.add_row(*(Text(inert_text(_cell(v), keep=_KEEP)) for v in r))
    console = Console(file=io.StringIO(), width=200)
    print_table(console, t)
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
    if isinstance(value, float):  # a DOUBLE a query computed (never money: money columns are DECIMAL)
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
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
