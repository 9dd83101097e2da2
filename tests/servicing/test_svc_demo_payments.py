"""The demo payment files (`templates/demo-payments/*.csv`) post cleanly into a copy of the
demo book and tell their story (see the folder's README): one late, one overpaid, one
prepaid and one partially paid deal; everything else current on 2026-11-28. Upfront fees are
netted from the closing draws (no payment file settles them); unapplied cash settles the next
dues as they fall due; principal paid late bears interest until it is paid.

Expected figures come from the deals' own schedules (`loanctl schedule DEAL --format json`)
and hand arithmetic, never from the ledger being tested.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerkit import post, run, snapshot

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "templates" / "demo-payments"
AS_OF = "2026-11-28"
D = Decimal


def demo_files() -> list[Path]:
    return sorted(DEMO.glob("*.csv"))


@pytest.fixture(scope="module")
def demo_book(tmp_path_factory) -> Path:
    root = Path(shutil.copytree(REPO / "deals", tmp_path_factory.mktemp("demo") / "deals",
                                ignore=shutil.ignore_patterns(".loanctl", "payments")))
    result = post(root, *demo_files(), day=AS_OF)
    assert result.exit_code == 0, result.stderr + "\n(regenerate: python tests/servicing/demo_payments.py)"
    return root


def positions(root: Path, as_of: str = AS_OF) -> dict[tuple[str, str], dict]:
    result = run(root, "query", "select * from positions", "--as-of", as_of, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return {(r["deal"], r["facility"]): r for r in json.loads(result.stdout)}


def schedule(root: Path, deal: str, facility: str = "tl") -> dict[str, dict]:
    result = run(root, "schedule", deal, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (f,) = [f for f in json.loads(result.stdout)["facilities"] if f["facility"] == facility]
    return {r["date"]: r for r in f["rows"]}


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_demo_files_are_well_formed_with_unique_ids():
    files = demo_files()
    assert len(files) >= 6
    ids = [r["payment_id"] for f in files for r in rows(f)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"20\d\d-q[1-4]-[a-z]+-\d{3}", i) for i in ids), ids
    assert all(r["reference"].startswith("FEDWIRE IMAD ") for f in files for r in rows(f))


def test_demo_files_match_the_generator(tmp_path):
    """The committed files are what tests/servicing/demo_payments.py makes of the demo book."""
    import demo_payments
    generated = demo_payments.render(demo_payments.plan(REPO / "deals"))
    assert sorted(generated) == [f.name for f in demo_files()]
    for name, text in generated.items():
        assert (DEMO / name).read_text(encoding="utf-8") == text, \
            f"{name} is stale: run python tests/servicing/demo_payments.py"


def test_demo_files_post_and_the_ledger_checks_clean(demo_book):
    n = sum(len(rows(f)) for f in demo_files())
    assert len(snapshot(demo_book)["payments"]) == n
    check = run(demo_book, "ledger", "check")
    assert check.exit_code == 0, check.stdout
    again = post(demo_book, *demo_files(), day=AS_OF)
    assert again.exit_code == 0 and f"{n} duplicates skipped" in again.stdout


def test_the_partial_payment_leaves_pinecrest_61_to_90_days_past_due(demo_book):
    rows = schedule(demo_book, "pinecrest-tl-2026")
    due = rows["2026-09-14"]
    pos = positions(demo_book)[("pinecrest-tl-2026", "tl")]
    # 400,000 paid against the 2026-09-14 total due; interest first, so all the principal is owed
    assert D(pos["past_due"]) == D(due["total_due"]) - D("400000.00")
    assert D(due["principal"]) == D("65000.00")                      # 1% / 4 × 26,000,000
    assert D(pos["outstanding_principal"]) == D("26000000.00") - D("65000.00")  # only 2026-06-15's principal paid
    assert (pos["dpd"], pos["dpd_bucket"]) == ((date(2026, 11, 28) - date(2026, 9, 14)).days, "61-90")
    assert pos["dpd"] == 75
    # the unpaid 65,000 keeps bearing the period's rate: accrued over 09-14 → 11-28 (75 days) on
    # the scheduled 25,870,000 and the overdue 65,000 = 25,935,000 × rate × 75 / 360
    nxt = rows["2026-12-14"]
    assert D(nxt["opening_balance"]) == D("25870000.00")
    accrued = (D("25935000") * D(nxt["rate"]) * 75 / 360).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    assert D(pos["accrued_interest"]) == accrued


def test_the_meridian_prepayment_lowers_its_outstanding_principal(demo_book):
    pos = positions(demo_book)[("meridian-tl-2025", "tl")]
    # 32,000,000 drawn − 7 quarterly instalments of 1%/4 × 32,000,000 = 80,000 (2025-05-14 … 2026-11-16)
    # − the 4,000,000 prepayment (future instalments are cut from maturity backwards, not these)
    assert D(pos["outstanding_principal"]) == D("32000000") - 7 * D("80000") - D("4000000")
    assert D(pos["past_due"]) == 0 and D(pos["unapplied"]) == 0
    fees = run(demo_book, "query", "select sum(amount) from allocations where deal = 'meridian-tl-2025' "
                                   "and due_date = DATE '2026-06-15' and component = 'fees'", "--format", "csv")
    assert D(fees.stdout.splitlines()[1]) == D("40000")  # 1% × 4,000,000 (1% step until 2027-02-14)


def test_the_keystone_overpayment_is_unapplied(demo_book):
    pos = positions(demo_book)[("keystone-holdco-2025", "tl")]
    assert D(pos["unapplied"]) == D("12500.00")
    assert D(pos["past_due"]) == 0
    # the 12,500 is applied to the next dues as they fall due (2026-07-15); each later payment,
    # paid in full, then leaves 12,500 over again until the next date: +12,500 on 04-15,
    # −12,500 and +12,500 on 07-15, −12,500 and +12,500 on 10-15 → 12,500 held on 11-28
    result = run(demo_book, "query", "select payment_id, amount, applied_on from allocations where deal = "
                                     "'keystone-holdco-2025' and component = 'unapplied' order by seq",
                 "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert [tuple(line.split(",")) for line in result.stdout.splitlines()[1:]] == [
        ("2026-q2-keystone-001", "12500.0000", ""), ("2026-q2-keystone-001", "-12500.0000", "2026-07-15"),
        ("2026-q3-keystone-001", "12500.0000", ""), ("2026-q3-keystone-001", "-12500.0000", "2026-10-15"),
        ("2026-q4-keystone-001", "12500.0000", ""), ("2026-q4-keystone-001", "-12500.0000", "2027-01-15")]


def test_upfront_fees_are_netted_at_closing(demo_book):
    # meridian: 2% OID on the 32,000,000 drawn at closing (2025-02-14) = 640,000, received
    # without a payment; nothing past due the day after closing
    pos = positions(demo_book, "2025-02-15")[("meridian-tl-2025", "tl")]
    assert (D(pos["fees_received"]), D(pos["past_due"]), pos["dpd"]) == (D("640000"), D("0"), 0)
    # juniper's revolver drew nothing at closing: its 80,000 upfront fee is paid in cash (03)
    rcf = rows(DEMO / "03-scheduled-2025q3-2026q2.csv")
    assert [(r["date"], r["amount"], r["type"]) for r in rcf if r["facility"] == "rcf" and r["type"] == "fee"] == [
        ("2025-08-12", "80000.00", "fee")]
    assert not (DEMO / "01-closing-fees.csv").exists()


def test_northwinds_late_principal_bore_interest_paid_with_the_next_payment(demo_book):
    rows_ = schedule(demo_book, "northwind-tl-2025")
    # straight amortization: 24,000,000 / 24 quarters = 1,000,000 due 2026-01-15, paid 20 days
    # late: 1,000,000 × the period's rate × 20 / 360, due 2026-04-15 beside the scheduled dues
    assert D(rows_["2026-01-15"]["principal"]) == D("1000000.00")
    extra = (D("1000000") * D(rows_["2026-04-15"]["rate"]) * 20 / 360).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    assert extra == D("5200.00")                                       # 1,000,000 × 9.36% × 20 / 360
    (paid,) = [r for r in rows(DEMO / "03-scheduled-2025q3-2026q2.csv") if r["payment_id"] == "2026-q2-northwind-001"]
    assert D(paid["amount"]) == D(rows_["2026-04-15"]["total_due"]) + extra
    pos = positions(demo_book, "2026-04-16")[("northwind-tl-2025", "tl")]
    assert (D(pos["past_due"]), D(pos["unapplied"])) == (D("0"), D("0"))


def test_the_late_northwind_payment_was_19_days_past_due_the_day_before(demo_book):
    due = schedule(demo_book, "northwind-tl-2025")["2026-01-15"]
    before = positions(demo_book, "2026-02-03")[("northwind-tl-2025", "tl")]
    assert (D(before["past_due"]), before["dpd"], before["dpd_bucket"]) == (D(due["total_due"]), 19, "1-30")
    on_the_day = positions(demo_book, "2026-02-04")[("northwind-tl-2025", "tl")]
    assert (D(on_the_day["past_due"]), on_the_day["dpd"]) == (D("0"), 0)


def test_every_other_funded_deal_is_current_with_nothing_unapplied(demo_book):
    special = {"pinecrest-tl-2026", "keystone-holdco-2025"}
    for (deal, facility), pos in positions(demo_book).items():
        if deal in special or D(pos["drawn"]) == 0:
            continue
        assert (D(pos["past_due"]), pos["dpd"], D(pos["unapplied"])) == (D("0"), 0, D("0")), (deal, facility)


def test_rebuild_of_the_demo_ledger_is_identical(demo_book, tmp_path):
    copy = Path(shutil.copytree(demo_book, tmp_path / "copy"))
    before = snapshot(copy)
    assert run(copy, "ledger", "rebuild").exit_code == 0
    assert snapshot(copy) == before
