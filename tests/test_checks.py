"""The checks of `loanctl.validation.checks` and the amendment rules of `loanctl.engine.terms`, each
through `loanctl validate` on a valid book with one thing wrong: the exact code, file, line
and column (for amendment problems, in the amendment file), severity and exit code."""

from __future__ import annotations

from datetime import date

import pytest

from bookfactory import (BOOK_YAML, DEAL_YAML, book_with, deal_with, only, pos, run_validate, sofr_csv,
                         write_book, write_file)

DEAL = "acme-tl/deal.yaml"
AMENDMENT = "acme-tl/amendments/001-repricing.yaml"
AMENDMENT_YAML = """\
id: 001-repricing
effective_date: 2026-07-15
description: Repricing by 50 bps and one-year extension
approvals: [{by: jane.doe, role: credit_officer, date: 2026-06-30, decision: approved},
            {by: ic, role: credit_committee, date: 2026-07-01, decision: approved}]
changes:
  - {facility: tl, set: {interest.spread: 525bps, maturity_date: 2031-01-15}}
"""
DDTL = """\
  - id: dd
    type: delayed_draw
    commitment: 5000000
    start_date: 2025-01-15
    maturity_date: 2030-01-15
    availability_end: 2026-01-15
    draws: [{date: 2025-06-16, amount: 2000000}]
    interest: {index: SOFR-3M, spread: 575bps}
    participations: [{lender: fund-i, share: 100%}]
"""


def validate(tmp_path, deal: str | None = None, book: str | None = None, files: dict | None = None):
    root = write_book(tmp_path, deals={"acme-tl": deal} if deal is not None else None, book_yaml=book)
    for rel, text in (files or {}).items():
        write_file(root, rel, text)
    return run_validate(root)


def assert_at(d: dict, file: str, text: str, needle: str, nth: int = 1) -> None:
    assert d["file"].endswith(file), d
    assert (d["line"], d["column"]) == pos(text, needle, nth), d


def single(diags: list[dict], code: str) -> dict:
    assert [x["code"] for x in diags] == [code], diags
    return diags[0]


# --- the base book is valid -------------------------------------------------------------------
def test_the_factory_book_is_valid(tmp_path):
    assert validate(tmp_path) == (0, [])


def test_the_factory_book_with_an_amendment_and_a_delayed_draw_is_valid(tmp_path):
    assert validate(tmp_path, deal=DEAL_YAML + DDTL, files={AMENDMENT: AMENDMENT_YAML}) == (0, [])


# --- deal identity and references ---------------------------------------------------------------
def test_deal_id_differs_from_folder(tmp_path):
    text = deal_with("id: acme-tl", "id: acme-term-loan")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0201")
    assert_at(d, DEAL, text, "acme-term-loan")
    assert d["hint"] == "set id: acme-tl, or rename the folder" and code == 1


def test_unknown_borrower_with_did_you_mean(tmp_path):
    text = deal_with("borrower: acme", "borrower: acm")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0202")
    assert_at(d, DEAL, text, "acm\n")
    assert d["hint"] == "did you mean 'acme'?" and code == 1


def test_borrower_that_is_a_fund_is_not_a_borrower(tmp_path):
    text = deal_with("borrower: acme", "borrower: fund-i")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0202")
    assert_at(d, DEAL, text, "fund-i\n")
    assert "known: acme" in d["hint"] and code == 1


def test_unknown_lender_with_did_you_mean(tmp_path):
    text = deal_with("lender: fund-i-spv", "lender: fund-i-svp")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0203")
    assert_at(d, DEAL, text, "fund-i-svp")
    assert d["hint"] == "did you mean 'fund-i-spv'?" and code == 1


def test_borrower_as_lender_is_unknown_lender(tmp_path):
    text = deal_with("lender: fund-i-spv", "lender: acme")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0203"), DEAL, text, "acme,")


def test_duplicate_lender(tmp_path):
    text = deal_with("lender: fund-i-spv, share: 40%", "lender: fund-i, share: 40%")
    code, diags = validate(tmp_path, deal=text)
    assert [d["code"] for d in diags] == ["E0227", "E0227"]  # each row of the lender
    assert_at(diags[0], DEAL, text, "fund-i, share: 60%")
    assert_at(diags[1], DEAL, text, "fund-i, share: 40%")
    assert code == 1


