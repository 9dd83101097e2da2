"""The DuckDB ledger (SPEC §4.2, §4.5, §10): posting, rebuild, refresh, check and read-only query.

Files are the truth: every posted file is archived byte-for-byte under `payments/` before
the ledger changes, and the ledger is one DuckDB transaction away from before-or-after.
A rebuild replays the archive into a fresh file and swaps it in atomically. One post at a
time: an exclusive lock file serialises writers (a second one waits, then fails cleanly).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import hashlib
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

from ..source.bookpath import inside_book, outside_diagnostic
from ..diagnostics import Diagnostic, DiagnosticError
from ..source.fingerprints import PROFILE_DIGEST_SUFFIX, DealFingerprints, profile_digest
from ..model.records import LoadedBook
from ..model.documents import PaymentProfile
from ..servicing.allocation import Allocation, FacilityAllocation, Payment
from ..servicing.allocation import live_payments
from ..servicing.paymentfile import (MAX_DAYS_AHEAD, MAX_LINE, detect_profile, facts_of, paid_off_problems,
                                     parse_payment_file, payable_until, reversal_problems, value_date)
from ..servicing.positions import allocate_facility, facility_inputs

SCHEMA_VERSION = 4
STATE_DIR = ".loanctl"
LEDGER_NAME = "ledger.duckdb"
LOCK_WAIT_SECONDS = 30.0

MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        "CREATE TABLE payment_files (file VARCHAR, sha256 VARCHAR, original_name VARCHAR, posted_on DATE, "
        "rows INTEGER, bytes BIGINT, profile VARCHAR)",
        "CREATE TABLE payments (payment_id VARCHAR, deal VARCHAR, facility VARCHAR, value_date DATE, "
        "amount DECIMAL(28,4), currency VARCHAR, type VARCHAR, reference VARCHAR, file VARCHAR, line INTEGER)",
        "CREATE TABLE allocations (payment_id VARCHAR, deal VARCHAR, facility VARCHAR, value_date DATE, "
        "due_date DATE, component VARCHAR, amount DECIMAL(28,4), seq INTEGER)",
    ],
    # the fingerprint of the book inputs each facility's allocations were computed from
    2: ["CREATE TABLE facility_inputs (deal VARCHAR, facility VARCHAR, fingerprint VARCHAR, "
        "PRIMARY KEY (deal, facility))"],
    # when unapplied cash was applied (a due settled after the payment's date; SPEC §4.3); the
    # allocation rules changed with it, so every facility's stored rows are recomputed (stale)
    3: ["ALTER TABLE allocations ADD COLUMN applied_on DATE", "DELETE FROM facility_inputs"],
    # a reversal names the payment it reverses (SPEC §4.1); earlier ledgers hold none
    4: ["ALTER TABLE payments ADD COLUMN IF NOT EXISTS reverses VARCHAR"],
}


def ledger_path(root: Path) -> Path:
    return root / STATE_DIR / LEDGER_NAME


def archive_dir(root: Path) -> Path:
    """payments/; refused (E0020, raised) when it is a link leading outside the book, so
    that nothing is read from or archived into a folder elsewhere."""
    folder = root / "payments"
    if not inside_book(root, folder):
        raise DiagnosticError([outside_diagnostic(str(folder), "folder")])
    return folder


def _diag(code: str, message: str, file: str | None = None, hint: str | None = None) -> Diagnostic:
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
        raise DiagnosticError([_diag("E0420", f"the ledger has schema version {version}; this loanctl knows "
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
            raise DiagnosticError([_diag("E0421", "the ledger is in use by another loanctl process",
                                         str(path), "wait for it to finish and run the command again")]) from None
        raise DiagnosticError([_diag("E0420", f"the ledger cannot be opened: {text.splitlines()[0][:200]}",
                                     str(path), "run `loanctl ledger rebuild` to recreate it from payments/")]) from None
    if not read_only:
        try:
            migrate(con)
        except DiagnosticError:
            con.close()
            raise
        except duckdb.Error as exc:
            con.close()
            raise DiagnosticError([_diag("E0420", f"the ledger is corrupt: {str(exc).splitlines()[0][:200]}",
                                         str(path), "run `loanctl ledger rebuild`")]) from None
    return con


@contextlib.contextmanager
def writer_lock(root: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    state = root / STATE_DIR
    try:
        state.mkdir(exist_ok=True)
        fd = os.open(state / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DiagnosticError([_diag("E0422", f"cannot create {state}: {exc.strerror}", str(state),
                                     "check that the book folder is writable")]) from None
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise DiagnosticError([_diag("E0421", "another loanctl is writing the ledger",
                                                 str(state / "write.lock"), "run the command again when it finishes")
                                           ]) from None
                time.sleep(0.1)
        _sweep_stale(state)
        yield
    finally:
        os.close(fd)


def _sweep_stale(state: Path) -> None:
    """Remove staging files a killed loanctl left behind (their process no longer runs)."""
    import re
    for p in state.glob(".*"):
        m = re.match(r"^\.(?:pay|alloc|stage|rebuild)-(\d+)", p.name)
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
def archived_files(root: Path) -> list[Path]:
    """The archived payment files; a link leading outside the book is refused (E0020, raised)."""
    folder = archive_dir(root)
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".csv" and not p.name.startswith("."))
    outside = [outside_diagnostic(str(p)) for p in files if not inside_book(root, p)]
    if outside:
        raise DiagnosticError(outside)
    return files


def open_for_read(root: Path):
    """A read-only connection, or None when there is no ledger and nothing archived."""
    path = ledger_path(root)
    if not path.exists():
        if archived_files(root):
            raise DiagnosticError([_diag("E0420", "the ledger is missing but payments/ holds archived files",
                                         str(path), "run `loanctl ledger rebuild`")])
        return None
    return connect(path, read_only=True)


PAYMENT_COLUMNS = "payment_id, deal, facility, value_date, amount, currency, type, reference, file, line, reverses"


def load_payments(con) -> list[Payment]:
    if con is None:
        return []
    rows = con.execute(f"SELECT {PAYMENT_COLUMNS} FROM payments").fetchall()
    from ..conventions.currency import minor_units
    return [Payment(r[0], r[1], r[2], r[3], _dec(r[4]).quantize(Decimal(1).scaleb(-minor_units(r[5]))), r[5], r[6],
                    r[7] or "", r[8] or "", r[9] or 0, r[10] or "") for r in rows]


def ledger_payments(root: Path) -> list[Payment]:
    con = open_for_read(root)
    try:
        return load_payments(con)
    finally:
        if con is not None:
            con.close()


def _dec(x) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


# --- posting -------------------------------------------------------------------------------
@dataclass
class PostResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    posted: list[Payment] = field(default_factory=list)
    duplicates: int = 0
    archived: list[str] = field(default_factory=list)
    allocations: dict[tuple[str, str], FacilityAllocation] = field(default_factory=dict)
    dry_run: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: parse_check, allocate, insert (for the benchmark)."""
    facilities: list[tuple[str, str]] = field(default_factory=list)
    """The facilities reallocated (also when `allocations` was streamed to the ledger)."""
    unapplied_by_payment: dict[str, Decimal] | None = None
    """Unapplied cash by payment id, when the allocations were streamed rather than kept."""
    refreshed: list[tuple[str, str]] = field(default_factory=list)
    """Other facilities whose stored allocations were recomputed because the book changed."""

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def unapplied(self) -> Decimal:
        ids = {p.payment_id for p in self.posted}
        if self.unapplied_by_payment is not None:
            return sum((v for k, v in self.unapplied_by_payment.items() if k in ids), Decimal(0))
        return sum((a.amount for fa in self.allocations.values() for a in fa.allocations
                    if a.component == "unapplied" and a.payment_id in ids), Decimal(0))


