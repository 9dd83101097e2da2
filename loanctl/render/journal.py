"""Renderers of the journal: Beancount, CSV and JSON — of a `accounting.journal.Journal`
(`to_beancount`, `to_csv`, `to_json`: the whole text) or of a `JournalStream` rendered by the
processes that worked it (`write`: streamed to a file, a run of entries at a time). One text either way:
each entry's text comes from the same functions (`PIECES`), the wrapping from the same writers.

Beancount: the accounts opened on the first entry's date, one transaction per entry with its
deal, facility, lender, kind (and payment id) as metadata, amounts in the deal's currency.
CSV: one row per posting. JSON: entries with their postings, and loanctl's balances per
position at each period end (outstanding principal, deferred fees, accreted exit fees and
amortized cost); money as strings.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Callable, TextIO

from ..accounting.journal import write_runs
from ..plaintext import inert

FORMATS = ("beancount", "csv", "json")
CSV_HEADER = ["entry", "date", "kind", "deal", "facility", "lender", "payment", "account", "amount", "currency",
              "narration"]


def _bean_string(value: object) -> str:
    text = inert(value, one_line=True)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- one entry's text ------------------------------------------------------------------------------
def beancount_pieces(e) -> list[str]:
    """A transaction: its lines, each ending in a line break."""
    out = [f"{e.date} * {_bean_string(e.narration)}", f"  kind: {_bean_string(e.kind)}",
           f"  deal: {_bean_string(e.deal)}", f"  facility: {_bean_string(e.facility)}",
           f"  lender: {_bean_string(e.lender)}"]
    if e.ref:
        out.append(f"  payment: {_bean_string(e.ref)}")
    for p in e.postings:
        out.append(f"  {p.account}  {p.amount} {e.currency}")
    return ["".join(line + "\n" for line in out)]


class _Rows:
    """CSV rows as `csv.writer` writes them, one at a time."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\n")

    def __call__(self, row: tuple) -> str:
        self.buf.seek(0)
        self.buf.truncate()
        self.writer.writerow(row)
        return self.buf.getvalue()


_ROW = _Rows()


_CSV_SPECIAL = re.compile('[,"\r\n\x00]')
"""What may make `csv.writer` quote a field (or refuse it): a row with none is its fields joined by commas."""


def csv_pieces(e) -> list[str]:
    """One row per posting, without its first column (the entry's number, an integer: never
    quoted, so `f"{n},"` before each piece makes the row `csv.writer` writes). Rows of plain
    fields are joined here; any other goes through `csv.writer`."""
    day, ref = e.date.isoformat(), inert(e.ref, one_line=True) if e.ref else ""
    middle, after, plain = _csv_fields(e.kind, e.deal, e.facility, e.lender, e.currency, e.narration)
    if ref and plain:  # (a date's text is always plain)
        plain = _CSV_SPECIAL.search(ref) is None
    before = f"{day},{middle},{ref},"
    return [f"{before}{p.account},{p.amount!s}{after}" if plain and _plain_account(p.account)
            else _ROW((day, e.kind, e.deal, e.facility, e.lender, ref, p.account, p.amount, e.currency, e.narration))
            for p in e.postings]


@lru_cache(maxsize=4096)
def _plain_account(account: str) -> bool:
    """Whether an account is a plain CSV field: worked out once for the entries of a position
    (a search per posting was a tenth of the row's cost)."""
    return _CSV_SPECIAL.search(account) is None


@lru_cache(maxsize=4096)
def _csv_fields(kind: str, deal: str, facility: str, lender: str, currency: str,
                narration: str) -> tuple[str, str, bool]:
    """(kind to lender joined, the currency and narration as a row's end, whether all are plain):
    the same for a position's entries of one kind, so worked out once."""
    plain = _CSV_SPECIAL.search("\t".join((kind, deal, facility, lender, currency, narration))) is None
    return ",".join((kind, deal, facility, lender)), f",{currency},{narration}\n", plain


def _json_item(data: dict) -> str:
    """An item of a list two levels down in an indented JSON document: what
    `json.dumps(…, indent=2, ensure_ascii=False)` nests there (its encoder in Python is slow)."""
    return "    " + _json_value(data, "\n    ")


