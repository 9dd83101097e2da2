"""Stored allocations: computing them facility by facility for the ledger (into staging CSV
files that the write transaction reads, or kept in memory for a dry run) and replacing a set
of facilities' rows. Allocation itself is a pure function (`loanctl.servicing.positions`).

A large set of facilities is allocated in worker processes, in chunks of whole deals: a
post's and a rebuild's payments go out of DuckDB into one CSV file per chunk
(`allocate_table`), so that this process never holds them all; payments already in memory
(the benchmark's) are inherited by the workers at the fork (`allocate_groups`). A worker never touches DuckDB
(its state does not survive a fork); it writes each chunk's allocation rows to a file, and
the chunks are merged in facility order — the ledger is the same, row for row, as when one
process allocates them all (which it does below PARALLEL_FROM payments).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import groupby
from pathlib import Path

from ..forkmap import fork_map, worker_count
from ..model.records import LoadedBook
from ..servicing.allocation import FacilityAllocation, Payment
from ..servicing.crossrows import Problem, paid_off_problems
from ..servicing.positions import allocate_facility, facility_inputs
from .db import ALLOCATION_COLUMNS, PAYMENT_COLUMNS, payment_of, read_staged_csv, sql_path

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
    with open(path, "w", newline="", encoding="utf-8") if path else contextlib.nullcontext() as w:
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
            _write_rows(w, fa, deal, facility, unapplied, _DAYS)
    return keys, unapplied, kept


_DAYS: dict[date | None, str] = {None: ""}
"""ISO texts of dates (allocations repeat a few thousand dates)."""


def _write_rows(w, fa: FacilityAllocation, deal: str, facility: str, unapplied: dict[str, Decimal],
                days: dict[date | None, str]) -> None:
    """A facility's allocation rows (ALLOCATION_COLUMNS, as CSV lines: `csv_text`) to the text
    file `w` (None: none), and its unapplied cash into `unapplied` by payment id."""
    lines = []
    middle = f",{csv_text(deal)},{csv_text(facility)},"
    heads: dict[str, tuple[date, str]] = {}  # payment id → (its date, the line up to the due date)
    for seq, a in enumerate(fa.allocations):
        if a.component == "unapplied":
            unapplied[a.payment_id] = unapplied.get(a.payment_id, Decimal(0)) + a.amount
        if w is None:
            continue
        known = heads.get(a.payment_id)
        if known is None or known[0] != a.payment_date:
            known = heads[a.payment_id] = (a.payment_date, f"{csv_text(a.payment_id)}{middle}"
                                                           f"{_iso(days, a.payment_date)},")
        due = days.get(a.due_date)
        if due is None:
            due = _iso(days, a.due_date)
        applied = "" if a.applied_on is None else _iso(days, a.applied_on)
        lines.append(f"{known[1]}{due},{a.component},{a.amount},{seq},{applied}\n")
    if w is not None:
        w.write("".join(lines))


def _iso(days: dict[date | None, str], d: date | None) -> str:
    text = days.get(d)
    if text is None:
        text = days[d] = d.isoformat()  # type: ignore[union-attr]
    return text


def csv_text(value: str) -> str:
    """A field as `csv.writer` writes it (quoted when it holds a comma, a quote or a line break)."""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def replace_allocations(con, keys: list[Facility], paths: Path | list[Path]) -> None:
    """Inside the caller's transaction: the rows of these facilities become those staged in
    `paths` (read in order)."""
    if not keys:
        return
    con.execute("DELETE FROM allocations WHERE (deal, facility) IN (SELECT unnest(?), unnest(?))",
                [[d for d, _ in keys], [f for _, f in keys]])
    con.execute(f"INSERT INTO allocations SELECT * FROM {read_staged_csv(paths, ALLOCATION_COLUMNS)}")


# --- a table of payments, in chunks, in worker processes --------------------------------------
PARALLEL_FROM = 20_000
"""Payments; below this one process allocates them (starting workers costs more than it saves)."""
CHUNKS_PER_WORKER = 8


@dataclass
class TableAllocation:
    """What `allocate_table` computed: the facilities (in order), the unapplied cash of the
    payments marked new by deal, the problems of those payments (`paid_off_problems`), and the
    allocation CSV files to load, in order (`replace_allocations`)."""

    keys: list[Facility] = field(default_factory=list)
    unapplied: dict[str, Decimal] = field(default_factory=dict)
    """By deal: Decimal 0 plus each new payment's unapplied cash (only the deals where some
    stayed unapplied; a million payments' amounts never come back from the workers)."""
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for path in self.files:
            with contextlib.suppress(OSError):
                path.unlink()