def archive_name(raw: bytes, posting_day: date) -> tuple[str, str]:
    sha = hashlib.sha256(raw).hexdigest()
    return f"{posting_day.isoformat()}-{sha[:12]}.csv", sha


def parse_files(loaded: LoadedBook, files: list[tuple[str, bytes]], profile: str | None, posting_day: date,
                auto_profile: bool = False, admission: bool = False):
    """Parse and check every row of every file; (payments, diagnostics, file records).

    `admission`: the files are being posted on `posting_day`, so the posting rules apply too
    (funded deals only, no value date far ahead); a rebuild re-reads the archive without them."""
    facts = facts_of(loaded)
    profiles = loaded.book.payment_profiles if loaded.book else {}
    payments: list[Payment] = []
    diags: list[Diagnostic] = []
    records = []
    first_seen: dict[str, tuple[str, int]] = {}
    for shown, raw in files:
        name, sha = archive_name(raw, posting_day)
        prof_name = profile
        if auto_profile and profile is None:
            header = raw.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
            prof_name = detect_profile(next(csv.reader([header]), []), profiles)
        prof: PaymentProfile | None = profiles.get(prof_name) if prof_name else None
        rows, d = parse_payment_file(shown, raw, facts, prof, name, posting_day if admission else None)
        diags += d
        for p in rows:
            if p.payment_id in first_seen and first_seen[p.payment_id][0] != shown:
                other, line = first_seen[p.payment_id]
                diags.append(Diagnostic("E0411", f"payment_id {p.payment_id!r} also appears in {other}:{line}",
                                        shown, p.line, hint="payment ids are unique in the book forever"))
            first_seen.setdefault(p.payment_id, (shown, p.line))
        payments += rows
        records.append((name, sha, shown, len(rows), len(raw), prof_name, raw))
    return payments, diags, records


def post(loaded: LoadedBook, files: list[tuple[str, bytes]], posting_day: date, profile: str | None = None,
         dry_run: bool = False) -> PostResult:
    """Check everything, then archive and record in one transaction — or change nothing."""
    archive_dir(loaded.root)  # a payments/ link leading out of the book is refused before anything is written
    try:
        result = _post(loaded, files, posting_day, profile, dry_run)
    except OSError as exc:  # a full disk or a read-only book, wherever it struck
        raise DiagnosticError([_diag("E0422", f"cannot write to the book: {exc.strerror or exc}",
                                     getattr(exc, "filename", None) or str(loaded.root),
                                     "free disk space or make the book writable; the ledger is as it was "
                                     "(run `loanctl ledger check`)")]) from None
    if result.ok and not dry_run:
        _follow_book(loaded, profile, result)
    return result


def _post(loaded: LoadedBook, files: list[tuple[str, bytes]], posting_day: date, profile: str | None = None,
          dry_run: bool = False) -> PostResult:
    """Check everything, then archive and record in one transaction — or change nothing.

    Large clean files take a vectorised path: DuckDB reads and checks every row in SQL and
    the rows go from the staging table into the ledger without passing through Python. Any
    problem (or a file DuckDB's reader cannot take as is) falls back to the row-by-row
    Python parser, which reports every bad row as FILE:LINE."""
    root = loaded.root
    result = PostResult(dry_run=dry_run)
    if profile is not None and (loaded.book is None or profile not in loaded.book.payment_profiles):
        known = ", ".join(sorted(loaded.book.payment_profiles)) if loaded.book else ""
        from ..diagnostics import UsageProblem
        raise UsageProblem(f"unknown payment profile '{profile}'", f"profiles in book.yaml: {known or 'none'}")
    if not dry_run and sum(len(raw) for _, raw in files) >= FAST_PATH_BYTES:
        fast = _post_fast(loaded, files, posting_day, profile, result)
        if fast:
            return result
        result = PostResult(dry_run=dry_run)
    t0 = time.perf_counter()
    payments, diags, records = parse_files(loaded, files, profile, posting_day, admission=True)
    result.diagnostics = diags
    result.timings["parse_check"] = time.perf_counter() - t0
    if not result.ok:
        return result
    lock = writer_lock(root) if not dry_run else contextlib.nullcontext()
    with lock:
        path = ledger_path(root)
        if not path.exists() and archived_files(root):
            result.diagnostics.append(_diag("E0420", "the ledger is missing but payments/ holds archived files",
                                            str(path), "run `loanctl ledger rebuild` first"))
            return result
        if dry_run:
            con = open_for_read(root)
        else:
            con = connect(path)
        try:
            result.diagnostics += profile_conflicts(con, root, records)
            if not result.ok:
                return result
            existing = {p.payment_id: p for p in load_payments(con)} if con is not None else {}
            new: list[Payment] = []
            reattribute: list[tuple[str, str, int]] = []
            for p in payments:
                old = existing.get(p.payment_id)
                if old is None:
                    new.append(p)
                elif old.content() == p.content():
                    result.duplicates += 1
                    if p.file < old.file:  # the first file by archive name carries it, as in a rebuild
                        reattribute.append((p.payment_id, p.file, p.line))
                else:
                    result.diagnostics.append(Diagnostic(
                        "E0412", f"payment_id {p.payment_id!r} was posted before with different content "
                                 f"({old.deal} {old.facility} {old.date} {old.amount} {old.type})",
                        _shown(records, p.file), p.line, hint="a payment id is never reused; use a new id"))
            result.diagnostics += _row_problems(reversal_problems(new, existing), records)
            if not result.ok:
                return result
            result.posted = new
            t1 = time.perf_counter()
            affected = {(p.deal, p.facility) for p in new}
            by_facility: dict[tuple[str, str], list[Payment]] = defaultdict(list)
            for p in existing.values():
                if (p.deal, p.facility) in affected:
                    by_facility[(p.deal, p.facility)].append(p)
            for p in new:
                by_facility[(p.deal, p.facility)].append(p)
            result.allocations = allocate_all(loaded, by_facility)
            new_ids = {p.payment_id for p in new}
            result.diagnostics += _row_problems([x for k, fa in sorted(result.allocations.items())
                                                 for x in paid_off_problems(fa, by_facility[k], new_ids)], records)
            if not result.ok:
                return result
            result.timings["allocate"] = time.perf_counter() - t1
            if dry_run or not (new or reattribute):
                return result
            t2 = time.perf_counter()
            carrying = {p.file for p in new} | {f for _, f, _ in reattribute}
            new_files = [r for r in records if r[0] in carrying]
            for name, sha, shown, nrows, size, prof_name, raw in new_files:
                _archive(root, name, raw, prof_name)
                result.archived.append(name)
            _write(con, root, new, new_files, result.allocations, posting_day, reattribute)
            result.timings["insert"] = time.perf_counter() - t2
        finally:
            if con is not None:
                con.close()
    return result


