"""Splitting a figure among lenders by the largest-remainder method."""

from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from loanctl.conventions.split import share_weights, split_by_shares, split_by_weights

THIRD = Fraction(1, 3)


def strs(parts):
    return [str(p) for p in parts]


def test_thirds_give_the_extra_cent_to_the_first_lender():
    assert strs(split_by_shares(Decimal("100.00"), [THIRD, THIRD, THIRD], 2)) == [
        "33.34", "33.33", "33.33"
    ]


def test_decimal_thirds_summing_to_one():
    shares = [Decimal("0.3333"), Decimal("0.3333"), Decimal("0.3334")]
    # floors 33.33 / 33.33 / 33.34 -> 100.00 exactly; nothing left over.
    assert strs(split_by_shares(Decimal("100.00"), shares, 2)) == ["33.33", "33.33", "33.34"]
    # 0.10: 0.03333 / 0.03333 / 0.03334 floor to 3 / 3 / 3 cents; the largest remainder
    # (0.334 of a cent) takes the last cent.
    assert strs(split_by_shares(Decimal("0.10"), shares, 2)) == ["0.03", "0.03", "0.04"]


def test_largest_remainder_wins_over_order():
    # 1.00 at 15% / 85%: 0.15 / 0.85 exactly; 0.07 at 15% / 85%: 0.0105 / 0.0595:
    # floors 1 + 5 cents, the 0.95-cent remainder beats 0.05: [0.01, 0.06].
    shares = [Decimal("0.15"), Decimal("0.85")]
    assert strs(split_by_shares(Decimal("1.00"), shares, 2)) == ["0.15", "0.85"]
    assert strs(split_by_shares(Decimal("0.07"), shares, 2)) == ["0.01", "0.06"]


def test_ties_go_to_the_earlier_share():
    half = Decimal("0.5")
    assert strs(split_by_shares(Decimal("0.01"), [half, half], 2)) == ["0.01", "0.00"]
    assert strs(split_by_shares(Decimal("0.02"), [THIRD] * 3, 2)) == ["0.01", "0.01", "0.00"]
    quarter = Decimal("0.25")
    assert strs(split_by_shares(Decimal("0.03"), [quarter] * 4, 2)) == ["0.01", "0.01", "0.01", "0.00"]


def test_participation_example_from_the_spec():
    shares = [Decimal("0.60"), Decimal("0.40")]
    assert strs(split_by_shares(Decimal("589375.00"), shares, 2)) == ["353625.00", "235750.00"]
    assert strs(split_by_shares(Decimal("0.05"), shares, 2)) == ["0.03", "0.02"]


def test_negative_amounts_split_symmetrically():
    assert strs(split_by_shares(Decimal("-100.00"), [THIRD] * 3, 2)) == ["-33.34", "-33.33", "-33.33"]
    assert strs(split_by_shares(Decimal("-0.01"), [Decimal("0.5")] * 2, 2)) == ["-0.01", "0.00"]


def test_zero_amount_gives_zeros_with_the_minor_unit_places():
    assert strs(split_by_shares(Decimal("0"), [Decimal("0.6"), Decimal("0.4")], 2)) == ["0.00", "0.00"]


def test_zero_minor_units_for_jpy():
    assert strs(split_by_shares(Decimal("101"), [THIRD] * 3, 0)) == ["34", "34", "33"]
    assert strs(split_by_shares(Decimal("100"), [Decimal("0.6"), Decimal("0.4")], 0)) == ["60", "40"]


def test_a_single_full_share_takes_everything():
    assert strs(split_by_shares(Decimal("100"), [Decimal("1")], 2)) == ["100.00"]
    assert strs(split_by_shares(Decimal("-12.5"), [Decimal("1.00")], 2)) == ["-12.50"]


def test_a_zero_share_gets_nothing():
    shares = [Decimal("0"), THIRD, Fraction(2, 3)]
    assert strs(split_by_shares(Decimal("0.01"), shares, 2)) == ["0.00", "0.00", "0.01"]


