"""Allocation (SPEC §4.3) on the hand-computable `acme-fixed` loan, through `post-payments`.

The loan: 1,000,000 at 3.6% ACT/360 — interest is balance × days / 10,000 — quarterly,
unadjusted, straight amortization of 250,000. Dues (see ledgerkit):

    2026-01-15  fees 10,000 (upfront 1%)
    2026-04-15  interest 9,000 (90 d on 1,000,000)             principal 250,000
    2026-07-15  fees 2,500 (agency)  interest 6,825 (91 d on 750,000)  principal 250,000
    2026-10-15  interest 4,600 (92 d on 500,000)               principal 250,000
    2027-01-15  interest 2,300 (92 d on 250,000)               principal 250,000

Principal unpaid after its due date keeps bearing the contractual 3.6% (SPEC §4.3): the
extra interest, balance × days / 10,000 over the days it stays unpaid, is its own interest due
on the next payment date. Unapplied cash settles the next dues as they fall due (on each
payment date, oldest first) unless the book says `policy: {unapplied: hold}`.

Every expected figure below is worked out in the comment next to it, not read back.
"""

from __future__ import annotations

import json
from decimal import Decimal


from ledgerkit import (BOOK_YAML, FIXED_DEAL, HOLD_BOOK_YAML, allocations, post_ok, post_rows, positions, row, run,
                       snapshot, tree_hash, write_book, write_payments)

D = Decimal
CLOSING = row("c-1", "2026-01-15", "10000.00", reference="closing fee")
Q1_FULL = row("q1", "2026-04-15", "259000.00")


def schedule_rows(root, as_of="2027-12-31"):
    """date → (opening, interest, fees, principal, prepayment, closing) from the `schedules` view."""
    result = run(root, "query", "select date, opening_balance, interest, fees, principal, prepayment, "
                                "closing_balance from schedules where deal = 'acme-fixed' order by date",
                 "--as-of", as_of, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()[1:]
    return {c[0]: tuple(D(x) for x in c[1:]) for c in (line.split(",") for line in lines)}


# --- scheduled payments ---------------------------------------------------------------------
def test_on_time_full_payments_settle_each_dates_dues_in_waterfall_order(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, Q1_FULL])
    assert allocations(book) == [
        ("c-1", "2026-01-15", "2026-01-15", "fees", D("10000")),
        ("q1", "2026-04-15", "2026-04-15", "interest", D("9000")),       # 1,000,000 × 90 / 10,000
        ("q1", "2026-04-15", "2026-04-15", "principal", D("250000")),    # 1,000,000 / 4
    ]
    pos = positions(book, "2026-04-16")[None]
    assert (pos.past_due, pos.dpd, pos.dpd_bucket, pos.unapplied) == (D("0"), 0, "current", D("0"))
    assert pos.outstanding_principal == D("750000")


def test_partial_payment_pays_interest_before_principal_and_leaves_the_rest_past_due(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "100000.00")])
    assert allocations(book)[1:] == [
        ("q1", "2026-04-15", "2026-04-15", "interest", D("9000")),
        ("q1", "2026-04-15", "2026-04-15", "principal", D("91000")),     # 100,000 − 9,000
    ]
    # 259,000 due − 100,000 paid = 159,000 of principal past due from 2026-04-15
    expected = {
        "2026-04-15": (D("0"), 0, "current"),        # a due dated on A is not yet past due
        "2026-04-16": (D("159000"), 1, "1-30"),
        "2026-05-15": (D("159000"), 30, "1-30"),
        "2026-05-16": (D("159000"), 31, "31-60"),
        "2026-07-14": (D("159000"), 90, "61-90"),
        "2026-07-15": (D("159000"), 91, "91-120"),
        # + the 2026-07-15 dues 2,500 + 6,825 + 250,000, and the interest on the overdue principal:
        # 159,000 × 0.036 × 91/360 (04-15 → 07-15) = 1,446.90 → 159,000 + 259,325 + 1,446.90 = 419,771.90
        "2026-07-16": (D("419771.90"), 92, "91-120"),
        "2026-08-13": (D("419771.90"), 120, "91-120"),
        "2026-08-14": (D("419771.90"), 121, "120+"),
    }
    got = {a: (p.past_due, p.dpd, p.dpd_bucket) for a in expected for p in [positions(book, a)[None]]}
    assert got == expected


