"""The rows of each exported table, computed by the library's own public functions — the
report's positions (`reports.build`), the journal (`accounting.journal`), schedules
(`engine.deal`), allocations (`servicing.positions`) — so the export always shows what
`report`, `journal` and `schedule` show, whatever those come to hold.

The payments are the ledger's: with a ledger holding stored rows (`StoredAsOf`) they are never
loaded whole into this process — the payments table is copied by DuckDB, allocations and
positions read the payments of the facilities they compute (`Payments.of`), and the journal's
workers read their own deals' (`stream_journal(root=…)`, as `loanctl journal` does).

A table is a name, its columns (name, kind) and its rows (tuples in column order). Kinds:
text · date · int · bool · money (DECIMAL at the export's money scale) · decimal (DECIMAL at
the scale its values need) · text_list. Schedules and allocations the ledger holds exactly
for the export's date are copied from it by DuckDB (`ledger.stored_schedules`) rather than
computed again. A table with a `currency` column is partitioned by it
when it is one of the large ones (`PARTITIONED`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from ..accounting.journal import stream_journal
from ..engine.deal import deal_terms, schedule_deal
from ..ledger.stored_schedules import StoredAsOf, allocation_rows_sql, payment_rows_sql, schedule_rows_sql
from ..model.documents import FUNDED_OR_LATER
from ..model.records import LoadedBook
from ..reports.build import (build_report, deals_to_compute, facilities_to_compute, open_report_store,
                             resolve_scope, scope_deals)
from ..servicing.allocation import Payment
from ..servicing.positions import MONEY, allocate_facility, facility_inputs

Facility = tuple[str, str]
CHUNK_DEALS = 500
"""Deals whose payments are read from the ledger at a time for the engine's allocations."""

TABLES = ("deals", "facilities", "schedules", "payments", "allocations", "positions", "journal")
PARTITIONED = {"schedules", "payments", "allocations", "journal"}
"""The tables that grow with the book's history: one folder per currency (hive style, currency=USD/)."""


@dataclass
class Table:
    name: str
    columns: list[tuple[str, str]]
    rows: Iterable[tuple] = ()
    """In column order; produced as the table is written (a large table never sits in memory whole)."""
    ledger_sql: str | None = None
    """Besides `rows`, the rows the ledger holds exactly (SQL over the attached ledger: the
    columns by name, and `_k`, the order of a row within its deal — the first column; `rows`
    then hold whole other deals); DuckDB copies them without Python seeing them."""
    ledger_rows: int = 0
    """How many rows `ledger_sql` gives (a different count means the ledger changed meanwhile)."""
    complete: Callable[[], Iterable[tuple]] | None = None
    """Every row from the engine, for when the ledger part cannot be used after all."""
    order_by: str | None = None
    """The order of a table with a ledger part (default: its first column, then `_k`)."""
    lines: Iterable[str] | None = None
    """Instead of `rows`: the rows already as the staged CSV's text (`export.parquet.stage_text`
    of each value, joined by commas; a line a row, each ending in a newline)."""

    @property
    def partitioned(self) -> bool:
        return self.name in PARTITIONED and any(c == "currency" for c, _ in self.columns)


class Payments:
    """The payments up to the export's date: a list given whole (`Payments(as_of, items)`), or
    the ledger's of the book at `root`, read only where they are needed (`Payments(as_of,
    root=root)`) — never all at once but for a table that needs every one."""

    def __init__(self, as_of: date, items: Iterable[Payment] | None = None, root: Path | None = None):
        self.as_of = as_of
        self.items = None if items is None else [p for p in items if p.date <= as_of]
        self.root = None if items is not None else root

    def all(self) -> list[Payment]:
        """Every payment up to the date."""
        if self.items is not None:
            return self.items
        from ..ledger.db import ledger_payments
        return [p for p in ledger_payments(self.root) if p.date <= self.as_of]

    def of(self, keys: Iterable[Facility]) -> dict[Facility, list[Payment]]:
        """The payments up to the date of these facilities."""
        keys = sorted(set(keys))
        if self.items is not None:
            wanted = set(keys)
            out: dict[Facility, list[Payment]] = defaultdict(list)
            for p in self.items:
                if (p.deal, p.facility) in wanted:
                    out[(p.deal, p.facility)].append(p)
            return out
        from ..ledger.allocating import payments_of
        from ..ledger.db import open_for_read
        con = open_for_read(self.root) if keys else None
        if con is None:
            return {}
        try:
            return {k: [p for p in ps if p.date <= self.as_of] for k, ps in payments_of(con, keys).items()}
        finally:
            con.close()


