"""Worked examples, each computed by hand in the test (never from the engine's own output)."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from schedkit import col, deal, one, rates, schedules

D = Decimal


def cents(x) -> Decimal:
    return Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_published_level_example_12000_at_2pct_monthly():
    # 12,000 at 2% a month, 4 monthly level installments, 30/360 unadjusted dates:
    # interest 240.00, 181.77, 122.38, 61.79; installment 3,151.49.
    s = one(deal("""
        id: tl
        commitment: 12000
        start_date: 2026-01-15
        maturity_date: 2026-05-15
        interest: {fixed_rate: 24%, day_count: 30/360}
        payments: {frequency: monthly, business_day: unadjusted, accrual: unadjusted}
        amortization: {type: level}
        participations: [{lender: f, share: 100%}]
    """))
    rows = s.rows[1:]
    assert [str(r.interest) for r in rows] == ["240.00", "181.77", "122.38", "61.79"]
    assert [str(r.total_due) for r in rows[:3]] == ["3151.49"] * 3
    # the maturity date repays what is left: 12000 - 3 * (3151.49 - interest)
    assert str(rows[3].principal) == "3089.68"
    assert str(rows[3].total_due) == "3151.47"
    assert [r.date for r in rows] == [date(2026, 2, 15), date(2026, 3, 15), date(2026, 4, 15), date(2026, 5, 15)]


def test_spec_example_floating_with_floor_percent_amortization_and_oid():
    # SPEC §3.1: 25,000,000; SOFR 3.68% (above the 1% floor) + 575 bps = 9.43%;
    # 90 days ACT/360: 25,000,000 x 0.0943 x 90/360 = 589,375.00; 1%/4 of 25m = 62,500.
    s = one(deal("""
        id: tl
        commitment: 25000000
        start_date: 2026-01-15
        maturity_date: 2031-01-15
        interest: {index: SOFR-3M, spread: 575bps, floor: 1%, day_count: ACT/360}
        payments: {frequency: quarterly, first_payment_date: 2026-04-15, calendar: US}
        amortization: {type: percent, annual_rate: 1%}
        fees: [{type: upfront, rate: 2%}]
        participations: [{lender: f, share: 100%}]
    """), fixings=rates("SOFR-3M", [("2026-01-02", "0.0368")]))
    r0, r1 = s.rows[0], s.rows[1]
    assert (r0.date, str(r0.draws), str(r0.fees), str(r0.total_due)) == (date(2026, 1, 15), "25000000.00",
                                                                         "500000.00", "500000.00")
    assert (r1.days, str(r1.rate), str(r1.interest), str(r1.principal)) == (90, "0.0943", "589375.00", "62500.00")
    assert str(r1.total_due) == "651875.00"
    assert str(r1.closing_balance) == "24937500.00"
    assert r1.projected is True  # the fixing date is after the last published row


def test_floor_applies_to_the_fixing_and_cap_too():
    base = """
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-04-15
        interest: {index: X, spread: 5%, floor: 2%, cap: 4%, day_count: ACT/360}
        participations: [{lender: f, share: 100%}]
    """
    low = one(deal(base), fixings=rates("X", [("2026-01-01", "0.01")]))
    high = one(deal(base), fixings=rates("X", [("2026-01-01", "0.06")]))
    assert low.rows[1].rate == D("0.07")  # max(1%, 2%) + 5%
    assert high.rows[1].rate == D("0.09")  # min(6%, 4%) + 5%
    # 1,000,000 x 0.07 x 90/360 = 17,500.00
    assert str(low.rows[1].interest) == "17500.00"


def test_fixing_lag_takes_the_row_on_or_before_start_minus_lag():
    s = one(deal("""
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-04-15
        interest: {index: X, spread: 0%, fixing_lag_days: 5}
        participations: [{lender: f, share: 100%}]
    """), fixings=rates("X", [("2026-01-09", "0.03"), ("2026-01-10", "0.04"), ("2026-01-11", "0.05")]))
    assert s.rows[1].rate == D("0.04")  # 2026-01-15 - 5 days = 2026-01-10
    assert s.rows[1].projected is False  # 2026-01-10 has a published row


def test_straight_amortization_residue_at_maturity():
    # 1,000,000 over 3 quarterly dates: round(1,000,000 / 3) = 333,333.33 twice, then 333,333.34.
    s = one(deal("""
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-10-15
        interest: {fixed_rate: 0%}
        payments: {business_day: unadjusted}
        amortization: {type: straight}
        participations: [{lender: f, share: 100%}]
    """))
    assert col(s, "principal")[1:] == ["333333.33", "333333.33", "333333.34"]
    assert s.rows[-1].closing_balance == 0


def test_interest_only_periods_then_straight():
    s = one(deal("""
        id: tl
        commitment: 900000
        start_date: 2026-01-15
        maturity_date: 2027-01-15
        interest: {fixed_rate: 0%}
        payments: {business_day: unadjusted}
        amortization: {type: straight, interest_only_periods: 1}
        participations: [{lender: f, share: 100%}]
    """))
    assert col(s, "principal")[1:] == ["0.00", "300000.00", "300000.00", "300000.00"]


def test_pik_capitalises_and_compounds_with_bullet():
    # 10,000,000 at 6% cash + 3% PIK, 30/360 quarterly (yf = 1/4 exactly):
    # q1 cash 150,000.00, PIK 75,000.00 -> 10,075,000.00
    # q2 cash 10,075,000 x 0.015 = 151,125.00, PIK 75,562.50 -> 10,150,562.50
    s = one(deal("""
        id: hold
        commitment: 10000000
        start_date: 2026-01-15
        maturity_date: 2026-07-15
        interest: {fixed_rate: 6%, pik_rate: 3%, day_count: 30/360}
        payments: {business_day: unadjusted}
        participations: [{lender: f, share: 100%}]
    """))
    r1, r2 = s.rows[1], s.rows[2]
    assert (str(r1.interest), str(r1.pik), str(r1.closing_balance)) == ("150000.00", "75000.00", "10075000.00")
    assert (str(r2.interest), str(r2.pik)) == ("151125.00", "75562.50")
    assert str(r2.principal) == "10150562.50"  # everything at maturity, PIK included
    assert sum(r.principal for r in s.rows) == sum(r.draws for r in s.rows) + sum(r.pik for r in s.rows)


def test_delayed_draw_commitment_fee_and_interest_split_at_draw():
    # 10m DDTL, 4m drawn at start, 3m on 2026-02-14; 8% fixed ACT/360; 50bps on undrawn.
    # Period 2026-01-15 .. 2026-04-15 (90 days), split at 02-14 (30 days, then 60 days):
    # interest = 4m x 8% x 30/360 + 7m x 8% x 60/360 = 26,666.666.. + 93,333.333.. = 120,000.00
    # fee      = 6m x 0.5% x 30/360 + 3m x 0.5% x 60/360 = 2,500 + 2,500 = 5,000.00
    s = one(deal("""
        id: ddtl
        type: delayed_draw
        commitment: 10000000
        start_date: 2026-01-15
        maturity_date: 2027-01-15
        availability_end: 2026-07-15
        draws: [{date: 2026-01-15, amount: 4000000}, {date: 2026-02-14, amount: 3000000}]
        interest: {fixed_rate: 8%}
        payments: {business_day: unadjusted}
        fees: [{type: commitment, rate: 50bps}]
        participations: [{lender: f, share: 100%}]
    """))
    r1, r2, r3 = s.rows[1], s.rows[2], s.rows[3]
    assert (str(r1.draws), str(r1.interest), str(r1.commitment_fee)) == ("3000000.00", "120000.00", "5000.00")
    assert str(r1.closing_balance) == "7000000.00"
    # 2026-04-15 .. 07-15 (91 days): 3m undrawn x 0.5% x 91/360 = 3,791.666.. -> 3,791.67
    assert str(r2.commitment_fee) == "3791.67"
    # availability ended 2026-07-15: no fee afterwards, the undrawn 3m is cancelled
    assert r3.commitment_fee == 0


def test_draw_on_a_payment_date_belongs_to_the_next_period():
    s = one(deal("""
        id: ddtl
        type: delayed_draw
        commitment: 2000000
        start_date: 2026-01-15
        maturity_date: 2026-10-15
        draws: [{date: 2026-01-15, amount: 1000000}, {date: 2026-04-15, amount: 1000000}]
        interest: {fixed_rate: 3.6%}
        payments: {business_day: unadjusted}
        participations: [{lender: f, share: 100%}]
    """))
    r1, r2 = s.rows[1], s.rows[2]
    assert r1.draws == 0 and str(r1.interest) == "9000.00"  # 1m x 3.6% x 90/360
    assert str(r2.draws) == "1000000.00"
    assert str(r2.interest) == "18200.00"  # 2m x 3.6% x 91/360
    assert str(r1.closing_balance) == "1000000.00" and str(r2.opening_balance) == "1000000.00"


def test_modified_following_rolls_back_at_month_end():
    # F = 2026-03-31 (month end: EOM rule). 2026-05-31 is a Sunday; the next business day
    # (June 1) is in the next month, so modified following rolls back to Friday 2026-05-29.
    s = one(deal("""
        id: tl
        commitment: 1000000
        start_date: 2026-02-28
        maturity_date: 2026-07-31
        interest: {fixed_rate: 3.6%}
        payments: {frequency: monthly, business_day: modified_following}
        participations: [{lender: f, share: 100%}]
    """))
    assert [r.date for r in s.rows] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 29),
                                        date(2026, 6, 30), date(2026, 7, 31)]
    assert [r.days for r in s.rows[1:]] == [31, 30, 29, 32, 31]
    # 1,000,000 x 3.6% x 29/360 = 2,900.00 (adjusted accrual)
    assert str(s.rows[3].interest) == "2900.00"


def test_unadjusted_accrual_keeps_calendar_periods():
    s = one(deal("""
        id: tl
        commitment: 1000000
        start_date: 2026-02-28
        maturity_date: 2026-07-31
        interest: {fixed_rate: 3.6%}
        payments: {frequency: monthly, accrual: unadjusted}
        participations: [{lender: f, share: 100%}]
    """))
    r = s.rows[3]
    assert (r.date, r.accrual_start, r.accrual_end, r.days) == (date(2026, 5, 29), date(2026, 4, 30),
                                                               date(2026, 5, 31), 31)
    assert str(r.interest) == "3100.00"


def test_short_final_stub_and_exit_fee():
    s = one(deal("""
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-05-29
        interest: {fixed_rate: 3.6%}
        payments: {business_day: unadjusted}
        fees: [{type: exit, rate: 1%}, {type: fixed, amount: 2500, date: 2026-03-01, name: agency}]
        participations: [{lender: f, share: 100%}]
    """))
    assert [r.date for r in s.rows] == [date(2026, 1, 15), date(2026, 4, 15), date(2026, 5, 29)]
    assert s.rows[2].days == 44
    assert str(s.rows[1].fees) == "2500.00"  # fixed fee in the period containing its date
    assert str(s.rows[2].fees) == "10000.00"  # 1% of 1,000,000 drawn
    assert str(s.rows[2].interest) == "4400.00"  # 1m x 3.6% x 44/360


def test_amendment_spread_change_splits_the_period():
    # SOFR 4% flat; spread 600 -> 500 bps effective 2026-02-14 (30 days into a 90-day period):
    # 1,000,000 x (10% x 30 + 9% x 60) / 360 = 8,333.33.. + 15,000 = 23,333.33
    fac = """
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-10-15
        interest: {index: S, spread: 600bps}
        payments: {business_day: unadjusted}
        participations: [{lender: f, share: 100%}]
    """
    am = """
        id: 001
        effective_date: 2026-02-14
        changes: [{facility: tl, set: {interest.spread: 500bps}}]
    """
    s = schedules(deal(fac), amendments=[am], fixings=rates("S", [("2026-01-01", "0.04")]))["tl"]
    assert str(s.rows[1].interest) == "23333.33"
    assert s.rows[1].rate == D("0.10")  # the rate at period start
    assert s.rows[2].rate == D("0.09")
    assert str(s.rows[2].interest) == "22750.00"  # 1m x 9% x 91/360


def test_maturity_extension_regenerates_remaining_dates():
    fac = """
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-10-15
        interest: {fixed_rate: 0%}
        payments: {business_day: unadjusted}
        amortization: {type: straight}
        participations: [{lender: f, share: 100%}]
    """
    am = """
        id: ext
        effective_date: 2026-05-01
        changes: [{facility: tl, set: {maturity_date: 2027-04-15}}]
    """
    s = schedules(deal(fac), amendments=[am])["tl"]
    assert [r.date.isoformat() for r in s.rows] == ["2026-01-15", "2026-04-15", "2026-07-15", "2026-10-15",
                                                     "2027-01-15", "2027-04-15"]
    # first period: 1,000,000 / 3 dates = 333,333.33; after the extension (5 dates from
    # 2026-07-15 onwards... recomputed at 07-15 on 666,666.67 over 4 dates) = 166,666.67
    assert [str(r.principal) for r in s.rows[1:]] == ["333333.33", "166666.67", "166666.67", "166666.67",
                                                      "166666.66"]


def test_custom_amortization_on_listed_dates():
    s = one(deal("""
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-10-15
        interest: {fixed_rate: 0%}
        payments: {business_day: unadjusted}
        amortization: {type: custom, schedule: [{date: 2026-04-15, amount: 100000}, {date: 2026-07-15, amount: 250000}]}
        participations: [{lender: f, share: 100%}]
    """))
    assert col(s, "principal") == ["0.00", "100000.00", "250000.00", "650000.00"]


def test_half_even_book_rounding():
    # A true half cent: 1,000 x 0.9% x 1/360 = 0.025 -> 0.03 half_up, 0.02 half_even.
    fac = """
        id: tl
        commitment: 1000
        start_date: 2026-01-15
        maturity_date: 2026-01-16
        interest: {fixed_rate: 0.9%}
        payments: {business_day: unadjusted}
        participations: [{lender: f, share: 100%}]
    """
    assert str(one(deal(fac)).rows[1].interest) == "0.03"
    assert str(one(deal(fac), rounding="half_even").rows[1].interest) == "0.02"


def test_lender_split_uses_largest_remainder():
    from loanctl.engine.lenders import lender_view
    s = one(deal("""
        id: tl
        commitment: 100
        start_date: 2026-01-15
        maturity_date: 2026-04-15
        interest: {fixed_rate: 0%}
        payments: {business_day: unadjusted}
        participations: [{lender: a, share: 0.3333333333}, {lender: b, share: 0.3333333333}, {lender: c, share: 0.3333333334}]
    """))
    parts = [lender_view(s, x).rows[0].draws for x in ("a", "b", "c")]
    assert [str(p) for p in parts] == ["33.33", "33.33", "33.34"]
    assert sum(parts) == D(100)


def test_jpy_has_no_minor_units():
    s = one(deal("""
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-04-15
        interest: {fixed_rate: 1%}
        payments: {business_day: unadjusted}
        participations: [{lender: f, share: 100%}]
    """, currency="JPY"))
    assert str(s.rows[1].interest) == "2500"  # 1,000,000 x 1% x 90/360


@pytest.mark.parametrize("freq,months", [("monthly", 1), ("semiannual", 6), ("annual", 12)])
def test_frequencies_step_from_the_first_payment_date(freq, months):
    s = one(deal(f"""
        id: tl
        commitment: 1000
        start_date: 2026-01-31
        maturity_date: 2028-01-31
        interest: {{fixed_rate: 0%}}
        payments: {{frequency: {freq}, business_day: unadjusted}}
        participations: [{{lender: f, share: 100%}}]
    """))
    assert len(s.rows) == 1 + 24 // months
    from loanctl.conventions.dates import is_month_end
    assert all(is_month_end(r.date) for r in s.rows)  # the EOM rule: always the month end
