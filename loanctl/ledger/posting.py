"""Posting payment files (SPEC §4.2, §4.5): check everything, then archive and record in one
transaction — or change nothing.

Two ways in, one way through. The rows of the posted files are read and checked either row by
row or, for large clean files, vectorised (`staging`: the two differ only there); then one
plan step, `_plan`, takes the staged rows through the same sequence whichever way read them:
one reading per file (profile conflicts), duplicates and re-sent payments against the ledger,
the checks across rows (`servicing.crossrows`: reversals, nothing after a payoff), allocation,
the archive, and one transaction. The vectorised path hands any problem to the
row-by-row path, which reports every bad row as FILE:LINE.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from ..diagnostics import Diagnostic, DiagnosticError, UsageProblem
from ..model.records import LoadedBook
from ..servicing.allocation import FacilityAllocation, Payment
from ..servicing.crossrows import Problem, paid_off_problems, reversal_problems
from ..servicing.rowrules import facts_of
from . import staging
from .allocating import allocate, allocate_table, payments_of, replace_allocations
from .archive import (PaymentFile, archive_dir, archive_file, archive_name, archived_files, profile_conflicts,
                      record_profile_digests)
from .db import (PAYMENT_COLUMNS, STATE_DIR, connect, diag, ledger_path, migrate, open_for_read, payment_of, quantum,
                 writer_lock)
from .refresh import refresh_or_warn
from .stored_positions import keep_payments_digests, payments_token


@dataclass(frozen=True)
class DealTotal:
    """One deal's payments in a post: how many, their amount and what stayed unapplied."""

    deal: str
    currency: str
    payments: int
    amount: Decimal
    unapplied: Decimal


