"""Stored allocations and schedules following the book (SPEC §4.5, §10): fingerprints and
`ledger refresh`.

Stored allocations are a cache of a pure function of the book and the payments. Each
facility's row in `facility_inputs` holds the fingerprint (loanctl.source.fingerprints) of the
book inputs its allocations were computed from; a facility whose fingerprint differs from the
book's is stale. post-payments, query and `ledger refresh` recompute stale facilities;
`ledger check` reports those whose stored rows differ from a fresh allocation (E0440). The
same transaction brings each deal's stored schedules up to date (`stored_schedules`: every
deal whose fingerprint changed, with or without payments).
Reports and `schedule --actuals` allocate from the payments at hand and never read them.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterable

from ..diagnostics import Diagnostic, DiagnosticError
from ..model.records import LoadedBook
from ..servicing.positions import facility_inputs
from ..source.fingerprints import DealFingerprints
from .allocating import allocate, payments_of, replace_allocations
from .stored_positions import needs_pruning, prune_stored
from .stored_schedules import outdated_deals, update_schedules
from .db import SCHEMA_VERSION, STATE_DIR, connect, diag, ledger_path, writer_lock


def _stored_fingerprints(con) -> dict[tuple[str, str], str]:
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "facility_inputs" not in tables:
        return {}  # a ledger from before fingerprints: no facility is proven up to date
    return {(d, f): fp for d, f, fp in con.execute("SELECT deal, facility, fingerprint FROM facility_inputs")
            .fetchall()}


def outdated(loaded: LoadedBook, con, fps: DealFingerprints) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
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


def store_fingerprints(con, fps: DealFingerprints, keys: Iterable[tuple[str, str]]) -> None:
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
            stale, _ = outdated(loaded, con, fps)
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            prune = needs_pruning(con, fps)
            schedules = any(outdated_deals(loaded, con, fps))
        finally:
            con.close()
        # an older schema: migrate
        if not stale and not prune and not schedules and row and int(row[0]) >= SCHEMA_VERSION:
            return []
    alloc_csv = root / STATE_DIR / f".alloc-{os.getpid()}.csv"
    with writer_lock(root):
        con = connect(path)
        try:
            stale, _ = outdated(loaded, con, fps)
            todo = [k for k in stale if k not in fresh]
            keys, _, _ = allocate(loaded, payments_of(con, todo), alloc_csv, keep=False)
            try:
                con.execute("BEGIN TRANSACTION")
                replace_allocations(con, keys, alloc_csv)
                store_fingerprints(con, fps, [*keys, *(k for k in stale if k in fresh)])
                prune_stored(con, fps)  # stored report positions of changed deals, or corrupt ones
                update_schedules(con, loaded, fps, root / STATE_DIR)  # the schedules of changed deals
                con.execute("COMMIT")
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise DiagnosticError([diag("E0422", f"the ledger could not be refreshed: "
                                                     f"{str(exc).splitlines()[0][:200]}", str(path),
                                            "the ledger is as it was; run `loanctl ledger refresh` again")]) from None
            return keys
        finally:
            con.close()
            with contextlib.suppress(OSError):
                alloc_csv.unlink()


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
