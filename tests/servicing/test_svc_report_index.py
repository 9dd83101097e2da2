"""`report` loads only the deals it must (reports.stored.DealIndex; SPEC §10, issue #19).

A report reads an unchanged deal's figures from its stored entries; of the deal itself it
needs only its status, its lenders and its fingerprint, which `.loanctl/cache/report-deals.json`
keeps under the digest `validate` finds for the deal's folder. So a second report loads no deal
at all, and a deal is loaded when its folder changed (its new figures are shown), when it must
be computed (a new payment), or when that digest's context changed (book.yaml, the rates, the
archive: a post loads every deal once).
Here, on ledgerkit's small book and the posted demo book:

* the loads are counted (the spy on `reports.stored.load_deal`), and the figures after each
  change are the hand-computed ones of ledgerkit's schedule;
* a deal made invalid after stored runs gives the same diagnostics and exit code as the
  uncached path (`--no-cache`) and as a book without `.loanctl/`;
* deleting `.loanctl/` (then `ledger rebuild`) gives byte-identical reports in every format.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bookfactory import write_file
from ledgerkit import FIXED_DEAL, FIXED_YAML, TWO_DEAL, TWO_YAML, assert_same_failure, post_rows, posted_demo_book, row, run, write_book

D = Decimal
ON = date(2026, 11, 28)


@pytest.fixture
def small(tmp_path, bank):
    book = write_book(tmp_path / "book", deals={FIXED_DEAL: FIXED_YAML, TWO_DEAL: TWO_YAML})
    # closing fee 10,000 and Q1 259,000 = 9,000 interest + 250,000 principal
    post_rows(book, bank, "p1.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    return book


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The deal folders the report loads, in order."""
    from loanctl.reports import stored
    calls: list[str] = []
    original = stored.load_deal
    monkeypatch.setattr(stored, "load_deal", lambda tree, folder: calls.append(folder) or original(tree, folder))
    return calls


def position(root: Path, deal: str = FIXED_DEAL, facility: str = "tl", **scope) -> dict:
    from loanctl import api
    rep = api.report(root, ON, **(scope or dict(whole_book=True)))
    return next(p for p in rep.positions if p["deal"] == deal and p["facility"] == facility)


def test_a_second_report_loads_no_deal_and_an_edited_deal_alone_is_loaded_and_shown(small, loads):
    assert position(small, TWO_DEAL, "rcf")["commitment"] == D("200000.00")
    loads.clear()
    assert position(small, TWO_DEAL, "rcf")["commitment"] == D("200000.00")
    assert loads == []  # statuses, lenders and fingerprints kept; figures stored
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("commitment: 200000", "commitment: 300000"))
    p = position(small, TWO_DEAL, "rcf")
    assert loads == [TWO_DEAL]
    assert p["commitment"] == D("300000.00")
    assert p["unfunded"] == D("250000.00")  # 300,000 − 50,000 drawn
    loads.clear()
    assert position(small, TWO_DEAL, "rcf")["commitment"] == D("300000.00")
    assert loads == []


def test_a_payment_is_shown_and_the_next_report_loads_no_deal(small, bank, loads):
    p = position(small)
    assert (p["interest_received"], p["outstanding_principal"]) == (D("9000.00"), D("750000.00"))
    # Q2 paid: 259,325 = 6,825 interest (750,000 × 3.6% × 91/360) + 2,500 agency fee + 250,000
    post_rows(small, bank, "p2.csv", [row("q2", "2026-07-15", "259325.00")])
    loads.clear()
    p = position(small)
    # a post adds to the archive, which is part of every folder's digest (validate's checks read
    # it): each deal is loaded again once, and its facts kept under the new digests
    assert loads == [FIXED_DEAL, TWO_DEAL]
    assert p["interest_received"] == D("15825.00")  # 9,000 + 6,825
    assert p["outstanding_principal"] == D("500000.00")
    loads.clear()
    assert position(small)["interest_received"] == D("15825.00")
    assert loads == []


