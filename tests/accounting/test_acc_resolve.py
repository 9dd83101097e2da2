"""The effective rate re-solved prospectively after a prepayment (SPEC §9), by hand with
numpy-financial's `irr` as the independent solver.

The loan of test_acc_journal's FIXED deal: 10,000,000 at 8% ACT/360, quarterly coupons
from 2026-03-31, bullet at 2030-12-31, 2% upfront (200,000), fund-i 100%. Half of it
(5,000,000) is prepaid on the 2026-12-31 payment date.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from bookfactory import invoke, write_book, write_file
from test_acc_journal import FIXED, amortization_cumulative, quarter_ends, r2

npf = pytest.importorskip("numpy_financial")
D = Decimal


def test_prepayment_re_solves_the_effective_rate_prospectively(tmp_path):
    root = write_book(tmp_path, deals={"fixed-5y": FIXED})
    bank = write_file(tmp_path, "bank/pay.csv", "payment_id,deal,date,amount,type\n"
                                                "pp1,fixed-5y,2026-12-31,5000000.00,prepayment\n")
    result = invoke(["--book", str(root), "post-payments", "--posting-day", "2027-01-05", str(bank)])
    assert result.exit_code == 0, result.stderr + result.stdout
    got = amortization_cumulative(root, "--period", "quarter")

    dates = [date(2025, 12, 31)] + quarter_ends()
    par, oid, prepaid = D(10_000_000), D(200_000), D(5_000_000)

    def coupon(principal, k):  # the coupon of the period ending dates[k]
        return r2(principal * D("0.08") * (dates[k] - dates[k - 1]).days / 360)

    # at funding: the flows projected then (no prepayment), the rate solved independently
    flows0 = [-(par - oid)] + [coupon(par, k) for k in range(1, len(dates))]
    flows0[-1] += par
    i0 = D(repr(float(npf.irr([float(f) for f in flows0]))))
    carrying, expected = par - oid, {}
    for k in range(1, 5):                         # to 2026-12-31, the prepayment date (row 4)
        carrying = carrying * (1 + i0) - flows0[k]
        expected[dates[k]] = carrying - par + oid  # Y_k = B_k − balance_k + fee
    # on 2026-12-31: 5,000,000 comes back at par; the carrying amount left is B_4 − 5,000,000,
    # and the rate is re-solved on it and the flows projected now (coupons on 5,000,000)
    left = carrying - prepaid
    flows1 = [-left] + [coupon(par - prepaid, k) for k in range(5, len(dates))]
    flows1[-1] += par - prepaid
    i1 = D(repr(float(npf.irr([float(f) for f in flows1]))))
    assert abs(i1 - i0) > D("0.0005")             # the rate did change (the fee now runs on half the loan)
    carrying = left
    for k in range(5, len(dates)):
        carrying = carrying * (1 + i1) - flows1[k - 4]
        expected[dates[k]] = carrying - (par - prepaid) + oid if k < len(dates) - 1 else oid
    for on, y in expected.items():
        assert got[on] == r2(y), (on, got[on], r2(y))
    # history is untouched: the first year is what the rate solved at funding gives
    assert got[date(2026, 3, 31)] == r2(D(9_800_000) * i0 - flows0[1])
    assert got[dates[-1]] == oid                  # Σ recognised = the fee, exactly


def _amortization_entries(root) -> list[tuple[str, str]]:
    result = invoke(["--book", str(root), "journal", "--to", "2031-01-31", "--format", "json", "--period", "quarter"])
    assert result.exit_code == 0, result.stderr
    return [(e["date"], json.dumps(e["postings"])) for e in json.loads(result.stdout)["entries"]
            if e["kind"] == "amortization"]


def test_amendment_changes_only_what_comes_after_it(tmp_path):
    """A repricing effective 2027-06-30 (8% → 6%): the amortization before it is exactly the
    unamended book's (prospective: history stands), after it differs, and Σ is the fee."""
    plain = _amortization_entries(write_book(tmp_path / "a", deals={"fixed-5y": FIXED}))
    amended = write_book(tmp_path / "b", deals={
        "fixed-5y": FIXED,
        "fixed-5y/amendments/001-repricing.yaml": (
            "id: 001-repricing\neffective_date: 2027-06-30\napprovals:\n"
            "  - {by: jane.doe, role: credit_officer, date: 2027-06-01, decision: approved}\n"
            "  - {by: ic, role: credit_committee, date: 2027-06-02, decision: approved}\n"
            "changes:\n  - {facility: tl, set: {interest: {fixed_rate: 6%, day_count: ACT/360}}}\n")})
    after = _amortization_entries(amended)
    before_plain = [e for e in plain if e[0] <= "2027-06-30"]
    assert [e for e in after if e[0] <= "2027-06-30"] == before_plain
    assert [e for e in after if e[0] > "2027-06-30"] != [e for e in plain if e[0] > "2027-06-30"]
    got = amortization_cumulative(amended, "--period", "quarter")
    assert got[max(got)] == D(200_000)