def _upto(payments: Payments | Iterable[Payment], as_of: date) -> Payments:
    if isinstance(payments, Payments):
        if payments.as_of != as_of:
            raise ValueError(f"payments up to {payments.as_of} for an export as of {as_of}")
        return payments
    return Payments(as_of, payments)


def deals_table(loaded: LoadedBook) -> Table:
    t = Table("deals", [("deal", "text"), ("name", "text"), ("borrower", "text"), ("borrower_name", "text"),
                        ("status", "text"), ("currency", "text"), ("facilities", "int"), ("amendments", "int")])
    entities = loaded.entities

    def rows():
        for deal_id, record in sorted(loaded.deals.items()):
            d = record.deal
            borrower = entities.get(d.borrower)
            yield (deal_id, d.name, d.borrower, borrower.name if borrower else None, d.status, d.currency,
                   len(d.facilities), len(record.amendments))
    t.rows = rows()
    return t


def facilities_table(loaded: LoadedBook, as_of: date) -> Table:
    """Every facility's terms in force on `as_of` (amendments effective by then applied)."""
    t = Table("facilities", [("deal", "text"), ("facility", "text"), ("currency", "text"), ("type", "text"),
                             ("commitment", "money"), ("start_date", "date"), ("maturity_date", "date"),
                             ("availability_end", "date"), ("index", "text"), ("fixed_rate", "decimal"),
                             ("spread", "decimal"), ("floor", "decimal"), ("pik_rate", "decimal"),
                             ("interest_method", "text"), ("day_count", "text"), ("frequency", "text"),
                             ("amortization", "text"), ("lenders", "text_list")])

    def rows():
        for deal_id, record in sorted(loaded.deals.items()):
            terms, _ = deal_terms(record, as_of)
            for fid, ft in terms.items():
                f = (ft.at(as_of) or ft.last).facility
                i = f.interest
                yield (deal_id, fid, record.deal.currency, f.type, f.commitment, f.start_date, f.maturity_date,
                       f.availability_end, i.index, i.fixed_rate, i.spread, i.floor, i.pik_rate, i.method,
                       i.day_count, f.payments.frequency, f.amortization.type, [p.lender for p in f.participations])
    t.rows = rows()
    return t


SCHEDULE_COLUMNS = [("deal", "text"), ("facility", "text"), ("currency", "text"), ("row", "int"), ("date", "date"),
                    ("accrual_start", "date"), ("accrual_end", "date"), ("days", "int"), ("rate", "decimal"),
                    ("spread", "decimal"), ("opening_balance", "money"), ("draws", "money"), ("interest", "money"),
                    ("pik", "money"), ("commitment_fee", "money"), ("fees", "money"), ("principal", "money"),
                    ("prepayment", "money"), ("total_due", "money"), ("closing_balance", "money"),
                    ("projected", "bool")]


def schedules_table(loaded: LoadedBook, as_of: date, stored: StoredAsOf | None = None) -> Table:
    """Each funded facility's schedule under the terms in force on `as_of` (`loanctl schedule
    --as-of`): the ledger's stored schedules of the deals it holds exactly for `as_of`
    (`ledger.stored_schedules`), the engine's of the others."""
    skip = set(stored.schedules) if stored is not None else set()

    def rows(skip: set[str]):
        for deal_id, record in sorted(loaded.deals.items()):
            if record.deal.status not in FUNDED_OR_LATER or deal_id in skip:
                continue
            s, _ = schedule_deal(loaded, deal_id, as_of=as_of)
            for fs in s.facilities if s is not None else []:
                for n, r in enumerate(fs.rows):
                    yield (deal_id, fs.facility_id, fs.currency, n, r.date, r.accrual_start, r.accrual_end, r.days,
                           r.rate, r.spread, r.opening_balance, r.draws, r.interest, r.pik, r.commitment_fee, r.fees,
                           r.principal, r.prepayment, r.total_due, r.closing_balance, r.projected)
    t = Table("schedules", SCHEDULE_COLUMNS, rows(skip), complete=lambda: rows(set()))
    if skip:
        t.ledger_sql, t.ledger_rows = schedule_rows_sql(), sum(stored.schedules.values())
    return t


