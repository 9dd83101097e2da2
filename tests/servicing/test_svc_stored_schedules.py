"""Stored schedules (SPEC §10, issue #19; loanctl/ledger/stored_schedules.py).

Every deal's schedules are kept in the ledger (`stored_schedules`, money as DECIMAL) under
the deal's fingerprint, written wherever allocations are recomputed (post, rebuild, refresh)
and read by SQL (the export copies them with DuckDB). Here:

* the rows equal the engine's (`schedule_deal`) — and, for the hand-computable loan of
  ledgerkit, the figures worked out by hand;
* a property test: after random sequences of posts, amendments, trades, events and edits the
  stored rows of every deal are stale right after an edit (never read) and equal the engine's
  after the next command;
* identical after deleting `.loanctl/` and `ledger rebuild`;
* `ledger check` reports missing or stale (E0922, a warning) and incomplete (E0923) stored
  schedules;
* the export is the same whether its schedules, allocations and payments come from the
  ledger or from the engine (and its positions from the stored report positions or not), as of dates before and after amendments and payments, and when
  the ledger's rows turn out not to be there (it falls back to the engine).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookfactory import write_file
from ledgerkit import FIXED_DEAL, FIXED_YAML, TWO_DEAL, TWO_YAML, post_rows, posted_demo_book, row, run, write_book
from test_svc_stored_positions import apply_step, start_book, step

D = Decimal
COLUMNS = ("deal, facility, fseq, row, date, accrual_start, accrual_end, days, rate, spread, opening_balance, draws, "
           "interest, pik, commitment_fee, fees, principal, prepayment, total_due, closing_balance, projected")


def stored_rows(root: Path, deal: str) -> tuple[str | None, list[tuple]]:
    """(the fingerprint the deal's rows were stored under, its rows in order)."""
    con = duckdb.connect(str(root / ".loanctl" / "ledger.duckdb"), read_only=True)
    try:
        head = con.execute("SELECT fingerprint FROM stored_schedule_deals WHERE deal = ?", [deal]).fetchone()
        rows = con.execute(f"SELECT {COLUMNS} FROM stored_schedules WHERE deal = ? ORDER BY fseq, row",
                           [deal]).fetchall()
    finally:
        con.close()
    return (head[0] if head else None), rows


def engine_rows(root: Path, deal: str) -> tuple[str | None, list[tuple]]:
    """(the deal's fingerprint in the book as it is, the engine's rows of `loanctl schedule DEAL`)."""
    from loanctl import api
    from loanctl.engine.deal import schedule_deal
    from loanctl.model.documents import FUNDED_OR_LATER
    from loanctl.source.fingerprints import DealFingerprints
    loaded, errors = api.load_valid_book(root)
    assert not errors
    rows: list[tuple] = []
    if loaded.deals[deal].deal.status in FUNDED_OR_LATER:
        s, _ = schedule_deal(loaded, deal)
        for fseq, fs in enumerate(s.facilities):
            rows += [(deal, fs.facility_id, fseq, n, r.date, r.accrual_start, r.accrual_end, r.days, r.rate, r.spread,
                      r.opening_balance, r.draws, r.interest, r.pik, r.commitment_fee, r.fees, r.principal,
                      r.prepayment, r.total_due, r.closing_balance, r.projected) for n, r in enumerate(fs.rows)]
    return DealFingerprints(loaded).of(deal), rows


def up_to_date(root: Path, deal: str) -> bool:
    fp, rows = stored_rows(root, deal)
    want_fp, want = engine_rows(root, deal)
    return fp == want_fp and rows == want


@pytest.fixture
def small(tmp_path, bank):
    book = write_book(tmp_path / "book", deals={FIXED_DEAL: FIXED_YAML, TWO_DEAL: TWO_YAML})
    post_rows(book, bank, "p1.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    return book


def test_a_post_stores_every_deals_schedules_as_computed_by_hand(small):
    fp, rows = stored_rows(small, FIXED_DEAL)
    assert fp is not None
    # the straight-amortising 1,000,000 at 3.6% ACT/360 (ledgerkit.fixed_term_deal)
    by_date = {r[4]: r for r in rows}
    q1 = by_date[date(2026, 4, 15)]
    assert q1[7] == 90 and q1[10] == D("1000000.00")
    assert q1[12] == D("9000.00")       # 1,000,000 × 3.6% × 90/360
    assert q1[16] == D("250000.00")     # a quarter of 1,000,000
    assert q1[19] == D("750000.00")
    q2 = by_date[date(2026, 7, 15)]
    assert q2[12] == D("6825.00")       # 750,000 × 3.6% × 91/360
    assert q2[15] == D("2500.00")       # the agency fee dated 2026-06-30, due on the next payment date
    assert q2[18] == D("259325.00")     # 6,825 + 2,500 + 250,000
    assert by_date[date(2026, 10, 15)][12] == D("4600.00")   # 500,000 × 3.6% × 92/360
    assert by_date[date(2027, 1, 15)][12] == D("2300.00")    # 250,000 × 3.6% × 92/360
    assert by_date[date(2027, 1, 15)][19] == D("0.00")
    # the other deal has no payment, and its schedules are kept all the same
    assert up_to_date(small, FIXED_DEAL) and up_to_date(small, TWO_DEAL)
    assert [r[1] for r in stored_rows(small, TWO_DEAL)[1]][:1] == ["tl"]


def test_an_edit_makes_them_stale_until_the_next_command(small):
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("commitment: 200000", "commitment: 300000"))
    assert not up_to_date(small, TWO_DEAL)          # stale: of the earlier version of the deal
    assert up_to_date(small, FIXED_DEAL)
    result = run(small, "ledger", "check", "--format", "json")
    assert [(d["code"], d["severity"]) for d in json.loads(result.stdout)] == [("E0922", "warning")]
    assert json.loads(result.stdout)[0]["message"].startswith(
        "1 deal has stored schedules of an earlier version of the deal ('acme-two';")
    assert run(small, "ledger", "refresh").exit_code == 0
    assert up_to_date(small, TWO_DEAL)
    assert run(small, "ledger", "check").exit_code == 0


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=4))
def test_stored_schedules_equal_the_engines_after_random_changes(tmp_path_factory, steps):
    book, bank, posted = start_book(tmp_path_factory.mktemp("prop"))
    for i, (kind, arg) in enumerate(steps):
        before = {d: engine_rows(book, d)[0] for d in (FIXED_DEAL, TWO_DEAL)}
        apply_step(book, bank, i, kind, arg, posted)
        if kind in ("amend", "trade", "event", "edit"):
            for deal in (FIXED_DEAL, TWO_DEAL):  # a deal the step changed is stale until the next command
                if engine_rows(book, deal)[0] != before[deal]:
                    assert stored_rows(book, deal)[0] == before[deal], (steps[: i + 1], deal)
            assert run(book, "ledger", "refresh").exit_code == 0
        for deal in (FIXED_DEAL, TWO_DEAL):
            assert up_to_date(book, deal), (steps[: i + 1], deal)


