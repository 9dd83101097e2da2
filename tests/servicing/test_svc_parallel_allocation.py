"""A large allocation runs in worker processes (`loanctl.ledger.allocating.allocate_table`):
the payments go out in chunks of whole deals, each worker allocates its chunks, and the
chunks are merged in facility order. The ledger must be the same, row for row and in the
order its rows are stored, as when one process allocates everything — after a post, after a
rebuild — and a problem found in a worker (a payment after a payoff) is reported as the
serial path reports it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ledgerkit import FIXED_DEAL, TWO_DEAL, post, post_ok, run, snapshot, spy_on, write_book, write_payments
from loanctl.ledger import allocating, staging
from loanctl.ledger.db import ledger_path

HEADER = "payment_id,deal,facility,date,amount,type,reference"
DATES = ["2026-01-15", "2026-03-02", "2026-04-15", "2026-06-01", "2026-07-15", "2026-10-15"]
FACILITIES = [(FIXED_DEAL, "tl"), (TWO_DEAL, "tl"), (TWO_DEAL, "rcf")]


def big_file(bank: Path, n: int = 6000, extra: list[str] = ()) -> Path:
    """n small scheduled payments spread over the book's three facilities (a file large
    enough for the vectorised path), then `extra` lines."""
    lines = [HEADER]
    for i in range(n):
        deal, facility = FACILITIES[i % 3]
        day = DATES[i % len(DATES)]
        if facility == "rcf" and day < "2026-03-02":
            day = "2026-03-02"  # the revolver starts on 2026-03-01
        lines.append(f"p{i:06d},{deal},{facility},{day},{1 + i % 7}.{i % 100:02d},scheduled,wire {i}")
    path = bank / "big.csv"
    bank.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + list(extra)) + "\n")
    assert path.stat().st_size >= staging.FAST_PATH_BYTES
    return path


def stored(root: Path) -> dict[str, list[tuple]]:
    """Every ledger table in the order its rows are stored (no ORDER BY) — and sorted."""
    con = duckdb.connect(str(ledger_path(root)), read_only=True)
    try:
        out = {}
        for table in ("payments", "allocations", "facility_inputs"):
            out[table] = con.execute(f"SELECT * FROM {table}").fetchall()
            out[table + " sorted"] = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


@pytest.fixture
def parallel(monkeypatch) -> list:
    """Allocation in two worker processes from the first payment on; the calls of the workers."""
    monkeypatch.setattr(allocating, "PARALLEL_FROM", 0)
    monkeypatch.setattr(allocating, "worker_count", lambda: 2)
    return spy_on(monkeypatch, allocating, "_in_workers")


def test_parallel_post_and_rebuild_write_the_ledger_of_the_serial_path(tmp_path, monkeypatch):
    bank = tmp_path / "bank"
    f = big_file(bank)
    one = write_book(tmp_path / "serial")
    two = write_book(tmp_path / "parallel")

    with monkeypatch.context() as m:
        m.setattr(allocating, "worker_count", lambda: 1)
        workers = spy_on(m, allocating, "_in_workers")
        post_ok(one, f)
        assert workers == []
    with monkeypatch.context() as m:
        m.setattr(allocating, "PARALLEL_FROM", 0)
        m.setattr(allocating, "worker_count", lambda: 2)
        workers = spy_on(m, allocating, "_in_workers")
        post_ok(two, f)
        assert len(workers) == 1 and len(workers[0]) == 2  # two chunks (one per deal), in two workers
    expected = stored(one)
    assert len(expected["payments"]) == 6000 and len(expected["allocations"]) > 6000
    assert stored(two) == expected

    with monkeypatch.context() as m:  # a rebuild in workers gives the same ledger again
        m.setattr(allocating, "PARALLEL_FROM", 0)
        m.setattr(allocating, "worker_count", lambda: 2)
        workers = spy_on(m, allocating, "_in_workers")
        assert run(two, "ledger", "rebuild").exit_code == 0
        assert len(workers) == 1
    assert stored(two)["allocations"] == expected["allocations"]
    assert snapshot(two) == snapshot(one)


def test_a_payment_after_a_payoff_found_in_a_worker_is_refused_at_its_line(tmp_path, parallel):
    """The payoff on line 6002 (5,000,000: far more than the 1,000,000 loan owes) ends
    acme-fixed on 2026-09-01; the payment dated 2026-10-15 on line 6003 is after it (E0439).
    The workers find it; the row-by-row path then reports it at its line; nothing is posted."""
    bank = tmp_path / "bank"
    book = write_book(tmp_path / "book")
    f = big_file(bank, extra=[f"off1,{FIXED_DEAL},tl,2026-09-01,5000000.00,payoff,payoff",
                              f"late1,{FIXED_DEAL},tl,2026-10-15,10.00,scheduled,late"])
    result = post(book, f)
    assert result.exit_code == 1
    assert parallel  # the vectorised post allocated in workers before handing over
    assert "big.csv:6003" in result.stderr and "E0439" in result.stderr
    assert "big.csv:6002" not in result.stderr
    assert not ledger_path(book).exists()


def test_payment_ids_with_commas_and_quotes_survive_the_chunk_files(tmp_path, parallel):
    """Payment ids are printable ASCII, so they may hold a comma or a quote: the staging CSV
    files quote them, and a rebuild in workers (which read the archive's quoted file row by
    row) stores them unchanged."""
    bank = tmp_path / "bank"
    book = write_book(tmp_path / "book")
    rows = [(f'id,{i}' if i % 2 else f'id"{i}', (FIXED_DEAL, TWO_DEAL)[i // 2], "tl", "2026-04-15", "100.00",
             "scheduled", "r") for i in range(4)]
    text = "\n".join([HEADER] + [",".join('"' + str(v).replace('"', '""') + '"' for v in r) for r in rows]) + "\n"
    post_ok(book, write_payments(bank, "quoted.csv", text))
    before = stored(book)
    ids = {r[0] for r in before["allocations"]}
    assert ids == {"id\"0", "id,1", "id\"2", "id,3"}
    assert run(book, "ledger", "rebuild").exit_code == 0
    assert parallel  # the rebuild allocated in workers
    assert stored(book) == before


def test_csv_text_fields_read_back_unchanged_by_duckdb(tmp_path):
    """The allocation staging files are read by DuckDB with the ledger's fixed dialect."""
    from loanctl.ledger.db import read_staged_csv
    values = ["plain", "a,b", 'q"q', "line\nbreak", "cr\rhere", "both\r\nends", " lead", "trail ", '"', "ünï", '""']
    path = tmp_path / "fields.csv"
    path.write_text("".join(f"{allocating.csv_text(v)},x\n" for v in values), encoding="utf-8", newline="")
    con = duckdb.connect()
    try:
        got = con.execute(f"SELECT payment_id, deal FROM {read_staged_csv(path, 'payment_id, deal')}").fetchall()
    finally:
        con.close()
    assert got == [(v, "x") for v in values]