def test_a_late_payment_settles_the_oldest_due_first(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "100000.00"),
                                    row("late", "2026-07-20", "200000.00")])
    # 2026-07-20 may pay dues up to the next payment date (2026-10-15), oldest first:
    # the 159,000 left from 2026-04-15, then 2026-07-15's fees, interest, the interest on the
    # overdue principal (159,000 × 0.036 × 91/360 = 1,446.90, its own due), and principal.
    assert allocations(book)[3:] == [
        ("late", "2026-07-20", "2026-04-15", "principal", D("159000")),
        ("late", "2026-07-20", "2026-07-15", "fees", D("2500")),
        ("late", "2026-07-20", "2026-07-15", "interest", D("6825")),
        ("late", "2026-07-20", "2026-07-15", "interest", D("1446.90")),
        ("late", "2026-07-20", "2026-07-15", "principal", D("30228.10")),  # 200,000 − 159,000 − 2,500 − 6,825
    ]                                                                      #   − 1,446.90
    pos = positions(book, "2026-07-21")[None]
    # 250,000 − 30,228.10 = 219,771.90 since 07-15
    assert (pos.past_due, pos.dpd, pos.dpd_bucket) == (D("219771.90"), 6, "1-30")


def test_a_payment_twenty_days_late_clears_the_arrears(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, row("q1-late", "2026-05-05", "259000.00")])
    assert allocations(book)[1:] == [
        ("q1-late", "2026-05-05", "2026-04-15", "interest", D("9000")),
        ("q1-late", "2026-05-05", "2026-04-15", "principal", D("250000")),
    ]
    before, after = positions(book, "2026-05-04")[None], positions(book, "2026-05-05")[None]
    assert (before.past_due, before.dpd, before.dpd_bucket) == (D("259000"), 19, "1-30")
    assert (after.past_due, after.dpd, after.dpd_bucket) == (D("0"), 0, "current")


def test_an_early_payment_settles_the_next_payment_dates_dues(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, Q1_FULL, row("early", "2026-06-01", "100000.00")])
    assert allocations(book)[3:] == [
        ("early", "2026-06-01", "2026-07-15", "fees", D("2500")),
        ("early", "2026-06-01", "2026-07-15", "interest", D("6825")),
        ("early", "2026-06-01", "2026-07-15", "principal", D("90675")),   # 100,000 − 2,500 − 6,825
    ]


def test_overpayment_leaves_the_exact_excess_unapplied(tmp_path, bank):
    # the point is the unapplied amount itself: the book holds it (`policy: {unapplied: hold}`);
    # test_overpayment_settles_the_next_dues_when_they_fall_due is the default
    book = write_book(tmp_path / "hold", HOLD_BOOK_YAML)
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "300000.00")])
    # a payment on a payment date may settle dues up to that date only: 259,000
    assert allocations(book)[1:] == [
        ("q1", "2026-04-15", "2026-04-15", "interest", D("9000")),
        ("q1", "2026-04-15", "2026-04-15", "principal", D("250000")),
        ("q1", "2026-04-15", None, "unapplied", D("41000")),             # 300,000 − 259,000
    ]
    by = positions(book, "2026-05-01")
    assert by[None].unapplied == D("41000")
    assert (by["fund-a"].unapplied, by["fund-b"].unapplied) == (D("24600"), D("16400"))
    assert positions(book, "2027-02-01")[None].unapplied == D("41000")  # held: never applied


def test_overpayment_settles_the_next_dues_when_they_fall_due(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "300000.00")])
    # the 41,000 excess waits as unapplied until 2026-07-15, then settles that date's dues in
    # waterfall order: fees 2,500, interest 6,825, principal 41,000 − 2,500 − 6,825 = 31,675;
    # a negative unapplied row on 07-15 takes it out of suspense (Σ of q1's rows = 300,000)
    assert allocations(book)[1:] == [
        ("q1", "2026-04-15", "2026-04-15", "interest", D("9000")),
        ("q1", "2026-04-15", "2026-04-15", "principal", D("250000")),
        ("q1", "2026-04-15", None, "unapplied", D("41000")),
        ("q1", "2026-04-15", "2026-07-15", "fees", D("2500")),
        ("q1", "2026-04-15", "2026-07-15", "interest", D("6825")),
        ("q1", "2026-04-15", "2026-07-15", "principal", D("31675")),
        ("q1", "2026-04-15", None, "unapplied", D("-41000")),
    ]
    before, on = positions(book, "2026-07-14")[None], positions(book, "2026-07-15")[None]
    assert (before.unapplied, before.principal_received, before.outstanding_principal) == (
        D("41000"), D("250000"), D("750000"))
    assert (on.unapplied, on.principal_received, on.outstanding_principal) == (
        D("0"), D("281675"), D("718325"))                                 # 250,000 + 31,675; 1,000,000 − 281,675
    after = positions(book, "2026-07-16")[None]
    assert (after.past_due, after.dpd) == (D("218325"), 1)               # 250,000 − 31,675 of 07-15's principal


