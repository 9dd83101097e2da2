"""Stored schedules (SPEC §10): every funded facility's contractual schedule — the rows of
`loanctl schedule`, under all of its deal's amendments — kept in the ledger, so that SQL
readers (the export, `ledger check`) never rebuild them.

A schedule is a pure function of its deal's fingerprint (`source.fingerprints`: its files, the
fixings of its indexes, book.yaml's calendars, rounding and waterfall, the versions of loanctl
and of the holidays package) — the fingerprint that keys the facility's stored allocations.
`stored_schedule_deals` holds one row per deal of the book: the fingerprint its schedules
were computed from, whether it is funded (only funded deals have schedules to keep), whether
its rows are in `stored_schedules` (`exact`: every figure fits the ledger's columns without a
digit lost; otherwise readers ask the engine), how many rows it has and the last date its
terms change (an amendment's or a new facility's effective date: a reader as of an earlier
date needs other terms and asks the engine). A deal whose fingerprint is not the book's is
stale: its rows are never read, and the next post, rebuild, refresh or query replaces them.

Money is DECIMAL(38, 4) (a figure is kept only when its digits are no more than its
currency's minor units: the text the engine gives is then exactly the column's value at
the currency's scale); rates and spreads are DECIMAL(38, 18) (kept only with at most 18
decimals). The Python engine keeps building schedules in memory where it needs objects
(allocation needs the schedule with the payments' prepayments, the accrual segments and the
shares, which these rows do not hold).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from ..conventions.currency import minor_units
from ..diagnostics import Diagnostic
from ..engine.deal import deal_terms, schedule_deal
from ..forkmap import chunked, fork_map, worker_count
from ..model.documents import FUNDED_OR_LATER
from ..model.records import LoadedBook
from ..source.fingerprints import DealFingerprints
from .db import SCHEDULE_DEAL_COLUMNS as DEAL_COLUMNS
from .db import SCHEDULE_DEALS_TABLE as DEALS_TABLE
from .db import SCHEDULE_MONEY as ROW_COLUMNS_MONEY
from .db import SCHEDULE_MONEY_SCALE as MONEY_SCALE
from .db import SCHEDULE_RATE_SCALE as RATE_SCALE
from .db import SCHEDULE_ROW_COLUMNS as ROW_COLUMNS
from .db import SCHEDULES_TABLE as ROWS_TABLE
from .db import diag, ledger_path, sql_path

MAX_REPORTED = 100

@dataclass
class DealSchedules:
    """What is kept of one deal: its `stored_schedule_deals` row and its `stored_schedules` rows."""

    deal: str
    fingerprint: str
    funded: bool
    exact: bool
    lines: list[str]
    """Its rows as CSV lines in ROW_COLUMNS order (the exact text of every figure; empty: NULL)."""
    terms_until: date | None

    def head(self) -> tuple:
        return (self.deal, self.fingerprint, self.funded, self.exact, len(self.lines), self.terms_until)


_RATE_TEXT = re.compile(rf"(-?\d{{1,{38 - RATE_SCALE}}}(\.\d{{0,{RATE_SCALE}}})?)?")
"""A rate's or spread's text that DECIMAL(38, RATE_SCALE) holds exactly (empty: NULL)."""


@functools.lru_cache(maxsize=8)
def _money_pattern(units: int) -> re.Pattern:
    """The ten money texts of a row, joined by commas, when DECIMAL(38, MONEY_SCALE) holds each
    exactly with no more decimals than `units`."""
    one = rf"-?\d{{1,{38 - MONEY_SCALE}}}" + (rf"(\.\d{{0,{units}}})?" if units else "")
    return re.compile(rf"{one}(,{one}){{9}}")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def deal_schedules(loaded: LoadedBook, deal_id: str, fingerprint: str) -> DealSchedules:
    """The deal's schedules as the engine builds them (`loanctl schedule DEAL`: every
    amendment applied), as CSV lines of `stored_schedules`."""
    record = loaded.deals[deal_id]
    funded = record.deal.status in FUNDED_OR_LATER
    ends = [a.amendment.effective_date for a in record.amendments]
    lines: list[str] = []
    exact = True
    if funded:
        terms, _ = deal_terms(record)
        ends += [t.first.effective for t in terms.values() if t.first.effective is not None]
        units = minor_units(record.deal.currency)
        exact = units <= MONEY_SCALE
        s, _ = schedule_deal(loaded, deal_id)
        days: dict = {None: ""}
        money_text = _money_pattern(units).fullmatch
        for fseq, fs in enumerate(s.facilities if s is not None else []):
            head = f"{_quoted(deal_id)},{_quoted(fs.facility_id)},{fseq},"
            middle = f",{_quoted(fingerprint)},{_quoted(fs.currency)},"
            for n, r in enumerate(fs.rows):
                # str() of a Decimal is its fixed-point text whenever the pattern accepts it (an
                # exponent form, more decimals than the currency's or too many digits: not exact)
                money = ",".join(map(str, (r.opening_balance, r.draws, r.interest, r.pik, r.commitment_fee, r.fees,
                                           r.principal, r.prepayment, r.total_due, r.closing_balance)))
                rate = "" if r.rate is None else format(r.rate, "f")
                spread = "" if r.spread is None else format(r.spread, "f")
                if money_text(money) is None or _RATE_TEXT.fullmatch(rate) is None or \
                        _RATE_TEXT.fullmatch(spread) is None:
                    exact = False
                    break
                dates = []
                for d in (r.date, r.accrual_start, r.accrual_end):
                    text = days.get(d)
                    if text is None:
                        text = days[d] = d.isoformat()
                    dates.append(text)
                lines.append(f"{head}{n}{middle}{dates[0]},{dates[1]},{dates[2]},{r.days},{rate},{spread},"
                             f"{money},{'true' if r.projected else 'false'}\n")
            if not exact:
                break
        if not exact:
            lines = []
    return DealSchedules(deal_id, fingerprint, funded, exact, lines, max(ends, default=None))


# --- keeping them ---------------------------------------------------------------------------------
def stored_fingerprints(con) -> dict[str, str]:
    """The fingerprint each deal's stored schedules were computed from (none before the table)."""
    if not has_tables(con):
        return {}
    return dict(con.execute(f"SELECT deal, fingerprint FROM {DEALS_TABLE}").fetchall())


