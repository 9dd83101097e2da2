"""The ledger's DuckDB file (SPEC §4.2, §10): where it lives, opening it, its schema
migrations, the one-writer lock, reading payments back, and the helpers that load our own
staging CSV files into it.

One post at a time: an exclusive lock file serialises writers (a second one waits, then
fails cleanly); a killed writer's staging files are swept by the next one.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import functools
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

from ..conventions.currency import minor_units
from ..diagnostics import Diagnostic, DiagnosticError
from ..servicing.allocation import Payment
from .archive import archived_files

SCHEMA_VERSION = 6
STATE_DIR = ".loanctl"
LEDGER_NAME = "ledger.duckdb"
LOCK_WAIT_SECONDS = 30.0

PAYMENT_TABLE = ("payment_id VARCHAR, deal VARCHAR, facility VARCHAR, value_date DATE, amount DECIMAL(28,4), "
                 "currency VARCHAR, type VARCHAR, reference VARCHAR, file VARCHAR, line INTEGER, reverses VARCHAR")
"""The columns of `payments` (and of every table staged for it), with their types."""
PAYMENT_COLUMNS = ", ".join(c.split()[0] for c in PAYMENT_TABLE.split(", "))

SCHEDULES_TABLE = "stored_schedules"
SCHEDULE_DEALS_TABLE = "stored_schedule_deals"
SCHEDULE_MONEY_SCALE = 4
"""Stored schedules' money is DECIMAL(38, 4): every currency's minor units (ISO 4217 has none above 4)."""
SCHEDULE_RATE_SCALE = 18
SCHEDULE_MONEY = ("opening_balance", "draws", "interest", "pik", "commitment_fee", "fees", "principal", "prepayment",
                  "total_due", "closing_balance")
SCHEDULE_ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("deal", "VARCHAR"), ("facility", "VARCHAR"), ("fseq", "INTEGER"), ("row", "INTEGER"),
    ("fingerprint", "VARCHAR"), ("currency", "VARCHAR"), ("date", "DATE"), ("accrual_start", "DATE"),
    ("accrual_end", "DATE"), ("days", "INTEGER"), ("rate", f"DECIMAL(38,{SCHEDULE_RATE_SCALE})"),
    ("spread", f"DECIMAL(38,{SCHEDULE_RATE_SCALE})"),
    *((m, f"DECIMAL(38,{SCHEDULE_MONEY_SCALE})") for m in SCHEDULE_MONEY), ("projected", "BOOLEAN"))
"""The columns of `stored_schedules` (ledger/stored_schedules.py): a facility's schedule row `row`
(0 = the start date), `fseq` the facility's place among its deal's facilities."""
SCHEDULE_DEAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("deal", "VARCHAR"), ("fingerprint", "VARCHAR"), ("funded", "BOOLEAN"), ("exact", "BOOLEAN"),
    ("rows", "INTEGER"), ("terms_until", "DATE"))
"""The columns of `stored_schedule_deals`: per deal, what its stored schedules were computed from."""

MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        "CREATE TABLE payment_files (file VARCHAR, sha256 VARCHAR, original_name VARCHAR, posted_on DATE, "
        "rows INTEGER, bytes BIGINT, profile VARCHAR)",
        f"CREATE TABLE payments ({PAYMENT_TABLE})",
        "CREATE TABLE allocations (payment_id VARCHAR, deal VARCHAR, facility VARCHAR, value_date DATE, "
        "due_date DATE, component VARCHAR, amount DECIMAL(28,4), seq INTEGER)",
    ],
    # the fingerprint of the book inputs each facility's allocations were computed from
    2: ["CREATE TABLE facility_inputs (deal VARCHAR, facility VARCHAR, fingerprint VARCHAR, "
        "PRIMARY KEY (deal, facility))"],
    # when unapplied cash was applied (a due settled after the payment's date; SPEC §4.3); the
    # allocation rules changed with it, so every facility's stored rows are recomputed (stale)
    3: ["ALTER TABLE allocations ADD COLUMN applied_on DATE", "DELETE FROM facility_inputs"],
    # a reversal names the payment it reverses (SPEC §4.1); earlier ledgers hold none (a ledger
    # created at this version has the column from PAYMENT_TABLE already)
    4: ["ALTER TABLE payments ADD COLUMN IF NOT EXISTS reverses VARCHAR"],
    # report positions kept per facility, scope context and as-of date, with the digest of their
    # inputs (ledger/stored_positions.py); a cache: an older ledger simply starts with none
    5: ["CREATE TABLE IF NOT EXISTS stored_positions (deal VARCHAR, facility VARCHAR, context VARCHAR, as_of DATE, "
        "fingerprint VARCHAR, seq INTEGER, count INTEGER, digest VARCHAR, entry VARCHAR, checksum VARCHAR, "
        "PRIMARY KEY (deal, facility, context, as_of))"],
    # each deal's schedules kept by its fingerprint (ledger/stored_schedules.py); an older ledger
    # starts with none: the next post, refresh, query or export computes them
    6: [f"CREATE TABLE IF NOT EXISTS {SCHEDULE_DEALS_TABLE} "
        f"({', '.join(f'{n} {t}' for n, t in SCHEDULE_DEAL_COLUMNS)}, PRIMARY KEY (deal))",
        f"CREATE TABLE IF NOT EXISTS {SCHEDULES_TABLE} ({', '.join(f'{n} {t}' for n, t in SCHEDULE_ROW_COLUMNS)})"],
}

def ledger_path(root: Path) -> Path:
    return root / STATE_DIR / LEDGER_NAME


def diag(code: str, message: str, file: str | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, file, hint=hint)


# --- connection, schema, lock --------------------------------------------------------------
def migrate(con) -> None:
    """Bring the schema forward to SCHEMA_VERSION (refusing a newer ledger)."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    version = 0
    if "meta" in tables:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise DiagnosticError([diag("E0420", f"the ledger has schema version {version}; this loanctl knows "
                                             f"{SCHEMA_VERSION}", hint="upgrade loanctl")])
    for v in range(version + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        for stmt in MIGRATIONS[v]:
            con.execute(stmt)
        con.execute("DELETE FROM meta WHERE key = 'schema_version'")
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(v)])
        con.execute("COMMIT")


