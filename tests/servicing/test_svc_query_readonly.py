"""`loanctl query` is read-only (SPEC §4.5): it can neither write the ledger nor attach,
read or copy files; each attempt is E0424 with exit 1 and the book unchanged."""

from __future__ import annotations

import json

import pytest

from ledgerkit import post_ok, row, run, snapshot, tree_hash, write_book, write_payments


@pytest.fixture(scope="module")
def posted(tmp_path_factory):
    """One posted book shared by the module: every test asserts it is left unchanged."""
    book = write_book(tmp_path_factory.mktemp("query") / "book")
    post_ok(book, write_payments(tmp_path_factory.mktemp("bank"), "p.csv", [
        row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")]))
    return book


REJECTED = {
    "copy to a file": "COPY (SELECT * FROM payments) TO '{out}/leak.csv'",
    "copy from a file": "COPY payments FROM '/etc/passwd'",
    "attach": "ATTACH '{out}/other.duckdb' AS other",
    "detach the ledger": "DETACH ledger",
    "insert": "INSERT INTO payments (payment_id) VALUES ('forged')",
    "insert into the attached ledger": "INSERT INTO ledger.payments (payment_id) VALUES ('forged')",
    "update": "UPDATE ledger.allocations SET amount = 0",
    "delete": "DELETE FROM ledger.payments",
    "drop": "DROP TABLE ledger.allocations",
    "create": "CREATE TABLE t AS SELECT 1",
    "read_csv of /etc/passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "read_text": "SELECT * FROM read_text('/etc/hostname')",
    "glob": "SELECT * FROM glob('/etc/*')",
    "a parquet file": "SELECT * FROM '{out}/x.parquet'",
    "multiple statements": "SELECT 1; SELECT 2",
    "a read then a write": "SELECT 1; DELETE FROM ledger.payments",
    "set a setting": "SET enable_external_access = true",
    "pragma": "PRAGMA enable_profiling",
    "install an extension": "INSTALL httpfs",
    "load an extension": "LOAD httpfs",
    "export": "EXPORT DATABASE '{out}/dump'",
    "checkpoint": "CHECKPOINT ledger",
    "explain analyze a write to the ledger": "EXPLAIN ANALYZE DELETE FROM ledger.payments",
    "explain analyze a copy": "EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}/leak2.csv'",
    "syntax error": "SELEC 1",
}


@pytest.mark.parametrize("sql", list(REJECTED.values()), ids=list(REJECTED))
def test_query_rejects_writes_file_access_and_multiple_statements(posted, tmp_path, sql):
    out = tmp_path / "out"
    out.mkdir()
    before_hash, before = tree_hash(posted), snapshot(posted)
    result = run(posted, "query", sql.format(out=out))
    assert result.exit_code == 1, result.stdout
    assert "<book>: error[E0424]: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert list(out.iterdir()) == []
    assert tree_hash(posted) == before_hash
    assert snapshot(posted) == before


def test_query_reads_the_ledger_and_the_book_views(posted):
    result = run(posted, "query", "select p.payment_id, sum(a.amount) as allocated, count(*) as n "
                                  "from payments p join allocations a using (payment_id) "
                                  "group by 1 order by 1", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert [(r["payment_id"], float(r["allocated"]), r["n"]) for r in json.loads(result.stdout)] == [
        ("c-1", 10000.0, 1), ("q1", 259000.0, 2)]
    views = run(posted, "query", "select (select count(*) from deals), (select count(*) from facilities), "
                                 "(select count(*) from schedules where deal = 'acme-fixed')", "--format", "csv")
    assert views.stdout.splitlines()[1] == "2,3,5"


def test_query_without_a_ledger_sees_empty_ledger_tables(book):
    result = run(book, "query", "select count(*) from payments", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1] == "0"
    assert not (book / ".loanctl" / "ledger.duckdb").exists()
