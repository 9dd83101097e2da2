"""SWIFT MT940 (customer statement) read with the `mt-940` package (import name `mt940`).

The bytes reach the library as a file handle, never as a str or bytes value (which it would
take for a file name to open). loanctl checks what the library is lenient about: the
mandatory tags are present, every :61: line became a transaction, amounts are exact.
"""

from __future__ import annotations

import io
import re
from datetime import date

from ..diagnostics import Diagnostic
from .statement import Entry, Statement, exact_amount, problem, reference_problem, MAX_STATEMENT_REFERENCE

_TAG61 = re.compile(r"^:61:", re.MULTILINE)


def parse_mt940(file: str, raw: bytes) -> tuple[Statement | None, list[Diagnostic]]:
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        return None, [problem("E0006", f"the MT940 statement is not valid UTF-8 (byte {exc.start})", file)]
    text = text.replace("\r\n", "\n")
    for tag in (":20:", ":25:", ":28C:"):
        if tag not in text:
            return None, [problem("E0713", f"malformed MT940: no {tag} tag", file, 1,
                                  "a statement has :20: (reference), :25: (account), :28C: (number), :60F: and :62F:")]
    if not re.search(r"^:60[FM]:", text, re.MULTILINE) or not re.search(r"^:62[FM]:", text, re.MULTILINE):
        return None, [problem("E0713", "malformed MT940: no opening (:60F:) or closing (:62F:) balance", file, 1)]
    lines61 = [text.count("\n", 0, m.start()) + 1 for m in _TAG61.finditer(text)]
    import mt940
    try:
        parsed = mt940.parse(io.StringIO(text))
    except Exception as exc:  # the library raises RuntimeError, ValueError, decimal errors … on bad text
        detail = str(exc.args[0] if exc.args else exc).splitlines()[0][:160]
        return None, [problem("E0713", f"malformed MT940: {detail}", file, _line_of(text, exc, lines61))]
    data = parsed.data
    txs = list(parsed)
    if len(txs) != len(lines61):
        return None, [problem("E0713", f"malformed MT940: {len(lines61)} :61: lines but {len(txs)} transactions read",
                              file, 1)]
    opening, closing = data.get("final_opening_balance") or data.get("intermediate_opening_balance"), \
        data.get("final_closing_balance") or data.get("intermediate_closing_balance")
    ref = str(data.get("transaction_reference") or "").strip()
    if not ref or len(ref) > MAX_STATEMENT_REFERENCE or opening is None or closing is None:
        return None, [problem("E0713", "malformed MT940: the :20: reference or a balance could not be read", file, 1)]
    entries: list[Entry] = []
    diags: list[Diagnostic] = []
    for tx, line in zip(txs, lines61):
        d = tx.data
        status = str(d.get("status") or "")
        currency = str(d.get("currency") or "")
        what = f"the :61: entry at line {line}"
        if not currency:
            diags.append(problem("E0713", f"malformed MT940: {what} has no currency (from :60F:)", file, line))
            continue
        raw_amount = str(abs(d["amount"].amount))
        amount, more = exact_amount(raw_amount, currency, file, line, what)
        bank_ref = str(d.get("bank_reference") or "").strip()
        customer_ref = str(d.get("customer_reference") or "").strip()
        tx_ref = bank_ref or ("" if customer_ref.upper() == "NONREF" else customer_ref)
        bad = reference_problem(tx_ref, file, line, what)
        diags += more + ([bad] if bad else [])
        if amount is None or bad:
            continue
        details = " ".join(str(d.get(k) or "") for k in ("transaction_details", "extra_details")).strip()
        when = d["date"]
        entries.append(Entry(tx_ref, date(when.year, when.month, when.day), amount, status in ("C", "RD"), currency, details, details, ref, line,
                             booked=status in ("C", "D")))
    if diags:
        return None, diags
    return Statement(file, "mt940", ref, str(data.get("account_identification") or ""),
                     _plain(getattr(opening, "date", None)), _plain(getattr(closing, "date", None)), tuple(entries)), []


def _line_of(text: str, exc: Exception, lines61: list[int]) -> int | None:
    """The line of the text the library could not read, when it says which."""
    if len(exc.args) >= 3 and isinstance(exc.args[2], str) and exc.args[2]:
        at = text.find(exc.args[2])
        if at >= 0:
            return text.count("\n", 0, at) + 1
    return None


def _plain(when) -> date | None:
    return None if when is None else date(when.year, when.month, when.day)
