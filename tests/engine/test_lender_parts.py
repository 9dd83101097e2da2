"""Lender parts (SPEC §3 "Participations", §2.6 trades), engine level: hand-computed cases and
property tests over random facilities, share changes and trades.

Expected values are computed by hand in the comments (ACT/365F and ACT/360 day counts,
largest remainder on exact parts), never read back from loanctl.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal as D
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanctl.engine.lenders import (lender_rows, lender_view, outstanding_at, share_timeline, split_exact,
                                    timeline_of)
from loanctl.engine.schedule import MONEY_FIELDS
from loanctl.engine.terms import facility_terms
from loanctl.render.schedule import row_dict
from bookfactory import trade_yaml
from schedkit import deal, one, record, trade

COLUMNS = ("draws", "interest", "pik", "commitment_fee", "fees", "principal", "prepayment", "transfers",
           "total_due", "opening_balance", "closing_balance")


def traded(deal_yaml: str, trades: list[str], amendments: list[str] = ()):
    """The facility's schedule with its share timeline (amendments and trades) attached."""
    s = one(deal_yaml, amendments=amendments)
    (ft,) = facility_terms(record(deal_yaml, amendments))[0].values()
    tl, problems = share_timeline(ft, [trade(t) for t in trades], lambda d: outstanding_at(s, d))
    assert not problems, problems
    s.share_timeline = tl
    return s


def assert_parts_sum_to_whole(s, parts: list[list]) -> None:
    """Every money column of every row of the lenders' rows `parts` sums to the facility's."""
    for i, whole in enumerate(s.rows):
        for k in COLUMNS:
            assert sum(getattr(rows[i], k) for rows in parts) == getattr(whole, k), (i, k)


def row(s, lender: str, on: str):
    return next(r for r in lender_view(s, lender).rows if r.date == date.fromisoformat(on))


# --- a 50/50 sell-down mid-period, ACT/365F, level amortization ------------------------------------
SELL_DOWN = deal("""
    id: tl
    commitment: 1000000
    start_date: 2026-01-15
    maturity_date: 2027-01-15
    interest: {fixed_rate: 10%, day_count: ACT/365F}
    payments: {frequency: quarterly, business_day: unadjusted}
    amortization: {type: level}
    participations: [{lender: a, share: 100%}]
""")
HALF = trade_yaml("half", "a", "b", "2026-03-01", trade_date="2026-02-25", share="50%", price="99")


def test_sell_down_mid_period_days_held_interest_and_transfer():
    s = traded(SELL_DOWN, [HALF])
    # the facility: 1,000,000 × 10% × 90/365 (2026-01-15 → 04-15) = 24,657.534… → 24,657.53;
    # level installment r = 2.5%, n = 4: 1,000,000 × 0.025 / (1 − 1.025^−4) = 265,817.877… → 265,817.88,
    # principal 265,817.88 − 24,657.53 = 241,160.35
    whole = s.rows[1]
    assert (whole.interest, whole.principal, whole.transfers) == (D("24657.53"), D("241160.35"), 0)
    a, b = row(s, "a", "2026-04-15"), row(s, "b", "2026-04-15")
    # days held: a 100% from 01-15 to 03-01 (45 days) and 50% from 03-01 to 04-15 (45 days): 75% on average,
    # b 25%. Exact parts 24,657.534… × 0.75 = 18,493.1507 and × 0.25 = 6,164.3836; floors 18,493.15 + 6,164.38
    # = 24,657.53, nothing left over
    assert (a.interest, b.interest) == (D("18493.15"), D("6164.38"))
    # at the start of 03-01 the outstanding 1,000,000 is re-divided 50/50: a −500,000.00, b +500,000.00
    assert (a.transfers, b.transfers) == (D("-500000.00"), D("500000.00"))
    # principal on 04-15 by the shares then: 241,160.35 / 2 = 120,580.175 each → 120,580.17 + 0.01 left
    # over, to the first in the list (a)
    assert (a.principal, b.principal) == (D("120580.18"), D("120580.17"))
    assert (a.opening_balance, a.closing_balance) == (D("1000000.00"), D("500000.00") - D("120580.18"))
    assert (b.opening_balance, b.closing_balance) == (D("0.00"), D("500000.00") - D("120580.17"))
    # each ends at exactly zero on the maturity row, like the facility
    assert s.rows[-1].closing_balance == 0
    assert row(s, "a", "2027-01-15").closing_balance == row(s, "b", "2027-01-15").closing_balance == D("0.00")
    # the trade's economics: par = 50% × 1,000,000 outstanding = 500,000.00, cash 99% = 495,000.00
    (move,) = timeline_of(s).trades
    assert (move.fraction, move.par, move.cash) == (Fraction(1, 2), D("500000.00"), D("495000.00"))


