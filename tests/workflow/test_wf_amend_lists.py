"""`loanctl amend --set` with lists (participations, draws, fees) in YAML flow syntax: the value is
read by loanctl's YAML reader and written into the amendment file as YAML flow, `validate` accepts
the file once its approvals are in, and the schedule follows it. A malformed value is E0510 and
writes nothing.

acme-tl (see test_wf_kit): 25,000,000 bullet, SOFR 4.31% + 575bps = 10.06% ACT/360, quarterly on
the 15th (modified following, US), funded 2030-01-15; every amendment here is effective
2031-01-15.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from test_wf_kit import COMMITMENT, DEAL, SOFR, cents, codes_in, loanctl, no_traceback, payment_dates

RATE = SOFR + Decimal("0.0575")  # 10.06%
APPROVALS = ("approvals:\n"
             "  - {by: jane.doe, role: credit_officer, date: 2031-01-08, decision: approved}\n"
             "  - {by: ic, role: credit_committee, date: 2031-01-10, decision: approved}\n")
HEAD = ("# yaml-language-server: $schema=../../.schema/amendment.schema.json\n"
        "#\n"
        "# Syndication\n"
        "# Amendments apply in (effective_date, id) order; `set` takes dotted paths into the\n"
        "# facility (interest.spread, maturity_date, participations …). The payment frequency,\n"
        "# the facility type and the currency cannot be changed by amendment.\n"
        'id: "001-syndication"\n'
        "effective_date: 2031-01-15\n"
        "description: Syndication\n"
        "approvals: []\n"
        "#  - {by: ic, role: credit_committee, date: 2026-07-01, decision: approved}\n"
        "changes:\n"
        "  - facility: tl\n"
        "    set:\n")
TAIL = ("  # - {add_facility: {id: ddtl, type: delayed_draw, commitment: 5000000, start_date: …, "
        "maturity_date: …, interest: {…}}}\n")
FILE = f"{DEAL}/amendments/001-syndication.yaml"


def amend(repo, *sets: str):
    args = []
    for s in sets:
        args += ["--set", s]
    run = loanctl("amend", DEAL, "--effective", "2031-01-15", *args, "--description", "Syndication",
                  "--as-of", "2029-09-01")
    no_traceback(run)
    return run


def approve_and_validate(repo) -> None:
    """The approvals the policy asks for (both roles above 10m), then `validate` passes."""
    repo.replace(FILE, "approvals: []\n", APPROVALS)
    run = loanctl("validate")
    no_traceback(run)
    assert (run.code, codes_in(run.out + run.err)) == (0, []), run


def schedule_rows(lender: str | None = None) -> dict[str, dict]:
    run = loanctl("schedule", DEAL, "--format", "json", *(("--lender", lender) if lender else ()))
    assert run.code == 0, run
    (fac,) = json.loads(run.out)["facilities"]
    return {r["date"]: r for r in fac["rows"]}


def interest(start: date, end: date, balance: Decimal = COMMITMENT) -> Decimal:
    return cents(balance * RATE * Decimal((end - start).days) / Decimal(360))


def test_amend_sets_participations_as_a_flow_list_and_the_schedule_splits_by_them(repo):
    repo.replace("book.yaml", "  # - {id: fund-i-spv, kind: spv", "  - {id: fund-i-spv, kind: spv")
    run = amend(repo, "tl.participations=[{lender: fund-i, share: 50%}, {lender: fund-i-spv, share: 50%}]")
    assert run.code == 0, run
    assert repo.read(FILE) == HEAD + (
        '      participations: [{lender: fund-i, share: "50%"}, {lender: fund-i-spv, share: "50%"}]\n') + TAIL
    approve_and_validate(repo)
    whole, fund, spv = schedule_rows(), schedule_rows("fund-i"), schedule_rows("fund-i-spv")
    # 2030-07-15 → 2030-10-15, before the amendment: 92 days, all fund-i's
    # 25,000,000 × 10.06% × 92 / 360 = 642,722.222… → 642,722.22
    assert interest(date(2030, 7, 15), date(2030, 10, 15)) == Decimal("642722.22")
    assert (whole["2030-10-15"]["interest"], fund["2030-10-15"]["interest"], spv["2030-10-15"]["interest"]) == (
        "642722.22", "642722.22", "0.00")
    # 2031-04-15 → 2031-07-15, after it: 91 days, 25,000,000 × 10.06% × 91 / 360 = 635,736.111… → 635,736.11;
    # halves 317,868.055 each: the odd cent goes to the first lender in file order (largest remainder, tie)
    dates = payment_dates()
    assert (dates[4], dates[5]) == (date(2031, 4, 15), date(2031, 7, 15))
    assert interest(dates[4], dates[5]) == Decimal("635736.11")
    assert (whole["2031-07-15"]["interest"], fund["2031-07-15"]["interest"], spv["2031-07-15"]["interest"]) == (
        "635736.11", "317868.06", "317868.05")
    # the balance is shared too: 12,500,000 each from the amendment on
    assert (fund["2031-07-15"]["closing_balance"], spv["2031-07-15"]["closing_balance"]) == (
        "12500000.00", "12500000.00")


def test_amend_sets_draws_as_a_flow_list_and_the_schedule_draws_them(repo):
    run = amend(repo, "tl.commitment=26000000",
                "tl.draws=[{date: 2030-01-15, amount: 25000000}, {date: 2031-02-03, amount: 1000000}]")
    assert run.code == 0, run
    assert repo.read(FILE) == HEAD + (
        "      commitment: 26000000\n"
        "      draws: [{date: 2030-01-15, amount: 25000000}, {date: 2031-02-03, amount: 1000000}]\n") + TAIL
    approve_and_validate(repo)
    rows = schedule_rows()
    # 2031-01-15 → 2031-04-15 (90 days): 25,000,000 for all 90 days plus the 1,000,000 drawn on 02-03 for
    # its 71 days: 25,000,000 × 10.06% × 90 / 360 + 1,000,000 × 10.06% × 71 / 360
    # = 628,750 + 19,840.555… = 648,590.555… → 648,590.56
    expected = cents(COMMITMENT * RATE * 90 / 360 + Decimal(1_000_000) * RATE * 71 / 360)
    assert expected == Decimal("648590.56")
    row = rows["2031-04-15"]
    assert (row["draws"], row["interest"], row["closing_balance"]) == ("1000000.00", "648590.56", "26000000.00")
    # the next full quarter on 26,000,000: 91 days × 10.06% / 360 = 661,165.555… → 661,165.56
    assert rows["2031-07-15"]["interest"] == str(interest(date(2031, 4, 15), date(2031, 7, 15), Decimal(26_000_000)))
    assert rows["2031-07-15"]["interest"] == "661165.56"


def test_amend_sets_fees_as_a_flow_list_and_the_schedule_charges_them(repo):
    run = amend(repo, "tl.fees=[{type: upfront, rate: 2%}, {type: exit, rate: 1.5%}, "
                      "{type: fixed, amount: 25000.50, date: 2031-06-30, name: agency fee}]")
    assert run.code == 0, run
    assert repo.read(FILE) == HEAD + (
        '      fees: [{type: upfront, rate: "2%"}, {type: exit, rate: "1.5%"}, '
        '{type: fixed, amount: 25000.50, date: 2031-06-30, name: "agency fee"}]\n') + TAIL
    approve_and_validate(repo)
    rows = schedule_rows()
    maturity = payment_dates()[-1].isoformat()  # 2035-01-15 is Martin Luther King Jr. Day → 01-16
    assert maturity == "2035-01-16"
    # upfront 2% × 25,000,000 = 500,000 at closing (as before); the fixed 25,000.50 with the first
    # payment on or after 2031-06-30; exit 1.5% × 25,000,000 drawn = 375,000 at maturity
    assert (rows["2030-01-15"]["fees"], rows["2031-07-15"]["fees"], rows[maturity]["fees"]) == (
        "500000.00", "25000.50", "375000.00")
    assert rows["2031-04-15"]["fees"] == "0.00"


def test_a_malformed_list_is_E0510_at_its_column_with_a_hint_and_writes_nothing(repo):
    before = repo.snapshot()
    value = "[{lender: fund-i, share: 50%}"  # 29 characters: the closing ] is missing at column 30
    run = amend(repo, f"tl.participations={value}")
    assert (run.code, run.out) == (2, "")
    assert run.err.startswith(f"loanctl: error: E0510: --set 'tl.participations={value}': the value does not "
                              "parse at column 30 of the value: YAML syntax error: ")
    assert run.err.endswith("  = hint: a list is [a, b] and a mapping {key: value} (YAML flow syntax), e.g. "
                            "--set 'tl.participations=[{lender: fund-i, share: 50%}, {lender: fund-i-spv, "
                            "share: 50%}]'; quote the whole --set for the shell\n")
    assert repo.snapshot() == before


def test_a_value_with_a_line_break_is_E0510_and_cannot_add_keys(repo):
    before = repo.snapshot()
    run = amend(repo, "tl.fees=[]\nmaturity_date: 2040-01-15")
    assert (run.code, run.out) == (2, "")
    assert "E0510" in run.err and "the value must be on one line" in run.err
    assert repo.snapshot() == before


def test_a_duplicate_key_in_a_flow_mapping_is_E0510(repo):
    before = repo.snapshot()
    run = amend(repo, "tl.participations=[{lender: fund-i, lender: fund-i, share: 100%}]")
    assert run.code == 2
    assert "E0510" in run.err and "duplicate key 'lender'" in run.err
    assert repo.snapshot() == before