def test_an_exception_in_a_worker_is_raised_as_it_is(tmp_path, parallel, monkeypatch):
    """An exception that cannot travel back from a worker (ScheduleProblem takes more than its
    message) is met again in this process: the chunk is allocated here and raises it; no
    staging file is left behind."""
    from loanctl.api import load_valid_book
    from loanctl.engine.schedule import ScheduleProblem
    book = write_book(tmp_path / "book")
    post_ok(book, big_file(tmp_path / "bank"))
    loaded, errors = load_valid_book(book)
    assert not errors
    real = allocating.allocate_facility

    def failing(loaded, deal, facility, payments, **kw):
        if deal == TWO_DEAL:
            raise ScheduleProblem("no fixing for 2026-04-01", None, ("facilities", 0), hint="add it", code="E0222")
        return real(loaded, deal, facility, payments, **kw)
    monkeypatch.setattr(allocating, "allocate_facility", failing)
    here: list[int] = []
    real_chunk = allocating._allocate_chunk
    monkeypatch.setattr(allocating, "_allocate_chunk", lambda i, job: (here.append(i), real_chunk(i, job))[1])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    con = duckdb.connect(str(ledger_path(book)))
    try:
        with pytest.raises(ScheduleProblem) as raised:
            allocating.allocate_table(loaded, con, "SELECT *, false AS new FROM payments", scratch)
    finally:
        con.close()
    assert raised.value.hint == "add it"
    assert here == [1]  # the workers allocated both chunks; only acme-two's (the second) again here
    assert list(scratch.iterdir()) == []