@pytest.mark.parametrize(
    "shares",
    [[Decimal("0.3")] * 3, [Decimal("0.6"), Decimal("0.6")], [], [Decimal("1.1"), Decimal("-0.1")]],
)
def test_shares_must_sum_to_one_and_be_non_negative(shares):
    with pytest.raises(ValueError):
        split_by_shares(Decimal("100.00"), shares, 2)


def test_amount_finer_than_the_minor_unit_is_rejected():
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        split_by_shares(Decimal("100.001"), [Decimal("0.5")] * 2, 2)


def test_float_shares_are_rejected_even_after_equal_decimal_shares():
    split_by_shares(Decimal("1.00"), [Decimal("0.5"), Decimal("0.5")], 2)
    with pytest.raises(TypeError):
        split_by_shares(Decimal("1.00"), [0.5, 0.5], 2)


@st.composite
def share_lists(draw):
    n = draw(st.integers(min_value=1, max_value=6))
    if draw(st.booleans()):  # Decimal percentages with up to 4 places, summing to 100%
        cuts = sorted(draw(st.lists(st.integers(0, 10**6), min_size=n - 1, max_size=n - 1)))
        bounds = [0, *cuts, 10**6]
        return [Decimal(b - a).scaleb(-6) for a, b in zip(bounds, bounds[1:])]
    weights = draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n))
    assume(sum(weights) > 0)
    return [Fraction(w, sum(weights)) for w in weights]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=-10**15, max_value=10**15),
    share_lists(),
    st.integers(min_value=0, max_value=3),
)
def test_parts_sum_exactly_and_each_is_within_one_minor_unit(units, shares, digits):
    amount = Decimal(units).scaleb(-digits)
    parts = split_by_shares(amount, shares, digits)
    assert sum(Fraction(p) for p in parts) == Fraction(amount)
    unit = Fraction(1, 10**digits)
    for part, share in zip(parts, shares):
        assert abs(Fraction(part) - Fraction(amount) * Fraction(share)) < unit
        assert part.as_tuple().exponent == -digits
    assert strs(split_by_shares(-amount, shares, digits)) == strs(
        [-p if p else p for p in parts]
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**9), share_lists())
def test_parts_follow_the_largest_remainder_rule(units, shares):
    # Independent reference: floor each exact quota, then hand out the rest by
    # (remainder descending, position ascending).
    quotas = [units * Fraction(s) for s in shares]
    floors = [floor(q) for q in quotas]
    ranking = sorted(range(len(shares)), key=lambda i: (-(quotas[i] - floors[i]), i))
    for i in ranking[: units - sum(floors)]:
        floors[i] += 1
    parts = split_by_shares(Decimal(units).scaleb(-2), shares, 2)
    assert [int(p.scaleb(2)) for p in parts] == floors


def test_weights_of_sixty_forty():
    # 60% = 3/5, 40% = 2/5: weights 3 and 2 over 5
    assert share_weights([Decimal("0.6"), Fraction(2, 5)]) == ((3, 2), 5)
    # 100.01 = 10001 cents: 30003/5 = 6000 r 3, 20002/5 = 4000 r 2; the cent left to the first
    assert strs(split_by_weights(Decimal("100.01"), (3, 2), 5, 2)) == ["60.01", "40.00"]


def test_weights_reject_what_the_split_rejects():
    with pytest.raises(ValueError):
        share_weights([Decimal("0.5"), Decimal("0.4")])
    with pytest.raises(TypeError):
        share_weights([0.5, 0.5])
    with pytest.raises(ValueError):
        split_by_weights(Decimal("1.001"), (1, 1), 2, 2)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-10**15, max_value=10**15), share_lists(), st.integers(min_value=0, max_value=3))
def test_split_by_weights_is_the_split_by_shares(units, shares, digits):
    # the by-reference reading of the rule is the test above; here the two entry points agree
    # on the parts and their text (exponent, sign of zero)
    amount = Decimal(units).scaleb(-digits)
    assert strs(split_by_weights(amount, *share_weights(shares), digits)) == strs(
        split_by_shares(amount, shares, digits))
