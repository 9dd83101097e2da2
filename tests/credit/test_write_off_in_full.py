"""A write-off in full cancels the facility's unfunded commitment (no commitment fee accrues
after it), and the report's outstanding chart follows the carrying balance (SPEC §4.3, §4.4,
§5): written-off principal leaves the line on the write-off date, recoveries don't add back.
Hand-computed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bookfactory import acme_deal, facility_yaml
from creditkit import BULLET, add_event, credit_book
from ledgerkit import BOOK_YAML, FIXED_DEAL, positions, write_book

D = Decimal
DDTL = acme_deal(FIXED_DEAL, "Acme delayed draw", facility_yaml(
    "tl", "delayed_draw", "1000000", "2026-01-15", "2027-01-15", {"fixed_rate": "3.6%", "day_count": "ACT/360"},
    {"fund-a": "60%", "fund-b": "40%"}, fees=("{type: commitment, rate: 50bps}",),
    draws="[{date: 2026-01-15, amount: 600000}]", extra="availability_end: 2026-10-15"))
"""1,000,000 delayed draw, 600,000 drawn at closing (2026-01-15): 400,000 undrawn bears
50bps ACT/360 = 400,000 × 0.005 / 360 = 5.5555… a day; interest 600,000 × 3.6% / 360 = 60.00 a day."""


def test_write_off_in_full_cancels_the_unfunded_commitment_and_its_fee(tmp_path):
    book = write_book(tmp_path / "book", BOOK_YAML, {FIXED_DEAL: DDTL})
    add_event(book, "wo", "date: 2026-03-01\ntype: write_off\n")
    before = positions(book, "2026-02-28")
    whole = before[None]
    # 01-15 → 02-28 = 44 days: commitment fee 44 × 5.5555… = 244.444… → 244.44; interest 44 × 60 = 2,640.00
    assert (whole.unfunded, whole.accrued_commitment_fee, whole.accrued_interest) == (
        D("400000"), D("244.44"), D("2640.00"))
    # fund-a 60%: unfunded 240,000; fee 244.44 × 60% = 146.664 → 146.66 (fund-b 97.78)
    assert (before["fund-a"].unfunded, before["fund-a"].accrued_commitment_fee) == (D("240000"), D("146.66"))
    assert before["fund-b"].accrued_commitment_fee == D("97.78")
    for as_of in ("2026-03-01", "2026-04-14", "2026-05-01", "2026-09-30"):
        after = positions(book, as_of)
        for who in (None, "fund-a", "fund-b"):
            p = after[who]
            # written off in full: nothing carried, nothing available, no commitment fee accruing
            assert (p.outstanding_principal, p.unfunded, p.accrued_commitment_fee) == (0, 0, 0), (as_of, who)
        assert after[None].written_off == D("600000")
        assert after["fund-a"].written_off == D("360000")             # 600,000 × 60%
        assert after[None].commitment == D("1000000")                # the contract's figure is unchanged


def test_journal_recognises_no_commitment_fee_after_a_write_off_in_full(tmp_path):
    from loanctl.accounting.journal import build_journal
    from loanctl.api import load_valid_book

    book = write_book(tmp_path / "book", BOOK_YAML, {FIXED_DEAL: DDTL})
    add_event(book, "wo", "date: 2026-03-01\ntype: write_off\n")
    loaded, errors = load_valid_book(book)
    assert not errors
    journal = build_journal(loaded, [], date(2026, 9, 30))
    later = [p for e in journal.entries if e.date > date(2026, 3, 1)
             for p in e.postings if p.account.startswith("Income:Fees")]
    assert later == []


def _series(book, as_of: date, **scope) -> list[tuple[date, Decimal]]:
    from loanctl.api import load_valid_book
    from loanctl.reports.build import build_report, resolve_scope
    from loanctl.servicing.allocation import Payment

    loaded, errors = load_valid_book(book)
    assert not errors
    pays = [Payment("rec", FIXED_DEAL, "tl", date(2026, 6, 1), D("700000.00"), "USD", "prepayment")]
    report = build_report(loaded, resolve_scope(loaded, **scope), as_of, pays)
    points = [(p["date"], p["outstanding"]) for p in report.series["USD"]["outstanding"]]
    # the chart's last point is the positions table's total
    assert points[-1][1] == report.totals["USD"]["outstanding_principal"]
    return points


def test_outstanding_chart_follows_the_carrying_balance(tmp_path):
    from loanctl.render.charts import outstanding_chart

    book = credit_book(tmp_path / "book", BULLET)
    # 1,000,000 bullet; 400,000 written off on 05-01; 700,000 prepaid on 06-01: 600,000 repays the
    # carrying balance, 100,000 is a recovery (it does not add back, nor take the line below zero)
    add_event(book, "wo", "date: 2026-05-01\ntype: write_off\namount: 400000\n")
    whole = _series(book, date(2026, 7, 31), deal=FIXED_DEAL)
    assert whole == [(date(2026, 1, 31), D("1000000")), (date(2026, 2, 28), D("1000000")),
                     (date(2026, 3, 31), D("1000000")), (date(2026, 4, 30), D("1000000")),
                     (date(2026, 5, 31), D("600000")),      # 1,000,000 − 400,000 written off
                     (date(2026, 6, 30), D("0")),           # 600,000 − 600,000 (the 100,000 recovered: no change)
                     (date(2026, 7, 31), D("0"))]
    # fund-a (60%): 600,000 → 600,000 − 240,000 = 360,000 → 0
    fund = _series(book, date(2026, 6, 30), fund="fund-a")
    assert [x for _, x in fund] == [D("600000")] * 4 + [D("360000"), D("0")]
    assert "<svg" in str(outstanding_chart([{"date": d, "outstanding": x} for d, x in whole], "USD"))
