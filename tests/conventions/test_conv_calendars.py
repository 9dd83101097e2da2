"""Calendars and business-day conventions: hand-picked 2026 dates, the holidays package
itself, and QuantLib's calendars as an independent reference."""

from datetime import date, timedelta

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loanctl.conventions.calendars import (
    BUSINESS_DAY_CONVENTIONS,
    Calendar,
    adjust,
    calendar_error,
    make_calendar,
)

ql = pytest.importorskip("QuantLib")

BOOK = {"nyc-bank": ("US", [date(2026, 12, 24)], [date(2026, 11, 26)])}


# ---------------------------------------------------------------- weekends


def test_weekends_are_never_business_days():
    cal = make_calendar("WEEKENDS")
    assert cal.name == "WEEKENDS"
    assert not cal.is_business_day(date(2026, 5, 30))  # Saturday
    assert not cal.is_business_day(date(2026, 5, 31))  # Sunday
    assert cal.is_business_day(date(2026, 5, 29))  # Friday
    assert cal.is_business_day(date(2026, 12, 25))  # Christmas: not a holiday here


def test_a_holiday_removed_from_a_book_calendar_on_a_weekend_is_still_closed():
    cal = make_calendar("x", {"x": ("US", [], [date(2026, 7, 4)])})  # 4 July is a Saturday
    assert not cal.is_business_day(date(2026, 7, 4))


def _ql_date(d: date):
    return ql.Date(d.day, d.month, d.year)


def _py_date(d) -> date:
    return date(d.year(), d.month(), d.dayOfMonth())


QL_CONVENTIONS = {
    "following": ql.Following,
    "modified_following": ql.ModifiedFollowing,
    "preceding": ql.Preceding,
    "unadjusted": ql.Unadjusted,
}


@pytest.mark.parametrize("convention", BUSINESS_DAY_CONVENTIONS)
def test_weekend_adjustment_matches_quantlib_weekends_only(convention):
    cal, ref = make_calendar("WEEKENDS"), ql.WeekendsOnly()
    d = date(2024, 1, 1)
    while d < date(2028, 1, 1):
        expected = _py_date(ref.adjust(_ql_date(d), QL_CONVENTIONS[convention]))
        assert adjust(d, convention, cal) == expected, (d, convention)
        d += timedelta(days=1)


# ---------------------------------------------------------------- US, GB, NYSE in 2026


def test_us_independence_day_on_a_saturday_is_observed_on_friday_3_july():
    us = make_calendar("US")
    assert date(2026, 7, 4).weekday() == 5
    assert not us.is_business_day(date(2026, 7, 3))
    assert adjust(date(2026, 7, 3), "following", us) == date(2026, 7, 6)
    assert adjust(date(2026, 7, 3), "preceding", us) == date(2026, 7, 2)
    assert adjust(date(2026, 7, 3), "modified_following", us) == date(2026, 7, 6)


def test_us_thanksgiving_rolls_to_friday():
    us = make_calendar("US")
    assert not us.is_business_day(date(2026, 11, 26))
    assert adjust(date(2026, 11, 26), "following", us) == date(2026, 11, 27)
    assert adjust(date(2026, 11, 26), "preceding", us) == date(2026, 11, 25)


@pytest.mark.parametrize("day", [date(2026, 5, 30), date(2026, 5, 31)])
def test_modified_following_rolls_back_at_month_end(day):
    us = make_calendar("US")
    assert adjust(day, "following", us) == date(2026, 6, 1)
    assert adjust(day, "modified_following", us) == date(2026, 5, 29)


def test_modified_following_rolls_back_past_a_month_end_holiday():
    # 2026-08-29/30 is a weekend and 31 August the English late summer bank holiday.
    eng = make_calendar("GB-ENG")
    assert adjust(date(2026, 8, 29), "modified_following", eng) == date(2026, 8, 28)
    assert adjust(date(2026, 8, 31), "following", eng) == date(2026, 9, 1)
    assert adjust(date(2026, 8, 31), "modified_following", eng) == date(2026, 8, 28)


