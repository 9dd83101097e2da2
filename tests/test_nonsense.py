"""Nonsense in a book is refused, not computed (issue #11, class 8, the book's part).

Each test writes a valid book with one value made nonsensical, runs the real command line
and asserts the exit code, the diagnostic code and its exact position (stated by pointing
at the source text with `pos`). Covered: negative spreads, rates, fees and amortization
rates (E0245, E0228); implausible fixings (E0306, a warning); a commitment amended below
what is drawn (E0246); shares that sum to 100% only under rounding (E0207: validate and
every later command use one exact sum); dates outside 1900-01-01 … 2200-12-31 (E0112, so
no command's date arithmetic can overflow); digits other than ASCII 0-9 (E0113).
"""

from __future__ import annotations

import json
import tempfile
from decimal import Context, Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookfactory import (DEAL_YAML, book_with, deal_with, invoke, only, pos, run_cli_subprocess,
                         run_validate, sofr_csv, write_book)
from loanctl.conventions.split import shares_total, split_by_shares

DEAL = "acme-tl/deal.yaml"
SHARES = "- {lender: fund-i, share: 60%}\n      - {lender: fund-i-spv, share: 40%}"
THREE_FUNDS_BOOK = book_with("  - {id: acme,", "  - {id: fund-ii, kind: fund, name: Test Credit Fund II}\n"
                                             "  - {id: acme,")


def assert_at(d: dict, file: str, text: str, needle: str, nth: int = 1) -> None:
    assert d["file"].endswith(file), d
    assert (d["line"], d["column"]) == pos(text, needle, nth), d


def amendment(sets: str, effective: str = "2026-07-15") -> str:
    # the book's policy wants a credit officer and the committee above 10,000,000
    return (f"id: 001-change\neffective_date: {effective}\n"
            "approvals: [{by: jane.doe, role: credit_officer, date: 2026-06-30, decision: approved}, "
            "{by: ic, role: credit_committee, date: 2026-07-01, decision: approved}]\n"
            f"changes:\n  - {{facility: tl, set: {{{sets}}}}}\n")


# --- negative spreads, rates, fees and amortization ------------------------------------------
@pytest.mark.parametrize("old, new, needle", [
    ("spread: 575bps", "spread: -575bps", "-575bps"),
    ("annual_rate: 1%", "annual_rate: -1%", "-1%"),
    ("{type: upfront, rate: 2%}", "{type: upfront, rate: -2%}", "-2%"),
    ("{type: upfront, rate: 2%}", "{type: commitment, rate: -0.005}", "-0.005"),
    ("{type: upfront, rate: 2%}", "{type: exit, rate: -1bps}", "-1bps"),
    ("{type: upfront, rate: 2%}", "{type: prepayment, schedule: [{until: 2026-01-15, rate: 2%}, "
                                  "{until: 2027-01-15, rate: -1%}]}", "-1%"),
    ("floor: 1%", "floor: 1%\n      pik_rate: -2%", "-2%"),
])
def test_negative_rate_terms_are_e0245_at_the_value(tmp_path, old, new, needle):
    text = deal_with(old, new)
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    assert code == 1
    assert_at(only(diags, "E0245"), DEAL, text, needle)


def test_negative_fixed_rate_is_e0245(tmp_path):
    text = deal_with("index: SOFR-3M\n      spread: 575bps\n      floor: 1%", "fixed_rate: -9.5%")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    assert code == 1
    assert_at(only(diags, "E0245"), DEAL, text, "-9.5%")


def test_negative_spread_set_by_amendment_is_reported_in_the_amendment(tmp_path):
    am = amendment("interest.spread: -25bps")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": DEAL_YAML,
                                                           "acme-tl/amendments/001-change.yaml": am}))
    assert code == 1
    assert_at(only(diags, "E0245"), "acme-tl/amendments/001-change.yaml", am, "-25bps")


def test_zero_spread_and_negative_floor_are_allowed(tmp_path):
    """A floor bounds the index fixing, which has been negative (EUR, CHF, JPY): allowed.
    A zero spread is unusual but not nonsense."""
    text = deal_with("spread: 575bps\n      floor: 1%", "spread: 0%\n      floor: -0.5%")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    assert (code, diags) == (0, [])


