"""Positions as of a date (SPEC §4.4), per facility and per lender share, hand-computed.

Scenario on `acme-fixed` (3.6% ACT/360 → balance × days / 10,000; participations 60/40):
closing fee 10,000 paid on 2026-01-15, then 100,000.01 on 2026-04-15 against 259,000 due
(interest 9,000 first, principal 91,000.01), nothing after. As of 2026-05-20:

    drawn 1,000,000            outstanding 1,000,000 − 91,000.01 = 908,999.99
    accrued interest: 750,000 (the scheduled balance) × 35 d / 10,000 = 2,625, plus the
      contractual rate on the principal overdue since 04-15 (SPEC §4.3):
      158,999.99 × 35 d / 10,000 = 556.499965 → 3,181.499965 → 3,181.50
    past due 259,000 − 100,000.01 = 158,999.99 since 2026-04-15 → 35 dpd, bucket 31-60

Lender parts use the largest remainder on cents (ties in file order):
    908,999.99 × 60% = 545,399.994, × 40% = 363,599.996 → the cent goes to fund-b (.6 > .4)
    91,000.01  × 60% = 54,600.006,  × 40% = 36,400.004  → the cent goes to fund-a
    158,999.99 × 60% = 95,399.994,  × 40% = 63,599.996  → the cent goes to fund-b
    3,181.50   × 60% = 1,908.90,    × 40% = 1,272.60
"""

from __future__ import annotations

import json
from decimal import Decimal

from ledgerkit import TWO_DEAL, positions, post_rows, row, run
from loanctl.servicing.positions import money_fields

D = Decimal
ROWS = [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "100000.01")]

EXPECTED = {
    None: dict(commitment=D("1000000"), drawn=D("1000000"), unfunded=D("0"),
               outstanding_principal=D("908999.99"), accrued_interest=D("3181.50"), pik_capitalised=D("0"),
               interest_received=D("9000"), fees_received=D("10000"), principal_received=D("91000.01"),
               unapplied=D("0"), past_due=D("158999.99")),
    "fund-a": dict(commitment=D("600000"), drawn=D("600000"), unfunded=D("0"),
                   outstanding_principal=D("545399.99"), accrued_interest=D("1908.90"), pik_capitalised=D("0"),
                   interest_received=D("5400"), fees_received=D("6000"), principal_received=D("54600.01"),
                   unapplied=D("0"), past_due=D("95399.99")),
    "fund-b": dict(commitment=D("400000"), drawn=D("400000"), unfunded=D("0"),
                   outstanding_principal=D("363600.00"), accrued_interest=D("1272.60"), pik_capitalised=D("0"),
                   interest_received=D("3600"), fees_received=D("4000"), principal_received=D("36400.00"),
                   unapplied=D("0"), past_due=D("63600.00")),
}


def test_facility_and_lender_positions_on_a_mid_period_date(book, bank):
    post_rows(book, bank, "p.csv", ROWS)
    got = positions(book, "2026-05-20")
    for who, figures in EXPECTED.items():
        pos = got[who]
        assert {k: getattr(pos, k) for k in figures} == figures, who
        assert (pos.dpd, pos.dpd_bucket) == (35, "31-60"), who
    assert got["fund-a"].share == D("0.6") and got["fund-b"].share == D("0.4")


def test_lender_parts_sum_exactly_to_the_facility(book, bank):
    post_rows(book, bank, "p.csv", ROWS + [row("odd", "2026-06-03", "0.03", reference="three cents")])
    for as_of in ("2026-01-15", "2026-04-15", "2026-05-20", "2026-06-03", "2026-07-16", "2027-02-01"):
        got = positions(book, as_of)
        for name in money_fields():
            parts = getattr(got["fund-a"], name) + getattr(got["fund-b"], name)
            assert parts == getattr(got[None], name), (as_of, name)