def test_overpayment_is_reported_by_post_payments(tmp_path, bank):
    book = write_book(tmp_path / "hold", HOLD_BOOK_YAML)  # about the unapplied amount: held (see above)
    f = write_payments(bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "300000.00")])
    result = post_ok(book, f, extra=("--format", "json"))
    summary = json.loads(result.stdout)
    assert summary["posted"] == 2
    assert summary["deals"] == [{"deal": FIXED_DEAL, "currency": "USD", "payments": 2, "amount": "310000.00",
                                 "unapplied": "41000.00"}]


# --- fee payments ---------------------------------------------------------------------------
def test_fee_payment_settles_only_fee_dues(book, bank):
    post_rows(book, bank, "p.csv", [row("f-1", "2026-07-15", "13000.00", "fee")])
    # interest and principal of 2026-04-15 and 2026-07-15 are due but untouched by a fee payment;
    # its 500 left over is unapplied cash, which settles the oldest due on the next payment
    # date (2026-10-15): the 2026-04-15 interest
    assert allocations(book) == [
        ("f-1", "2026-07-15", "2026-01-15", "fees", D("10000")),
        ("f-1", "2026-07-15", "2026-07-15", "fees", D("2500")),
        ("f-1", "2026-07-15", None, "unapplied", D("500")),              # 13,000 − 10,000 − 2,500
        ("f-1", "2026-07-15", "2026-04-15", "interest", D("500")),       # applied on 2026-10-15
        ("f-1", "2026-07-15", None, "unapplied", D("-500")),
    ]
    pos = positions(book, "2026-07-16")[None]
    assert pos.fees_received == D("12500")
    assert pos.interest_received == pos.principal_received == D("0")
    assert pos.unapplied == D("500")
    # 04-15 and 07-15 interest + principal, and the interest on the 250,000 of principal overdue
    # since 04-15: 250,000 × 0.036 × 91/360 = 2,275.00
    assert pos.past_due == D("259000") + D("6825") + D("250000") + D("2275")
    assert positions(book, "2026-10-15")[None].interest_received == D("500")


# --- prepayments ----------------------------------------------------------------------------
def test_prepayment_reprojects_interest_and_cuts_principal_from_the_last_date(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, Q1_FULL, row("pp", "2026-05-15", "100000.00", "prepayment")])
    assert allocations(book)[3:] == [("pp", "2026-05-15", "2026-05-15", "prepayment", D("100000"))]
    s = schedule_rows(book)
    # (opening, interest, fees, principal, prepayment, closing)
    assert s["2026-07-15"] == (D("750000"), D("6215"), D("2500"), D("250000"), D("100000"), D("400000"))
    #   interest: 750,000 × 30 d (04-15 → 05-15) / 10,000 = 2,250 + 650,000 × 61 d / 10,000 = 3,965
    assert s["2026-10-15"] == (D("400000"), D("3680"), D("0"), D("250000"), D("0"), D("150000"))
    #   400,000 × 92 / 10,000 = 3,680; scheduled principal unchanged on the nearer date
    assert s["2027-01-15"] == (D("150000"), D("1380"), D("0"), D("150000"), D("0"), D("0"))
    #   the last date absorbs the prepayment: 250,000 − 100,000; 150,000 × 92 / 10,000 = 1,380


def test_prepayment_fee_is_due_on_the_prepayment_date_and_paid_first(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, Q1_FULL, row("pp", "2026-05-15", "100000.00", "prepayment"),
                                    row("q2", "2026-07-15", "260715.00")])
    # q2 = prepayment fee 2% × 100,000 = 2,000 (fee schedule: 2% until 2026-07-15)
    #      + agency fee 2,500 + re-projected interest 6,215 + principal 250,000 = 260,715
    assert allocations(book)[4:] == [
        ("q2", "2026-07-15", "2026-05-15", "fees", D("2000")),
        ("q2", "2026-07-15", "2026-07-15", "fees", D("2500")),
        ("q2", "2026-07-15", "2026-07-15", "interest", D("6215")),
        ("q2", "2026-07-15", "2026-07-15", "principal", D("250000")),
    ]
    mid = positions(book, "2026-06-15")[None]
    assert mid.outstanding_principal == D("650000")                  # 1,000,000 − 250,000 − 100,000
    assert mid.accrued_interest == D("4265")                         # 2,250 + 650,000 × 31 d / 10,000 = 2,015
    assert (mid.past_due, mid.dpd, mid.dpd_bucket) == (D("2000"), 31, "31-60")  # the unpaid prepayment fee
    end = positions(book, "2026-07-16")[None]
    assert (end.past_due, end.unapplied, end.principal_received) == (D("0"), D("0"), D("600000"))


