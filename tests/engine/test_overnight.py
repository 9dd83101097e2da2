"""Overnight rates in arrears (SPEC §3.2): QuantLib's OvernightIndexedCoupon as the
independent reference for compounding (lookback, observation shift, lockout, random
periods), hand-computed small cases with a weekend and a holiday, a mid-period prepayment,
the term-index adjustments, and each new diagnostic from the command line."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookfactory import deal_with, pos, run_validate, sofr_csv, write_book
from loanctl.conventions.calendars import make_calendar
from loanctl.engine.schedule import build_schedule
from loanctl.engine.terms import facility_terms
from loanctl.model.records import RateSeries
from schedkit import deal, record, schedules

ql = pytest.importorskip("QuantLib")

D = Decimal
P = D(1_000_000)


@pytest.fixture(autouse=True)
def fifty_digits():
    """The expected figures are computed with the engine's 50 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 50
        yield


def close(a: Decimal, b: Decimal) -> bool:
    """Equal to 40 significant places: the products are the same, taken in another order
    under 50 significant digits."""
    return abs(a - b) <= abs(b) * D("1e-40")


def cents(x: Decimal) -> Decimal:
    return x.quantize(D("0.01"), rounding=ROUND_HALF_UP)


# --- a synthetic index on a calendar with holidays --------------------------------------------
HOLIDAYS = (date(2025, 1, 20), date(2025, 2, 17), date(2025, 4, 18), date(2025, 5, 26), date(2025, 7, 4),
            date(2025, 9, 1))
BOOK_CALS = {"q": ("WEEKENDS", HOLIDAYS, ())}


def business_days(a: date, b: date) -> list[date]:
    out, d = [], a
    while d <= b:
        if d.weekday() < 5 and d not in HOLIDAYS:
            out.append(d)
        d += timedelta(days=1)
    return out


_rng = random.Random(16)
FIXINGS = [(d, D(_rng.randint(300, 550)) / D(10000)) for d in business_days(date(2024, 12, 2), date(2025, 12, 31))]
SERIES = {"SOFR": RateSeries("SOFR", "rates/SOFR.csv", tuple(d for d, _ in FIXINGS), tuple(r for _, r in FIXINGS))}


def loan(start: date, end: date, method: str = "compounded", lookback: int = 0, lockout: int = 0,
         shift: bool = False, spread: str = "0", extra: str = "", fixings=None):
    """A one-period bullet loan of 1,000,000 from start to end; its schedule."""
    text = deal(f"""
        id: tl
        commitment: 1000000
        start_date: {start}
        maturity_date: {end}
        interest: {{index: SOFR, spread: "{spread}", method: {method}, lookback_days: {lookback},
                    lockout_days: {lockout}, observation_shift: {str(shift).lower()}, day_count: ACT/360{extra}}}
        payments: {{frequency: annual, business_day: unadjusted, calendar: q}}
        participations: [{{lender: f, share: 100%}}]
    """)
    (s,) = schedules(text, fixings=fixings or SERIES, calendars=BOOK_CALS).values()
    return s


def unrounded(row) -> Decimal:
    return sum((seg.accrued(row.accrual_end)[0] for seg in row.segments), D(0))


def qd(d: date):
    return ql.Date(d.day, d.month, d.year)


def quantlib_amount(start: date, end: date, lookback: int, lockout: int, shift: bool, spread: float = 0.0,
                    simple: bool = False) -> float:
    cal = ql.BespokeCalendar("loanctl-q")
    cal.addWeekend(ql.Saturday)
    cal.addWeekend(ql.Sunday)
    for h in HOLIDAYS:
        cal.addHoliday(qd(h))
    index = ql.OvernightIndex("SOFRQ", 0, ql.USDCurrency(), cal, ql.Actual360())
    index.clearFixings()
    for d, r in FIXINGS:
        index.addFixing(qd(d), float(r), True)
    ql.Settings.instance().evaluationDate = ql.Date(1, 6, 2026)  # every fixing is in the past
    coupon = ql.OvernightIndexedCoupon(qd(end), float(P), qd(start), qd(end), index, 1.0, spread,
                                       averagingMethod=ql.RateAveraging.Simple if simple else ql.RateAveraging.Compound,
                                       lookbackDays=lookback, lockoutDays=lockout, applyObservationShift=shift)
    return coupon.amount()


