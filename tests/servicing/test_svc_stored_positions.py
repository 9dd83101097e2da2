"""Stored report positions (SPEC §10, issue #19 item 2; loanctl/ledger/stored_positions.py).

The report keeps each facility's computed entry (position row, flows, trades) in the ledger,
keyed by the digest of its inputs, and reuses it while they are unchanged. Here:

* the demo book with its demo payments posted: every scope's report JSON is byte-identical
  computed from scratch (no store), the first time (filling the store), the second time
  (read from it), after deleting `.loanctl/` and rebuilding, and as of a past date;
* stale state is never shown: after a new payment, a deal edit, a trade file or an event file
  the report's figures are the new ones (hand-computed on the small book of ledgerkit) and
  only the touched facility is re-allocated;
* a property test: after random sequences of posts, amendments, trades, events and edits,
  the stored entry of every facility equals a fresh computation;
* `ledger check` finds corrupt (E0920) and stale (E0921) stored positions; `ledger refresh`
  drops them.
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
from ledgerkit import FIXED_DEAL, FIXED_YAML, TWO_DEAL, TWO_YAML, post_rows, row, posted_demo_book, run, write_book

D = Decimal


def report_json(root: Path, on: date, stored: bool, **scope) -> str:
    """The report JSON of a scope, through the stored positions or computed from scratch."""
    from loanctl import api
    from loanctl.ledger.db import ledger_payments
    from loanctl.render import report as render
    if stored:
        return render.to_json(api.report(root, on, **scope))
    # what `report` computed before stored positions: every facility allocated from its payments
    loaded, _ = api.load_valid_book(root)
    from loanctl.reports.build import resolve_scope
    from loanctl.underwriting.covenants import covenant_rows
    sc = resolve_scope(loaded, fund=scope.get("fund"), lender=scope.get("lender"), deal=scope.get("deal"),
                       book=scope.get("whole_book", False))
    cov = covenant_rows(loaded, on, deals=[sc.id] if sc.kind == "deal" else None, lenders=sc.lenders or None)
    return render.to_json(api.valued_report(loaded, sc, on, ledger_payments(root), cov))


def stored_count(root: Path) -> int:
    con = duckdb.connect(str(root / ".loanctl" / "ledger.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM stored_positions").fetchone()[0]
    finally:
        con.close()


SCOPES = [dict(whole_book=True), dict(fund="fund-i"), dict(fund="fund-ii"), dict(lender="fund-i-spv"),
          dict(deal="sable-tl-2025")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("stored")
    return posted_demo_book(base)


@pytest.mark.parametrize("on", [date(2026, 11, 28), date(2026, 6, 30)])
def test_demo_reports_are_byte_identical_with_and_without_stored_positions(demo, on):
    for scope in SCOPES:
        fresh = report_json(demo, on, stored=False, **scope)
        first = report_json(demo, on, stored=True, **scope)   # computes and stores
        second = report_json(demo, on, stored=True, **scope)  # reads the stored entries
        assert first == fresh and second == fresh, scope
    assert stored_count(demo) > 0


def test_deleting_the_state_folder_gives_identical_reports(demo):
    on = date(2026, 11, 28)
    before = [report_json(demo, on, stored=True, **s) for s in SCOPES]
    cli_before = run(demo, "report", "--book", "--as-of", "2026-11-28", "--format", "json").stdout
    assert stored_count(demo) > 0
    shutil.rmtree(demo / ".loanctl")
    assert run(demo, "ledger", "rebuild").exit_code == 0
    assert stored_count(demo) == 0
    assert [report_json(demo, on, stored=True, **s) for s in SCOPES] == before
    shutil.rmtree(demo / ".loanctl")
    assert run(demo, "ledger", "rebuild").exit_code == 0
    assert run(demo, "report", "--book", "--as-of", "2026-11-28", "--format", "json").stdout == cli_before


# --- stale state is never shown (the small book of ledgerkit) ------------------------------------
def position(root: Path, on: date, deal: str = FIXED_DEAL, facility: str = "tl", **scope) -> dict:
    from loanctl import api
    rep = api.report(root, on, **(scope or dict(whole_book=True)))
    return next(p for p in rep.positions if p["deal"] == deal and p["facility"] == facility)


@pytest.fixture
def small(tmp_path, bank):
    book = write_book(tmp_path / "book", deals={FIXED_DEAL: FIXED_YAML, TWO_DEAL: TWO_YAML})
    # closing fee (10,000, netted? no: paid) and Q1 259,000 = 9,000 interest + 250,000 principal
    post_rows(book, bank, "p1.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    return book


def test_a_new_payment_is_shown_and_only_its_facility_is_reallocated(small, bank, monkeypatch):
    on = date(2026, 11, 28)
    p = position(small, on)
    assert p["interest_received"] == D("9000.00")          # Q1: 1,000,000 × 3.6% × 90/360
    assert p["principal_received"] == D("250000.00")
    assert p["outstanding_principal"] == D("750000.00")
    # Q2 paid: 259,325 = 6,825 interest (750,000 × 3.6% × 91/360) + 2,500 agency fee + 250,000
    post_rows(small, bank, "p2.csv", [row("q2", "2026-07-15", "259325.00")])
    from loanctl.reports import build
    calls: list = []
    original = build.allocate_facility
    monkeypatch.setattr(build, "allocate_facility",
                        lambda loaded, deal, fid, *a, **k: calls.append((deal, fid)) or original(loaded, deal, fid,
                                                                                                   *a, **k))
    p = position(small, on)
    assert calls == [(FIXED_DEAL, "tl")]
    assert p["interest_received"] == D("15825.00")         # 9,000 + 6,825
    assert p["principal_received"] == D("500000.00")
    assert p["outstanding_principal"] == D("500000.00")
    calls.clear()
    assert position(small, on)["interest_received"] == D("15825.00")
    assert calls == []  # all read from the stored entries


def test_editing_a_deal_is_shown(small):
    on = date(2026, 11, 28)
    assert position(small, on, TWO_DEAL, "rcf")["commitment"] == D("200000.00")
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("commitment: 200000", "commitment: 300000"))
    assert position(small, on, TWO_DEAL, "rcf")["commitment"] == D("300000.00")
    assert position(small, on, TWO_DEAL, "rcf")["unfunded"] == D("250000.00")  # 300,000 − 50,000 drawn


def test_a_trade_file_is_shown(small):
    on = date(2026, 11, 28)
    assert position(small, on, fund="fund-b")["outstanding_principal"] == D("300000.00")  # 40% of 750,000
    write_file(small, f"{FIXED_DEAL}/trades/2026-05-sale.yaml", """\
