"""Underwriting metrics (SPEC §7): each ratio by hand, debt service from a hand-computed
12 months of schedule, the `underwriting` block of `loanctl show --format json`, and
validate's E0225 policy-limit check (warning before approval, error from approval on).

Each test writes a small book inline in tmp_path and runs the real command line in-process.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from bookfactory import cli
from loanctl.underwriting.covenants import Figures, Undefined, metric_value

BOOK_YAML = """\
name: Underwriting Test Partners
base_currency: USD
rounding: half_up
entities:
  - {id: fund-i, kind: fund, name: Test Credit Fund I}
  - {id: fund-i-spv, kind: spv, name: TCF I Holdings LLC, parent: fund-i}
  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}
policy:
  approvals:
    - {up_to: 10000000, require: [credit_officer]}
    - {require: [credit_officer, credit_committee]}
  limits:
    max_leverage: 6.0
"""

# Fixed 10% ACT/360, 4% a year amortisation (100,000 a quarter), a 25,000 agency fee on
# 2026-06-30 and a 2% upfront fee (OID on the start date: not debt service). The payment
# dates 2026-04-15, 07-15, 10-15 and 2027-01-15 are all weekdays, so nothing rolls.
DEAL_YAML = """\
id: acme-tl
name: Acme Term Loan
borrower: acme
status: {status}
currency: USD
origination:
  underwriting: {{ebitda: 3000000, total_debt: {total_debt}, cash: 1000000, interest_expense: 1100000, fixed_charges: 1400000, collateral_value: 19500000}}
  approvals:
    - {{by: jane.doe, role: credit_officer, date: 2026-01-10, decision: approved}}
    - {{by: ic, role: credit_committee, date: 2026-01-12, decision: approved}}
facilities:
  - id: tl
    type: term
    commitment: 10000000
    start_date: 2026-01-15
    maturity_date: 2029-01-15
    interest: {{fixed_rate: 10%, day_count: ACT/360}}
    payments: {{frequency: quarterly, business_day: modified_following}}
    amortization: {{type: percent, annual_rate: 4%}}
    fees:
      - {{type: upfront, rate: 2%}}
      - {{type: fixed, amount: 25000, date: 2026-06-30, name: agency fee}}
    participations:
      - {{lender: fund-i, share: 60%}}
      - {{lender: fund-i-spv, share: 40%}}