# --- a par trade of 1,500,000 out of a PIK loan's 70% lender, mid-period, at 98.75 ---------------
PIK_LOAN = deal("""
    id: tl
    commitment: 10000000
    start_date: 2026-01-15
    maturity_date: 2028-01-15
    interest: {fixed_rate: 8%, pik_rate: 4%, day_count: ACT/360}
    payments: {frequency: quarterly, business_day: unadjusted}
    participations: [{lender: big, share: 70%}, {lender: small, share: 30%}]
""")
PAR_TRADE = trade_yaml("par-trade", "big", "new", "2026-05-15", trade_date="2026-05-11", amount="1500000",
                       price="98.75")


def test_par_trade_out_of_a_pik_loan():
    s = traded(PIK_LOAN, [PAR_TRADE])
    # period 1 PIK: 10,000,000 × 4% × 90/360 = 100,000.00, capitalised 04-15: 10,100,000 outstanding, of which
    # big 7,070,000.00 and small 3,030,000.00
    assert s.rows[1].closing_balance == D("10100000.00")
    assert row(s, "big", "2026-04-15").closing_balance == D("7070000.00")
    # the moved fraction is exact: 1,500,000 / 10,100,000 = 15/101; big keeps 70% − 15/101 = 557/1010
    tl = timeline_of(s)
    assert dict(tl.shares_on(date(2026, 5, 15))) == {"big": Fraction(557, 1010), "small": Fraction(3, 10),
                                                     "new": Fraction(15, 101)}
    # re-division at the start of 05-15: 10,100,000 × 557/1010 = 5,570,000.00 exactly, × 15/101 = 1,500,000.00
    big, small, new = (row(s, x, "2026-07-15") for x in ("big", "small", "new"))
    assert (big.transfers, small.transfers, new.transfers) == (D("-1500000.00"), D("0.00"), D("1500000.00"))
    # period 2 (04-15 → 07-15, 91 days; the trade splits it 30 + 61 days):
    #   cash 10,100,000 × 8% × 91/360 = 204,244.444… → 204,244.44
    #   big   × (30 × 0.7 + 61 × 557/1010) / 91 = 122,637.7778 · small × 0.3 = 61,273.3333 · new × (61 × 15/101) / 91
    #         = 20,333.3333; floors 122,637.77 + 61,273.33 + 20,333.33 = 204,244.43, 0.01 left → big (.78 largest)
    assert (big.interest, small.interest, new.interest) == (D("122637.78"), D("61273.33"), D("20333.33"))
    #   PIK 10,100,000 × 4% × 91/360 = 102,122.222… → 102,122.22; exact 61,318.8889 · 30,636.6667 · 10,166.6667;
    #   floors sum to 102,122.20, 0.02 left: big (.89), then small and new tie (.67): small, earlier in the list
    assert (big.pik, small.pik, new.pik) == (D("61318.89"), D("30636.67"), D("10166.66"))
    # balances: big 7,070,000 − 1,500,000 + 61,318.89; small 3,030,000 + 30,636.67; new 1,500,000 + 10,166.66
    assert (big.closing_balance, small.closing_balance, new.closing_balance) == (
        D("5631318.89"), D("3060636.67"), D("1510166.66"))
    # the buyer pays 98.75% × 1,500,000 = 1,481,250.00 at settlement
    (move,) = tl.trades
    assert (move.par, move.price, move.cash) == (D("1500000.00"), D("98.75"), D("1481250.00"))


# --- three lenders at 33.33% / 33.33% / 33.34% to maturity ---------------------------------------
THIRDS = deal("""
    id: tl
    commitment: 1000000.01
    start_date: 2026-01-15
    maturity_date: 2028-01-15
    interest: {fixed_rate: 7.77%, pik_rate: 1.11%, day_count: ACT/360}
    payments: {frequency: quarterly, business_day: unadjusted}
    amortization: {type: level}
    participations: [{lender: a, share: 33.33%}, {lender: b, share: 33.33%}, {lender: c, share: 33.34%}]
""")


def test_three_lenders_each_end_at_zero():
    s = one(THIRDS)
    views = [lender_view(s, x) for x in ("a", "b", "c")]
    # the start-date draw 1,000,000.01: × 33.33% = 333,300.003333 (twice), × 33.34% = 333,400.003334; floors
    # 333,300.00 + 333,300.00 + 333,400.00 = 1,000,000.00, the 0.01 left to the largest remainder (c: .3334 cent)
    assert [v.rows[0].draws for v in views] == [D("333300.00"), D("333300.00"), D("333400.01")]
    assert [v.rows[-1].closing_balance for v in views] == [D("0.00")] * 3
    assert s.rows[-1].closing_balance == 0
    assert_parts_sum_to_whole(s, [v.rows for v in views])


def test_split_exact_is_largest_remainder_on_exact_parts():
    # 10.01 over exact parts 5.004 / 5.004 / 0.002: floors 5.00 + 5.00 + 0.00, 0.01 left to the largest
    # remainder (0.4 cent, a tie between the first two: the first)
    parts = {"x": Fraction(5004, 1000), "y": Fraction(5004, 1000), "z": Fraction(2, 1000)}
    assert split_exact(D("10.01"), parts, ["x", "y", "z"], 2) == {"x": D("5.01"), "y": D("5.00"), "z": D("0.00")}


