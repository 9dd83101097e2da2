"""Payoff quotes and reports on overnight rates in arrears (SPEC §3.2, issue #16): a quote
in the middle of a period on a small inline compounded-SONIA loan and on a daily simple SOFR
loan, each computed by hand with the engine's formula; `loanctl payoff` on the demo's
Harrow (compounded SONIA) and Larkspur (daily simple SOFR) deals; and the demo's Harrow
report as of a date inside its first period (accrued interest by hand from the fixings)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import pytest

from bookfactory import write_book_at
from ledgerkit import BOOK_YAML, run

D = Decimal
P = D(1_000_000)
DEMO = Path(__file__).resolve().parents[2] / "deals"

# Index business days are the rows: 2025-12-25/26 and 2026-01-01 are holidays (no rows).
SONIA = ("date,rate\n2025-12-22,4.67%\n2025-12-23,4.68%\n2025-12-24,4.69%\n2025-12-29,4.70%\n"
         "2025-12-30,4.71%\n2025-12-31,4.72%\n2026-01-02,4.73%\n2026-01-05,4.74%\n2026-01-06,4.75%\n")
SOFR = ("date,rate\n2025-12-22,3.55%\n2025-12-23,3.56%\n2025-12-24,3.57%\n2025-12-26,3.58%\n2025-12-29,3.60%\n"
        "2025-12-30,3.65%\n2025-12-31,3.70%\n2026-01-02,3.75%\n2026-01-05,3.80%\n2026-01-06,3.85%\n")


def overnight_deal(deal_id: str, interest: str) -> str:
    """A 1,000,000 bullet term loan from Tue 2025-12-30, quarterly, no fees."""
    return (f"id: {deal_id}\nname: Overnight test loan\nborrower: acme\nstatus: funded\ncurrency: USD\n"
            "origination:\n  approvals:\n    - {by: jane.doe, role: credit_officer, date: 2025-12-01, "
            "decision: approved}\n"
            "facilities:\n  - id: tl\n    type: term\n    commitment: 1000000\n"
            "    start_date: 2025-12-30\n    maturity_date: 2026-12-30\n"
            "    draws: [{date: 2025-12-30, amount: 1000000}]\n"
            f"    interest: {interest}\n"
            "    payments: {frequency: quarterly, business_day: unadjusted}\n"
            "    amortization: {type: bullet}\n"
            "    participations: [{lender: fund-a, share: 100%}]\n")


@pytest.fixture
def book(tmp_path) -> Path:
    return write_book_at(tmp_path / "book", BOOK_YAML, {
        "o-sonia": overnight_deal("o-sonia", "{index: SONIA, method: compounded, lookback_days: 2, spread: 5%, "
                                             "day_count: ACT/365F}"),
        "o-sofr": overnight_deal("o-sofr", "{index: SOFR, method: simple, lookback_days: 1, spread: 2%, "
                                           "day_count: ACT/360}")}, {"SONIA": SONIA, "SOFR": SOFR})


def quote(root: Path, deal: str, on: str) -> dict:
    out = run(root, "payoff", deal, "--date", on, "--format", "json")
    assert out.exit_code == 0, out.stderr
    return json.loads(out.stdout)


def components_sum(q: dict) -> Decimal:
    parts = ("interest", "overdue_interest", "pik", "commitment_fee", "principal", "prepayment_fee", "exit_fee",
             "other_fees")
    return sum((D(q[k]) for k in parts), D(0)) + sum((D(v) for v in q["past_due"].values()), D(0))


def test_payoff_mid_period_on_compounded_sonia_by_hand(book):
    # Quoted on Mon 2026-01-05: the days Tue 30 Dec .. Sun 4 Jan (6 days), lookback 2, no shift.
    # Runs at the index business days (the rows): [Dec 30, Dec 31) n=1, [Dec 31, Jan 2) n=2
    # (Jan 1 has no row), [Jan 2, Jan 5) n=3; each observes the row 2 rows before its first day:
    # Dec 30 → Dec 24 (4.69%), Dec 31 → Dec 29 (4.70%), Jan 2 → Dec 30 (4.71%).
    # F1 = 1 + 0.0469 × 1/365, F2 = F1 (1 + 0.0470 × 2/365), F3 = F2 (1 + 0.0471 × 3/365)
    # interest = P (F3 − 1) + P × 5% × 6/365 = 773.3332293… + 821.9178082… = 1,595.2510375… → 1,595.25
    with localcontext() as ctx:
        ctx.prec = 50
        f1 = 1 + D("0.0469") * 1 / 365
        f2 = f1 * (1 + D("0.0470") * 2 / 365)
        f3 = f2 * (1 + D("0.0471") * 3 / 365)
        hand = P * (f3 - 1) + P * D("0.05") * 6 / 365
    assert hand.quantize(D("0.01"), rounding=ROUND_HALF_UP) == D("1595.25")
    q = quote(book, "o-sonia", "2026-01-05")
    assert (q["interest"], q["principal"], q["past_due"]) == ("1595.25", "1000000.00", {})
    assert D(q["total"]) == components_sum(q) == D("1001595.25")


def test_payoff_mid_period_on_daily_simple_sofr_by_hand(book):
    # Quoted on Mon 2026-01-05, lookback 1: each day observes the row before b(t):
    # Tue 30 → Mon 29 (3.60%); Wed 31 → Tue 30 (3.65%); Thu 1 (holiday, b = Wed 31) → 3.65%;
    # Fri 2 → Wed 31 (3.70%); Sat 3, Sun 4 (b = Fri 2) → 3.70%.
    # Σ (r + 2%) = 0.0360 + 2 × 0.0365 + 3 × 0.0370 + 6 × 0.02 = 0.340; 1,000,000 × 0.340 / 360 = 944.444… → 944.44
    q = quote(book, "o-sofr", "2026-01-05")
    assert (q["interest"], q["principal"]) == ("944.44", "1000000.00")
    assert D(q["total"]) == components_sum(q) == D("1000944.44")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A copy of the demo book (the commands must not touch the checkout)."""
    root = tmp_path_factory.mktemp("demo") / "deals"
    shutil.copytree(DEMO, root)
    return root


