"""Non-accrual (automatic at policy.non_accrual_dpd, and by event) and a partial write-off
followed by a recovery, with the fund's totals before and after — hand-computed on the
bullet loan of creditkit (1,000,000 at 3.6% ACT/360, fund-a 60% / fund-b 40%)."""

from __future__ import annotations

import json
from decimal import Decimal

from bookfactory import fixed_term_deal
from creditkit import BULLET, add_event, credit_book
from ledgerkit import BOOK_YAML, FIXED_DEAL, positions, post_rows, row, run, write_book

D = Decimal
CLOSING = row("c-1", "2026-01-15", "10000.00")
DPD_BOOK = BOOK_YAML.replace("policy:\n", "policy:\n  non_accrual_dpd: 90\n", 1)


def test_non_accrual_on_the_day_dpd_reaches_90_and_restored_when_current(tmp_path):
    book = credit_book(tmp_path / "book", BULLET, DPD_BOOK)
    bank = tmp_path / "bank"
    bank.mkdir()
    # interest 9,000 due 2026-04-15 is missed; 2026-04-15 + 90 days = 2026-07-14.
    # on 2026-07-20 the borrower pays 9,000 + 9,100 (the 07-15 interest, 91 days × 100.00) and is current.
    post_rows(book, bank, "p.csv", [CLOSING, row("catch-up", "2026-07-20", "18100.00")])
    before = positions(book, "2026-07-13")[None]
    assert (before.dpd, before.non_accrual) == (89, False)
    on = positions(book, "2026-07-14")[None]
    assert (on.dpd, on.non_accrual) == (90, True)
    assert on.non_accrual_since.isoformat() == "2026-07-14"
    # what the borrower owes does not change: accrued interest 07-15 … 07-18 is still there
    still = positions(book, "2026-07-19")[None]
    assert (still.non_accrual, still.accrued_interest) == (True, D("400.00"))  # 4 days × 100.00
    after = positions(book, "2026-07-20")[None]
    assert (after.dpd, after.non_accrual, after.non_accrual_since) == (0, False, None)


def test_non_accrual_by_event_lasts_until_accrual_restored_even_when_current(tmp_path):
    book = credit_book(tmp_path / "book", BULLET)
    add_event(book, "na", "date: 2026-05-01\ntype: non_accrual\n")
    add_event(book, "back", "date: 2026-08-01\ntype: accrual_restored\n")
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "9000.00"), row("q2", "2026-07-15", "9100.00")])
    assert positions(book, "2026-04-30")[None].non_accrual is False
    assert positions(book, "2026-07-16")[None].non_accrual is True        # current, but placed by decision
    assert positions(book, "2026-08-01")[None].non_accrual is False
    report = json.loads(run(book, "report", "--deal", FIXED_DEAL, "--as-of", "2026-06-01", "--format",
                            "json").stdout)
    # the whole 1,000,000 is on non-accrual: 100% of the deal's outstanding
    assert report["totals"]["USD"]["non_accrual_principal"] == "1000000.00"
    assert report["totals"]["USD"]["non_accrual_share"] == "1"
    assert report["positions"][0]["non_accrual"] is True


def _fund(book, as_of: str) -> dict:
    result = run(book, "report", "--fund", "fund-a", "--as-of", as_of, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_partial_write_off_then_recovery_with_fund_totals_before_and_after(tmp_path):
    other = fixed_term_deal("acme-b", lenders={"fund-a": "100%"}).replace("type: straight", "type: bullet")
    book = write_book(tmp_path / "book", BOOK_YAML, {FIXED_DEAL: BULLET, "acme-b": other})
    bank = tmp_path / "bank"
    bank.mkdir()
    add_event(book, "wo", "date: 2026-05-01\ntype: write_off\namount: 400000\n")
    post_rows(book, bank, "p.csv", [
        CLOSING, row("q1", "2026-04-15", "9000.00"),
        row("c-b", "2026-01-15", "10000.00", deal="acme-b"), row("q1-b", "2026-04-15", "9000.00", deal="acme-b"),
        # 700,000 of principal on 06-01: 600,000 repays the carrying balance, 100,000 recovers written-off principal
        row("rec", "2026-06-01", "700000.00", type="prepayment")])
    totals = _fund(book, "2026-04-30")["totals"]["USD"]
    # fund-a: 60% × 1,000,000 + 100% × 1,000,000 = 1,600,000; nothing written off
    assert (totals["outstanding_principal"], totals["written_off"], totals["recoveries"]) == (
        "1600000.00", "0.00", "0.00")
    mid = _fund(book, "2026-05-31")
    totals = mid["totals"]["USD"]
    # write-off 400,000 (fund-a 240,000): acme-fixed carries 600,000 (fund-a 360,000) → 360,000 + 1,000,000
    assert (totals["outstanding_principal"], totals["written_off"], totals["recoveries"]) == (
        "1360000.00", "240000.00", "0.00")
    # concentration uses carrying figures: acme-b's borrower and acme-fixed's are both 'acme' here
    assert mid["metrics"]["USD"]["concentration_borrower"][0]["outstanding"] == "1360000.00"
    after = _fund(book, "2026-06-01")
    totals = after["totals"]["USD"]
    # 700,000 × 60% = 420,000 received: 360,000 carrying + 60,000 recovery
    assert (totals["outstanding_principal"], totals["written_off"], totals["recoveries"],
            totals["principal_received"]) == ("1000000.00", "240000.00", "60000.00", "420000.00")
    fixed = next(p for p in after["positions"] if p["deal"] == FIXED_DEAL)
    assert (fixed["outstanding_principal"], fixed["written_off"], fixed["recoveries"]) == (
        "0.00", "240000.00", "60000.00")
    whole = positions(book, "2026-06-01")[None]
    assert (whole.outstanding_principal, whole.written_off, whole.recoveries) == (D("0"), D("400000"), D("100000"))
    html = run(book, "report", "--fund", "fund-a", "--as-of", "2026-06-01", "--format", "html").stdout
    assert 'class="written-off"' in html and '<span class="mark written-off">written off</span>' in html
