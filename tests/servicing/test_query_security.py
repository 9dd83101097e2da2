"""`loanctl query` is read-only, really (issue #11, class 2) and its output is inert (class 7).

Each attack runs through the real command line on a posted book and asserts the exit code,
the diagnostic code, that the ledger's bytes (sha256) and the whole book are unchanged, and
that nothing was written outside the test's folder: the query's private work folder (ledger
copy and spill folder) lives under a temp folder of the test's own and is removed after.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time

import duckdb
import pytest

from ledgerkit import post_ok, row, run, run_sub, snapshot, tree_hash, write_book, write_payments

from loanctl.ledger import query as query_module
from loanctl.ledger.db import ledger_path


@pytest.fixture(scope="module")
def posted(tmp_path_factory):
    """One posted book shared by the module: every test asserts it is left unchanged."""
    book = write_book(tmp_path_factory.mktemp("qsec") / "book")
    post_ok(book, write_payments(tmp_path_factory.mktemp("bank"), "p.csv", [
        row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")]))
    return book


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The process temp folder points into the test folder; it must be empty after each query."""
    folder = tmp_path / "proc-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """A working directory of the test's own (DuckDB's default spill folder is ./.tmp)."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def ledger_sha(book) -> str:
    return hashlib.sha256(ledger_path(book).read_bytes()).hexdigest()


def refused(book, private_tmp, cwd, *args, code: str = "E0424"):
    """Run `loanctl query ARGS`; assert exit 1 with `code`, nothing printed on stdout and
    nothing changed or created anywhere."""
    before_sha, before_tree, before = ledger_sha(book), tree_hash(book), snapshot(book)
    result = run(book, "query", *args)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"<book>: error[{code}]: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert ledger_sha(book) == before_sha
    assert tree_hash(book) == before_tree and snapshot(book) == before
    assert list(private_tmp.iterdir()) == []
    assert list(cwd.iterdir()) == []
    return result


# --- the statement filter is DuckDB's own parser ------------------------------------------------
ATTACKS = {
    "explain analyze create": "EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1",
    "explain analyze insert": "EXPLAIN ANALYZE INSERT INTO payments (payment_id) VALUES ('forged')",
    "explain (options) analyze insert": "EXPLAIN (FORMAT json) INSERT INTO payments (payment_id) VALUES ('x')",
    "explain (analyze) create": "EXPLAIN (ANALYZE) CREATE TABLE x AS SELECT 1",
    "explain analyse (British) create": "EXPLAIN ANALYSE CREATE TABLE x AS SELECT 1",
    "explain behind a comment": "EXPLAIN /* SELECT */ ANALYZE -- SELECT\nCREATE TABLE x AS SELECT 1",
    "explain a copy": "EXPLAIN ANALYZE COPY (SELECT 1) TO 'out.csv'",
    "copy to a relative file": "COPY (SELECT 1) TO 'out.csv'",
    "attach": "ATTACH 'other.duckdb' AS other",
    "install httpfs": "INSTALL httpfs",
    "load httpfs": "LOAD httpfs",
    "set external access on": "SET enable_external_access = true",
    "reset a setting": "RESET temp_directory",
    "pragma": "PRAGMA enable_profiling",
    "call": "CALL pragma_version()",
    "select then drop": "SELECT 1; DROP TABLE payments",
    "create": "CREATE TABLE t AS SELECT 1",
    "export": "EXPORT DATABASE 'dump'",
    "pivot (creates types)": "PIVOT payments ON deal USING count(*)",
    "prepare": "PREPARE p AS SELECT 1",
    "transaction": "BEGIN TRANSACTION",
    "empty": "   ",
}


@pytest.mark.parametrize("sql", list(ATTACKS.values()), ids=list(ATTACKS))
def test_query_refuses_every_statement_but_select_and_explain_of_select(posted, private_tmp, cwd, sql):
    refused(posted, private_tmp, cwd, sql)


def test_explain_analyze_of_a_write_names_what_it_explains(posted, private_tmp, cwd):
    result = refused(posted, private_tmp, cwd, "EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1")
    assert "EXPLAIN is allowed only of a SELECT (this explains create)" in result.stderr


def test_read_csv_of_etc_passwd_is_refused_without_printing_it(posted, private_tmp, cwd):
    result = refused(posted, private_tmp, cwd, "SELECT * FROM read_csv('/etc/passwd')")
    assert "root:" not in result.stderr