def test_identical_after_deleting_the_state_folder_and_rebuilding(tmp_path):
    book = posted_demo_book(tmp_path)
    con = duckdb.connect(str(book / ".loanctl" / "ledger.duckdb"), read_only=True)
    before = con.execute(f"SELECT {COLUMNS}, fingerprint, currency FROM stored_schedules ORDER BY deal, fseq, row"
                         ).fetchall()
    heads = con.execute("SELECT * FROM stored_schedule_deals ORDER BY deal").fetchall()
    con.close()
    assert len(heads) == 16 and len(before) > 300  # every deal of the demo book; the funded ones' rows
    shutil.rmtree(book / ".loanctl")
    assert run(book, "ledger", "rebuild").exit_code == 0
    con = duckdb.connect(str(book / ".loanctl" / "ledger.duckdb"), read_only=True)
    assert con.execute(f"SELECT {COLUMNS}, fingerprint, currency FROM stored_schedules ORDER BY deal, fseq, row"
                       ).fetchall() == before
    assert con.execute("SELECT * FROM stored_schedule_deals ORDER BY deal").fetchall() == heads
    con.close()
    assert all(up_to_date(book, d) for d, *_ in heads)


def test_ledger_check_reports_missing_and_incomplete_stored_schedules_e0922_e0923(small):
    con = duckdb.connect(str(small / ".loanctl" / "ledger.duckdb"))
    con.execute("DELETE FROM stored_schedules WHERE deal = ? AND row = 3", [FIXED_DEAL])
    con.close()
    result = run(small, "ledger", "check", "--format", "json")
    diags = json.loads(result.stdout)
    assert result.exit_code == 1 and [d["code"] for d in diags] == ["E0923"]
    assert "hold 4 rows where 5 were written" in diags[0]["message"]  # 2026-01-15 and four quarters
    con = duckdb.connect(str(small / ".loanctl" / "ledger.duckdb"))
    con.execute("DELETE FROM stored_schedules")
    con.execute("DELETE FROM stored_schedule_deals")
    con.close()
    result = run(small, "ledger", "check", "--format", "json")
    diags = json.loads(result.stdout)
    assert result.exit_code == 0 and [(d["code"], d["severity"]) for d in diags] == [("E0922", "warning")]
    assert diags[0]["message"].startswith("2 deals have no stored schedules")
    assert run(small, "ledger", "refresh").exit_code == 0
    assert up_to_date(small, FIXED_DEAL) and up_to_date(small, TWO_DEAL)
    assert run(small, "ledger", "check").exit_code == 0


