"""ISO 4217 currencies and minor units from babel."""

import pytest

from loanctl.conventions.currency import is_currency, minor_units


@pytest.mark.parametrize(
    ("code", "digits"),
    [("USD", 2), ("EUR", 2), ("GBP", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("CHF", 2)],
)
def test_minor_units(code, digits):
    assert is_currency(code)
    assert minor_units(code) == digits


@pytest.mark.parametrize("code", ["ZZZ", "usd", "US", "", "DOLLAR"])
def test_unknown_codes_are_not_currencies(code):
    assert not is_currency(code)
    with pytest.raises(ValueError, match="unknown currency"):
        minor_units(code)


def test_non_string_is_not_a_currency():
    assert not is_currency(840)