@pytest.mark.parametrize("sql, expected", [
    ("EXPLAIN SELECT count(*) FROM payments", "physical_plan"),
    ("EXPLAIN ANALYZE SELECT count(*) FROM payments", "analyzed_plan"),
    ("EXPLAIN (SELECT 1)", "physical_plan"),
    ("EXPLAIN (FORMAT json) SELECT 1", "physical_plan"),
    ("/* a note */ WITH n AS (SELECT count(*) AS c FROM payments) SELECT c FROM n", "2"),
    ("FROM payments SELECT count(*) AS n", "2"),
], ids=["explain", "explain analyze", "explain a parenthesised select", "explain with options", "with", "from-first"])
def test_select_and_explain_of_select_still_run(posted, private_tmp, sql, expected):
    before = snapshot(posted)  # a query that runs may keep the book views' rows (stored_positions), nothing else
    result = run(posted, "query", sql, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert expected in result.stdout
    assert snapshot(posted) == before
    assert list(private_tmp.iterdir()) == []


# --- spilling never follows ./.tmp ------------------------------------------------------------
def test_a_spilling_query_never_writes_through_a_tmp_symlink(posted, private_tmp, cwd, tmp_path, monkeypatch):
    """DuckDB's default spill folder is ./.tmp: a symlink there used to let a query write anywhere.
    The memory limit is lowered so the aggregate (2,000,000 groups of 4 values) must spill."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (cwd / ".tmp").symlink_to(outside, target_is_directory=True)
    monkeypatch.setattr(query_module, "MEMORY_LIMIT", "32MB")
    seen: set[str] = set()
    done = threading.Event()

    def watch():  # spill files live only while the query runs: look for them while it does
        while not done.is_set():
            seen.update(os.listdir(outside))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    before = snapshot(posted)
    try:
        result = run(posted, "query", "SELECT count(*) AS groups FROM (SELECT range % 2000000 AS k, any_value(range) "
                                      "FROM range(8000000) GROUP BY k)", "--format", "csv")
    finally:
        done.set()
        watcher.join()
    assert result.exit_code == 0, result.stderr
    # range(8,000,000) holds every residue 0..1,999,999 of 2,000,000 (four times): 2,000,000 groups.
    assert result.stdout == "groups\n2000000\n"
    assert seen == set() and list(outside.iterdir()) == []
    assert [p.name for p in cwd.iterdir()] == [".tmp"]
    assert list(private_tmp.iterdir()) == []
    assert snapshot(posted) == before


def test_a_query_over_its_memory_and_spill_budget_is_e0426(posted, private_tmp, cwd, monkeypatch):
    monkeypatch.setattr(query_module, "MEMORY_LIMIT", "16MB")
    monkeypatch.setattr(query_module, "TEMP_LIMIT", "1MB")
    refused(posted, private_tmp, cwd, "SELECT count(*) FROM (SELECT range % 2000000 AS k, any_value(range) "
                                      "FROM range(8000000) GROUP BY k)", code="E0426")


def test_no_room_for_the_private_work_folder_is_e0427(posted, tmp_path, cwd, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    before_sha, before_tree = ledger_sha(posted), tree_hash(posted)
    result = run(posted, "query", "SELECT 1")
    assert result.exit_code == 1
    code = "E0427"
    assert f"error[{code}]: cannot create the query's private work folder" in result.stderr, result.stderr
    assert ledger_sha(posted) == before_sha and tree_hash(posted) == before_tree
    assert not (tmp_path / "no-such-folder").exists()


# --- time limit, and a query never keeps post-payments out ---------------------------------------
def test_a_runaway_query_is_stopped_at_its_time_limit_with_e0425(posted, private_tmp, cwd):
    result = refused(posted, private_tmp, cwd, "SELECT count(*) FROM range(10000000000) a, range(10000000000) b",
                     "--timeout", "1", code="E0425")
    assert "time limit of 1 s" in result.stderr


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_timeout_must_be_a_positive_number_of_seconds(posted, value):
    result = run(posted, "query", "SELECT 1", "--timeout", value)
    assert result.exit_code == 2
    assert "--timeout must be more than 0" in result.stderr


def test_a_running_query_does_not_block_posting(tmp_path, private_tmp, monkeypatch):
    """While a query runs, post-payments (another process) opens the ledger for writing and
    posts: the query works on a private copy and holds no lock on the ledger (it used to hold
    DuckDB's read lock for its whole run, and the post failed with E0421)."""
    book = write_book(tmp_path / "book")
    post_ok(book, write_payments(tmp_path / "bank", "a.csv", [row("c-1", "2026-01-15", "10000.00")]))
    running, connections = threading.Event(), []
    real = query_module._run_with_time_limit

    def spy(con, statement, timeout):
        connections.append(con)
        running.set()
        return real(con, statement, timeout)

    monkeypatch.setattr(query_module, "_run_with_time_limit", spy)
    from loanctl.api import load_valid_book
    from loanctl.diagnostics import DiagnosticError
    loaded, errors = load_valid_book(book)
    assert not errors
    outcome = {}

    def long_query():
        try:
            query_module.run_query(loaded, "SELECT count(*) FROM range(10000000000) a, range(10000000000) b",
                                   query_module.date(2026, 12, 1), timeout=600)
        except DiagnosticError as exc:
            outcome["codes"] = [d.code for d in exc.diagnostics]

    q = threading.Thread(target=long_query)
    q.start()
    assert running.wait(60)
    try:  # another process, as in real life: DuckDB's file lock is per process
        posting = run_sub(book, "post-payments", write_payments(tmp_path / "bank", "b.csv", [
            row("q1", "2026-04-15", "259000.00")]), "--posting-day", "2026-12-01")
    finally:
        while q.is_alive():
            with contextlib.suppress(duckdb.Error):  # closed once the query has stopped
                connections[0].interrupt()
            q.join(0.05)
    assert posting.returncode == 0, posting.stderr
    assert outcome["codes"] == ["E0425"]
    result = run(book, "query", "SELECT payment_id FROM payments ORDER BY 1", "--format", "csv")
    assert result.stdout == "payment_id\nc-1\nq1\n"
    assert list(private_tmp.iterdir()) == []


# --- output is valid JSON and inert text --------------------------------------------------------
def _no_constants(name):
    raise AssertionError(f"invalid JSON constant {name}")


def test_json_output_is_valid_json_without_nan_or_infinity(posted, private_tmp):
    result = run(posted, "query", "SELECT 'nan'::DOUBLE AS n, 'inf'::DOUBLE AS p, '-inf'::DOUBLE AS m, "
                                  "1.5::DOUBLE AS f, 12.30::DECIMAL(10,2) AS d, ['nan'::DOUBLE, 2.5] AS l, "
                                  "{'x': 'inf'::DOUBLE} AS s", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout, parse_constant=_no_constants) == [
        {"n": "NaN", "p": "Infinity", "m": "-Infinity", "f": 1.5, "d": "12.30", "l": ["NaN", 2.5],
         "s": {"x": "Infinity"}}]


HOSTILE = ("SELECT chr(27) || ']0;pwn' || chr(7) AS title, '[bold]x[/]' AS markup, 'a' || chr(13) || 'b' AS cr, "
           "'c' || chr(13) || chr(10) || 'd' AS crlf")


def test_csv_output_shows_control_characters_escaped_and_markup_as_text(posted, private_tmp):
    result = run(posted, "query", HOSTILE, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    # ESC (0x1b), BEL (0x07) and a lone CR (0x0d) are written as the four characters \x1b, \x07,
    # \x0d; a CR LF stays, in a quoted field, so that a reference's line breaks round-trip.
    assert result.stdout_bytes == b'title,markup,cr,crlf\n\\x1b]0;pwn\\x07,[bold]x[/],a\\x0db,"c\r\nd"\n'


def test_table_output_prints_markup_and_escapes_inertly(posted, private_tmp):
    result = run(posted, "query", HOSTILE, "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "\\x1b]0;pwn\\x07" in result.stdout
    assert "[bold]x[/]" in result.stdout
    out = result.stdout_bytes.decode()  # (click's .stdout would turn CR LF into LF)
    assert "a\\x0db" in out  # a CR could overwrite the line on a terminal: shown as \x0d
    assert "c\\x0d" in out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out


def test_json_output_keeps_the_data_exact_and_escaped(posted, private_tmp):
    result = run(posted, "query", HOSTILE, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert json.loads(result.stdout) == [{"title": "\x1b]0;pwn\x07", "markup": "[bold]x[/]", "cr": "a\rb",
                                         "crlf": "c\r\nd"}]