# --- the export reads them (and the allocations and payments) from the ledger ---------------------
def read_back(out: Path) -> dict:
    con = duckdb.connect()
    try:
        tables = {}
        for t in ("deals", "facilities", "schedules", "payments", "allocations", "positions", "journal"):
            q = f"SELECT * FROM read_parquet('{out / t / '**' / '*.parquet'}', hive_partitioning = true)"
            tables[t] = (con.execute(f"DESCRIBE {q}").fetchall(), con.execute(q).fetchall())
        return tables
    finally:
        con.close()


def export_both(book: Path, out: Path, on: date, spoil=None) -> tuple[dict, dict, object]:
    """The export with the ledger's rows (as `loanctl export` writes it) and without (every row
    from the engine, as before stored schedules), read back."""
    from loanctl import api
    from loanctl.export.parquet import write_export
    from loanctl.export.tables import build_tables
    from loanctl.ledger.db import ledger_payments
    from loanctl.ledger.stored_schedules import stored_as_of
    loaded = api.valid_book(book)
    currencies = {r.deal.currency for r in loaded.deals.values()}
    stored = stored_as_of(loaded, on)
    assert stored is not None
    if spoil is not None:
        spoil(stored)
    payments = ledger_payments(book)
    for name in ("ledger", "again"):  # the second reads the positions the first stored
        write_export(build_tables(loaded, payments, on, stored), out / name, on, currencies,
                     ledger_attach=stored.attach)
    write_export(build_tables(loaded, payments, on), out / "engine", on, currencies)
    assert read_back(out / "again") == read_back(out / "ledger")
    return read_back(out / "ledger"), read_back(out / "engine"), stored


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return posted_demo_book(tmp_path_factory.mktemp("demo"))


@pytest.mark.parametrize("on", [date(2026, 11, 28), date(2026, 6, 30), date(2025, 12, 31)])
def test_the_export_is_the_same_from_the_ledger_and_from_the_engine(demo, tmp_path, on):
    ledger, engine, stored = export_both(demo, tmp_path, on)
    assert ledger == engine
    assert stored.schedules and stored.payments is not None  # the ledger's rows were read
    if on == date(2026, 11, 28):  # no amendment after it, and no payment: every deal from the ledger
        assert len(stored.allocations) == len(stored.schedules) == 13
        assert sum(stored.schedules.values()) == len(engine["schedules"][1])
        assert sum(stored.allocations.values()) == len(engine["allocations"][1])
    else:  # deals amended after the date, and facilities paid after it, come from the engine
        assert sum(stored.schedules.values()) < len(engine["schedules"][1])


def test_the_export_falls_back_to_the_engine_when_the_ledgers_rows_are_not_there(demo, tmp_path):
    on = date(2026, 11, 28)

    def spoil(stored):  # the ledger claims one row more than it holds (as if changed meanwhile)
        deal = sorted(stored.schedules)[0]
        stored.schedules[deal] += 1
        stored.allocations[deal] += 1
    ledger, engine, _ = export_both(demo, tmp_path, on, spoil)
    assert ledger == engine


def test_the_export_of_a_stale_deal_reads_the_engine(small, tmp_path):
    from loanctl.export.parquet import write_export  # noqa: F401 (the export path of export_both)
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("commitment: 200000", "commitment: 300000"))
    ledger, engine, stored = export_both(small, tmp_path, date(2026, 11, 28))
    assert TWO_DEAL not in stored.schedules and FIXED_DEAL in stored.schedules
    assert ledger == engine
    rcf = [r for r in engine["facilities"][1] if r[0] == TWO_DEAL and r[1] == "rcf"]
    assert rcf[0][4] == D("300000.00")  # the edited commitment, not the stored one


