"""Servicing events (SPEC §4.3–§4.4, issue #13), hand-computed: an upfront fee netted at
closing, principal that keeps accruing after a shortfall, unapplied cash applied as dues fall
due (and held by `policy.unapplied: hold`), a payoff quote and payoff on a floating PIK loan,
and a reversal.

These tests build `Payment` objects and call the library (`allocate_facility`,
`facility_position`, `quote_payoff`) directly (test_svc_payment_types posts the same types
from files). The OID test runs from the command line.

Books: the ledgerkit book (`acme-fixed`: 1,000,000 at 3.6% ACT/360 — balance × days / 10,000
— quarterly from 2026-01-15, straight 250,000 a quarter; dues 04-15 interest 9,000 + principal
250,000; 07-15 agency fee 2,500 + interest 6,825 + principal 250,000; 10-15 interest 4,600 +
principal 250,000) and the deals written below.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bookfactory import acme_deal, facility_yaml
from ledgerkit import BOOK_YAML, FIXED_DEAL, FIXED_YAML, HOLD_BOOK_YAML, position_on, post_rows, run, write_book
from loanctl.api import load_valid_book
from loanctl.servicing.allocation import OVERDUE_INTEREST, Payment
from loanctl.servicing.positions import allocate_facility, facility_flows, quote_payoff

D = Decimal

OID_DEAL = "oid-tl"
OID_YAML = acme_deal(OID_DEAL, "OID term loan", facility_yaml(
    "tl", "term", "40000000", "2026-01-15", "2029-01-15", {"fixed_rate": "3.6%", "day_count": "ACT/360"},
    {"fund-a": "100%"}, fees=("{type: upfront, rate: 2%}",)))

PIK_DEAL = "pik-float"
PIK_YAML = acme_deal(PIK_DEAL, "Floating PIK term loan", facility_yaml(
    "tl", "term", "10000000", "2026-01-15", "2028-01-15",
    {"index": "SOFR-3M", "spread": "500bps", "pik_rate": "2%", "day_count": "ACT/360"}, {"fund-a": "100%"},
    fees=("{type: prepayment, schedule: [{until: 2026-07-15, rate: 2%}, {until: 2027-01-15, rate: 1%}]}",
          "{type: exit, rate: 1%}")))


class Lib:
    """A loaded book and the library calls on one facility."""

    def __init__(self, root: Path, deal: str):
        self.loaded, errors = load_valid_book(root)
        assert not errors, errors
        self.deal = deal

    def pay(self, pid: str, on: str, amount: str, type: str = "scheduled", reverses: str = "") -> Payment:
        return Payment(pid, self.deal, "tl", date.fromisoformat(on), D(amount), "USD", type, reverses=reverses)

    def allocate(self, payments):
        return allocate_facility(self.loaded, self.deal, "tl", payments)

    def position(self, payments, as_of: str):
        """The position on `as_of` from the payments dated up to then (as every report takes them)."""
        return position_on(self.loaded, self.deal, "tl", payments, as_of)[1]


@pytest.fixture
def fixed(tmp_path) -> Lib:
    return Lib(write_book(tmp_path / "book", BOOK_YAML, {FIXED_DEAL: FIXED_YAML}), FIXED_DEAL)


@pytest.fixture
def fixed_hold(tmp_path) -> Lib:
    return Lib(write_book(tmp_path / "hold", HOLD_BOOK_YAML, {FIXED_DEAL: FIXED_YAML}), FIXED_DEAL)


@pytest.fixture
def pik(tmp_path) -> Lib:
    return Lib(write_book(tmp_path / "pik", BOOK_YAML, {PIK_DEAL: PIK_YAML}), PIK_DEAL)


# --- OID netted at closing --------------------------------------------------------------------
def test_an_upfront_fee_is_netted_from_the_closing_draw(tmp_path):
    """2% OID on 40,000,000 = 800,000, settled at closing out of the draw: nothing past due,
    0 DPD, fees received 800,000; the lender's cash at the start is −40,000,000 + 800,000."""
    book = write_book(tmp_path / "book", BOOK_YAML, {OID_DEAL: OID_YAML})
    lib = Lib(book, OID_DEAL)
    fa = lib.allocate([])
    assert [(n.date, n.component, n.amount, n.kind) for n in fa.netted] == [
        (date(2026, 1, 15), "fees", D("800000"), "upfront")]            # 0.02 × 40,000,000
    assert fa.allocations == []                                          # no payment was needed
    for as_of in ("2026-01-15", "2026-02-02", "2026-04-14"):             # 2026-02-02: 18 days after closing
        pos = lib.position([], as_of)
        assert (pos.past_due, pos.dpd, pos.dpd_bucket, pos.fees_received) == (D("0"), 0, "current", D("800000"))
    flows = [(f.date, f.kind, f.amount) for f in facility_flows(fa, date(2026, 2, 2), "fund-a")]
    assert flows == [(date(2026, 1, 15), "draw", D("40000000")), (date(2026, 1, 15), "fees", D("800000"))]

    # from the command line: after the first interest (40,000,000 × 90 d × 0.036 / 360 = 360,000)
    post_rows(book, tmp_path / "bank", "p.csv", [("q1", OID_DEAL, "2026-04-15", "360000.00", "", "")])
    report = json.loads(run(book, "report", "--deal", OID_DEAL, "--as-of", "2026-04-15", "--format", "json").stdout)
    pos = report["positions"][0]
    assert (pos["fees_received"], pos["past_due"], pos["dpd"]) == ("800000.00", "0.00", 0)
    # lender cash: 2026-01-15 −40,000,000 + 800,000 = −39,200,000; 2026-04-15 interest 360,000
    # + terminal value 40,000,000 = 40,360,000 → XIRR = (40,360,000 / 39,200,000)^(365/90) − 1
    ratio = D("40360000") / D("39200000")
    expected = (ratio.ln() * D(365) / D(90)).exp() - 1                  # = 0.12554789…
    assert abs(D(report["metrics"]["USD"]["xirr"]) - expected) < D("1e-9")


