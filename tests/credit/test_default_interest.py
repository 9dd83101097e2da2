"""Default interest (SPEC §3.3) through `post-payments`, hand-computed on the bullet loan of
creditkit (3.6% ACT/360 on 1,000,000, default rate 2%)."""

from __future__ import annotations

from decimal import Decimal

from creditkit import BULLET, add_event, credit_book
from ledgerkit import allocations, positions, post_rows, row, run

D = Decimal
CLOSING = row("c-1", "2026-01-15", "10000.00")


def test_missed_quarterly_interest_paid_45_days_late_bears_2pct_default_interest(tmp_path):
    book = credit_book(tmp_path / "book")
    bank = tmp_path / "bank"
    bank.mkdir()
    # 2026-04-15 interest 9,000 (90 days × 100.00) is missed and paid 45 days late, on 2026-05-30.
    post_rows(book, bank, "p.csv", [CLOSING, row("late", "2026-05-30", "9000.00")])
    mid = positions(book, "2026-05-15")[None]
    # 30 days overdue on 05-15: 9,000 × 0.02 × 30 / 360 = 15.00 accrued, not yet due
    assert (mid.dpd, mid.accrued_default_interest, mid.default_interest_due) == (30, D("15.00"), D("0.00"))
    after = positions(book, "2026-06-30")[None]
    # 45 days (04-15 … 05-29): 9,000 × 0.02 × 45 / 360 = 22.50, due on the next payment date 07-15
    assert after.accrued_default_interest == D("22.50")
    assert after.dpd == 0
    # 07-15: default interest 22.50 settles before interest 9,100 (91 days × 100.00)
    post_rows(book, bank, "q.csv", [row("q2", "2026-07-15", "9122.50")])
    assert allocations(book)[-2:] == [("q2", "2026-07-15", "2026-07-15", "default_interest", D("22.50")),
                                      ("q2", "2026-07-15", "2026-07-15", "interest", D("9100.00"))]
    end = positions(book, "2026-07-16")[None]
    # interest received: 9,000 + 22.50 + 9,100 = 18,122.50
    assert (end.past_due, end.default_interest_due, end.interest_received) == (D("0"), D("0.00"), D("18122.50"))


def test_default_on_all_principal_from_event_to_cure_across_a_payment_date(tmp_path):
    book = credit_book(tmp_path / "book")
    add_event(book, "2026-06-default", "date: 2026-06-15\ntype: default\n")
    add_event(book, "2026-08-cure", "date: 2026-08-14\ntype: default_cured\n")
    bank = tmp_path / "bank"
    bank.mkdir()
    # period to 07-15: default days 06-15 … 07-14 = 30: 1,000,000 × 0.02 × 30 / 360 = 1,666.666… → 1,666.67
    # period to 10-15: default days 07-15 … 08-13 = 30 (cured 08-14): 1,666.67 again
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "9000.00"),
                                    row("q2", "2026-07-15", "10766.67"),    # 9,100 + 1,666.67
                                    row("q3", "2026-10-15", "10866.67")])   # 9,200 + 1,666.67
    rows = allocations(book)
    assert ("q2", "2026-07-15", "2026-07-15", "default_interest", D("1666.67")) in rows
    assert ("q3", "2026-10-15", "2026-10-15", "default_interest", D("1666.67")) in rows
    assert not [r for r in rows if r[3] == "unapplied"]
    during = positions(book, "2026-07-01")[None]
    # in default since 06-15: 16 days to 07-01: 1,000,000 × 0.02 × 16 / 360 = 888.888… → 888.89
    assert (during.in_default, during.accrued_default_interest) == (True, D("888.89"))
    assert positions(book, "2026-08-14")[None].in_default is False


def test_overdue_principal_bears_contractual_and_default_rate_also_after_maturity(tmp_path):
    book = credit_book(tmp_path / "book")
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "9000.00"), row("q2", "2026-07-15", "9100.00"),
                                    row("q3", "2026-10-15", "9200.00"), row("q4", "2027-01-15", "9200.00"),
                                    row("late", "2027-02-14", "1004666.67")])
    # principal 1,000,000 due 2027-01-15 is paid 30 days late, on 02-14. After maturity it keeps
    # bearing the contractual 3.6% and the 2% default rate, due on the payment's date (on demand):
    #   interest 1,000,000 × 0.036 × 30 / 360 = 3,000.00; default 1,000,000 × 0.02 × 30 / 360 = 1,666.666… → 1,666.67
    # the payment settles the oldest due first, then the 02-14 dues in the waterfall order.
    assert [r for r in allocations(book) if r[0] == "late"] == [
        ("late", "2027-02-14", "2027-01-15", "principal", D("1000000.00")),
        ("late", "2027-02-14", "2027-02-14", "default_interest", D("1666.67")),
        ("late", "2027-02-14", "2027-02-14", "interest", D("3000.00"))]
    assert positions(book, "2027-02-15")[None].past_due == D("0")