def _row_problems(problems, records) -> list[Diagnostic]:
    """Checks across rows (paymentfile.Problem), each at its row's FILE:LINE, in file order."""
    rank = {r[0]: i for i, r in enumerate(records)}
    return [Diagnostic(code, message, _shown(records, p.file), p.line, hint=hint)
            for p, code, message, hint in sorted(problems, key=lambda x: (rank.get(x[0].file, -1), x[0].line))]


def profile_conflicts(con, root: Path, records) -> list[Diagnostic]:
    """A file has one reading: the same bytes posted (or archived) before under another
    profile — or none — are refused, since the archive keeps one `.profile` per file and a
    rebuild would read every row the one way."""
    out = []
    for name, sha, shown, _, _, prof_name, _ in records:
        earlier = con.execute("SELECT profile, CAST(posted_on AS VARCHAR) FROM payment_files WHERE sha256 = ? "
                              "ORDER BY file", [sha]).fetchall() if con is not None else []
        if (archive_dir(root) / name).is_file():
            side = archive_dir(root) / f"{name}.profile"
            earlier.append((side.read_text(encoding="utf-8").strip() if side.is_file() else None, name[:10]))
        for used, day in earlier:
            if (used or None) != (prof_name or None):
                out.append(Diagnostic(
                    "E0430", f"this file was posted before {_with(used)}; now {_with(prof_name)}", shown, 1,
                    hint=f"the file was posted {_with(used)} on {day}: post it {_with(used)} (a duplicate changes "
                         "nothing), or send the payments in a new file"))
                break
    return out


def _with(profile: str | None) -> str:
    return f"with profile {profile!r}" if profile else "without a profile"


FAST_PATH_BYTES = 256 * 1024
_BLANK_LINE = re.compile(rb"\n[ \t\x0b\x0c\r]*(?:\n|\Z)")  # starts with a literal: a fast scan


def _fast_rows(body: bytes) -> int | None:
    """How many data rows DuckDB's reader must find in `body` (BOM removed), or None when it
    might not read the file exactly as the row-by-row parser does: quotes, NUL, a lone CR,
    bad UTF-8, a blank line, or a line longer than MAX_LINE bytes (DuckDB cuts or drops a line
    beyond its max_line_size; lines this short are far below it)."""
    if b'"' in body or b"\x00" in body or (b"\r" in body and body.count(b"\r") != body.count(b"\r\n")):
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = body[:-1] if body.endswith(b"\n") else body
    lines = text.split(b"\n")
    if len(lines) < 2 or max(map(len, lines)) > MAX_LINE or not lines[0].strip() or _BLANK_LINE.search(text):
        return None
    return len(lines) - 1