def test_negative_fixed_fee_amount_is_e0228(tmp_path):
    text = deal_with("{type: upfront, rate: 2%}", "{type: fixed, amount: -5000, date: 2026-01-15}")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    assert code == 1
    assert_at(only(diags, "E0228"), DEAL, text, "-5000")


# --- fixings outside a plausible range --------------------------------------------------------
def test_implausible_fixings_warn_at_file_line_and_column(tmp_path):
    csv = sofr_csv()
    # lines: 1 header, 2 = 2025-01-01, 3 = 2025-01-02, 4 = 2025-01-03 (weekdays)
    csv = csv.replace("2025-01-02,0.04300", "2025-01-02,0.5001").replace("2025-01-03,0.04300", "2025-01-03,-5.01%")
    code, diags = run_validate(write_book(tmp_path, rates={"SOFR-3M": csv}))
    assert code == 0  # a warning: an extreme fixing may be real
    found = [(d["code"], d["severity"], d["line"], d["column"]) for d in diags]
    assert found == [("E0306", "warning", 3, len("2025-01-02,") + 1), ("E0306", "warning", 4, len("2025-01-03,") + 1)]
    assert all(d["file"].endswith("rates/SOFR-3M.csv") for d in diags)
    code, _ = run_validate(write_book(tmp_path, rates={"SOFR-3M": csv}), "--strict")
    assert code == 1


def test_fixings_at_the_range_bounds_do_not_warn(tmp_path):
    csv = sofr_csv().replace("2025-01-02,0.04300", "2025-01-02,50%").replace("2025-01-03,0.04300", "2025-01-03,-0.05")
    code, diags = run_validate(write_book(tmp_path, rates={"SOFR-3M": csv}))
    assert (code, diags) == (0, [])


# --- a commitment amended below what is drawn -------------------------------------------------
def _partly_drawn_deal() -> str:
    """Commitment 30,000,000, one draw of 25,000,000 on the start date."""
    return deal_with("commitment: 25000000", "commitment: 30000000")


def test_commitment_cut_below_drawn_is_e0246_at_the_amendment_value(tmp_path):
    am = amendment("commitment: 24999999")  # 25,000,000 drawn on 2025-01-15, before 2026-07-15
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": _partly_drawn_deal(),
                                                           "acme-tl/amendments/001-change.yaml": am}))
    assert code == 1
    d = only(diags, "E0246")
    assert_at(d, "acme-tl/amendments/001-change.yaml", am, "24999999")
    assert "25,000,000" in d["message"]


def test_commitment_cut_to_exactly_drawn_is_fine(tmp_path):
    am = amendment("commitment: 25000000")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": _partly_drawn_deal(),
                                                           "acme-tl/amendments/001-change.yaml": am}))
    assert (code, diags) == (0, [])


def test_term_loan_with_implicit_draw_cannot_cut_its_commitment(tmp_path):
    """Without `draws:` a term loan draws its whole commitment on the start date; a cut must
    not shrink that draw after the fact."""
    text = deal_with("    draws: [{date: 2025-01-15, amount: 25000000}]\n", "")
    am = amendment("commitment: 20000000")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text,
                                                           "acme-tl/amendments/001-change.yaml": am}))
    assert code == 1
    assert_at(only(diags, "E0246"), "acme-tl/amendments/001-change.yaml", am, "20000000")


# --- shares: one exact sum for validate and every split --------------------------------------
def _three_shares(a: str, b: str, c: str) -> str:
    return deal_with(SHARES, f"- {{lender: fund-i, share: {a}}}\n      - {{lender: fund-i-spv, share: {b}}}\n"
                             f"      - {{lender: fund-ii, share: {c}}}")


@pytest.mark.parametrize("share, shown", [
    # 3 × 33.33333333333333333333333333% = 99.99999999999999999999999999%
    ("33.33333333333333333333333333%", "99.99999999999999999999999999%"),
    # 3 × 0.3333333333333333333333333333333333 = 0.9999999999999999999999999999999999, which a
    # 28-digit Decimal sum rounds to 1 (validate passed it, then every split refused it)
    ("0.3333333333333333333333333333333333", "99.99999999999999999999999999999999%"),
])
def test_shares_summing_to_one_only_under_rounding_are_e0207(tmp_path, share, shown):
    text = _three_shares(share, share, share)
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}, book_yaml=THREE_FUNDS_BOOK))
    assert code == 1
    d = only(diags, "E0207")
    assert_at(d, DEAL, text, "- {lender: fund-i,")  # the list value
    assert shown in d["message"]