def allocate_table(loaded: LoadedBook, con, source: str, scratch: Path, workers: int | None = None
                   ) -> TableAllocation:
    """Allocate every facility of the payments `source` selects (SQL: PAYMENT_COLUMNS and `new`,
    a boolean: a payment being posted, whose problems across rows are wanted), in facility
    order, into allocation CSV files in `scratch`. With `workers` > 1 (default: the machine's
    cores, at most 4) and at least PARALLEL_FROM payments, in worker processes. The caller
    removes the files (`cleanup`) once loaded."""
    out = TableAllocation()
    con.execute(f"CREATE OR REPLACE TEMP TABLE alloc_input AS SELECT {PAYMENT_COLUMNS}, new FROM ({source})")
    counts = con.execute("SELECT deal, facility, count(*) FROM alloc_input GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    total = sum(n for *_, n in counts)
    n = workers if workers is not None else worker_count()
    n = n if total >= PARALLEL_FROM else 1
    chunks = _chunks(counts, total, n)
    tag = f"{os.getpid()}-{id(out)}"
    job = _Job(loaded, [], [])
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE alloc_chunks (deal VARCHAR, chunk INTEGER)")
        deals = [(d, i) for i, chunk in enumerate(chunks) for d in dict.fromkeys(k[0] for k in chunk)]
        if deals:
            con.execute("INSERT INTO alloc_chunks SELECT unnest(?), unnest(?)",
                        [[d for d, _ in deals], [i for _, i in deals]])
        con.execute("CREATE OR REPLACE TEMP TABLE alloc_parts AS SELECT a.*, c.chunk FROM alloc_input a "
                    "JOIN alloc_chunks c USING (deal)")
        con.execute("DROP TABLE alloc_input")
        con.execute("DROP TABLE alloc_chunks")
        for i in range(len(chunks)):
            job.inputs.append(scratch / f".alloc-{tag}-in{i}.csv")
            job.outputs.append(scratch / f".alloc-{tag}-{i}.csv")
            out.files += [job.outputs[-1]]
            con.execute(f"COPY (SELECT {PAYMENT_COLUMNS}, new FROM alloc_parts WHERE chunk = {i}) "
                        f"TO '{sql_path(job.inputs[-1])}' (FORMAT csv, HEADER false)")
        con.execute("DROP TABLE alloc_parts")
        _run(job, out, n)
    except BaseException:
        out.cleanup()
        raise
    finally:
        for path in job.inputs:
            with contextlib.suppress(OSError):
                path.unlink()
    return out


def allocate_groups(loaded: LoadedBook, groups: dict[Facility, tuple[list[Payment], list[Payment]]], scratch: Path,
                    workers: int | None = None) -> TableAllocation:
    """`allocate_table` for payments already in memory (a post's): (the ledger's, the new) of
    each facility. The workers inherit them at the fork — nothing is written out or read back."""
    out = TableAllocation()
    counts = [(d, f, len(a) + len(b)) for (d, f), (a, b) in sorted(groups.items())]
    total = sum(n for *_, n in counts)
    n = workers if workers is not None else worker_count()
    n = n if total >= PARALLEL_FROM else 1
    tag = f"{os.getpid()}-{id(out)}"
    job = _Job(loaded, [], [], groups, _chunks(counts, total, n))
    job.outputs = [scratch / f".alloc-{tag}-{i}.csv" for i in range(len(job.chunks))]
    out.files = list(job.outputs)
    try:
        _run(job, out, n)
    except BaseException:
        out.cleanup()
        raise
    return out


def _run(job: _Job, out: TableAllocation, workers: int) -> None:
    """Every chunk of `job`, in worker processes when more than one, merged into `out` in order."""
    chunks = len(job.outputs)
    if workers > 1 and chunks > 1:
        results = _in_workers(job, chunks, workers)
    else:
        results = [_allocate_chunk(i, job) for i in range(chunks)]
    for keys, unapplied, problems in results:
        out.keys += keys
        for deal, amount in unapplied.items():  # a deal is in one chunk: no sum across chunks
            out.unapplied[deal] = out.unapplied.get(deal, Decimal(0)) + amount
        out.problems += problems


def _chunks(counts: list[tuple[str, str, int]], total: int, workers: int) -> list[list[Facility]]:
    """The facilities in chunks of whole deals (a deal's terms are computed once), about
    total / (workers × CHUNKS_PER_WORKER) payments each (one chunk for one worker)."""
    size = total if workers <= 1 else max(1, total // (workers * CHUNKS_PER_WORKER))
    chunks: list[list[Facility]] = []
    current: list[Facility] = []
    filled = 0
    for deal, group in groupby(counts, key=lambda c: c[0]):
        if current and filled >= size:
            chunks.append(current)
            current, filled = [], 0
        for _, facility, k in group:
            current.append((deal, facility))
            filled += k
    if current:
        chunks.append(current)
    return chunks


@dataclass
class _Job:
    loaded: LoadedBook
    inputs: list[Path]
    """Per chunk, the CSV file of its payments (`allocate_table`)..."""
    outputs: list[Path]
    groups: dict[Facility, tuple[list[Payment], list[Payment]]] | None = None
    """... or the payments in memory (`allocate_groups`), with the facilities of each chunk."""
    chunks: list[list[Facility]] = field(default_factory=list)


def _in_workers(job: _Job, chunks: int, workers: int) -> list[tuple]:
    """Every chunk of `job` in worker processes (they inherit the book, and a post's payments);
    a chunk whose exception cannot come back is allocated here, to meet it as it is."""
    return list(fork_map(functools.partial(_allocate_chunk, job=job), range(chunks), workers, rerun=True))


def _allocate_chunk(i: int, job: _Job) -> tuple[list[Facility], dict[str, Decimal], list[Problem]]:
    """Allocate the facilities of chunk `i` into its output file: (facilities, the new
    payments' unapplied cash by deal, problems of the new payments)."""
    keys: list[Facility] = []
    unapplied: dict[str, Decimal] = {}
    problems: list[Problem] = []
    inputs: dict[str, tuple] = {}
    days: dict[date | None, str] = {None: ""}
    with open(job.outputs[i], "w", newline="", encoding="utf-8") as w:
        for (deal, facility), pays, new in _chunk_payments(i, job):
            keys.append((deal, facility))
            if deal not in inputs:
                inputs.clear()
                inputs[deal] = facility_inputs(job.loaded, deal)
            terms, builder = inputs[deal]
            fa = allocate_facility(job.loaded, deal, facility, pays, terms=terms, builder=builder)
            if new and fa.payoff is not None:
                problems += paid_off_problems(fa, pays, {p.payment_id for p in new})
            left: dict[str, Decimal] = {}
            _write_rows(w, fa, deal, facility, left, days)
            for p in new:
                if p.payment_id in left:
                    unapplied[deal] = unapplied.get(deal, Decimal(0)) + left[p.payment_id]
    return keys, unapplied, problems


def _chunk_payments(i: int, job: _Job) -> Iterator[tuple[Facility, list[Payment], list[Payment]]]:
    """(facility, its payments, the new ones among them) of chunk `i`, in facility order."""
    if job.groups is not None:
        for key in job.chunks[i]:
            old, new = job.groups[key]
            yield key, old + new, new
        return
    parsed: dict[str, date] = {}
    groups: dict[Facility, tuple[Facility, list[Payment], list[Payment]]] = {}
    with open(job.inputs[i], newline="", encoding="utf-8") as fh:
        for r in csv.reader(fh):  # the rows in no particular order: a facility's are sorted by allocation
            group = groups.get((r[1], r[2]))
            if group is None:
                group = groups[(r[1], r[2])] = ((r[1], r[2]), [], [])
            (deal, facility), pays, new = group
            day = parsed.get(r[3])
            if day is None:
                day = parsed[r[3]] = date.fromisoformat(r[3])
            pays.append(payment_of((r[0], deal, facility, day, Decimal(r[4]), r[5], r[6], r[7], r[8],
                                    int(r[9]) if r[9] else 0, r[10])))
            if r[11] == "true":
                new.append(pays[-1])
    for key in sorted(groups):
        yield groups.pop(key)


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