"""


def write_book(tmp_path: Path, status: str = "funded", total_debt: str = "13000000") -> Path:
    root = tmp_path / "book"
    (root / "rates").mkdir(parents=True)
    (root / "acme-tl").mkdir()
    (root / "book.yaml").write_text(BOOK_YAML, encoding="utf-8")
    (root / "rates" / "SOFR-3M.csv").write_text("date,rate\n2025-01-02,0.05\n", encoding="utf-8")
    (root / "acme-tl" / "deal.yaml").write_text(DEAL_YAML.format(status=status, total_debt=total_debt),
                                                encoding="utf-8")
    return root


# --- each ratio by hand (library) ----------------------------------------------------------
FIGS = Figures(ebitda=Decimal("3000000"), total_debt=Decimal("13000000"), cash=Decimal("1000000"),
               interest_expense=Decimal("1100000"), fixed_charges=Decimal("1400000"),
               collateral_value=Decimal("19500000"), debt_service=Decimal("1423583.33"))


@pytest.mark.parametrize("metric, exact, shown", [
    # 13,000,000 / 3,000,000
    ("total_leverage", "4.333333333333333333333333333", "4.33"),
    # (13,000,000 − 1,000,000) / 3,000,000
    ("net_leverage", "4", "4.00"),
    # 3,000,000 / 1,100,000
    ("interest_coverage", "2.727272727272727272727272727", "2.73"),
    # 3,000,000 / 1,400,000
    ("fixed_charge_coverage", "2.142857142857142857142857143", "2.14"),
    # 13,000,000 / 19,500,000
    ("ltv", "0.6666666666666666666666666667", "0.67"),
    # 3,000,000 / 1,423,583.33
    ("debt_service_coverage", "2.107358197289371181383530250", "2.11"),
])
def test_each_metric_is_the_exact_ratio_of_its_figures(metric, exact, shown):
    value = metric_value(metric, FIGS)
    assert value == Decimal(exact)
    assert f"{value.quantize(Decimal('0.01'))}" == shown


def test_a_metric_missing_a_figure_is_none_and_a_zero_denominator_is_undefined():
    assert metric_value("interest_coverage", Figures(ebitda=Decimal(1))) is None
    assert metric_value("net_leverage", Figures(ebitda=Decimal(1), total_debt=Decimal(5))) is None
    with pytest.raises(Undefined):
        metric_value("total_leverage", Figures(ebitda=Decimal(0), total_debt=Decimal(5)))


# --- `show --format json`: the underwriting block ------------------------------------------
def test_show_json_underwriting_block_is_exact(tmp_path):
    root = write_book(tmp_path)
    result = cli("--book", root, "show", "acme-tl", "--as-of", "2026-06-01", "--format", "json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    # Debt service = rows dated in (2026-01-15, 2027-01-15], by hand (ACT/360, 10%):
    #   2026-04-15  90 d on 10,000,000 → 250,000.00 interest + 100,000 principal
    #   2026-07-15  91 d on  9,900,000 → 250,250.00 + 100,000 + 25,000 agency fee
    #   2026-10-15  92 d on  9,800,000 → 250,444.44 + 100,000
    #   2027-01-15  92 d on  9,700,000 → 247,888.89 + 100,000
    interest = sum(Decimal(x) for x in ("250000.00", "250250.00", "250444.44", "247888.89"))
    service = interest + 4 * Decimal(100000) + Decimal(25000)
    assert service == Decimal("1423583.33")
    assert view["underwriting"] == {
        "total_leverage": "4.33",
        "net_leverage": "4.00",
        "interest_coverage": "2.73",
        "fixed_charge_coverage": "2.14",
        "ltv": "0.67",
        "debt_service_coverage": f"{Decimal(3000000) / service:.2f}",
        "debt_service_12m": "1423583.33",
    }
    assert view["underwriting"]["debt_service_coverage"] == "2.11"


def test_show_text_mentions_the_underwriting_metrics(tmp_path):
    root = write_book(tmp_path)
    result = cli("--book", root, "show", "acme-tl", "--as-of", "2026-06-01", "--format", "text")
    assert result.exit_code == 0, result.output
    assert "total leverage 4.33x" in result.stdout
    assert "1423583.33" in result.stdout.replace(",", "")


# --- validate: E0225 against policy.limits.max_leverage -----------------------------------
def _validate(root: Path):
    result = cli("--book", root, "validate", "--format", "json")
    return result.exit_code, json.loads(result.stdout or "[]")


def test_leverage_above_the_policy_limit_is_a_warning_for_a_draft(tmp_path):
    root = write_book(tmp_path, status="draft", total_debt="19500000")  # 6.50x > 6.0x
    code, diags = _validate(root)
    e0225 = [d for d in diags if d["code"] == "E0225"]
    assert code == 0
    assert len(e0225) == 1
    d = e0225[0]
    assert d["severity"] == "warning"
    assert "6.50x" in d["message"] and "6.0" in d["message"]
    assert d["file"].endswith("acme-tl/deal.yaml")
    line = (root / "acme-tl" / "deal.yaml").read_text().splitlines()[d["line"] - 1]
    assert d["line"] == 7 and line[d["column"] - 1:].startswith("19500000")


@pytest.mark.parametrize("status", ["approved", "funded"])
def test_leverage_above_the_policy_limit_is_an_error_from_approval_on(tmp_path, status):
    root = write_book(tmp_path, status=status, total_debt="19500000")
    code, diags = _validate(root)
    e0225 = [d for d in diags if d["code"] == "E0225"]
    assert code == 1
    assert [d["severity"] for d in e0225] == ["error"]
    assert (e0225[0]["line"], e0225[0]["column"]) == (7, 47)


def test_leverage_exactly_at_the_limit_passes(tmp_path):
    root = write_book(tmp_path, status="funded", total_debt="18000000")  # exactly 6.0x
    code, diags = _validate(root)
    assert code == 0
    assert not [d for d in diags if d["code"] == "E0225"]


def test_negative_underwriting_ebitda_is_flagged_against_the_leverage_limit(tmp_path):
    root = write_book(tmp_path, status="draft")
    p = root / "acme-tl" / "deal.yaml"
    p.write_text(p.read_text().replace("ebitda: 3000000", "ebitda: -1000000"), encoding="utf-8")
    code, diags = _validate(root)
    assert [d["severity"] for d in diags if d["code"] == "E0225"] == ["warning"]


# --- the limit is enforced when the deal moves to approved and to funded ---------------------
def _strip_approvals(root: Path) -> Path:
    p = root / "acme-tl" / "deal.yaml"
    lines = p.read_text().splitlines(keepends=True)
    p.write_text("".join(l for l in lines if "approvals:" not in l and "decision: approved" not in l),
                 encoding="utf-8")
    return p


def test_approve_refuses_to_move_a_deal_above_the_limit_to_approved(tmp_path):
    root = write_book(tmp_path, status="submitted", total_debt="19500000")
    p = _strip_approvals(root)
    before = p.read_bytes()
    # 10,000,000 of commitment: the credit officer alone approves, so this would make it approved
    result = cli("--book", root, "approve", "acme-tl", "--by", "jane.doe", "--role", "credit_officer",
                 "--date", "2026-01-10")
    assert result.exit_code == 1
    assert "error[E0509]" in result.stderr and "6.50x" in result.stderr  # the policy check of the workflow
    assert p.read_bytes() == before


def test_fund_refuses_a_deal_above_the_limit(tmp_path):
    root = write_book(tmp_path, status="approved", total_debt="19500000")
    p = root / "acme-tl" / "deal.yaml"
    before = p.read_bytes()
    result = cli("--book", root, "fund", "acme-tl", "--date", "2026-01-15")
    assert result.exit_code == 1
    assert "error[E0225]" in result.stderr
    assert p.read_bytes() == before


def test_debt_service_counts_four_quarterly_payments_when_the_anniversary_rolls(tmp_path):
    root = write_book(tmp_path)
    p = root / "acme-tl" / "deal.yaml"
    text = p.read_text().replace("2026-01-15", "2026-05-15").replace("2029-01-15", "2029-05-15")
    p.write_text(text.replace("      - {type: fixed, amount: 25000, date: 2026-06-30, name: agency fee}\n", ""),
                 encoding="utf-8")
    result = cli("--book", root, "show", "acme-tl", "--as-of", "2026-06-01", "--format", "json")
    assert result.exit_code == 0, result.output
    # 2026-08-17 (94 d on 10,000,000) 261,111.11 · 2026-11-16 (91 d on 9,900,000) 250,250.00 ·
    # 2027-02-15 (91 d on 9,800,000) 247,722.22 · 2027-05-17 (91 d on 9,700,000) 245,194.44; + 4 × 100,000
    service = sum(Decimal(x) for x in ("261111.11", "250250.00", "247722.22", "245194.44")) + 400000
    uw = json.loads(result.stdout)["underwriting"]
    assert uw["debt_service_12m"] == f"{service:.2f}" == "1404277.77"
    assert uw["debt_service_coverage"] == "2.14"