def test_a_figure_the_columns_cannot_hold_exactly_leaves_the_deal_to_the_engine(tmp_path, bank):
    # a fixed rate of 3.6000000000000000001% is 0.036000000000000000001: 21 decimals, more than
    # DECIMAL(38, 18) holds — the deal is recorded as not exact, with no rows
    precise = FIXED_YAML.replace("fixed_rate: 3.6%", "fixed_rate: 3.6000000000000000001%")
    assert precise != FIXED_YAML
    book = write_book(tmp_path / "book", deals={FIXED_DEAL: precise, TWO_DEAL: TWO_YAML})
    post_rows(book, bank, "p1.csv", [row("c-1", "2026-01-15", "10000.00")])
    con = duckdb.connect(str(book / ".loanctl" / "ledger.duckdb"), read_only=True)
    heads = dict(con.execute("SELECT deal, exact FROM stored_schedule_deals").fetchall())
    counts = dict(con.execute("SELECT deal, count(*) FROM stored_schedules GROUP BY 1").fetchall())
    con.close()
    assert heads == {FIXED_DEAL: False, TWO_DEAL: True}
    assert FIXED_DEAL not in counts and counts[TWO_DEAL] > 0
    ledger, engine, stored = export_both(book, tmp_path, date(2026, 11, 28))
    assert FIXED_DEAL not in stored.schedules and TWO_DEAL in stored.schedules
    assert ledger == engine
    names = [name for name, *_ in engine["schedules"][0]]  # (the partition column, currency, comes last)
    assert dict((name, kind) for name, kind, *_ in engine["schedules"][0])["rate"] == "DECIMAL(38,21)"  # widened
    rates = {r[names.index("date")]: r[names.index("rate")] for r in engine["schedules"][1] if r[0] == FIXED_DEAL}
    assert rates[date(2026, 4, 15)] == D("0.036000000000000000001")
    assert run(book, "ledger", "check").exit_code == 0  # not exact is not stale: nothing to report


def test_worker_processes_store_the_same_rows_as_one_process(demo, tmp_path):
    from loanctl import api
    from loanctl.ledger import stored_schedules
    from loanctl.source.fingerprints import DealFingerprints
    loaded = api.valid_book(demo)
    fps = DealFingerprints(loaded)
    deals = sorted(loaded.deals)
    out = {}
    for workers, parallel_from in ((1, 1), (2, 1)):  # every deal in one process; in two workers, 8 chunks
        stored_schedules.PARALLEL_FROM, keep = parallel_from, stored_schedules.PARALLEL_FROM
        try:
            heads, files = stored_schedules.compute(loaded, deals, fps, tmp_path, workers)
        finally:
            stored_schedules.PARALLEL_FROM = keep
        out[workers] = heads, b"".join(p.read_bytes() for p in files), len(files)
        for p in files:
            p.unlink()
    assert out[1][:2] == out[2][:2] and out[1][2] == 1 and out[2][2] == 8  # 16 deals in chunks of 2
    assert [h[0] for h in out[1][0]] == deals


def test_a_rebuild_keeps_the_stored_schedules_still_of_the_book_and_computes_the_rest(small, monkeypatch):
    from loanctl.ledger import stored_schedules
    before = {d: stored_rows(small, d) for d in (FIXED_DEAL, TWO_DEAL)}
    con = duckdb.connect(str(small / ".loanctl" / "ledger.duckdb"))
    con.execute("DELETE FROM stored_schedules WHERE deal = ? AND row = 3", [FIXED_DEAL])  # damaged (E0923)
    con.close()
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("commitment: 200000", "commitment: 300000"))
    computed: list[str] = []
    original = stored_schedules.deal_schedules
    monkeypatch.setattr(stored_schedules, "deal_schedules",
                        lambda loaded, deal, fp: computed.append(deal) or original(loaded, deal, fp))
    assert run(small, "ledger", "rebuild").exit_code == 0
    assert computed == [FIXED_DEAL, TWO_DEAL]  # the damaged one and the edited one
    assert stored_rows(small, FIXED_DEAL) == before[FIXED_DEAL]
    assert up_to_date(small, FIXED_DEAL) and up_to_date(small, TWO_DEAL)
    computed.clear()
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML)  # back as it was
    assert run(small, "ledger", "rebuild").exit_code == 0
    assert computed == [TWO_DEAL]  # acme-fixed copied from the ledger being replaced
    assert stored_rows(small, TWO_DEAL) == before[TWO_DEAL] and up_to_date(small, FIXED_DEAL)
    assert run(small, "ledger", "check").exit_code == 0