def connect(path: Path, read_only: bool = False):
    import duckdb
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        text = str(exc)
        if "could not set lock" in text.lower() or "conflicting lock" in text.lower():
            raise DiagnosticError([diag("E0421", "the ledger is in use by another loanctl process",
                                        str(path), "wait for it to finish and run the command again")]) from None
        raise DiagnosticError([diag("E0420", f"the ledger cannot be opened: {text.splitlines()[0][:200]}",
                                    str(path), "run `loanctl ledger rebuild` to recreate it from payments/")]) from None
    if not read_only:
        try:
            migrate(con)
        except DiagnosticError:
            con.close()
            raise
        except duckdb.Error as exc:
            con.close()
            raise DiagnosticError([diag("E0420", f"the ledger is corrupt: {str(exc).splitlines()[0][:200]}",
                                        str(path), "run `loanctl ledger rebuild`")]) from None
    return con


@contextlib.contextmanager
def writer_lock(root: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    state = root / STATE_DIR
    try:
        state.mkdir(exist_ok=True)
        fd = os.open(state / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DiagnosticError([diag("E0422", f"cannot create {state}: {exc.strerror}", str(state),
                                    "check that the book folder is writable")]) from None
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise DiagnosticError([diag("E0421", "another loanctl is writing the ledger",
                                                str(state / "write.lock"), "run the command again when it finishes")
                                           ]) from None
                time.sleep(0.1)
        _sweep_stale(state)
        yield
    finally:
        os.close(fd)


def _sweep_stale(state: Path) -> None:
    """Remove staging files a killed loanctl left behind (their process no longer runs)."""
    for p in state.glob(".*"):
        m = re.match(r"^\.(?:pay|alloc|stage|rebuild|sched)-(\d+)", p.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                p.unlink()
        except OSError:
            pass


# --- reading -------------------------------------------------------------------------------
def open_for_read(root: Path):
    """A read-only connection, or None when there is no ledger and nothing archived."""
    path = ledger_path(root)
    if not path.exists():
        if archived_files(root):
            raise DiagnosticError([diag("E0420", "the ledger is missing but payments/ holds archived files",
                                        str(path), "run `loanctl ledger rebuild`")])
        return None
    return connect(path, read_only=True)


@functools.lru_cache(maxsize=None)
def quantum(currency: str) -> Decimal:
    """The smallest amount of `currency` (0.01 for USD, 1 for JPY)."""
    return Decimal(1).scaleb(-minor_units(currency))


def payment_of(row) -> Payment:
    """A `Payment` from a row of PAYMENT_COLUMNS (the amount in the currency's decimals)."""
    amount = row[4] if isinstance(row[4], Decimal) else Decimal(str(row[4]))
    return Payment(row[0], row[1], row[2], row[3], amount.quantize(quantum(row[5])), row[5], row[6], row[7] or "",
                   row[8] or "", row[9] or 0, row[10] or "")


def load_payments(con) -> list[Payment]:
    if con is None:
        return []
    return [payment_of(r) for r in con.execute(f"SELECT {PAYMENT_COLUMNS} FROM payments").fetchall()]


def ledger_payments(root: Path) -> list[Payment]:
    con = open_for_read(root)
    try:
        return load_payments(con)
    finally:
        if con is not None:
            con.close()


def payment_files(root: Path, ranges: list[tuple[str, str]], end: date, folder: Path) -> list[Path]:
    """Per range of deal ids (first, last: inclusive, in Python's string order, which is
    DuckDB's), a CSV file in `folder` of the ledger's payments of those deals with value
    dates up to `end`, in the ledger's order — for `read_payment_file` in a worker process,
    so that no one process holds every payment. No ledger: empty files. The connection is
    closed on return (a worker may be forked next). A file that cannot be written is an OSError."""
    import duckdb
    paths = [folder / f"payments-{i}.csv" for i in range(len(ranges))]
    con = open_for_read(root)
    if con is None:
        for path in paths:
            path.write_text("", encoding="utf-8")
        return paths

    def write(i: int) -> None:  # a cursor of its own per thread: DuckDB runs the copies side by side
        (first, last), path = ranges[i], paths[i]
        cur = con.cursor()
        try:
            cur.execute(f"COPY (SELECT {PAYMENT_COLUMNS} FROM payments WHERE deal >= {_literal(first)} AND deal <= "
                        f"{_literal(last)} AND value_date <= DATE '{end.isoformat()}') "
                        f"TO '{sql_path(path)}' (FORMAT csv, HEADER false)")
        except duckdb.IOException as exc:  # the folder's trouble (full, gone), not the ledger's
            raise _os_error(exc, path) from None
        finally:
            cur.close()

    try:
        with ThreadPoolExecutor(2) as pool:  # each copy is mostly one thread's work: two at a time
            list(pool.map(write, range(len(paths))))
    finally:
        con.close()
    return paths


def _os_error(exc: Exception, path: Path) -> OSError:
    """DuckDB's failure to write `path` as the OSError it is: its errno when DuckDB names one
    (`"errno":"28"`: no space left), else its first line."""
    text = str(exc)
    found = re.search(r'"errno":"(\d+)"', text)
    if found:
        code = int(found.group(1))
        return OSError(code, os.strerror(code), str(path))
    return OSError(errno.EIO, text.splitlines()[0][:200], str(path))


def _literal(text: str) -> str:
    return "'" + sql_path(text) + "'"  # the same quoting as a path's


def read_payment_file(path: Path) -> Iterator[Payment]:
    """The payments of a `payment_files` file, in its order (each as `load_payments` makes it)."""
    days: dict[str, date] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for r in csv.reader(fh):
            day = days.get(r[3])
            if day is None:
                day = days[r[3]] = date.fromisoformat(r[3])
            r[3], r[4], r[9] = day, Decimal(r[4]), int(r[9]) if r[9] else 0
            yield payment_of(r)


def snapshot(root: Path) -> dict[str, list[tuple]]:
    """The ledger's content, sorted, for comparing two ledgers (rebuild = incremental)."""
    con = open_for_read(root)
    if con is None:
        return {}
    try:
        return {
            "payments": con.execute("SELECT * FROM payments ORDER BY payment_id").fetchall(),
            "allocations": con.execute("SELECT * FROM allocations ORDER BY deal, facility, seq").fetchall(),
            "payment_files": con.execute("SELECT file, sha256, rows, bytes FROM payment_files ORDER BY file").fetchall(),
        }
    finally:
        con.close()


# --- our own staging CSV files ---------------------------------------------------------------
# A fixed dialect, no sniffing (an empty file or a CR inside a quoted reference must not
# confuse the reader).
_INTERNAL_CSV = ("all_varchar=true, auto_detect=false, delim=',', quote='\"', escape='\"', new_line='\\n', "
                 "max_line_size=67108864")
_TYPES = {"value_date": "DATE", "due_date": "DATE", "applied_on": "DATE", "amount": "DECIMAL(28,4)", "line": "INTEGER",
          "seq": "INTEGER"}
ALLOCATION_COLUMNS = "payment_id, deal, facility, value_date, due_date, component, amount, seq, applied_on"


def write_csv(path: Path, rows: Iterable[tuple]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def read_staged_csv(path: Path | list[Path], columns: str) -> str:
    """The SQL that reads one of our staging CSVs (no header) with these columns, typed — or
    several, one after the other."""
    cols = ", ".join(f"'{n}': '{_TYPES.get(n, 'VARCHAR')}'" for n in columns.split(", "))
    files = ", ".join(f"'{sql_path(p)}'" for p in ([path] if isinstance(path, Path) else path))
    return f"read_csv([{files}], header=false, {_INTERNAL_CSV}, columns={{{cols}}})"


def sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