PAYMENT_COLUMNS = [("payment_id", "text"), ("deal", "text"), ("facility", "text"), ("value_date", "date"),
                   ("amount", "money"), ("currency", "text"), ("type", "text"), ("reference", "text"),
                   ("reverses", "text"), ("file", "text"), ("line", "int")]


def payments_table(payments: Payments, stored: StoredAsOf | None = None) -> Table:
    """The payments (up to `payments.as_of`), by deal, facility, date and id: copied from the
    ledger when it holds them exactly (`StoredAsOf.payments`)."""
    def rows():
        return ((p.payment_id, p.deal, p.facility, p.date, p.amount, p.currency, p.type, p.reference,
                 p.reverses or None, p.file, p.line)
                for p in sorted(payments.all(), key=lambda p: (p.deal, p.facility, p.date, p.payment_id)))
    if stored is None or stored.payments is None:
        return Table("payments", PAYMENT_COLUMNS, rows())
    return Table("payments", PAYMENT_COLUMNS, (), payment_rows_sql(payments.as_of), stored.payments,
                 rows, '"deal", "facility", "value_date", "payment_id"')


ALLOCATION_COLUMNS = [("deal", "text"), ("facility", "text"), ("currency", "text"), ("seq", "int"),
                      ("payment_id", "text"), ("payment_date", "date"), ("due_date", "date"),
                      ("component", "text"), ("amount", "money"), ("applied_on", "date")]


def allocations_table(loaded: LoadedBook, payments: Payments, as_of: date,
                      stored: StoredAsOf | None = None) -> Table:
    """Each funded facility's payments allocated as of `as_of`, as the report allocates them:
    the ledger's stored allocations of the deals it holds exactly for `as_of`, the engine's of
    the others (their payments read CHUNK_DEALS deals at a time)."""
    skip = set(stored.allocations) if stored is not None else set()

    def rows(skip: set[str]):
        todo = [d for d, r in sorted(loaded.deals.items()) if r.deal.status in FUNDED_OR_LATER and d not in skip]
        for start in range(0, len(todo), CHUNK_DEALS):
            inputs = {d: facility_inputs(loaded, d, as_of) for d in todo[start:start + CHUNK_DEALS]}
            by_facility = payments.of((d, fid) for d, (terms, _) in inputs.items() for fid in terms)
            for deal_id, (terms, builder) in inputs.items():
                for fid in terms:
                    fa = allocate_facility(loaded, deal_id, fid, by_facility.get((deal_id, fid), []), as_of,
                                           terms=terms, builder=builder)
                    for seq, a in enumerate(fa.allocations):
                        yield (deal_id, fid, fa.schedule.currency, seq, a.payment_id, a.payment_date, a.due_date,
                               a.component, a.amount, a.applied_on)
    t = Table("allocations", ALLOCATION_COLUMNS, rows(skip), complete=lambda: rows(set()))
    if skip:
        t.ledger_sql, t.ledger_rows = allocation_rows_sql(), sum(stored.allocations.values())
    return t


EXPORT_VARIANT = "export"
"""The stored report entries the export's positions are kept under (the report without a
position hook: `reports.build.open_report_store`)."""