def test_accrued_interest_is_zero_on_a_payment_date_and_grows_daily(book, bank):
    post_rows(book, bank, "p.csv", ROWS)
    assert positions(book, "2026-04-15")[None].accrued_interest == D("0")
    # from 04-15 the scheduled 750,000 and the 158,999.99 of principal overdue both accrue
    # 750,000 × 1 / 10,000 = 75 + 158,999.99 × 1 / 10,000 = 15.899999 → 90.899999 → 90.90
    assert positions(book, "2026-04-16")[None].accrued_interest == D("90.90")
    assert positions(book, "2026-01-16")[None].accrued_interest == D("100")    # 1,000,000 × 1 / 10,000
    # 750,000 × 90 / 10,000 = 6,750 + 158,999.99 × 90 / 10,000 = 1,430.99991 → 8,180.99991 → 8,181.00
    assert positions(book, "2026-07-14")[None].accrued_interest == D("8181")


def test_positions_before_the_first_payment_and_after_maturity(book):
    start = positions(book, "2026-01-15")[None]
    assert (start.drawn, start.outstanding_principal, start.past_due, start.dpd) == (
        D("1000000"), D("1000000"), D("0"), 0)
    late = positions(book, "2027-01-20")[None]
    # nothing paid: every due is past due, the oldest (the 01-15 upfront fee) for 370 days, with
    # the interest on the principal left overdue, due on each next date:
    #   07-15: 250,000 × 91 d / 10,000 = 2,275; 10-15: 500,000 × 92 / 10,000 = 4,600;
    #   2027-01-15: 750,000 × 92 / 10,000 = 6,900
    assert late.past_due == (D("10000") + D("259000") + D("259325") + D("254600") + D("252300")
                             + D("2275") + D("4600") + D("6900"))
    assert (late.dpd, late.dpd_bucket) == (370, "120+")
    # after maturity the overdue principal keeps bearing the contractual rate (SPEC §4.3, issue 14):
    # 1,000,000 × 5 days (01-15 → 01-20) / 10,000 = 500.00 accrued, due with the next payment
    assert late.accrued_interest == D("500.00")


def test_revolver_unfunded_is_commitment_less_outstanding(book):
    got = positions(book, "2026-04-01", deal=TWO_DEAL, facility="rcf")
    rcf = got[None]
    assert (rcf.commitment, rcf.drawn, rcf.unfunded, rcf.outstanding_principal) == (
        D("200000"), D("50000"), D("150000"), D("50000"))
    # 6% ACT/360 on 50,000 for 31 days (03-01 → 04-01) = 50,000 × 0.06 × 31 / 360 = 258.333… → 258.33
    assert rcf.accrued_interest == D("258.33")


FIGURES = ("commitment, drawn, unfunded, outstanding_principal, accrued_interest, interest_received, fees_received, "
           "principal_received, unapplied, past_due, dpd, dpd_bucket")


def test_query_positions_returns_the_same_figures(book, bank):
    post_rows(book, bank, "p.csv", ROWS)
    result = run(book, "query", f"select {FIGURES} from positions where deal = 'acme-fixed'",
                 "--as-of", "2026-05-20", "--format", "json")
    assert result.exit_code == 0, result.stderr
    (whole,) = json.loads(result.stdout)
    result = run(book, "query", f"select lender, {FIGURES} from lender_positions where deal = 'acme-fixed' "
                                "order by lender", "--as-of", "2026-05-20", "--format", "json")
    assert result.exit_code == 0, result.stderr
    lenders = json.loads(result.stdout)
    assert [r["lender"] for r in lenders] == ["fund-a", "fund-b"]
    for who, r in [(None, whole)] + [(r.pop("lender"), r) for r in lenders]:
        want = EXPECTED[who]
        assert {k: D(v) for k, v in r.items() if k in want} == {k: v for k, v in want.items() if k in r}, who
        assert (r["dpd"], r["dpd_bucket"]) == (35, "31-60")


