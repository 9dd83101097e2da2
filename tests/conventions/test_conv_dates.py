"""Unadjusted payment dates: month arithmetic, the end-of-month rule, stubs, and
QuantLib's forward schedule generation as an independent reference."""

import calendar
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loanctl.conventions.dates import (
    PERIOD_MONTHS,
    add_months,
    default_first_payment,
    is_month_end,
    unadjusted_payment_dates,
)

ql = pytest.importorskip("QuantLib")


def test_period_months():
    assert PERIOD_MONTHS == {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2024, 2, 29), True),
        (date(2024, 2, 28), False),
        (date(2026, 2, 28), True),
        (date(2026, 4, 30), True),
        (date(2026, 12, 31), True),
        (date(2026, 1, 30), False),
    ],
)
def test_is_month_end(d, expected):
    assert is_month_end(d) is expected


def test_add_months_clamps_the_day_and_crosses_years():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 15), -13) == date(2024, 12, 15)
    assert add_months(date(2026, 1, 15), 0) == date(2026, 1, 15)


def test_add_months_with_month_end_always_gives_the_month_end():
    assert add_months(date(2026, 2, 28), 1, month_end=True) == date(2026, 3, 31)
    assert add_months(date(2026, 2, 28), 1) == date(2026, 3, 28)
    assert add_months(date(2026, 4, 30), 10, month_end=True) == date(2027, 2, 28)


def test_default_first_payment_is_one_period_after_start():
    assert default_first_payment(date(2026, 1, 15), 3) == date(2026, 4, 15)
    assert default_first_payment(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert default_first_payment(date(2026, 1, 30), 1) == date(2026, 2, 28)  # clamped
    assert default_first_payment(date(2026, 1, 30), 2) == date(2026, 3, 30)  # not a month end
    # A start on a month end keeps the month end, even 28 February.
    assert default_first_payment(date(2026, 2, 28), 1) == date(2026, 3, 31)
    assert default_first_payment(date(2026, 6, 30), 6) == date(2026, 12, 31)
    assert default_first_payment(date(2024, 2, 29), 12) == date(2025, 2, 28)


def test_month_end_first_payment_keeps_month_ends():
    dates = unadjusted_payment_dates(date(2026, 1, 31), date(2026, 8, 31), 1)
    assert dates == [
        date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30),
        date(2026, 5, 31), date(2026, 6, 30), date(2026, 7, 31), date(2026, 8, 31),
    ]


def test_28_february_is_a_month_end_so_later_dates_are_month_ends():
    dates = unadjusted_payment_dates(date(2026, 2, 28), date(2026, 6, 30), 1)
    assert dates == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30),
                     date(2026, 5, 31), date(2026, 6, 30)]


def test_day_is_clamped_without_the_end_of_month_rule():
    dates = unadjusted_payment_dates(date(2026, 1, 30), date(2026, 5, 30), 1)
    assert dates == [date(2026, 1, 30), date(2026, 2, 28), date(2026, 3, 30),
                     date(2026, 4, 30), date(2026, 5, 30)]


def test_dates_are_computed_from_the_first_payment_so_do_not_drift():
    # From the previous date, 29 Feb 2024 + 12 months would stick on the 28th; from F the
    # 29th returns every leap year. F = 29 Jan 2024 avoids the month-end rule.
    dates = unadjusted_payment_dates(date(2024, 1, 29), date(2024, 6, 1), 1)
    assert dates == [date(2024, 1, 29), date(2024, 2, 29), date(2024, 3, 29),
                     date(2024, 4, 29), date(2024, 5, 29), date(2024, 6, 1)]
    dates = unadjusted_payment_dates(date(2025, 11, 29), date(2026, 5, 29), 3)
    assert dates == [date(2025, 11, 29), date(2026, 2, 28), date(2026, 5, 29)]


def test_short_final_stub_ends_on_maturity():
    dates = unadjusted_payment_dates(date(2026, 4, 15), date(2026, 12, 1), 3)
    assert dates == [date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15), date(2026, 12, 1)]


def test_maturity_on_a_regular_date_is_not_repeated():
    dates = unadjusted_payment_dates(date(2026, 4, 15), date(2031, 1, 15), 3)
    assert len(dates) == 20
    assert dates[:3] == [date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 15)]
    assert dates[-2:] == [date(2030, 10, 15), date(2031, 1, 15)]


def test_first_payment_on_or_after_maturity_gives_only_maturity():
    assert unadjusted_payment_dates(date(2027, 1, 15), date(2026, 12, 31), 3) == [date(2026, 12, 31)]
    assert unadjusted_payment_dates(date(2026, 12, 31), date(2026, 12, 31), 3) == [date(2026, 12, 31)]


def test_non_positive_period_is_a_value_error():
    with pytest.raises(ValueError):
        unadjusted_payment_dates(date(2026, 1, 15), date(2027, 1, 15), 0)


# ---------------------------------------------------------------- properties

first_dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))
months = st.sampled_from(sorted(PERIOD_MONTHS.values()))


@st.composite
def schedules(draw):
    first = draw(first_dates)
    if draw(st.booleans()):  # lean on the 28th-31st
        last = calendar.monthrange(first.year, first.month)[1]
        first = first.replace(day=draw(st.integers(min_value=28, max_value=last)))
    maturity = draw(st.dates(min_value=date(1990, 1, 1), max_value=date(2075, 12, 31)))
    return first, maturity, draw(months)


@settings(max_examples=250, deadline=None)
@given(schedules())
def test_payment_dates_strictly_increase_and_end_on_maturity(schedule):
    first, maturity, period = schedule
    dates = unadjusted_payment_dates(first, maturity, period)
    assert dates[-1] == maturity
    assert all(a < b for a, b in zip(dates, dates[1:]))
    if first < maturity:
        assert dates[0] == first
    for d in dates[:-1]:
        if is_month_end(first):
            assert is_month_end(d)
        else:
            assert d.day == min(first.day, calendar.monthrange(d.year, d.month)[1])


def _ql_date(d: date):
    return ql.Date(d.day, d.month, d.year)


@settings(max_examples=300, deadline=None)
@given(schedules())
def test_payment_dates_match_quantlib_forward_schedule(schedule):
    first, maturity, period = schedule
    if first >= maturity:
        return
    reference = ql.Schedule(
        _ql_date(first), _ql_date(maturity), ql.Period(period, ql.Months), ql.NullCalendar(),
        ql.Unadjusted, ql.Unadjusted, ql.DateGeneration.Forward, is_month_end(first),
    )
    expected = [date(d.year(), d.month(), d.dayOfMonth()) for d in reference]
    assert unadjusted_payment_dates(first, maturity, period) == expected