def test_unadjusted_keeps_the_date():
    assert adjust(date(2026, 7, 4), "unadjusted", make_calendar("US")) == date(2026, 7, 4)


def test_business_day_is_kept_by_every_convention():
    us = make_calendar("US")
    for convention in BUSINESS_DAY_CONVENTIONS:
        assert adjust(date(2026, 4, 15), convention, us) == date(2026, 4, 15)


def test_gb_england_closes_on_easter_monday_but_the_us_does_not():
    eng, us = make_calendar("GB-ENG"), make_calendar("US")
    assert not eng.is_business_day(date(2026, 4, 6))
    assert not eng.is_business_day(date(2026, 4, 3))  # Good Friday
    assert adjust(date(2026, 4, 3), "following", eng) == date(2026, 4, 7)
    assert us.is_business_day(date(2026, 4, 6))


def test_nyse_closes_on_good_friday_but_the_us_federal_calendar_does_not():
    nyse, us = make_calendar("NYSE"), make_calendar("US")
    assert not nyse.is_business_day(date(2026, 4, 3))
    assert nyse.is_business_day(date(2026, 4, 6))
    assert us.is_business_day(date(2026, 4, 3))
    assert adjust(date(2026, 4, 3), "following", nyse) == date(2026, 4, 6)
    # Columbus Day is a federal holiday, not an exchange one.
    assert not us.is_business_day(date(2026, 10, 12))
    assert nyse.is_business_day(date(2026, 10, 12))


def test_us_new_york_subdivision_adds_state_holidays():
    ny = make_calendar("US-NY")
    assert not ny.is_business_day(date(2026, 2, 12))  # Lincoln's Birthday (NY)
    assert make_calendar("US").is_business_day(date(2026, 2, 12))


@pytest.mark.parametrize("spec", ["US", "GB", "GB-ENG", "US-NY"])
def test_country_calendars_are_the_holidays_package_weekdays(spec):
    code, _, subdiv = spec.partition("-")
    expected = holidays.country_holidays(code, subdiv=subdiv or None, years=2026)
    cal = make_calendar(spec)
    d = date(2026, 1, 1)
    while d.year == 2026:
        assert cal.is_business_day(d) == (d.weekday() < 5 and d not in expected), d
        d += timedelta(days=1)


def test_observed_new_year_in_the_previous_year_is_a_holiday():
    # 1 January 2022 was a Saturday; the US observed it on Friday 31 December 2021.
    assert not make_calendar("US").is_business_day(date(2021, 12, 31))


# ---------------------------------------------------------------- joined and book calendars


def test_joined_calendar_closes_on_the_holidays_of_every_part():
    both = make_calendar("US+GB")
    assert both.name == "US+GB"
    assert not both.is_business_day(date(2026, 7, 3))  # US only
    assert not both.is_business_day(date(2026, 12, 28))  # GB Boxing Day observed
    assert not both.is_business_day(date(2026, 11, 26))  # US Thanksgiving
    assert both.is_business_day(date(2026, 4, 6))  # Easter Monday is not UK-wide
    assert both.holidays(2026) == make_calendar("US").holidays(2026) | make_calendar("GB").holidays(2026)
    eng = make_calendar("US+GB-ENG")
    assert not eng.is_business_day(date(2026, 4, 6))
    assert not eng.is_business_day(date(2026, 9, 7))  # US Labor Day
    assert adjust(date(2026, 8, 29), "following", eng) == date(2026, 9, 1)


def test_joined_spec_tolerates_spaces_around_plus():
    assert make_calendar("US + GB-ENG").holidays(2026) == make_calendar("US+GB-ENG").holidays(2026)