def test_exact_thirds_validate_and_every_lender_split_sums_to_the_whole(tmp_path):
    """Shares 0.3333333333333333333333333333333334 + 2 × 0.3333333333333333333333333333333333
    sum to exactly 1. The first period's interest is 25,000,000 × (4.299% + 5.75%) × 90/360 =
    628,062.50 (fixing of 2025-01-15 = 0.04299). In cents, 62,806,250 × each share gives
    20,935,416 and a remainder; the 2 cents left go to the largest remainders: the first
    share (…34) and then, on the tie, the earlier of the other two."""
    text = _three_shares("0.3333333333333333333333333333333334", "0.3333333333333333333333333333333333",
                         "0.3333333333333333333333333333333333")
    root = write_book(tmp_path, deals={"acme-tl": text}, book_yaml=THREE_FUNDS_BOOK)
    assert run_validate(root) == (0, [])
    parts = {}
    for lender in (None, "fund-i", "fund-i-spv", "fund-ii"):
        args = ["--book", str(root), "schedule", "acme-tl", "--format", "json"]
        result = invoke(args + (["--lender", lender] if lender else []))
        assert result.exit_code == 0, result.output
        parts[lender] = Decimal(json.loads(result.stdout)["facilities"][0]["rows"][1]["interest"])
    assert parts == {None: Decimal("628062.50"), "fund-i": Decimal("209354.17"),
                     "fund-i-spv": Decimal("209354.17"), "fund-ii": Decimal("209354.16")}


def test_share_with_more_than_40_places_is_e0107(tmp_path):
    """Shares must be exact and small enough to sum exactly: 1e-999999999 would need a
    billion-digit integer."""
    text = deal_with("share: 40%}", "share: 40%}\n      - {lender: fund-ii, share: 1e-41}")
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}, book_yaml=THREE_FUNDS_BOOK))
    assert code == 1
    assert_at(only(diags, "E0107"), DEAL, text, "1e-41")


@st.composite
def exact_shares(draw):
    """2–6 shares with `places` decimal places each, summing to exactly 1: cut 10^places
    units at distinct points."""
    places = draw(st.integers(0, 40))
    k = draw(st.integers(2, 6))
    scale = 10 ** places
    if scale < k:
        places, scale = 1, 10
    cuts = sorted(draw(st.sets(st.integers(1, scale - 1), min_size=k - 1, max_size=k - 1)))
    units = [b - a for a, b in zip([0, *cuts], [*cuts, scale])]
    return [_shifted(Decimal(u), -places) for u in units], places


def _shifted(value: Decimal, places: int) -> Decimal:
    """value × 10^places, exactly (scaleb would round to the context's 28 digits)."""
    sign, digits, exp = value.as_tuple()
    return Decimal((sign, digits, exp + places))


def _book_with_shares(root_parent: Path, shares: list[Decimal], as_percent: bool) -> Path:
    lenders = [f"fund-{i}" for i in range(len(shares))]
    funds = "".join(f"  - {{id: {n}, kind: fund, name: Fund {i}}}\n" for i, n in enumerate(lenders))
    book = book_with("  - {id: acme,", funds + "  - {id: acme,")
    rows = "\n".join(f"      - {{lender: {n}, share: {format(_shifted(s, 2), 'f') + '%' if as_percent else format(s, 'f')}}}"
                     for n, s in zip(lenders, shares))
    return write_book(root_parent, deals={"acme-tl": deal_with("      " + SHARES, rows)}, book_yaml=book)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(exact_shares(), st.integers(-10**14, 10**14), st.booleans())
