"""Principal paid beyond the balance (cash ahead of PIK not yet capitalised) is held as
unapplied cash by the facility (`facility_position`'s `held`) — and each lender's part holds its
share of it: the lenders' figures add up to the facility's (found by the pipeline property
test: a lender's principal received was short by the held amount)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from loanctl.api import load_valid_book
from loanctl.ledger import db, posting
from loanctl.servicing.positions import (MONEY, allocate_facility, facility_inputs, facility_position,
                                         lender_position)

BOOK = """\
name: Paid Ahead Partners
base_currency: USD
entities:
  - {id: fund-a, kind: fund, name: Fund A}
  - {id: fund-b, kind: fund, name: Fund B}
  - {id: acme, kind: borrower, name: Acme Inc., industry: industrials, country: US}
policy:
  approvals:
    - {require: [credit_officer]}
"""

DEAL = """\
id: deal-0
name: Deal 0
borrower: acme
status: funded
currency: USD
origination:
  approvals:
    - {by: co, role: credit_officer, date: 2023-12-27}
facilities:
  - id: f0
    type: delayed_draw
    commitment: 100000
    start_date: 2024-01-01
    maturity_date: 2026-01-01
    availability_end: 2024-02-01
    draws: [{date: 2024-01-01, amount: 100000.00}]
    interest: {fixed_rate: 300bps, pik_rate: 2%, day_count: ACT/360}
    payments: {frequency: annual, business_day: following, calendar: WEEKENDS}
    amortization: {type: percent, annual_rate: 1%, interest_only_periods: 0}
    participations: [{lender: fund-a, share: 60%}, {lender: fund-b, share: 40%}]
"""

PAYMENTS = b"""payment_id,deal,facility,date,amount,type,reference
p1,deal-0,f0,2024-01-01,108.33,scheduled,ahead
p2,deal-0,f0,2024-01-02,100000.00,prepayment,repaid
"""


def test_lenders_hold_their_part_of_principal_paid_ahead(tmp_path):
    root = tmp_path / "book"
    root.mkdir()
    (root / "book.yaml").write_text(BOOK, encoding="utf-8")
    (root / "deal-0").mkdir()
    (root / "deal-0" / "deal.yaml").write_text(DEAL, encoding="utf-8")
    loaded, errors = load_valid_book(root)
    assert not errors
    assert posting.post(loaded, [("bank.csv", PAYMENTS)], date(2024, 1, 3)).ok
    pays = db.ledger_payments(root)
    terms, builder = facility_inputs(loaded, "deal-0")
    fa = allocate_facility(loaded, "deal-0", "f0", pays, terms=terms, builder=builder)
    whole = facility_position(fa, "deal-0", date(2024, 1, 2), loaded.book.dpd_buckets, loaded.book.rounding)
    # repaid on 2024-01-02 after one day: interest 100,000 × 3% × 1/360 = 8.33, PIK 100,000 × 2% × 1/360
    # = 5.56 (capitalised only at the period's end, 2025-01-01). p1's 108.33: 8.33 interest, 5.56
    # principal (the PIK due at maturity), 94.44 unapplied; p2 repays the 100,000.00 drawn. Principal
    # paid 100,005.56 against 100,000.00 outstanding: 5.56 held as unapplied until that PIK exists.
    assert whole.principal_received == Decimal("100000.00")
    assert whole.unapplied == Decimal("100.00")  # 94.44 + 5.56
    assert whole.outstanding_principal == Decimal("0.00")
    parts = {n: lender_position(fa, whole, n) for n in ("fund-a", "fund-b")}
    # 60/40: principal 5.56 → 3.34 / 2.22 (largest remainder: 3.336, 2.224), the prepayment 60,000 / 40,000,
    # the held 5.56 → 3.34 / 2.22; unapplied 94.44 → 56.66 / 37.78 (56.664, 37.776), plus the held part
    assert parts["fund-a"].principal_received == Decimal("60000.00")  # 3.34 + 60,000 − 3.34
    assert parts["fund-b"].principal_received == Decimal("40000.00")  # 2.22 + 40,000 − 2.22
    assert parts["fund-a"].unapplied == Decimal("60.00")  # 56.66 + 3.34
    assert parts["fund-b"].unapplied == Decimal("40.00")  # 37.78 + 2.22
    for lp in parts.values():
        assert lp.outstanding_principal == Decimal("0.00")
    for name in MONEY:
        assert sum(getattr(lp, name) for lp in parts.values()) == getattr(whole, name), name