def test_a_lender_that_sells_everything_keeps_its_days_and_then_holds_nothing():
    whole_sale = trade_yaml("all", "a", "b", "2026-03-01", trade_date="2026-02-25", share="100%", price="99")
    s = traded(SELL_DOWN, [whole_sale])
    a = row(s, "a", "2026-04-15")
    # a held 45 of 90 days: half of 24,657.534… = 12,328.767 each; floors 12,328.76 + 12,328.76, the 0.01 left
    # is a tie: the order is the list on 04-15 (b), then lenders that left (a), so b gets it. a's whole balance
    # moved at the start of 03-01: −1,000,000.00, and it repays no principal
    assert (a.interest, row(s, "b", "2026-04-15").interest) == (D("12328.76"), D("12328.77"))
    assert (a.transfers, a.principal, a.closing_balance) == (D("-1000000.00"), D("0.00"), D("0.00"))


# --- properties ------------------------------------------------------------------------------------
@st.composite
def traded_facilities(draw):
    start = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 400)))
    years = draw(st.integers(1, 3))
    maturity = start + timedelta(days=365 * years + draw(st.integers(-20, 20)))
    commitment = D(draw(st.integers(100_000, 20_000_000))) + D(draw(st.integers(0, 99))) / 100
    amort = draw(st.sampled_from(["bullet", "percent", "straight", "level"]))
    freq = draw(st.sampled_from(["monthly", "quarterly"]))
    pik = draw(st.sampled_from(["0%", "2%"]))
    dc = draw(st.sampled_from(["ACT/360", "ACT/365F", "30/360"]))
    n = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(1, 9999), min_size=n - 1, max_size=n - 1, unique=True)))
    shares = [b - a for a, b in zip([0] + cuts, cuts + [10000])]
    parts = ", ".join(f"{{lender: l{i}, share: {D(x) / 100}%}}" for i, x in enumerate(shares))
    extra = ""
    if amort == "percent":
        extra = ", annual_rate: 10%"
    fac = deal(f"""
        id: tl
        commitment: {commitment}
        start_date: {start}
        maturity_date: {maturity}
        interest: {{fixed_rate: {draw(st.integers(0, 1500))}bps, pik_rate: {pik}, day_count: {dc}}}
        payments: {{frequency: {freq}, business_day: unadjusted}}
        amortization: {{type: {amort}{extra}}}
        fees: [{{type: upfront, rate: 1%}}, {{type: exit, rate: 0.5%}}]
        participations: [{parts}]
    """)
    holders = {f"l{i}": Fraction(x, 10000) for i, x in enumerate(shares)}
    trades = []
    day = start
    for k in range(draw(st.integers(1, 3))):
        day = day + timedelta(days=draw(st.integers(1, max(1, (maturity - day).days // 2))))
        if day >= maturity:
            break
        seller = draw(st.sampled_from(sorted(n for n, x in holders.items() if x > 0)))
        buyer = draw(st.sampled_from([f"l{i}" for i in range(4)] + ["x"]).filter(lambda b: b != seller))
        pct = draw(st.integers(1, 100)) * holders[seller] / 100
        pct = Fraction(int(pct * 10000), 10000)  # 4 decimal places of percent: exactly representable
        if pct <= 0:
            continue
        holders[seller] -= pct
        holders[buyer] = holders.get(buyer, Fraction(0)) + pct
        trades.append(trade_yaml(f"t{k}", seller, buyer, str(day),
                                 share=f"{D(pct.numerator) / D(pct.denominator) * 100}%", price="99"))
    return fac, trades


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traded_facilities())
def test_lender_parts_sum_satisfy_the_identity_and_end_at_zero(case):
    fac, trades = case
    s = traded(fac, trades)
    parts = lender_rows(s)
    assert_parts_sum_to_whole(s, list(parts.values()))
    for i in range(len(s.rows)):
        for name, rows in parts.items():
            r = rows[i]
            assert r.closing_balance == (r.opening_balance + r.draws + r.pik + r.transfers - r.principal
                                         - r.prepayment), (name, i)
            assert r.total_due == r.interest + r.commitment_fee + r.fees + r.principal
            assert i == 0 or r.opening_balance == rows[i - 1].closing_balance
    assert s.rows[-1].closing_balance == 0
    assert all(rows[-1].closing_balance == 0 for rows in parts.values())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traded_facilities())
def test_a_trade_leaves_the_facility_schedule_byte_identical(case):
    fac, trades = case
    plain = [json.dumps(row_dict(r, 2)) for r in one(fac).rows]
    with_trades = [json.dumps(row_dict(r, 2)) for r in traded(fac, trades).rows]
    assert with_trades == plain
    assert all(json.loads(x)["transfers"] == "0.00" for x in plain)
    assert set(MONEY_FIELDS) >= {"transfers"}
