"""`loanctl query`: read-only SQL over the ledger plus views of the book.

The statement is checked with DuckDB's own parser (one SELECT, or EXPLAIN of a SELECT)
before anything is loaded. It then runs in an in-memory DuckDB database over a private copy
of the ledger attached READ_ONLY (the real ledger is locked only while it is copied, so a
query never holds up post-payments), with the book's deals, facilities, schedules,
positions (one row per facility) and lender_positions (one row per facility and lender)
loaded as tables. External access is off, no directory or path is allowed, the spill
folder is a fresh private one, memory and spill space are capped and the configuration is
locked; a time limit interrupts a runaway query.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

from ..plaintext import inert
from ..diagnostics import Diagnostic, DiagnosticError
from ..model.records import LoadedBook
from ..engine.lenders import timeline_of
from .db import ledger_path, load_payments, open_for_read
from .stored_positions import PositionStore, context_digest, decode_value, encode_value, open_store
from ..servicing.positions import allocate_facility, facility_inputs, facility_position, lender_position

LEDGER_TABLES = ("payment_files", "payments", "allocations")
TIMEOUT_SECONDS = 30.0
"""Default time limit of one query (`loanctl query --timeout`)."""
MEMORY_LIMIT = "1GB"
"""DuckDB memory_limit of a query's database; beyond it, work spills to the private folder."""
TEMP_LIMIT = "1GB"
"""DuckDB max_temp_directory_size: the most a query may spill to disk."""
FETCH_CHUNK = 65536
HINT_TABLES = ("tables: deals, facilities, schedules, positions (one row per facility), lender_positions "
               "(one row per facility and lender), payments, allocations, payment_files")


def book_tables(loaded: LoadedBook, as_of: date, payments, store: PositionStore | None = None
                ) -> dict[str, tuple[list[str], list[tuple]]]:
    """deals, facilities, schedules, positions (one row per facility: the whole facility) and
    lender_positions (one row per facility and lender; the lenders' rows of a facility sum to
    its positions row, each flow split by the shares in force on its date) as rows.

    With a `store` (`open_query_store`), a facility whose stored rows are up to date is read
    from it, not re-allocated; the others are computed from `payments` (which must then hold
    at least theirs: `query_facilities_to_compute`) and put in it. The tables are the same."""
    deals, facilities, schedules, positions, lender_positions = [], [], [], [], []
    by_facility: dict[tuple[str, str], list] = {}
    for p in payments:
        by_facility.setdefault((p.deal, p.facility), []).append(p)
    for deal_id, record in sorted(loaded.deals.items()):
        d = record.deal
        deals.append((d.id, d.name, d.borrower, d.status, d.currency, d.total_commitment))
        order = store.deal_facilities(deal_id) if store is not None else None
        entries = [_stored_rows(store.fresh(deal_id, fid)) for fid in order] if order is not None else None
        if entries is None or any(e is None for e in entries):
            terms, builder = facility_inputs(loaded, deal_id)
            entries = []
            for seq, fid in enumerate(terms):
                text = store.fresh(deal_id, fid) if store is not None else None
                entry = _stored_rows(text) if text is not None else None
                if entry is None:
                    entry = _facility_rows(loaded, deal_id, fid, terms, builder, by_facility.get((deal_id, fid), []),
                                           as_of)
                    if store is not None:
                        store.put(deal_id, fid, seq, len(terms), encode_value(_encodable(entry)))
                entries.append(entry)
        for facility, sched, position, lenders in entries:
            facilities.append(facility)
            schedules += sched
            positions.append(position)
            lender_positions += lenders
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
        "positions": ("deal VARCHAR, facility VARCHAR, " + _POSITION_COLUMNS, positions),
        "lender_positions": ("deal VARCHAR, facility VARCHAR, lender VARCHAR NOT NULL, " + _POSITION_COLUMNS,
                             lender_positions),
    }