def assert_matches_quantlib(row, expected: float) -> None:
    got = unrounded(row)
    assert abs(float(got) / expected - 1) < 1e-9, (got, expected)
    assert row.interest == cents(D(repr(expected)))


# --- QuantLib -------------------------------------------------------------------------------
@pytest.mark.parametrize("lookback", [0, 2, 5])
def test_compounded_lookback_without_shift_equals_quantlib(lookback):
    s = loan(date(2025, 1, 6), date(2025, 4, 7), lookback=lookback, spread="0.015")
    assert_matches_quantlib(s.rows[1], quantlib_amount(date(2025, 1, 6), date(2025, 4, 7), lookback, 0, False, 0.015))


@pytest.mark.parametrize("lookback", [0, 2, 5])
def test_compounded_with_observation_shift_equals_quantlib(lookback):
    s = loan(date(2025, 1, 6), date(2025, 4, 7), lookback=lookback, shift=True, spread="0.015")
    assert_matches_quantlib(s.rows[1], quantlib_amount(date(2025, 1, 6), date(2025, 4, 7), lookback, 0, True, 0.015))


@pytest.mark.parametrize("shift", [False, True])
def test_compounded_with_lockout_equals_quantlib(shift):
    s = loan(date(2025, 5, 5), date(2025, 8, 4), lookback=2, lockout=3, shift=shift)
    assert_matches_quantlib(s.rows[1], quantlib_amount(date(2025, 5, 5), date(2025, 8, 4), 2, 3, shift))


def test_simple_without_lookback_equals_quantlib_arithmetic_average():
    s = loan(date(2025, 3, 3), date(2025, 6, 2), method="simple", spread="0.02")
    assert_matches_quantlib(s.rows[1], quantlib_amount(date(2025, 3, 3), date(2025, 6, 2), 0, 0, False, 0.02,
                                                       simple=True))


BDAYS_2025 = business_days(date(2025, 1, 13), date(2025, 9, 30))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BDAYS_2025) - 80), st.integers(5, 70), st.integers(0, 5), st.integers(0, 3),
       st.booleans())
def test_random_periods_equal_quantlib(i, length, lookback, lockout, shift):
    start, end = BDAYS_2025[i], BDAYS_2025[i + length]
    s = loan(start, end, lookback=lookback, lockout=lockout, shift=shift, spread="0.0125")
    assert_matches_quantlib(s.rows[1], quantlib_amount(start, end, lookback, lockout, shift, 0.0125))


# --- by hand: Thu 2025-07-03 to Tue 2025-07-08, Fri 07-04 a holiday ---------------------------
# The file's rows are the index's business days: no row for the holiday nor the weekend.
SMALL = {"SOFR": RateSeries("SOFR", "rates/SOFR.csv",
                            (date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3), date(2025, 7, 7), date(2025, 7, 8)),
                            (D("0.0400"), D("0.0410"), D("0.0420"), D("0.0440"), D("0.0450")))}
S, E = date(2025, 7, 3), date(2025, 7, 8)


def small(**kw):
    return loan(S, E, spread="0.01", fixings=SMALL, **kw).rows[1]


def test_simple_by_hand_weekend_and_holiday_take_the_previous_business_days_rate():
    # days Thu 3, Fri 4 (holiday), Sat 5, Sun 6 use Thu's 4.20%; Mon 7 uses 4.40%:
    # Σ (r + 1%) = 4 × 0.0420 + 0.0440 + 5 × 0.01 = 0.262; 1,000,000 × 0.262 / 360 = 727.777… → 727.78
    row = small(method="simple")
    assert unrounded(row) == P * D("0.262") / 360
    assert row.interest == D("727.78")
    assert row.rate == D("0.0524000000")  # 0.262 / 5 days
    assert row.days == 5


def test_simple_with_lookback_by_hand():
    # lookback 2: Thu 3..Sun 6 observe 2 business days before Thu = Tue 1 (4.00%); Mon 7 observes Wed 2 (4.10%)
    # Σ = 4 × 0.0400 + 0.0410 + 0.05 = 0.251; 1,000,000 × 0.251 / 360 = 697.222… → 697.22
    row = small(method="simple", lookback=2)
    assert unrounded(row) == P * D("0.251") / 360
    assert row.interest == D("697.22")


