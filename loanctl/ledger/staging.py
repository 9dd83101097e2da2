"""Payment files into a staging table of the ledger, every row checked — the one place where
the two ways of reading differ.

Row by row (`parse_files`, then `stage_payments`): the Python parser of
`loanctl.servicing.paymentfile` reads and checks each row and reports every bad one as
FILE:LINE. Vectorised (`vectorised_files`, then `stage_vectorised`), for large files: DuckDB
reads the file and evaluates the SQL twin of the same row rules (`rowrules.bad_row_sql`); any
doubt — a row some rule refuses, a file its reader might take otherwise than the parser, a
row count or a date that differs — and it stages nothing, so the caller reads the file row by
row instead. Whatever staged the rows, posting and rebuilding go on from the staged table
alike.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..conventions.currency import minor_units
from ..diagnostics import Diagnostic, DiagnosticError
from ..model.documents import PaymentProfile
from ..model.records import LoadedBook
from ..servicing import rowrules
from ..servicing.allocation import Payment
from ..servicing.paymentfile import COLUMNS, MAX_LINE, REQUIRED, detect_profile, parse_payment_file
from .archive import PaymentFile, archive_name
from .db import PAYMENT_COLUMNS, PAYMENT_TABLE, diag, read_staged_csv, sql_path, write_csv

FAST_PATH_BYTES = 256 * 1024
"""Files of at least this many bytes (together, in one post) are read the vectorised way."""


def create_staged(con, table: str = "staged") -> None:
    """An empty temporary table shaped like `payments`."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({PAYMENT_TABLE})")


def same_content(a: str, b: str) -> str:
    """SQL: the rows aliased `a` and `b` are the same payment (`Payment.content`): a payment id
    sent again with it is a harmless duplicate, with anything else a reused id (E0412)."""
    return " AND ".join([f"{a}.{c} = {b}.{c}" for c in ("deal", "facility", "value_date", "amount", "currency", "type")]
                        + [f"coalesce({a}.{c}, '') = coalesce({b}.{c}, '')" for c in ("reference", "reverses")])


# --- row by row ------------------------------------------------------------------------------
def reading_profile(raw: bytes, profiles: dict[str, PaymentProfile]) -> str | None:
    """The one profile whose columns are exactly this file's header (None: ours, or unsure)."""
    header = raw.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    return detect_profile(next(csv.reader([header]), []), profiles)


def parse_files(loaded: LoadedBook, files: list[tuple[str, bytes]], profile: str | None, posting_day: date
                ) -> tuple[list[Payment], list[Diagnostic], list[PaymentFile]]:
    """Parse and check every row of every file posted on `posting_day` (the admission rules
    apply); (payments, diagnostics, file records). A payment id is once in all the files."""
    facts = rowrules.facts_of(loaded)
    prof: PaymentProfile | None = loaded.book.payment_profiles.get(profile) if profile and loaded.book else None
    payments: list[Payment] = []
    diags: list[Diagnostic] = []
    records = []
    first_seen: dict[str, tuple[str, int]] = {}
    for shown, raw in files:
        name, sha = archive_name(raw, posting_day)
        rows, d = parse_payment_file(shown, raw, facts, prof, name, posting_day)
        diags += d
        for p in rows:  # rule E0411 across files (rowrules.repeated_problems within one)
            if p.payment_id in first_seen and first_seen[p.payment_id][0] != shown:
                other, line = first_seen[p.payment_id]
                diags.append(Diagnostic("E0411", f"payment_id {p.payment_id!r} also appears in {other}:{line}",
                                        shown, p.line, hint="payment ids are unique in the book forever"))
            first_seen.setdefault(p.payment_id, (shown, p.line))
        payments += rows
        records.append(PaymentFile(name, sha, shown, len(rows), len(raw), profile, raw))
    return payments, diags, records


def stage_payments(con, payments: list[Payment], scratch: Path, table: str = "staged") -> None:
    """Parsed payments into `table`, through a CSV file in `scratch` (DuckDB reads one far
    faster than it takes Python values)."""
    if not payments:
        return
    path = scratch / f".pay-{os.getpid()}.csv"
    try:
        try:
            write_csv(path, ((p.payment_id, p.deal, p.facility, p.date.isoformat(), str(p.amount), p.currency,
                              p.type, p.reference, p.file, p.line, p.reverses) for p in payments))
        except OSError as exc:
            raise DiagnosticError([diag("E0422", f"cannot stage the ledger rows: {exc.strerror or exc}",
                                        str(scratch), "free disk space (or fix permissions) and post again; "
                                                      "nothing was recorded")]) from None
        con.execute(f"INSERT INTO {table} SELECT * FROM {read_staged_csv(path, PAYMENT_COLUMNS)}")
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


# --- vectorised ------------------------------------------------------------------------------
_BLANK_LINE = re.compile(rb"\n[ \t\x0b\x0c\r]*(?:\n|\Z)")  # starts with a literal: a fast scan


