"""The demo book's trades (SPEC §2.6), visible from the command line: a secondary sale at a
discount on alder-tl-2026 and a warehouse-SPV-to-fund allocation at par on northwind-tl-2025.

By hand:
- alder: fund-i sells 2,000,000 par to fund-ii at 97.5, settling 2026-09-15. The moved
  fraction is 2,000,000 / the outstanding then, so at the start of 2026-09-15 fund-ii's part
  of the outstanding is exactly 2,000,000.00 (fund-i-spv's 40% does not move); the buyer pays
  2,000,000 × 97.5% = 1,950,000.00, a 50,000.00 discount.
- northwind: 24,000,000 straight amortization of 1,000,000 a quarter from 2025-10-15, so
  23,000,000 is outstanding on 2025-11-03; the SPV moves 10% of the facility = 2,300,000.00 to
  fund-ii at par (cash 2,300,000.00): fund-i-spv 15% → 5%, fund-ii 60% → 70%.
"""

from __future__ import annotations

import json
from pathlib import Path

from bookfactory import invoke

DEALS = Path(__file__).resolve().parents[2] / "deals"


def lender_rows(deal: str, lender: str) -> dict[str, dict]:
    result = invoke(["--book", str(DEALS), "schedule", deal, "--lender", lender, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    (fac,) = json.loads(result.stdout)["facilities"]
    return {r["date"]: r for r in fac["rows"]}


def test_alder_secondary_sale_in_the_lender_schedules():
    buyer, seller = lender_rows("alder-tl-2026", "fund-ii"), lender_rows("alder-tl-2026", "fund-i")
    spv = lender_rows("alder-tl-2026", "fund-i-spv")
    # the 2026-10-15 row holds the settlement of 2026-09-15
    assert (buyer["2026-10-15"]["transfers"], seller["2026-10-15"]["transfers"],
            spv["2026-10-15"]["transfers"]) == ("2000000.00", "-2000000.00", "0.00")
    assert buyer["2026-07-15"]["closing_balance"] == "0.00"
    # fund-ii earns interest for 30 of the 92 days from 07-15 to 10-15 only
    assert 0 < float(buyer["2026-10-15"]["interest"]) < float(seller["2026-10-15"]["interest"])
    last = max(buyer)
    assert buyer[last]["closing_balance"] == seller[last]["closing_balance"] == "0.00"


def test_northwind_warehouse_allocation_in_the_lender_schedules():
    spv, fund = lender_rows("northwind-tl-2025", "fund-i-spv"), lender_rows("northwind-tl-2025", "fund-ii")
    # 2025-11-03 falls in the period ending 2026-01-15
    assert (spv["2026-01-15"]["transfers"], fund["2026-01-15"]["transfers"]) == ("-2300000.00", "2300000.00")
    # principal on 2026-01-15 by the new shares: 1,000,000 × 5% = 50,000.00 and × 70% = 700,000.00
    assert (spv["2026-01-15"]["principal"], fund["2026-01-15"]["principal"]) == ("50000.00", "700000.00")


def test_fund_report_lists_both_trades():
    result = invoke(["--book", str(DEALS), "report", "--fund", "fund-ii", "--as-of", "2026-11-30",
                     "--format", "json"])
    assert result.exit_code == 0, result.stderr
    trades = {t["trade"]: t for t in json.loads(result.stdout)["trades"]}
    sale, allocation = trades["2026-09-secondary-sale"], trades["2025-11-warehouse-allocation"]
    assert (sale["side"], sale["par"], sale["cash"], sale["premium_discount"]) == (
        "bought", "2000000.00", "1950000.00", "-50000.00")
    assert (allocation["side"], allocation["par"], allocation["cash"], allocation["premium_discount"]) == (
        "bought", "2300000.00", "2300000.00", "0.00")
    seller = json.loads(invoke(["--book", str(DEALS), "report", "--fund", "fund-i", "--as-of", "2026-11-30",
                                "--format", "json"]).stdout)
    sold = {t["trade"]: t for t in seller["trades"]}
    # the SPV rolls up into fund-i: both sales show, with the realised result (cash − par)
    assert (sold["2026-09-secondary-sale"]["gain_loss"], sold["2025-11-warehouse-allocation"]["gain_loss"]) == (
        "-50000.00", "0.00")


def test_text_and_html_reports_show_the_trades():
    text = invoke(["--book", str(DEALS), "report", "--lender", "fund-ii", "--as-of", "2026-11-30",
                   "--format", "text"])
    assert text.exit_code == 0 and "2026-09-secondary-sale" in text.stdout
    html = invoke(["--book", str(DEALS), "report", "--lender", "fund-ii", "--as-of", "2026-11-30",
                   "--format", "html"])
    assert html.exit_code == 0 and 'id="trades"' in html.stdout and "2026-09-secondary-sale" in html.stdout
