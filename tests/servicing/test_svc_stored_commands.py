"""`covenants` and `query` read stored state (SPEC §10, issue #19 item 2; loanctl/reports/stored.py,
loanctl/ledger/query.py).

Like `report`, both keep what they compute in the ledger's stored entries and reuse it while its
inputs are unchanged: covenant tests per deal (its fingerprint: no payment enters a test), the
query's facilities, schedules, positions and lender_positions rows per facility (its deal's
fingerprint and its payments up to the as-of date). Here:

* the demo book with its payments posted: `covenants` (text and JSON) and every query table are
  byte-identical computed from scratch, the first time (filling the store) and the second time
  (read from it);
* stale state is never shown: after an edit, a new financials file or a payment the figures are
  the new ones (hand-computed), and only what changed is recomputed;
* a property test: after random sequences of posts, amendments, trades, events and edits, the
  stored covenant tests, query tables and report equal a fresh computation.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookfactory import write_file
from ledgerkit import FIXED_DEAL, FIXED_YAML, TWO_DEAL, TWO_YAML, post_rows, row, posted_demo_book, run, write_book
from test_svc_stored_positions import PAYS, apply_step, report_json, start_book

TABLES = ("deals", "facilities", "schedules", "positions", "lender_positions")
D = Decimal

# acme-fixed with a quarterly leverage covenant: closing 2026-01-15, so the first test date is
# the first quarter end on or after 2026-04-15 (one quarter later): 2026-06-30
COVENANT_YAML = FIXED_YAML + """\
covenants:
  - {id: max-leverage, metric: total_leverage, max: 4.5, frequency: quarterly}