def test_a_fund_scope_reads_the_kept_lenders(small, loads):
    """fund-b holds 40% of acme-fixed's term loan and all of acme-two's revolver (acme-two's term
    loan is fund-a's): its report shows those two facilities, read from the kept facts."""
    from loanctl import api
    first = api.report(small, ON, fund="fund-b")
    loads.clear()
    second = api.report(small, ON, fund="fund-b")
    assert loads == []
    assert [(p["deal"], p["facility"]) for p in second.positions] == [(FIXED_DEAL, "tl"), (TWO_DEAL, "rcf")]
    assert second.positions[0]["outstanding_principal"] == D("300000.00")  # 40% of 750,000
    assert second.positions[1]["outstanding_principal"] == D("50000.00")  # the one draw, all fund-b's
    assert second.positions == first.positions


def test_a_deal_made_invalid_gives_the_same_diagnostics_and_exit_code(small):
    args = ("report", "--book", "--as-of", "2026-11-28", "--format", "json")
    assert run(small, *args).exit_code == 0
    assert run(small, *args).exit_code == 0  # stored, and the deals' facts kept
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("spread: 500bps", "spread: lots"))
    kept = assert_same_failure(small, *args)
    assert f"{TWO_DEAL}/deal.yaml" in kept.stderr and "spread" in kept.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return posted_demo_book(tmp_path_factory.mktemp("index"))


@pytest.mark.parametrize("scope", [("--fund", "fund-i"), ("--book",), ("--deal", "keystone-holdco-2025")])
def test_every_format_is_identical_from_the_index_from_scratch_and_without_caches(demo, scope):
    def outputs(*pre: str) -> list[tuple[int, str]]:
        out = []
        for fmt in ("html", "json", "csv", "md", "text"):
            r = run(demo, *pre, "report", *scope, "--as-of", "2026-11-28", "--format", fmt)
            out.append((r.exit_code, r.stdout))
        return out
    first = outputs()   # computes (or reads) and stores
    second = outputs()  # the deals' facts kept: no deal loaded, figures stored
    assert all(code == 0 for code, _ in first)
    assert second == first
    assert outputs("--no-cache") == first
    shutil.rmtree(demo / ".loanctl")
    assert run(demo, "ledger", "rebuild").exit_code == 0
    assert outputs() == first


# --- the stored entries' flows, summed in SQL ------------------------------------------------------
def test_flows_summed_in_sql_equal_the_entries_own_sums_to_the_last_digit(demo, monkeypatch):
    """`PositionStore.summed_flows` (DuckDB, DECIMAL) gives, per currency, date, kind and sign, the
    Decimal sum of the stored entries' own flows — the same text (decimal places included)."""
    from loanctl import api
    from loanctl.ledger import stored_positions as sp

    seen: list = []
    original = sp.PositionStore.summed_flows

    def spy(self, used):
        out = original(self, used)
        expected: dict = {}
        for deal, facility, ccy, _ in used:
            for day, kind, amount in sp.decode_entry(self.fresh(deal, facility))[2]:
                key = (ccy, day, kind, amount > 0)
                expected[key] = expected[key] + amount if key in expected else amount
        seen.append((out, expected))
        return out
    monkeypatch.setattr(sp.PositionStore, "summed_flows", spy)
    api.report(demo, ON, whole_book=True)
    api.report(demo, ON, whole_book=True)  # from the stored entries
    out, expected = seen[-1]
    assert out is not None and expected
    got = {(ccy, day, kind, amount > 0): str(amount) for ccy, flows in out.items() for day, kind, amount in flows}
    assert got == {k: str(v) for k, v in expected.items()}


def test_a_report_whose_flows_sql_cannot_sum_is_the_same(demo, monkeypatch):
    from loanctl import api
    from loanctl.ledger import stored_positions as sp
    from loanctl.render import report as render

    api.report(demo, ON, fund="fund-i")
    summed = render.to_json(api.report(demo, ON, fund="fund-i"))
    monkeypatch.setattr(sp.PositionStore, "summed_flows", lambda self, used: None)  # e.g. an entry replaced
    assert render.to_json(api.report(demo, ON, fund="fund-i")) == summed
