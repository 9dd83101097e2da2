"""`loanctl query`: read-only SQL over the ledger plus views of the book.

The user's SQL runs in an in-memory DuckDB database with the ledger attached READ_ONLY and
the book's deals, facilities, schedules and positions loaded as tables. External access is
then switched off and the configuration locked, so a query can neither write nor attach,
read or copy files.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..diagnostics import Diagnostic, DiagnosticError
from ..source.loader import LoadedBook
from .store import ledger_path, load_payments, open_for_read
from ..servicing.positions import allocate_facility, facility_inputs, facility_position, lender_position

LEDGER_TABLES = ("payment_files", "payments", "allocations")


def book_tables(loaded: LoadedBook, as_of: date, payments) -> dict[str, tuple[list[str], list[tuple]]]:
    """deals, facilities, schedules and positions (per facility and per lender) as rows."""
    deals, facilities, schedules, positions = [], [], [], []
    buckets = loaded.book.dpd_buckets if loaded.book else (0, 30, 60, 90, 120)
    mode = loaded.book.rounding if loaded.book else "half_up"
    by_facility: dict[tuple[str, str], list] = {}
    for p in payments:
        by_facility.setdefault((p.deal, p.facility), []).append(p)
    for deal_id, record in sorted(loaded.deals.items()):
        d = record.deal
        deals.append((d.id, d.name, d.borrower, d.status, d.currency, d.total_commitment))
        terms, builder = facility_inputs(loaded, deal_id)
        for fid, ft in terms.items():
            f = ft.last.facility
            facilities.append((d.id, fid, f.type, f.commitment, f.start_date, f.maturity_date, f.availability_end,
                               f.interest.index, f.interest.fixed_rate, f.interest.spread, f.interest.floor,
                               f.interest.pik_rate, f.interest.day_count, f.payments.frequency, f.amortization.type))
            pays = [p for p in by_facility.get((deal_id, fid), []) if p.date <= as_of]
            fa = allocate_facility(loaded, deal_id, fid, pays, terms=terms, builder=builder)
            for r in fa.schedule.rows:
                schedules.append((d.id, fid, r.date, r.accrual_start, r.accrual_end, r.days, r.rate,
                                  r.opening_balance, r.draws, r.interest, r.pik, r.commitment_fee, r.fees,
                                  r.principal, r.prepayment, r.total_due, r.closing_balance, r.projected))
            whole = facility_position(fa, deal_id, as_of, buckets, mode)
            rows = [whole] + [lp for lender in dict.fromkeys(n for r in fa.schedule.rows for n, _ in r.shares)
                              if (lp := lender_position(fa, whole, lender)) is not None]
            for pos in rows:
                positions.append((pos.deal, pos.facility, pos.lender, pos.currency, pos.as_of, pos.commitment,
                                  pos.drawn, pos.unfunded, pos.outstanding_principal, pos.accrued_interest,
                                  pos.pik_capitalised, pos.interest_received, pos.fees_received,
                                  pos.principal_received, pos.unapplied, pos.past_due, pos.dpd, pos.dpd_bucket,
                                  pos.rate, pos.spread))
    return {
        "deals": ("deal VARCHAR, name VARCHAR, borrower VARCHAR, status VARCHAR, currency VARCHAR, "
                  "total_commitment DECIMAL(28,4)", deals),
        "facilities": ("deal VARCHAR, facility VARCHAR, type VARCHAR, commitment DECIMAL(28,4), start_date DATE, "
                       "maturity_date DATE, availability_end DATE, index VARCHAR, fixed_rate DECIMAL(18,10), "
                       "spread DECIMAL(18,10), floor DECIMAL(18,10), pik_rate DECIMAL(18,10), day_count VARCHAR, "
                       "frequency VARCHAR, amortization VARCHAR", facilities),
        "schedules": ("deal VARCHAR, facility VARCHAR, date DATE, accrual_start DATE, accrual_end DATE, days INTEGER, "
                      "rate DECIMAL(18,10), opening_balance DECIMAL(28,4), draws DECIMAL(28,4), "
                      "interest DECIMAL(28,4), pik DECIMAL(28,4), commitment_fee DECIMAL(28,4), fees DECIMAL(28,4), "
                      "principal DECIMAL(28,4), prepayment DECIMAL(28,4), total_due DECIMAL(28,4), "
                      "closing_balance DECIMAL(28,4), projected BOOLEAN", schedules),
        "positions": ("deal VARCHAR, facility VARCHAR, lender VARCHAR, currency VARCHAR, as_of DATE, "
                      "commitment DECIMAL(28,4), drawn DECIMAL(28,4), unfunded DECIMAL(28,4), "
                      "outstanding_principal DECIMAL(28,4), accrued_interest DECIMAL(28,4), "
                      "pik_capitalised DECIMAL(28,4), interest_received DECIMAL(28,4), fees_received DECIMAL(28,4), "
                      "principal_received DECIMAL(28,4), unapplied DECIMAL(28,4), past_due DECIMAL(28,4), "
                      "dpd INTEGER, dpd_bucket VARCHAR, rate DECIMAL(18,10), spread DECIMAL(18,10)", positions),
    }


def run_query(loaded: LoadedBook, sql: str, as_of: date) -> tuple[list[str], list[tuple]]:
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        ledger = open_for_read(loaded.root)
        payments = load_payments(ledger) if ledger is not None else []
        if ledger is not None:
            ledger.close()
            path = str(ledger_path(loaded.root)).replace("'", "''")
            con.execute(f"ATTACH '{path}' AS ledger (READ_ONLY)")
            for t in LEDGER_TABLES:
                con.execute(f"CREATE VIEW {t} AS SELECT * FROM ledger.{t}")
        else:
            from .store import MIGRATIONS
            for stmt in MIGRATIONS[1][1:]:
                con.execute(stmt)
        for name, (columns, rows) in book_tables(loaded, as_of, payments).items():
            con.execute(f"CREATE TABLE {name} ({columns})")
            if rows:
                con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            cur = con.execute(_read_only(sql))
        except duckdb.Error as exc:
            raise DiagnosticError([Diagnostic("E0424", f"query failed: {str(exc).splitlines()[0][:300]}",
                                              hint="tables: deals, facilities, schedules, positions, payments, "
                                                   "allocations, payment_files")]) from None
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, cur.fetchall()
    finally:
        con.close()


def _read_only(sql: str) -> str:
    """Only SELECT / WITH / VALUES / DESCRIBE / SHOW / SUMMARIZE / EXPLAIN statements, one at a time."""
    import duckdb
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise DiagnosticError([Diagnostic("E0424", f"query failed: {str(exc).splitlines()[0][:300]}")]) from None
    if len(statements) != 1:
        raise DiagnosticError([Diagnostic("E0424", "give exactly one SQL statement",
                                          hint="loanctl query runs one read-only statement")])
    kind = statements[0].type.name
    if kind.replace("_STATEMENT", "") not in ("SELECT", "EXPLAIN"):
        raise DiagnosticError([Diagnostic("E0424", f"only read-only queries are allowed (this is {kind.replace('_STATEMENT', '').lower()})",
                                          hint="write a SELECT; the ledger is changed only by post-payments and "
                                               "ledger rebuild")])
    return sql


def to_jsonable(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value

