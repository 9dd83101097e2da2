"""Writing the exported tables as Parquet with DuckDB (SPEC §10).

Each table's rows go to a scratch CSV of text (every value written exactly: a Decimal in
fixed-point notation, a date in ISO form; a NULL unquoted-empty, a text always quoted), then
one `COPY (SELECT casts …) TO … (FORMAT parquet[, PARTITION_BY (currency)])` types them.

Money is DECIMAL(38, s) with one scale s for the whole export: the largest minor units of the
currencies in it (2 for a USD/EUR/GBP book; 3 as soon as a three-digit currency such as KWD
appears; 0-digit JPY amounts are exact at any scale) — more only if a figure carries more
digits, which none should. One scale keeps every currency partition of a table on one
schema, so Spark, Trino and DuckDB read the folder as one table without schema merging; the
currency's own digits are in `manifest.json`. Other decimals (rates, shares) are
DECIMAL(38, 18). A scale is never smaller than a value needs (it widens if one ever does, so
the cast never rounds).

The export is written to a temporary folder beside DIR and renamed into place at the end:
DIR holds a whole export or what it held before.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from .. import __version__
from ..conventions.currency import minor_units
from .tables import Table

MAX_PRECISION = 38
DECIMAL_SCALE = 18
"""Rates and shares: DECIMAL(38, 18) — a fixed schema from one export to the next (wider only
if a value carries more digits)."""


@dataclass
class ExportResult:
    out: Path
    as_of: date
    money_scale: int
    tables: dict[str, int] = field(default_factory=dict)
    """Rows written per table."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds per table (computing its rows and writing them)."""


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _text_list(value) -> str:
    return _quoted(json.dumps([str(x) for x in value], ensure_ascii=False))


@functools.lru_cache(maxsize=1 << 16)
def _text(value) -> str:
    """Ids, accounts and narrations repeat on every row: each distinct text quoted once."""
    return _quoted(str(value))


def _fixed(value: Decimal) -> str:
    return format(value, "f")


WRITERS = {"money": _fixed, "decimal": _fixed, "date": date.isoformat, "int": str, "bool": _bool,
           "text_list": _text_list}
"""Each kind's text (a number, date or boolean never holds a quote or a comma: unquoted)."""


def stage_text(value, kind: str) -> str:
    """A value's text in a staged row (NULL: empty): what `Table.lines` are made of."""
    return "" if value is None else WRITERS.get(kind, _text)(value)


def _stage(table: Table, path: Path) -> int | None:
    """Write the rows as CSV (NULL: unquoted empty; text: always quoted); returns the row count
    (None for a table given as staged lines: DuckDB counts them). A table with a ledger part
    gets one more column: the row's number (its order in the table)."""
    if table.lines is not None:
        assert table.ledger_sql is None, "a table given as lines has no ledger part"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(table.lines)
        return None
    writers = [WRITERS.get(k, _text) for _, k in table.columns]
    numbered = table.ledger_sql is not None
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        lines = []
        for row in table.rows:
            n += 1
            line = ",".join("" if v is None else w(v) for v, w in zip(row, writers))
            lines.append(f"{line},{n}" if numbered else line)
            if len(lines) == 4096:
                fh.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            fh.write("\n".join(lines) + "\n")
    return n


def _scales(con, table: Table, staged: Path, money_scale: int) -> tuple[dict[str, tuple[int, int]], int]:
    """The (scale, integer digits) each decimal column needs, measured on the staged text by
    DuckDB: at least the export's money scale (money) or DECIMAL_SCALE (other decimals); and
    the staged rows' count (the same scan)."""
    cols = [(i, name, kind) for i, (name, kind) in enumerate(table.columns) if kind in ("money", "decimal")]
    parts = ["count(*)"]
    for i, _, _ in cols:
        c = f"c{i}"
        parts += [f"max(length(split_part({c}, '.', 2)))",
                  f"max(length(ltrim(ltrim(split_part({c}, '.', 1), '-'), '0')))"]
    got = con.execute(f"SELECT {', '.join(parts)} FROM {_source(table, staged)}").fetchone()
    out = {}
    for k, (_, name, kind) in enumerate(cols):
        scale, digits = got[1 + 2 * k] or 0, got[2 + 2 * k] or 0
        out[name] = (max(money_scale if kind == "money" else DECIMAL_SCALE, scale), max(1, digits))
    return out, got[0]