def test_property_exact_shares_validate_and_split_exactly(drawn, cents, as_percent):
    shares, places = drawn
    amount = Decimal(cents).scaleb(-2)
    parts = split_by_shares(amount, shares, 2)
    assert sum(parts) == amount and all(abs(p - amount * s) <= Decimal("0.01") for p, s in zip(parts, shares))
    with tempfile.TemporaryDirectory() as tmp:
        assert run_validate(_book_with_shares(Path(tmp), shares, as_percent)) == (0, [])
        # one share 1e-30 short (taken from the largest): validate and the split both refuse
        i = shares.index(max(shares))
        with localcontext(Context(prec=100)):  # exact: a 28-digit subtraction would round it away
            off = shares[:i] + [shares[i] - Decimal("1e-30")] + shares[i + 1:]
        assert shares_total(off) != 1
        with pytest.raises(ValueError):
            split_by_shares(amount, off, 2)
        code, diags = run_validate(_book_with_shares(Path(tmp) / "off", off, as_percent))
        assert code == 1 and [d["code"] for d in diags] == ["E0207"]


# --- dates: a window every command's arithmetic can handle -----------------------------------
EXTREME = {
    "maturity-9999": [("maturity_date: 2030-01-15", "maturity_date: 9999-12-31"),
                      ("frequency: quarterly", "frequency: monthly")],
    "start-0001": [("start_date: 2025-01-15", "start_date: 0001-01-01")],
    "first-payment-near-9999": [("first_payment_date: 2025-04-15", "first_payment_date: 9999-12-15"),
                                ("maturity_date: 2030-01-15", "maturity_date: 9999-12-31")],
}
# every command that would read the clock is given its date (no test depends on today)
COMMANDS = [["validate"], ["schedule", "acme-tl"], ["show", "acme-tl", "--as-of", "2026-01-01"],
            ["report", "--deal", "acme-tl", "--as-of", "2026-01-01"], ["simulate", "acme-tl", "--as-of", "2026-01-01"],
            ["covenants", "acme-tl", "--as-of", "2026-01-01"]]


@pytest.fixture(scope="module")
def extreme_books(tmp_path_factory):
    books = {}
    for name, edits in EXTREME.items():
        text = DEAL_YAML
        for old, new in edits:
            text = deal_with(old, new, text)
        books[name] = (write_book(tmp_path_factory.mktemp(name), deals={"acme-tl": text}), text)
    return books


@pytest.mark.parametrize("case", list(EXTREME))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_extreme_dates_give_a_diagnostic_in_every_command(extreme_books, case, command):
    root, text = extreme_books[case]
    r = run_cli_subprocess(["--book", str(root), *command])
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    line = next(x for x in (r.stdout + r.stderr).splitlines() if "error[E0112]" in x)
    bad = "0001-01-01" if case == "start-0001" else "9999-12-31"
    assert f"acme-tl/deal.yaml:{pos(text, bad)[0]}:{pos(text, bad)[1]}: error[E0112]" in line


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] != "validate"], ids=lambda c: c[0])
def test_as_of_far_in_the_future_is_a_usage_error(tmp_path, command):
    root = write_book(tmp_path)
    args = [a for a in command if a != "2026-01-01" and a != "--as-of"]
    r = run_cli_subprocess(["--book", str(root), *args, "--as-of", "9999-12-31"])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--as-of: 9999-12-31 is outside the dates loanctl accepts (1900-01-01 to 2200-12-31)" in r.stderr


@pytest.mark.parametrize("where, files, needle", [
    ("amendment", {"acme-tl/amendments/001-change.yaml": amendment("maturity_date: 9999-12-31")}, "9999-12-31"),
    ("amendment-effective", {"acme-tl/amendments/001-change.yaml": amendment("interest.spread: 5%",
                                                                              effective="9999-01-15")},
     "9999-01-15"),
    ("financials", {"acme-tl/financials/2025-q1.yaml": "period_end: 1899-12-31\nebitda: 1\ntotal_debt: 2\n"},
     "1899-12-31"),
])
def test_dates_outside_the_window_are_e0112_in_every_book_file(tmp_path, where, files, needle):
    root = write_book(tmp_path, deals={"acme-tl": DEAL_YAML, **files})
    code, diags = run_validate(root)
    assert code == 1
    (rel, text), = files.items()
    assert_at(only(diags, "E0112"), rel, text, needle)


def test_book_calendar_date_outside_the_window_is_e0112(tmp_path):
    book = book_with("add: [2026-12-24]", "add: [2026-12-24, 2201-01-01]")
    code, diags = run_validate(write_book(tmp_path, book_yaml=book))
    assert code == 1
    assert_at(only(diags, "E0112"), "book.yaml", book, "2201-01-01")