def has_tables(con) -> bool:
    return bool(con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [DEALS_TABLE])
                .fetchall())


def outdated_deals(loaded: LoadedBook, con, fps: DealFingerprints) -> tuple[list[str], list[str]]:
    """(the book's deals whose stored schedules are missing or not of the book's fingerprint,
    deals stored that the book no longer has)."""
    stored = stored_fingerprints(con)
    stale = [d for d in sorted(loaded.deals) if stored.get(d) != fps.of(d)]
    gone = sorted(d for d in stored if d not in loaded.deals)
    return stale, gone


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def _stage(path: Path, lines: Iterable[tuple]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.writelines(",".join(map(_text, r)) + "\n" for r in lines)


def _read(paths: Path | list[Path], columns: tuple[tuple[str, str], ...]) -> str:
    cols = ", ".join(f"'{n}': '{t}'" for n, t in columns)
    files = ", ".join(f"'{sql_path(p)}'" for p in (paths if isinstance(paths, list) else [paths]))
    return (f"read_csv([{files}], header=false, auto_detect=false, delim=',', quote='\"', escape='\"', "
            f"new_line='\\n', max_line_size=67108864, columns={{{cols}}})")


PARALLEL_FROM = 200
"""Deals; below this one process computes their schedules (starting workers costs more)."""
CHUNKS_PER_WORKER = 4


@dataclass
class _Job:
    loaded: LoadedBook
    chunks: list[list[tuple[str, str]]]
    """(deal, fingerprint) pairs of each chunk."""
    outputs: list[Path]

    def chunk(self, i: int) -> list[tuple]:
        """Chunk `i`'s schedules into its output file (CSV lines); returns their heads."""
        heads = []
        with open(self.outputs[i], "w", encoding="utf-8", newline="") as fh:
            for deal_id, fp in self.chunks[i]:
                ds = deal_schedules(self.loaded, deal_id, fp)
                heads.append(ds.head())
                fh.writelines(ds.lines)
        return heads


def compute(loaded: LoadedBook, deals: list[str], fps: DealFingerprints, scratch: Path,
            workers: int | None = None) -> tuple[list[tuple], list[Path]]:
    """The schedules of `deals` (those the book has) as (their heads in deal order, the CSV
    files of their rows): from PARALLEL_FROM deals on, in forked worker processes
    (`forkmap.fork_map`, chunks of deals), which give the same rows as one process."""
    items = [(d, fps.of(d)) for d in deals]  # fingerprints computed here, inherited by the workers
    items = [(d, fp) for d, fp in items if fp is not None]
    n = workers if workers is not None else worker_count()
    n = n if len(items) >= PARALLEL_FROM else 1
    chunks = chunked(items, n, CHUNKS_PER_WORKER) if n > 1 else [items]
    job = _Job(loaded, chunks, [scratch / f".sched-{os.getpid()}-{i}.csv" for i in range(len(chunks))])
    try:
        results = list(fork_map(job.chunk, range(len(chunks)), min(n, len(chunks)), rerun=True))
    except BaseException:
        for p in job.outputs:
            with contextlib.suppress(OSError):
                p.unlink()
        raise
    return [h for heads in results for h in heads], job.outputs


def replace_schedules(con, loaded: LoadedBook, deals: list[str], gone: list[str], fps: DealFingerprints,
                      scratch: Path, workers: int | None = None) -> int:
    """Inside the caller's transaction: the stored schedules of `deals` become the engine's
    (computed now), and those of `gone` (deals the book no longer has) are dropped. Returns
    the number of deals computed."""
    if not deals and not gone:
        return 0
    heads = scratch / f".sched-{os.getpid()}-heads.csv"
    rows: list[Path] = []
    try:
        done, rows = compute(loaded, deals, fps, scratch, workers)
        _stage(heads, done)
        drop = [*deals, *gone]
        con.execute(f"DELETE FROM {ROWS_TABLE} WHERE deal IN (SELECT unnest(?))", [drop])
        con.execute(f"DELETE FROM {DEALS_TABLE} WHERE deal IN (SELECT unnest(?))", [drop])
        con.execute(f"INSERT INTO {DEALS_TABLE} SELECT * FROM {_read(heads, DEAL_COLUMNS)}")
        if rows:
            con.execute(f"INSERT INTO {ROWS_TABLE} SELECT * FROM {_read(rows, ROW_COLUMNS)}")
        return len(done)
    finally:
        for p in [heads, *rows]:
            with contextlib.suppress(OSError):
                p.unlink()


def carry_over(con, old: Path, loaded: LoadedBook, fps: DealFingerprints) -> int:
    """Into a rebuild's new ledger (before its transaction): copy from the ledger file `old`
    the stored schedules that are still the book's — their deal's fingerprint is the book's
    and all their rows are there — so that only the others are computed. Returns how many
    deals were copied; 0 when `old` cannot be read (missing, damaged, from before stored
    schedules): then every deal is computed."""
    import duckdb
    if not old.exists():
        return 0
    book = [(d, fp) for d in sorted(loaded.deals) if (fp := fps.of(d)) is not None]
    deals = ", ".join(n for n, _ in DEAL_COLUMNS)
    rows = ", ".join(n for n, _ in ROW_COLUMNS)
    try:
        con.execute(f"ATTACH '{sql_path(old)}' AS old_ledger (READ_ONLY)")
    except duckdb.Error:
        return 0
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE carried AS SELECT d.deal, d.fingerprint FROM "
                    f"old_ledger.{DEALS_TABLE} d JOIN (SELECT unnest(?) AS deal, unnest(?) AS fingerprint) b "
                    f"USING (deal, fingerprint) LEFT JOIN (SELECT deal, fingerprint, count(*) AS n FROM "
                    f"old_ledger.{ROWS_TABLE} GROUP BY 1, 2) r USING (deal, fingerprint) "
                    "WHERE d.rows = coalesce(r.n, 0)", [[d for d, _ in book], [f for _, f in book]])
        con.execute(f"INSERT INTO {DEALS_TABLE} SELECT {deals} FROM old_ledger.{DEALS_TABLE} "
                    "JOIN carried USING (deal, fingerprint)")
        con.execute(f"INSERT INTO {ROWS_TABLE} SELECT {rows} FROM old_ledger.{ROWS_TABLE} "
                    "JOIN carried USING (deal, fingerprint)")
        return con.execute("SELECT count(*) FROM carried").fetchone()[0]
    except duckdb.Error:
        con.execute(f"DELETE FROM {ROWS_TABLE}")
        con.execute(f"DELETE FROM {DEALS_TABLE}")
        return 0
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DROP TABLE IF EXISTS carried")
        with contextlib.suppress(duckdb.Error):
            con.execute("DETACH old_ledger")