def _source(table: Table, staged: Path) -> str:
    from ..ledger.db import sql_path

    names = [f"c{i}" for i in range(len(table.columns))] + (["_k"] if table.ledger_sql is not None else [])
    cols = ", ".join(f"'{c}': 'VARCHAR'" for c in names)
    return (f"read_csv('{sql_path(staged)}', header=false, all_varchar=true, auto_detect=false, delim=',', "
            f"quote='\"', escape='\"', new_line='\\n', allow_quoted_nulls=false, max_line_size={MAX_LINE}, "
            f"buffer_size={MAX_LINE}, "
            f"columns={{{cols}}})")


MEMORY_LIMIT = "512MB"
"""DuckDB's memory for writing one table (its default is most of the machine's): a large sort
or partitioned write spills to the export's scratch folder beyond it."""
MAX_LINE = 1 << 26
"""The longest staged row DuckDB reads (64 MiB), and its read buffer: left to itself, DuckDB's
CSV reader takes 16 times the longest row for each buffer (1 GiB a thread)."""


class _Unexportable(Exception):
    """A table's ledger part cannot be typed as its engine rows are (a column kept as text)."""


def _select(table: Table, staged: Path, scales: dict[str, tuple[int, int]]) -> str:
    exprs = []
    types = []
    for i, (name, kind) in enumerate(table.columns):
        c = f"c{i}"
        sql_type = None
        if kind in ("money", "decimal"):
            scale, digits = scales[name]
            if scale + digits > MAX_PRECISION:  # cannot be a DECIMAL exactly: keep the text
                expr = c
            else:
                sql_type = f"DECIMAL({MAX_PRECISION}, {scale})"
        elif kind == "date":
            sql_type = "DATE"
        elif kind == "int":
            sql_type = "BIGINT"
        elif kind == "bool":
            sql_type = "BOOLEAN"
        if sql_type is not None:
            expr = f"CAST({c} AS {sql_type})"
        elif kind == "text_list":
            expr = f"from_json({c}, '[\"VARCHAR\"]')"
        else:
            expr = c
        exprs.append(f'{expr} AS "{name}"')
        types.append(sql_type or ("VARCHAR" if kind == "text" else None))
    if table.ledger_sql is None:
        return f"SELECT {', '.join(exprs)} FROM {_source(table, staged)}"
    # the engine's rows (numbered in their order) and the ledger's (`_k` orders them within a deal)
    if any(t is None for t in types):
        raise _Unexportable(table.name)
    ledger = ", ".join(f'CAST(l."{name}" AS {t}) AS "{name}"' for (name, _), t in zip(table.columns, types))
    return (f"SELECT {', '.join(exprs)}, CAST(_k AS BIGINT) AS _k FROM {_source(table, staged)} "
            f"UNION ALL SELECT {ledger}, l._k FROM ({table.ledger_sql}) l")


def _write_table(table: Table, work: Path, scratch: Path, money_scale: int, ledger_attach) -> int:
    """One table under `work` (its folder); returns its row count."""
    import duckdb

    from ..ledger.db import sql_path

    staged = scratch / f"{table.name}.csv"
    rows = _stage(table, staged)  # no DuckDB open meanwhile: a table's rows may fork workers (the journal)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")  # beyond it, DuckDB spills to the scratch folder
        con.execute(f"SET temp_directory = '{sql_path(scratch)}'")
        if table.ledger_sql is not None:
            ledger_attach(con)
        scales, counted = _scales(con, table, staged, money_scale)
        select = _select(table, staged, scales)
        total = (counted if rows is None else rows) + table.ledger_rows
        if table.ledger_sql is not None:
            written = _copy_in_order(con, table, select, work / table.name)
        elif table.partitioned and total:
            # one thread: a partitioned COPY writes each file in the staged rows' order only then
            con.execute("SET threads = 1")
            target = work / table.name
            written = con.execute(f"COPY ({select}) TO '{sql_path(target)}' "
                                  "(FORMAT parquet, PARTITION_BY (currency), COMPRESSION zstd)").fetchone()
        else:
            (work / table.name).mkdir()
            target = work / table.name / "data_0.parquet"
            written = con.execute(f"COPY ({select}) TO '{sql_path(target)}' (FORMAT parquet, "
                                  "COMPRESSION zstd)").fetchone()
        if table.ledger_sql is not None and (written is None or written[0] != total):
            raise _Unexportable(table.name)  # the ledger changed meanwhile: the engine's rows instead
        return total
    finally:
        con.close()
        staged.unlink()


