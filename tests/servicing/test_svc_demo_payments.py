"""The demo payment files (`templates/demo-payments/*.csv`) post cleanly into a copy of the
demo book and tell their story (see the folder's README): one late, one overpaid, one
prepaid and one partially paid deal, a revolver paid down and redrawn, a payoff and a returned
wire reversed; everything else current on 2026-11-28. Upfront fees are
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


def test_the_keystone_overpayment_is_applied_to_the_next_dues(demo_book):
    pos = positions(demo_book)[("keystone-holdco-2025", "tl")]
    assert D(pos["unapplied"]) == D("0")
    # the 12,500 is applied to the next dues as they fall due (2026-07-15); the 07-15 payment,
    # paid in full, leaves 12,500 over again, applied to the 2026-10-15 dues — which keystone
    # does not pay (credit events: it is then written off): +12,500 on 04-15, −12,500 and
    # +12,500 on 07-15, −12,500 on 10-15 → nothing held on 11-28
    due = schedule(demo_book, "keystone-holdco-2025")["2026-10-15"]
    # and the 2% prepayment fee (until 2027-10-15) of the 2,000,000 recovery of 2026-11-20: 40,000
    assert D(pos["past_due"]) == D(due["total_due"]) - D("12500.00") + D("40000.00")
    result = run(demo_book, "query", "select payment_id, amount, applied_on from allocations where deal = "
                                     "'keystone-holdco-2025' and component = 'unapplied' order by seq",
                 "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert [tuple(line.split(",")) for line in result.stdout.splitlines()[1:]] == [
        ("2026-q2-keystone-001", "12500.0000", ""), ("2026-q2-keystone-001", "-12500.0000", "2026-07-15"),
        ("2026-q3-keystone-001", "12500.0000", ""), ("2026-q3-keystone-001", "-12500.0000", "2026-10-15")]


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
    special = {"pinecrest-tl-2026", "keystone-holdco-2025", "cobalt-unitranche-2025", "sable-tl-2025"}
    for (deal, facility), pos in positions(demo_book).items():
        if deal in special or D(pos["drawn"]) == 0:
            continue
        assert (D(pos["past_due"]), pos["dpd"], D(pos["unapplied"])) == (D("0"), 0, D("0")), (deal, facility)


def test_rebuild_of_the_demo_ledger_is_identical(demo_book, tmp_path):
    copy = Path(shutil.copytree(demo_book, tmp_path / "copy"))
    before = snapshot(copy)
    assert run(copy, "ledger", "rebuild").exit_code == 0
    assert snapshot(copy) == before


def _dues(root: Path, deal: str, facility: str, due: str) -> dict[str, Decimal]:
    """What the ledger allocated against the dues of one date, by component."""
    result = run(root, "query", f"select component, sum(amount) from allocations where deal = '{deal}' and "
                                f"facility = '{facility}' and due_date = DATE '{due}' group by 1", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    return {c: D(a) for c, a in (line.split(",") for line in result.stdout.splitlines()[1:])}


def test_the_juniper_revolver_is_paid_down_and_redrawn(demo_book):
    key = ("juniper-tl-rcf-2025", "rcf")
    # drawn 2,500,000 (2025-09-23) + 2,000,000 (2025-10-21) = 4,500,000; repaid 3,000,000 on
    # 2026-02-24 → 1,500,000; drawn 1,500,000 on 2026-08-18 → 3,000,000; redrawn 2,000,000 on
    # 2026-10-20 → 5,000,000. The draws add up to 8,000,000, the commitment, and 5,000,000 is out.
    expected = {"2026-02-23": "4500000", "2026-02-24": "1500000", "2026-08-17": "1500000", "2026-08-18": "3000000",
                "2026-10-19": "3000000", "2026-10-20": "5000000", AS_OF: "5000000"}
    for on, balance in expected.items():
        pos = positions(demo_book, on)[key]
        assert D(pos["outstanding_principal"]) == D(balance), on
    pos = positions(demo_book)[key]
    assert (D(pos["past_due"]), D(pos["unapplied"]), pos["dpd"]) == (D(0), D(0), 0)
    rows_ = schedule(demo_book, "juniper-tl-rcf-2025", "rcf")
    # 2026-02-24 → 03-24 (28 days) on the 1,500,000 left: interest 1,500,000 × rate × 28/360,
    # commitment fee 0.50% on the 6,500,000 undrawn × 28/360 (the contract alone would say 4,500,000)
    rate = D(rows_["2026-03-24"]["rate"])
    assert rate == D("0.08635")
    assert _dues(demo_book, *key, "2026-03-24") == {
        "interest": D("10074.17"),        # 1,500,000 × 8.635% × 28/360 = 10,074.1667
        "commitment_fee": D("2527.78")}   # 6,500,000 × 0.5% × 28/360 = 2,527.7778
    assert D(rows_["2026-03-24"]["opening_balance"]) == D("4500000.00")  # the contractual schedule
    # 2026-09-24 → 10-26 (32 days) split by the redraw: 3,000,000 for 26 days, 5,000,000 for 6
    rate = D(rows_["2026-10-26"]["rate"])
    assert rate == D("0.08576")
    assert _dues(demo_book, *key, "2026-10-26") == {
        "interest": D("25728.00"),        # 3,000,000 × 8.576% × 26/360 + 5,000,000 × 8.576% × 6/360 = 18,581.33 + 7,146.67
        "commitment_fee": D("2055.56")}   # (5,000,000 × 26 + 3,000,000 × 6) × 0.5% / 360 = 2,055.5556
    paydown = [r for r in rows(DEMO / "09-revolver-paydown-juniper-2026-q1.csv")]
    assert [(r["facility"], r["date"], r["amount"], r["type"]) for r in paydown] == [
        ("rcf", "2026-02-24", "3000000.00", "repayment")]


def test_ironbridge_is_paid_off_on_its_quote_and_then_owes_nothing(demo_book):
    key = ("ironbridge-tl-2025", "tl")
    rows_ = schedule(demo_book, "ironbridge-tl-2025")
    balance = D(rows_["2026-08-20"]["closing_balance"])
    assert balance == D("15527917.29")
    # 2026-08-20 → 09-30 is 40 days in 30/360: interest 15,527,917.29 × 11.5% × 40/360 = 198,412.28;
    # the prepayment fee is 2% until 2027-05-20: 310,558.35; with the principal: 16,036,887.92
    interest = (balance * D("0.115") * 40 / 360).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    fee = (balance * D("0.02")).quantize(D("0.01"), rounding="ROUND_HALF_UP")
    assert (interest, fee) == (D("198412.28"), D("310558.35"))
    (paid,) = rows(DEMO / "10-payoff-ironbridge-2026-q3.csv")
    assert (paid["date"], paid["type"], D(paid["amount"])) == ("2026-09-30", "payoff", balance + interest + fee)
    assert D(paid["amount"]) == D("16036887.92")
    quote = run(demo_book, "payoff", "ironbridge-tl-2025", "--date", "2026-09-30", "--format", "json")
    assert quote.exit_code == 0, quote.stderr
    assert D(json.loads(quote.stdout)["total"]) == D("16036887.92")
    # nothing after it: no 2026-11-20 payment, and every figure of the facility is zero
    assert not [r for f in demo_files() for r in rows(f)
                if r["deal"] == "ironbridge-tl-2025" and r["date"] > "2026-09-30"]
    pos = positions(demo_book)[key]
    assert [D(pos[k]) for k in ("outstanding_principal", "accrued_interest", "past_due", "unapplied")] == [D(0)] * 4
    assert pos["dpd"] == 0
    after = run(demo_book, "payoff", "ironbridge-tl-2025", "--date", "2026-10-01")
    assert after.exit_code == 1 and "E0277" in after.stderr


def test_the_returned_cobalt_wire_reopens_its_dues(demo_book):
    key = ("cobalt-unitranche-2025", "tl")
    due = schedule(demo_book, "cobalt-unitranche-2025")["2026-10-15"]
    # interest only (bullet): 20,000,000 × 10.078% × 92/360 = 515,097.78, paid on the day...
    assert D(due["total_due"]) == D("515097.78") == (D("20000000") * D(due["rate"]) * 92 / 360).quantize(D("0.01"))
    assert (D(positions(demo_book, "2026-10-18")[key]["past_due"])) == D(0)
    # ...and returned on 2026-10-19: the dues reopen as of their date (4 days past due then)
    on_return = positions(demo_book, "2026-10-19")[key]
    assert (D(on_return["past_due"]), on_return["dpd"]) == (D("515097.78"), 4)
    pos = positions(demo_book)[key]
    assert (D(pos["past_due"]), pos["dpd"], pos["dpd_bucket"]) == (D("515097.78"), 44, "31-60")  # 10-15 → 11-28
    assert D(pos["interest_received"]) == D(positions(demo_book, "2026-10-14")[key]["interest_received"])
    # both rows stay in the ledger; the reversal names the payment it reverses
    (rev,) = rows(DEMO / "11-reversal-cobalt-2026-q4.csv")
    result = run(demo_book, "query", "select payment_id, type, amount, reverses from payments where deal = "
                                     "'cobalt-unitranche-2025' and facility = 'tl' and value_date >= "
                                     "DATE '2026-10-15' order by value_date", "--format", "csv")
    assert result.stdout.splitlines()[1:] == [f"{rev['reverses']},scheduled,515097.7800,",
                                              f"{rev['payment_id']},reversal,515097.7800,{rev['reverses']}"]


# --- credit events (SPEC §2.7): sable in default, pinecrest on non-accrual, keystone written off ----
def test_sable_is_in_payment_default_with_default_interest(demo_book):
    rows_ = schedule(demo_book, "sable-tl-2025")
    missed = D(rows_["2026-09-21"]["total_due"])
    assert missed == D("538949.37")
    pos = positions(demo_book)[("sable-tl-2025", "tl")]
    assert pos["in_default"] is True and pos["dpd"] == 68              # 2026-09-21 → 11-28
    # 2% on ACT/365F, summed unrounded and rounded once for the period 09-21 → 12-21:
    #   the missed 538,949.37 from 09-21 (68 days to 11-28) and all principal, 22,000,000,
    #   while the default is in force from 10-05 (54 days)
    accrued = (missed * D("0.02") * 68 / 365 + D("22000000") * D("0.02") * 54 / 365).quantize(
        D("0.01"), rounding="ROUND_HALF_UP")
    assert D(pos["accrued_default_interest"]) == accrued
    result = run(demo_book, "schedule", "sable-tl-2025", "--actuals", "--format", "json")
    assert result.exit_code == 0, result.stderr
    (fac,) = json.loads(result.stdout)["facilities"]
    dec = {r["date"]: r for r in fac["rows"]}["2026-12-21"]
    assert D(dec["default_interest"]) > accrued                        # due on the next payment date


def test_pinecrest_is_on_non_accrual_by_event(demo_book):
    pos = positions(demo_book)[("pinecrest-tl-2026", "tl")]
    assert (pos["non_accrual"], pos["non_accrual_since"]) == (True, "2026-11-02")
    assert positions(demo_book, "2026-11-01")[("pinecrest-tl-2026", "tl")]["non_accrual"] is False


def test_keystone_is_written_off_with_a_recovery(demo_book):
    key = ("keystone-holdco-2025", "tl")
    rows_ = schedule(demo_book, "keystone-holdco-2025")
    # 15,000,000 drawn + PIK capitalised up to the write-off (2026-10-30) is all written off; the
    # 2027-01-15 PIK is in the future. The 2,000,000 of 2026-11-20 recovers written-off principal.
    pik = sum((D(r["pik"]) for d, r in rows_.items() if d <= "2026-10-30"), D(0))
    before = positions(demo_book, "2026-11-19")[key]
    assert (D(before["outstanding_principal"]), D(before["written_off"]), D(before["recoveries"])) == (
        D(0), D("15000000") + pik, D(0))
    pos = positions(demo_book)[key]
    assert (D(pos["outstanding_principal"]), D(pos["written_off"]), D(pos["recoveries"])) == (
        D(0), D("15000000") + pik, D("2000000"))
    assert D(positions(demo_book, "2026-10-29")[key]["outstanding_principal"]) == D("15000000") + pik


def test_fund_report_shows_the_credit_events_in_text_json_and_html(demo_book):
    out = run(demo_book, "report", "--fund", "fund-ii", "--as-of", AS_OF, "--format", "json")
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    by_deal = {p["deal"]: p for p in report["positions"]}
    assert by_deal["sable-tl-2025"]["in_default"] is True
    assert D(by_deal["keystone-holdco-2025"]["written_off"]) > 0
    assert D(by_deal["keystone-holdco-2025"]["recoveries"]) == D("1000000.00")  # fund-ii's 50%
    totals = report["totals"]["USD"]
    na = sum((D(p["outstanding_principal"]) for p in report["positions"] if p["non_accrual"]), D(0))
    assert D(totals["non_accrual_principal"]) == na
    text = run(demo_book, "report", "--fund", "fund-ii", "--as-of", AS_OF, "--format", "text").stdout
    assert "credit events" in text and "written off" in text and "non-accrual principal" in text
    html = run(demo_book, "report", "--fund", "fund-ii", "--as-of", AS_OF, "--format", "html").stdout
    assert "Non-accrual principal" in html and 'class="mark written-off"' in html and 'class="mark default"' in html