def update_schedules(con, loaded: LoadedBook, fps: DealFingerprints, scratch: Path, workers: int | None = None
                     ) -> list[str]:
    """Inside the caller's transaction: bring every deal's stored schedules up to date with
    the book (only deals whose fingerprint changed are computed). Returns those deals."""
    stale, gone = outdated_deals(loaded, con, fps)
    replace_schedules(con, loaded, stale, gone, fps, scratch, workers)
    return stale


# --- ledger check ---------------------------------------------------------------------------------
def _deals(n: int) -> str:
    return f"{n} deal has" if n == 1 else f"{n} deals have"


def check_schedules(loaded: LoadedBook, con) -> list[Diagnostic]:
    """E0922 (a warning) for the book's deals whose stored schedules are missing or of an
    earlier version of the deal — never read (readers ask the engine) until the next post,
    refresh, query or export replaces them; E0923 for a deal whose stored rows are not all
    there (fewer or more than were written)."""
    path = str(ledger_path(loaded.root))
    fps = DealFingerprints(loaded)
    stale, _ = outdated_deals(loaded, con, fps)
    kept = stored_fingerprints(con)
    diags: list[Diagnostic] = []
    if stale:
        missing = [d for d in stale if d not in kept]
        behind = [d for d in stale if d in kept]
        parts = ([f"{_deals(len(missing))} no stored schedules"] if missing else []) + \
            ([f"{_deals(len(behind))} stored schedules of an earlier version of the deal"] if behind else [])
        named = ", ".join(f"'{d}'" for d in stale[:5]) + (", …" if len(stale) > 5 else "")
        diags.append(Diagnostic("E0922", f"{' and '.join(parts)} ({named}; never read: the export and the engine "
                                         "compute them)", path,
                                hint="run `loanctl ledger refresh` (post-payments, query and export also bring "
                                     "them up to date)", severity="warning"))
    if kept:
        broken = con.execute(f"""
            SELECT d.deal, d.rows, coalesce(r.n, 0)
            FROM {DEALS_TABLE} d LEFT JOIN (SELECT deal, fingerprint, count(*) AS n FROM {ROWS_TABLE}
                                            GROUP BY 1, 2) r USING (deal, fingerprint)
            WHERE d.rows IS DISTINCT FROM coalesce(r.n, 0) ORDER BY 1""").fetchall()
        for deal, want, have in broken[:MAX_REPORTED]:
            diags.append(diag("E0923", f"the stored schedules of deal '{deal}' hold {have} rows where {want} were "
                                       "written", path, "run `loanctl ledger rebuild` (or delete .loanctl/ and "
                                                        "rebuild): the ledger file was damaged"))
        if len(broken) > MAX_REPORTED:
            diags.append(diag("E0923", f"… and {len(broken) - MAX_REPORTED} more deals with incomplete stored "
                                       "schedules", path, "run `loanctl ledger rebuild`"))
    return diags