def _facility_rows(loaded: LoadedBook, deal_id: str, fid: str, terms, builder, payments, as_of: date
                   ) -> tuple[tuple, list[tuple], tuple, list[tuple]]:
    """One facility's rows: (its facilities row, its schedules rows, its positions row, its
    lender_positions rows), allocated from its payments dated on or before `as_of`."""
    buckets = loaded.book.dpd_buckets if loaded.book else (0, 30, 60, 90, 120)
    mode = loaded.book.rounding if loaded.book else "half_up"
    f = terms[fid].last.facility
    facility = (deal_id, fid, f.type, f.commitment, f.start_date, f.maturity_date, f.availability_end,
                f.interest.index, f.interest.fixed_rate, f.interest.spread, f.interest.floor,
                f.interest.pik_rate, f.interest.day_count, f.payments.frequency, f.amortization.type)
    pays = [p for p in payments if p.date <= as_of]
    fa = allocate_facility(loaded, deal_id, fid, pays, terms=terms, builder=builder)
    sched = [(deal_id, fid, r.date, r.accrual_start, r.accrual_end, r.days, r.rate,
              r.opening_balance, r.draws, r.interest, r.pik, r.commitment_fee, r.fees,
              r.principal, r.prepayment, r.total_due, r.closing_balance, r.projected) for r in fa.schedule.rows]
    whole = facility_position(fa, deal_id, as_of, buckets, mode)
    lenders = []
    for lender in timeline_of(fa.schedule).order:
        lp = lender_position(fa, whole, lender)
        if lp is not None:
            lenders.append((lp.deal, lp.facility, lp.lender, *_position_figures(lp)))
    return facility, sched, (whole.deal, whole.facility, *_position_figures(whole)), lenders


def _stored_rows(text: str | None) -> tuple[tuple, list[tuple], tuple, list[tuple]] | None:
    """A facility's stored rows (`_facility_rows`, kept as lists), or None when unreadable."""
    if text is None:
        return None
    try:
        facility, sched, position, lenders = decode_value(text)
        return tuple(facility), [tuple(r) for r in sched], tuple(position), [tuple(r) for r in lenders]
    except (ValueError, TypeError, ArithmeticError):
        return None


def _encodable(entry: tuple) -> list:
    return [list(entry[0]), [list(r) for r in entry[1]], list(entry[2]), [list(r) for r in entry[3]]]


def open_query_store(loaded: LoadedBook, as_of: date) -> PositionStore | None:
    """The query's stored facility rows on `as_of` (None without a ledger): besides each
    facility's deal fingerprint and payments up to `as_of`, they depend on book.yaml (DPD
    buckets, rounding) and loanctl's sources."""
    book = loaded.book.model_dump(mode="json") if loaded.book else None
    return open_store(loaded, as_of, context_digest("query", book))


def query_facilities_to_compute(loaded: LoadedBook, store: PositionStore) -> list[tuple[str, str]]:
    """The facilities without up-to-date stored rows (whose payments `book_tables` needs)."""
    out: list[tuple[str, str]] = []
    for deal_id in sorted(loaded.deals):
        if store.deal_facilities(deal_id) is not None:
            continue
        terms, _ = facility_inputs(loaded, deal_id)
        out += [(deal_id, fid) for fid in terms if store.fresh(deal_id, fid) is None]
    return out


_POSITION_COLUMNS = ("currency VARCHAR, as_of DATE, commitment DECIMAL(28,4), drawn DECIMAL(28,4), "
                     "unfunded DECIMAL(28,4), outstanding_principal DECIMAL(28,4), accrued_interest DECIMAL(28,4), "
                     "accrued_pik DECIMAL(28,4), accrued_commitment_fee DECIMAL(28,4), pik_capitalised DECIMAL(28,4), "
                     "interest_received DECIMAL(28,4), fees_received DECIMAL(28,4), "
                     "principal_received DECIMAL(28,4), unapplied DECIMAL(28,4), past_due DECIMAL(28,4), "
                     "dpd INTEGER, dpd_bucket VARCHAR, rate DECIMAL(18,10), spread DECIMAL(18,10), "
                     "default_interest_due DECIMAL(28,4), accrued_default_interest DECIMAL(28,4), in_default BOOLEAN, "
                     "non_accrual BOOLEAN, non_accrual_since DATE, written_off DECIMAL(28,4), "
                     "recoveries DECIMAL(28,4)")


def _position_figures(pos) -> tuple:
    """A position's columns after its keys, in the order of _POSITION_COLUMNS."""
    return (pos.currency, pos.as_of, pos.commitment, pos.drawn, pos.unfunded, pos.outstanding_principal,
            pos.accrued_interest, pos.accrued_pik, pos.accrued_commitment_fee, pos.pik_capitalised,
            pos.interest_received, pos.fees_received,
            pos.principal_received, pos.unapplied, pos.past_due, pos.dpd, pos.dpd_bucket, pos.rate, pos.spread,
            pos.default_interest_due, pos.accrued_default_interest, pos.in_default, pos.non_accrual,
            pos.non_accrual_since, pos.written_off, pos.recoveries)


