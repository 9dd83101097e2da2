"""Stored allocations: computing them facility by facility for the ledger (into a staging CSV
that the write transaction reads, or kept in memory for a dry run) and replacing a set of
facilities' rows. Allocation itself is a pure function (`loanctl.servicing.positions`)."""

from __future__ import annotations

import contextlib
import csv
from decimal import Decimal
from pathlib import Path
from typing import Callable

from ..model.records import LoadedBook
from ..servicing.allocation import FacilityAllocation, Payment
from ..servicing.positions import allocate_facility, facility_inputs
from .db import ALLOCATION_COLUMNS, PAYMENT_COLUMNS, payment_of, read_staged_csv

Facility = tuple[str, str]


def allocate(loaded: LoadedBook, by_facility: dict[Facility, list[Payment]], path: Path | None, keep: bool,
             inspect: Callable[[FacilityAllocation, list[Payment]], None] | None = None
             ) -> tuple[list[Facility], dict[str, Decimal], dict[Facility, FacilityAllocation]]:
    """Allocate facility by facility, writing the rows to the staging CSV `path` (unless None)
    and keeping the FacilityAllocations only when `keep` (a million payments' allocations
    never sit in memory together otherwise). Empties `by_facility` as it goes; returns
    (facilities, unapplied by payment id, the kept allocations). `inspect(allocation, payments)`,
    if given, sees each facility's allocation (the plan step's checks across rows)."""
    keys = sorted(by_facility)
    unapplied: dict[str, Decimal] = {}
    kept: dict[Facility, FacilityAllocation] = {}
    inputs: dict[str, tuple] = {}
    with open(path, "w", newline="", encoding="utf-8") if path else contextlib.nullcontext() as fh:
        w = csv.writer(fh, lineterminator="\n") if fh else None
        for deal, facility in keys:
            pays = by_facility.pop((deal, facility))
            if deal not in inputs:
                inputs.clear()  # deals come in order: keep one deal's terms at a time
                inputs[deal] = facility_inputs(loaded, deal)
            terms, builder = inputs[deal]
            fa = allocate_facility(loaded, deal, facility, pays, terms=terms, builder=builder)
            if inspect is not None:
                inspect(fa, pays)
            if keep:
                kept[(deal, facility)] = fa
            for seq, a in enumerate(fa.allocations):
                if w is not None:
                    w.writerow((a.payment_id, deal, facility, a.payment_date.isoformat(),
                                a.due_date.isoformat() if a.due_date else "", a.component, str(a.amount), seq,
                                a.applied_on.isoformat() if a.applied_on else ""))
                if a.component == "unapplied":
                    unapplied[a.payment_id] = unapplied.get(a.payment_id, Decimal(0)) + a.amount
    return keys, unapplied, kept


def replace_allocations(con, keys: list[Facility], path: Path) -> None:
    """Inside the caller's transaction: the rows of these facilities become those staged in `path`."""
    if not keys:
        return
    con.execute("DELETE FROM allocations WHERE (deal, facility) IN (SELECT unnest(?), unnest(?))",
                [[d for d, _ in keys], [f for _, f in keys]])
    con.execute(f"INSERT INTO allocations SELECT * FROM {read_staged_csv(path, ALLOCATION_COLUMNS)}")


def payments_of(con, keys: list[Facility], table: str = "payments") -> dict[Facility, list[Payment]]:
    """The payments in `table` of these facilities."""
    out: dict[Facility, list[Payment]] = {k: [] for k in keys}
    if not keys:
        return out
    rows = con.execute(f"SELECT {PAYMENT_COLUMNS} FROM {table} WHERE (deal, facility) IN (SELECT unnest(?), unnest(?))",
                       [[d for d, _ in keys], [f for _, f in keys]]).fetchall()
    for r in rows:
        out[(r[1], r[2])].append(payment_of(r))
    return out
