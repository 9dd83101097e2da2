"""Value kinds of SPEC §2.1 — money, rates, shares, dates, currencies, ids — parsed exactly,
and each bad value reported at its own position in the deal file."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookfactory import BOOK_YAML, DEAL_YAML, deal_with, only, pos, run_validate, write_book, write_file
from loanctl.model import values as v
from loanctl.source import yamlsrc
from loanctl.api import validate_book

DEAL = "acme-tl/deal.yaml"


def _problem(parser, value) -> v.ValueProblem:
    with pytest.raises(v.ValueProblem) as info:
        parser(value)
    return info.value


def _yaml_value(text: str):
    doc, diags = yamlsrc.parse(f"x: {text}\n", "f.yaml")
    assert diags == []
    return doc.data["x"]


# --- rates ----------------------------------------------------------------------------------
@pytest.mark.parametrize("written", ["575bps", '"575 bps"', "575bp", "5.75%", '"5.75 %"', "0.0575", '"0.0575"',
                                     "575.0bps", "0.05750"])
def test_every_written_form_of_a_rate_is_exactly_575_bps(written):
    rate = v.parse_rate(_yaml_value(written))
    assert type(rate) is Decimal
    assert rate == Decimal("0.0575")


def test_rate_forms_agree_to_the_last_digit():
    # no binary float anywhere: 1/3 of a percent stays 28 significant digits of 3s
    assert v.parse_rate("0.3333333333333333333333333333%") == Decimal("0.003333333333333333333333333333")
    assert v.parse_rate("1bps") == Decimal("0.0001")
    assert v.parse_rate("-25bps") == Decimal("-0.0025")  # a negative spread or index is a rate too


def test_a_bare_number_above_one_is_not_a_rate():
    p = _problem(v.parse_rate, _yaml_value("5.75"))
    assert p.code == "E0104"
    assert "5.75%" in p.hint and "0.0575" in p.hint
    assert _problem(v.parse_rate, "5.75").code == "E0104"
    assert _problem(v.parse_rate, 6).hint == "write 6% or 0.06"


def test_one_is_the_largest_bare_rate():
    assert v.parse_rate(1) == Decimal(1)
    assert _problem(v.parse_rate, Decimal("1.0001")).code == "E0104"


@pytest.mark.parametrize("bad", ["abc", "%", "bps", "5,75%", "1e-2", ".inf", True, None, [1], {"a": 1}])
def test_rate_junk_is_e0104(bad):
    assert _problem(v.parse_rate, bad).code == "E0104"


def test_a_binary_float_is_refused():
    p = _problem(v.parse_rate, 0.0575)
    assert p.code == "E0104" and "float" in p.message


# --- money ----------------------------------------------------------------------------------
@pytest.mark.parametrize("written, expected", [
    ("25000000", Decimal("25000000")),
    ("25_000_000.00", Decimal("25000000.00")),
    ('"1250.50"', Decimal("1250.50")),
    ("1250.50", Decimal("1250.50")),
    ('"25_000_000"', Decimal("25000000")),
])
def test_money_is_exact(written, expected):
    amount = v.parse_money(_yaml_value(written))
    assert type(amount) is Decimal and amount == expected
    assert v.money_digits(amount) == v.money_digits(expected)


@pytest.mark.parametrize("written", ["0x17D7840", "0o17", "0b101", "1:30", "+.inf"])
def test_yaml_1_1_number_oddities_are_not_money(written):
    # hex, octal, binary and sexagesimal (1:30 = 90 in YAML 1.1) are not how an amount is
    # written; they must not become numbers silently
    assert _problem(v.parse_money, _yaml_value(written)).code == "E0105"


@pytest.mark.parametrize("bad", ['"$1,250.50"', '"1,250.50"', '"12 500"', "abc", "true", ".nan", "~"])
def test_money_junk_is_e0105(bad):
    assert _problem(v.parse_money, _yaml_value(bad)).code == "E0105"


def test_money_as_binary_float_is_refused():
    assert _problem(v.parse_money, 1250.5).code == "E0105"


@pytest.mark.parametrize("amount, digits", [("1250.505", 3), ("1250.50", 2), ("25000000", 0), ("25000000.", 0),
                                            ("1E+3", 0)])
def test_money_digits_counts_the_written_decimals(amount, digits):
    assert v.money_digits(Decimal(amount)) == digits


# --- dates ----------------------------------------------------------------------------------
def test_impossible_date_names_the_last_day_of_the_month():
    p = _problem(v.parse_date, "2026-02-30")
    assert p.code == "E0106"
    assert "February 2026 has 28 days" in p.message
    assert "2026-02-28" in p.hint


@pytest.mark.parametrize("bad, last", [("2024-02-30", "2024-02-29"), ("2100-02-29", "2100-02-28"),
                                       ("2026-04-31", "2026-04-30"), ("2026-01-00", "2026-01-31")])
def test_last_day_hint_knows_the_calendar(bad, last):
    assert last in _problem(v.parse_date, bad).hint


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-00-10", "2026-1-5", "15/01/2026", "2026-01-15T00:00:00", 20260115,
                                 None])
def test_other_bad_dates_are_e0106(bad):
    assert _problem(v.parse_date, bad).code == "E0106"


def test_leap_day_is_a_date():
    assert v.parse_date("2024-02-29") == date(2024, 2, 29)


# --- shares, currencies, ids ----------------------------------------------------------------
def test_shares():
    assert v.parse_share("60%") == Decimal("0.6") == v.parse_share(Decimal("0.6"))
    assert v.parse_share("100%") == 1 and v.parse_share(0) == 0
    for bad in ("140%", Decimal("-0.1"), "sixty", Decimal("1.5")):
        assert _problem(v.parse_share, bad).code == "E0107"


@pytest.mark.parametrize("bad", ["USX", "usd", "US", "USDD", "", 840, None])
def test_unknown_currency_is_e0108(bad):
    assert _problem(v.parse_currency, bad).code == "E0108"


def test_known_currencies():
    assert [v.parse_currency(c) for c in ("USD", "EUR", "JPY", "KWD")] == ["USD", "EUR", "JPY", "KWD"]


@pytest.mark.parametrize("bad", ["../evil", "A/B", "Acme", "a..b", "", "-acme", "a" * 65, "acme tl", "acme/tl"])
def test_bad_ids_are_e0109(bad):
    assert _problem(v.parse_id, bad).code == "E0109"


def test_good_ids():
    for good in ("acme-tl-2026", "001-repricing", "a", "a" * 64, "fund_i.spv"):
        assert v.parse_id(good) == good


# --- in a book: the exact value reaches the model, the bad one is reported where it is -------
def _spread_of(root) -> Decimal:
    result = validate_book(root)
    assert result.diagnostics == []
    return result.loaded.deals["acme-tl"].deal.facilities[0].interest.spread


@pytest.mark.parametrize("written", ["575bps", '"575 bps"', "5.75%", "0.0575"])
def test_spread_in_the_deal_file_is_exact(tmp_path, written):
    root = write_book(tmp_path, deals={"acme-tl": deal_with("spread: 575bps", f"spread: {written}")})
    assert _spread_of(root) == Decimal("0.0575")


def test_bare_575_as_spread_is_e0104_at_its_position(tmp_path):
    text = deal_with("spread: 575bps", "spread: 5.75")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    d = only(diags, "E0104")
    assert (d["line"], d["column"]) == pos(text, "5.75")
    assert "5.75%" in d["hint"]
    assert code == 1 and len(diags) == 1


def test_bare_575_in_an_amendment_is_reported_in_the_amendment(tmp_path):
    root = write_book(tmp_path)
    amendment = ("id: 001-repricing\neffective_date: 2026-07-15\n"
                 "changes:\n  - {facility: tl, set: {interest.spread: 5.25}}\n")
    write_file(root, "acme-tl/amendments/001-repricing.yaml", amendment)
    code, diags = run_validate(root)
    d = only(diags, "E0104")
    assert d["file"].endswith("acme-tl/amendments/001-repricing.yaml")
    assert (d["line"], d["column"]) == pos(amendment, "5.25")
    assert "5.25%" in d["hint"] and code == 1


def test_money_forms_in_the_deal_file(tmp_path):
    text = deal_with("commitment: 25000000", "commitment: 25_000_000.00")
    text = deal_with("{type: upfront, rate: 2%}", '{type: fixed, amount: "1250.50", date: 2025-06-30}', text)
    root = write_book(tmp_path, deals={"acme-tl": text})
    result = validate_book(root)
    assert result.diagnostics == []
    facility = result.loaded.deals["acme-tl"].deal.facilities[0]
    assert facility.commitment == Decimal("25000000.00")
    assert facility.fees[0].amount == Decimal("1250.50")


def test_three_decimals_in_usd_is_e0212(tmp_path):
    text = deal_with("{type: upfront, rate: 2%}", "{type: fixed, amount: 1250.505, date: 2025-06-30}")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    d = only(diags, "E0212")
    assert (d["line"], d["column"]) == pos(text, "1250.505")
    assert "USD has 2" in d["message"]
    assert code == 1 and len(diags) == 1


def test_three_decimals_in_kwd_are_fine(tmp_path):
    # minor units come from CLDR (babel), not a hand list: the Kuwaiti dinar has 3
    text = deal_with("currency: USD", "currency: KWD")
    text = deal_with("{type: upfront, rate: 2%}", "{type: fixed, amount: 1250.505, date: 2025-06-30}", text)
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    assert (code, diags) == (0, [])


def test_decimals_in_jpy_are_e0212(tmp_path):
    text = deal_with("currency: USD", "currency: JPY")
    text = deal_with("draws: [{date: 2025-01-15, amount: 25000000}]",
                     "draws: [{date: 2025-01-15, amount: 24999999.5}]", text)
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    d = only(diags, "E0212")
    assert (d["line"], d["column"]) == pos(text, "24999999.5")
    assert "JPY has 0" in d["message"]
    assert code == 1 and len(diags) == 1


def test_whole_yen_are_fine(tmp_path):
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": deal_with("currency: USD", "currency: JPY")}))
    assert (code, diags) == (0, [])


def test_impossible_date_is_e0106_at_its_column(tmp_path):
    text = deal_with("{type: upfront, rate: 2%}", "{type: fixed, amount: 25000, date: 2026-02-30}")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    d = only(diags, "E0106")
    assert (d["line"], d["column"]) == pos(text, "2026-02-30")
    assert "2026-02-28" in d["hint"]
    assert code == 1 and len(diags) == 1


def test_unknown_currency_is_e0108_at_its_position(tmp_path):
    text = deal_with("currency: USD", "currency: USX")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    d = only(diags, "E0108")
    assert (d["line"], d["column"]) == pos(text, "USX")
    assert code == 1 and len(diags) == 1


def test_shares_summing_to_99_99_percent_is_e0207(tmp_path):
    text = deal_with("share: 40%", "share: 39.99%")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    d = only(diags, "E0207")
    assert (d["line"], d["column"]) == pos(text, "- {lender: fund-i,")  # the participations list
    assert "99.99%" in d["message"]
    assert code == 1 and len(diags) == 1


def test_shares_of_thirds_do_not_sum_to_100_percent(tmp_path):
    text = deal_with("      - {lender: fund-i, share: 60%}\n      - {lender: fund-i-spv, share: 40%}\n",
                     "      - {lender: fund-i, share: 33.3333%}\n      - {lender: fund-i-spv, share: 66.6666%}\n")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    assert [d["code"] for d in diags] == ["E0207"] and code == 1


def test_shares_written_as_fractions_and_percent_mix(tmp_path):
    text = deal_with("share: 60%", "share: 0.6")
    assert run_validate(write_book(tmp_path, deals={"acme-tl": text})) == (0, [])


# --- unknown keys and choices: near misses get a "did you mean" at the key ----------------------
@pytest.mark.parametrize("old, new, key, hint", [
    ("  sourced_by: j.smith", "  sorced_by: j.smith", "sorced_by", "did you mean 'sourced_by'?"),
    ("      spread: 575bps", "      sprad: 575bps", "sprad", "did you mean 'spread'?"),
    ("      annual_rate: 1%", "      anual_rate: 1%", "anual_rate", "did you mean 'annual_rate'?"),
    ("{type: upfront, rate: 2%}", "{type: upfront, rate: 2%, rat: 2%}", "rat:", "did you mean 'rate'?"),
    ("currency: USD\n", "currency: USD\ncolour: blue\n", "colour", "allowed keys here: borrower, covenants, "
     "currency, facilities, id, name, notes, origination, status, tags"),
])
def test_unknown_key_in_the_deal_is_e0101_at_the_key(tmp_path, old, new, key, hint):
    text = deal_with(old, new)
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    d = only(diags, "E0101")
    assert (d["line"], d["column"]) == pos(text, key)
    assert d["hint"] == hint
    assert code == 1 and len(diags) == 1


def test_unknown_key_in_book_yaml_and_financials(tmp_path):
    book = BOOK_YAML.replace("entities:", "entites:")
    root = write_book(tmp_path, book_yaml=book)
    financials = "period_end: 2025-03-31\nebitda: 12600000\ntotal_debt: 45000000\nebitdda: 1\n"
    write_file(root, "acme-tl/financials/2025-q1.yaml", financials)
    code, diags = run_validate(root)
    by_file = {d["file"].rsplit("/", 1)[-1]: d for d in diags}
    assert sorted(d["code"] for d in diags) == ["E0101", "E0101"]
    assert (by_file["book.yaml"]["line"], by_file["book.yaml"]["column"]) == pos(book, "entites")
    assert by_file["book.yaml"]["hint"] == "did you mean 'entities'?"
    assert (by_file["2025-q1.yaml"]["line"], by_file["2025-q1.yaml"]["column"]) == pos(financials, "ebitdda")
    assert by_file["2025-q1.yaml"]["hint"] == "did you mean 'ebitda'?"
    assert code == 1


@pytest.mark.parametrize("old, new, given, hint", [
    ("status: funded", "status: fundd", "fundd", "did you mean 'funded'?"),
    ("day_count: ACT/360", "day_count: ACT/365", "ACT/365", "did you mean 'ACT/365F'?"),
    ("frequency: quarterly", "frequency: quartely", "quartely", "did you mean 'quarterly'?"),
    ("{type: upfront, rate: 2%}", "{type: upfrnt, rate: 2%}", "{type: upfrnt", "did you mean 'upfront'?"),
])
def test_value_outside_the_choices_is_e0110_with_a_near_miss(tmp_path, old, new, given, hint):
    text = deal_with(old, new)
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    d = only(diags, "E0110")
    assert (d["line"], d["column"]) == pos(text, given)
    assert d["hint"] == hint and code == 1


# --- library bugs (strict xfail) --------------------------------------------------------------
def test_year_zero_is_an_invalid_date(tmp_path):
    assert _problem(v.parse_date, "0000-01-15").code == "E0106"


def test_absurd_exponent_in_money_is_e0105(tmp_path):
    text = deal_with("commitment: 25000000", "commitment: 1.0e+999999999")
    root = write_book(tmp_path, deals={"acme-tl": text})
    code, diags = run_validate(root)
    d = only(diags, "E0105")
    assert (d["line"], d["column"]) == pos(text, "1.0e+999999999") and code == 1


def test_deal_yaml_constant_is_the_valid_one():
    # guard for the tests above: the base deal spells the values they replace
    for needle in ("spread: 575bps", "commitment: 25000000", "currency: USD", "share: 40%"):
        assert needle in DEAL_YAML


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99))
def test_a_plainly_written_date_parses_as_the_calendar_says(y, m, d):
    """parse_date's fast path for YYYY-MM-DD agrees with the calendar: a real day in the window
    is that day; an impossible one is E0106, one outside 1900-01-01..2200-12-31 is E0112."""
    import calendar
    text = f"{y:04d}-{m:02d}-{d:02d}"
    real = y >= 1 and 1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1]
    if real and 1900 <= y <= 2200:
        assert v.parse_date(text) == date(y, m, d)
        return
    with pytest.raises(v.ValueProblem) as err:
        v.parse_date(text)
    assert err.value.code == ("E0112" if real else "E0106")


def test_rates_and_shares_remembered_by_text_are_the_same_and_refusals_are_not_remembered():
    """parse_rate and parse_share remember what they accepted, by the text: the same exact value
    the second time (575bps = 5.75/100), and a refused text is refused every time."""
    assert v.parse_rate("575bps") == v.parse_rate("575bps") == Decimal("0.0575")
    assert v.parse_share("60%") == v.parse_share("60%") == Decimal("0.6")
    for _ in range(2):
        with pytest.raises(v.ValueProblem):
            v.parse_rate("lots")
        with pytest.raises(v.ValueProblem):
            v.parse_share("160%")