# --- principal unpaid after its due date keeps bearing interest ----------------------------------
def test_a_shortfall_leaves_principal_accruing_until_it_is_paid(fixed):
    pays = [fixed.pay("c-1", "2026-01-15", "10000.00", "fee"), fixed.pay("q1", "2026-04-15", "9000.00")]
    # q1 pays the 04-15 interest only: principal 250,000 stays unpaid for the whole period
    # 04-15 → 07-15 (91 days): 250,000 × 0.036 × 91 / 360 = 2,275.00, its own due on 07-15
    fa = fixed.allocate(pays)
    extra = [(d.date, d.component, d.amount) for d in fa.dues if d.kind == OVERDUE_INTEREST]
    assert extra == [(date(2026, 7, 15), "interest", D("2275.00")),
                     # and on 10-15 both unpaid principals: (250,000 + 250,000) × 92 / 10,000 = 4,600
                     (date(2026, 10, 15), "interest", D("4600.00")),
                     # and on 2027-01-15: 750,000 × 92 / 10,000 = 6,900
                     (date(2027, 1, 15), "interest", D("6900.00"))]
    mid = fixed.position(pays, "2026-05-15")
    # accrued: the scheduled 750,000 × 30 d / 10,000 = 2,250 + the overdue 250,000 × 30 / 10,000 = 750
    assert (mid.accrued_interest, mid.past_due, mid.dpd) == (D("3000"), D("250000"), 30)
    after = fixed.position(pays, "2026-07-16")
    # 250,000 + 07-15's 2,500 + 6,825 + 2,275 + 250,000
    assert after.past_due == D("511600")