def test_rate_file_date_outside_the_window_is_e0302_at_its_row(tmp_path):
    csv = sofr_csv() + "9999-12-31,0.04\n"
    code, diags = run_validate(write_book(tmp_path, rates={"SOFR-3M": csv}))
    assert code == 1
    d = next(d for d in diags if d["code"] == "E0302")
    assert (d["line"], d["column"]) == (csv.count("\n"), 1)
    assert "outside the dates loanctl accepts" in d["message"]


def test_a_deal_spanning_the_whole_window_runs_in_every_command(tmp_path):
    """1900-01-01 to 2200-12-31, annual, fixed rate: the window's edges are usable, and date
    arithmetic one period beyond them (2201) does not overflow."""
    text = DEAL_YAML
    for old, new in [("start_date: 2025-01-15", "start_date: 1900-01-01"),
                     ("maturity_date: 2030-01-15", "maturity_date: 2200-12-31"),
                     ("draws: [{date: 2025-01-15,", "draws: [{date: 1900-01-01,"),
                     ("      first_payment_date: 2025-04-15\n", ""), ("frequency: quarterly", "frequency: annual"),
                     ("index: SOFR-3M\n      spread: 575bps\n      floor: 1%", "fixed_rate: 9%")]:
        text = deal_with(old, new, text)
    root = write_book(tmp_path, deals={"acme-tl": text})
    for command in COMMANDS + [["simulate", "acme-tl", "--default", "2200-06-30", "--recovery-lag", "100y",
                                "--as-of", "2026-06-01"]]:
        command = [("2200-12-31" if a == "2026-01-01" else a) for a in command]
        r = run_cli_subprocess(["--book", str(root), *command])
        assert r.returncode == 0, (command, r.stdout[-500:], r.stderr[-500:])


@pytest.mark.parametrize("lag", ["100000y", "1201m", "-12m", "99999999999999999999999m", "١٢m"])
def test_simulate_recovery_lag_beyond_a_century_is_a_usage_error(tmp_path, lag):
    root = write_book(tmp_path)
    r = run_cli_subprocess(["--book", str(root), "simulate", "acme-tl", "--default", "2027-01-15",
                            "--recovery-lag", lag])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"--recovery-lag {lag}:" in r.stderr


# --- digits other than ASCII 0-9 ----------------------------------------------------------------
@pytest.mark.parametrize("old, new, needle", [
    ("commitment: 25000000", "commitment: ١٠٠٠", "١٠٠٠"),                # Arabic-Indic, plain scalar
    ("commitment: 25000000", 'commitment: "１０００"', '"１０００"'),       # fullwidth, quoted
    ("start_date: 2025-01-15", "start_date: 2025-０1-15", "2025-０1-15"),
    ("spread: 575bps", "spread: ५७५bps", "५७५bps"),                      # Devanagari
    ("share: 60%}", 'share: "６0%"}', '"６0%"'),
])
def test_non_ascii_digits_in_the_book_are_e0113(tmp_path, old, new, needle):
    text = deal_with(old, new)
    code, diags = run_validate(write_book(tmp_path, deals={"acme-tl": text}))
    assert code == 1
    assert_at(only(diags, "E0113"), DEAL, text, needle)


def test_non_ascii_digits_in_a_rate_file_are_refused_at_their_row(tmp_path):
    csv = sofr_csv().replace("2025-01-02,0.04300", "2025-０1-02,0.04300").replace("2025-01-03,0.04300",
                                                                                "2025-01-03,0.０4300")
    code, diags = run_validate(write_book(tmp_path, rates={"SOFR-3M": csv}))
    assert code == 1
    found = [(d["code"], d["line"], d["column"]) for d in diags if d["code"] in ("E0302", "E0303")]
    assert found == [("E0302", 3, 1), ("E0303", 4, len("2025-01-03,") + 1)]
    assert all("not one of the digits 0-9" in d["message"] for d in diags if d["code"] in ("E0302", "E0303"))


def test_non_ascii_digits_in_a_command_line_date_are_a_usage_error(tmp_path):
    r = run_cli_subprocess(["--book", str(write_book(tmp_path)), "schedule", "acme-tl", "--as-of", "２０２６-01-01"])
    assert r.returncode == 2 and "not one of the digits 0-9" in r.stderr