def _fast_rows(body: bytes) -> int | None:
    """How many data rows DuckDB's reader must find in `body` (BOM removed), or None when it
    might not read the file exactly as the row-by-row parser does: quotes, NUL, a lone CR,
    bad UTF-8, a blank line, or a header longer than MAX_LINE bytes. (A data line longer than
    MAX_LINE — the parser's E0418 line rule; DuckDB cuts or drops a line beyond its
    max_line_size, far above — is refused by the staging query: `_check_sql`.) Counted
    without splitting the file into a million lines."""
    if b'"' in body or b"\x00" in body or (b"\r" in body and body.count(b"\r") != body.count(b"\r\n")):
        return None
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    end = len(body) - 1 if body.endswith(b"\n") else len(body)  # the text without its last line break
    header = body[:body.find(b"\n")] if b"\n" in body else body
    rows = body.count(b"\n", 0, end)
    if rows < 1 or len(header) > MAX_LINE or not header.strip() or _BLANK_LINE.search(body, 0, end):
        return None
    return rows


def _plain(body: bytes) -> bool:
    """No cell of `body` needs trimming and every cell is printable ASCII: every byte is one
    (or a line break), and no space begins or ends a cell. Then DuckDB's cells are the
    stripped cells (`_check_sql` skips the trimming, which is most of its cost)."""
    if body.translate(None, _PRINTABLE_OR_LF):
        return False
    return not (body.startswith(b" ") or body.endswith(b" ") or b" ," in body or b", " in body or b" \n" in body
                or b"\n " in body)


_PRINTABLE_OR_LF = bytes(range(0x20, 0x7f)) + b"\n"


@dataclass(frozen=True)
class VectorisedFile:
    """A file the vectorised reader can take: its header as our column names, its row count."""

    raw: bytes
    label: str
    """The archive name its payments carry (`payments.file`)."""
    columns: list[str]
    rows: int
    plain: bool = False
    """Its cells need no trimming (`_plain`)."""


def vectorised_files(files: list[tuple[bytes, str]], prof: PaymentProfile | None) -> list[VectorisedFile] | None:
    """(raw, archive name) of each file, checked for the vectorised reader before any ledger
    is opened; None when one of them needs the row-by-row parser (quoted fields, blank or long
    lines, a header the parser would refuse...)."""
    mapping = {c: c for c in COLUMNS}
    if prof is not None:
        mapping.update(prof.columns)
    by_header = {v.strip().lower(): k for k, v in mapping.items()}
    out = []
    for raw, label in files:
        body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
        rows = _fast_rows(body)
        if rows is None:
            return None
        header_line = body[:body.find(b"\n")].decode("utf-8").rstrip("\r")
        names = [by_header.get(h.strip().lower()) for h in header_line.split(",")]
        if None in names or len(set(names)) != len(names) or any(c not in names for c in REQUIRED):
            return None
        out.append(VectorisedFile(raw, label, names, rows, _plain(body)))  # type: ignore[arg-type]
    return out


def _create_facts(con, facts: dict[str, rowrules.FacilityFacts]) -> None:
    """`facts`: per deal, each facility cell it takes (`rowrules.facility_cells`) with the
    facility it names, the deal's facts and the facility's."""
    rows = [(d, cell, f, ff.currency, minor_units(ff.currency), ff.starts[f], rowrules.payable_until(ff),
             ff.types.get(f, ""), ff.maturities[f])
            for d, ff in facts.items() for cell, f in rowrules.facility_cells(ff)]
    con.execute("CREATE OR REPLACE TEMP TABLE facts (deal VARCHAR, fac_cell VARCHAR, facility VARCHAR, "
                "currency VARCHAR, digits INTEGER, start_date DATE, pay_until DATE, fac_type VARCHAR, maturity DATE)")
    if rows:  # one list per column: DuckDB takes nine lists far faster than thousands of VALUES rows
        con.execute("INSERT INTO facts SELECT " + ", ".join(["unnest(?)"] * 9), [list(c) for c in zip(*rows)])