def test_paying_the_overdue_principal_stops_its_interest_from_the_payment_date(fixed):
    pays = [fixed.pay("c-1", "2026-01-15", "10000.00", "fee"), fixed.pay("q1", "2026-04-15", "9000.00"),
            fixed.pay("late", "2026-05-15", "250000.00")]
    # the 250,000 paid on 05-15 bore interest 04-15 → 05-15 only: 250,000 × 30 / 10,000 = 750.00
    fa = fixed.allocate(pays)
    assert [(d.date, d.amount) for d in fa.dues if d.kind == OVERDUE_INTEREST] == [
        (date(2026, 7, 15), D("750.00")),
        # (nothing is paid on 07-15: its 250,000 then bears 250,000 × 92 / 10,000 to 10-15,
        # and both unpaid principals 500,000 × 92 / 10,000 to 2027-01-15)
        (date(2026, 10, 15), D("2300.00")), (date(2027, 1, 15), D("4600.00"))]
    assert [(a.payment_id, a.due_date, a.component, a.amount) for a in fa.allocations if a.payment_id == "late"] == [
        ("late", date(2026, 4, 15), "principal", D("250000"))]
    # accrued on 06-15: 750,000 × 61 / 10,000 = 4,575 + the 750 of the overdue days, no more
    assert fixed.position(pays, "2026-06-15").accrued_interest == D("5325")
    assert fixed.position(pays, "2026-05-14").accrued_interest == D("2900")  # 2,175 + 250,000 × 29 / 10,000 = 725
    on = fixed.position(pays, "2026-07-16")
    assert (on.past_due, on.dpd) == (D("2500") + D("6825") + D("750") + D("250000"), 1)


# --- unapplied cash -------------------------------------------------------------------------------
ADVANCE = [("c-1", "2026-01-15", "10000.00", "fee"), ("q1", "2026-04-15", "259000.00", "scheduled"),
           # 07-15 dues 259,325 + 10-15 dues 254,600 paid on 05-01
           ("adv", "2026-05-01", "513925.00", "scheduled")]


def test_an_advance_payment_settles_the_next_dues_as_they_fall_due(fixed):
    pays = [fixed.pay(*p) for p in ADVANCE]
    fa = fixed.allocate(pays)
    # 05-01 may settle dues up to the next payment date (07-15) at once; the other 254,600 waits
    # as unapplied until 10-15, when the 10-15 dues fall due (interest 4,600, principal 250,000)
    assert [(a.due_date, a.component, a.amount, a.applied_on) for a in fa.allocations if a.payment_id == "adv"] == [
        (date(2026, 7, 15), "fees", D("2500"), None),
        (date(2026, 7, 15), "interest", D("6825"), None),
        (date(2026, 7, 15), "principal", D("250000"), None),
        (None, "unapplied", D("254600"), None),
        (date(2026, 10, 15), "interest", D("4600"), date(2026, 10, 15)),
        (date(2026, 10, 15), "principal", D("250000"), date(2026, 10, 15)),
        (None, "unapplied", D("-254600"), date(2026, 10, 15)),
    ]
    assert sum(a.amount for a in fa.allocations if a.payment_id == "adv") == D("513925")
    before = fixed.position(pays, "2026-10-14")
    # 1,000,000 − 250,000 (04-15) − 250,000 (the 07-15 principal paid on 05-01)
    assert (before.unapplied, before.outstanding_principal, before.interest_received) == (
        D("254600"), D("500000"), D("15825"))                            # 9,000 + 6,825
    due = fixed.position(pays, "2026-10-15")
    assert (due.unapplied, due.outstanding_principal, due.interest_received, due.past_due) == (
        D("0"), D("250000"), D("20425"), D("0"))                         # 15,825 + 4,600
    assert (fixed.position(pays, "2026-10-16").dpd, fixed.position(pays, "2026-10-16").past_due) == (0, D("0"))


def test_policy_hold_keeps_unapplied_cash_in_suspense(fixed_hold):
    pays = [fixed_hold.pay(*p) for p in ADVANCE]
    fa = fixed_hold.allocate(pays)
    assert [(a.component, a.amount, a.applied_on) for a in fa.allocations if a.payment_id == "adv"][3:] == [
        ("unapplied", D("254600"), None)]
    pos = fixed_hold.position(pays, "2026-10-16")
    # the 10-15 dues stay unpaid beside the cash held for a person to decide
    assert (pos.unapplied, pos.past_due, pos.dpd, pos.outstanding_principal) == (
        D("254600"), D("254600"), 1, D("500000"))


