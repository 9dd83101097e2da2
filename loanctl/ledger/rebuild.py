"""`ledger rebuild` and archive replay (SPEC §4.2): the archive read back file by file in name
order — each with the payment profile it was posted with — into a fresh ledger that is swapped
in atomically; and the same replay over the archive as committed at a git revision, for
`report --rev`, and for the repayments `validate` checks a revolver's draws against. Large
files are read the vectorised way, with the same guards and fallback as posting (`staging`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from ..diagnostics import Diagnostic, DiagnosticError
from ..model.records import LoadedBook
from ..servicing.allocation import Payment, live_payments
from ..servicing.paymentfile import parse_payment_file
from ..servicing.rowrules import facts_of
from ..source.fingerprints import PROFILE_SIDECAR_SUFFIX, DealFingerprints
from . import staging
from .allocating import allocate_table, replace_allocations
from .archive import PaymentFile, archived_files, archived_profile, is_archived_payment_file
from .db import (PAYMENT_COLUMNS, STATE_DIR, connect, diag, ledger_path, payment_of, sql_path, writer_lock)
from .refresh import store_fingerprints
from .stored_positions import keep_payments_digests
from .stored_schedules import carry_over, update_schedules

MAX_ARCHIVED_BYTES = 1 << 31
"""An archived file larger than this is not read from a git revision."""


@dataclass(frozen=True)
class ArchivedFile:
    """One file of the archive, as read from payments/ or from a git revision."""

    name: str
    """Its archive name (the payments' `file`)."""
    raw: bytes
    profile: str | None
    """The profile its `.profile` sidecar names; None: none, and the header may tell (a file
    archived before sidecars existed)."""
    shown: str
    """How diagnostics name it."""


def replay(loaded: LoadedBook, con, files: list[ArchivedFile], scratch: Path
           ) -> tuple[list[PaymentFile], list[Diagnostic]]:
    """Stage the payments of the archived `files` in `staged` (temporary, on `con`), file by
    file in name order: a payment id belongs to the first file that has it; a later file with
    the same id and other content is E0412. Rows are read as archived (no admission rules).
    Returns (file records, diagnostics)."""
    facts = facts_of(loaded)
    profiles = loaded.book.payment_profiles if loaded.book else {}
    staging.create_staged(con)
    records: list[PaymentFile] = []
    diags: list[Diagnostic] = []
    for f in sorted(files, key=lambda f: f.name):
        prof_name = f.profile if f.profile is not None else staging.reading_profile(f.raw, profiles)
        prof = profiles.get(prof_name) if prof_name else None
        staging.create_staged(con, "incoming")
        specs = (staging.vectorised_files([(f.raw, f.name)], prof) if len(f.raw) >= staging.FAST_PATH_BYTES
                 else None)
        if specs is not None and staging.stage_vectorised(con, scratch, facts, specs, prof, None, "incoming"):
            rows = specs[0].rows
        else:
            payments, found = parse_payment_file(f.shown, f.raw, facts, prof, f.name)
            diags += found
            staging.stage_payments(con, payments, scratch, "incoming")
            rows = len(payments)
        for pid, line, first in con.execute(
                "SELECT i.payment_id, i.line, s.file FROM incoming i JOIN staged s USING (payment_id) "
                f"WHERE NOT ({staging.same_content('i', 's')}) ORDER BY i.line").fetchall():
            diags.append(Diagnostic("E0412", f"payment_id {pid!r} differs from {first}", f.name, line))
        if con.execute("SELECT count(*) FROM staged").fetchone()[0]:
            con.execute(f"INSERT INTO staged SELECT {PAYMENT_COLUMNS} FROM incoming "
                        "WHERE payment_id NOT IN (SELECT payment_id FROM staged)")
        else:  # the first file's rows: the table itself (no copy)
            con.execute("DROP TABLE staged")
            con.execute("ALTER TABLE incoming RENAME TO staged")
        records.append(PaymentFile(f.name, hashlib.sha256(f.raw).hexdigest(), f.name, rows, len(f.raw), prof_name,
                                   f.raw))
    con.execute("DROP TABLE IF EXISTS incoming")
    return records, diags


def archived_payments_at(loaded: LoadedBook, tree) -> tuple[list[Payment], list[Diagnostic]]:
    """The payments of the archive as committed at a git revision (`tree`, a GitTree), replayed
    as `ledger rebuild` replays payments/ (sidecar profiles included); (payments, diagnostics).
    Nothing is written in the book."""
    files = []
    for name, is_dir in tree.list_dir("payments"):
        if is_dir or not is_archived_payment_file(name):
            continue
        raw = tree.read(f"payments/{name}", MAX_ARCHIVED_BYTES)
        if not isinstance(raw, bytes):
            continue
        side = tree.read(f"payments/{name}{PROFILE_SIDECAR_SUFFIX}", 4096)
        profile = side.decode("utf-8", "replace").strip() if isinstance(side, bytes) else None
        files.append(ArchivedFile(name, raw, profile, tree.display(f"payments/{name}")))
    return _replayed(loaded, files)


def _replayed(loaded: LoadedBook, files: list[ArchivedFile]) -> tuple[list[Payment], list[Diagnostic]]:
    """`replay` into a scratch DuckDB in memory: (the payments staged, in file order; diagnostics)."""
    import duckdb
    with tempfile.TemporaryDirectory(prefix="loanctl-") as scratch:
        con = duckdb.connect()
        try:
            con.execute(f"SET temp_directory = '{sql_path(Path(scratch))}'")
            _, diags = replay(loaded, con, files, Path(scratch))
            payments = [payment_of(r) for r in
                        con.execute(f"SELECT {PAYMENT_COLUMNS} FROM staged ORDER BY file, line").fetchall()]
        finally:
            con.close()
    return payments, diags


def archived_repayments(loaded: LoadedBook, files: list[ArchivedFile]) -> dict[tuple[str, str], list[tuple[date, Decimal]]]:
    """(date, amount) of the repayments in force in the archived `files` (a reversed one is
    not), by (deal, facility) — what validate checks a revolver's draws against (SPEC §4.3).
    The files are replayed as a rebuild replays them; rows that do not read cleanly (or name a
    deal `loaded` does not hold) are left to `ledger check` and `ledger rebuild`."""
    if not files:
        return {}
    payments, _ = _replayed(loaded, files)
    out: dict[tuple[str, str], list[tuple[date, Decimal]]] = defaultdict(list)
    for p in live_payments(payments):
        if p.type == "repayment":
            out[(p.deal, p.facility)].append((p.date, p.amount))
    return dict(out)


def archive_repaid():
    """`validation.checks.Repaid` over a book's archive, with its `principal`
    (`validation.events.PrincipalPaid`, credit events). Both are asked about one deal at a
    time, by a `LoadedBook` that may hold only the deals being checked (a validate worker, or
    validate's kept-results path), so each deal's answer is replayed from the archived files
    that name it (read once, on first use) with that deal loaded — never from a replay made
    while another part of the book was loaded."""
    cache: dict = {}

    def archive(loaded: LoadedBook, deal: str, needles: tuple[bytes, ...] = ()) -> list[ArchivedFile]:
        if "raw" not in cache:
            cache["raw"] = [(path, path.read_bytes()) for path in archived_files(loaded.root)]
        key = deal.encode()
        return [ArchivedFile(path.name, raw, archived_profile(loaded.root, path.name), str(path))
                for path, raw in cache["raw"]
                if key in raw and (not needles or any(n in raw.lower() for n in needles))]

    def repaid(loaded: LoadedBook, deal: str, facility: str) -> list[tuple[date, Decimal]]:
        if ("repaid", deal) not in cache:
            cache[("repaid", deal)] = archived_repayments(loaded, archive(loaded, deal, (b"repayment", b"reversal")))
        return cache[("repaid", deal)].get((deal, facility), [])

    def principal(loaded: LoadedBook, deal: str, facility: str) -> list[tuple[date, Decimal]]:
        if ("payments", deal) not in cache:
            files = archive(loaded, deal)
            cache[("payments", deal)] = _replayed(loaded, files)[0] if files else []
        return archived_principal(loaded, cache[("payments", deal)], deal, facility)
    repaid.principal = principal  # type: ignore[attr-defined]
    return repaid


def archived_principal(loaded: LoadedBook, payments: list[Payment], deal: str, facility: str
                       ) -> list[tuple[date, Decimal]]:
    """(date applied, amount) of the principal the archived payments settle on a facility."""
    from ..servicing.allocation import PRINCIPAL_COMPONENTS
    from ..engine.schedule import ScheduleProblem
    from ..servicing.positions import allocate_facility
    if deal not in loaded.deals:
        return []
    mine = [p for p in payments if p.deal == deal and p.facility == facility]
    try:
        fa = allocate_facility(loaded, deal, facility, mine)
    except ScheduleProblem:  # terms that cannot be scheduled are reported by their own checks
        return []
    return [(a.on, a.amount) for a in fa.allocations if a.component in PRINCIPAL_COMPONENTS]


def rebuild(loaded: LoadedBook, posting_day: date) -> tuple[int, int, list[Diagnostic]]:
    """Replay payments/ into a fresh ledger and swap it in atomically: (files, payments, diags).
    An archived file keeps the posting day its name begins with; `posting_day` (the day of
    the rebuild, passed in by the caller) is recorded for a name that carries none."""
    import duckdb
    try:
        return _rebuild(loaded, posting_day)
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
        raise DiagnosticError([diag("E0422", f"the rebuild could not be written: {text}",
                                    str(ledger_path(loaded.root)),
                                    "free disk space and run it again; the previous ledger is unchanged")]) from None


def _rebuild(loaded: LoadedBook, posting_day: date) -> tuple[int, int, list[Diagnostic]]:
    root = loaded.root
    with writer_lock(root):
        files = [ArchivedFile(p.name, p.read_bytes(), archived_profile(root, p.name), str(p))
                 for p in archived_files(root)]
        state = root / STATE_DIR
        target = ledger_path(root)
        tmp = target.with_name(f".rebuild-{os.getpid()}.duckdb")
        alloc = None
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        con = connect(tmp)
        done = False
        try:
            records, diags = replay(loaded, con, files, state)
            errors = [d for d in diags if d.is_error]
            if errors:
                return 0, 0, errors
            # facility by facility (in worker processes when large): memory holds one facility's payments
            alloc = allocate_table(loaded, con, "SELECT *, false AS new FROM staged", state)
            fps = DealFingerprints(loaded)
            carry_over(con, target, loaded, fps)  # the previous ledger's schedules still of the book
            con.execute("BEGIN TRANSACTION")
            for r in records:
                con.execute("INSERT INTO payment_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [r.name, r.sha, r.name, posting_day, r.rows, r.size, r.profile])
            con.execute(f"INSERT INTO payments SELECT {PAYMENT_COLUMNS} FROM staged")
            keep_payments_digests(con, None, None)
            replace_allocations(con, alloc.keys, alloc.files)
            update_schedules(con, loaded, fps, state)  # the other deals' schedules (stored_schedules)
            con.execute("COMMIT")
            n_payments = con.execute("SELECT count(*) FROM payments").fetchone()[0]
            store_fingerprints(con, fps, alloc.keys)
            con.execute("UPDATE payment_files SET posted_on = CAST(substr(file, 1, 10) AS DATE) "
                        "WHERE regexp_matches(file, '^\\d{4}-\\d{2}-\\d{2}-')")
            con.execute("CHECKPOINT")
            done = True
        finally:
            con.close()
            if alloc is not None:
                alloc.cleanup()
            if not done:
                for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
        os.replace(tmp, target)
        with contextlib.suppress(OSError):
            target.with_name(target.name + ".wal").unlink()
        return len(files), n_payments, []