# --- read as of a date, by SQL (the export) -------------------------------------------------------
@dataclass
class StoredAsOf:
    """Which deals' rows the ledger holds exactly as the engine computes them as of a date:
    `schedules` (deal → rows) are those of `schedule --as-of D` (their stored schedules are the
    book's, funded, exact, and no amendment or facility takes effect after D); `allocations`
    (deal → rows) are those of the report's allocation as of D (besides, every facility of the
    deal with payments has stored allocations of the book's fingerprint and no payment after
    D). The other deals are the engine's to compute. `attach` makes the ledger's rows readable
    by the SQL of `schedule_rows_sql` and `allocation_rows_sql` in another connection."""

    path: Path
    as_of: date
    fingerprints: dict[str, str]
    currencies: dict[str, str]
    schedules: dict[str, int]
    allocations: dict[str, int]
    payments: int | None = None
    """The ledger's payments up to `as_of`, when every amount is exactly of its currency's minor
    units and none of those is more than the book's currencies have (the rows `payments_rows_sql`
    gives are then the engine's): how many; None otherwise."""

    def attach(self, con) -> None:
        """ATTACH the ledger (read-only, as `ledger`) and the deals read from it (`stored_deals`)."""
        con.execute(f"ATTACH '{sql_path(self.path)}' AS ledger (READ_ONLY)")
        deals = sorted(set(self.schedules) | set(self.allocations))
        con.execute("CREATE OR REPLACE TEMP TABLE stored_deals (deal VARCHAR, fingerprint VARCHAR, currency VARCHAR, "
                    "schedules BOOLEAN, allocations BOOLEAN)")
        if deals:
            con.execute("INSERT INTO stored_deals SELECT unnest(?), unnest(?), unnest(?), unnest(?), unnest(?)",
                        [deals, [self.fingerprints[d] for d in deals], [self.currencies[d] for d in deals],
                         [d in self.schedules for d in deals], [d in self.allocations for d in deals]])