def test_book_calendar_adds_and_removes_holidays_on_its_base():
    bank = make_calendar("nyc-bank", BOOK)
    assert bank.name == "nyc-bank"
    assert not bank.is_business_day(date(2026, 12, 24))  # added
    assert bank.is_business_day(date(2026, 11, 26))  # Thanksgiving removed
    assert not bank.is_business_day(date(2026, 7, 3))  # the base's holiday stays
    assert bank.is_business_day(date(2025, 12, 24))  # added for 2026 only
    assert adjust(date(2026, 12, 24), "following", bank) == date(2026, 12, 28)


def test_book_calendar_joins_with_market_codes():
    cal = make_calendar("nyc-bank+GB-ENG", BOOK)
    assert not cal.is_business_day(date(2026, 12, 24))
    assert not cal.is_business_day(date(2026, 4, 6))
    assert cal.is_business_day(date(2026, 11, 26))


def test_book_calendar_may_be_based_on_another_and_shadows_codes():
    book = {**BOOK, "ldn-nyc": ("nyc-bank+GB-ENG", [], []), "US": ("WEEKENDS", [], [])}
    cal = make_calendar("ldn-nyc", book)
    assert not cal.is_business_day(date(2026, 12, 24))
    assert not cal.is_business_day(date(2026, 4, 6))
    assert make_calendar("US", book).is_business_day(date(2026, 7, 3))


def test_book_calendar_based_on_itself_is_an_error():
    with pytest.raises(ValueError, match="based on itself"):
        make_calendar("a", {"a": ("b", [], []), "b": ("a+US", [], [])})


def test_book_calendar_with_an_unknown_base_names_the_book_calendar():
    with pytest.raises(ValueError, match=r"book calendar 'a': unknown calendar 'USS'"):
        make_calendar("a", {"a": ("USS", [], [])})


def test_calendars_are_cached():
    assert make_calendar("US+GB-ENG") is make_calendar("US+GB-ENG")
    copy = {"nyc-bank": ("US", (date(2026, 12, 24),), (date(2026, 11, 26),))}
    assert make_calendar("nyc-bank", BOOK) is make_calendar("nyc-bank", copy)
    assert isinstance(make_calendar("US"), Calendar)


def test_a_calendar_closed_every_day_fails_rather_than_looping():
    every_day = [date(2026, 1, 1) + timedelta(days=i) for i in range(800)]
    cal = make_calendar("closed", {"closed": ("WEEKENDS", every_day, [])})
    with pytest.raises(ValueError, match="no business day"):
        adjust(date(2026, 6, 1), "following", cal)


def test_unknown_business_day_convention_is_a_value_error():
    with pytest.raises(ValueError, match="unknown business-day convention 'modified'"):
        adjust(date(2026, 1, 1), "modified", make_calendar("US"))


# ---------------------------------------------------------------- validation messages


@pytest.mark.parametrize(
    "spec",
    ["WEEKENDS", "US", "GB", "GB-ENG", "US-NY", "NYSE", "XNYS", "ECB", "TAR", "TARGET",
     "ENX-XPAR", "USA", "US+GB", "nyc-bank", "nyc-bank+NYSE", "WEEKENDS+US"],
)
def test_valid_calendar_specs_have_no_error(spec):
    assert calendar_error(spec, {"nyc-bank"}) is None
    assert make_calendar(spec, BOOK).name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("GB-ENGG", "unknown subdivision 'ENGG' of 'GB'; did you mean 'GB-ENG'?"),
        ("us", "unknown calendar 'us'; did you mean 'US'?"),
        ("NYSEE", "unknown calendar 'NYSEE'; did you mean 'NYSE'?"),
        ("US+GB-ENGG", "unknown subdivision 'ENGG' of 'GB' in 'US+GB-ENGG'; did you mean 'GB-ENG'?"),
        ("nyc", "unknown calendar 'nyc'; did you mean 'nyc-bank'?"),
        ("nyc-bnak", "unknown calendar 'nyc-bnak'; did you mean 'nyc-bank'?"),
        ("US+", "calendar 'US+' has an empty part; join calendars like 'US+GB'"),
        ("US-", "calendar 'US-' names no subdivision after '-'; write e.g. 'GB-ENG'"),
    ],
)
def test_calendar_error_names_the_unknown_part_and_suggests(spec, message):
    assert calendar_error(spec, ["nyc-bank"]) == message
    with pytest.raises(ValueError) as raised:
        make_calendar(spec, BOOK)
    assert str(raised.value) == message