def _post_fast(loaded: LoadedBook, files: list[tuple[str, bytes]], posting_day: date, profile: str | None,
               result: PostResult) -> bool:
    """The vectorised post; False to fall back to the row-by-row path (nothing changed)."""
    import duckdb
    from ..servicing.paymentfile import (COLUMNS, MAX_AMOUNT_EXPONENT, MAX_PAYMENT_ID, MAX_REFERENCE, REQUIRED, TYPES,
                                         WHITESPACE)

    root = loaded.root
    profiles = loaded.book.payment_profiles if loaded.book else {}
    prof = profiles.get(profile) if profile else None
    mapping = {c: c for c in COLUMNS}
    if prof is not None:
        mapping.update(prof.columns)
    by_header = {v.strip().lower(): k for k, v in mapping.items()}
    staged_files = []
    for shown, raw in files:
        body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
        rows = _fast_rows(body)
        if rows is None:
            return False  # quoted fields, blank lines, long lines...: the row-by-row reader
        try:
            header_line = body.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            return False
        names = [by_header.get(h.strip().lower()) for h in header_line.split(",")]
        if None in names or len(set(names)) != len(names) or any(c not in names for c in REQUIRED):
            return False
        name, sha = archive_name(raw, posting_day)
        staged_files.append((shown, raw, name, sha, names, rows))
    facts = facts_of(loaded)
    state = root / STATE_DIR
    t0 = time.perf_counter()
    with writer_lock(root):
        path = ledger_path(root)
        if not path.exists() and archived_files(root):
            return False
        fresh = not path.exists()  # a ledger this call creates goes again if it posts nothing
        con = connect(path)
        temps: list[Path] = []
        done = False
        try:
            if profile_conflicts(con, root, [(name, sha, shown, 0, len(raw), profile, raw)
                                             for shown, raw, name, sha, *_ in staged_files]):
                return False
            fact_rows = [(d, f, ff.currency, minor_units_of(ff.currency), ff.starts[f], len(ff.facility_ids),
                          ff.facility_ids[0], payable_until(ff), ff.types.get(f, ""), ff.maturities[f])
                         for d, ff in facts.items() for f in ff.facility_ids]
            con.execute("CREATE TEMP TABLE facts (deal VARCHAR, facility VARCHAR, currency VARCHAR, digits INTEGER, "
                        "start_date DATE, n INTEGER, only_facility VARCHAR, pay_until DATE, ftype VARCHAR, "
                        "maturity DATE)")
            if fact_rows:  # ids, codes and dates are validated tokens: safe as SQL literals
                values = ", ".join(f"('{d}', '{f}', '{c}', {n}, DATE '{st.isoformat()}', {k}, '{one}', "
                                   + (f"DATE '{until.isoformat()}'" if until else "NULL")
                                   + f", '{kind}', DATE '{mat.isoformat()}')"
                                   for d, f, c, n, st, k, one, until, kind, mat in fact_rows)
                con.execute(f"INSERT INTO facts VALUES {values}")
            con.execute("CREATE TEMP TABLE staged (file VARCHAR, shown VARCHAR, line INTEGER, payment_id VARCHAR, "
                        "deal VARCHAR, facility VARCHAR, value_date DATE, amount DECIMAL(28,4), currency VARCHAR, "
                        "type VARCHAR, reference VARCHAR, bad BOOLEAN, raw_date VARCHAR, reverses VARCHAR)")
            ws = " || ".join(f"chr({ord(c)})" for c in WHITESPACE)  # what str.strip() strips
            types = ", ".join(f"'{t}'" for t in ("",) + TYPES)
            last_day = min(posting_day, date.max - timedelta(days=MAX_DAYS_AHEAD)) + timedelta(days=MAX_DAYS_AHEAD)
            for shown, raw, name, sha, names, _ in staged_files:
                tmp = state / f".stage-{os.getpid()}-{name}"
                temps.append(tmp)
                tmp.write_bytes(raw)
                cols = ", ".join(f"'{n}': 'VARCHAR'" for n in names)
                missing = [c for c in COLUMNS if c not in names]
                pad = "".join(f", NULL::VARCHAR AS {c}" for c in missing)
                fmt = prof.date_format if prof is not None and prof.date_format else None
                date_expr = (f"try_strptime(trim(r.date, {ws}), '{fmt.replace(chr(39), chr(39) * 2)}')::DATE" if fmt
                             else f"CASE WHEN regexp_matches(trim(r.date, {ws}), '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$') "
                                  f"THEN TRY_CAST(trim(r.date, {ws}) AS DATE) END")
                con.execute(f"""
                    INSERT INTO staged
                    WITH r AS (
                        SELECT row_number() OVER () + 1 AS line, *{pad}
                        FROM read_csv('{_sql_path(tmp)}', header=true, delim=',', quote='', escape='',
                                      columns={{{cols}}}, auto_detect=false, null_padding=false)
                    ), t AS (
                        SELECT line, trim(coalesce(payment_id, ''), {ws}) AS pid, trim(coalesce(r.deal, ''), {ws}) AS d,
                               trim(coalesce(r.facility, ''), {ws}) AS fac, {date_expr} AS vd,
                               trim(coalesce(r.date, ''), {ws}) AS raw_date,
                               trim(coalesce(amount, ''), {ws}) AS amt,
                               upper(trim(coalesce(r.currency, ''), {ws})) AS ccy,
                               lower(trim(coalesce(r.type, ''), {ws})) AS typ,
                               trim(coalesce(reference, ''), {ws}) AS ref,
                               trim(coalesce(r.reverses, ''), {ws}) AS rev
                        FROM r
                    ), j AS (
                        SELECT t.*, f.deal AS known_deal, f.currency AS deal_ccy, f.digits, f.start_date, f.pay_until,
                               CASE WHEN t.fac = '' AND f.n = 1 THEN f.only_facility ELSE t.fac END AS fac2
                        FROM t LEFT JOIN (SELECT DISTINCT deal, currency, digits, n, only_facility, pay_until,
                                          min(start_date) OVER (PARTITION BY deal) AS start_date FROM facts) f
                             ON f.deal = t.d
                    )
                    SELECT '{name}', '{shown.replace(chr(39), chr(39) * 2)}', j.line, j.pid, j.d, j.fac2, j.vd,
                           TRY_CAST(j.amt AS DECIMAL(28,4)), j.deal_ccy,
                           CASE WHEN j.typ = '' THEN 'scheduled' ELSE j.typ END, NULLIF(j.ref, ''),
                           (j.pid = '' OR length(j.pid) > {MAX_PAYMENT_ID} OR regexp_matches(j.pid, '[^ -~]')
                            OR j.known_deal IS NULL OR ff.facility IS NULL OR j.vd IS NULL
                            OR j.pay_until IS NULL OR j.vd > j.pay_until OR j.vd > DATE '{last_day}'
                            OR NOT regexp_matches(j.amt, '^[+]?[0-9]+([.][0-9]+)?$')
                            OR TRY_CAST(j.amt AS DECIMAL(38,10)) <= 0
                            OR TRY_CAST(j.amt AS DECIMAL(28,4)) IS NULL
                            OR TRY_CAST(j.amt AS DECIMAL(38,10))
                               >= CAST('1{'0' * MAX_AMOUNT_EXPONENT}' AS DECIMAL(38,10))
                            OR (CASE WHEN strpos(j.amt, '.') > 0 THEN length(j.amt) - strpos(j.amt, '.') ELSE 0 END)
                               > j.digits
                            OR NOT regexp_matches(j.ccy, '^[ -~]*$') OR (j.ccy <> '' AND j.ccy <> j.deal_ccy)
                            OR NOT regexp_matches(j.typ, '^[ -~]*$')
                            OR j.typ NOT IN ({types})
                            OR (j.typ = 'reversal') <> (j.rev <> '') OR (j.typ = 'reversal' AND j.rev = j.pid)
                            OR length(j.rev) > {MAX_PAYMENT_ID} OR regexp_matches(j.rev, '[^ -~]')
                            OR (j.typ = 'repayment' AND ff.ftype <> 'revolver')
                            OR (j.typ = 'payoff' AND j.vd > ff.maturity)
                            OR length(j.ref) > {MAX_REFERENCE}
                            OR j.vd < ff.start_date) IS NOT FALSE,
                           j.raw_date, NULLIF(j.rev, '')
                    FROM j LEFT JOIN facts ff ON ff.deal = j.d AND ff.facility = j.fac2
                """)
            bad = con.execute("SELECT count(*) FROM staged WHERE bad").fetchone()[0]
            repeated = con.execute("SELECT count(*) FROM (SELECT payment_id FROM staged GROUP BY 1 "
                                   "HAVING count(*) > 1)").fetchone()[0]
            conflicts = con.execute(
                "SELECT count(*) FROM staged s JOIN payments p USING (payment_id) WHERE NOT ("
                "p.deal = s.deal AND p.facility = s.facility AND p.value_date = s.value_date AND "
                "p.amount = s.amount AND p.currency = s.currency AND p.type = s.type AND "
                "coalesce(p.reference, '') = coalesce(s.reference, '') AND "
                "coalesce(p.reverses, '') = coalesce(s.reverses, ''))").fetchone()[0]
            if bad or repeated or conflicts:
                return False  # the row-by-row path reports each problem at its line
            counted = dict(con.execute("SELECT file, count(*) FROM staged GROUP BY 1").fetchall())
            if any(counted.get(name, 0) != rows for _, _, name, _, _, rows in staged_files):
                return False  # DuckDB's reader took a row more or less than the file's lines
            fmt = prof.date_format if prof is not None and prof.date_format else None
            for raw_date, vd in con.execute("SELECT DISTINCT raw_date, value_date FROM staged").fetchall():
                try:
                    if value_date(raw_date, fmt) != vd:
                        return False
                except (ValueError, OverflowError):  # DuckDB read a date the row-by-row parser refuses
                    return False
            result.duplicates = con.execute("SELECT count(*) FROM staged s SEMI JOIN payments p "
                                            "USING (payment_id)").fetchone()[0]
            file_rows = dict(con.execute("SELECT file, count(*) FROM staged GROUP BY 1").fetchall())
            # a re-sent payment belongs to the first file (by archive name) that carries it,
            # as in a rebuild, which replays the archive in name order
            reattribute = con.execute("SELECT s.payment_id, s.file, s.line FROM staged s JOIN payments p "
                                      "USING (payment_id) WHERE s.file < p.file").fetchall()
            con.execute("DELETE FROM staged WHERE payment_id IN (SELECT payment_id FROM payments)")
            if _bad_reversals(con):
                return False  # the row-by-row path reports each (paymentfile.reversal_problems)
            result.timings["parse_check"] = time.perf_counter() - t0

            t1 = time.perf_counter()
            cur = con.execute(f"SELECT {PAYMENT_COLUMNS} FROM staged")
            new = []
            while batch := cur.fetchmany(50_000):
                new += [Payment(r[0], r[1], r[2], r[3], r[4].quantize(_quantum(r[5])), r[5], r[6], r[7] or "", r[8],
                                r[9], r[10] or "") for r in batch]
            result.posted = new
            affected = {(p.deal, p.facility) for p in new}
            by_facility: dict[tuple[str, str], list[Payment]] = defaultdict(list)
            if affected:
                con.execute("CREATE TEMP TABLE affected (deal VARCHAR, facility VARCHAR)")
                con.executemany("INSERT INTO affected VALUES (?, ?)", [list(k) for k in affected])
                for r in con.execute(f"SELECT {PAYMENT_COLUMNS} FROM payments SEMI JOIN affected USING (deal, facility)"
                                     ).fetchall():
                    by_facility[(r[1], r[2])].append(Payment(r[0], r[1], r[2], r[3], r[4].quantize(_quantum(r[5])),
                                                             r[5], r[6], r[7] or "", r[8] or "", r[9] or 0, r[10] or ""))
                con.execute("DROP TABLE affected")
            for p in new:
                by_facility[(p.deal, p.facility)].append(p)
            alloc_csv = state / f".alloc-{os.getpid()}.csv"
            temps.append(alloc_csv)
            new_ids = {p.payment_id for p in new}
            closed: list = []
            result.facilities, result.unapplied_by_payment = allocate_to_csv(
                loaded, by_facility, alloc_csv, lambda fa, pays: closed.extend(paid_off_problems(fa, pays, new_ids)))
            if closed:
                return False  # the row-by-row path reports each (paymentfile.paid_off_problems)
            result.timings["allocate"] = time.perf_counter() - t1
            if not new and not reattribute:
                done = True
                return True

            t2 = time.perf_counter()
            posted_names = {r[0] for r in con.execute("SELECT DISTINCT file FROM staged").fetchall()}
            posted_names |= {f for _, f, _ in reattribute}
            records = [(name, sha, shown, raw) for shown, raw, name, sha, *_ in staged_files if name in posted_names]
            for name, sha, shown, raw in records:
                _archive(root, name, raw, profile)
                result.archived.append(name)
            try:
                con.execute("BEGIN TRANSACTION")
                for name, sha, shown, raw in records:
                    con.execute("INSERT INTO payment_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                                [name, sha, Path(shown).name, posting_day, file_rows.get(name, 0), len(raw), profile])
                for pid, file, line in reattribute:
                    con.execute("UPDATE payments SET file = ?, line = ? WHERE payment_id = ?", [file, line, pid])
                con.execute(f"INSERT INTO payments SELECT {PAYMENT_COLUMNS} FROM staged")
                con.execute("CREATE TEMP TABLE affected AS SELECT DISTINCT deal, facility FROM staged")
                con.execute("DELETE FROM allocations WHERE (deal, facility) IN (SELECT deal, facility FROM affected)")
                con.execute(f"INSERT INTO allocations SELECT * FROM read_csv('{_sql_path(alloc_csv)}', header=false, "
                            + _INTERNAL_CSV + ", columns={" + _cols(
                                "payment_id deal facility value_date due_date component amount seq applied_on") + "})")
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise DiagnosticError([_diag("E0422", f"the ledger could not be written: "
                                                      f"{str(exc).splitlines()[0][:200]}", str(path),
                                             "nothing was recorded; the file is archived: post it again, or run "
                                             "`loanctl ledger rebuild`")]) from None
            result.timings["insert"] = time.perf_counter() - t2
            done = True
            return True
        except duckdb.Error:
            return False  # DuckDB's reader could not take the file as is: the precise path reports why
        finally:
            con.close()
            for t in temps + ([path, path.with_name(path.name + ".wal")] if fresh and not (done or result.archived)
                                else []):
                with contextlib.suppress(OSError):
                    t.unlink()


def _bad_reversals(con) -> bool:
    """Any staged reversal that `paymentfile.reversal_problems` refuses: naming no payment of
    the ledger or the staged rows, a reversal, another deal, facility or amount, a later
    date, or a payment reversed twice."""
    return bool(con.execute("""
        WITH known AS (SELECT payment_id, deal, facility, value_date, amount, type FROM payments
                       UNION ALL SELECT payment_id, deal, facility, value_date, amount, type FROM staged)
        SELECT (SELECT count(*) FROM staged s LEFT JOIN known k ON k.payment_id = s.reverses
                WHERE s.type = 'reversal' AND (k.payment_id IS NULL OR k.type = 'reversal' OR k.deal <> s.deal
                      OR k.facility <> s.facility OR k.amount <> s.amount OR s.value_date < k.value_date))
             + (SELECT count(*) FROM (SELECT reverses FROM (SELECT reverses FROM payments WHERE type = 'reversal'
                                                           UNION ALL SELECT reverses FROM staged WHERE type = 'reversal')
                                      GROUP BY reverses HAVING count(*) > 1))""").fetchone()[0])


def minor_units_of(currency: str) -> int:
    from ..conventions.currency import minor_units
    return minor_units(currency)


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units_of(currency))