def positions_table(loaded: LoadedBook, payments: Payments, as_of: date, stored: bool = False) -> Table:
    """The whole book's positions as `report --book` computes them; the columns follow the
    report's rows (money: the figures of `servicing.positions.MONEY`). With `stored`, each
    facility's entry is read from the ledger's stored report positions while its inputs are
    unchanged, and kept when computed (the rows are the same); only the payments of the
    facilities computed are read (`reports.build.facilities_to_compute`)."""
    scope = resolve_scope(loaded, book=True)
    store = open_report_store(loaded, scope, as_of, EXPORT_VARIANT) if stored else None
    if store is None:
        positions = build_report(loaded, scope, as_of, payments.all()).positions
    else:  # in parts of CHUNK_DEALS deals to compute (a position is its facility's alone): their payments only
        positions = []
        for part in _parts(scope_deals(loaded, scope), set(deals_to_compute(loaded, scope, store))):
            part = {d: loaded.deals[d].deal.status for d in part}
            paid = payments.of(facilities_to_compute(loaded, scope, as_of, store, part))
            positions += build_report(loaded, scope, as_of, [p for ps in paid.values() for p in ps], store=store,
                                      statuses=part).positions
        store.save()
    names: list[str] = []
    for row in positions:
        names += [k for k in row if k not in names]
    kinds = {}
    for name in names:
        sample = next((row[name] for row in positions if row.get(name) is not None), None)
        kinds[name] = ("money" if name in MONEY else "decimal" if isinstance(sample, Decimal) else
                       "bool" if isinstance(sample, bool) else "int" if isinstance(sample, int) else
                       "date" if isinstance(sample, date) else "text_list" if isinstance(sample, (list, tuple))
                       else "text")
    t = Table("positions", [(n, kinds[n]) for n in names])
    t.rows = [tuple(row.get(n) for n in names) for row in positions]
    return t


def _parts(deals: list[str], compute: set[str]) -> list[list[str]]:
    """`deals` in order, cut before every CHUNK_DEALS-th deal of `compute` (one part when few are)."""
    parts: list[list[str]] = [[]]
    n = 0
    for d in deals:
        if d in compute:
            if n == CHUNK_DEALS:
                parts.append([])
                n = 0
            n += 1
        parts[-1].append(d)
    return parts


def journal_table(loaded: LoadedBook, payments: Payments | Iterable[Payment], as_of: date) -> Table:
    """The whole book's journal up to `as_of` (`loanctl journal --to`), one row per posting;
    worked (in worker processes for a large book) as the rows are read, streamed from the
    workers' files (`accounting.journal.stream_journal`): never the whole journal in memory.
    The ledger's payments are read by the workers, each its own deals' (as `loanctl journal`),
    and the workers write each posting's row as the staged CSV's text (`Table.lines`): this
    process only numbers the entries."""
    from .parquet import stage_text

    payments = _upto(payments, as_of)
    given = {"payments": payments.items} if payments.items is not None else {"root": payments.root}
    t = Table("journal", [("entry", "int"), ("date", "date"), ("kind", "text"), ("narration", "text"),
                          ("deal", "text"), ("facility", "text"), ("lender", "text"), ("currency", "text"),
                          ("ref", "text"), ("account", "text"), ("amount", "money")])
    kinds = [k for _, k in t.columns]

    def pieces(e) -> list[str]:
        """An entry's rows, each without its first column (the entry's number, put before it
        by `entry_runs`)."""
        head = ",".join(stage_text(v, k) for v, k in zip(
            (e.date, e.kind, e.narration, e.deal, e.facility, e.lender, e.currency, e.ref or None), kinds[1:9]))
        return [f"{head},{stage_text(p.account, 'text')},{stage_text(p.amount, 'money')}\n" for p in e.postings]

    def lines():
        with stream_journal(loaded, as_of, pieces, **given) as journal:
            yield from journal.entry_runs(lambda n: f"{n},")
    t.lines = lines()
    return t


def build_tables(loaded: LoadedBook, payments: Payments | Iterable[Payment], as_of: date,
                 stored: StoredAsOf | None = None) -> Iterator[Table]:
    """The seven tables, one at a time (a table's rows are dropped once written). `payments`:
    a list, or `Payments` (the ledger's, read where needed). With `stored`
    (`ledger.stored_schedules.stored_as_of`), the rows the ledger holds exactly for `as_of` are
    copied from it by DuckDB (the tables are the same)."""
    payments = _upto(payments, as_of)
    yield deals_table(loaded)
    yield facilities_table(loaded, as_of)
    yield schedules_table(loaded, as_of, stored)
    yield payments_table(payments, stored)
    yield allocations_table(loaded, payments, as_of, stored)
    yield positions_table(loaded, payments, as_of, stored is not None)
    yield journal_table(loaded, payments, as_of)