def test_duplicate_facility_id(tmp_path):
    text = DEAL_YAML + DEAL_YAML[DEAL_YAML.index("  - id: tl"):]
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0213")  # at the second facility's id value
    line, col = pos(text, "- id: tl", 2)
    assert (d["line"], d["column"]) == (line, col + len("- id: ")) and code == 1


def test_duplicate_covenant_id(tmp_path):
    text = DEAL_YAML + ("covenants:\n  - {id: max-lev, metric: total_leverage, max: 4.5}\n"
                        "  - {id: max-lev, metric: interest_coverage, min: 2.0}\n")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0213"), DEAL, text, "max-lev", 2)


# --- rates, calendars ---------------------------------------------------------------------------
def test_index_without_rate_file_suggests_the_one_that_exists(tmp_path):
    text = deal_with("index: SOFR-3M", "index: SOFR-3m")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0205")
    assert_at(d, DEAL, text, "SOFR-3m")
    assert "rates/SOFR-3m.csv" in d["message"] and d["hint"] == "did you mean 'SOFR-3M'?"


def test_missing_first_fixing(tmp_path):
    code, diags = validate(tmp_path, files={"rates/SOFR-3M.csv": sofr_csv(start=date(2025, 1, 16))})
    d = single(diags, "E0222")
    assert_at(d, DEAL, DEAL_YAML, "SOFR-3M")
    assert "2025-01-15" in d["message"] and "2025-01-16" in d["message"] and code == 1


def test_first_fixing_uses_the_fixing_lag(tmp_path):
    # the fixing is taken 5 days before the start: the rates from 2025-01-13 do not cover it
    text = deal_with("      day_count: ACT/360\n", "      day_count: ACT/360\n      fixing_lag_days: 5\n")
    code, diags = validate(tmp_path, deal=text, files={"rates/SOFR-3M.csv": sofr_csv(start=date(2025, 1, 13))})
    d = single(diags, "E0222")
    assert "2025-01-10" in d["message"]


def test_unknown_calendar_with_suggestion(tmp_path):
    text = deal_with("calendar: US", "calendar: nyc-bnak")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0206")
    assert_at(d, DEAL, text, "nyc-bnak")
    assert "did you mean 'nyc-bank'?" in d["message"] and code == 1


def test_book_calendar_and_joined_calendars_are_known(tmp_path):
    for spec in ("nyc-bank", "US+GB", "NYSE", "WEEKENDS"):
        assert validate(tmp_path / spec.replace("+", "_"), deal=deal_with("calendar: US", f"calendar: {spec}")) == (0, [])


def test_unknown_base_of_a_book_calendar(tmp_path):
    text = book_with("base: US", "base: XY")
    code, diags = validate(tmp_path, book=text)
    assert_at(single(diags, "E0206"), "book.yaml", text, "XY")


# --- dates ----------------------------------------------------------------------------------
def test_maturity_not_after_start(tmp_path):
    text = deal_with("maturity_date: 2030-01-15", "maturity_date: 2025-01-15")
    code, diags = validate(tmp_path, deal=text)
    d = only(diags, "E0208")
    assert_at(d, DEAL, text, "2025-01-15", 2)  # start_date has the 1st, maturity_date the 2nd
    assert code == 1


def test_first_payment_date_after_maturity(tmp_path):
    text = deal_with("first_payment_date: 2025-04-15", "first_payment_date: 2030-04-15")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0208"), DEAL, text, "2030-04-15")


def test_availability_end_after_maturity(tmp_path):
    text = DEAL_YAML + DDTL.replace("availability_end: 2026-01-15", "availability_end: 2031-01-15")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0208"), DEAL, text, "2031-01-15")


def test_floor_above_cap(tmp_path):
    text = deal_with("floor: 1%", "floor: 3%\n      cap: 2%")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0208"), DEAL, text, "3%")


def test_fixed_fee_outside_the_facility_life(tmp_path):
    text = deal_with("{type: upfront, rate: 2%}", "{type: fixed, amount: 25000, date: 2031-06-30}")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0208"), DEAL, text, "2031-06-30")


