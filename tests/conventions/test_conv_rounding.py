"""Rounding money to the minor unit: ties by mode, exact places, and a Fraction reference."""

from decimal import Decimal, localcontext
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loanctl.conventions.rounding import ROUNDING_MODES, money_rounder, round_money


def test_rounding_modes():
    assert ROUNDING_MODES == ("half_up", "half_even")


@pytest.mark.parametrize(
    ("x", "digits", "half_up", "half_even"),
    [
        ("2.345", 2, "2.35", "2.34"),  # a tie: even neighbour is 4
        ("2.335", 2, "2.34", "2.34"),  # a tie: even neighbour is 4 both ways
        ("-2.345", 2, "-2.35", "-2.34"),  # half_up rounds ties away from zero
        ("2.3451", 2, "2.35", "2.35"),  # not a tie
        ("2.3449999", 2, "2.34", "2.34"),
        ("1234.5", 0, "1235", "1234"),  # JPY
        ("1235.5", 0, "1236", "1236"),
        ("0.5", 0, "1", "0"),
        ("1.0005", 3, "1.001", "1.000"),  # KWD
        ("589375", 2, "589375.00", "589375.00"),
    ],
)
def test_ties_follow_the_mode(x, digits, half_up, half_even):
    assert str(round_money(Decimal(x), digits, "half_up")) == half_up
    assert str(round_money(Decimal(x), digits, "half_even")) == half_even


def test_half_up_is_the_default():
    assert round_money(Decimal("0.125"), 2) == Decimal("0.13")


def test_result_has_exactly_the_minor_unit_places():
    assert str(round_money(Decimal("2.3"), 2)) == "2.30"
    assert str(round_money(Decimal("7"), 2)) == "7.00"
    assert str(round_money(Decimal("7.00"), 0)) == "7"
    assert str(round_money(Decimal("1E+3"), 2)) == "1000.00"
    assert str(round_money(5, 2)) == "5.00"


def test_a_rounded_zero_is_never_negative():
    assert str(round_money(Decimal("-0.001"), 2)) == "0.00"
    assert str(round_money(Decimal("-0.4"), 0, "half_even")) == "0"
    assert str(round_money(Decimal("-0.00"), 2)) == "0.00"


def test_large_figures_round_regardless_of_the_thread_precision():
    big = Decimal("123456789012345678901234567890.125")
    with localcontext(prec=5):
        assert str(round_money(big, 2)) == "123456789012345678901234567890.13"


def test_unknown_mode_and_float_are_rejected():
    with pytest.raises(ValueError, match="unknown rounding mode"):
        round_money(Decimal("1"), 2, "half_down")
    with pytest.raises(TypeError):
        round_money(2.345, 2)
    with pytest.raises(ValueError):
        round_money(Decimal("1"), -1)


def _reference(x: Decimal, digits: int, mode: str) -> Fraction:
    scaled = abs(Fraction(x)) * 10**digits
    low = floor(scaled)
    rest = scaled - low
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and (mode == "half_up" or low % 2)):
        low += 1
    return (low if x >= 0 else -low) / Fraction(10**digits)


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=-10**12, max_value=10**12, places=6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=4),
    st.sampled_from(ROUNDING_MODES),
)
def test_round_money_matches_exact_rational_rounding(x, digits, mode):
    result = round_money(x, digits, mode)
    assert Fraction(result) == _reference(x, digits, mode)
    assert result.as_tuple().exponent == -digits


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-10**12, max_value=10**12)
       | st.sampled_from([Decimal("-0"), Decimal("0E-50"), Decimal("-0.000"), Decimal("2.345"), Decimal("-2.345")]),
       st.integers(0, 3), st.sampled_from(ROUNDING_MODES))
def test_money_rounder_is_round_money_to_the_digit(x, digits, mode):
    # the engine's fixed-argument rounder gives the same Decimal, exponent and sign included
    assert str(money_rounder(digits, mode)(x)) == str(round_money(x, digits, mode))


def test_money_rounder_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="unknown rounding mode"):
        money_rounder(2, "half_down")
