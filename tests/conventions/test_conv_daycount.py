"""Day counts: hand-worked ISDA examples, exact rationals, and QuantLib as a reference."""

import calendar
import random
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loanctl.conventions.daycount import DAY_COUNTS, day_count_days, year_fraction

ql = pytest.importorskip("QuantLib")

ACTUAL = ("ACT/360", "ACT/365F", "ACT/ACT")


def assert_close_to_rational(value: Decimal, expected: Fraction) -> None:
    # Rounded once to 50 significant digits: relative error at most 5e-50.
    assert abs(Fraction(value) - expected) <= abs(expected) * Fraction(5, 10**50)


# ---------------------------------------------------------------- worked examples


def test_act_360_quarter_of_90_days_is_exactly_a_quarter():
    assert year_fraction("ACT/360", date(2026, 1, 15), date(2026, 4, 15)) == Decimal("0.25")
    assert day_count_days("ACT/360", date(2026, 1, 15), date(2026, 4, 15)) == 90


def test_act_365f_divides_actual_days_by_365_even_in_a_leap_year():
    # 2024-01-01 to 2025-01-01 is 366 actual days.
    yf = year_fraction("ACT/365F", date(2024, 1, 1), date(2025, 1, 1))
    assert_close_to_rational(yf, Fraction(366, 365))
    assert str(yf).startswith("1.0027397260273972602739726027")


def test_division_is_carried_to_50_significant_digits():
    yf = year_fraction("ACT/360", date(2026, 1, 1), date(2026, 1, 2))  # 1/360
    assert len(yf.as_tuple().digits) == 50
    assert str(yf) == "0.0027777777777777777777777777777777777777777777777778"


@pytest.mark.parametrize(
    ("start", "end", "bond_days", "euro_days"),
    [
        # D1 = 31 -> 30 in both; D2 = 28 stays: 30 + (28 - 30) = 28.
        (date(2026, 1, 31), date(2026, 2, 28), 28, 28),
        # D1 = 30 and D2 = 31: both bases cut D2 to 30: 60.
        (date(2026, 1, 30), date(2026, 3, 31), 60, 60),
        # D1 = 15 < 30: bond basis keeps D2 = 31 (76), Eurobond cuts it (75).
        (date(2026, 1, 15), date(2026, 3, 31), 76, 75),
        # D1 = 28 February (a month end, but not the 31st): 180 + 3 vs 180 + 2.
        (date(2026, 2, 28), date(2026, 8, 31), 183, 182),
        # D1 = 31 and D2 = 31: both 30 -> exactly one year.
        (date(2025, 12, 31), date(2026, 12, 31), 360, 360),
        # Whole months from the 15th: 30 days a month whatever the calendar says.
        (date(2026, 1, 15), date(2026, 4, 15), 90, 90),
    ],
)
def test_thirty_360_bond_and_eurobond_day_rules(start, end, bond_days, euro_days):
    assert day_count_days("30/360", start, end) == bond_days
    assert day_count_days("30E/360", start, end) == euro_days
    assert_close_to_rational(year_fraction("30/360", start, end), Fraction(bond_days, 360))
    assert_close_to_rational(year_fraction("30E/360", start, end), Fraction(euro_days, 360))


def test_act_act_isda_example_from_the_isda_paper():
    # ISDA "EMU and market conventions": 1 Nov 2003 - 1 May 2004 = 61/365 + 121/366.
    yf = year_fraction("ACT/ACT", date(2003, 11, 1), date(2004, 5, 1))
    assert_close_to_rational(yf, Fraction(61, 365) + Fraction(121, 366))
    assert str(yf).startswith("0.497724380567")


def test_act_act_isda_over_several_years():
    # 2025-11-15 -> 2026-01-01: 47 days (non-leap); 2026 and 2027 whole (non-leap);
    # 2028-01-01 -> 2028-02-15: 45 days of a leap year.
    yf = year_fraction("ACT/ACT", date(2025, 11, 15), date(2028, 2, 15))
    assert_close_to_rational(yf, Fraction(45, 366) + Fraction(47 + 365 + 365, 365))
    assert day_count_days("ACT/ACT", date(2025, 11, 15), date(2028, 2, 15)) == 47 + 730 + 45


def test_act_act_whole_leap_and_plain_years_are_exactly_one():
    assert year_fraction("ACT/ACT", date(2024, 1, 1), date(2025, 1, 1)) == 1
    assert year_fraction("ACT/ACT", date(2025, 1, 1), date(2026, 1, 1)) == 1
    assert year_fraction("ACT/ACT", date(2023, 1, 1), date(2027, 1, 1)) == 4