def test_calendar_error_without_a_close_match_has_no_suggestion():
    assert calendar_error("QQQQQQQQQQ") == "unknown calendar 'QQQQQQQQQQ'"


def test_empty_calendar_spec_is_an_error():
    assert "not empty" in calendar_error("  ")


# ---------------------------------------------------------------- QuantLib reference


@pytest.mark.parametrize(
    ("spec", "reference"),
    [
        ("TARGET", ql.TARGET()),
        ("NYSE", ql.UnitedStates(ql.UnitedStates.NYSE)),
        ("GB-ENG", ql.UnitedKingdom(ql.UnitedKingdom.Settlement)),
    ],
)
def test_market_calendars_match_quantlib_2000_to_2040(spec, reference):
    cal = make_calendar(spec)
    d = date(2000, 1, 1)
    while d < date(2041, 1, 1):
        assert cal.is_business_day(d) == reference.isBusinessDay(_ql_date(d)), (spec, d)
        d += timedelta(days=1)


def test_us_calendar_matches_quantlib_settlement_except_juneteenth_2021():
    # Juneteenth became a federal holiday on 17 June 2021 and was observed on Friday
    # 18 June that year; QuantLib's settlement calendar starts it in 2022.
    cal, reference = make_calendar("US"), ql.UnitedStates(ql.UnitedStates.Settlement)
    differences = []
    d = date(2000, 1, 1)
    while d < date(2041, 1, 1):
        if cal.is_business_day(d) != reference.isBusinessDay(_ql_date(d)):
            differences.append(d)
        d += timedelta(days=1)
    assert differences == [date(2021, 6, 18)]


# ---------------------------------------------------------------- properties

SPECS = ["WEEKENDS", "US", "GB-ENG", "NYSE", "TARGET", "US+GB-ENG", "nyc-bank"]
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))


@settings(max_examples=250, deadline=None)
@given(days, st.sampled_from(SPECS), st.sampled_from(BUSINESS_DAY_CONVENTIONS[:3]))
def test_adjusted_dates_are_business_days(d, spec, convention):
    cal = make_calendar(spec, BOOK)
    adjusted = adjust(d, convention, cal)
    assert cal.is_business_day(adjusted)
    assert adjust(adjusted, convention, cal) == adjusted
    between = [d + timedelta(days=i) for i in range(1, abs((adjusted - d).days))]
    if convention == "following":
        assert adjusted >= d and not any(cal.is_business_day(x) for x in between)
    if convention == "preceding":
        assert adjusted <= d


@settings(max_examples=250, deadline=None)
@given(days, st.sampled_from(SPECS))
def test_modified_following_never_leaves_the_month(d, spec):
    cal = make_calendar(spec, BOOK)
    adjusted = adjust(d, "modified_following", cal)
    assert (adjusted.year, adjusted.month) == (d.year, d.month)
    following = adjust(d, "following", cal)
    if following.month == d.month:
        assert adjusted == following
    else:
        assert adjusted == adjust(d, "preceding", cal)


@settings(max_examples=200, deadline=None)
@given(days, st.sampled_from(list(QL_CONVENTIONS)))
def test_target_adjustment_matches_quantlib(d, convention):
    expected = _py_date(ql.TARGET().adjust(_ql_date(d), QL_CONVENTIONS[convention]))
    assert adjust(d, convention, make_calendar("TARGET")) == expected