def _shown(records, archive: str) -> str:
    for name, _, shown, *_ in records:
        if name == archive:
            return shown
    return archive


def allocate_to_csv(loaded: LoadedBook, by_facility: dict[tuple[str, str], list[Payment]], path: Path,
                    inspect=None) -> tuple[list[tuple[str, str]], dict[str, Decimal]]:
    """Allocate facility by facility straight into the staging CSV, keeping nothing but the
    unapplied amounts (a million payments' allocations never sit in memory together).
    Empties `by_facility` as it goes; returns (facilities, unapplied by payment id).
    `inspect(allocation, payments)`, if given, sees each facility's allocation."""
    keys = sorted(by_facility)
    unapplied: dict[str, Decimal] = {}
    inputs: dict[str, tuple] = {}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        for deal, facility in keys:
            pays = by_facility.pop((deal, facility))
            if deal not in inputs:
                inputs.clear()  # deals come in order: keep one deal's terms at a time
                inputs[deal] = facility_inputs(loaded, deal)
            terms, builder = inputs[deal]
            fa = allocate_facility(loaded, deal, facility, pays, terms=terms, builder=builder)
            if inspect is not None:
                inspect(fa, pays)
            for seq, a in enumerate(fa.allocations):
                w.writerow((a.payment_id, deal, facility, a.payment_date.isoformat(),
                            a.due_date.isoformat() if a.due_date else "", a.component, str(a.amount), seq,
                            a.applied_on.isoformat() if a.applied_on else ""))
                if a.component == "unapplied":
                    unapplied[a.payment_id] = unapplied.get(a.payment_id, Decimal(0)) + a.amount
    return keys, unapplied


def allocate_all(loaded: LoadedBook, by_facility: dict[tuple[str, str], list[Payment]]
                 ) -> dict[tuple[str, str], FacilityAllocation]:
    out: dict[tuple[str, str], FacilityAllocation] = {}
    inputs: dict[str, tuple] = {}
    for (deal, facility), pays in sorted(by_facility.items()):
        if deal not in inputs:
            inputs[deal] = facility_inputs(loaded, deal)
        terms, builder = inputs[deal]
        out[(deal, facility)] = allocate_facility(loaded, deal, facility, pays, terms=terms, builder=builder)
    return out


def _archive(root: Path, name: str, raw: bytes, profile: str | None = None) -> None:
    """The file byte-for-byte under payments/ (temp + fsync + rename); with a profile, a
    `<name>.profile` beside it says which, so a rebuild reads it the same way."""
    folder = archive_dir(root)
    target = folder / name
    try:
        folder.mkdir(exist_ok=True)
        if profile:
            side = folder / f"{name}.profile"
            tmp_side = folder / f".{name}.profile.tmp-{os.getpid()}"
            tmp_side.write_text(profile + "\n", encoding="utf-8")
            os.replace(tmp_side, side)
        if target.exists() and target.read_bytes() == raw:
            return
        tmp = folder / f".{name}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError, UnboundLocalError):
            tmp.unlink()  # type: ignore[possibly-undefined]
        raise DiagnosticError([_diag("E0422", f"cannot archive the payment file: {exc.strerror or exc}",
                                     str(target), "check free disk space and permissions; nothing was posted")]
                              ) from None