def _check_sql(f: VectorisedFile, fmt: str | None, posting_day: date | None) -> str:
    """Evaluate every row rule over the file's cells in `incoming_cells` (as DuckDB read them,
    in the file's order: `rowid` 0 is line 2): the PAYMENT_COLUMNS, `bad`, `raw_date`. One
    pass, one join: a row whose deal and facility cell `facts` lacks is refused (E0404,
    E0405), whatever else it holds."""
    ws = " || ".join(f"chr({ord(c)})" for c in rowrules.WHITESPACE)  # what str.strip() strips

    def cell(c: str) -> str:
        if c not in f.columns:
            return "''"
        if f.plain:  # no cell to trim (`_plain`)
            return f"coalesce(r.{c}, '')"
        # trimmed: a cell that begins and ends with printable ASCII other than space has
        # nothing to trim (WHITESPACE holds none of it), and `trim` with a set of characters is slow
        return (f"CASE WHEN ascii(r.{c}) BETWEEN 33 AND 126 AND ascii(right(r.{c}, 1)) BETWEEN 33 AND 126 "
                f"THEN r.{c} ELSE trim(coalesce(r.{c}, ''), {ws}) END")
    # a data line of more than MAX_LINE bytes (the commas between its cells counted)
    long_line = " + ".join(f"coalesce(strlen(r.{c}), 0)" for c in f.columns) + f" + {len(f.columns) - 1}"
    return f"""
        WITH t AS (
            SELECT r.rowid + 2 AS line, {cell('payment_id')} AS pid, {cell('deal')} AS deal,
                   {cell('facility')} AS fac_cell, {cell('date')} AS raw_date, {cell('amount')} AS amt,
                   upper({cell('currency')}) AS ccy, lower({cell('type')}) AS typ, {cell('reference')} AS ref,
                   {cell('reverses')} AS rev, {long_line} > {MAX_LINE} AS long_line
            FROM incoming_cells r
        ), c AS (
            SELECT t.*, {rowrules.date_sql(fmt)} AS vd, f.deal AS known_deal, f.facility AS fac, f.facility AS fac_known,
                   f.currency AS deal_ccy, f.digits, f.pay_until, f.start_date AS fac_start, f.fac_type,
                   f.maturity AS fac_maturity
            FROM t LEFT JOIN facts f ON f.deal = t.deal AND f.fac_cell = t.fac_cell
        )
        SELECT pid, deal, fac, vd, TRY_CAST(amt AS DECIMAL(28,4)), deal_ccy,
               CASE WHEN typ = '' THEN 'scheduled' ELSE typ END, NULLIF(ref, ''), '{f.label}', line,
               NULLIF(rev, ''), long_line OR {rowrules.bad_row_sql(posting_day, f.plain)}, raw_date
        FROM c"""


def _read_sql(path: Path, f: VectorisedFile) -> str:
    """DuckDB's reading of the file: its cells as text, in its columns, in the file's order."""
    cols = ", ".join(f"'{n}': 'VARCHAR'" for n in f.columns)
    return (f"SELECT * FROM read_csv('{sql_path(path)}', header=true, delim=',', quote='', escape='', "
            f"columns={{{cols}}}, auto_detect=false, null_padding=false)")


def stage_vectorised(con, scratch: Path, facts: dict[str, rowrules.FacilityFacts], files: list[VectorisedFile],
                     prof: PaymentProfile | None, posting_day: date | None, table: str = "staged") -> bool:
    """Read and check `files` (all read with `prof`) in DuckDB and, when every row passes
    every rule exactly as the row-by-row parser would judge it, add them to `table`. False,
    with nothing staged, otherwise. With `posting_day` the admission rules apply too."""
    import duckdb
    fmt = prof.date_format if prof is not None and prof.date_format else None
    temps: list[Path] = []
    try:
        _create_facts(con, facts)
        con.execute(f"CREATE OR REPLACE TEMP TABLE checked ({PAYMENT_TABLE}, bad BOOLEAN, raw_date VARCHAR)")
        for f in files:
            tmp = scratch / f".stage-{os.getpid()}-{f.label}"
            temps.append(tmp)
            tmp.write_bytes(f.raw)  # DuckDB reads exactly the bytes that were checked and are archived
            # read into a table first: its rowid is the row's place in the file (a window's
            # row_number would read the file in one thread)
            con.execute(f"CREATE OR REPLACE TEMP TABLE incoming_cells AS {_read_sql(tmp, f)}")
            con.execute(f"INSERT INTO checked {_check_sql(f, fmt, posting_day)}")
            con.execute("DROP TABLE incoming_cells")
        if con.execute("SELECT count(*) FROM checked WHERE bad").fetchone()[0]:
            return False  # the row-by-row parser reports each problem at its line
        if con.execute(rowrules.repeated_sql("checked")).fetchone()[0]:
            return False
        counted = dict(con.execute("SELECT file, count(*) FROM checked GROUP BY 1").fetchall())
        if any(counted.get(f.label, 0) != f.rows for f in files):
            return False  # DuckDB's reader took a row more or less than the file's lines
        for raw_date, vd in con.execute("SELECT DISTINCT raw_date, value_date FROM checked").fetchall():
            try:
                if rowrules.value_date(raw_date, fmt) != vd:
                    return False
            except (ValueError, OverflowError):  # DuckDB read a date the row-by-row parser refuses
                return False
        if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
            con.execute(f"INSERT INTO {table} SELECT {PAYMENT_COLUMNS} FROM checked")
        else:  # the checked rows become the table (no copy): their columns are the table's, then these two
            con.execute("ALTER TABLE checked DROP COLUMN bad")
            con.execute("ALTER TABLE checked DROP COLUMN raw_date")
            con.execute(f"DROP TABLE {table}")
            con.execute(f"ALTER TABLE checked RENAME TO {table}")
        return True
    except duckdb.Error:
        return False  # DuckDB's reader could not take the file as is: the row-by-row parser says why
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DROP TABLE IF EXISTS checked")
        with contextlib.suppress(duckdb.Error):
            con.execute("DROP TABLE IF EXISTS incoming_cells")
        for t in temps:
            with contextlib.suppress(OSError):
                t.unlink()
