"""Payment files (SPEC §4.1): strict CSV with a header, every row checked, `FILE:LINE` diagnostics.

UTF-8 (a BOM is accepted), comma-separated, CRLF or LF, quoted fields. Header names are
case-insensitive; other columns are an error unless a payment profile of book.yaml maps a
bank's export columns (and date format) onto ours.

This module reads the file: the header, the lines (at most MAX_LINE characters each) and the
rows; the rules each row obeys live in `rowrules`, beside their SQL twins (the rules across rows,
a reversal against what it reverses and nothing after a payoff, in `crossrows`). Every limit the
ledger insert relies on is checked before anything is archived. A cell is stripped of exactly
the characters `str.strip()` strips (WHITESPACE), in this parser, in the vectorised post and
in a rebuild alike.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from ..conventions.currency import minor_units
from ..diagnostics import Diagnostic
from ..model.documents import PaymentProfile
from ..source.yamlsrc import decode
from .allocation import Payment
from .rowrules import Cells, FacilityFacts, check_row, shorten

COLUMNS = ("payment_id", "deal", "facility", "date", "amount", "currency", "type", "reference", "reverses")
REQUIRED = ("payment_id", "deal", "date", "amount")
csv.field_size_limit(64 * 1024 * 1024)
MAX_LINE = 4096
"""Characters of one physical line (the ledger's staging reader and DuckDB's stay far above)."""


def detect_profile(header: list[str], profiles: dict[str, PaymentProfile]) -> str | None:
    """The one profile whose mapped columns are exactly this header (for rebuilds)."""
    names = {h.strip().lower() for h in header}
    if names <= set(COLUMNS):
        return None
    found = [n for n, p in sorted(profiles.items()) if {c.strip().lower() for c in p.columns.values()} | (
        names & set(COLUMNS) - set(p.columns)) == names]
    return found[0] if len(found) == 1 else None


def long_lines(text: str) -> dict[int, int]:
    """{line number: characters} of the physical lines longer than MAX_LINE (lines end
    where the CSV reader ends them: LF, CRLF or a lone CR)."""
    return {n: len(line.rstrip("\r\n")) for n, line in enumerate(io.StringIO(text, newline=""), 1)
            if len(line) > MAX_LINE and len(line.rstrip("\r\n")) > MAX_LINE}


def parse_payment_file(name: str, raw: bytes, facts: dict[str, FacilityFacts],
                       profile: PaymentProfile | None = None, archive_name: str = "",
                       posting_day: date | None = None) -> tuple[list[Payment], list[Diagnostic]]:
    """Rows of one payment file as `Payment`s, or diagnostics for every bad row.

    With `posting_day` (a post, not a re-reading of the archive) the admission rules apply
    too: the deal takes payments (`payable_until`) and the value date is at most
    MAX_DAYS_AHEAD after that day."""
    text, diags = decode(raw, name)
    if text is None:
        return [], diags
    if not text.strip():
        return [], [Diagnostic("E0401", "the payment file is empty", name, 1,
                               hint="a payment file starts with a header: payment_id,deal,facility,date,amount,...")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        return [], [Diagnostic("E0414", f"malformed CSV header: {exc}", name, 1)]
    mapping = {c: c for c in COLUMNS}
    if profile is not None:
        mapping.update(profile.columns)
    by_header = {v.strip().lower(): k for k, v in mapping.items()}
    index: dict[str, int] = {}
    out_diags: list[Diagnostic] = []
    for i, h in enumerate(header):
        key = h.strip().lower()
        col = by_header.get(key)
        if col is None:
            hint = ("map it with a payment profile in book.yaml (payment_profiles) and --profile, or remove it"
                    if profile is None else "add it to the profile's columns, or remove it")
            if len(header) == 1 and (";" in h or "\t" in h):
                out_diags.append(Diagnostic("E0403", f"header {shorten(h)} is not comma-separated", name, 1,
                                            hint="payment files are comma-separated (,)"))
                return [], out_diags
            out_diags.append(Diagnostic("E0403", f"unknown column {shorten(h.strip())}", name, 1, hint=hint))
        elif col in index:
            out_diags.append(Diagnostic("E0403", f"column {shorten(h.strip())} appears twice", name, 1))
        else:
            index[col] = i
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        out_diags.append(Diagnostic("E0402", f"missing required column{'s' if len(missing) > 1 else ''}: "
                                             f"{', '.join(mapping[c] for c in missing)}", name, 1,
                                    hint="the header needs payment_id, deal, date and amount"))
    if out_diags:
        return [], out_diags

    payments: list[Payment] = []
    seen: dict[str, int] = {}
    too_long = long_lines(text)
    for n, chars in too_long.items():
        out_diags.append(Diagnostic("E0418", f"line {n} has {chars} characters, more than {MAX_LINE}", name, n,
                                    hint="a payment row is one short line; split or shorten it"))
    width = len(header)
    fmt = profile.date_format if profile is not None else None
    get = {c: index.get(c) for c in COLUMNS}
    line = 1
    while True:
        start_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out_diags.append(Diagnostic("E0414", f"malformed CSV: {exc}", name, start_line,
                                        hint="check the quotes on this line"))
            break
        line = start_line
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        long_row = bool(too_long) and any(n in too_long for n in range(line, reader.line_num + 1))
        if len(row) != width:
            out_diags.append(Diagnostic("E0414", f"expected {width} fields, found {len(row)}", name, line,
                                        hint="a comma inside a value must be quoted"))
            continue

        def cell(col: str) -> str:
            i = get[col]
            return row[i].strip() if i is not None else ""

        problems, values = check_row(Cells(*map(cell, COLUMNS)), facts, fmt, posting_day, long_row, seen)
        if problems:
            for code, message, hint in problems:
                out_diags.append(Diagnostic(code, message, name, line, hint=hint))
            continue
        pid, deal_id, facility, when, amount, currency, ptype, reference, reverses = values
        seen[pid] = line
        amount = amount.quantize(Decimal(1).scaleb(-minor_units(currency)))
        payments.append(Payment(pid, deal_id, facility, when, amount, currency, ptype, reference,
                                archive_name, line, reverses))
    if not payments and not out_diags:
        out_diags.append(Diagnostic("E0401", "the payment file has a header but no rows", name, 1))
    out_diags.sort(key=lambda d: d.line or 0)  # long lines are found first; report in file order
    return payments, out_diags