def test_prepayment_fee_steps_down_after_the_first_until(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, Q1_FULL, row("q2", "2026-07-15", "259325.00"),
                                    row("pp", "2026-08-03", "100000.00", "prepayment"),
                                    row("fee", "2026-08-03", "1000.00", "fee")])
    # 2026-08-03 is past 2026-07-15: the 1% step applies, 1% × 100,000 = 1,000
    assert allocations(book)[-2:] == [
        ("fee", "2026-08-03", "2026-08-03", "fees", D("1000")),
        ("pp", "2026-08-03", "2026-08-03", "prepayment", D("100000")),
    ]
    s = schedule_rows(book)
    # 500,000 × 19 d (07-15 → 08-03) / 10,000 = 950 + 400,000 × 73 d / 10,000 = 2,920
    assert s["2026-10-15"][1] == D("3870")
    assert s["2027-01-15"][3] == D("150000")


def test_prepayment_larger_than_the_last_instalment_cuts_the_dates_before_it(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, Q1_FULL, row("pp", "2026-05-15", "300000.00", "prepayment")])
    s = schedule_rows(book)
    # 2027-01-15 loses its 250,000, 2026-10-15 the remaining 50,000
    assert [s[d][3] for d in ("2026-07-15", "2026-10-15", "2027-01-15")] == [D("250000"), D("200000"), D("0")]
    assert s["2026-07-15"][1] == D("4995")       # 2,250 + 450,000 × 61 / 10,000 = 2,745
    assert s["2026-10-15"][1] == D("1840")       # 200,000 × 92 / 10,000
    assert s["2027-01-15"][1] == D("0")
    pos = positions(book, "2026-05-16")[None]
    assert (pos.past_due, pos.outstanding_principal) == (D("6000"), D("450000"))  # fee 2% × 300,000


def test_prepayment_above_the_balance_is_capped_and_the_rest_unapplied(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, Q1_FULL, row("pp", "2026-05-15", "2000000.00", "prepayment")])
    # the excess is unapplied; on the next payment date (2026-07-15) it settles the dues then
    # due, oldest first: the prepayment fee 2% × 750,000 = 15,000 (dated 05-15), the agency fee
    # 2,500 and the interest 750,000 × 30 d (04-15 → 05-15) / 10,000 = 2,250 → 19,750 in all
    assert allocations(book)[3:] == [
        ("pp", "2026-05-15", "2026-05-15", "prepayment", D("750000")),
        ("pp", "2026-05-15", None, "unapplied", D("1250000")),
        ("pp", "2026-05-15", "2026-05-15", "fees", D("15000")),
        ("pp", "2026-05-15", "2026-07-15", "fees", D("2500")),
        ("pp", "2026-05-15", "2026-07-15", "interest", D("2250")),
        ("pp", "2026-05-15", None, "unapplied", D("-19750")),
    ]
    pos = positions(book, "2026-05-16")[None]
    # the fee is on the principal actually prepaid: 2% × 750,000
    assert (pos.outstanding_principal, pos.past_due, pos.unapplied) == (D("0"), D("15000"), D("1250000"))
    pos = positions(book, "2026-07-15")[None]
    assert (pos.past_due, pos.unapplied) == (D("0"), D("1230250"))     # 1,250,000 − 19,750
    s = schedule_rows(book)
    assert s["2026-07-15"][1] == D("2250")       # only 04-15 → 05-15 on 750,000
    assert [s[d][3] for d in ("2026-07-15", "2026-10-15", "2027-01-15")] == [D("0")] * 3


def test_two_prepayments_on_the_same_date_each_apply_their_own_amount(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, Q1_FULL, row("pp-a", "2026-05-15", "300000.00", "prepayment"),
                                    row("pp-b", "2026-05-15", "100000.00", "prepayment")])
    assert allocations(book)[3:] == [
        ("pp-a", "2026-05-15", "2026-05-15", "prepayment", D("300000")),
        ("pp-b", "2026-05-15", "2026-05-15", "prepayment", D("100000")),
    ]
    assert run(book, "ledger", "check").exit_code == 0