# --- payoff -----------------------------------------------------------------------------------------
# pik-float: 10,000,000 drawn 2026-01-15, SOFR-3M + 5.00% ACT/360, PIK 2%, bullet, quarterly.
# Period 1 (01-15 → 04-15, 90 d) fixes on 2025-12-31 (4.00%): cash 9.00% → 10,000,000 × 0.09 ×
# 90/360 = 225,000.00 paid by q1; PIK 10,000,000 × 0.02 × 90/360 = 50,000.00 capitalised →
# balance 10,050,000. Period 2 from 04-15 fixes on 2026-03-31 (3.90%): cash 8.90%.
# Payoff on 2026-05-26, 41 days into period 2:
#   interest 10,050,000 × 0.089 × 41/360 = 101,867.916… → 101,867.92
#   PIK      10,050,000 × 0.02  × 41/360 =  22,891.666… →  22,891.67
#   principal (capitalised PIK included)                  10,050,000.00
#   prepayment fee: 05-26 ≤ 2026-07-15 → 2% × 10,050,000 =  201,000.00
#   exit fee 1% × 10,000,000 drawn                        =  100,000.00
#   total                                                  10,475,759.59
PAYOFF_ON = "2026-05-26"
QUOTE = D("10475759.59")


def test_a_payoff_quote_mid_period_on_a_floating_pik_loan(pik):
    q = quote_payoff(pik.loaded, PIK_DEAL, "tl", [pik.pay("q1", "2026-04-15", "225000.00")], date(2026, 5, 26))
    assert (q.past_due, q.interest, q.overdue_interest, q.pik, q.commitment_fee, q.principal, q.prepayment_fee,
            q.exit_fee, q.other_fees, q.unapplied) == (
        {}, D("101867.92"), D("0"), D("22891.67"), D("0"), D("10050000"), D("201000"), D("100000"), D("0"), D("0"))
    assert q.total == QUOTE
    # the prepayment fee steps down after 2026-07-15: on 2026-08-03 it is 1% (and a quarter's
    # PIK is capitalised on 07-15) — 10,050,000 × 0.02 × 91/360 = 50,808.33 → 10,100,808.33 × 1%
    later = quote_payoff(pik.loaded, PIK_DEAL, "tl", [pik.pay("q1", "2026-04-15", "225000.00")], date(2026, 8, 3))
    assert later.prepayment_fee == D("101008.08")                      # 101,008.0833 → 101,008.08
    assert later.past_due == {"interest": D("226097.08")}               # 07-15: 10,050,000 × 0.089 × 91/360


def test_a_payoff_of_exactly_the_quote_ends_the_facility(pik):
    pays = [pik.pay("q1", "2026-04-15", "225000.00"), pik.pay("po", PAYOFF_ON, str(QUOTE), "payoff")]
    fa = pik.allocate(pays)
    assert fa.payoff == "po"
    assert fa.schedule.rows[-1].date == date(2026, 5, 26)               # no period after the payoff
    assert all(d.unpaid == 0 and d.date <= date(2026, 5, 26) for d in fa.dues)
    assert sorted((a.component, a.amount) for a in fa.allocations if a.payment_id == "po") == sorted([
        ("fees", D("100000")), ("fees", D("201000")), ("interest", D("101867.92")),
        ("principal", D("10072891.67"))])                                # 10,050,000 + the stub's PIK 22,891.67
    before = pik.position(pays, "2026-05-25")
    # 40 days: 10,050,000 × 0.089 × 40/360 = 99,383.33; PIK 10,050,000 × 0.02 × 40/360 = 22,333.33
    assert (before.accrued_interest, before.accrued_pik, before.outstanding_principal) == (
        D("99383.33"), D("22333.33"), D("10050000"))
    for as_of in (PAYOFF_ON, "2026-07-16", "2028-02-01"):
        pos = pik.position(pays, as_of)
        assert (pos.outstanding_principal, pos.past_due, pos.accrued_interest, pos.accrued_pik,
                pos.accrued_commitment_fee, pos.unapplied, pos.unfunded, pos.dpd) == (
            D("0"), D("0"), D("0"), D("0"), D("0"), D("0"), D("0"), 0), as_of
        assert pos.paid_off
        # 10,000,000 drawn + PIK 50,000 + 22,891.67 = 10,072,891.67 repaid
        assert pos.principal_received == D("10072891.67")