@pytest.mark.parametrize("deal", ["harrow-tl-2026", "larkspur-rcf-2026"])
def test_payoff_on_the_demo_overnight_deals(demo, deal):
    q = quote(demo, deal, "2026-11-27")
    assert D(q["interest"]) > 0
    assert D(q["total"]) == components_sum(q)


def test_demo_harrow_report_shows_the_periods_rate_and_accrued_interest(demo):
    # Harrow: 9,600,000 from Mon 2026-11-16, SONIA compounded, lookback 5, spread 5%, floor 0%, ACT/365F.
    # Accrued to 2026-11-27 (excluded): the 11 days Nov 16..26 in runs at the rows of rates/SONIA.csv,
    # each observing the row 5 rows earlier:
    #   Nov 16 n=1 → Nov 9 3.961%   Nov 17 n=1 → Nov 10 3.959%   Nov 18 n=1 → Nov 11 3.960%
    #   Nov 19 n=1 → Nov 12 3.961%  Nov 20 n=3 → Nov 13 3.959%   Nov 23 n=1 → Nov 16 3.960%
    #   Nov 24 n=1 → Nov 17 3.958%  Nov 25 n=1 → Nov 18 3.959%   Nov 26 n=1 → Nov 19 3.960%
    # interest = P (Π(1 + r n / 365) − 1) + P × 5% × 11/365 = 25,927.1914943… → 25,927.19
    rows = dict(line.split(",") for line in (demo / "rates" / "SONIA.csv").read_text().splitlines()[1:])
    runs = [("2026-11-16", 1, "2026-11-09", "0.03961"), ("2026-11-17", 1, "2026-11-10", "0.03959"),
            ("2026-11-18", 1, "2026-11-11", "0.03960"), ("2026-11-19", 1, "2026-11-12", "0.03961"),
            ("2026-11-20", 3, "2026-11-13", "0.03959"), ("2026-11-23", 1, "2026-11-16", "0.03960"),
            ("2026-11-24", 1, "2026-11-17", "0.03958"), ("2026-11-25", 1, "2026-11-18", "0.03959"),
            ("2026-11-26", 1, "2026-11-19", "0.03960")]
    with localcontext() as ctx:
        ctx.prec = 50
        f = D(1)
        for day, n, observed, rate in runs:
            assert day in rows and rows[observed] == rate  # the fixings are the file's
            f *= 1 + D(rate) * n / 365
        big = D(9_600_000)
        hand = big * (f - 1) + big * D("0.05") * 11 / 365
    assert sum(n for _, n, _, _ in runs) == (date(2026, 11, 27) - date(2026, 11, 16)).days == 11
    assert hand.quantize(D("0.01"), rounding=ROUND_HALF_UP) == D("25927.19")
    out = run(demo, "report", "--deal", "harrow-tl-2026", "--as-of", "2026-11-27", "--format", "json")
    assert out.exit_code == 0, out.stderr
    (p,) = json.loads(out.stdout)["positions"]
    assert p["accrued_interest"] == "25927.19"
    # the rate shown is the period's equivalent rate, as in the schedule's row for 2027-02-16
    sched = run(demo, "schedule", "harrow-tl-2026", "--format", "json")
    row = next(r for r in json.loads(sched.stdout)["facilities"][0]["rows"] if r["date"] == "2027-02-16")
    assert p["rate"] == row["rate"]
    assert D(row["rate"]).as_tuple().exponent == -10
    # and that rate is the period's unrounded interest × 365 / (9,600,000 × 92 days): it
    # yields the row's interest to within the 10th-decimal rounding of the rate
    assert abs(big * D(row["rate"]) * 92 / 365 - D(row["interest"])) <= big * 92 / 365 * D("0.5e-10") + D("0.005")
