"""Positions and reports by lender with a trade (SPEC §2.6, §3, §4.4, §5), hand-computed.

`acme-fixed` (ledgerkit: 1,000,000 at 3.6% ACT/360, i.e. balance × days / 10,000; straight
250,000 a quarter; 1% upfront fee 10,000 paid at closing; agency fee 2,500 dated 06-30,
due 07-15; fund-a 60%, fund-b 40%). Trade: fund-a sells 150,000 par to fund-b at 98,
settling at the start of 2026-05-15, when 750,000 is outstanding: fraction 150,000 / 750,000
= 20%, so fund-a 40% and fund-b 60% from then. Paid on time: c-1 10,000 (01-15), q1
259,000 (04-15: 9,000 + 250,000), q2 259,325 (07-15: 6,825 + 250,000 + 2,500).

Period 2 interest (04-15 → 07-15, 91 days; 750,000 × 91 / 10,000 = 6,825.00, 75.00 a day):
fund-a 75 × (30 × 60% + 61 × 40%) = 75 × 42.4 = 3,180.00; fund-b 75 × (30 × 40% + 61 × 60%)
= 75 × 48.6 = 3,645.00.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from pyxirr import xirr as ref_xirr

import pytest

from ledgerkit import FIXED_DEAL, FIXED_YAML, positions, post_rows, row, run, write_book
from bookfactory import fund_a_sale, write_file

D = Decimal
TRADE = fund_a_sale("2026-05-sale")
PAYMENTS = [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00"),
            row("q2", "2026-07-15", "259325.00")]


@pytest.fixture
def book(tmp_path):
    """The servicing book with acme-fixed only (so a lender's report is this one loan)."""
    return write_book(tmp_path / "book", deals={FIXED_DEAL: FIXED_YAML})


def traded_book(book, bank):
    write_file(book, f"{FIXED_DEAL}/trades/2026-05-sale.yaml", TRADE)
    post_rows(book, bank, "p.csv", PAYMENTS)
    return book


def test_positions_after_the_trade(book, bank):
    traded_book(book, bank)
    got = positions(book, "2026-07-15")
    a, b = got["fund-a"], got["fund-b"]
    # interest: Q1 9,000 by 60/40 (5,400 / 3,600) plus the days-held parts of Q2 (3,180 / 3,645)
    assert (a.interest_received, b.interest_received) == (D("8580.00"), D("7245.00"))
    # principal: Q1 250,000 by 60/40, Q2 250,000 by 40/60 (the shares on 07-15)
    assert (a.principal_received, b.principal_received) == (D("250000.00"), D("250000.00"))
    # fees: 10,000 by 60/40, the agency fee 2,500 due 07-15 by 40/60
    assert (a.fees_received, b.fees_received) == (D("7000.00"), D("5500.00"))
    # balances: a 600,000 − 150,000 (Q1) − 150,000 (sold) − 100,000 (Q2) = 200,000;
    #           b 400,000 − 100,000 + 150,000 (bought) − 150,000 = 300,000; the facility 500,000
    assert (a.outstanding_principal, b.outstanding_principal, got[None].outstanding_principal) == (
        D("200000.00"), D("300000.00"), D("500000.00"))
    # commitment and drawn follow the share: 40% / 60% of 1,000,000
    assert (a.commitment, a.drawn, b.commitment, b.drawn) == (D("400000.00"), D("400000.00"),
                                                              D("600000.00"), D("600000.00"))
    assert (a.share, b.share) == (D("0.4"), D("0.6"))


def test_positions_inside_the_period_reflect_the_settlement_date(book, bank):
    traded_book(book, bank)
    # as of 05-20 (after settlement, before the next payment date): balances already moved; accrued interest
    # 750,000 × 35 / 10,000 = 2,625.00 of which fund-a 75 × (30 × 60% + 5 × 40%) = 1,500.00 and fund-b
    # 75 × (30 × 40% + 5 × 60%) = 1,125.00
    got = positions(book, "2026-05-20")
    a, b = got["fund-a"], got["fund-b"]
    assert (a.outstanding_principal, b.outstanding_principal) == (D("300000.00"), D("450000.00"))
    assert (a.accrued_interest, b.accrued_interest, got[None].accrued_interest) == (
        D("1500.00"), D("1125.00"), D("2625.00"))
    # the day before settlement nothing has moved: 450,000 / 300,000 (60/40 of 750,000)
    before = positions(book, "2026-05-14")
    assert (before["fund-a"].outstanding_principal, before["fund-b"].outstanding_principal) == (
        D("450000.00"), D("300000.00"))


def test_lender_report_shows_the_trade_its_cash_and_returns(book, bank):
    traded_book(book, bank)
    result = run(book, "report", "--lender", "fund-b", "--as-of", "2026-07-15", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    (t,) = report["trades"]
    # the buyer pays 98% × 150,000 = 147,000.00: a discount of 3,000.00
    assert (t["side"], t["par"], t["price"], t["cash"], t["premium_discount"], t["gain_loss"]) == (
        "bought", "150000.00", "98", "147000.00", "-3000.00", None)
    # fund-b's cash: −400,000 drawn and +4,000 fee on 01-15; +3,600 + 100,000 on 04-15; −147,000 paid for
    # the position on 05-15; +3,645 + 1,500 + 150,000 on 07-15; terminal value 300,000 outstanding (nothing
    # accrued on a payment date)
    flows = [(date(2026, 1, 15), -400000 + 4000), (date(2026, 4, 15), 103600), (date(2026, 5, 15), -147000),
             (date(2026, 7, 15), 3645 + 1500 + 150000 + 300000)]
    expected = ref_xirr([d for d, _ in flows], [a for _, a in flows])
    assert abs(D(report["metrics"]["USD"]["xirr"]) - D(str(expected))) < D("1e-8")
    # MOIC: in 4,000 + 103,600 + 455,145 = 562,745 over out 400,000 + 147,000 = 547,000
    assert abs(D(report["metrics"]["USD"]["moic"]) - D(562745) / D(547000)) < D("1e-4")
    seller = json.loads(run(book, "report", "--lender", "fund-a", "--as-of", "2026-07-15", "--format",
                            "json").stdout)
    (s,) = seller["trades"]
    # the seller receives 147,000.00 for 150,000 par carried at par: a realised loss of 3,000.00
    assert (s["side"], s["cash"], s["gain_loss"]) == ("sold", "147000.00", "-3000.00")


def test_report_before_settlement_has_no_trade(book, bank):
    traded_book(book, bank)
    report = json.loads(run(book, "report", "--lender", "fund-b", "--as-of", "2026-05-14", "--format",
                            "json").stdout)
    assert report["trades"] == []


def test_every_lender_ends_at_zero_when_the_loan_is_repaid(book, bank):
    write_file(book, f"{FIXED_DEAL}/trades/2026-05-sale.yaml", TRADE)
    # q3: 500,000 × 92 / 10,000 = 4,600 + 250,000; q4: 250,000 × 92 / 10,000 = 2,300 + 250,000
    post_rows(book, bank, "p.csv", PAYMENTS + [row("q3", "2026-10-15", "254600.00"),
                                               row("q4", "2027-01-15", "252300.00")])
    got = positions(book, "2027-01-15")
    assert [got[k].outstanding_principal for k in (None, "fund-a", "fund-b")] == [D("0.00")] * 3
    # principal: fund-a 150,000 + 100,000 × 3 = 450,000 less the 150,000 it sold; fund-b 100,000 + 150,000 × 3
    assert (got["fund-a"].principal_received, got["fund-b"].principal_received) == (D("450000.00"),
                                                                                    D("550000.00"))
    # interest: fund-a 5,400 + 3,180 + 4,600 × 40% + 2,300 × 40% = 11,340; fund-b 3,600 + 3,645 + 2,760 + 1,380
    assert (got["fund-a"].interest_received, got["fund-b"].interest_received) == (D("11340.00"), D("11385.00"))