def _write(con, root: Path, new: list[Payment], files, allocations, posting_day: date,
           reattribute: list[tuple[str, str, int]] = (), alloc_csv: Path | None = None) -> None:
    """One transaction: files, payments, and the affected facilities' allocations
    (`allocations`: FacilityAllocations by facility, or just the facilities when their rows
    are already staged in `alloc_csv`)."""
    import duckdb
    state = root / STATE_DIR
    pay_csv = state / f".pay-{os.getpid()}.csv"
    staged = alloc_csv is not None
    alloc_csv = alloc_csv or state / f".alloc-{os.getpid()}.csv"
    try:
        try:
            _write_csv(pay_csv, ((p.payment_id, p.deal, p.facility, p.date.isoformat(), str(p.amount), p.currency,
                                  p.type, p.reference, p.file, p.line, p.reverses) for p in new))
            if not staged:
                _write_csv(alloc_csv, _allocation_rows(allocations))
        except OSError as exc:
            raise DiagnosticError([_diag("E0422", f"cannot stage the ledger rows: {exc.strerror or exc}",
                                         str(state), "free disk space (or fix permissions) and post again; "
                                                     "nothing was recorded")]) from None
        con.execute("BEGIN TRANSACTION")
        for name, sha, shown, nrows, size, prof_name, _ in files:
            con.execute("INSERT INTO payment_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [name, sha, Path(shown).name, posting_day, nrows, size, prof_name])
        con.execute(f"INSERT INTO payments SELECT * FROM read_csv('{_sql_path(pay_csv)}', header=false, "
                    + _INTERNAL_CSV + ", columns={" + _cols(
                        "payment_id deal facility value_date amount currency type reference file line reverses")
                    + "})")
        con.execute("CREATE TEMP TABLE affected AS SELECT DISTINCT deal, facility FROM payments WHERE false")
        if allocations:
            con.executemany("INSERT INTO affected VALUES (?, ?)", [list(k) for k in allocations])
        con.execute("DELETE FROM allocations WHERE (deal, facility) IN (SELECT deal, facility FROM affected)")
        con.execute(f"INSERT INTO allocations SELECT * FROM read_csv('{_sql_path(alloc_csv)}', header=false, "
                    + _INTERNAL_CSV + ", columns={" + _cols(
                        "payment_id deal facility value_date due_date component amount seq applied_on") + "})")
        con.execute("DROP TABLE affected")
        for pid, file, line in reattribute:
            con.execute("UPDATE payments SET file = ?, line = ? WHERE payment_id = ?", [file, line, pid])
        con.execute("COMMIT")
    except duckdb.Error as exc:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise DiagnosticError([_diag("E0422", f"the ledger could not be written: {str(exc).splitlines()[0][:200]}",
                                     str(ledger_path(root)),
                                     "nothing was recorded; the file is archived: fix the cause and post it again, "
                                     "or run `loanctl ledger rebuild`")]) from None
    finally:
        for p in (pay_csv, alloc_csv):
            with contextlib.suppress(OSError):
                p.unlink()


def _allocation_rows(allocations: dict[tuple[str, str], FacilityAllocation]) -> Iterable[tuple]:
    for (deal, facility), fa in sorted(allocations.items()):
        for seq, a in enumerate(fa.allocations):
            yield (a.payment_id, deal, facility, a.payment_date.isoformat(),
                   a.due_date.isoformat() if a.due_date else "", a.component, str(a.amount), seq,
                   a.applied_on.isoformat() if a.applied_on else "")


def _write_csv(path: Path, rows: Iterable[tuple]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


# Our own staging files: fixed dialect, no sniffing (an empty file or a CR inside a quoted
# reference must not confuse the reader).
_INTERNAL_CSV = ("all_varchar=true, auto_detect=false, delim=',', quote='\"', escape='\"', new_line='\\n', "
                 "max_line_size=67108864")

_TYPES = {"value_date": "DATE", "due_date": "DATE", "applied_on": "DATE", "amount": "DECIMAL(28,4)", "line": "INTEGER",
          "seq": "INTEGER"}


def _cols(names: str) -> str:
    return ", ".join(f"'{n}': '{_TYPES.get(n, 'VARCHAR')}'" for n in names.split())


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


# --- rebuild and check ---------------------------------------------------------------------
def rebuild(loaded: LoadedBook) -> tuple[int, int, list[Diagnostic]]:
    """Replay payments/ into a fresh ledger and swap it in atomically: (files, payments, diags)."""
    import duckdb
    try:
        return _rebuild(loaded)
    except (OSError, duckdb.Error, DiagnosticError) as exc:
        for leftover in ledger_path(loaded.root).parent.glob(f".rebuild-{os.getpid()}.duckdb*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        if isinstance(exc, DiagnosticError):
            if not any(d.code == "E0420" for d in exc.diagnostics):
                raise  # busy, or a real problem in the archive: reported as it is
            text = exc.diagnostics[0].message  # the new ledger file could not even be created
        else:
            text = (getattr(exc, "strerror", None) or str(exc)).splitlines()[0][:200]
        raise DiagnosticError([_diag("E0422", f"the rebuild could not be written: {text}",
                                     str(ledger_path(loaded.root)),
                                     "free disk space and run it again; the previous ledger is unchanged")]) from None


def _rebuild(loaded: LoadedBook) -> tuple[int, int, list[Diagnostic]]:
    root = loaded.root
    with writer_lock(root):
        files = [(p.name, p.read_bytes()) for p in archived_files(root)]
        payments: list[Payment] = []
        diags: list[Diagnostic] = []
        records = []
        seen: dict[str, Payment] = {}
        for name, raw in files:
            got, d, recs = read_archived(loaded, name, raw)
            diags += d
            for rec in recs:
                records.append((name, rec[1], name, rec[3], rec[4], rec[5], rec[6]))
            for p in got:
                p = Payment(*[getattr(p, f) for f in ("payment_id", "deal", "facility", "date", "amount", "currency",
                                                      "type", "reference")], file=name, line=p.line,
                            reverses=p.reverses)
                if p.payment_id in seen:
                    if seen[p.payment_id].content() != p.content():
                        diags.append(Diagnostic("E0412", f"payment_id {p.payment_id!r} differs from "
                                                         f"{seen[p.payment_id].file}", name, p.line))
                    continue
                seen[p.payment_id] = p
                payments.append(p)
        errors = [d for d in diags if d.is_error]
        if errors:
            return 0, 0, errors
        by_facility: dict[tuple[str, str], list[Payment]] = defaultdict(list)
        for p in payments:
            by_facility[(p.deal, p.facility)].append(p)
        alloc_csv = root / STATE_DIR / f".alloc-{os.getpid()}.csv"
        (root / STATE_DIR).mkdir(exist_ok=True)
        keys, _ = allocate_to_csv(loaded, by_facility, alloc_csv)
        target = ledger_path(root)
        tmp = target.with_name(f".rebuild-{os.getpid()}.duckdb")
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        con = connect(tmp)
        done = False
        try:
            by_name: dict[str, tuple] = {}
            for r in records:
                by_name.setdefault(r[0], r)
            _write(con, root, payments, [by_name[n] for n in sorted(by_name)], keys, date.today(), alloc_csv=alloc_csv)
            _store_fingerprints(con, DealFingerprints(loaded), keys)
            con.execute("UPDATE payment_files SET posted_on = CAST(substr(file, 1, 10) AS DATE) "
                        "WHERE regexp_matches(file, '^\\d{4}-\\d{2}-\\d{2}-')")
            con.execute("CHECKPOINT")
            done = True
        finally:
            con.close()
            if not done:
                for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
        os.replace(tmp, target)
        with contextlib.suppress(OSError):
            target.with_name(target.name + ".wal").unlink()
        return len(files), len(payments), []


def read_archived(loaded: LoadedBook, name: str, raw: bytes):
    """One archived file read as it was accepted (its `.profile`, no admission rules):
    (payments, diagnostics, file records) as `parse_files` gives them."""
    root = loaded.root
    posting_day = date.fromisoformat(name[:10]) if _is_archive_name(name) else date.today()
    side = archive_dir(root) / f"{name}.profile"
    if not inside_book(root, side):
        raise DiagnosticError([outside_diagnostic(str(side))])
    used = side.read_text(encoding="utf-8").strip() if side.is_file() else None
    return parse_files(loaded, [(str(archive_dir(root) / name), raw)], used, posting_day, auto_profile=used is None)


def archived_repayments(loaded: LoadedBook) -> dict[tuple[str, str], list[tuple[date, Decimal]]]:
    """(date, amount) of the repayments in force in payments/ (a reversed one is not), by
    (deal, facility) — what validate checks a revolver's draws against (SPEC §4.3). Only the
    archived files that mention a repayment or a reversal are read; rows that do not read
    cleanly are left to `ledger check` and `ledger rebuild`."""
    found: list[Payment] = []
    for path in archived_files(loaded.root):
        raw = path.read_bytes()
        lowered = raw.lower()
        if b"repayment" not in lowered and b"reversal" not in lowered:
            continue
        got, _, _ = read_archived(loaded, path.name, raw)
        found += got  # the rows that read cleanly (a part of the book knows only its deals)
    out: dict[tuple[str, str], list[tuple[date, Decimal]]] = defaultdict(list)
    for p in live_payments({p.payment_id: p for p in found}.values()):
        if p.type == "repayment":
            out[(p.deal, p.facility)].append((p.date, p.amount))
    return dict(out)


def archive_repaid():
    """`validation.checks.Repaid` over this book's archive: read once, on first use."""
    cache: dict = {}

    def repaid(loaded: LoadedBook, deal: str, facility: str) -> list[tuple[date, Decimal]]:
        if "all" not in cache:
            cache["all"] = archived_repayments(loaded)
        return cache["all"].get((deal, facility), [])
    return repaid


def _is_archive_name(name: str) -> bool:
    import re
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}-[0-9a-f]{12}\.csv$", name))


def check(loaded: LoadedBook) -> list[Diagnostic]:
    """Archive against ledger, allocations against payments and against the book, no orphans."""
    root = loaded.root
    diags: list[Diagnostic] = []
    con = open_for_read(root)
    if con is None:
        return []
    try:
        in_ledger = {r[0]: r[1] for r in con.execute("SELECT file, sha256 FROM payment_files").fetchall()}
        archived = archived_files(root)
        for p in archived:
            if p.name not in in_ledger:
                diags.append(_diag("E0423", f"archived file {p.name} is not in the ledger", str(p),
                                   "an interrupted post: run `loanctl ledger rebuild` (or post the file again)"))
            elif hashlib.sha256(p.read_bytes()).hexdigest() != in_ledger[p.name]:
                diags.append(_diag("E0423", f"archived file {p.name} changed after posting", str(p),
                                   "archived files are never edited; restore it from git"))
        names = {p.name for p in archived}
        for name in in_ledger:
            if name not in names:
                diags.append(_diag("E0423", f"ledger file {name} is missing from payments/", str(archive_dir(root)),
                                   "restore it from git, or run `loanctl ledger rebuild`"))
        for pid, paid, alloc in con.execute(
                "SELECT p.payment_id, p.amount, coalesce(sum(a.amount), 0) FROM payments p "
                "LEFT JOIN allocations a USING (payment_id) GROUP BY p.payment_id, p.amount "
                "HAVING p.amount <> coalesce(sum(a.amount), 0) ORDER BY 1 LIMIT 100").fetchall():
            diags.append(_diag("E0423", f"payment {pid}: allocations total {alloc}, payment is {paid}",
                               str(ledger_path(root)), "run `loanctl ledger rebuild`"))
        for (pid,) in con.execute("SELECT DISTINCT a.payment_id FROM allocations a ANTI JOIN payments p "
                                  "USING (payment_id) ORDER BY 1 LIMIT 100").fetchall():
            diags.append(_diag("E0423", f"allocation rows for unknown payment {pid}", str(ledger_path(root)),
                               "run `loanctl ledger rebuild`"))
        for (pid, n) in con.execute("SELECT payment_id, count(*) FROM payments GROUP BY 1 HAVING count(*) > 1 "
                                    "ORDER BY 1 LIMIT 100").fetchall():
            diags.append(_diag("E0423", f"payment {pid} recorded {n} times", str(ledger_path(root)),
                               "run `loanctl ledger rebuild`"))
        diags += _check_follows_book(loaded, con)
    finally:
        con.close()
    return diags


# --- following the book: fingerprints and refresh ------------------------------------------
# Stored allocations are a cache of a pure function of the book and the payments. Each
# facility's row in `facility_inputs` holds the fingerprint (loanctl.source.fingerprints) of the
# book inputs its allocations were computed from; a facility whose fingerprint differs from
# the book's is stale. post-payments, query and `ledger refresh` recompute stale facilities;
# `ledger check` reports those whose stored rows differ from a fresh allocation (E0440).
# Reports and `schedule --actuals` allocate from the payments at hand and never read them.
MAX_STALE_REPORTED = 100


def _stored_fingerprints(con) -> dict[tuple[str, str], str]:
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "facility_inputs" not in tables:
        return {}  # a ledger from before fingerprints: no facility is proven up to date
    return {(d, f): fp for d, f, fp in con.execute("SELECT deal, facility, fingerprint FROM facility_inputs")
            .fetchall()}


def _outdated(loaded: LoadedBook, con, fps: DealFingerprints
              ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(facilities with payments whose stored fingerprint is not the book's, facilities with
    payments that the book no longer has)."""
    stored = _stored_fingerprints(con)
    stale: list[tuple[str, str]] = []
    orphans: list[tuple[str, str]] = []
    ids: dict[str, set[str]] = {}
    for deal, facility in con.execute("SELECT DISTINCT deal, facility FROM payments ORDER BY 1, 2").fetchall():
        fp = fps.of(deal)
        if fp is not None and stored.get((deal, facility)) == fp:
            continue
        if fp is not None and deal not in ids:
            ids[deal] = set(facility_inputs(loaded, deal)[0])
        if fp is None or facility not in ids[deal]:
            orphans.append((deal, facility))
        else:
            stale.append((deal, facility))
    return stale, orphans


def _payments_of(con, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[Payment]]:
    out: dict[tuple[str, str], list[Payment]] = {k: [] for k in keys}
    if not keys:
        return out
    rows = con.execute(f"SELECT {PAYMENT_COLUMNS} "
                       "FROM payments WHERE (deal, facility) IN (SELECT unnest(?), unnest(?))",
                       [[d for d, _ in keys], [f for _, f in keys]]).fetchall()
    for r in rows:
        out[(r[1], r[2])].append(Payment(r[0], r[1], r[2], r[3], _dec(r[4]).quantize(_quantum(r[5])), r[5], r[6],
                                         r[7] or "", r[8] or "", r[9] or 0, r[10] or ""))
    return out


def _store_fingerprints(con, fps: DealFingerprints, keys: Iterable[tuple[str, str]]) -> None:
    rows = [(d, f, fps.of(d)) for d, f in keys if fps.of(d) is not None]
    if not rows:
        return
    cols = [[r[i] for r in rows] for i in range(3)]
    con.execute("DELETE FROM facility_inputs WHERE (deal, facility) IN (SELECT unnest(?), unnest(?))", cols[:2])
    con.execute("INSERT INTO facility_inputs SELECT unnest(?), unnest(?), unnest(?)", cols)


def refresh(loaded: LoadedBook, fresh: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """Bring the stored allocations up to date with the book, in one transaction: every
    facility whose fingerprint differs from the book's is reallocated from its payments.
    `fresh` facilities were just allocated from `loaded` (only their fingerprint is stored).
    Returns the facilities recomputed. Facilities the book no longer has are left alone
    (`ledger check` reports them); without a ledger there is nothing to do."""
    import duckdb
    root = loaded.root
    path = ledger_path(root)
    fresh = set(fresh)
    if not path.exists():
        return []
    fps = DealFingerprints(loaded)
    if not fresh:  # the common case, up to date: find out without taking the write lock
        con = connect(path, read_only=True)
        try:
            stale, _ = _outdated(loaded, con, fps)
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            con.close()
        if not stale and row and int(row[0]) >= SCHEMA_VERSION:  # an older schema: migrate (and recompute)
            return []
    alloc_csv = root / STATE_DIR / f".alloc-{os.getpid()}.csv"
    with writer_lock(root):
        con = connect(path)
        try:
            stale, _ = _outdated(loaded, con, fps)
            todo = [k for k in stale if k not in fresh]
            keys, _ = allocate_to_csv(loaded, _payments_of(con, todo), alloc_csv)
            try:
                con.execute("BEGIN TRANSACTION")
                if keys:
                    con.execute("DELETE FROM allocations WHERE (deal, facility) IN (SELECT unnest(?), unnest(?))",
                                [[d for d, _ in keys], [f for _, f in keys]])
                    con.execute(f"INSERT INTO allocations SELECT * FROM read_csv('{_sql_path(alloc_csv)}', "
                                "header=false, " + _INTERNAL_CSV + ", columns={" + _cols(
                                    "payment_id deal facility value_date due_date component amount seq "
                                    "applied_on") + "})")
                _store_fingerprints(con, fps, [*keys, *(k for k in stale if k in fresh)])
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise DiagnosticError([_diag("E0422", f"the ledger could not be refreshed: "
                                                      f"{str(exc).splitlines()[0][:200]}", str(path),
                                             "the ledger is as it was; run `loanctl ledger refresh` again")]) from None
            return keys
        finally:
            con.close()
            with contextlib.suppress(OSError):
                alloc_csv.unlink()


def _follow_book(loaded: LoadedBook, profile: str | None, result: PostResult) -> None:
    """After a post committed: record the profile digests and refresh the facilities the book
    moved away from. Neither undoes the post: a failure here is a warning."""
    with contextlib.suppress(OSError):
        _record_profile_digests(loaded, profile, result.archived)
    written = list(result.facilities or result.allocations) if result.archived else []
    result.refreshed, warnings = refresh_or_warn(loaded, fresh=written)
    result.diagnostics += warnings


def refresh_or_warn(loaded: LoadedBook, fresh: Iterable[tuple[str, str]] = ()
                    ) -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    """`refresh`, with a failure (a busy ledger, a read-only book) turned into an E0440 warning
    for commands whose own work is done or does not need it."""
    try:
        return refresh(loaded, fresh), []
    except (DiagnosticError, OSError) as exc:
        why = exc.diagnostics[0].message if isinstance(exc, DiagnosticError) else (exc.strerror or str(exc))
        return [], [Diagnostic("E0440", f"stale allocations were not refreshed: {why}", str(ledger_path(loaded.root)),
                               hint="run `loanctl ledger refresh`", severity="warning")]


def _record_profile_digests(loaded: LoadedBook, profile: str | None, archived: list[str]) -> None:
    """Beside each file archived with a profile, `<name>.profile.sha256`: the profile's name and
    the digest of its definition, so `validate` can tell when a profile that archived files
    were read with changes or goes (E0240). Written after the post committed: a crash before it
    leaves a file checked like one posted before digests existed (the profile must exist)."""
    prof = loaded.book.payment_profiles.get(profile) if profile and loaded.book else None
    if prof is None:
        return
    text = f"{profile} {profile_digest(prof)}\n"
    folder = archive_dir(loaded.root)
    for name in archived:
        side = folder / f"{name}{PROFILE_DIGEST_SUFFIX}"
        tmp = folder / f".{side.name}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, side)


def _check_follows_book(loaded: LoadedBook, con) -> list[Diagnostic]:
    """E0440 for each facility whose stored allocations differ from a fresh allocation over
    the book as it is now (only facilities whose fingerprint changed are recomputed);
    E0441 for payments of a deal or facility the book no longer has."""
    fps = DealFingerprints(loaded)
    stale, orphans = _outdated(loaded, con, fps)
    diags = [_diag("E0441", f"the ledger holds payments of deal '{d}' facility '{f}', which the book no longer has",
                   str(ledger_path(loaded.root)), "restore the deal or facility (from git): posted payments are "
                                                  "never deleted, and a rebuild refuses them too")
             for d, f in orphans]
    behind: list[tuple[str, str]] = []
    inputs: dict[str, tuple] = {}
    for key in stale:
        deal, facility = key
        if deal not in inputs:
            inputs.clear()
            inputs[deal] = facility_inputs(loaded, deal)
        terms, builder = inputs[deal]
        fa = allocate_facility(loaded, deal, facility, _payments_of(con, [key])[key], terms=terms, builder=builder)
        stored = con.execute("SELECT payment_id, value_date, due_date, component, amount FROM allocations "
                             "WHERE deal = ? AND facility = ? ORDER BY seq", [deal, facility]).fetchall()
        if stored != [(a.payment_id, a.payment_date, a.due_date, a.component, a.amount) for a in fa.allocations]:
            behind.append(key)
    for deal, facility in behind[:MAX_STALE_REPORTED]:
        diags.append(_diag("E0440", f"stored allocations of deal '{deal}' facility '{facility}' no longer follow "
                                    "the book (its terms, amendments, fixings, calendars, rounding or waterfall "
                                    "changed after they were computed)",
                           loaded.tree.display(loaded.deals[deal].rel),
                           "run `loanctl ledger refresh` (post-payments and query also refresh)"))
    if len(behind) > MAX_STALE_REPORTED:
        diags.append(_diag("E0440", f"… and {len(behind) - MAX_STALE_REPORTED} more facilities with stale "
                                    "allocations", str(ledger_path(loaded.root)), "run `loanctl ledger refresh`"))
    return diags


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