# --- order independence and the waterfall ---------------------------------------------------
def test_back_dated_payment_posted_later_gives_the_same_allocations_as_date_order(tmp_path):
    later = [Q1_FULL, row("q2", "2026-07-15", "259325.00")]
    earlier = [CLOSING]
    in_order = write_book(tmp_path / "in-order")
    back_dated = write_book(tmp_path / "back-dated")
    bank = tmp_path / "bank"
    a = write_payments(bank, "q1-q2.csv", later)
    b = write_payments(bank, "closing.csv", earlier)

    post_ok(back_dated, a)
    # before the closing fee arrives, q1 pays the 01-15 upfront fee first (oldest due); the
    # 10,000 of principal left unpaid on 04-15 bears 10,000 × 0.036 × 91/360 = 91.00 to 07-15
    assert allocations(back_dated) == [
        ("q1", "2026-04-15", "2026-01-15", "fees", D("10000")),
        ("q1", "2026-04-15", "2026-04-15", "interest", D("9000")),
        ("q1", "2026-04-15", "2026-04-15", "principal", D("240000")),
        ("q2", "2026-07-15", "2026-04-15", "principal", D("10000")),
        ("q2", "2026-07-15", "2026-07-15", "fees", D("2500")),
        ("q2", "2026-07-15", "2026-07-15", "interest", D("6825")),
        ("q2", "2026-07-15", "2026-07-15", "interest", D("91")),
        ("q2", "2026-07-15", "2026-07-15", "principal", D("239909")),   # 259,325 − 10,000 − 2,500 − 6,825 − 91
    ]
    post_ok(back_dated, b)
    post_ok(in_order, b)
    post_ok(in_order, a)
    assert allocations(back_dated) == [
        ("c-1", "2026-01-15", "2026-01-15", "fees", D("10000")),
        ("q1", "2026-04-15", "2026-04-15", "interest", D("9000")),
        ("q1", "2026-04-15", "2026-04-15", "principal", D("250000")),
        ("q2", "2026-07-15", "2026-07-15", "fees", D("2500")),
        ("q2", "2026-07-15", "2026-07-15", "interest", D("6825")),
        ("q2", "2026-07-15", "2026-07-15", "principal", D("250000")),
    ]
    assert snapshot(back_dated) == snapshot(in_order)


def test_back_dated_prepayment_reallocates_later_payments(tmp_path):
    bank = tmp_path / "bank"
    first = write_payments(bank, "a.csv", [CLOSING, Q1_FULL, row("q2", "2026-07-15", "260715.00")])
    prepay = write_payments(bank, "b.csv", [row("pp", "2026-05-15", "100000.00", "prepayment")])
    incremental = write_book(tmp_path / "incremental")
    post_ok(incremental, first)
    # without the prepayment q2 over-pays the 259,325 due by 1,390, which settles part of the
    # 2026-10-15 interest (4,600) when it falls due
    assert allocations(incremental)[-3:] == [("q2", "2026-07-15", None, "unapplied", D("1390")),
                                             ("q2", "2026-07-15", "2026-10-15", "interest", D("1390")),
                                             ("q2", "2026-07-15", None, "unapplied", D("-1390"))]
    post_ok(incremental, prepay)
    together = write_book(tmp_path / "together")
    post_ok(together, first, prepay)
    assert snapshot(incremental) == snapshot(together)
    assert [a for a in allocations(incremental) if a[0] == "q2"] == [
        ("q2", "2026-07-15", "2026-05-15", "fees", D("2000")),
        ("q2", "2026-07-15", "2026-07-15", "fees", D("2500")),
        ("q2", "2026-07-15", "2026-07-15", "interest", D("6215")),
        ("q2", "2026-07-15", "2026-07-15", "principal", D("250000")),
    ]


def test_a_custom_waterfall_in_book_yaml_changes_the_order_within_a_date(tmp_path):
    bank = tmp_path / "bank"
    rows = [CLOSING, row("q1", "2026-04-15", "100000.00")]
    default = write_book(tmp_path / "default")
    custom = write_book(tmp_path / "custom", BOOK_YAML + "waterfall: [principal, interest, fees, commitment_fee]\n")
    f = write_payments(bank, "p.csv", rows)
    post_ok(default, f)
    post_ok(custom, f)
    assert allocations(default)[1:] == [("q1", "2026-04-15", "2026-04-15", "interest", D("9000")),
                                        ("q1", "2026-04-15", "2026-04-15", "principal", D("91000"))]
    assert allocations(custom)[1:] == [("q1", "2026-04-15", "2026-04-15", "principal", D("100000"))]
    pos = positions(custom, "2026-05-01")[None]
    assert (pos.interest_received, pos.principal_received, pos.past_due) == (D("0"), D("100000"), D("159000"))


