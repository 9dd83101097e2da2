"""`loanctl export --format parquet` (SPEC §10, issue #19): the demo book with its demo payments
posted, exported and read back with DuckDB; every figure is compared with Decimal equality to
what `report --book`, `journal`, `schedule` and the ledger say, and the payments to the bank
files themselves. Also: a non-empty --out is refused without --force, and a failed export
changes nothing at --out (E0900)."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from bookfactory import invoke

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "deals"
DEMO_PAYMENTS = sorted((REPO / "templates" / "demo-payments").glob("*.csv"))
AS_OF = "2026-11-28"
MONEY = ("commitment", "drawn", "unfunded", "outstanding_principal", "accrued_interest", "accrued_pik",
         "accrued_commitment_fee", "pik_capitalised", "interest_received", "fees_received", "principal_received",
         "unapplied", "past_due")


def ok(*args) -> str:
    result = invoke([str(a) for a in args])
    assert result.exit_code == 0, (args, result.stderr, result.exception)
    return result.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    book = Path(shutil.copytree(DEMO, base / "book", ignore=shutil.ignore_patterns(".loanctl", "payments")))
    ok("--book", book, "post-payments", *DEMO_PAYMENTS, "--posting-day", AS_OF)
    out = base / "out"
    ok("--book", book, "export", "--out", out, "--as-of", AS_OF)
    return book, out


def read(out: Path, table: str, sql: str = "SELECT * FROM t") -> list[dict]:
    con = duckdb.connect()
    try:
        pattern = out / table / "**" / "*.parquet"
        con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


def test_every_table_is_written_with_decimal_money(exported):
    book, out = exported
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["tables"]) == sorted(["deals", "facilities", "schedules", "payments", "allocations",
                                                 "positions", "journal"])
    assert manifest["money"] == "DECIMAL(38, 2)"  # the demo's USD and GBP both have 2 minor digits
    con = duckdb.connect()
    for table, column in (("payments", "amount"), ("allocations", "amount"), ("journal", "amount"),
                          ("positions", "outstanding_principal"), ("schedules", "total_due")):
        types = dict((r[0], r[1]) for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{out / table / '**' / '*.parquet'}', hive_partitioning = true)"
        ).fetchall())
        assert types[column] == "DECIMAL(38,2)", (table, types)
        assert manifest["tables"][table]["rows"] == len(read(out, table))
    # the large tables are partitioned by currency, hive style; the demo has USD and GBP deals
    assert sorted(p.name for p in (out / "journal").iterdir()) == ["currency=GBP", "currency=USD"]
    assert (out / "positions" / "data_0.parquet").is_file()


def test_positions_and_totals_equal_the_report(exported):
    book, out = exported
    report = json.loads(ok("--book", book, "report", "--book", "--as-of", AS_OF, "--format", "json"))
    rows = {(r["deal"], r["facility"]): r for r in read(out, "positions")}
    assert len(rows) == len(report["positions"]) > 10
    for expected in report["positions"]:
        got = rows[(expected["deal"], expected["facility"])]
        for key in MONEY:
            assert got[key] == Decimal(expected[key]), (expected["deal"], key)
        assert got["dpd"] == expected["dpd"] and got["lenders"] == expected["lenders"]
        for key in ("rate", "spread", "share"):
            assert (got[key] is None and expected[key] is None) or got[key] == Decimal(expected[key])
    for ccy, totals in report["totals"].items():
        sums = read(out, "positions", "SELECT " + ", ".join(f"sum({k}) AS {k}" for k in MONEY)
                    + f" FROM t WHERE currency = '{ccy}'")[0]
        for key in MONEY:
            assert sums[key] == Decimal(totals[key]), (ccy, key)


def test_the_journal_equals_loanctl_journal(exported):
    book, out = exported
    journal = json.loads(ok("--book", book, "journal", "--to", AS_OF, "--format", "json"))
    by_account: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    postings = 0
    for e in journal["entries"]:
        for p in e["postings"]:
            by_account[(e["currency"], p["account"])] += Decimal(p["amount"])
            postings += 1
    got = {(r["currency"], r["account"]): r["s"] for r in
           read(out, "journal", "SELECT currency, account, sum(amount) AS s FROM t GROUP BY ALL")}
    assert got == dict(by_account)
    assert len(read(out, "journal")) == postings
    # each entry balances in its currency (double entry)
    assert read(out, "journal", "SELECT entry FROM t GROUP BY entry HAVING sum(amount) <> 0") == []


def test_payments_equal_the_bank_files(exported):
    book, out = exported
    expected: dict[str, Decimal] = {}
    for path in DEMO_PAYMENTS:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                if row["date"] <= AS_OF:
                    expected[row["payment_id"]] = Decimal(row["amount"])
    got = {r["payment_id"]: r["amount"] for r in read(out, "payments")}
    assert got == expected
    assert read(out, "payments", "SELECT sum(amount) AS s FROM t")[0]["s"] == sum(expected.values())


def test_allocations_equal_the_ledger_and_schedules_equal_loanctl_schedule(exported):
    book, out = exported
    # every payment is on or before the as-of day, so the export's allocations are the ledger's
    stored = json.loads(ok("--book", book, "query", "SELECT deal, facility, seq, payment_id, component, "
                           "CAST(amount AS VARCHAR) AS amount FROM allocations", "--format", "json"))
    rows = stored["rows"] if isinstance(stored, dict) else stored
    want = sorted((r["deal"], r["facility"], r["seq"], r["payment_id"], r["component"], Decimal(r["amount"]))
                  for r in rows)
    got = sorted((r["deal"], r["facility"], r["seq"], r["payment_id"], r["component"], r["amount"])
                 for r in read(out, "allocations"))
    assert got == want and len(got) > 50
    deal = "alder-tl-2026"
    sched = json.loads(ok("--book", book, "schedule", deal, "--as-of", AS_OF, "--format", "json"))
    facility = sched["facilities"][0]
    exported_rows = read(out, "schedules", f"SELECT * FROM t WHERE deal = '{deal}' AND facility = "
                                           f"'{facility['facility']}' ORDER BY row")
    assert [(r["date"].isoformat(), r["total_due"], r["closing_balance"]) for r in exported_rows] == [
        (r["date"], Decimal(r["total_due"]), Decimal(r["closing_balance"])) for r in facility["rows"]]


def test_a_non_empty_folder_is_refused_without_force(exported, tmp_path):
    book, _ = exported
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke(["--book", str(book), "export", "--out", str(out), "--as-of", AS_OF])
    assert result.exit_code == 2 and "--force" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    ok("--book", book, "export", "--out", out, "--as-of", AS_OF, "--force")
    assert not (out / "keep.txt").exists() and (out / "manifest.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left beside it


def test_a_failed_export_changes_nothing_at_out_e0900(exported, tmp_path, monkeypatch):
    from loanctl.export import tables

    book, _ = exported
    out = tmp_path / "out"
    ok("--book", book, "export", "--out", out, "--as-of", AS_OF)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(tables, "journal_table", disk_full)
    result = invoke(["--book", str(book), "export", "--out", str(out), "--as-of", AS_OF, "--force"])
    assert result.exit_code == 1
    code = "E0900"
    assert f"error[{code}]: the export could not be written: No space left on device" in result.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_an_export_inside_the_book_must_go_under_reports(exported):
    book, _ = exported
    result = invoke(["--book", str(book), "export", "--out", str(book / "exp"), "--as-of", AS_OF])
    assert result.exit_code == 2 and "reports/" in result.stderr and not (book / "exp").exists()
    ok("--book", book, "export", "--out", book / "reports" / "exp", "--as-of", AS_OF)
    assert (book / "reports" / "exp" / "manifest.json").is_file()


def test_deleting_the_state_folder_then_rebuilding_gives_identical_outputs(exported, tmp_path):
    """SPEC §10: .loanctl/ holds the ledger and caches only; after deleting it, `ledger rebuild`
    restores the ledger from payments/, and every output is as before (the cache warm, then gone)."""
    book = Path(shutil.copytree(exported[0], tmp_path / "book"))

    def outputs(out: Path):
        report = ok("--book", book, "report", "--book", "--as-of", AS_OF, "--format", "json")
        journal = ok("--book", book, "journal", "--to", AS_OF, "--format", "json")
        validate = invoke(["--book", str(book), "validate", "--format", "json"])
        ok("--book", book, "export", "--out", out, "--as-of", AS_OF)
        tables = {t: sorted(map(repr, (tuple(r.values()) for r in read(out, t)))) for t in
                  ("positions", "journal", "allocations", "payments", "schedules")}
        return report, journal, (validate.exit_code, validate.stdout), tables

    before = outputs(tmp_path / "a")
    shutil.rmtree(book / ".loanctl")
    ok("--book", book, "ledger", "rebuild")
    assert outputs(tmp_path / "b") == before


def _same_tables(a: Path, b: Path) -> None:
    """Every table of two exports holds the same rows (EXCEPT ALL both ways) with the same
    column types in the same files."""
    con = duckdb.connect()
    try:
        for table in json.loads((a / "manifest.json").read_text())["tables"]:
            assert sorted(p.relative_to(a) for p in (a / table).rglob("*")) == \
                sorted(p.relative_to(b) for p in (b / table).rglob("*")), table
            src = [f"read_parquet('{d / table / '**' / '*.parquet'}', hive_partitioning = true)" for d in (a, b)]
            assert con.execute(f"DESCRIBE SELECT * FROM {src[0]}").fetchall() == \
                con.execute(f"DESCRIBE SELECT * FROM {src[1]}").fetchall(), table
            for x, y in ((0, 1), (1, 0)):
                assert con.execute(f"SELECT count(*) FROM (SELECT * FROM {src[x]} EXCEPT ALL "
                                   f"SELECT * FROM {src[y]})").fetchone() == (0,), table
    finally:
        con.close()


def test_with_stored_rows_no_table_loads_every_payment(exported, tmp_path, monkeypatch):
    """As of a day before the last payments (allocations and positions partly the engine's,
    positions not yet stored): the export reading only the payments it computes with, a deal
    at a time, is the export computed by the engine from every payment."""
    from loanctl.export import tables
    from loanctl.ledger import db, stored_schedules

    book, _ = exported
    day = "2026-06-30"
    with monkeypatch.context() as m:  # the engine's export: no stored rows, every payment loaded
        m.setattr(stored_schedules, "stored_as_of", lambda *args: None)
        ok("--book", book, "export", "--out", tmp_path / "engine", "--as-of", day)

    def every_payment(root):
        raise AssertionError("every payment loaded")
    monkeypatch.setattr(db, "ledger_payments", every_payment)
    monkeypatch.setattr(tables, "CHUNK_DEALS", 1)
    ok("--book", book, "export", "--out", tmp_path / "ledger", "--as-of", day)
    _same_tables(tmp_path / "engine", tmp_path / "ledger")
    assert json.loads((tmp_path / "ledger" / "manifest.json").read_text())["tables"]["allocations"]["rows"] > 20


def test_a_table_given_as_staged_lines_is_typed_as_its_rows(tmp_path):
    """The journal's rows come as staged CSV text (`Table.lines`): quotes, commas, a line break
    inside a text, NULLs and money's exact digits are read back as the values themselves."""
    from datetime import date

    from loanctl.export.parquet import stage_text, write_export
    from loanctl.export.tables import Table

    columns = [("entry", "int"), ("date", "date"), ("narration", "text"), ("ref", "text"), ("currency", "text"),
               ("amount", "money")]
    rows = [(1, date(2026, 1, 31), 'say "hi", then\nbye', None, "USD", Decimal("-12.5")),
            (2, date(2026, 2, 28), "", "p-1", "EUR", Decimal("0.001"))]
    lines = [",".join(stage_text(v, k) for v, (_, k) in zip(row, columns)) + "\n" for row in rows]
    assert lines[0] == '1,2026-01-31,"say ""hi"", then\nbye",,"USD",-12.5\n'
    table = Table("journal", columns, lines=iter(lines))
    result = write_export([table], tmp_path / "out", date(2026, 2, 28), ["USD", "EUR"])
    assert result.tables == {"journal": 2} and result.money_scale == 2
    got = read(tmp_path / "out", "journal", "SELECT entry, date, narration, ref, currency, amount FROM t ORDER BY 1")
    assert [tuple(r.values()) for r in got] == [
        (1, date(2026, 1, 31), 'say "hi", then\nbye', None, "USD", Decimal("-12.500")),
        (2, date(2026, 2, 28), "", "p-1", "EUR", Decimal("0.001"))]  # money widened to 3 digits: 0.001 kept
    con = duckdb.connect()
    types = dict(r[:2] for r in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{tmp_path / 'out' / 'journal' / '**' / '*.parquet'}')").fetchall())
    assert types["amount"] == "DECIMAL(38,3)" and types["date"] == "DATE" and types["entry"] == "BIGINT"


def test_positions_are_computed_in_parts_of_chunk_deals_to_compute(monkeypatch):
    from loanctl.export import tables

    monkeypatch.setattr(tables, "CHUNK_DEALS", 2)
    assert tables._parts(list("abcdefg"), set("bcdg")) == [list("abc"), list("defg")]
    assert tables._parts(list("abc"), set()) == [list("abc")]  # every position stored: one part
    assert tables._parts([], set()) == [[]]
