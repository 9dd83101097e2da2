"""`ledger check` (SPEC §4.2, §4.5): the archive against the ledger, allocations against
payments and against the book as it is now, no orphans. Reads only."""

from __future__ import annotations

import hashlib

from ..diagnostics import Diagnostic
from ..model.records import LoadedBook
from ..servicing.positions import allocate_facility, facility_inputs
from ..source.fingerprints import DealFingerprints
from .allocating import payments_of
from .archive import archive_dir, archived_files
from .db import diag, ledger_path, open_for_read
from .refresh import outdated
from .stored_positions import check_stored
from .stored_schedules import check_schedules

MAX_STALE_REPORTED = 100


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
                diags.append(diag("E0423", f"archived file {p.name} is not in the ledger", str(p),
                                  "an interrupted post: run `loanctl ledger rebuild` (or post the file again)"))
            elif hashlib.sha256(p.read_bytes()).hexdigest() != in_ledger[p.name]:
                diags.append(diag("E0423", f"archived file {p.name} changed after posting", str(p),
                                  "archived files are never edited; restore it from git"))
        names = {p.name for p in archived}
        for name in in_ledger:
            if name not in names:
                diags.append(diag("E0423", f"ledger file {name} is missing from payments/", str(archive_dir(root)),
                                  "restore it from git, or run `loanctl ledger rebuild`"))
        for pid, paid, alloc in con.execute(
                "SELECT p.payment_id, p.amount, coalesce(sum(a.amount), 0) FROM payments p "
                "LEFT JOIN allocations a USING (payment_id) GROUP BY p.payment_id, p.amount "
                "HAVING p.amount <> coalesce(sum(a.amount), 0) ORDER BY 1 LIMIT 100").fetchall():
            diags.append(diag("E0423", f"payment {pid}: allocations total {alloc}, payment is {paid}",
                              str(ledger_path(root)), "run `loanctl ledger rebuild`"))
        for (pid,) in con.execute("SELECT DISTINCT a.payment_id FROM allocations a ANTI JOIN payments p "
                                  "USING (payment_id) ORDER BY 1 LIMIT 100").fetchall():
            diags.append(diag("E0423", f"allocation rows for unknown payment {pid}", str(ledger_path(root)),
                              "run `loanctl ledger rebuild`"))
        for (pid, n) in con.execute("SELECT payment_id, count(*) FROM payments GROUP BY 1 HAVING count(*) > 1 "
                                    "ORDER BY 1 LIMIT 100").fetchall():
            diags.append(diag("E0423", f"payment {pid} recorded {n} times", str(ledger_path(root)),
                              "run `loanctl ledger rebuild`"))
        diags += _check_follows_book(loaded, con)
        diags += check_stored(loaded, con)
        diags += check_schedules(loaded, con)
    finally:
        con.close()
    return diags


def _check_follows_book(loaded: LoadedBook, con) -> list[Diagnostic]:
    """E0440 for each facility whose stored allocations differ from a fresh allocation over
    the book as it is now (only facilities whose fingerprint changed are recomputed);
    E0441 for payments of a deal or facility the book no longer has."""
    fps = DealFingerprints(loaded)
    stale, orphans = outdated(loaded, con, fps)
    diags = [diag("E0441", f"the ledger holds payments of deal '{d}' facility '{f}', which the book no longer has",
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
        fa = allocate_facility(loaded, deal, facility, payments_of(con, [key])[key], terms=terms, builder=builder)
        stored = con.execute("SELECT payment_id, value_date, due_date, component, amount FROM allocations "
                             "WHERE deal = ? AND facility = ? ORDER BY seq", [deal, facility]).fetchall()
        if stored != [(a.payment_id, a.payment_date, a.due_date, a.component, a.amount) for a in fa.allocations]:
            behind.append(key)
    for deal, facility in behind[:MAX_STALE_REPORTED]:
        diags.append(diag("E0440", f"stored allocations of deal '{deal}' facility '{facility}' no longer follow "
                                   "the book (its terms, amendments, fixings, calendars, rounding, waterfall "
                                   "or unapplied-cash policy changed after they were computed)",
                          loaded.tree.display(loaded.deals[deal].rel),
                          "run `loanctl ledger refresh` (post-payments and query also refresh)"))
    if len(behind) > MAX_STALE_REPORTED:
        diags.append(diag("E0440", f"… and {len(behind) - MAX_STALE_REPORTED} more facilities with stale "
                                   "allocations", str(ledger_path(loaded.root)), "run `loanctl ledger refresh`"))
    return diags