ORDER_KEY = 1 << 32
"""`_k`, the order of a row within its deal: facility place × ORDER_KEY + row (or seq)."""


def schedule_rows_sql() -> str:
    """The stored schedule rows of the deals `StoredAsOf.schedules`, in the columns of the
    export's `schedules` table, with `_k` (their order within the deal)."""
    money = ", ".join(f"s.{m}" for m in ROW_COLUMNS_MONEY)
    return (f"SELECT s.deal, s.facility, s.currency, s.row AS \"row\", s.date, s.accrual_start, s.accrual_end, "
            f"s.days, s.rate, s.spread, {money}, s.projected, CAST(s.fseq AS BIGINT) * {ORDER_KEY} + s.row AS _k "
            f"FROM ledger.{ROWS_TABLE} s JOIN stored_deals d USING (deal, fingerprint) WHERE d.schedules")


def allocation_rows_sql() -> str:
    """The stored allocation rows of the deals `StoredAsOf.allocations` (their facilities of the
    stored schedules, in the schedules' facility order), in the columns of the export's
    `allocations` table, with `_k`."""
    return (f"SELECT a.deal, a.facility, d.currency, a.seq, a.payment_id, a.value_date AS payment_date, a.due_date, "
            f"a.component, a.amount, a.applied_on, CAST(f.fseq AS BIGINT) * {ORDER_KEY} + a.seq AS _k "
            f"FROM ledger.allocations a JOIN stored_deals d USING (deal) "
            f"JOIN (SELECT DISTINCT deal, facility, fseq FROM ledger.{ROWS_TABLE} s JOIN stored_deals USING "
            f"(deal, fingerprint)) f USING (deal, facility) WHERE d.allocations")


def payment_rows_sql(as_of: date) -> str:
    """The ledger's payments up to `as_of` in the columns of the export's `payments` table, as
    `db.payment_of` reads them (an empty reference, file or line for a missing one), `_k` 0."""
    return ("SELECT payment_id, deal, facility, value_date, amount, currency, type, coalesce(reference, '') AS "
            "reference, nullif(reverses, '') AS reverses, coalesce(file, '') AS file, coalesce(line, 0) AS line, "
            f"0 AS _k FROM ledger.payments WHERE value_date <= DATE '{as_of.isoformat()}'")