def test_compounded_by_hand():
    # runs [Thu 3, Mon 7) n=4 at 4.20% and [Mon 7, Tue 8) n=1 at 4.40%:
    # F1 = 1 + 0.042 × 4/360, F2 = F1 × (1 + 0.044/360); interest = P (F2 − 1) + P × 1% × 5/360
    # = 588.888… + 0.057037… + 138.888… = 727.8348148… → 727.83
    f1 = 1 + D("0.168") / 360
    f2 = f1 * (1 + D("0.044") / 360)
    expected = P * (f2 - 1) + P * D("0.05") / 360
    row = small(method="compounded")
    assert close(unrounded(row), expected)
    assert row.interest == D("727.83")
    assert row.rate == (expected * 360 / (P * 5)).quantize(D("1e-10"))


def test_compounded_with_observation_shift_by_hand():
    # lookback 1 with shift: observation period [Wed 2, Mon 7): runs [2,3) at 4.10%, [3,7) at 4.20%;
    # Π = (1 + 0.041/360)(1 + 0.168/360); R = (Π − 1) × 360 / 5; interest = P (R + 1%) × 5/360
    # = P (Π − 1) + P × 0.05/360 = 719.444… + 0.053148… = 719.4975925… → 719.50
    prod = (1 + D("0.041") / 360) * (1 + D("0.168") / 360)
    r = (prod - 1) * 360 / 5
    row = small(method="compounded", lookback=1, shift=True)
    assert close(unrounded(row), P * (r + D("0.01")) * 5 / 360)
    assert row.interest == D("719.50")


def test_floor_and_cap_apply_to_each_days_rate():
    # floor 4.15%, cap 4.30%: Thu 3..Sun 6 at 4.20% (inside), Mon 7 at min(4.40%, 4.30%) = 4.30%
    # simple: Σ = 4 × 0.042 + 0.043 + 0.05 = 0.261 → 725.00
    row = small(method="simple", extra=", floor: 4.15%, cap: 4.30%")
    assert unrounded(row) == P * D("0.261") / 360
    assert row.interest == D("725.00")
    # lookback 2 with the floor: 4.00% and 4.10% are floored to 4.15%: Σ = 5 × 0.0415 + 0.05 = 0.2575
    row = small(method="simple", lookback=2, extra=", floor: 4.15%")
    assert unrounded(row) == P * D("0.2575") / 360


def test_index_adjustment_is_added_to_each_days_fixing_before_the_floor():
    # 11.448bps on each day: Σ = 0.262 + 5 × 0.0011448 = 0.267724 → 743.677… → 743.68
    row = small(method="simple", extra=", index_adjustment: 11.448bps")
    assert unrounded(row) == P * D("0.267724") / 360
    assert row.interest == D("743.68")


def test_accrued_to_a_date_inside_the_period_counts_the_days_before_it():
    # compounded, to Mon 7 (excluded): run 1 only: P (F1 − 1) + P × 1% × 4/360 = 466.666… + 111.111…
    row = small(method="compounded")
    got = sum((seg.accrued(date(2025, 7, 7))[0] for seg in row.segments), D(0))
    assert got == P * D("0.168") / 360 + P * D("0.04") / 360


def test_projected_after_the_last_row_uses_the_calendar_and_the_last_rate():
    # the period runs past the file's last row (Tue 8): Wed 9 and Thu 10 are calendar business days at 4.50%
    row = loan(S, date(2025, 7, 10), method="simple", fixings=SMALL).rows[1]
    # Σ r = 4 × 0.042 + 0.044 + 0.045 + 0.045 = 0.302
    assert unrounded(row) == P * D("0.302") / 360
    assert row.projected is True
    assert small(method="simple").projected is False