"""
Q2 = "period_end: 2026-06-30\nbasis: ltm\nebitda: 3000000\ntotal_debt: 12300000\n"
Q3 = "period_end: 2026-09-30\nbasis: ltm\nebitda: 3000000\ntotal_debt: 14100000\n"


def stored_count(root: Path, facility: str | None = None) -> int:
    import duckdb
    con = duckdb.connect(str(root / ".loanctl" / "ledger.duckdb"), read_only=True)
    try:
        sql = "SELECT count(*) FROM stored_positions" + (" WHERE facility = ?" if facility else "")
        return con.execute(sql, [facility] if facility else []).fetchone()[0]
    finally:
        con.close()


def fresh_covenants(root: Path, on: date, deal: str | None = None, fund: str | None = None):
    """What `covenants` computed before stored state: every deal tested (test_deal)."""
    from loanctl import api
    from loanctl.reports.build import resolve_scope
    from loanctl.underwriting.covenants import test_deal
    loaded, _ = api.load_valid_book(root)
    if fund:
        scope = resolve_scope(loaded, fund=fund)
        ids = [d for d, r in sorted(loaded.deals.items())
               if any(p.lender in scope.lenders for f in r.deal.facilities for p in f.participations)]
    else:
        ids = [deal]
    rows, diags = [], []
    for d in ids:
        r, dg = test_deal(loaded.deals[d], on, loaded=loaded)
        rows += r
        diags += dg
    return rows, diags


def query_tables(root: Path, on: date, stored: bool) -> dict[str, list[tuple]]:
    """Every book table of `query`, through the stored rows (the command's path: refresh, then
    the query) or computed from scratch."""
    from loanctl import api
    from loanctl.ledger.query import run_query
    out = {}
    for t in TABLES:
        sql = f"SELECT * FROM {t} ORDER BY ALL"
        if stored:
            columns, rows, _, _ = api.query(root, sql, on)
        else:
            columns, rows = run_query(api.valid_book(root), sql, on, stored=False)
        out[t] = (columns, rows)
    return out


def cov_json(root: Path, *args) -> str:
    result = run(root, "covenants", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return result.stdout


# --- the demo book: byte-identical -----------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("stored-cmds")
    return posted_demo_book(base)


def test_demo_covenants_are_byte_identical_with_and_without_stored_tests(demo):
    from loanctl import api
    on = date(2026, 11, 28)
    for scope in (dict(fund="fund-i"), dict(fund="fund-ii"), dict(deal="sable-tl-2025"),
                  dict(deal="cobalt-unitranche-2025")):
        fresh = fresh_covenants(demo, on, **scope)
        assert api.covenants(demo, on, **scope) == fresh  # computes and stores
        assert api.covenants(demo, on, **scope) == fresh  # reads the stored tests
    assert stored_count(demo, "covenants") > 0
    args = ("--fund", "fund-i", "--as-of", "2026-11-28")
    first = [cov_json(demo, *args), run(demo, "covenants", *args).stdout]
    assert [cov_json(demo, *args), run(demo, "covenants", *args).stdout] == first


@pytest.mark.parametrize("on", [date(2026, 11, 28), date(2026, 6, 30)])
def test_demo_query_tables_are_identical_with_and_without_stored_rows(demo, on):
    fresh = query_tables(demo, on, stored=False)
    assert sum(len(rows) for _, rows in fresh.values()) > 0
    assert query_tables(demo, on, stored=True) == fresh   # computes and stores
    assert query_tables(demo, on, stored=True) == fresh   # reads the stored rows
    csv_args = ("query", "SELECT * FROM lender_positions ORDER BY ALL", "--as-of", on.isoformat(), "--format", "csv")
    assert run(demo, *csv_args).stdout == run(demo, *csv_args).stdout


# --- stale state is never shown ---------------------------------------------------------------------
@pytest.fixture
def small(tmp_path, bank):
    book = write_book(tmp_path / "book", deals={FIXED_DEAL: COVENANT_YAML, TWO_DEAL: TWO_YAML})
    write_file(book, f"{FIXED_DEAL}/financials/2026-q2.yaml", Q2)
    # closing fee 10,000 and Q1 259,000 = 9,000 interest + 250,000 principal
    post_rows(book, bank, "p1.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    return book


def leverage(root: Path, on: date) -> list[tuple]:
    from loanctl import api
    rows, _ = api.covenants(root, on, deal=FIXED_DEAL)
    return [(r["period_end"], r["value"], r["bound"], r["headroom"], r["status"]) for r in rows]


def test_covenants_after_an_edit_or_new_financials_are_never_the_old_ones(small, monkeypatch):
    on = date(2026, 11, 28)
    # Q2: 12,300,000 / 3,000,000 = 4.10 ≤ 4.5, headroom 0.40 < 10% × 4.5 = 0.45 → at_risk;
    # Q3 (2026-09-30) not reported and more than 45 days before the as-of date → overdue
    first = [(date(2026, 6, 30), D("4.10"), D("4.5"), D("0.40"), "at_risk"),
             (date(2026, 9, 30), None, D("4.5"), None, "overdue")]
    assert leverage(small, on) == first
    from loanctl.reports import stored
    calls: list = []
    original = stored.test_deal
    monkeypatch.setattr(stored, "test_deal", lambda record, *a, **k: calls.append(record.deal.id)
                        or original(record, *a, **k))
    assert leverage(small, on) == first and calls == []  # read from the stored tests
    # the bound tightened to 4.0: 4.10 − 4.0 → headroom −0.10, breached
    write_file(small, f"{FIXED_DEAL}/deal.yaml", COVENANT_YAML.replace("max: 4.5", "max: 4.0"))
    assert leverage(small, on) == [(date(2026, 6, 30), D("4.10"), D("4.0"), D("-0.10"), "breached"),
                                   (date(2026, 9, 30), None, D("4.0"), None, "overdue")]
    assert calls == [FIXED_DEAL]
    # Q3 financials: 14,100,000 / 3,000,000 = 4.70, headroom 4.0 − 4.70 = −0.70 → breached
    write_file(small, f"{FIXED_DEAL}/financials/2026-q3.yaml", Q3)
    assert leverage(small, on)[1] == (date(2026, 9, 30), D("4.70"), D("4.0"), D("-0.70"), "breached")
    assert calls == [FIXED_DEAL, FIXED_DEAL]


def query_position(root: Path, on: str, deal: str, facility: str) -> dict:
    result = run(root, "query", f"SELECT * FROM positions WHERE deal = '{deal}' AND facility = '{facility}'",
                 "--as-of", on, "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json
    return json.loads(result.stdout)[0]


def test_query_after_an_edit_or_a_payment_never_shows_old_figures(small, bank, monkeypatch):
    on = "2026-11-28"
    p = query_position(small, on, TWO_DEAL, "rcf")
    assert (p["commitment"], p["unfunded"]) == ("200000.0000", "150000.0000")  # 200,000 − 50,000 drawn
    assert query_position(small, on, TWO_DEAL, "rcf") == p
    assert stored_count(small) > 0
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("commitment: 200000", "commitment: 300000"))
    p = query_position(small, on, TWO_DEAL, "rcf")
    assert (p["commitment"], p["unfunded"]) == ("300000.0000", "250000.0000")  # 300,000 − 50,000 drawn
    assert query_position(small, on, FIXED_DEAL, "tl")["interest_received"] == "9000.0000"  # Q1 only
    # Q2 paid: 259,325 = 6,825 interest (750,000 × 3.6% × 91/360) + 2,500 agency fee + 250,000
    post_rows(small, bank, "p2.csv", [row("q2", "2026-07-15", "259325.00")])
    from loanctl.ledger import query as query_module
    calls: list = []
    original = query_module.allocate_facility
    monkeypatch.setattr(query_module, "allocate_facility",
                        lambda loaded, deal, fid, *a, **k: calls.append((deal, fid)) or original(loaded, deal, fid,
                                                                                                   *a, **k))
    from loanctl import api
    _, rows, _, _ = api.query(small, "SELECT deal, facility, interest_received, principal_received FROM positions "
                                     "ORDER BY ALL", date(2026, 11, 28))
    assert rows[0] == (FIXED_DEAL, "tl", D("15825.0000"), D("500000.0000"))  # 9,000 + 6,825; 2 × 250,000
    assert calls == [(FIXED_DEAL, "tl")]  # only the facility with a new payment
    # as of a date before the new payment: its stored rows (or a fresh computation) without it
    _, rows, _, _ = api.query(small, "SELECT interest_received FROM positions WHERE deal = 'acme-fixed'",
                              date(2026, 6, 30))
    assert rows == [(D("9000.0000"),)]


# --- property: stored equals recomputed after random sequences -----------------------------------
step = st.one_of(
    st.tuples(st.just("post"), st.integers(0, len(PAYS) - 1)),
    st.tuples(st.just("amend"), st.sampled_from(["4", "4.5"])),
    st.tuples(st.just("trade"), st.sampled_from(["100000", "50000"])),
    st.tuples(st.just("event"), st.sampled_from(["non_accrual", "default"])),
    st.tuples(st.just("edit"), st.sampled_from(["200000", "250000"])),
    st.tuples(st.just("financials"), st.sampled_from([Q3, Q3.replace("14100000", "11100000")])),
    st.tuples(st.just("as_of"), st.sampled_from([date(2026, 11, 28), date(2026, 6, 30)])),
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=4))
def test_stored_covenants_query_and_report_equal_a_fresh_computation(tmp_path_factory, steps):
    from loanctl import api
    book, bank, posted = start_book(tmp_path_factory.mktemp("prop-cmds"), COVENANT_YAML)
    write_file(book, f"{FIXED_DEAL}/financials/2026-q2.yaml", Q2)
    for i, (kind, arg) in enumerate(steps):
        apply_step(book, bank, i, kind, arg, posted)
        if kind == "financials":
            write_file(book, f"{FIXED_DEAL}/financials/2026-q3.yaml", arg)
        on = arg if kind == "as_of" else date(2026, 11, 28)
        where = (steps[: i + 1], on)
        fresh_cov = fresh_covenants(book, on, fund="fund-b")
        assert api.covenants(book, on, fund="fund-b") == fresh_cov, where
        assert api.covenants(book, on, fund="fund-b") == fresh_cov, where
        fresh_q = query_tables(book, on, stored=False)
        assert query_tables(book, on, stored=True) == fresh_q, where
        assert query_tables(book, on, stored=True) == fresh_q, where
        fresh_r = report_json(book, on, stored=False, whole_book=True)
        assert report_json(book, on, stored=True, whole_book=True) == fresh_r, where
