"""`loanctl schedule --actuals` (issue #13 items 5 and 7), hand-computed, from the command line:
interest on overdue principal as its own figure (`overdue_interest`, due and paid), the
prepayment fee on the prepayment's own date, an upfront fee netted at closing shown paid,
and `--lender` giving a lender's cash (every figure the lender's share).

Book: ledgerkit's `acme-fixed` (1,000,000 at 3.6% ACT/360 — balance × days / 10,000 —
quarterly from 2026-01-15, straight 250,000 a quarter, agency fee 2,500 on 07-15, prepayment
fee 2% until 2026-07-15 then 1%, fund-a 60% / fund-b 40%).
Payments: the 1% upfront fee 10,000 in cash; 04-15 9,000 (the interest only: principal
250,000 left unpaid); 07-15 511,600 = the late 250,000 + fee 2,500 + interest 6,825 + the
overdue principal's interest 250,000 × 91 / 10,000 = 2,275 + principal 250,000; a
prepayment of 100,000 on 08-14 (fee 1% = 1,000) and that fee paid the same day.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ledgerkit import BOOK_YAML, FIXED_DEAL, FIXED_YAML, post_rows, run, write_book

PAYMENTS = [("c-1", FIXED_DEAL, "2026-01-15", "10000.00", "fee", ""),
            ("q1", FIXED_DEAL, "2026-04-15", "9000.00", "", ""),
            ("q2", FIXED_DEAL, "2026-07-15", "511600.00", "", ""),
            ("pp", FIXED_DEAL, "2026-08-14", "100000.00", "prepayment", ""),
            ("f-pp", FIXED_DEAL, "2026-08-14", "1000.00", "fee", "")]


def _book(tmp_path: Path, deals: dict | None = None) -> Path:
    book = write_book(tmp_path / "book", BOOK_YAML, deals or {FIXED_DEAL: FIXED_YAML})
    return book


def _json(book: Path, *args) -> dict:
    result = run(book, "schedule", *args, "--actuals", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _rows(doc: dict) -> dict:
    return {r["date"]: r for r in doc["facilities"][0]["rows"]}


def test_overdue_interest_and_the_prepayment_fee_on_its_own_date(tmp_path):
    book = _book(tmp_path)
    post_rows(book, tmp_path / "bank", "p.csv", PAYMENTS)
    rows = _rows(_json(book, FIXED_DEAL))
    jul = rows["2026-07-15"]
    # the scheduled 750,000 × 91 / 10,000 = 6,825 and, apart, the overdue 250,000 × 91 / 10,000 = 2,275
    assert (jul["interest"], jul["overdue_interest"]) == ("6825.00", "2275.00")
    assert jul["paid"] == {"fees": "2500.00", "commitment_fee": "0.00", "default_interest": "0.00", "interest": "6825.00",
                           "overdue_interest": "2275.00", "principal": "250000.00"}
    # 259,325 due + 2,275 = 261,600 paid against the row: nothing unpaid
    assert (jul["paid_total"], jul["unpaid"]) == ("261600.00", "0.00")
    # the late principal is paid against its own row, 04-15
    assert (rows["2026-04-15"]["paid"]["principal"], rows["2026-04-15"]["unpaid"]) == ("250000.00", "0.00")
    # the prepayment's own row: 500,000 → 400,000, fee 100,000 × 1% = 1,000, paid by f-pp
    pp = rows["2026-08-14"]
    assert (pp["event"], pp["opening_balance"], pp["closing_balance"], pp["prepayment"], pp["prepayment_fee"],
            pp["paid"]["fees"], pp["unpaid"]) == ("prepayment", "500000.00", "400000.00", "100000.00", "1000.00",
                                                   "1000.00", "0.00")
    # the next scheduled row shows no fee it does not owe (it used to show unpaid −1,000.00)
    # 10-15: 500,000 × 30 / 10,000 = 1,500 + 400,000 × 62 / 10,000 = 2,480 → interest 3,980, unpaid
    octo = rows["2026-10-15"]
    assert (octo["interest"], octo["prepayment_fee"], octo["paid_total"], octo["unpaid"]) == (
        "3980.00", "0.00", "0.00", "253980.00")
    # 2027-01-15: the prepayment took 100,000 off the last principal (250,000 → 150,000);
    # 150,000 × 92 / 10,000 = 1,380; the unpaid 10-15 principal bears 250,000 × 92 / 10,000 = 2,300
    jan = rows["2027-01-15"]
    assert (jan["principal"], jan["interest"], jan["overdue_interest"], jan["unpaid"]) == (
        "150000.00", "1380.00", "2300.00", "153680.00")                      # 151,380 + 2,300

    # CSV: the same figures in the actuals columns
    result = run(book, "schedule", FIXED_DEAL, "--actuals", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    table = {r["date"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert (table["2026-07-15"]["overdue_interest"], table["2026-07-15"]["paid_overdue_interest"],
            table["2026-07-15"]["paid_interest"]) == ("2275.00", "2275.00", "6825.00")
    assert (table["2026-08-14"]["event"], table["2026-08-14"]["prepayment_fee"], table["2026-08-14"]["prepayment"],
            table["2026-08-14"]["unpaid"]) == ("prepayment", "1000.00", "100000.00", "0.00")
    assert table["2026-04-15"]["event"] == ""

    # table: the column and the event row
    result = run(book, "schedule", FIXED_DEAL, "--actuals", "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "Overdue int." in result.stdout and "2,275.00 (paid 2,275.00)" in result.stdout
    assert "2026-08-14 prepayment" in result.stdout


def test_a_lenders_cash_view(tmp_path):
    """fund-a holds 60%: every figure is its part (largest remainder of each amount)."""
    book = _book(tmp_path)
    post_rows(book, tmp_path / "bank", "p.csv", PAYMENTS)
    rows = _rows(_json(book, FIXED_DEAL, "--lender", "fund-a"))
    jul = rows["2026-07-15"]
    # 6,825 × 0.6 = 4,095; 2,275 × 0.6 = 1,365; 2,500 × 0.6 = 1,500; 250,000 × 0.6 = 150,000
    assert (jul["interest"], jul["overdue_interest"], jul["fees"], jul["principal"]) == (
        "4095.00", "1365.00", "1500.00", "150000.00")
    assert jul["paid"] == {"fees": "1500.00", "commitment_fee": "0.00", "default_interest": "0.00", "interest": "4095.00",
                           "overdue_interest": "1365.00", "principal": "150000.00"}
    assert jul["unpaid"] == "0.00"
    pp = rows["2026-08-14"]
    # 100,000 × 0.6 = 60,000 prepaid, fee 1,000 × 0.6 = 600, paid 600
    assert (pp["prepayment"], pp["prepayment_fee"], pp["paid"]["fees"], pp["unpaid"]) == (
        "60000.00", "600.00", "600.00", "0.00")
    assert rows["2026-01-15"]["paid"]["fees"] == "6000.00"                   # 10,000 × 0.6
    # fund-b's 40%: 2,275 × 0.4 = 910
    assert _rows(_json(book, FIXED_DEAL, "--lender", "fund-b"))["2026-07-15"]["overdue_interest"] == "910.00"


def test_a_netted_upfront_fee_is_paid_at_closing(tmp_path):
    """1% upfront on 1,000,000 netted (the default): 10,000 due at closing and paid at closing."""
    book = _book(tmp_path, {FIXED_DEAL: FIXED_YAML.replace(", netted: false", "")})
    first = _rows(_json(book, FIXED_DEAL))["2026-01-15"]
    assert (first["fees"], first["paid"]["fees"], first["unpaid"]) == ("10000.00", "10000.00", "0.00")
    # fund-b: 10,000 × 0.4 = 4,000
    first_b = _rows(_json(book, FIXED_DEAL, "--lender", "fund-b"))["2026-01-15"]
    assert (first_b["fees"], first_b["paid"]["fees"], first_b["unpaid"]) == ("4000.00", "4000.00", "0.00")