# --- a mid-period prepayment ----------------------------------------------------------------
def test_prepayment_inside_a_period_is_two_constant_balance_pieces_with_one_cumulative_factor():
    # Tue 1 to Tue 8, compounded, spread 1%; 400,000 prepaid on Mon 7.
    # runs [1,2) 4.00%, [2,3) 4.10%, [3,7) 4.20%, [7,8) 4.40%; F at each run start:
    f1 = 1 + D("0.04") / 360
    f2 = f1 * (1 + D("0.041") / 360)
    f3 = f2 * (1 + D("0.168") / 360)
    f4 = f3 * (1 + D("0.044") / 360)
    # 1,000,000 for days 1..6, then 600,000 for day 7 — with the same cumulative factor:
    piece1 = P * (f3 - 1) + P * D("0.01") * 6 / 360
    piece2 = D(600_000) * (f4 - f3) + D(600_000) * D("0.01") * 1 / 360
    text = deal("""
        id: tl
        commitment: 1000000
        start_date: 2025-07-01
        maturity_date: 2025-07-08
        interest: {index: SOFR, spread: 1%, method: compounded, day_count: ACT/360}
        payments: {frequency: annual, business_day: unadjusted, calendar: q}
        participations: [{lender: f, share: 100%}]
    """)
    terms, _ = facility_terms(record(text))
    s = build_schedule(terms["tl"], SMALL, lambda f: make_calendar(f.payments.calendar, BOOK_CALS), "USD", 2,
                       prepayments=[(date(2025, 7, 7), D(400_000))])
    row = s.rows[1]
    assert close(unrounded(row), piece1 + piece2)
    assert row.interest == cents(piece1 + piece2)
    # the equivalent rate: interest × 360 / Σ balance(t) = (piece1 + piece2) × 360 / (6 × 1,000,000 + 600,000)
    assert row.rate == ((piece1 + piece2) * 360 / D(6_600_000)).quantize(D("1e-10"))


# --- term indices: index_adjustment and fixing_lag_business_days ------------------------------
TERM = {"X": RateSeries("X", "rates/X.csv", (date(2026, 1, 12), date(2026, 1, 13), date(2026, 1, 14)),
                        (D("0.03"), D("0.04"), D("0.05")))}


def term_loan(extra: str):
    return schedules(deal(f"""
        id: tl
        commitment: 1000000
        start_date: 2026-01-15
        maturity_date: 2026-04-15
        interest: {{index: X, spread: 2%, floor: 1%, day_count: ACT/360{extra}}}
        payments: {{frequency: quarterly, business_day: unadjusted, calendar: h}}
        participations: [{{lender: f, share: 100%}}]
    """), fixings=TERM, calendars={"h": ("WEEKENDS", (date(2026, 1, 14),), ())})["tl"].rows[1]


def test_term_index_adjustment_is_added_before_floor_and_cap():
    # fixing of Wed 14 (5%) + 11.448bps = 5.11448%, + 2% = 7.11448%; 1,000,000 × 0.0711448 × 90/360 = 17,786.20
    row = term_loan(", index_adjustment: 11.448bps")
    assert row.rate == D("0.0711448")
    assert row.interest == D("17786.20")


def test_fixing_lag_in_business_days_skips_the_holiday():
    # Thu 15 minus 2 business days with Wed 14 a holiday: Tue 13, then Mon 12 → 3% + 2%
    assert term_loan(", fixing_lag_business_days: 2").rate == D("0.05")
    # 2 calendar days: Tue 13 → 4% + 2%
    assert term_loan(", fixing_lag_days: 2").rate == D("0.06")


# --- diagnostics from the command line ------------------------------------------------------
OVERNIGHT = deal_with("      index: SOFR-3M\n", "      index: SOFR\n      method: compounded\n")
RATES = {"SOFR": sofr_csv(date(2024, 12, 2)), "SOFR-3M": sofr_csv()}


def validate_with(tmp_path, text: str, rates=None):
    root = write_book(tmp_path, {"acme-tl": text}, rates=rates or RATES)
    return run_validate(root)


def codes(diags) -> list[str]:
    return [d["code"] for d in diags]


def only(diags, code: str) -> dict:
    found = [d for d in diags if d["code"] == code]
    assert len(found) == 1, diags
    return found[0]


def test_the_overnight_deal_is_valid(tmp_path):
    code, diags = validate_with(tmp_path, OVERNIGHT)
    assert code == 0 and not [d for d in diags if d["severity"] == "error"], diags


