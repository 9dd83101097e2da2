"""`loanctl simulate` with a trade (SPEC §2.6, §7): each lender's cash flows use the lender
parts (days held) and the purchase price at settlement, checked by hand against pyxirr.

bookfactory's hand-computable loan: 1,000,000 at 3.6% ACT/360 (balance × days / 10,000),
250,000 a quarter from 2026-04-15 to 2027-01-15, 1% upfront fee (10,000) on 2026-01-15;
fund-a 60%, fund-b 40%. fund-a sells 150,000 par to fund-b at 98 settling 2026-05-15, when
750,000 is outstanding: 20% of the facility, so fund-a 40% and fund-b 60% from then.

fund-b by hand:
  2026-01-15  −400,000 drawn, +4,000 fee (40%)
  2026-04-15  +3,600 interest (9,000 × 40%) +100,000 principal
  2026-05-15  −147,000 paid for the position (98% × 150,000)
  2026-07-15  +3,645 interest (6,825 by days held: 75 × (30 × 40% + 61 × 60%)) +150,000
  2026-10-15  +2,760 interest (500,000 × 92 / 10,000 = 4,600 × 60%) +150,000
  2027-01-15  +1,380 interest (2,300 × 60%) +150,000
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pyxirr

from bookfactory import cli, fixed_term_deal, fund_a_sale, small_book_yaml, write_book_at

TRADE = fund_a_sale("sale")


def test_buyer_returns_use_days_held_and_the_price(tmp_path):
    root = write_book_at(tmp_path / "book", small_book_yaml(), {
        "acme-fixed": fixed_term_deal(), "acme-fixed/trades/sale.yaml": TRADE})
    result = cli("--book", root, "simulate", "acme-fixed", "--as-of", "2026-01-01", "--format", "json")
    assert result.exit_code == 0, result.stderr
    lenders = json.loads(result.stdout)["base"]["lenders"]
    flows = [("2026-01-15", -396000), ("2026-04-15", 103600), ("2026-05-15", -147000),
             ("2026-07-15", 153645), ("2026-10-15", 152760), ("2027-01-15", 151380)]
    expected = pyxirr.xirr([date.fromisoformat(d) for d, _ in flows], [a for _, a in flows])
    assert abs(Decimal(lenders["fund-b"]["xirr"]) - Decimal(str(expected))) < Decimal("1e-8")
    # MOIC: (4,000 + 103,600 + 153,645 + 152,760 + 151,380) / (400,000 + 147,000) = 565,385 / 547,000
    assert abs(Decimal(lenders["fund-b"]["moic"]) - Decimal(565385) / Decimal(547000)) < Decimal("1e-4")