def test_without_a_default_rate_a_missed_payment_creates_no_default_interest(tmp_path):
    book = credit_book(tmp_path / "book", BULLET)
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [CLOSING, row("late", "2026-05-30", "9000.00"), row("q2", "2026-07-15", "9100.00")])
    assert not [r for r in allocations(book) if r[3] == "default_interest"]
    assert positions(book, "2026-06-30")[None].accrued_default_interest == D("0")


def test_payoff_quote_includes_default_interest_accrued_to_the_date(tmp_path):
    book = credit_book(tmp_path / "book")
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [CLOSING])
    result = run(book, "payoff", "acme-fixed", "--date", "2026-05-15", "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json
    quote = json.loads(result.stdout)
    text = json.dumps(quote)
    # 9,000 unpaid since 04-15: 30 days × 9,000 × 0.02 / 360 = 15.00 of default interest
    assert '"15.00"' in text, text


def test_schedule_actuals_shows_default_interest_due_and_paid_on_its_row(tmp_path):
    book = credit_book(tmp_path / "book")
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [CLOSING, row("late", "2026-05-30", "9000.00"), row("q2", "2026-07-15", "9122.50")])
    import json
    result = run(book, "schedule", "acme-fixed", "--actuals", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = {r["date"]: r for r in json.loads(result.stdout)["facilities"][0]["rows"]}
    q2 = rows["2026-07-15"]
    # 9,000 × 0.02 × 45 / 360 = 22.50, due and paid on 07-15 with the 9,100 interest: nothing unpaid
    assert (q2["default_interest"], q2["paid"]["default_interest"], q2["paid"]["interest"], q2["unpaid"]) == (
        "22.50", "22.50", "9100.00", "0.00")
    text = run(book, "schedule", "acme-fixed", "--actuals", "--format", "csv").stdout
    assert "default_interest" in text.splitlines()[0]


def test_billing_notice_and_statement_show_default_interest(tmp_path):
    from datetime import date

    from loanctl.api import load_valid_book
    from loanctl.notices.build import build_notices, posted_payments
    from loanctl.notices.statement import build_statement

    from ledgerkit import BOOK_YAML
    book = credit_book(tmp_path / "book", book_yaml=BOOK_YAML + 'remittance: {bank: First Example Bank, account: "1", '
                                                                  'aba: "021000021"}\n')
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [CLOSING, row("late", "2026-05-30", "9000.00")])
    loaded, errors = load_valid_book(book)
    assert not errors
    notices, diags = build_notices(loaded, posted_payments(loaded), date(2026, 7, 10), 10, kinds=("billing",))
    assert not diags
    (billing,) = notices
    # 9,000 × 0.02 × 45 / 360 = 22.50 with the 9,100 of interest: 9,122.50 due on 07-15
    assert (billing.data["default_interest"], billing.data["total_due"]) == ("22.50", "9122.50")
    statement, _ = build_statement(loaded, posted_payments(loaded), "acme-fixed", date(2026, 7, 1),
                                   date(2026, 7, 31))
    dues = [(x["description"], x["due"]) for x in statement.data["lines"] if x["kind"] == "due"]
    assert ("default interest due", "22.50") in dues


def test_overdue_principal_accrues_after_maturity_in_positions(tmp_path):
    book = credit_book(tmp_path / "book")
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "9000.00"), row("q2", "2026-07-15", "9100.00"),
                                    row("q3", "2026-10-15", "9200.00"), row("q4", "2027-01-15", "9200.00")])
    pos = positions(book, "2027-02-04")[None]
    # 1,000,000 unpaid since maturity 2027-01-15, 20 days to 02-04:
    #   contractual 1,000,000 × 0.036 × 20 / 360 = 2,000.00; default 1,000,000 × 0.02 × 20 / 360 = 1,111.11
    assert (pos.accrued_interest, pos.accrued_default_interest, pos.dpd) == (D("2000.00"), D("1111.11"), 20)


def test_payment_notice_lists_default_interest_received_and_each_lenders_part(tmp_path):
    from datetime import date

    from loanctl.api import load_valid_book
    from loanctl.notices.build import build_notices, posted_payments

    book = credit_book(tmp_path / "book")
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [CLOSING, row("late", "2026-05-30", "9000.00"), row("q2", "2026-07-15", "9122.50")])
    loaded, _ = load_valid_book(book)
    notices, diags = build_notices(loaded, posted_payments(loaded), date(2026, 7, 15), 0, kinds=("payment",))
    assert not diags
    parts = {n.party: n.data for n in notices}
    # 22.50 received as default interest: fund-a 60% = 13.50, fund-b 40% = 9.00
    assert parts["fund-a"]["received"]["default_interest"] == "22.50"
    assert (parts["fund-a"]["lender_part"]["default_interest"], parts["fund-b"]["lender_part"]["default_interest"]) == (
        "13.50", "9.00")
    assert parts["fund-a"]["received"]["total"] == "9122.50"