def test_query_positions_has_one_row_per_facility_and_no_lender_column(book, bank):
    post_rows(book, bank, "p.csv", ROWS)
    result = run(book, "query", "select * from positions order by deal, facility", "--as-of", "2026-05-20",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert "lender" not in rows[0]
    keys = [(r["deal"], r["facility"]) for r in rows]
    assert len(keys) == len(set(keys)) and ("acme-fixed", "tl") in keys


MONEY_COLUMNS = ("commitment", "drawn", "unfunded", "outstanding_principal", "accrued_interest", "accrued_pik",
                 "accrued_commitment_fee", "pik_capitalised", "interest_received", "fees_received", "principal_received",
                 "unapplied", "past_due", "default_interest_due", "accrued_default_interest", "written_off",
                 "recoveries")


def test_query_lender_positions_has_no_null_lender_and_sums_exactly_to_positions(book, bank):
    # an odd 0.03 makes the largest-remainder cents matter (0.018 / 0.012 → 0.02 / 0.01)
    post_rows(book, bank, "p.csv", ROWS + [row("odd", "2026-06-03", "0.03", reference="three cents")])
    assert set(MONEY_COLUMNS) == set(money_fields())
    for as_of in ("2026-05-20", "2026-06-03"):
        result = run(book, "query", "select count(*) as n from lender_positions where lender is null",
                     "--as-of", as_of, "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == [{"n": 0}]
        # the lenders' sums, and the facility rows, each as exact decimals, joined in Python
        sums = ", ".join(f"sum({c}) as {c}" for c in MONEY_COLUMNS)
        result = run(book, "query", f"select deal, facility, {sums} from lender_positions group by deal, facility",
                     "--as-of", as_of, "--format", "json")
        assert result.exit_code == 0, result.stderr
        parts = {(r.pop("deal"), r.pop("facility")): {k: D(v) for k, v in r.items()} for r in json.loads(result.stdout)}
        result = run(book, "query", f"select deal, facility, {', '.join(MONEY_COLUMNS)} from positions",
                     "--as-of", as_of, "--format", "json")
        assert result.exit_code == 0, result.stderr
        whole = {(r.pop("deal"), r.pop("facility")): {k: D(v) for k, v in r.items()} for r in json.loads(result.stdout)}
        assert parts and set(parts) <= set(whole)
        for key, figures in parts.items():
            assert figures == whole[key], (as_of, key)
    # acme-fixed on 06-03: the 0.03 goes to the principal still past due, so 91,000.01 + 0.03 = 91,000.04
    # received; SPEC §3: cash applied to a due is split like the due, on the cumulative amount applied to it
    # (so partial payments never drift from the lender's part of the due): 91,000.04 × 60% = 54,600.024 and
    # × 40% = 36,400.016 → floors 54,600.02 / 36,400.01, the last cent to the larger remainder (0.6 > 0.4
    # of a cent): fund-a 54,600.02 and fund-b 36,400.02, summing to 91,000.04
    result = run(book, "query", "select lender, principal_received from lender_positions "
                                "where deal = 'acme-fixed' order by lender", "--as-of", "2026-06-03", "--format", "csv")
    assert [line.split(",") for line in result.stdout.splitlines()[1:]] == [["fund-a", "54600.0200"],
                                                                            ["fund-b", "36400.0200"]]
    result = run(book, "query", "select principal_received from positions where deal = 'acme-fixed'",
                 "--as-of", "2026-06-03", "--format", "csv")
    assert result.stdout.splitlines()[1:] == ["91000.0400"]


def test_query_as_of_excludes_later_payments(book, bank):
    post_rows(book, bank, "p.csv", ROWS)
    result = run(book, "query", "select principal_received, past_due from positions "
                                "where deal = 'acme-fixed'", "--as-of", "2026-04-14",
                 "--format", "csv")
    assert result.exit_code == 0, result.stderr
    # on 04-14 only the closing fee has been paid; nothing is past due (the fee was paid on time)
    assert [D(x) for x in result.stdout.splitlines()[1].split(",")] == [D("0"), D("0")]
