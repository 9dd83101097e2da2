"""Billing and rate-set notices of a facility on an overnight rate in arrears (SPEC §5.1, §3.2):
the observed daily rates the notice lists, computed by hand from the rates file, and the
notice's figures equal to the schedule's (`loanctl schedule --format json`)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from bookfactory import BOOK_YAML, invoke, write_book

D = Decimal
BOOK = BOOK_YAML + ('remittance: {bank: "First Example Bank, N.A.", account: "000123456", aba: "021000021", '
                    'reference: "ACME/{deal}/{date}"}\n')

# The index's business days: Fri 4 July is a holiday (no row), 5-6 July a weekend.
SOFR = ("date,rate\n2025-06-30,0.0400\n2025-07-01,0.0400\n2025-07-02,0.0410\n2025-07-03,0.0420\n"
        "2025-07-07,0.0440\n2025-07-08,0.0450\n")

DEAL = """\
id: acme-on
name: Acme Overnight Loan
borrower: acme
status: funded
currency: USD
origination:
  underwriting: {ebitda: 12500000, total_debt: 4000000, cash: 2000000}
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2025-06-20, decision: approved}
facilities:
  - id: tl
    type: term
    commitment: 1000000
    start_date: 2025-07-03
    maturity_date: 2025-07-08
    interest: {index: SOFR, method: simple, lookback_days: 2, spread: 1%, day_count: ACT/360}
    payments: {frequency: monthly, business_day: unadjusted, calendar: WEEKENDS}
    amortization: {type: bullet}
    participations:
      - {lender: fund-i, share: 60%}
      - {lender: fund-i-spv, share: 40%}
"""

# Thu 3 to Tue 8, lookback 2: Thu 3..Sun 6 (4 days) observe 2 index business days before Thu 3 =
# Tue 1 (4.00%); Mon 7 (1 day) observes Wed 2 (4.10%).
OBSERVED = [
    {"accrual_date": "2025-07-03", "observation_date": "2025-07-01", "fixing": "0.04", "rate": "0.04", "days": 4,
     "projected": False},
    {"accrual_date": "2025-07-07", "observation_date": "2025-07-02", "fixing": "0.041", "rate": "0.041", "days": 1,
     "projected": False},
]


def run(root: Path, *args):
    result = invoke(["--book", str(root), *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    return write_book(tmp_path_factory.mktemp("on"), deals={"acme-on": DEAL}, book_yaml=BOOK, rates={"SOFR": SOFR})


def notices(root: Path, out: Path, fmt: str = "json") -> dict[str, Path]:
    run(root, "notices", "--date", "2025-07-01", "--days", "10", "--format", fmt, "--out", out)
    return {p.name: p for p in sorted(out.rglob(f"*.{fmt}"))}


def test_billing_notice_lists_the_observed_rates_and_equals_the_schedule(book, tmp_path):
    files = notices(book, tmp_path / "out")
    n = json.loads(files["acme-on-tl-billing-acme.json"].read_text(encoding="utf-8"))
    assert n["rate"]["method"] == "simple"
    assert n["rate"]["observations"] == OBSERVED
    assert n["rate"]["observed_through"] == "2025-07-02" and n["rate"]["final"] is True
    # the listed rates give the interest: 1,000,000 × Σ (r + 1%) × days / 360
    # = 1,000,000 × (4 × 0.05 + 1 × 0.051) / 360 = 697.222… → 697.22; all-in 0.251 / 5 = 5.02%
    total = sum((D(o["rate"]) + D("0.01")) * o["days"] for o in n["rate"]["observations"])
    assert total == D("0.251")
    assert n["interest"] == "697.22" and n["rate"]["all_in"] == "0.0502"
    # … and every figure is the schedule's
    sched = json.loads(run(book, "schedule", "acme-on", "--format", "json").stdout)
    row = sched["facilities"][0]["rows"][1]
    assert (row["interest"], D(row["rate"]), row["principal"]) == (n["interest"], D(n["rate"]["all_in"]),
                                                                   n["principal"])


def test_rate_set_notices_list_the_same_observed_rates(book, tmp_path):
    files = notices(book, tmp_path / "out")
    for lender in ("fund-i", "fund-i-spv"):
        n = json.loads(files[f"acme-on-tl-rate_set-{lender}.json"].read_text(encoding="utf-8"))
        assert n["rate"]["observations"] == OBSERVED
        assert n["whole"]["interest"] == "697.22"
    # 60% / 40% of 697.22 by largest remainder: 418.332 → 418.33, 278.888 → 278.89
    parts = [json.loads(files[f"acme-on-tl-rate_set-{x}.json"].read_text(encoding="utf-8"))["participation"]["interest"]
             for x in ("fund-i", "fund-i-spv")]
    assert parts == ["418.33", "278.89"]


@pytest.mark.parametrize("fmt", ["md", "txt", "html"])
def test_every_format_shows_the_observed_rates(book, tmp_path, fmt):
    files = notices(book, tmp_path / fmt, fmt)
    for name in (f"acme-on-tl-billing-acme.{fmt}", f"acme-on-tl-rate_set-fund-i.{fmt}"):
        text = files[name].read_text(encoding="utf-8")
        assert "Observed SOFR rates, published through 2025-07-02" in text
        assert "the amount is final." in text
        for accrual, observation, pct in (("2025-07-03", "2025-07-01", "4.00%"), ("2025-07-07", "2025-07-02", "4.10%")):
            assert accrual in text and observation in text and pct in text