@pytest.mark.parametrize("old,new,needle,code", [
    ("day_count: ACT/360", "day_count: 30/360", "day_count", "E0280"),
    ("method: compounded", "method: simple\n      observation_shift: true", "observation_shift", "E0281"),
    ("method: compounded", "method: compounded\n      lookback_days: -2", "lookback_days", "E0282"),
    ("method: compounded", "method: compounded\n      lockout_days: -1", "lockout_days", "E0282"),
    ("method: compounded", "method: compounded\n      lockout_days: 70", "lockout_days", "E0283"),
    ("method: compounded", "method: term\n      lookback_days: 5", "lookback_days", "E0284"),
    ("method: compounded", "method: compounded\n      fixing_lag_days: 2", "fixing_lag_days", "E0285"),
])
def test_bad_overnight_settings_are_positioned(tmp_path, old, new, needle, code):
    text = deal_with(old, new, OVERNIGHT)
    exit_code, diags = validate_with(tmp_path, text)
    assert exit_code == 1
    d = only(diags, code)
    line, col = pos(text, needle)
    assert (d["file"].endswith("acme-tl/deal.yaml"), d["line"]) == (True, line)
    if code != "E0282":  # E0282 points at the value, the others at the key's value too
        assert d["column"] >= col


def test_e0284_overnight_method_with_a_fixed_rate(tmp_path):
    text = deal_with("      index: SOFR\n", "      fixed_rate: 9%\n", OVERNIGHT)
    exit_code, diags = validate_with(tmp_path, text)
    assert exit_code == 1
    assert only(diags, "E0284")["line"] == pos(text, "method")[0]


def test_e0285_both_fixing_lags_on_a_term_index(tmp_path):
    text = deal_with("      spread: 575bps\n", "      spread: 575bps\n      fixing_lag_days: 2\n"
                     "      fixing_lag_business_days: 2\n")
    exit_code, diags = validate_with(tmp_path, text)
    assert exit_code == 1
    assert only(diags, "E0285")["line"] == pos(text, "fixing_lag_business_days")[0]


def test_e0307_a_lookback_reaching_before_the_files_first_row(tmp_path):
    # the deal starts Wed 2025-01-15; the file starts Mon 2025-01-13: 5 business days back is before it
    text = deal_with("method: compounded", "method: compounded\n      lookback_days: 5", OVERNIGHT)
    exit_code, diags = validate_with(tmp_path, text, {"SOFR": sofr_csv(date(2025, 1, 13)), "SOFR-3M": sofr_csv()})
    assert exit_code == 1
    d = only(diags, "E0307")
    assert d["line"] == pos(text, "SOFR\n")[0]
    assert "rates/SOFR.csv" in d["hint"]


def test_e0308_a_gap_in_the_overnight_file_is_a_warning_naming_it(tmp_path):
    rows = sofr_csv(date(2024, 12, 2)).splitlines()
    gone = [r for r in rows if not r.startswith(("2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06"))]
    text = "\n".join(gone) + "\n"
    exit_code, diags = validate_with(tmp_path, OVERNIGHT, {"SOFR": text, "SOFR-3M": sofr_csv()})
    assert exit_code == 0
    d = only(diags, "E0308")
    assert d["severity"] == "warning"
    assert "2025-02-28" in d["message"] and "2025-03-07" in d["message"]
    assert d["line"] == next(i for i, r in enumerate(gone, start=1) if r.startswith("2025-03-07"))
    assert d["file"].endswith("rates/SOFR.csv")


def test_e0309_a_weekend_row_in_an_overnight_file_is_a_warning(tmp_path):
    text = sofr_csv(date(2024, 12, 2)).replace("2025-03-07,", "2025-03-07,0.043\n2025-03-08,", 1)
    exit_code, diags = validate_with(tmp_path, OVERNIGHT, {"SOFR": text, "SOFR-3M": sofr_csv()})
    assert exit_code == 0
    d = only(diags, "E0309")
    assert d["line"] == text.splitlines().index(next(x for x in text.splitlines() if x.startswith("2025-03-08"))) + 1


def test_a_rate_shock_shifts_every_daily_fixing():
    # +100bps on each day of the simple case: Σ = 0.262 + 5 × 0.01 = 0.312 → 866.666… → 866.67
    text = deal(f"""
        id: tl
        commitment: 1000000
        start_date: {S}
        maturity_date: {E}
        interest: {{index: SOFR, spread: 1%, method: simple, day_count: ACT/360}}
        payments: {{frequency: annual, business_day: unadjusted, calendar: q}}
        participations: [{{lender: f, share: 100%}}]
    """)
    terms, _ = facility_terms(record(text))
    s = build_schedule(terms["tl"], SMALL, lambda f: make_calendar(f.payments.calendar, BOOK_CALS), "USD", 2,
                       rate_shift=D("0.01"))
    assert unrounded(s.rows[1]) == P * D("0.312") / 360
    assert s.rows[1].interest == D("866.67")