@pytest.mark.parametrize("day_count", DAY_COUNTS)
def test_an_empty_period_is_zero(day_count):
    assert year_fraction(day_count, date(2026, 3, 31), date(2026, 3, 31)) == 0
    assert day_count_days(day_count, date(2026, 3, 31), date(2026, 3, 31)) == 0


@pytest.mark.parametrize("bad", ["ACT/365", "act/360", "30/360 ISDA", "", None])
def test_unknown_day_count_is_a_value_error(bad):
    with pytest.raises(ValueError, match="unknown day count"):
        year_fraction(bad, date(2026, 1, 1), date(2026, 2, 1))
    with pytest.raises(ValueError, match="unknown day count"):
        day_count_days(bad, date(2026, 1, 1), date(2026, 2, 1))


# ---------------------------------------------------------------- QuantLib reference

QL_DAY_COUNTERS = {
    "ACT/360": ql.Actual360(),
    "ACT/365F": ql.Actual365Fixed(),
    "30/360": ql.Thirty360(ql.Thirty360.BondBasis),
    "30E/360": ql.Thirty360(ql.Thirty360.EurobondBasis),
    "ACT/ACT": ql.ActualActual(ql.ActualActual.ISDA),
}


def _ql_date(d: date):
    return ql.Date(d.day, d.month, d.year)


def _random_date(rng: random.Random) -> date:
    d = date(1990, 1, 1) + timedelta(days=rng.randrange(70 * 365))
    if rng.random() < 0.4:  # lean on the 28th-31st, where the 30/360 rules bite
        d = date(d.year, d.month, 1) + timedelta(days=27 + rng.randrange(4))
        while d.day < 28:
            d -= timedelta(days=1)
    return d


def _date_pairs(n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        start = _random_date(rng)
        if rng.random() < 0.9:
            end = start + timedelta(days=rng.randrange(0, 12 * 366))
        else:  # any order, so some periods run backwards
            end = _random_date(rng)
        if rng.random() < 0.3:  # end on a month end too
            end = date(end.year, end.month, 1) + timedelta(days=31)
            end = date(end.year, end.month, 1) - timedelta(days=1)
        yield start, end


@pytest.mark.parametrize(("day_count", "seed"), [(dc, i) for i, dc in enumerate(DAY_COUNTS)])
def test_year_fraction_matches_quantlib_on_thousands_of_dates(day_count, seed):
    counter = QL_DAY_COUNTERS[day_count]
    tolerance = Decimal("1e-13")  # QuantLib works in doubles
    for start, end in _date_pairs(2000, seed=seed):
        ours = year_fraction(day_count, start, end)
        ref = Decimal(counter.yearFraction(_ql_date(start), _ql_date(end)))
        assert abs(ours - ref) < tolerance, (day_count, start, end, ours, ref)
        assert day_count_days(day_count, start, end) == counter.dayCount(
            _ql_date(start), _ql_date(end)
        ), (day_count, start, end)


# ---------------------------------------------------------------- properties

dates = st.dates(min_value=date(1950, 1, 1), max_value=date(2100, 12, 31))


@settings(max_examples=300, deadline=None)
@given(dates, dates, dates, st.sampled_from(ACTUAL))
def test_actual_year_fractions_add_up_over_adjacent_periods(a, b, c, day_count):
    a, b, c = sorted((a, b, c))
    whole = Fraction(year_fraction(day_count, a, c))
    parts = Fraction(year_fraction(day_count, a, b)) + Fraction(year_fraction(day_count, b, c))
    assert abs(whole - parts) < Fraction(1, 10**45)


@settings(max_examples=300, deadline=None)
@given(dates, dates, st.sampled_from(DAY_COUNTS))
def test_year_fraction_is_the_day_count_over_its_basis(a, b, day_count):
    start, end = sorted((a, b))
    days = day_count_days(day_count, start, end)
    yf = year_fraction(day_count, start, end)
    if day_count == "ACT/365F":
        assert_close_to_rational(yf, Fraction(days, 365))
    elif day_count != "ACT/ACT":
        assert_close_to_rational(yf, Fraction(days, 360))
    else:
        # ISDA by its definition: each calendar year's share of the days over its length.
        expected = Fraction(0)
        for year in range(start.year, end.year + 1):
            lo, hi = max(start, date(year, 1, 1)), min(end, date(year + 1, 1, 1))
            expected += Fraction((hi - lo).days, 366 if calendar.isleap(year) else 365)
        assert days == (end - start).days
        assert_close_to_rational(yf, expected)