def run_query(loaded: LoadedBook, sql: str, as_of: date, timeout: float | None = None, stored: bool = True
              ) -> tuple[list[str], list[tuple]]:
    """Run one read-only statement over a private copy of the ledger and the book's views.

    Returns (column names, rows). A refused statement is E0424, a query stopped at its time
    limit E0425, one over its memory or spill budget E0426; nothing in the book changes but,
    after a query that ran, the stored rows of the book's views (`stored`: each facility's
    rows are read from the ledger while its inputs are unchanged, and kept when computed;
    the tables are the same). The statement itself never writes."""
    import duckdb

    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    try:
        work = Path(tempfile.mkdtemp(prefix="loanctl-query-"))
        (work / "spill").mkdir(mode=0o700)
        (work / "ledger").mkdir(mode=0o700)
    except OSError as exc:
        raise DiagnosticError([Diagnostic("E0427", f"cannot create the query's private work folder: {exc.strerror}",
                                          tempfile.gettempdir(), hint="free space in the temp folder or set "
                                                                      "TMPDIR to a writable folder")]) from None
    con = None
    try:
        con = duckdb.connect(":memory:", config={
            "temp_directory": str(work / "spill"), "memory_limit": MEMORY_LIMIT, "max_temp_directory_size": TEMP_LIMIT,
            "python_enable_replacements": False, "autoload_known_extensions": False,
            "autoinstall_known_extensions": False, "allow_community_extensions": False,
            "allow_persistent_secrets": False})
        statement = read_only_statement(con, sql)
        store = open_query_store(loaded, as_of) if stored else None
        payments, copy = _snapshot_ledger(loaded.root, work / "ledger", with_payments=store is None)
        if store is not None:
            payments = store.payments(query_facilities_to_compute(loaded, store))
        if copy is not None:
            con.execute(f"ATTACH '{str(copy).replace(chr(39), chr(39) * 2)}' AS ledger (READ_ONLY)")
            for t in LEDGER_TABLES:
                con.execute(f"CREATE VIEW {t} AS SELECT * FROM ledger.{t}")
        else:
            from .db import MIGRATIONS
            for stmt in MIGRATIONS[1][1:]:
                con.execute(stmt)
        tables = book_tables(loaded, as_of, payments, store)
        for name, (columns, rows) in tables.items():
            con.execute(f"CREATE TABLE {name} ({columns})")
            if rows:
                con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        # DuckDB adds temp_directory (our private spill folder) to the allowed directories by itself.
        for setting in ("allowed_directories = []", "allowed_paths = []", "enable_external_access = false",
                        "lock_configuration = true"):
            con.execute(f"SET {setting}")
        result = _run_with_time_limit(con, statement, timeout)
        if result is None:  # the query is still winding down in its thread: leave the connection to it
            con = None
            raise _timed_out(timeout)
        if store is not None:  # only a query that ran keeps the rows it computed: a refused one leaves no trace
            store.save()
        return result
    finally:
        if con is not None:
            con.close()
        shutil.rmtree(work, ignore_errors=True)