def test_show_states_the_method_and_its_settings_in_words():
    from loanctl.model.documents import Interest
    from loanctl.reports.terms import interest_method
    it = Interest(index="SONIA", method="compounded", lookback_days=5, spread="5%", day_count="ACT/365F")
    assert interest_method(it) == "SONIA compounded in arrears, 5-day lookback, no observation shift, ACT/365F"
    it = Interest(index="SOFR", method="simple", lookback_days=2, lockout_days=2)
    assert interest_method(it) == "SOFR daily simple in arrears, 2-day lookback, 2-day lockout, ACT/360"
    it = Interest(index="SOFR-3M", index_adjustment="11.448bps", fixing_lag_business_days=2)
    assert interest_method(it) == ("SOFR-3M + 0.11448% adjustment term rate, fixing 2 business days before the "
                                   "period, ACT/360")


def test_the_demo_book_overnight_deals_schedule():
    # the demo's Larkspur revolver (daily simple SOFR, 5-day lookback) and Harrow loan
    # (compounded SONIA, 5-day lookback, ACT/365F) schedule without problems
    from pathlib import Path

    from loanctl.engine.deal import schedule_deal
    from loanctl.source.loader import load_book
    root = Path(__file__).resolve().parents[2] / "deals"
    loaded, _ = load_book(root, deal_ids=["larkspur-rcf-2026", "harrow-tl-2026"])
    for deal_id in ("larkspur-rcf-2026", "harrow-tl-2026"):
        sched, diags = schedule_deal(loaded, deal_id)
        assert sched is not None, diags
        first = sched.facilities[0].rows[1]
        assert first.rate is not None and first.rate.as_tuple().exponent == -10


# --- the observed rates a notice lists (engine.overnight.observations) ----------------------------
def observed(row) -> list[tuple]:
    (daily,) = {id(sg.daily): sg.daily for sg in row.segments if sg.daily is not None}.values()
    return [(o.accrual_date, o.observation_date, o.fixing, o.rate, o.days, o.projected) for o in daily.observations()]


def test_observations_simple_with_lookback_over_a_weekend_and_a_holiday():
    # Thu 3 to Tue 8, lookback 2. Fri 4 is a holiday and 5-6 a weekend, so b(t) = Thu 3 for
    # Thu 3..Sun 6: one run of 4 days observing 2 index business days before Thu 3 = Tue 1 (4.00%);
    # Mon 7: 1 day observing 2 business days before Mon 7 (Thu 3, then Wed 2) = Wed 2 (4.10%).
    row = small(method="simple", lookback=2)
    assert observed(row) == [(date(2025, 7, 3), date(2025, 7, 1), D("0.0400"), D("0.0400"), 4, False),
                             (date(2025, 7, 7), date(2025, 7, 2), D("0.0410"), D("0.0410"), 1, False)]
    # the listed rates give the schedule's interest: Σ (r + 1%) × days = 4 × 0.05 + 0.051 = 0.251
    assert unrounded(row) == P * D("0.251") / 360


def test_observations_show_the_floored_rate_beside_the_fixing():
    # floor 4.05%: Tue 1's 4.00% is observed as 4.05%; Wed 2's 4.10% is above the floor
    row = small(method="simple", lookback=2, extra=", floor: 4.05%")
    assert [(o[2], o[3]) for o in observed(row)] == [(D("0.0400"), D("0.0405")), (D("0.0410"), D("0.0410"))]