def test_custom_waterfall_puts_fees_last_on_a_date_with_fees(tmp_path):
    bank = tmp_path / "bank"
    custom = write_book(tmp_path / "custom", BOOK_YAML + "waterfall: [interest, principal, fees]\n")
    post_ok(custom, write_payments(bank, "p.csv", [CLOSING, Q1_FULL, row("q2", "2026-07-15", "258000.00")]))
    assert allocations(custom)[3:] == [
        ("q2", "2026-07-15", "2026-07-15", "interest", D("6825")),
        ("q2", "2026-07-15", "2026-07-15", "principal", D("250000")),
        ("q2", "2026-07-15", "2026-07-15", "fees", D("1175")),           # 258,000 − 6,825 − 250,000
    ]


def test_dry_run_shows_the_allocation_and_writes_nothing(book, bank):
    f = write_payments(bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "300000.00")])
    before = tree_hash(book)
    result = run(book, "post-payments", f, "--dry-run", "--posting-day", "2026-12-01", "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dry_run"] is True and summary["archived"] == []
    # q1's 41,000 excess settles the 2026-07-15 dues as they fall due (fees 2,500, interest
    # 6,825, principal 41,000 − 2,500 − 6,825 = 31,675), leaving suspense with −41,000
    assert {(a["payment_id"], a["component"], a["amount"]) for a in summary["allocations"]} == {
        ("c-1", "fees", "10000.00"), ("q1", "interest", "9000.00"), ("q1", "principal", "250000.00"),
        ("q1", "unapplied", "41000.00"), ("q1", "fees", "2500.00"), ("q1", "interest", "6825.00"),
        ("q1", "principal", "31675.00"), ("q1", "unapplied", "-41000.00")}
    assert tree_hash(book) == before


# --- when unapplied cash was applied, in the ledger -----------------------------------------------
def applied_rows(root):
    import duckdb
    from ledgerkit import FIXED_DEAL as deal
    from loanctl.ledger.db import ledger_path
    con = duckdb.connect(str(ledger_path(root)), read_only=True)
    try:
        return [(p, c, D(a), o.isoformat() if o else None) for p, c, a, o in con.execute(
            "SELECT payment_id, component, amount, applied_on FROM allocations WHERE deal = ? ORDER BY seq",
            [deal]).fetchall()]
    finally:
        con.close()


# q1's 41,000 excess (300,000 − 259,000) is applied on 2026-07-15 (see above)
APPLIED = [("c-1", "fees", D("10000"), None), ("q1", "interest", D("9000"), None),
           ("q1", "principal", D("250000"), None), ("q1", "unapplied", D("41000"), None),
           ("q1", "fees", D("2500"), "2026-07-15"), ("q1", "interest", D("6825"), "2026-07-15"),
           ("q1", "principal", D("31675"), "2026-07-15"), ("q1", "unapplied", D("-41000"), "2026-07-15")]


def test_the_ledger_records_when_unapplied_cash_was_applied(book, bank):
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "300000.00")])
    assert applied_rows(book) == APPLIED
    assert run(book, "ledger", "check").exit_code == 0


def test_a_ledger_of_schema_2_gains_applied_on_and_is_recomputed(book, bank):
    """A ledger written before `applied_on` (emulated: the column dropped, version 2) is
    migrated on the next write and its allocations recomputed under the current rules."""
    import duckdb
    from loanctl.ledger.db import ledger_path
    post_rows(book, bank, "p.csv", [CLOSING, row("q1", "2026-04-15", "300000.00")])
    con = duckdb.connect(str(ledger_path(book)))
    con.execute("ALTER TABLE allocations DROP COLUMN applied_on")
    con.execute("DELETE FROM allocations WHERE seq > 3")  # as the old rules left it: 41,000 unapplied
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    result = run(book, "ledger", "refresh")
    assert result.exit_code == 0 and "1 facility" in result.stderr, result.stderr
    assert applied_rows(book) == APPLIED
    assert run(book, "ledger", "check").exit_code == 0