def _json_value(value, newline: str) -> str:
    """`value` (text, None, a list or a dict of them) as json.dumps(indent=2, ensure_ascii=False)
    writes it where a line break is followed by `newline`'s indentation."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    inner = newline + "  "
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{" + inner + ("," + inner).join(f"{encode_basestring(k)}: {_json_value(v, inner)}"
                                                for k, v in value.items()) + newline + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join(_json_value(v, inner) for v in value) + newline + "]"
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", newline)


def json_pieces(e) -> list[str]:
    return [_json_item({"date": e.date.isoformat(), "kind": e.kind, "narration": e.narration, "deal": e.deal,
                        "facility": e.facility, "lender": e.lender, "currency": e.currency,
                        **({"payment": e.ref} if e.ref else {}),
                        "postings": [{"account": p.account, "amount": str(p.amount)} for p in e.postings]})]


def json_balance(b) -> str:
    return _json_item({"date": b.date.isoformat(), "deal": b.deal, "facility": b.facility, "lender": b.lender,
                       "currency": b.currency, "outstanding_principal": str(b.outstanding_principal),
                       "unamortized_fees": str(b.unamortized_fees), "accreted_exit_fees": str(b.accreted_exit_fees),
                       "cost_recovery": str(b.cost_recovery), "amortized_cost": str(b.amortized_cost)})


PIECES: dict[str, tuple[Callable, Callable | None]] = {
    "beancount": (beancount_pieces, None), "csv": (csv_pieces, None), "json": (json_pieces, json_balance)}
"""Per format: an entry's pieces, a balance's text (None: the format shows no balances)."""


# --- the whole journal ------------------------------------------------------------------------------
def write(fmt: str, journal, out: TextIO, base_currency: str = "USD") -> None:
    """A journal (a JournalStream rendered with PIECES[fmt], or `_Objects` of a Journal) to `out`."""
    if fmt == "beancount":
        _write_beancount(journal, out, base_currency)
    elif fmt == "csv":
        out.write(",".join(CSV_HEADER) + "\n")
        journal.write_entries(out, lambda n: f"{n},")
    else:
        _write_json(journal, out)


def _write_beancount(journal, out: TextIO, base_currency: str) -> None:
    out.write("\n".join([
        f"; loanctl journal — {inert(journal.book, one_line=True)} — {inert(journal.scope, one_line=True)}",
        f"; from {journal.start or 'the first entry'} to {journal.end}, period ends: {journal.period}",
        f"option \"title\" {_bean_string(journal.book or 'loanctl journal')}",
        f"option \"operating_currency\" \"{base_currency}\"", ""]))
    if journal.first is None:
        return
    out.write("\n" + "".join(f"{journal.first} open {account}\n" for account in sorted(journal.accounts)) + "\n")
    journal.write_entries(out, sep="\n")


def _write_json(journal, out: TextIO) -> None:
    head = json.dumps({"book": journal.book, "scope": journal.scope,
                       "from": journal.start.isoformat() if journal.start else None, "to": journal.end.isoformat(),
                       "period": journal.period}, indent=2, ensure_ascii=False)
    out.write(head[:-2] + ",\n  \"entries\": ")
    out.write("\n  ]" if journal.write_entries(out, sep=",\n", before="[\n") else "[]")
    out.write(",\n  \"balances\": ")
    out.write("\n  ]" if journal.write_balances(out, sep=",\n", before="[\n") else "[]")
    out.write("\n}\n")


class _Objects:
    """A Journal's entries and balances read as a JournalStream's texts."""

    def __init__(self, journal, fmt: str) -> None:
        self.journal, (self.pieces, self.balance) = journal, PIECES[fmt]
        for name in ("book", "scope", "start", "end", "period"):
            setattr(self, name, getattr(journal, name))
        self.accounts = journal.accounts()
        self.first = min((e.date for e in journal.entries), default=None)

    def write_entries(self, out: TextIO, mark: Callable[[int], str] | None = None, sep: str = "",
                      before: str = "") -> bool:
        """As `JournalStream.write_entries`."""
        marks = (mark(n) if mark is not None else "" for n in itertools.count(1))
        return write_runs(out, ("".join(m + piece for piece in self.pieces(e))
                                for m, e in zip(marks, self.journal.entries)), sep, before)

    def write_balances(self, out: TextIO, sep: str = "", before: str = "") -> bool:
        return write_runs(out, map(self.balance, self.journal.balances), sep, before)


def _text(fmt: str, journal, base_currency: str = "USD") -> str:
    buf = io.StringIO()
    write(fmt, _Objects(journal, fmt), buf, base_currency)
    return buf.getvalue()


def to_beancount(journal, base_currency: str = "USD") -> str:
    return _text("beancount", journal, base_currency)


def to_csv(journal) -> str:
    return _text("csv", journal)


def to_json(journal) -> str:
    return _text("json", journal)