@dataclass
class PostResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    posted: list[Payment] = field(default_factory=list)
    """The payments posted — when they were kept in memory (the row-by-row path, a dry run);
    a large post streams them and gives only `totals`."""
    duplicates: int = 0
    archived: list[str] = field(default_factory=list)
    allocations: dict[tuple[str, str], FacilityAllocation] = field(default_factory=dict)
    dry_run: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: parse_check, check_ledger (against the ledger's payments), allocate,
    insert (the payments, the files, the commit),
    store_allocations (the allocation rows written): for the benchmark."""
    facilities: list[tuple[str, str]] = field(default_factory=list)
    """The facilities reallocated (also when `allocations` was streamed to the ledger)."""
    totals: list[DealTotal] | None = None
    """Per deal, in deal order, the payments posted, when they were streamed (not in `posted`)."""
    refreshed: list[tuple[str, str]] = field(default_factory=list)
    """Other facilities whose stored allocations were recomputed because the book changed."""

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def count(self) -> int:
        """How many payments were posted."""
        return len(self.posted) if self.totals is None else sum(t.payments for t in self.totals)

    def unapplied(self) -> Decimal:
        if self.totals is not None:
            return sum((t.unapplied for t in self.totals), Decimal(0))
        ids = {p.payment_id for p in self.posted}
        return sum((a.amount for fa in self.allocations.values() for a in fa.allocations
                    if a.component == "unapplied" and a.payment_id in ids), Decimal(0))


def post(loaded: LoadedBook, files: list[tuple[str, bytes]], posting_day: date, profile: str | None = None,
         dry_run: bool = False) -> PostResult:
    """Check everything, then archive and record in one transaction — or change nothing."""
    archive_dir(loaded.root)  # a payments/ link leading out of the book is refused before anything is written
    try:
        result = _post(loaded, files, posting_day, profile, dry_run)
    except OSError as exc:  # a full disk or a read-only book, wherever it struck
        raise DiagnosticError([diag("E0422", f"cannot write to the book: {exc.strerror or exc}",
                                    getattr(exc, "filename", None) or str(loaded.root),
                                    "free disk space or make the book writable; the ledger is as it was "
                                    "(run `loanctl ledger check`)")]) from None
    if result.ok and not dry_run:
        _follow_book(loaded, profile, result)
    return result


def _post(loaded: LoadedBook, files: list[tuple[str, bytes]], posting_day: date, profile: str | None,
          dry_run: bool) -> PostResult:
    """Large files (together at least `staging.FAST_PATH_BYTES`) try the vectorised path first;
    whatever it does not post, the row-by-row path posts or refuses."""
    if profile is not None and (loaded.book is None or profile not in loaded.book.payment_profiles):
        known = ", ".join(sorted(loaded.book.payment_profiles)) if loaded.book else ""
        raise UsageProblem(f"unknown payment profile '{profile}'", f"profiles in book.yaml: {known or 'none'}")
    if not dry_run and sum(len(raw) for _, raw in files) >= staging.FAST_PATH_BYTES:
        result = PostResult()
        if _post_fast(loaded, files, posting_day, profile, result):
            return result
    return _post_rows(loaded, files, posting_day, profile, dry_run)


def _post_rows(loaded: LoadedBook, files: list[tuple[str, bytes]], posting_day: date, profile: str | None,
               dry_run: bool) -> PostResult:
    """The row-by-row path: the Python parser checks every row and reports each bad one."""
    result = PostResult(dry_run=dry_run)
    t0 = time.perf_counter()
    payments, result.diagnostics, records = staging.parse_files(loaded, files, profile, posting_day)
    result.timings["parse_check"] = time.perf_counter() - t0
    if not result.ok:
        return result
    with _ledger(loaded.root, result) as (con, scratch):
        if con is not None:
            staging.create_staged(con)
            staging.stage_payments(con, payments, scratch)
            _plan(loaded, con, records, posting_day, result, scratch, keep=True)
    return result


def _post_fast(loaded: LoadedBook, files: list[tuple[str, bytes]], posting_day: date, profile: str | None,
               result: PostResult) -> bool:
    """The vectorised path: DuckDB reads and checks every row, and the rows go from the
    staging table into the ledger without passing through the parser. False to fall back
    to the row-by-row path (nothing changed)."""
    import duckdb
    prof = loaded.book.payment_profiles.get(profile) if profile and loaded.book else None
    named = [(shown, raw, *archive_name(raw, posting_day)) for shown, raw in files]
    specs = staging.vectorised_files([(raw, name) for _, raw, name, _ in named], prof)
    if specs is None:
        return False  # quoted fields, blank lines, long lines...: the row-by-row reader
    records = [PaymentFile(name, sha, shown, spec.rows, len(raw), profile, raw)
               for (shown, raw, name, sha), spec in zip(named, specs)]
    t0 = time.perf_counter()
    with _ledger(loaded.root, result) as (con, scratch):
        if con is None:
            return False
        try:
            staging.create_staged(con)
            if not staging.stage_vectorised(con, scratch, facts_of(loaded), specs, prof, posting_day):
                return False
            result.timings["parse_check"] = time.perf_counter() - t0
            _plan(loaded, con, records, posting_day, result, scratch, keep=False)
        except duckdb.Error:
            return False  # the row-by-row path says what DuckDB could not take
        return result.ok  # a problem: the row-by-row path reports it at its line


@contextlib.contextmanager
def _ledger(root: Path, result: PostResult) -> Iterator[tuple]:
    """(connection, scratch folder) to post into: under the writer lock, the ledger (a ledger
    created here goes again if nothing was archived into it); for a dry run, the ledger read
    only (an empty one in memory when there is none yet) and a temporary folder outside the
    book. The connection is None, with E0420 in `result`, when the ledger is missing while the
    archive holds files."""
    path = ledger_path(root)
    with contextlib.ExitStack() as stack:
        if not result.dry_run:
            stack.enter_context(writer_lock(root))
        if not path.exists() and archived_files(root):
            result.diagnostics.append(diag("E0420", "the ledger is missing but payments/ holds archived files",
                                           str(path), "run `loanctl ledger rebuild` first"))
            yield None, None
            return
        if result.dry_run:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loanctl-")))
            con = open_for_read(root)
            if con is None:
                import duckdb
                con = duckdb.connect()
                migrate(con)
            stack.callback(con.close)
            yield con, scratch
            return
        fresh = not path.exists()
        con = connect(path)
        try:
            yield con, root / STATE_DIR
        finally:
            con.close()
            if fresh and not result.archived:
                for leftover in (path, path.with_name(path.name + ".wal")):
                    with contextlib.suppress(OSError):
                        leftover.unlink()


# --- the plan step both paths share --------------------------------------------------------
def _plan(loaded: LoadedBook, con, records: list[PaymentFile], posting_day: date, result: PostResult,
          scratch: Path, keep: bool) -> None:
    """Take the checked rows in `staged` through: one reading per file (E0430), duplicates and
    re-sent payments (E0412 for a reused id), reversals against what they reverse (E0437,
    E0438), allocation (kept in memory when `keep`) and no payment after a payoff (E0439), then
    — unless a dry run or nothing is new — the archive and one transaction. Problems go to
    `result.diagnostics`, and then nothing was written."""
    root = loaded.root
    t0 = time.perf_counter()
    result.diagnostics += profile_conflicts(con, root, records)
    if not result.ok:
        return
    old = ", ".join(f"p.{c}" for c in PAYMENT_COLUMNS.split(", "))
    matches = "FROM staged s JOIN payments p USING (payment_id)"
    same = staging.same_content("s", "p")
    order = {r.name: i for i, r in enumerate(records)}
    for file, line, *row in sorted(con.execute(f"SELECT s.file, s.line, {old} {matches} WHERE NOT ({same})")
                                   .fetchall(), key=lambda r: (order.get(r[0], 0), r[1])):
        was = payment_of(row)
        result.diagnostics.append(Diagnostic(
            "E0412", f"payment_id {was.payment_id!r} was posted before with different content "
                     f"({was.deal} {was.facility} {was.date} {was.amount} {was.type})",
            next((r.shown for r in records if r.name == file), file), line,
            hint="a payment id is never reused; use a new id"))
    if not result.ok:
        return
    result.duplicates = con.execute(f"SELECT count(*) {matches} WHERE {same}").fetchone()[0]
    # a re-sent payment belongs to the first file (by archive name) that carries it, as in a
    # rebuild, which replays the archive in name order
    reattribute = con.execute(f"SELECT s.payment_id, s.file, s.line {matches} WHERE {same} AND s.file < p.file"
                              ).fetchall()
    con.execute("DELETE FROM staged WHERE payment_id IN (SELECT payment_id FROM payments)")

    t1 = time.perf_counter()
    result.timings["check_ledger"] = t1 - t0
    if keep:
        result.posted = new = _staged_payments(con, "")
        in_order = new
    else:  # only the reversals and what they name: the whole file need not be in memory for this
        new = []
        in_order = _staged_payments(con, "WHERE type = 'reversal' OR payment_id IN "
                                         "(SELECT reverses FROM staged WHERE type = 'reversal')")
    rank = {r.name: i for i, r in enumerate(records)}  # the rows in the order of the files as posted
    if len(records) > 1:
        in_order = sorted(in_order, key=lambda p: (rank.get(p.file, -1), p.line))
    result.diagnostics += _at_rows(reversal_problems(in_order, _reversed_in_ledger(con)), records)
    if not result.ok:
        return
    if keep:
        _allocate_kept(loaded, con, records, result, scratch, new, reattribute, posting_day, t1)
    else:
        _allocate_streamed(loaded, con, records, result, scratch, reattribute, posting_day, t1)


def _allocate_kept(loaded: LoadedBook, con, records: list[PaymentFile], result: PostResult, scratch: Path,
                   new: list[Payment], reattribute: list[tuple], posting_day: date, t1: float) -> None:
    """Allocation kept in memory (the row-by-row path, a dry run), then the archive and the transaction."""
    by_facility = payments_of(con, sorted({(p.deal, p.facility) for p in new}))
    for p in new:
        by_facility[(p.deal, p.facility)].append(p)
    alloc_csv = None if result.dry_run else scratch / f".alloc-{os.getpid()}.csv"
    new_ids = {p.payment_id for p in new}
    closed: list[Problem] = []
    try:
        result.facilities, _, result.allocations = allocate(
            loaded, by_facility, alloc_csv, True, lambda fa, pays: closed.extend(paid_off_problems(fa, pays, new_ids)))
        result.timings["allocate"] = time.perf_counter() - t1
        result.diagnostics += _at_rows(closed, records)
        if result.dry_run or not (new or reattribute) or not result.ok:
            return
        _archive_and_record(loaded.root, con, records, result, {p.file for p in new}, reattribute, posting_day,
                            alloc_csv)
    finally:
        if alloc_csv is not None:
            with contextlib.suppress(OSError):
                alloc_csv.unlink()


def _allocate_streamed(loaded: LoadedBook, con, records: list[PaymentFile], result: PostResult, scratch: Path,
                       reattribute: list[tuple], posting_day: date, t1: float) -> None:
    """Allocation with only the unapplied cash kept: the payments of the facilities paid go
    from DuckDB to the allocating workers in files (`allocating.allocate_table`), so that this
    process never holds a large post's payments; then the archive, the transaction and the
    totals per deal (`_totals`)."""
    new_files = {f for (f,) in con.execute("SELECT DISTINCT file FROM staged").fetchall()}
    alloc = allocate_table(loaded, con, f"""
        SELECT {PAYMENT_COLUMNS}, false AS new FROM payments
        WHERE (deal, facility) IN (SELECT DISTINCT deal, facility FROM staged)
        UNION ALL SELECT {PAYMENT_COLUMNS}, true AS new FROM staged""", scratch)
    try:
        result.facilities = alloc.keys
        result.timings["allocate"] = time.perf_counter() - t1
        result.diagnostics += _at_rows(alloc.problems, records)
        if result.ok:
            result.totals = _totals(con, alloc.unapplied)
        if not (new_files or reattribute) or not result.ok:
            return
        _archive_and_record(loaded.root, con, records, result, new_files, reattribute, posting_day, alloc.files)
    finally:
        alloc.cleanup()


def _totals(con, unapplied: dict[str, Decimal]) -> list[DealTotal]:
    """Per deal, the staged payments: how many, their amount (at the currency's decimals, as
    `payment_of` reads each) and their unapplied cash (`unapplied`, by deal; Decimal 0 for none)."""
    return [DealTotal(deal, ccy, n, amount.quantize(quantum(ccy)), unapplied.get(deal, Decimal(0)))
            for deal, ccy, n, amount in con.execute(
                "SELECT deal, any_value(currency), count(*), sum(amount) FROM staged GROUP BY deal ORDER BY deal"
            ).fetchall()]


def _archive_and_record(root: Path, con, records: list[PaymentFile], result: PostResult, new_files: set[str],
                        reattribute: list[tuple], posting_day: date, alloc_files) -> None:
    t2 = time.perf_counter()
    carrying = new_files | {f for _, f, _ in reattribute}
    files = [r for r in records if r.name in carrying]
    for r in files:
        archive_file(root, r.name, r.raw, r.profile)
        result.archived.append(r.name)
    stored = _record(con, root, files, posting_day, reattribute, result.facilities, alloc_files)
    result.timings["insert"] = time.perf_counter() - t2 - stored
    result.timings["store_allocations"] = stored


def _staged_payments(con, where: str) -> list[Payment]:
    """The staged payments (`where` them), in archive order (file, line). Equal texts and dates
    are one object each (a large post holds a million payments in memory)."""
    cur = con.execute(f"SELECT payment_id, deal, facility, value_date, CAST(amount AS VARCHAR), currency, type, "
                      f"reference, file, line, reverses FROM staged {where} ORDER BY file, line")
    shared: dict = {}
    one = shared.setdefault
    out: list[Payment] = []
    while batch := cur.fetchmany(50_000):
        out += [payment_of((pid, one(deal, deal), one(fac, fac), one(day, day), amount, one(ccy, ccy), one(kind, kind),
                            ref, one(file, file), line, rev))
                for pid, deal, fac, day, amount, ccy, kind, ref, file, line, rev in batch]
    return out


def _reversed_in_ledger(con) -> dict[str, Payment]:
    """The ledger's payments the staged reversals name, and the ledger's reversals of them:
    what `reversal_problems` needs of the ledger (not all of it)."""
    rows = con.execute(f"""
        WITH named AS (SELECT DISTINCT reverses FROM staged WHERE type = 'reversal')
        SELECT {PAYMENT_COLUMNS} FROM payments
        WHERE payment_id IN (SELECT reverses FROM named)
           OR (type = 'reversal' AND reverses IN (SELECT reverses FROM named))""").fetchall()
    return {p.payment_id: p for p in map(payment_of, rows)}


def _at_rows(problems: list[Problem], records: list[PaymentFile]) -> list[Diagnostic]:
    """Problems across rows, each at its row's FILE:LINE (as the user named the file), in file order."""
    rank = {r.name: i for i, r in enumerate(records)}
    shown = {r.name: r.shown for r in records}
    return [Diagnostic(code, message, shown.get(p.file, p.file), p.line, hint=hint)
            for p, code, message, hint in sorted(problems, key=lambda x: (rank.get(x[0].file, -1), x[0].line))]


def _record(con, root: Path, files: list[PaymentFile], posting_day: date, reattribute: list[tuple],
            facilities: list[tuple[str, str]], alloc_csv: Path | list[Path]) -> float:
    """The one transaction: the files, the re-sent payments' first file, the new payments
    (from `staged`) and the affected facilities' allocations (from `alloc_csv`). Returns the
    seconds spent storing the allocations (the benchmark counts them apart from the payments)."""
    import duckdb
    try:
        before = payments_token(con)
        con.execute("BEGIN TRANSACTION")
        for r in files:
            con.execute("INSERT INTO payment_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [r.name, r.sha, Path(r.shown).name, posting_day, r.rows, r.size, r.profile])
        for pid, file, line in reattribute:
            con.execute("UPDATE payments SET file = ?, line = ? WHERE payment_id = ?", [file, line, pid])
        con.execute(f"INSERT INTO payments SELECT {PAYMENT_COLUMNS} FROM staged")
        changed = con.execute("SELECT DISTINCT deal, facility FROM staged").fetchall()
        if reattribute:
            changed += con.execute("SELECT DISTINCT deal, facility FROM payments WHERE payment_id IN "
                                   "(SELECT unnest(?))", [[pid for pid, _, _ in reattribute]]).fetchall()
        keep_payments_digests(con, changed, before)
        t = time.perf_counter()
        replace_allocations(con, facilities, alloc_csv)
        stored = time.perf_counter() - t
        con.execute("COMMIT")
        return stored
    except duckdb.Error as exc:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise DiagnosticError([diag("E0422", f"the ledger could not be written: {str(exc).splitlines()[0][:200]}",
                                    str(ledger_path(root)),
                                    "nothing was recorded; the file is archived: fix the cause and post it again, "
                                    "or run `loanctl ledger rebuild`")]) from None


def _follow_book(loaded: LoadedBook, profile: str | None, result: PostResult) -> None:
    """After a post committed: record the profile digests and refresh the facilities the book
    moved away from. Neither undoes the post: a failure here is a warning."""
    with contextlib.suppress(OSError):
        record_profile_digests(loaded, profile, result.archived)
    written = result.facilities if result.archived else []
    result.refreshed, warnings = refresh_or_warn(loaded, fresh=written)
    result.diagnostics += warnings
