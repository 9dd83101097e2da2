"""`loanctl covenants` (SPEC §7): value, bound, headroom and status for every covenant and
every reported period; the default and a custom at-risk margin; bound step-downs across a
period boundary; overdue financials; `--fund` scope; and bad financials / covenant input
as positioned diagnostics, never a traceback.

Every expected value below is worked by hand from the figures in the test.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from textwrap import dedent

import pytest

import loanctl.cli  # noqa: F401  (registers the commands)
from bookfactory import cli, pos, tree_hash

BOOK_YAML = """\
name: Covenant Test Partners
base_currency: USD
rounding: half_up
entities:
  - {id: fund-i, kind: fund, name: Test Credit Fund I}
  - {id: fund-i-spv, kind: spv, name: TCF I Holdings LLC, parent: fund-i}
  - {id: fund-ii, kind: fund, name: Test Credit Fund II}
  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}
policy:
  approvals:
    - {up_to: 10000000, require: [credit_officer]}
    - {require: [credit_officer, credit_committee]}
  limits:
    max_leverage: 6.0
"""

DEAL_YAML = """\
id: {id}
name: Test deal {id}
borrower: acme
status: {status}
currency: USD
origination:
  underwriting: {{ebitda: 3000000, total_debt: 12000000, cash: 1000000, collateral_value: 24000000}}
  approvals:
    - {{by: jane.doe, role: credit_officer, date: {approved}, decision: approved}}