def test_observations_compounded_with_lockout_repeat_the_cut_off_rate():
    # Wed 2 to Tue 8, lookback 1, lockout 1: index business days in the period Wed 2, Thu 3, Mon 7;
    # Wed 2 observes Tue 1 (4.00%), Thu 3 observes Wed 2 (4.10%); Mon 7 is locked out and
    # repeats Thu 3's observation (Wed 2, 4.10%). Runs: 1, 4 and 1 days.
    row = loan(date(2025, 7, 2), E, method="compounded", lookback=1, lockout=1, spread="0.01", fixings=SMALL).rows[1]
    assert observed(row) == [(date(2025, 7, 2), date(2025, 7, 1), D("0.0400"), D("0.0400"), 1, False),
                             (date(2025, 7, 3), date(2025, 7, 2), D("0.0410"), D("0.0410"), 4, False),
                             (date(2025, 7, 7), date(2025, 7, 2), D("0.0410"), D("0.0410"), 1, False)]
    # compounding the listed rates by hand gives the schedule's interest:
    # F = (1 + 0.04/360)(1 + 0.041 × 4/360)(1 + 0.041/360); P (F − 1) + P × 1% × 6/360
    f = (1 + D("0.04") / 360) * (1 + D("0.164") / 360) * (1 + D("0.041") / 360)
    assert close(unrounded(row), P * (f - 1) + P * D("0.06") / 360)


def test_observations_with_observation_shift_are_weighted_by_the_observation_period():
    # Thu 3 to Tue 8, lookback 1 with shift: observation period [Wed 2, Mon 7): Wed 2 (4.10%, 1 day)
    # for the accrual from Thu 3, and Thu 3 (4.20%, 4 days: Thu 3 to Mon 7) for the accrual from
    # Mon 7 (Thu 3 moved one index business day on)
    row = small(method="compounded", lookback=1, shift=True)
    assert observed(row) == [(date(2025, 7, 3), date(2025, 7, 2), D("0.0410"), D("0.0410"), 1, False),
                             (date(2025, 7, 7), date(2025, 7, 3), D("0.0420"), D("0.0420"), 4, False)]


def test_observations_after_the_files_last_row_are_projected_at_the_last_rate():
    # Thu 3 to Thu 10, no lookback: Thu 3 (4 days), Mon 7, Tue 8 from the file; Wed 9 is a business
    # day of the facility's calendar after the last row (Tue 8): the last rate, 4.50%, projected
    row = loan(S, date(2025, 7, 10), method="simple", fixings=SMALL).rows[1]
    assert observed(row) == [(date(2025, 7, 3), date(2025, 7, 3), D("0.0420"), D("0.0420"), 4, False),
                             (date(2025, 7, 7), date(2025, 7, 7), D("0.0440"), D("0.0440"), 1, False),
                             (date(2025, 7, 8), date(2025, 7, 8), D("0.0450"), D("0.0450"), 1, False),
                             (date(2025, 7, 9), date(2025, 7, 9), D("0.0450"), D("0.0450"), 1, True)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BDAYS_2025) - 80), st.integers(5, 70), st.integers(0, 5), st.integers(0, 3),
       st.sampled_from(["simple", "compounded", "shift"]))
def test_observations_reproduce_the_periods_interest(i, length, lookback, lockout, method):
    # the listed observed rates, combined by the SPEC §3.2 formula, give the schedule's unrounded
    # interest: simple Σ (r + s) n / B; compounded P (Π(1 + r n / B) − 1) + P s D / B; with shift
    # R = (Π − 1) B / D_obs over the listed (observation-period) days, P (R + s) D / B
    start, end = BDAYS_2025[i], BDAYS_2025[i + length]
    shift = method == "shift"
    row = loan(start, end, method="simple" if method == "simple" else "compounded", lookback=lookback,
               lockout=lockout, shift=shift, spread="0.0125").rows[1]
    obs = observed(row)
    days = (end - start).days
    s = D("0.0125")
    if method == "simple":
        assert sum(n for *_, n, _ in obs) == days
        assert unrounded(row) == P * sum((r + s) * n for _, _, _, r, n, _ in obs) / 360
        return
    prod = D(1)
    for _, _, _, r, n, _ in obs:
        prod *= 1 + r * n / 360
    if shift:
        d_obs = sum(n for *_, n, _ in obs)
        expected = P * ((prod - 1) * 360 / d_obs + s) * days / 360
    else:
        assert sum(n for *_, n, _ in obs) == days
        expected = P * (prod - 1) + P * s * days / 360
    assert abs(unrounded(row) - expected) <= expected * D("1e-30")
    # each observation date's fixing is the file's row of that date
    fixings = dict(FIXINGS)
    assert all(fixings[od] == fx for _, od, fx, _, _, _ in obs)
