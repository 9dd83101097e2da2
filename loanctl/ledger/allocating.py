"""Stored allocations: computing them facility by facility for the ledger (into a staging CSV
that the write transaction reads, or kept in memory for a dry run) and replacing a set of
facilities' rows. Allocation itself is a pure function (`loanctl.servicing.positions`)."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path

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
    return allocate_stream(loaded, ((k, by_facility.pop(k)) for k in sorted(by_facility)), path, keep, inspect)


def allocate_stream(loaded: LoadedBook, groups: Iterable[tuple[Facility, list[Payment]]], path: Path | None,
                    keep: bool, inspect: Callable[[FacilityAllocation, list[Payment]], None] | None = None
                    ) -> tuple[list[Facility], dict[str, Decimal], dict[Facility, FacilityAllocation]]:
    """`allocate` over (facility, its payments) pairs in facility order, as they come (one
    facility's payments in memory at a time: `ledger rebuild` streams them from DuckDB)."""
    keys: list[Facility] = []
    unapplied: dict[str, Decimal] = {}
    kept: dict[Facility, FacilityAllocation] = {}
    inputs: dict[str, tuple] = {}
    with open(path, "w", newline="", encoding="utf-8") if path else contextlib.nullcontext() as fh:
        w = csv.writer(fh, lineterminator="\n") if fh else None
        for (deal, facility), pays in groups:
            keys.append((deal, facility))
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


def staged_by_facility(con, table: str = "staged", batch: int = 50_000) -> Iterator[tuple[Facility, list[Payment]]]:
    """The payments of `table` facility by facility (in (deal, facility) order; each facility's
    in archive order: file, line), read in batches — never the whole table in Python at once."""
    cur = con.execute(f"SELECT {PAYMENT_COLUMNS} FROM {table} ORDER BY deal, facility, file, line")
    key: Facility | None = None
    pays: list[Payment] = []
    while rows := cur.fetchmany(batch):
        for r in rows:
            k = (r[1], r[2])
            if k != key:
                if key is not None:
                    yield key, pays
                key, pays = k, []
            pays.append(payment_of(r))
    if key is not None:
        yield key, pays
