"""The demo book's covenant story, on a copy of deals/ (never the original): Northwind's
leverage breaches in the latest reported quarter and Cobalt's leverage is at risk."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from bookfactory import cli

DEMO = Path(__file__).resolve().parents[2] / "deals"
TWO = Decimal("0.01")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "deals"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns(".loanctl"))
    return root


@pytest.fixture(scope="module")
def fund_i_rows(demo):
    result = cli("--book", demo, "covenants", "--fund", "fund-i", "--as-of", "2026-11-28", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def figures(demo: Path, deal: str, name: str) -> dict:
    return yaml.safe_load((demo / deal / "financials" / f"{name}.yaml").read_text(encoding="utf-8"))


def test_northwind_breaches_leverage_in_its_latest_quarter_only(demo, fund_i_rows):
    rows = [r for r in fund_i_rows if r["deal"] == "northwind-tl-2025"]
    latest = max(r["period_end"] for r in rows)
    assert latest == "2026-09-30"
    breached = [r for r in rows if r["status"] == "breached"]
    f = figures(demo, "northwind-tl-2025", "2026-q3")
    value = Decimal(f["total_debt"]) / Decimal(f["ebitda"])  # 25,500,000 / 7,000,000 = 3.642857…
    assert breached == [{
        "deal": "northwind-tl-2025", "covenant": "max-leverage", "period_end": "2026-09-30",
        "metric": "total_leverage", "value": str(value.quantize(TWO)), "bound": "3.25",
        "headroom": str((Decimal("3.25") - value).quantize(TWO)), "status": "breached"}]
    assert breached[0]["value"] == "3.64" and breached[0]["headroom"] == "-0.39"


def test_cobalt_leverage_is_at_risk_in_its_latest_quarter(demo, fund_i_rows):
    rows = [r for r in fund_i_rows if r["deal"] == "cobalt-unitranche-2025"]
    f = figures(demo, "cobalt-unitranche-2025", "2026-q3")
    value = Decimal(f["total_debt"]) / Decimal(f["ebitda"])  # 30,500,000 / 5,750,000 = 5.3043…
    headroom = Decimal("5.75") - value                            # 0.4457 < 10% × 5.75 = 0.575
    assert {"deal": "cobalt-unitranche-2025", "covenant": "max-leverage", "period_end": "2026-09-30",
            "metric": "total_leverage", "value": "5.30", "bound": "5.75", "headroom": "0.45",
            "status": "at_risk"} in rows
    assert str(value.quantize(TWO)) == "5.30" and str(headroom.quantize(TWO)) == "0.45"
    assert not [r for r in rows if r["status"] == "breached"]


def test_fund_i_scope_is_the_deals_fund_i_or_its_spv_holds(demo, fund_i_rows):
    holders = {}
    for deal_yaml in demo.glob("*/deal.yaml"):
        deal = yaml.safe_load(deal_yaml.read_text(encoding="utf-8"))
        lenders = {p["lender"] for f in deal["facilities"] for p in f.get("participations", [])}
        holders[deal["id"]] = lenders
    deals = {r["deal"] for r in fund_i_rows}
    assert deals and all(holders[d] & {"fund-i", "fund-i-spv"} for d in deals)
    assert {"northwind-tl-2025", "cobalt-unitranche-2025"} <= deals
    # held only through the SPV: it rolls up into fund-i
    spv_only = {d for d, ls in holders.items() if "fund-i-spv" in ls and "fund-i" not in ls}
    assert spv_only & deals


def test_the_demo_book_has_no_overdue_financials_at_that_date(fund_i_rows):
    assert not [r for r in fund_i_rows if r["status"] in ("overdue", "missing")]