id: 2026-05-sale
facility: tl
seller: fund-a
buyer: fund-b
trade_date: 2026-05-11
settlement_date: 2026-05-15
amount: 150000
price: 98
approvals: [{by: jane.doe, role: credit_officer, date: 2026-05-08, decision: approved}]
""")
    # fund-b bought 150,000 of fund-a's 450,000: 300,000 + 150,000
    assert position(small, on, fund="fund-b")["outstanding_principal"] == D("450000.00")


def test_an_event_file_is_shown(small):
    on = date(2026, 11, 28)
    assert position(small, on)["non_accrual"] is False
    write_file(small, f"{FIXED_DEAL}/events/na.yaml", "id: na\ndate: 2026-08-01\ntype: non_accrual\nfacility: tl\n")
    p = position(small, on)
    assert p["non_accrual"] is True and p["non_accrual_since"] == date(2026, 8, 1)


# --- property: stored equals recomputed after random sequences -----------------------------------
AMENDMENT = """\
id: {name}
effective_date: 2026-07-01
description: repricing
approvals: [{{by: jane.doe, role: credit_officer, date: 2026-06-24, decision: approved}}]
changes:
  - {{facility: tl, set: {{interest.fixed_rate: "{rate}%"}}}}
"""
TRADE = """\
id: {name}
facility: tl
seller: fund-a
buyer: fund-b
trade_date: 2026-05-11
settlement_date: 2026-05-15
amount: {amount}
price: 99
approvals: [{{by: jane.doe, role: credit_officer, date: 2026-05-08, decision: approved}}]
"""
PAYS = [("q2", "2026-07-15", "259325.00"), ("q3", "2026-10-15", "254600.00"), ("x1", "2026-08-03", "777.77"),
        ("pp", "2026-09-01", "50000.00", "prepayment")]

step = st.one_of(
    st.tuples(st.just("post"), st.integers(0, len(PAYS) - 1)),
    st.tuples(st.just("amend"), st.sampled_from(["4", "4.5", "3"])),
    st.tuples(st.just("trade"), st.sampled_from(["100000", "50000"])),
    st.tuples(st.just("event"), st.sampled_from(["non_accrual", "default"])),
    st.tuples(st.just("edit"), st.sampled_from(["200000", "250000"])),
    st.tuples(st.just("report"), st.sampled_from([date(2026, 11, 28), date(2026, 6, 30)])),
)


def start_book(base: Path, fixed_yaml: str = FIXED_YAML) -> tuple[Path, Path, set[int]]:
    """The property tests' starting point: the two deals (the first `fixed_yaml`) with a first
    file posted — (book, bank folder, the PAYS posted so far: none)."""
    bank = base / "bank"
    bank.mkdir()
    book = write_book(base / "book", deals={FIXED_DEAL: fixed_yaml, TWO_DEAL: TWO_YAML})
    post_rows(book, bank, "p0.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    return book, bank, set()


def apply_step(book: Path, bank: Path, i: int, kind: str, arg, posted: set[int]) -> None:
    """One random change of the property tests: a post (each payment once), an amendment, a
    trade, a credit event or an edit of the other deal; other kinds are the caller's."""
    if kind == "post" and arg not in posted:
        posted.add(arg)
        post_rows(book, bank, f"p{i}.csv", [row(*PAYS[arg])])
    elif kind == "amend":
        write_file(book, f"{FIXED_DEAL}/amendments/001-repricing.yaml", AMENDMENT.format(name="001-repricing",
                                                                                           rate=arg))
    elif kind == "trade":
        write_file(book, f"{FIXED_DEAL}/trades/t.yaml", TRADE.format(name="t", amount=arg))
    elif kind == "event":
        write_file(book, f"{FIXED_DEAL}/events/e.yaml", f"id: e\ndate: 2026-09-01\ntype: {arg}\nfacility: tl\n")
    elif kind == "edit":
        write_file(book, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("commitment: 200000", f"commitment: {arg}"))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=4))
