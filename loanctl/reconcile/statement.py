"""A bank statement as loanctl reads it, whatever the format: dated entries with exact amounts.

`read_statement` checks the size, detects the format and hands the bytes to one parser
(camt.053 XML, SWIFT MT940, or CSV through a book profile). Parsers return diagnostics as
values; a statement with any error is never matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..conventions.currency import minor_units
from ..diagnostics import Diagnostic

MAX_STATEMENT_BYTES = 50 * 1024 * 1024
"""A month of a busy account is a few MB; above this the file is refused before parsing."""
MAX_REFERENCE = 128
"""A transaction reference becomes a payment_id (post-payments allows 128 characters)."""
MAX_STATEMENT_REFERENCE = 1024
_AMOUNT = re.compile(r"^[0-9]{1,15}(\.[0-9]+)?$")


@dataclass(frozen=True, slots=True)
class Entry:
    """One movement on the account."""

    ref: str
    """The bank's transaction reference (camt AcctSvcrRef or NtryRef, MT940 //bank reference)."""
    date: date
    """Value date (the booking date when the bank gives none)."""
    amount: Decimal
    """Positive; `credit` says the direction."""
    credit: bool
    currency: str
    remittance: str = ""
    """Remittance information (unstructured and structured references), as one text."""
    counterparty: str = ""
    """The payer's name and ids, as one text."""
    statement_ref: str = ""
    """The statement this entry belongs to (camt Stmt/Id, MT940 :20:, the CSV's file name)."""
    line: int | None = None
    """1-based line of the entry in the file."""
    booked: bool = True
    """False for a pending entry or a reversal: reported, never matched."""


@dataclass(frozen=True, slots=True)
class Statement:
    file: str
    format: str
    """camt.053 · mt940 · csv"""
    reference: str
    account: str
    start: date | None
    end: date | None
    entries: tuple[Entry, ...]


def problem(code: str, message: str, file: str, line: int | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, file=file, line=line, hint=hint)


def exact_amount(text: str, currency: str, file: str, line: int | None, what: str) -> tuple[Decimal | None, list[Diagnostic]]:
    """An amount from its text: plain digits and a point, at most the currency's minor digits."""
    text = text.strip()
    if not _AMOUNT.match(text):
        return None, [problem("E0718", f"{what}: amount {text[:40]!r} is not a plain decimal number", file, line,
                              "the bank's amount must read like 1234.56")]
    amount = Decimal(text)
    digits = minor_units(currency)
    if -amount.as_tuple().exponent > digits and amount != amount.quantize(Decimal(1).scaleb(-digits)):
        return None, [problem("E0718", f"{what}: amount {text} has more decimals than {currency} allows ({digits})",
                              file, line)]
    return amount.quantize(Decimal(1).scaleb(-digits)), []


def reference_problem(ref: str, file: str, line: int | None, what: str) -> Diagnostic | None:
    """A transaction reference must be usable as a payment_id: present, printable ASCII, short."""
    if not ref:
        return problem("E0716", f"{what} has no transaction reference", file, line,
                       "the bank's reference (AcctSvcrRef/NtryRef, MT940 //reference) becomes the payment_id")
    if len(ref) > MAX_REFERENCE or any(not "!" <= ch <= "~" for ch in ref):
        return problem("E0716", f"{what}: transaction reference {ref[:40]!r} is not up to {MAX_REFERENCE} printable "
                       "ASCII characters without spaces", file, line)
    return None


def detect_format(raw: bytes) -> str | None:
    """camt.053, mt940 or None (a CSV needs a profile, so it is never guessed)."""
    head = raw[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b":20:", b"{1:", b":940:")) or (b"\n:20:" in head and b":61:" in raw):
        return "mt940"
    return None


def read_statement(file: str, raw: bytes, profile=None, profile_name: str | None = None
                   ) -> tuple[Statement | None, list[Diagnostic]]:
    """The statement in `raw` (the file's bytes); `profile` (a book StatementProfile) means CSV."""
    if len(raw) > MAX_STATEMENT_BYTES:
        return None, [problem("E0005", f"the statement is {len(raw):,} bytes, above the limit of "
                              f"{MAX_STATEMENT_BYTES:,}", file, hint="split the statement by period")]
    if profile is not None:
        from .csvstatement import parse_csv
        return parse_csv(file, raw, profile, profile_name or "")
    kind = detect_format(raw)
    if kind == "xml":
        from .camt import parse_camt
        return parse_camt(file, raw)
    if kind == "mt940":
        from .swift import parse_mt940
        return parse_mt940(file, raw)
    return None, [problem("E0710", "the statement is neither camt.053 XML nor SWIFT MT940", file, 1,
                          "for a CSV statement pass --profile NAME (book.yaml reconcile.profiles)")]