def test_a_mid_period_re_solve_on_unchanged_flows_keeps_the_yield():
    """A change that does not change the flows (an amendment of another facility) re-solved
    between payment dates: the carrying amount then is owed beside the coupon accrued since
    the last payment date, so the rate stays the funding rate (up to the linear interpolation
    of what was recognised by then) and the curve keeps rising — it once dropped to zero,
    reading the accrued coupon as yield."""
    from loanctl.accounting.amortization import effective_interest_curve, reforecast
    # 1,000,000 bullet over 8 quarters, 25,000 coupons, 2% OID: funded at 980,000
    dates = [date(2025, 1, 1), date(2025, 4, 1), date(2025, 7, 1), date(2025, 10, 1), date(2026, 1, 1),
             date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1), date(2027, 1, 1)]
    flows = [D(-980_000)] + [D(25_000)] * 7 + [D(1_025_000)]
    balances = [D(1_000_000)] * 8 + [D(0)]
    exits = [D(0)] * 9
    curve = effective_interest_curve(dates, flows, balances, D(20_000), exits)
    i0 = D(repr(float(npf.irr([float(f) for f in flows]))))
    assert abs(curve.rate - i0) < D("1e-9")
    again = reforecast(curve, date(2025, 5, 1), dates, flows, balances, D(20_000), exits,
                       coupons=[D(0)] + [D(25_000)] * 8)
    assert abs(again.rate - i0) < D("0.0001")
    cums = [again.at(d) for d in dates]
    assert all(b >= a for a, b in zip(cums, cums[1:]))
    assert again.at(date(2025, 4, 1)) == curve.at(date(2025, 4, 1))  # history stays


def test_a_floating_rate_projection_holds_the_index_of_inception():
    """ASC 310-20-35-20: the fee's yield on a floating-rate loan is projected with the index
    in effect at inception (SOFR 4.30% here) plus each period's own spread; a later period
    fixed at 3.80% + 5.75% = 9.55% paying 24,137.50 on 1,000,000 × 91/360 is projected at
    (4.30% + 5.75%) = 10.05%: 24,137.50 × 10.05 / 9.55 = 25,401.2435…"""
    from types import SimpleNamespace as Row

    from loanctl.accounting.position import index_at_inception, projected_interest
    rows = [Row(date=date(2026, 1, 15), rate=None, spread=None, interest=D(0)),
            Row(date=date(2026, 4, 15), rate=D("0.1005"), spread=D("0.0575"), interest=D("25125.00")),
            Row(date=date(2026, 7, 15), rate=D("0.0955"), spread=D("0.0575"), interest=D("24137.50"))]
    index0 = index_at_inception(rows)
    assert index0 == D("0.0430")
    assert projected_interest(rows[1], index0) == D("25125.00")
    assert projected_interest(rows[2], index0) == D("24137.50") * D("0.1005") / D("0.0955")
    assert round(projected_interest(rows[2], index0), 4) == D("25401.2435")
    fixed = Row(date=date(2026, 7, 15), rate=D("0.09"), spread=None, interest=D("22750.00"))
    assert projected_interest(fixed, index0) == D("22750.00")
    assert index_at_inception(rows, date(2026, 5, 1)) == D("0.0380")  # a buyer's: the period it bought into