def test_prepayment_fee_steps_out_of_order(tmp_path):
    text = deal_with("{type: upfront, rate: 2%}",
                     "{type: prepayment, schedule: [{until: 2027-01-15, rate: 1%}, {until: 2026-01-15, rate: 2%}]}")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0208"), DEAL, text, "[{until: 2027")


def test_dpd_buckets_out_of_order(tmp_path):
    text = book_with("[0, 30, 60, 90, 120]", "[0, 60, 30]")
    code, diags = validate(tmp_path, book=text)
    assert_at(single(diags, "E0208"), "book.yaml", text, "[0, 60")


# --- draws --------------------------------------------------------------------------------------
def test_term_draw_before_start(tmp_path):
    text = deal_with("draws: [{date: 2025-01-15", "draws: [{date: 2025-01-14")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0209")
    assert_at(d, DEAL, text, "2025-01-14")
    assert code == 1


def test_delayed_draw_on_availability_end_is_outside(tmp_path):
    text = DEAL_YAML + DDTL.replace("{date: 2025-06-16, amount: 2000000}", "{date: 2026-01-15, amount: 2000000}")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0209")
    assert_at(d, DEAL, text, "2026-01-15, amount")
    assert "availability_end 2026-01-15" in d["message"]


def test_draws_over_commitment(tmp_path):
    text = deal_with("draws: [{date: 2025-01-15, amount: 25000000}]",
                     "draws: [{date: 2025-01-15, amount: 20000000}, {date: 2025-03-03, amount: 5000000.01}]")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0210")
    assert_at(d, DEAL, text, "5000000.01")
    assert "25,000,000.01" in d["message"] and code == 1


def test_draw_after_an_amendment_raised_the_commitment_is_fine(tmp_path):
    text = deal_with("draws: [{date: 2025-01-15, amount: 25000000}]",
                     "draws: [{date: 2025-01-15, amount: 25000000}, {date: 2026-08-03, amount: 5000000}]")
    amendment = deal_with("interest.spread: 525bps, maturity_date: 2031-01-15", "commitment: 30000000",
                          AMENDMENT_YAML)
    assert validate(tmp_path / "ok", deal=text, files={AMENDMENT: amendment}) == (0, [])
    # …but not before it takes effect
    early = text.replace("2026-08-03", "2026-07-14")
    code, diags = validate(tmp_path / "early", deal=early, files={AMENDMENT: amendment})
    assert_at(single(diags, "E0210"), DEAL, early, "5000000}", 2)  # the 1st is inside 25000000}


def test_zero_commitment_and_negative_draw(tmp_path):
    text = deal_with("{type: upfront, rate: 2%}", "{type: fixed, amount: -25000, date: 2025-06-30}")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0228")
    assert_at(d, DEAL, text, "-25000")
    assert "must be positive" in d["message"] and code == 1


def test_zero_commitment(tmp_path):
    text = deal_with("commitment: 25000000", "commitment: 0").replace(
        "draws: [{date: 2025-01-15, amount: 25000000}]", "draws: []")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0228"), DEAL, text, "0\n")


# --- interest, amortization, money --------------------------------------------------------------
def test_interest_needs_exactly_one_of_index_and_fixed_rate(tmp_path):
    text = deal_with("      index: SOFR-3M\n", "      fixed_rate: 9.5%\n      index: SOFR-3M\n")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0204"), DEAL, text, "fixed_rate")  # the interest mapping


def test_fixed_rate_alone_is_fine(tmp_path):
    text = deal_with("      index: SOFR-3M\n", "      fixed_rate: 9.5%\n").replace("      floor: 1%\n", "")
    assert validate(tmp_path, deal=text) == (0, [])


def test_custom_amortization_date_not_a_payment_date(tmp_path):
    text = deal_with("type: percent\n      annual_rate: 1%",
                     "type: custom\n      schedule: [{date: 2025-04-15, amount: 500000}, {date: 2025-07-16, "
                     "amount: 500000}]")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0211")
    assert_at(d, DEAL, text, "2025-07-16")
    assert d["hint"] == "the nearest payment date is 2025-07-15" and code == 1


def test_custom_amortization_on_an_adjusted_payment_date_is_fine(tmp_path):
    # 2025-04-15 (a Tuesday) and 2026-01-15 (a Thursday) are quarterly payment dates as they stand
    text = deal_with("type: percent\n      annual_rate: 1%",
                     "type: custom\n      schedule: [{date: 2025-04-15, amount: 500000}, {date: 2026-01-15, "
                     "amount: 500000}]")
    assert validate(tmp_path, deal=text) == (0, [])


def test_custom_amortization_more_than_drawn(tmp_path):
    text = deal_with("type: percent\n      annual_rate: 1%",
                     "type: custom\n      schedule: [{date: 2025-04-15, amount: 25000000.01}]")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0223"), DEAL, text, "[{date: 2025-04-15")


def test_percent_amortization_without_rate(tmp_path):
    text = deal_with("      annual_rate: 1%\n", "")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0221"), DEAL, text, "type: percent")


def test_custom_amortization_without_schedule(tmp_path):
    text = deal_with("type: percent\n      annual_rate: 1%", "type: custom")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0221"), DEAL, text, "type: custom")


def test_schedule_with_non_custom_amortization(tmp_path):
    text = deal_with("annual_rate: 1%", "annual_rate: 1%\n      schedule: [{date: 2025-04-15, amount: 1}]")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0221"), DEAL, text, "[{date: 2025-04-15")


def test_commitment_with_more_decimals_than_usd(tmp_path):
    text = deal_with("commitment: 25000000", "commitment: 25000000.001").replace(
        "amount: 25000000}", "amount: 25000000.001}")
    code, diags = validate(tmp_path, deal=text)
    assert [d["code"] for d in diags] == ["E0212", "E0212"]
    assert_at(diags[0], DEAL, text, "25000000.001")
    assert_at(diags[1], DEAL, text, "25000000.001", 2)


def test_investor_commitment_with_more_decimals_than_base_currency(tmp_path):
    text = book_with("  - {id: acme,", "  - {id: lp-x, kind: investor, name: LP, commitments: [{fund: fund-i, "
                                      "amount: 1000000.005}]}\n  - {id: acme,")
    code, diags = validate(tmp_path, book=text)
    assert_at(single(diags, "E0212"), "book.yaml", text, "1000000.005")


# --- book entities --------------------------------------------------------------------------------
def test_duplicate_entity_id(tmp_path):
    text = book_with("dpd_buckets", "dpd_buckets").replace(
        "  - {id: acme,", "  - {id: acme, kind: borrower, name: Acme Again}\n  - {id: acme,")
    code, diags = validate(tmp_path, book=text)
    assert_at(single(diags, "E0213"), "book.yaml", text, "acme,", 2)


def test_duplicate_calendar_id(tmp_path):
    text = book_with("calendars:\n", "calendars:\n  - {id: nyc-bank, base: US}\n")
    code, diags = validate(tmp_path, book=text)
    assert_at(single(diags, "E0213"), "book.yaml", text, "nyc-bank", 2)


def test_spv_without_parent_fund(tmp_path):
    text = book_with(", parent: fund-i}", ", parent: acme}")
    code, diags = validate(tmp_path, book=text)
    d = single(diags, "E0220")
    assert_at(d, "book.yaml", text, "acme}")
    assert d["hint"] == "set parent to one of: fund-i"


def test_parent_on_a_borrower(tmp_path):
    text = book_with("country: US}", "country: US, parent: fund-i}")
    code, diags = validate(tmp_path, book=text)
    assert_at(single(diags, "E0220"), "book.yaml", text, "fund-i}", 2)


def test_investor_commitment_to_a_non_fund(tmp_path):
    text = book_with("  - {id: acme,", "  - {id: lp-x, kind: investor, name: LP, commitments: [{fund: fund-i-spv, "
                                      "amount: 1000000}]}\n  - {id: acme,")
    code, diags = validate(tmp_path, book=text)
    assert_at(single(diags, "E0220"), "book.yaml", text, "fund-i-spv, amount")


# --- approvals and policy ---------------------------------------------------------------------------
_COMMITTEE = "    - {by: ic, role: credit_committee, date: 2025-01-12, decision: approved}\n"
_OFFICER = "    - {by: jane.doe, role: credit_officer, date: 2025-01-10, decision: approved}\n"


def _sized(amount: str, text: str = DEAL_YAML) -> str:
    return text.replace("commitment: 25000000", f"commitment: {amount}").replace(
        "amount: 25000000}", f"amount: {amount}}}")


def test_approvals_missing_for_funded_deal_over_ten_million(tmp_path):
    text = deal_with(_COMMITTEE, "")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0219")
    assert_at(d, DEAL, text, "funded")
    assert "credit_committee" in d["message"] and "25,000,000" in d["message"] and code == 1


@pytest.mark.parametrize("amount", ["8000000", "10000000", "10000000.00"])
def test_credit_officer_alone_suffices_up_to_ten_million(tmp_path, amount):
    assert validate(tmp_path, deal=_sized(amount, deal_with(_COMMITTEE, ""))) == (0, [])


def test_just_over_ten_million_needs_the_committee(tmp_path):
    text = _sized("10000000.01", deal_with(_COMMITTEE, ""))
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0219"), DEAL, text, "funded")


@pytest.mark.parametrize("status", ["draft", "submitted"])
def test_approvals_are_not_needed_before_approval(tmp_path, status):
    text = deal_with("status: funded", f"status: {status}").replace(_COMMITTEE, "")
    if status == "draft":  # a draft has no approvals yet (approvals on a draft warn: E0235)
        text = text.replace("  approvals:\n" + _OFFICER, "  approvals: []\n")
    assert validate(tmp_path, deal=text) == (0, [])


def test_a_declined_approval_cannot_count(tmp_path):
    text = deal_with("2025-01-12, decision: approved", "2025-01-12, decision: declined")
    code, diags = validate(tmp_path, deal=text)
    assert [d["code"] for d in diags] == ["E0219", "E0226"]
    assert_at(diags[0], DEAL, text, "funded")
    assert_at(diags[1], DEAL, text, "declined}")


def test_declined_approval_with_approved_status(tmp_path):
    text = deal_with("status: funded", "status: approved").replace(
        _COMMITTEE, _COMMITTEE + "    - {by: risk, role: risk, date: 2025-01-13, decision: declined}\n")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0226")
    assert_at(d, DEAL, text, "declined}")
    assert "status is approved" in d["message"] and code == 1


def test_declined_status_without_a_declining_approval(tmp_path):
    text = deal_with("status: funded", "status: declined")
    code, diags = validate(tmp_path, deal=text)
    assert_at(single(diags, "E0226"), DEAL, text, "declined")


def test_leverage_above_policy_is_a_warning_for_a_draft(tmp_path):
    text = deal_with("status: funded", "status: draft").replace("total_debt: 45000000", "total_debt: 75000001")
    text = text.replace("  approvals:\n" + _OFFICER + _COMMITTEE, "  approvals: []\n")  # E0235 otherwise
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0225")
    assert d["severity"] == "warning"
    assert_at(d, DEAL, text, "75000001")
    assert "6.00x" in d["message"] and "6.0x" in d["message"]
    assert code == 0
    root = tmp_path / "book"
    assert run_validate(root, "--strict")[0] == 1  # --strict: warnings fail too


def test_leverage_above_policy_is_an_error_when_approved(tmp_path):
    text = deal_with("status: funded", "status: approved").replace("total_debt: 45000000", "total_debt: 80000000")
    code, diags = validate(tmp_path, deal=text)
    d = single(diags, "E0225")
    assert d["severity"] == "error" and code == 1
    assert_at(d, DEAL, text, "80000000")
    assert "6.40x" in d["message"]


def test_leverage_at_the_limit_is_fine(tmp_path):
    text = deal_with("total_debt: 45000000", "total_debt: 75000000")  # 75m / 12.5m = 6.0x
    assert validate(tmp_path, deal=text) == (0, [])


# --- amendments: every problem points into the amendment file ---------------------------------
def _amend(tmp_path, old: str, new: str, name: str = "001-repricing"):
    text = deal_with(old, new, AMENDMENT_YAML) if old else AMENDMENT_YAML
    path = f"acme-tl/amendments/{name}.yaml"
    code, diags = validate(tmp_path, files={path: text})
    return code, diags, text, path


def test_amendment_on_unknown_facility(tmp_path):
    code, diags, text, path = _amend(tmp_path, "facility: tl", "facility: td")
    d = single(diags, "E0214")
    assert_at(d, path, text, "td,")
    assert d["hint"] == "facilities: tl" and code == 1


@pytest.mark.parametrize("term", ["payments.frequency: monthly", "type: revolver", "currency: EUR", "id: tl2"])
def test_amendment_changing_a_fixed_term(tmp_path, term):
    code, diags, text, path = _amend(tmp_path, "interest.spread: 525bps", term)
    d = single(diags, "E0215")
    assert_at(d, path, text, term)  # at the key
    assert code == 1


def test_amendment_unknown_path(tmp_path):
    code, diags, text, path = _amend(tmp_path, "interest.spread", "interest.spead")
    d = single(diags, "E0216")
    assert_at(d, path, text, "interest.spead")
    assert code == 1


def test_amendment_effective_after_maturity(tmp_path):
    code, diags, text, path = _amend(tmp_path, "effective_date: 2026-07-15", "effective_date: 2030-01-15")
    d = single(diags, "E0217")
    assert_at(d, path, text, "2030-01-15")
    assert code == 1


def test_amendment_effective_on_the_start_date(tmp_path):
    code, diags, text, path = _amend(tmp_path, "effective_date: 2026-07-15", "effective_date: 2025-01-15")
    # the approvals, dated 2026, are after that effective date too (E0231 each)
    assert [d["code"] for d in diags] == ["E0217", "E0231", "E0231"]
    assert_at(diags[0], path, text, "2025-01-15")


def test_amendment_id_differs_from_file_name(tmp_path):
    code, diags, text, path = _amend(tmp_path, "", "", name="002-repricing")
    d = single(diags, "E0218")
    assert_at(d, path, text, "001-repricing")
    assert d["hint"] == "set id: 002-repricing, or rename the file" and code == 1


def test_amendment_change_without_facility(tmp_path):
    code, diags, text, path = _amend(tmp_path, "{facility: tl, set:", "{set:")
    assert_at(single(diags, "E0224"), path, text, "{set:")


def test_amendment_adding_an_existing_facility(tmp_path):
    code, diags, text, path = _amend(
        tmp_path, "  - {facility: tl, set: {interest.spread: 525bps, maturity_date: 2031-01-15}}\n",
        "  - add_facility:\n      id: tl\n      commitment: 1000000\n      start_date: 2026-07-15\n"
        "      maturity_date: 2030-01-15\n      interest: {index: SOFR-3M, spread: 6%}\n"
        "      participations: [{lender: fund-i, share: 100%}]\n")
    assert_at(single(diags, "E0213"), path, text, "tl\n")


def test_amendment_bad_value_points_at_the_amendment(tmp_path):
    code, diags, text, path = _amend(tmp_path, "interest.spread: 525bps",
                                     "participations: [{lender: fund-i, share: 50%}, {lender: fund-ii, share: 50%}]")
    d = single(diags, "E0203")
    assert_at(d, path, text, "fund-ii")
    assert d["hint"] == "did you mean 'fund-i'?"


def test_amendment_money_digits_point_at_the_amendment(tmp_path):
    code, diags, text, path = _amend(tmp_path, "interest.spread: 525bps", "commitment: 30000000.001")
    assert_at(single(diags, "E0212"), path, text, "30000000.001")


def test_amendment_draw_outside_availability_points_at_the_amendment(tmp_path):
    code, diags, text, path = _amend(tmp_path, "interest.spread: 525bps",
                                     "commitment: 26000000, draws: [{date: 2025-01-15, amount: 25000000}, "
                                     "{date: 2031-02-03, amount: 1000000}]")
    d = single(diags, "E0209")
    assert_at(d, path, text, "2031-02-03")


def test_duplicate_amendment_ids(tmp_path):
    root = write_book(tmp_path)
    write_file(root, AMENDMENT, AMENDMENT_YAML)
    second = AMENDMENT_YAML.replace("2026-07-15", "2026-08-17")
    write_file(root, "acme-tl/amendments/002-repricing.yaml", second)
    code, diags = run_validate(root)
    assert sorted(d["code"] for d in diags) == ["E0213", "E0218"]
    for d in diags:
        assert_at(d, "acme-tl/amendments/002-repricing.yaml", second, "001-repricing")


# --- library bugs (strict xfail) ------------------------------------------------------------------
def test_amendment_cannot_change_frequency_through_the_payments_block(tmp_path):
    # Found as a bug (the blocked-term check looked only at the exact dotted key, so
    # set: {payments: {frequency: monthly}} changed the frequency silently); now fixed.
    code, diags, text, path = _amend(tmp_path, "interest.spread: 525bps",
                                     "payments: {frequency: monthly, calendar: US}")
    d = single(diags, "E0215")
    assert_at(d, path, text, "payments:")


def test_funded_deal_without_facilities_is_an_error(tmp_path):
    text = DEAL_YAML[:DEAL_YAML.index("facilities:")] + "facilities: []\n"
    code, diags = validate(tmp_path, deal=text)
    assert code == 1
    assert any(d["severity"] == "error" and (d["line"], d["column"]) == pos(text, "[]") for d in diags), diags


def test_a_broken_rate_file_is_not_also_reported_as_missing(tmp_path):
    code, diags = validate(tmp_path, files={"rates/SOFR-3M.csv": sofr_csv().replace("2025-01-03,", "2025-01-32,")})
    assert [d["code"] for d in diags] == ["E0302"]


def test_book_yaml_constant_is_the_valid_one():
    for needle in (", parent: fund-i}", "base: US", "[0, 30, 60, 90, 120]", "  - {id: acme,"):
        assert needle in BOOK_YAML