def stored_as_of(loaded: LoadedBook, as_of: date) -> StoredAsOf | None:
    """What the ledger holds exactly for `as_of` (None without a ledger, or one without stored
    schedules). Opens the ledger read-only and closes it."""
    from .db import open_for_read
    path = ledger_path(loaded.root)
    con = open_for_read(loaded.root)
    if con is None:
        return None
    try:
        if not has_tables(con):
            return None
        fps = DealFingerprints(loaded)
        book = [(d, fps.of(d), r.deal.currency) for d, r in sorted(loaded.deals.items())]
        fingerprints = {d: f for d, f, _ in book if f is not None}
        currencies = {d: c for d, _, c in book}
        con.execute("CREATE OR REPLACE TEMP TABLE book_deals (deal VARCHAR, fingerprint VARCHAR)")
        con.execute("INSERT INTO book_deals SELECT unnest(?), unnest(?)",
                    [list(fingerprints), list(fingerprints.values())])
        schedules = dict(con.execute(f"""
            SELECT s.deal, s.rows FROM {DEALS_TABLE} s JOIN book_deals b USING (deal, fingerprint)
            WHERE s.funded AND s.exact AND (s.terms_until IS NULL OR s.terms_until <= ?)""", [as_of]).fetchall())
        # a deal's allocations: each of its scheduled facilities with payments stored at the book's
        # fingerprint, none of them dated after `as_of`
        allocations = dict(con.execute(f"""
            WITH facilities AS (SELECT DISTINCT s.deal, s.facility FROM {ROWS_TABLE} s
                                JOIN book_deals b USING (deal, fingerprint)),
                 paid AS (SELECT deal, facility, max(value_date) AS last FROM payments GROUP BY 1, 2),
                 behind AS (SELECT DISTINCT p.deal FROM paid p JOIN facilities USING (deal, facility)
                            LEFT JOIN facility_inputs i USING (deal, facility) LEFT JOIN book_deals b USING (deal)
                            WHERE p.last > ? OR i.fingerprint IS DISTINCT FROM b.fingerprint),
                 counted AS (SELECT a.deal, count(*) AS n FROM allocations a JOIN facilities USING (deal, facility)
                             GROUP BY 1)
            SELECT f.deal, coalesce(c.n, 0) FROM (SELECT DISTINCT deal FROM facilities) f
            LEFT JOIN counted c USING (deal) WHERE f.deal NOT IN (SELECT deal FROM behind)""", [as_of]).fetchall())
        allocations = {d: n for d, n in allocations.items() if schedules.get(d)}
        return StoredAsOf(path, as_of, fingerprints, currencies, schedules, allocations,
                          _exact_payments(con, as_of, set(currencies.values())))
    finally:
        con.close()


def _exact_payments(con, as_of: date, currencies: set[str]) -> int | None:
    """How many payments up to `as_of` the ledger holds, if each amount has no more digits than
    its currency's minor units and those are within the book currencies' (else None)."""
    try:
        units = {c: minor_units(c) for (c,) in con.execute("SELECT DISTINCT currency FROM payments").fetchall()}
    except (KeyError, ValueError, TypeError):
        return None
    if units and max(units.values()) > max((minor_units(c) for c in currencies), default=2):
        return None
    if not units:
        return 0
    n, inexact = con.execute("SELECT count(*), count(*) FILTER (WHERE p.amount <> CASE u.units "
                             f"{' '.join(f'WHEN {k} THEN round(p.amount, {k})' for k in range(MONEY_SCALE))} "
                             "ELSE p.amount END) "
                             "FROM payments p JOIN (SELECT unnest(?) AS currency, unnest(?) AS units) u "
                             "USING (currency) WHERE p.value_date <= ?",
                             [list(units), list(units.values()), as_of]).fetchone()
    return None if inexact else n