facilities:
  - id: tl
    type: term
    commitment: 5000000
    start_date: {start}
    maturity_date: 2031-01-15
    interest: {{fixed_rate: 9%}}
    payments: {{frequency: quarterly}}
    amortization: {{type: bullet}}
    participations:
{participations}
covenants:
{covenants}
"""


def new_book(tmp_path: Path) -> Path:
    root = tmp_path / "book"
    (root / "rates").mkdir(parents=True)
    (root / "book.yaml").write_text(BOOK_YAML, encoding="utf-8")
    (root / "rates" / "SOFR-3M.csv").write_text("date,rate\n2025-01-02,0.05\n", encoding="utf-8")
    return root


# Closing 2025-12-15: the first quarterly test date is the first quarter end on or after
# 2026-03-15 (one full quarter later), 2026-03-31, so the 2026 quarters below are all tested.
START = "2025-12-15"


def add_deal(root: Path, deal_id: str, covenants: str, financials: dict[str, str] = None,
             status: str = "funded", lenders=(("fund-i", "100%"),), start: str = START) -> Path:
    folder = root / deal_id
    folder.mkdir()
    parts = "\n".join(f"      - {{lender: {l}, share: {s}}}" for l, s in lenders)
    covs = "\n".join("  " + line for line in dedent(covenants).strip().splitlines())
    approved = (date.fromisoformat(start) - timedelta(days=5)).isoformat()
    (folder / "deal.yaml").write_text(DEAL_YAML.format(id=deal_id, status=status, participations=parts,
                                                       covenants=covs, start=start, approved=approved),
                                      encoding="utf-8")
    if financials:
        (folder / "financials").mkdir()
        for name, text in financials.items():
            (folder / "financials" / f"{name}.yaml").write_text(dedent(text), encoding="utf-8")
    return folder


def covenant_json(root: Path, *args):
    result = cli("--book", root, "covenants", *args, "--format", "json")
    return result, (json.loads(result.stdout) if result.stdout.strip() else None)


def fin(period_end: str, **figures) -> str:
    return f"period_end: {period_end}\nbasis: ltm\n" + "".join(f"{k}: {v}\n" for k, v in figures.items())


def row(deal, covenant, period_end, metric, value, bound, headroom, status):
    return {"deal": deal, "covenant": covenant, "period_end": period_end, "metric": metric, "value": value,
            "bound": bound, "headroom": headroom, "status": status}


# --- statuses, headroom and the at-risk margin ------------------------------------------------
COVENANTS = """\
- {id: max-leverage, metric: total_leverage, max: 4.5, frequency: quarterly}
- {id: max-net, metric: net_leverage, max: 4.0}
- {id: min-icr, metric: interest_coverage, min: 2.0, at_risk_margin: 20%}
- {id: min-fccr, metric: fixed_charge_coverage, min: 1.2}
- {id: max-ltv, metric: ltv, max: 0.65}
"""


def test_every_covenant_every_period_with_exact_value_bound_headroom_and_status(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", COVENANTS, {
        # Q1: leverage 12.3/3 = 4.10, headroom 0.40 < 10% × 4.5 → at_risk
        #     net (12.3 − 0.9)/3 = 3.80, headroom 0.20 < 0.40 → at_risk
        #     icr 3/1.3 = 2.3077, headroom 0.3077 < 20% × 2.0 = 0.40 → at_risk (compliant at 10%)
        #     fccr 3/2.6 = 1.1538, headroom −0.0462 → breached
        #     ltv 12.3/24 (underwriting collateral) = 0.5125, headroom 0.1375 → compliant
        "2026-q1": fin("2026-03-31", ebitda=3000000, total_debt=12300000, cash=900000,
                       interest_expense=1300000, fixed_charges=2600000),
        # Q2: leverage 12.15/3 = 4.05, headroom 0.45 = 10% × 4.5: not below → compliant
        #     net (12.15 − 1.5)/3 = 3.55, headroom 0.45 ≥ 0.40 → compliant
        #     icr 3/1.25 = 2.40, headroom 0.40 = 20% × 2.0: not below → compliant
        #     fccr 3/2.5 = 1.20, headroom 0 (not < 0) < 0.12 → at_risk
        #     ltv 12.15/15 (the financials' own collateral) = 0.81, headroom −0.16 → breached
        "2026-q2": fin("2026-06-30", ebitda=3000000, total_debt=12150000, cash=1500000,
                       interest_expense=1250000, fixed_charges=2500000, collateral_value=15000000),
        # Q3: leverage 14.1/3 = 4.70 → breached −0.20; net 13.1/3 = 4.3667 → breached −0.3667
        #     icr 3.00 → compliant 1.00; fccr 1.50 → compliant 0.30
        #     ltv 14.1/24 = 0.5875, headroom 0.0625 < 0.065 → at_risk
        "2026-q3": fin("2026-09-30", ebitda=3000000, total_debt=14100000, cash=1000000,
                       interest_expense=1000000, fixed_charges=2000000),
    })
    result, rows = covenant_json(root, "acme-tl", "--as-of", "2026-10-15")
    assert result.exit_code == 0, result.output
    d = "acme-tl"
    assert rows == [
        row(d, "max-leverage", "2026-03-31", "total_leverage", "4.10", "4.5", "0.40", "at_risk"),
        row(d, "max-leverage", "2026-06-30", "total_leverage", "4.05", "4.5", "0.45", "compliant"),
        row(d, "max-leverage", "2026-09-30", "total_leverage", "4.70", "4.5", "-0.20", "breached"),
        row(d, "max-ltv", "2026-03-31", "ltv", "0.51", "0.65", "0.14", "compliant"),
        row(d, "max-ltv", "2026-06-30", "ltv", "0.81", "0.65", "-0.16", "breached"),
        row(d, "max-ltv", "2026-09-30", "ltv", "0.59", "0.65", "0.06", "at_risk"),
        row(d, "max-net", "2026-03-31", "net_leverage", "3.80", "4.0", "0.20", "at_risk"),
        row(d, "max-net", "2026-06-30", "net_leverage", "3.55", "4.0", "0.45", "compliant"),
        row(d, "max-net", "2026-09-30", "net_leverage", "4.37", "4.0", "-0.37", "breached"),
        row(d, "min-fccr", "2026-03-31", "fixed_charge_coverage", "1.15", "1.2", "-0.05", "breached"),
        row(d, "min-fccr", "2026-06-30", "fixed_charge_coverage", "1.20", "1.2", "0.00", "at_risk"),
        row(d, "min-fccr", "2026-09-30", "fixed_charge_coverage", "1.50", "1.2", "0.30", "compliant"),
        row(d, "min-icr", "2026-03-31", "interest_coverage", "2.31", "2.0", "0.31", "at_risk"),
        row(d, "min-icr", "2026-06-30", "interest_coverage", "2.40", "2.0", "0.40", "compliant"),
        row(d, "min-icr", "2026-09-30", "interest_coverage", "3.00", "2.0", "1.00", "compliant"),
    ]


def test_the_custom_margin_is_what_makes_the_icr_at_risk(tmp_path):
    """Same Q1 figures as above, once with the default 10% margin and once with 20%."""
    root = new_book(tmp_path)
    q1 = {"2026-q1": fin("2026-03-31", ebitda=3000000, total_debt=12000000, interest_expense=1300000)}
    add_deal(root, "dflt-tl", "- {id: min-icr, metric: interest_coverage, min: 2.0}", q1)
    add_deal(root, "wide-tl", "- {id: min-icr, metric: interest_coverage, min: 2.0, at_risk_margin: 0.2}", q1)
    _, a = covenant_json(root, "dflt-tl", "--as-of", "2026-04-30")
    _, b = covenant_json(root, "wide-tl", "--as-of", "2026-04-30")
    assert [(r["value"], r["headroom"], r["status"]) for r in a] == [("2.31", "0.31", "compliant")]
    assert [(r["value"], r["headroom"], r["status"]) for r in b] == [("2.31", "0.31", "at_risk")]


def test_text_output_shows_each_status(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", "- {id: max-leverage, metric: total_leverage, max: 4.5}",
             {"2026-q1": fin("2026-03-31", ebitda=3000000, total_debt=14100000)})
    result = cli("--book", root, "covenants", "acme-tl", "--as-of", "2026-04-30")
    assert result.exit_code == 0, result.output
    assert "breached" in result.stdout and "4.70" in result.stdout and "-0.20" in result.stdout


# --- step-downs --------------------------------------------------------------------------------
def test_a_step_down_applies_from_the_first_period_after_its_until_date(tmp_path):
    root = new_book(tmp_path)
    same = dict(ebitda=3000000, total_debt=13800000)  # 4.60x both quarters
    add_deal(root, "step-tl",
             "- {id: max-leverage, metric: total_leverage, max: [{until: 2027-12-31, value: 5.0}, {value: 4.5}]}",
             {"2027-q3": fin("2027-09-30", **same), "2027-q4": fin("2027-12-31", **same),
              "2028-q1": fin("2028-03-31", **same)})
    result, rows = covenant_json(root, "step-tl", "--as-of", "2028-04-30")
    assert result.exit_code == 0, result.output
    reported = [r for r in rows if r["status"] != "overdue"]
    # period_end on the `until` date still uses 5.0 (headroom 0.40 < 0.50 → at_risk);
    # the next quarter uses 4.5 (headroom −0.10 → breached)
    assert [(r["period_end"], r["value"], r["bound"], r["headroom"], r["status"]) for r in reported] == [
        ("2027-09-30", "4.60", "5.0", "0.40", "at_risk"),
        ("2027-12-31", "4.60", "5.0", "0.40", "at_risk"),
        ("2028-03-31", "4.60", "4.5", "-0.10", "breached"),
    ]


def test_a_three_step_schedule_picks_the_first_step_still_ahead(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "step-tl",
             "- {id: min-icr, metric: interest_coverage, "
             "min: [{until: 2026-06-30, value: 1.5}, {until: 2026-12-31, value: 1.75}, {value: 2.0}]}",
             {"q2": fin("2026-06-30", ebitda=3000000, total_debt=1, interest_expense=1500000),
              "q3": fin("2026-09-30", ebitda=3000000, total_debt=1, interest_expense=1500000),
              "q1": fin("2027-03-31", ebitda=3000000, total_debt=1, interest_expense=1500000)},
             status="approved")  # not funded: no overdue rows
    _, rows = covenant_json(root, "step-tl", "--as-of", "2027-06-30")
    assert [(r["period_end"], r["bound"], r["headroom"], r["status"]) for r in rows] == [
        ("2026-06-30", "1.5", "0.50", "compliant"),
        ("2026-09-30", "1.75", "0.25", "compliant"),
        ("2027-03-31", "2.0", "0.00", "at_risk"),
    ]


# --- overdue financials ---------------------------------------------------------------------
def _overdue_book(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", "- {id: max-leverage, metric: total_leverage, max: 4.5}",
             {"2026-q1": fin("2026-03-31", ebitda=3000000, total_debt=12000000)})
    return root


def test_a_quarter_end_within_45_days_is_not_yet_overdue(tmp_path):
    root = _overdue_book(tmp_path)
    _, rows = covenant_json(root, "acme-tl", "--as-of", "2026-08-14")  # 2026-06-30 + 45 days
    assert [(r["period_end"], r["status"]) for r in rows] == [("2026-03-31", "compliant")]


def test_a_quarter_end_more_than_45_days_ago_without_financials_is_overdue(tmp_path):
    root = _overdue_book(tmp_path)
    result, rows = covenant_json(root, "acme-tl", "--as-of", "2026-08-15")  # 46 days
    assert result.exit_code == 0, result.output
    assert rows == [
        row("acme-tl", "max-leverage", "2026-03-31", "total_leverage", "4.00", "4.5", "0.50", "compliant"),
        row("acme-tl", "max-leverage", "2026-06-30", "total_leverage", None, "4.5", None, "overdue"),
    ]


def test_overdue_counts_every_missing_quarter_since_the_start(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", "- {id: max-leverage, metric: total_leverage, max: 4.5}")
    _, rows = covenant_json(root, "acme-tl", "--as-of", "2026-12-31")
    # start 2025-12-15, first test 2026-03-31: Q1, Q2 and Q3 are more than 45 days back;
    # Q4 is the as-of date itself
    assert [(r["period_end"], r["status"]) for r in rows] == [
        ("2026-03-31", "overdue"), ("2026-06-30", "overdue"), ("2026-09-30", "overdue")]


def test_a_draft_deal_has_no_overdue_financials(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", "- {id: max-leverage, metric: total_leverage, max: 4.5}", status="draft")
    result, rows = covenant_json(root, "acme-tl", "--as-of", "2026-12-31")
    assert result.exit_code == 0 and rows == []


# start 2025-12-15; the first test date is the first period end one full period later:
# monthly ≥ 2026-01-15 → Jan 31; semiannual ≥ 2026-06-15 → Jun 30; annual ≥ 2026-12-15 → Dec 31
@pytest.mark.parametrize("frequency, as_of, overdue", [
    ("monthly", "2026-04-15", ["2026-01-31", "2026-02-28"]),   # Mar 31 + 45 = May 15: not yet
    ("semiannual", "2026-08-15", ["2026-06-30"]),              # Jun 30 + 46 days
    ("annual", "2026-12-31", []),                              # the first test date is the as-of date
    ("annual", "2027-02-15", ["2026-12-31"]),                  # Dec 31 + 46 days
])
def test_test_dates_follow_the_covenant_frequency(tmp_path, frequency, as_of, overdue):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", f"- {{id: max-leverage, metric: total_leverage, max: 4.5, frequency: {frequency}}}")
    _, rows = covenant_json(root, "acme-tl", "--as-of", as_of)
    assert [r["period_end"] for r in rows if r["status"] == "overdue"] == overdue


def test_financials_after_the_as_of_date_are_not_tested_yet(tmp_path):
    root = _overdue_book(tmp_path)
    (root / "acme-tl" / "financials" / "2026-q2.yaml").write_text(
        fin("2026-06-30", ebitda=3000000, total_debt=15000000), encoding="utf-8")
    _, before = covenant_json(root, "acme-tl", "--as-of", "2026-06-29")
    _, on = covenant_json(root, "acme-tl", "--as-of", "2026-06-30")
    assert [r["period_end"] for r in before] == ["2026-03-31"]
    assert [(r["period_end"], r["status"]) for r in on] == [("2026-03-31", "compliant"), ("2026-06-30", "breached")]


def test_no_financials_are_overdue_after_a_repaid_deal_matured(tmp_path):
    root = new_book(tmp_path)
    folder = add_deal(root, "acme-tl", "- {id: max-leverage, metric: total_leverage, max: 4.5}", {
        "2026-q1": fin("2026-03-31", ebitda=3000000, total_debt=12000000),
        "2026-q2": fin("2026-06-30", ebitda=3000000, total_debt=12000000)}, status="repaid")
    p = folder / "deal.yaml"
    p.write_text(p.read_text().replace("maturity_date: 2031-01-15", "maturity_date: 2026-07-15"), encoding="utf-8")
    result, rows = covenant_json(root, "acme-tl", "--as-of", "2027-06-30")
    assert result.exit_code == 0, result.output
    assert [(r["period_end"], r["status"]) for r in rows] == [("2026-03-31", "compliant"),
                                                              ("2026-06-30", "compliant")]


# --- --fund scope ---------------------------------------------------------------------------
def test_fund_scope_takes_deals_held_by_the_fund_or_its_spvs(tmp_path):
    root = new_book(tmp_path)
    cov = "- {id: max-leverage, metric: total_leverage, max: 4.5}"
    q1 = {"q1": fin("2026-03-31", ebitda=3000000, total_debt=12000000)}
    add_deal(root, "spv-tl", cov, q1, lenders=(("fund-i-spv", "100%"),))
    add_deal(root, "other-tl", cov, q1, lenders=(("fund-ii", "100%"),))
    add_deal(root, "club-tl", cov, q1, lenders=(("fund-ii", "60%"), ("fund-i", "40%")))
    _, one = covenant_json(root, "--fund", "fund-i", "--as-of", "2026-04-30")
    _, two = covenant_json(root, "--fund", "fund-ii", "--as-of", "2026-04-30")
    assert sorted({r["deal"] for r in one}) == ["club-tl", "spv-tl"]
    assert sorted({r["deal"] for r in two}) == ["club-tl", "other-tl"]


def test_deal_and_fund_together_or_neither_is_a_usage_error(tmp_path):
    root = new_book(tmp_path)
    assert cli("--book", root, "covenants").exit_code == 2
    assert cli("--book", root, "covenants", "--fund", "no-such-fund").exit_code == 2
    assert cli("--book", root, "covenants", "no-such-deal").exit_code == 2


# --- bad input -------------------------------------------------------------------------------
def test_financials_missing_a_figure_a_covenant_needs_is_e0229_at_the_file(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", "- {id: min-icr, metric: interest_coverage, min: 2.0}",
             {"2026-q1": fin("2026-03-31", ebitda=3000000, total_debt=12000000)})
    result = cli("--book", root, "covenants", "acme-tl", "--as-of", "2026-04-30", "--format", "json")
    assert result.exit_code == 1
    assert re.search(r"acme-tl/financials/2026-q1\.yaml:1:1: error\[E0229\]: covenant min-icr "
                     r"\(interest_coverage\) needs interest_expense", result.stderr), result.stderr
    assert "hint: add interest_expense" in result.stderr
    assert "Traceback" not in result.output


def test_financials_without_a_required_figure_is_an_error_at_the_file(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", "- {id: max-leverage, metric: total_leverage, max: 4.5}",
             {"2026-q1": "period_end: 2026-03-31\ntotal_debt: 12000000\n"})
    result = cli("--book", root, "covenants", "acme-tl", "--as-of", "2026-04-30", "--format", "json")
    assert result.exit_code == 1
    assert re.search(r"acme-tl/financials/2026-q1\.yaml:1:1: error\[E0102\]: required key 'ebitda'",
                     result.stderr), result.stderr
    assert result.stdout == ""


def test_a_non_numeric_figure_is_e0111_at_its_line_and_column(tmp_path):
    root = new_book(tmp_path)
    text = "period_end: 2026-03-31\nebitda: 3000000\ntotal_debt: 12000000\ninterest_expense: n/a\n"
    add_deal(root, "acme-tl", "- {id: min-icr, metric: interest_coverage, min: 2.0}", {"2026-q1": text})
    line, col = pos(text, "n/a")
    assert (line, col) == (4, 19)
    for args in (("covenants", "acme-tl", "--as-of", "2026-04-30"), ("validate",)):
        result = cli("--book", root, *args)
        assert result.exit_code == 1
        assert re.search(rf"acme-tl/financials/2026-q1\.yaml:{line}:{col}: error\[E0111\]", result.output), \
            result.output


def test_an_unknown_covenant_metric_is_e0110_with_a_did_you_mean(tmp_path):
    root = new_book(tmp_path)
    folder = add_deal(root, "acme-tl", "- {id: min-icr, metric: interest_cover, min: 2.0}")
    text = (folder / "deal.yaml").read_text()
    line, col = pos(text, "interest_cover,")
    result = cli("--book", root, "validate", "--format", "json")
    assert result.exit_code == 1
    (d,) = [d for d in json.loads(result.stdout) if d["code"] == "E0110"]
    assert (d["line"], d["column"]) == (line, col)
    assert d["file"].endswith("acme-tl/deal.yaml")
    assert "did you mean 'interest_coverage'" in d["hint"]
    cov = cli("--book", root, "covenants", "acme-tl", "--as-of", "2026-04-30")
    assert cov.exit_code == 1
    assert f"deal.yaml:{line}:{col}: error[E0110]" in cov.stderr


# --- bugs --------------------------------------------------------------------------------
def test_negative_ebitda_breaches_a_maximum_leverage_covenant(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", "- {id: max-leverage, metric: total_leverage, max: 4.5}",
             {"2026-q1": fin("2026-03-31", ebitda=-500000, total_debt=12000000)})
    _, rows = covenant_json(root, "acme-tl", "--as-of", "2026-04-30")
    assert [r["status"] for r in rows] == ["breached"]


def test_a_debt_service_coverage_covenant_is_tested_from_the_schedule(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", "- {id: min-dscr, metric: debt_service_coverage, min: 1.2}",
             {"2026-q1": fin("2026-03-31", ebitda=3000000, total_debt=12000000)})
    result, rows = covenant_json(root, "acme-tl", "--as-of", "2026-04-30")
    assert "needs ," not in result.stderr
    assert result.exit_code == 0, result.stderr
    assert rows[0]["value"] is not None and rows[0]["status"] in ("compliant", "at_risk", "breached")


# --- first test date and waivers (issue #13) ---------------------------------------------
LEVERAGE = "- {id: max-leverage, metric: total_leverage, max: 4.5%s}"


@pytest.mark.parametrize("start, as_of, overdue", [
    # start + 3 months = 2026-04-15; the first quarter end on or after it is 2026-06-30.
    # As of 2026-09-30: Jun 30 + 45 = Aug 14 is past, Sep 30 is today → only Jun 30 overdue
    # (the old rule also listed the stub quarter end 2026-03-31).
    ("2026-01-15", "2026-09-30", ["2026-06-30"]),
    # start + 3 months = 2026-03-14 → 2026-03-31. As of 2026-06-30: Mar 31 + 45 = May 15 past
    # (the old rule also listed 2025-12-31, 17 days after closing).
    ("2025-12-14", "2026-06-30", ["2026-03-31"]),
    # a start on a quarter end: + 3 months = 2026-06-30, itself a quarter end → 2026-06-30
    ("2026-03-31", "2026-09-30", ["2026-06-30"]),
])
def test_the_default_first_test_date_is_one_full_quarter_after_the_start(tmp_path, start, as_of, overdue):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", LEVERAGE % "", start=start)
    result, rows = covenant_json(root, "acme-tl", "--as-of", as_of)
    assert result.exit_code == 0, result.output
    assert [(r["period_end"], r["status"]) for r in rows] == [(d, "overdue") for d in overdue]


@pytest.mark.parametrize("frequency, as_of, overdue", [
    # start 2026-01-15 plus one full period of the covenant's frequency:
    ("monthly", "2026-04-15", ["2026-02-28"]),      # ≥ 2026-02-15 → Feb 28 (+45 = Apr 14 < Apr 15)
    ("semiannual", "2027-02-15", ["2026-12-31"]),   # ≥ 2026-07-15 → Dec 31 (+46 days)
    ("annual", "2027-02-15", []),                   # ≥ 2027-01-15 → 2027-12-31, not yet due
    ("annual", "2028-02-15", ["2027-12-31"]),
])
def test_the_default_first_test_date_is_one_full_period_of_any_frequency(tmp_path, frequency, as_of, overdue):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", LEVERAGE % f", frequency: {frequency}", start="2026-01-15")
    _, rows = covenant_json(root, "acme-tl", "--as-of", as_of)
    assert [r["period_end"] for r in rows if r["status"] == "overdue"] == overdue


def test_a_quarter_end_17_days_after_closing_is_neither_tested_nor_overdue(tmp_path):
    """Closing 2026-03-14: 2026-03-31 is 17 days later. Its stub financials (a breach,
    14.1 / 3 = 4.70 > 4.5) are not tested, and without them nothing is overdue; the first
    test date is the first quarter end on or after 2026-06-14, 2026-06-30."""
    root = new_book(tmp_path)
    add_deal(root, "stub-tl", LEVERAGE % "", start="2026-03-14")
    add_deal(root, "fin-tl", LEVERAGE % "", {"2026-q1": fin("2026-03-31", ebitda=3000000, total_debt=14100000)},
             start="2026-03-14")
    # 2026-05-16 is 2026-03-31 + 46 days: the old rule reported 2026-03-31 overdue here
    result, rows = covenant_json(root, "stub-tl", "--as-of", "2026-05-16")
    assert result.exit_code == 0 and rows == []
    _, rows = covenant_json(root, "fin-tl", "--as-of", "2026-05-16")
    assert rows == []
    # 2026-08-15 = 2026-06-30 + 46 days: the first test date is overdue, the stub still is not
    _, rows = covenant_json(root, "stub-tl", "--as-of", "2026-08-15")
    assert [(r["period_end"], r["status"]) for r in rows] == [("2026-06-30", "overdue")]
    _, rows = covenant_json(root, "fin-tl", "--as-of", "2026-08-15")
    assert [(r["period_end"], r["status"]) for r in rows] == [("2026-06-30", "overdue")]


def test_an_explicit_first_test_date_replaces_the_default(tmp_path):
    """Start 2026-01-15 (default first test 2026-06-30). Set earlier, 2026-03-31 is tested;
    set later, 2026-09-30: the Q2 financials are not tested and Q2 is not overdue."""
    root = new_book(tmp_path)
    q1 = {"q1": fin("2026-03-31", ebitda=3000000, total_debt=12000000)}  # 12 / 3 = 4.00, headroom 0.50
    add_deal(root, "early-tl", LEVERAGE % ", first_test_date: 2026-03-31", q1, start="2026-01-15")
    add_deal(root, "late-tl", LEVERAGE % ", first_test_date: 2026-09-30",
             {"q2": fin("2026-06-30", ebitda=3000000, total_debt=15000000)}, start="2026-01-15")
    _, rows = covenant_json(root, "early-tl", "--as-of", "2026-05-31")
    assert rows == [row("early-tl", "max-leverage", "2026-03-31", "total_leverage", "4.00", "4.5", "0.50",
                        "compliant")]
    _, rows = covenant_json(root, "late-tl", "--as-of", "2026-11-15")  # Sep 30 + 46 days
    assert [(r["period_end"], r["status"]) for r in rows] == [("2026-09-30", "overdue")]


WAIVED = ', waivers: [{period_end: 2026-06-30, by: required lenders, note: "waiver letter 2026-08-10"}, ' \
         '{period_end: 2026-09-30, by: agent}]'


def test_a_waived_breach_is_waived_with_who_and_why_and_other_breaches_stay_breached(tmp_path):
    root = new_book(tmp_path)  # start 2025-12-15: Q1–Q4 2026 are test dates
    add_deal(root, "acme-tl", LEVERAGE % WAIVED, {
        "q2": fin("2026-06-30", ebitda=3000000, total_debt=14100000),   # 4.70, headroom −0.20: waived
        "q3": fin("2026-09-30", ebitda=3000000, total_debt=12000000),   # 4.00, headroom 0.50: compliant
        "q4": fin("2026-12-31", ebitda=3000000, total_debt=14400000),   # 4.80, headroom −0.30: breached
        "q1": fin("2026-03-31", ebitda=3000000, total_debt=13800000),   # 4.60, headroom −0.10: breached
    })
    result, rows = covenant_json(root, "acme-tl", "--as-of", "2027-01-31")
    assert result.exit_code == 0, result.output
    d, m = "acme-tl", "total_leverage"
    assert rows == [
        row(d, "max-leverage", "2026-03-31", m, "4.60", "4.5", "-0.10", "breached"),
        {**row(d, "max-leverage", "2026-06-30", m, "4.70", "4.5", "-0.20", "waived"),
         "waiver": {"by": "required lenders", "note": "waiver letter 2026-08-10"}},
        # a waiver on a test that was not breached changes nothing but is shown
        {**row(d, "max-leverage", "2026-09-30", m, "4.00", "4.5", "0.50", "compliant"),
         "waiver": {"by": "agent", "note": None}},
        row(d, "max-leverage", "2026-12-31", m, "4.80", "4.5", "-0.30", "breached"),
    ]
    text = cli("--book", root, "covenants", "acme-tl", "--as-of", "2027-01-31")
    assert text.exit_code == 0 and "waived" in text.stdout
    assert cli("--book", root, "validate").exit_code == 0


def test_a_waiver_on_an_untested_period_is_a_warning_e0261_at_its_date(tmp_path):
    """Start 2026-01-15, first test 2026-06-30: a waiver of 2026-03-31 (before it), of
    2026-05-31 (not a quarter end) or of 2026-09-30 (a test date without financials) has
    nothing to waive. Each is a warning at its period_end; the command still succeeds."""
    root = new_book(tmp_path)
    waivers = (", waivers: [{period_end: 2026-03-31, by: agent}, {period_end: 2026-05-31, by: agent}, "
               "{period_end: 2026-06-30, by: agent}, {period_end: 2026-09-30, by: agent}]")
    folder = add_deal(root, "acme-tl", LEVERAGE % waivers,
                      {"q2": fin("2026-06-30", ebitda=3000000, total_debt=14100000)}, start="2026-01-15")
    text = (folder / "deal.yaml").read_text()
    before = tree_hash(root)
    result = cli("--book", root, "validate", "--format", "json")
    assert result.exit_code == 0, result.output
    found = [(d["code"], d["severity"], d["line"], d["column"], d["message"]) for d in json.loads(result.stdout)]
    last = "final maturity 2031-01-15"
    assert found == [
        ("E0261", "warning", *pos(text, "2026-03-31"), "covenant max-leverage: 2026-03-31 is not a test date "
         f"(quarterly period ends from 2026-06-30 until the {last}); the waiver has no effect"),
        ("E0261", "warning", *pos(text, "2026-05-31"), "covenant max-leverage: 2026-05-31 is not a test date "
         f"(quarterly period ends from 2026-06-30 until the {last}); the waiver has no effect"),
        ("E0261", "warning", *pos(text, "2026-09-30"), "covenant max-leverage: no financials for the test at "
         "2026-09-30; the waiver has nothing to waive yet"),
    ]
    cov, rows = covenant_json(root, "acme-tl", "--as-of", "2026-09-30")
    assert cov.exit_code == 0
    assert cov.stderr.count("warning[E0261]") == 3
    assert [(r["period_end"], r["status"]) for r in rows] == [("2026-06-30", "waived")]
    assert tree_hash(root) == before


def test_a_first_test_date_that_is_not_a_quarter_end_is_e0260_at_the_date(tmp_path):
    root = new_book(tmp_path)
    folder = add_deal(root, "acme-tl", LEVERAGE % ", first_test_date: 2026-06-29",
                      {"q2": fin("2026-06-30", ebitda=3000000, total_debt=12000000)}, start="2026-01-15")
    text = (folder / "deal.yaml").read_text()
    line, col = pos(text, "2026-06-29")
    before = tree_hash(root)
    result = cli("--book", root, "validate", "--format", "json")
    assert result.exit_code == 1
    assert [(d["code"], d["line"], d["column"], d["message"]) for d in json.loads(result.stdout)] == [
        ("E0260", line, col, "first_test_date 2026-06-29 is not a quarter end (Mar 31, Jun 30, Sep 30, Dec 31), "
                             "a quarterly test date")]
    cov = cli("--book", root, "covenants", "acme-tl", "--as-of", "2026-09-30", "--format", "json")
    assert cov.exit_code == 1 and cov.stdout == ""
    assert f"acme-tl/deal.yaml:{line}:{col}: error[E0260]" in cov.stderr
    assert "Traceback" not in cov.output
    assert tree_hash(root) == before


def test_a_monthly_covenant_may_start_on_any_month_end(tmp_path):
    root = new_book(tmp_path)
    add_deal(root, "acme-tl", LEVERAGE % ", frequency: monthly, first_test_date: 2026-05-31", start="2026-01-15")
    result, rows = covenant_json(root, "acme-tl", "--as-of", "2026-07-16")  # May 31 + 46 days
    assert result.exit_code == 0, result.output
    assert [(r["period_end"], r["status"]) for r in rows] == [("2026-05-31", "overdue")]


def test_a_first_test_date_on_or_before_the_start_is_e0208(tmp_path):
    root = new_book(tmp_path)
    folder = add_deal(root, "acme-tl", LEVERAGE % ", first_test_date: 2025-12-31", start="2026-01-15")
    text = (folder / "deal.yaml").read_text()
    result = cli("--book", root, "validate", "--format", "json")
    assert result.exit_code == 1
    assert [(d["code"], d["line"], d["column"]) for d in json.loads(result.stdout)] == [
        ("E0208", *pos(text, "2025-12-31"))]


def test_the_same_test_waived_twice_is_e0262_at_the_second_waiver(tmp_path):
    root = new_book(tmp_path)
    twice = ", waivers: [{period_end: 2026-06-30, by: agent}, {period_end: 2026-06-30, by: lenders}]"
    folder = add_deal(root, "acme-tl", LEVERAGE % twice,
                      {"q2": fin("2026-06-30", ebitda=3000000, total_debt=14100000)})
    text = (folder / "deal.yaml").read_text()
    result = cli("--book", root, "validate", "--format", "json")
    assert result.exit_code == 1
    assert [(d["code"], d["line"], d["column"]) for d in json.loads(result.stdout)] == [
        ("E0262", *pos(text, "2026-06-30", 2))]
    assert cli("--book", root, "covenants", "acme-tl", "--as-of", "2026-09-30").exit_code == 1


@pytest.mark.parametrize("covenant, overdue", [
    (LEVERAGE % ", frequency: annual", []),                               # start + 12 months > 2200-12-31 (the end of loanctl's date window)
    (LEVERAGE % ", frequency: annual, first_test_date: 2200-12-31", []),  # as of that day: not yet due
    # quarterly: first test 2200-06-30; Jun 30 and Sep 30 (+45 = Nov 14) are overdue by Dec 31;
    # the test after Dec 31 is after the final maturity
    (LEVERAGE % ", waivers: [{period_end: 2200-12-31, by: agent}]", ["2200-06-30", "2200-09-30"]),
])
def test_test_dates_at_the_end_of_the_calendar_are_a_result_not_a_crash(tmp_path, covenant, overdue):
    """A deal at the end of loanctl's date window (2200-01-15 to 2200-12-31; dates past 2200 are
    E0112): test dates after the final maturity are simply none (never exit 3)."""
    root = new_book(tmp_path)
    folder = add_deal(root, "acme-tl", covenant, start="2200-01-15")
    p = folder / "deal.yaml"
    p.write_text(p.read_text().replace("maturity_date: 2031-01-15", "maturity_date: 2200-12-31"), encoding="utf-8")
    for args in (("validate",), ("covenants", "acme-tl", "--as-of", "2200-12-31")):
        result = cli("--book", root, *args)
        assert result.exit_code in (0, 1), result.output
        assert "internal error" not in result.output
    _, rows = covenant_json(root, "acme-tl", "--as-of", "2200-12-31")
    assert [(r["period_end"], r["status"]) for r in rows] == [(d, "overdue") for d in overdue]