def test_stored_entries_equal_a_fresh_computation_after_random_changes(tmp_path_factory, steps):
    book, bank, posted = start_book(tmp_path_factory.mktemp("prop"))
    for i, (kind, arg) in enumerate(steps):
        apply_step(book, bank, i, kind, arg, posted)
        for on in ((arg,) if kind == "report" else (date(2026, 11, 28),)):
            for scope in (dict(whole_book=True), dict(fund="fund-b")):
                fresh = report_json(book, on, stored=False, **scope)
                assert report_json(book, on, stored=True, **scope) == fresh, (steps[: i + 1], scope)
                assert report_json(book, on, stored=True, **scope) == fresh, (steps[: i + 1], scope)


# --- ledger check and refresh --------------------------------------------------------------------
def test_ledger_check_reports_corrupt_and_stale_stored_positions(small):
    on = date(2026, 11, 28)
    before = report_json(small, on, stored=True, whole_book=True)
    assert run(small, "ledger", "check").exit_code == 0
    con = duckdb.connect(str(small / ".loanctl" / "ledger.duckdb"))
    con.execute("UPDATE stored_positions SET entry = replace(entry, '#9000.00', '#9999.00') WHERE facility = 'tl' "
                "AND deal = ?", [FIXED_DEAL])
    con.close()
    result = run(small, "ledger", "check", "--format", "json")
    codes = [d["code"] for d in json.loads(result.stdout)]
    assert result.exit_code == 1 and codes == ["E0920"]
    # a corrupt entry is never shown: the report recomputes it
    assert report_json(small, on, stored=True, whole_book=True) == before
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("name: Acme term loan and revolver",
                                                               "name: Acme term loan and RCF"))
    result = run(small, "ledger", "check", "--format", "json")
    diags = json.loads(result.stdout)
    # E0922: the deal's stored schedules are of its earlier version too (ledger/stored_schedules.py)
    assert [(d["code"], d["severity"]) for d in diags] == [("E0921", "warning"), ("E0922", "warning")]
    assert result.exit_code == 0  # a warning alone does not fail the check
    text = run(small, "ledger", "check")
    assert text.exit_code == 0 and "warning[E0921]" in text.stdout + text.stderr
    assert "no errors, 2 warnings" in text.stderr
    # acme-two's tl and rcf, and its covenant tests (the report keeps them too: reports.stored)
    assert diags[0]["message"].startswith("3 stored positions")
    assert run(small, "ledger", "refresh").exit_code == 0
    assert run(small, "ledger", "check").exit_code == 0


