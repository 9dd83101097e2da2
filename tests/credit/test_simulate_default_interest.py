"""`simulate --default` uses the default-interest rule of the ledger (SPEC §3.3, §7):
hand-computed on the bullet loan of creditkit (1,000,000, default rate 2% ACT/360)."""

from __future__ import annotations

import json
from decimal import Decimal

from creditkit import BULLET, add_event, credit_book
from ledgerkit import positions, post_rows, row, run

D = Decimal


def _simulate(book) -> dict:
    result = run(book, "simulate", "acme-fixed", "--default", "2026-06-01", "--recovery", "60%",
                 "--recovery-lag", "12m", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_scenario_claim_bears_default_interest_from_the_default_to_the_recovery(tmp_path):
    out = _simulate(credit_book(tmp_path / "book"))
    # 1,000,000 × 0.02 / 360 per day, rounded once per period of the schedule:
    #   2026-06-01 → 07-15   44 days  2,444.444… → 2,444.44
    #   2026-07-15 → 10-15   92 days  5,111.111… → 5,111.11
    #   2026-10-15 → 2027-01-15 (maturity) 92 days → 5,111.11
    #   2027-01-15 → 06-01 (recovery) 137 days 7,611.111… → 7,611.11      total 20,277.77
    # recovery 60% × (1,000,000 + 20,277.77) = 612,166.662 → 612,166.66
    assert out["result"]["totals"]["default_interest"] == "20277.77"
    assert out["result"]["totals"]["recovery"] == "612166.66"


def test_without_a_default_rate_the_scenario_is_unchanged(tmp_path):
    out = _simulate(credit_book(tmp_path / "book", BULLET))
    assert "default_interest" not in out["result"]["totals"]
    assert out["result"]["totals"]["recovery"] == "600000.00"  # 60% × 1,000,000


def test_the_ledger_agrees_with_the_scenario_on_the_first_period(tmp_path):
    book = credit_book(tmp_path / "book")
    add_event(book, "d", "date: 2026-06-01\ntype: default\n")
    bank = tmp_path / "bank"
    bank.mkdir()
    post_rows(book, bank, "p.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "9000.00")])
    # the same 44 days on all principal: 2,444.44 due on 2026-07-15
    assert positions(book, "2026-07-15")[None].default_interest_due == D("2444.44")
