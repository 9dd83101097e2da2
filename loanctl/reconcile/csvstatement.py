"""A CSV bank statement read through a profile of book.yaml (`reconcile.profiles`).

The profile maps loanctl's statement columns to the bank's headers; `amount` is signed
(a minus is a debit) unless a `credit_debit` column says C/D (or CRDT/DBIT, CR/DR).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

from ..diagnostics import Diagnostic
from .statement import Entry, Statement, exact_amount, problem, reference_problem

COLUMNS = ("transaction_id", "date", "amount", "currency", "credit_debit", "remittance", "counterparty")
REQUIRED = ("transaction_id", "date", "amount")
_CREDIT = {"c": True, "cr": True, "crdt": True, "credit": True, "d": False, "dr": False, "dbit": False, "debit": False}


def parse_csv(file: str, raw: bytes, profile, name: str) -> tuple[Statement | None, list[Diagnostic]]:
    unknown = sorted(set(profile.columns) - set(COLUMNS))
    missing = [c for c in REQUIRED if c not in profile.columns]
    if unknown or missing or ("currency" not in profile.columns and not profile.currency):
        return None, [problem("E0717", f"statement profile {name!r} " + (
            f"maps unknown columns {unknown}" if unknown else f"does not map {missing}" if missing
            else "has neither a currency column nor a currency"), file, hint=f"columns: {', '.join(COLUMNS)}")]
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        return None, [problem("E0006", f"the CSV statement is not valid UTF-8 (byte {exc.start})", file)]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return None, [problem("E0718", f"malformed CSV: {exc}", file, 1)]
    if not header:
        return None, [problem("E0007", "the CSV statement is empty", file)]
    index = {h.strip().lower(): i for i, h in enumerate(header)}
    where = {}
    for col, head in profile.columns.items():
        if head.strip().lower() not in index:
            return None, [problem("E0717", f"the statement has no column {head!r} (profile {name!r}, {col})", file, 1,
                                  f"the header is: {', '.join(header)[:200]}")]
        where[col] = index[head.strip().lower()]
    entries: list[Entry] = []
    diags: list[Diagnostic] = []
    ref = Path(file).name
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            entry, more = _row(file, line, row, where, profile, ref)
            diags += more
            if entry is not None:
                entries.append(entry)
    except csv.Error as exc:
        diags.append(problem("E0718", f"malformed CSV: {exc}", file, reader.line_num))
    if diags:
        return None, diags
    dates = [e.date for e in entries]
    return Statement(file, "csv", ref, "", min(dates, default=None), max(dates, default=None), tuple(entries)), []


def _row(file, line, row, where, profile, ref) -> tuple[Entry | None, list[Diagnostic]]:
    def cell(col: str) -> str:
        i = where.get(col)
        return row[i].strip() if i is not None and i < len(row) else ""

    what = f"row {line}"
    currency = cell("currency").upper() or (profile.currency or "")
    text = cell("amount")
    credit = not text.startswith("-")
    if cell("credit_debit"):
        mark = _CREDIT.get(cell("credit_debit").lower())
        if mark is None:
            return None, [problem("E0718", f"{what}: credit_debit {cell('credit_debit')[:10]!r} is not C or D", file, line)]
        credit = mark
    from ..conventions.currency import minor_units
    try:
        minor_units(currency)
    except Exception:
        return None, [problem("E0718", f"{what}: unknown currency {currency[:10]!r}", file, line)]
    amount, diags = exact_amount(text.lstrip("+-"), currency, file, line, what)
    try:
        raw = cell("date")
        when = datetime.strptime(raw, profile.date_format).date() if profile.date_format else date.fromisoformat(raw)
        if not raw.isascii():
            raise ValueError(raw)
    except ValueError:
        diags.append(problem("E0718", f"{what}: invalid date {cell('date')[:20]!r}", file, line,
                             f"expected {profile.date_format or 'YYYY-MM-DD'}"))
        when = None
    bad = reference_problem(cell("transaction_id"), file, line, what)
    diags += [bad] if bad else []
    if diags:
        return None, diags
    return Entry(cell("transaction_id"), when, amount, credit, currency, cell("remittance"), cell("counterparty"),
                 ref, line), []