def test_a_busy_ledger_still_reports_and_stores_nothing(small):
    from loanctl.ledger.db import writer_lock
    on = date(2026, 11, 28)
    fresh = report_json(small, on, stored=False, whole_book=True)
    with writer_lock(small):  # another loanctl is writing: the report does not wait to store
        assert report_json(small, on, stored=True, whole_book=True) == fresh
    assert stored_count(small) == 0
    assert report_json(small, on, stored=True, whole_book=True) == fresh
    # acme-fixed tl, acme-two tl and rcf, and the two deals' covenant tests (reports.stored)
    assert stored_count(small) == 5


# --- the first report after a post: the positions computed in worker processes ---------------------
@pytest.fixture
def in_workers(monkeypatch):
    """Every report with deals to compute computes them in 2 forked workers (from one deal on)."""
    from loanctl import forkmap
    from loanctl.reports import build
    monkeypatch.setattr(build, "PARALLEL_FROM", 1)
    monkeypatch.setattr(forkmap, "worker_count", lambda: 2)
    calls: list = []
    original = build.allocate_facility
    monkeypatch.setattr(build, "allocate_facility",
                        lambda loaded, deal, fid, *a, **k: calls.append((deal, fid)) or original(loaded, deal, fid,
                                                                                                   *a, **k))
    return calls  # the facilities allocated by this process (not the workers)


def test_positions_computed_in_workers_are_byte_identical(tmp_path, in_workers):
    book = posted_demo_book(tmp_path)
    for on in (date(2026, 11, 28), date(2026, 6, 30)):
        for scope in SCOPES:
            fresh = report_json(book, on, stored=False, **scope)
            in_workers.clear()
            first = report_json(book, on, stored=True, **scope)   # computed in the workers, stored
            assert in_workers == [], scope                        # none here
            second = report_json(book, on, stored=True, **scope)  # read from the stored entries
            assert first == fresh and second == fresh, (scope, on)
    assert stored_count(book) > 0


def test_positions_computed_in_workers_show_a_new_payment(small, bank, in_workers):
    on = date(2026, 11, 28)
    assert position(small, on)["interest_received"] == D("9000.00")  # Q1: 1,000,000 × 3.6% × 90/360
    post_rows(small, bank, "p2.csv", [row("q2", "2026-07-15", "259325.00")])
    p = position(small, on)  # Q2: 6,825 interest (750,000 × 3.6% × 91/360) + 2,500 agency fee + 250,000
    assert p["interest_received"] == D("15825.00")
    assert p["principal_received"] == D("500000.00")
    assert p["outstanding_principal"] == D("500000.00")
    assert in_workers == []