def _snapshot_ledger(root: Path, folder: Path, with_payments: bool = True) -> tuple[list, Path | None]:
    """The ledger's payments (none unless `with_payments`) and a private copy of its file,
    taken under DuckDB's read lock.

    The lock is held only while copying, so a long query never keeps post-payments out."""
    ledger = open_for_read(root)
    if ledger is None:
        return [], None
    try:
        payments = load_payments(ledger) if with_payments else []
        source = ledger_path(root)
        copy = folder / source.name
        try:
            shutil.copyfile(source, copy)
            wal = source.with_name(source.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
        except OSError as exc:
            raise DiagnosticError([Diagnostic("E0427", f"cannot copy the ledger for the query: {exc.strerror}",
                                              str(folder), hint="free space in the temp folder or set TMPDIR to "
                                                                "a writable folder")]) from None
    finally:
        ledger.close()
    return payments, copy


def _run_with_time_limit(con, statement, timeout: float):
    """(columns, rows), or None if the query did not stop after being interrupted at `timeout`.

    The statement runs in a thread; at the limit DuckDB is interrupted, and rows are fetched
    in chunks so that turning a large result into Python objects stops there too."""
    import duckdb

    outcome: dict = {}
    stop = threading.Event()

    def work():
        try:
            cur = con.execute(statement)
            columns = [d[0] for d in cur.description] if cur.description else []
            rows: list[tuple] = []
            while not stop.is_set():
                chunk = cur.fetchmany(FETCH_CHUNK)
                if not chunk:
                    outcome["result"] = columns, rows
                    return
                rows.extend(chunk)
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    runner = threading.Thread(target=work, name="loanctl-query", daemon=True)
    runner.start()
    try:
        runner.join(timeout)
    finally:  # also on Ctrl-C: stop DuckDB before the connection is closed
        interrupted = runner.is_alive()
        if interrupted:
            stop.set()
            con.interrupt()
            runner.join(10.0)
    if runner.is_alive():
        return None
    if "result" in outcome:
        return outcome["result"]
    exc = outcome.get("error")
    if isinstance(exc, duckdb.InterruptException) or (interrupted and exc is None):
        raise _timed_out(timeout)
    if isinstance(exc, duckdb.OutOfMemoryException):
        raise DiagnosticError([Diagnostic("E0426", f"the query needs more than its memory ({MEMORY_LIMIT}) and "
                                                   f"spill ({TEMP_LIMIT}) budget: {_first_line(exc)}",
                                          hint="aggregate or filter more, or select fewer rows")])
    if isinstance(exc, duckdb.Error):
        raise DiagnosticError([Diagnostic("E0424", f"query failed: {_first_line(exc)}", hint=HINT_TABLES)])
    raise exc


def _timed_out(timeout: float) -> DiagnosticError:
    return DiagnosticError([Diagnostic("E0425", f"the query was stopped after its time limit of {timeout:g} s",
                                       hint="narrow the query, or give more time with --timeout SECONDS")])


def read_only_statement(con, sql: str):
    """The one statement of `sql` if it only reads: a SELECT (with WITH, VALUES, FROM-first,
    DESCRIBE, SHOW, SUMMARIZE, which DuckDB parses as SELECT) or EXPLAIN [ANALYZE] of a SELECT."""
    import duckdb

    statements = _parse(con, sql)
    if len(statements) != 1:
        raise DiagnosticError([Diagnostic("E0424", "give exactly one SQL statement",
                                          hint="loanctl query runs one read-only statement")])
    statement = statements[0]
    kind = statement.type
    if kind == duckdb.StatementType.SELECT:
        return statement
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _explained_type(con, statement.query)
        if inner == duckdb.StatementType.SELECT:
            return statement
        raise DiagnosticError([Diagnostic("E0424", "EXPLAIN is allowed only of a SELECT (this explains "
                                                   f"{_kind_name(inner)})",
                                          hint="EXPLAIN ANALYZE runs the statement it explains; explain a SELECT")])
    raise DiagnosticError([Diagnostic("E0424", f"only read-only queries are allowed (this is {_kind_name(kind)})",
                                      hint="write a SELECT; the ledger is changed only by post-payments and "
                                           "ledger rebuild")])


def _parse(con, sql: str) -> list:
    import duckdb
    try:
        return con.extract_statements(sql)
    except duckdb.Error as exc:
        raise DiagnosticError([Diagnostic("E0424", f"query failed: {_first_line(exc)}", hint=HINT_TABLES)]) from None


def _explained_type(con, text: str):
    """The statement type an EXPLAIN explains, from DuckDB's tokenizer and parser.

    `EXPLAIN [ANALYZE] stmt` and `EXPLAIN (options) [ANALYZE] stmt`: a parenthesised group
    after EXPLAIN is either options or a parenthesised SELECT, so both readings are tried;
    whatever does not parse as exactly one SELECT is refused."""
    import duckdb

    tokens = duckdb.tokenize(text)
    ends = [p for p, _ in tokens[1:]] + [len(text)]
    words = [(p, text[p:end].strip(), kind) for (p, kind), end in zip(tokens, ends)
             if kind != duckdb.token_type.comment]
    if not words or words[0][1].upper() != "EXPLAIN":
        return duckdb.StatementType.INVALID
    starts = [_after_analyze(words, 1)]
    if len(words) > 1 and words[1][1].startswith("("):
        depth, i = 0, 1
        while i < len(words):
            if words[i][2] == duckdb.token_type.operator:
                depth += words[i][1].count("(") - words[i][1].count(")")
            i += 1
            if depth <= 0:
                break
        starts.append(_after_analyze(words, i))
    found = duckdb.StatementType.INVALID
    for i in starts:
        if i >= len(words):
            continue
        try:
            inner = con.extract_statements(text[words[i][0]:])
        except duckdb.Error:
            continue
        if len(inner) == 1:
            if inner[0].type == duckdb.StatementType.SELECT:
                return inner[0].type
            found = inner[0].type
    return found


def _after_analyze(words: list, i: int) -> int:
    return i + 1 if i < len(words) and words[i][1].upper() in ("ANALYZE", "ANALYSE") else i


def _kind_name(kind) -> str:
    return "not a statement DuckDB can read" if kind.name == "INVALID" else kind.name.lower().replace("_", " ")


def _first_line(exc: Exception) -> str:
    return inert_text(str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)


def inert_text(text: str, keep: str = "") -> str:
    """`text` on one line with control characters (C0, DEL, C1: ESC, BEL, OSC…) and bidi
    overrides shown as visible escapes (`\\x1b`, `\\u202e`), so data printed to a terminal or a
    CSV cannot move the cursor, retitle the window or reorder what is read. Characters in
    `keep` stay."""
    return inert(text, one_line=True, keep=keep)


def to_jsonable(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value