def _copy_in_order(con, table: Table, select: str, folder: Path) -> tuple[int]:
    """A table with ledger rows, in the engine's order (its order columns, then `_k`): one
    ordered COPY per currency into `currency=X/data_0.parquet` (what PARTITION_BY writes, the
    partition column left out of the files) when partitioned — a partitioned COPY does not keep
    a query's order. Returns (rows written,)."""
    from ..ledger.db import sql_path

    order = f"{table.order_by or chr(34) + table.columns[0][0] + chr(34)}, _k"
    con.execute(f"CREATE TEMP TABLE export_rows AS {select}")
    folder.mkdir()
    if not table.partitioned:
        return con.execute(f"COPY (SELECT * EXCLUDE (_k) FROM export_rows ORDER BY {order}) TO "
                           f"'{sql_path(folder / 'data_0.parquet')}' (FORMAT parquet, COMPRESSION zstd)").fetchone()
    written = 0
    for (currency,) in con.execute("SELECT DISTINCT currency FROM export_rows ORDER BY 1").fetchall():
        part = folder / f"currency={currency}"
        part.mkdir()
        code = currency.replace("'", "''")
        written += con.execute(f"COPY (SELECT * EXCLUDE (currency, _k) FROM export_rows WHERE currency = '{code}' "
                               f"ORDER BY {order}) TO '{sql_path(part / 'data_0.parquet')}' "
                               "(FORMAT parquet, COMPRESSION zstd)").fetchone()[0]
    if not written:
        folder.rmdir()  # as an empty partitioned table: one file with no rows
        folder.mkdir()
        con.execute(f"COPY (SELECT * EXCLUDE (_k) FROM export_rows) TO '{sql_path(folder / 'data_0.parquet')}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
    return (written,)


def write_export(tables: Iterable[Table], out: Path, as_of: date, currencies: Iterable[str],
                 force: bool = False, ledger_attach=None) -> ExportResult:
    """Write `tables` under `out` (made or replaced whole). The caller checked that `out` may be
    written (empty, missing, or `force`). A table with a ledger part (`Table.ledger_sql`) reads
    it through the connection `ledger_attach(con)` prepares. Raises OSError or duckdb.Error;
    nothing is left half-written at `out`."""
    out = Path(out)
    money_scale = max((minor_units(c) for c in currencies), default=2)
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    work = parent / f".{out.name}.export-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    result = ExportResult(out, as_of, money_scale)
    done = False
    try:
        scratch = work / ".scratch"
        scratch.mkdir()
        for table in tables:
            t0 = time.perf_counter()
            try:
                result.tables[table.name] = _write_table(table, work, scratch, money_scale, ledger_attach)
            except _Unexportable:
                if table.complete is None:
                    raise
                shutil.rmtree(work / table.name, ignore_errors=True)
                whole = Table(table.name, table.columns, table.complete())
                result.tables[table.name] = _write_table(whole, work, scratch, money_scale, ledger_attach)
            result.seconds[table.name] = time.perf_counter() - t0
        shutil.rmtree(work / ".scratch", ignore_errors=True)
        manifest = {"format": "parquet", "loanctl": __version__, "as_of": as_of.isoformat(),
                    "money": f"DECIMAL({MAX_PRECISION}, {money_scale})",
                    "currencies": {c: minor_units(c) for c in sorted(set(currencies))},
                    "tables": {name: {"rows": n, "partitioned_by": ["currency"] if (work / name).is_dir() and
                                      any(p.name.startswith("currency=") for p in (work / name).iterdir()) else []}
                               for name, n in result.tables.items()}}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _swap_in(work, out, force)
        done = True
    finally:
        if not done:
            shutil.rmtree(work, ignore_errors=True)
    return result


def _swap_in(work: Path, out: Path, force: bool) -> None:
    """Rename the finished export into place (an empty or, with force, a previous DIR is replaced)."""
    if out.exists() or out.is_symlink():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        try:
            os.replace(work, out)
        except OSError:
            with contextlib.suppress(OSError):
                os.replace(old, out)  # put the previous export back
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                old.unlink()
        return
    os.replace(work, out)