def test_a_payoff_short_of_the_quote_keeps_the_facility_open(pik):
    pays = [pik.pay("q1", "2026-04-15", "225000.00"), pik.pay("po", PAYOFF_ON, "10000000.00", "payoff")]
    fa = pik.allocate(pays)
    assert fa.payoff is None and fa.schedule.rows[-1].date == date(2028, 1, 15)
    # allocated as a scheduled payment: dues up to the next payment date (07-15), i.e. the
    # period's interest 10,050,000 × 0.089 × 91/360 = 226,097.08; the rest is unapplied
    po = [(a.due_date, a.component, a.amount) for a in fa.allocations if a.payment_id == "po"]
    assert po[:2] == [(date(2026, 7, 15), "interest", D("226097.08")), (None, "unapplied", D("9773902.92"))]
    pos = pik.position(pays, "2026-05-27")
    assert (pos.paid_off, pos.outstanding_principal, pos.unapplied) == (False, D("10050000"), D("9773902.92"))
    # 42 days of PIK accrue as before: 10,050,000 × 0.02 × 42/360 = 23,450.00
    assert pos.accrued_pik == D("23450")


# --- reversal ------------------------------------------------------------------------------------
def test_a_reversal_turns_a_current_loan_31_days_past_due(fixed):
    pays = [fixed.pay("c-1", "2026-01-15", "10000.00", "fee"), fixed.pay("q1", "2026-04-15", "259000.00"),
            # the 04-15 wire came back on 05-10
            fixed.pay("r-1", "2026-05-10", "259000.00", "reversal", reverses="q1")]
    before = fixed.position(pays, "2026-05-09")
    assert (before.past_due, before.dpd, before.interest_received, before.principal_received) == (
        D("0"), 0, D("9000"), D("250000"))
    after = fixed.position(pays, "2026-05-16")
    # undone as of 04-15: 9,000 + 250,000 past due since 04-15 → 31 days on 05-16
    assert (after.past_due, after.dpd, after.dpd_bucket) == (D("259000"), 31, "31-60")
    assert (after.interest_received, after.principal_received, after.outstanding_principal) == (
        D("0"), D("0"), D("1000000"))
    # 05-16 accrues on 750,000 scheduled + 250,000 overdue since 04-15: 1,000,000 × 31 / 10,000
    assert after.accrued_interest == D("3100")
    fa = fixed.allocate(pays)
    # both rows stay on record
    assert [(a.payment_id, a.component, a.amount) for a in fa.allocations if a.payment_id in ("q1", "r-1")] == [
        ("q1", "reversed", D("259000")), ("r-1", "reversal", D("259000"))]


def test_a_payoff_on_a_payment_date_charges_the_fee_on_the_principal_repaid_early(fixed):
    pays = [fixed.pay("c-1", "2026-01-15", "10000.00", "fee"), fixed.pay("q1", "2026-04-15", "259000.00")]
    q = quote_payoff(fixed.loaded, FIXED_DEAL, "tl", pays, date(2026, 7, 15))
    # on 07-15 the 250,000 scheduled for the date is no prepayment: the 2% fee (until 07-15) is
    # on 750,000 − 250,000 = 500,000 → 10,000; with the date's interest 750,000 × 91 / 10,000
    # = 6,825 and agency fee 2,500: 750,000 + 10,000 + 6,825 + 2,500 = 769,325
    assert (q.interest, q.principal, q.prepayment_fee, q.exit_fee, q.other_fees, q.past_due) == (
        D("6825"), D("750000"), D("10000"), D("0"), D("2500"), {})
    assert q.total == D("769325")
    pays.append(fixed.pay("po", "2026-07-15", "769325.00", "payoff"))
    pos = fixed.position(pays, "2026-07-16")
    assert (pos.paid_off, pos.outstanding_principal, pos.past_due, pos.fees_received) == (
        True, D("0"), D("0"), D("22500"))                                # 10,000 + 2,500 + 10,000 closing
