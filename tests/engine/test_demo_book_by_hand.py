"""The demo book's schedules, checked by hand against the rate file and the deal terms."""

import json
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

DEALS = Path(__file__).resolve().parents[2] / "deals"


def schedule(deal: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "loanctl", "--book", str(DEALS), "schedule", deal, "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["facilities"][0]["rows"]


def cents(x: Decimal) -> str:
    return str(x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def test_meridian_first_period_and_the_repricing_period():
    rows = schedule("meridian-tl-2025")
    # closing 2025-02-14: 32,000,000 drawn, 2% OID = 640,000.00
    assert (rows[0]["draws"], rows[0]["fees"]) == ("32000000.00", "640000.00")
    # SOFR-3M on 2025-02-14 is 4.292% (above the 1% floor) + 575 bps = 10.042%; 89 days ACT/360
    r1 = rows[1]
    assert (r1["date"], r1["days"], r1["rate"]) == ("2025-05-14", 89, "0.10042")
    assert r1["interest"] == cents(Decimal(32_000_000) * Decimal("0.10042") * 89 / 360)  # 794,433.78
    assert r1["principal"] == "80000.00"  # 1% a year of 32,000,000, quarterly
    # 2026-05-14 .. 2026-08-14 (92 days): the repricing (575 -> 525 bps) takes effect on
    # 2026-07-15, 62 days in: the period splits on the fixing of 2026-05-14 (3.834%)
    r = next(x for x in rows if x["date"] == "2026-08-14")
    fixing = Decimal("0.09584") - Decimal("0.0575")
    expected = Decimal(31_600_000) * ((fixing + Decimal("0.0575")) * 62 + (fixing + Decimal("0.0525")) * 30) / 360
    assert (r["opening_balance"], r["days"], r["interest"]) == ("31600000.00", 92, cents(expected))  # 760,794.58


def test_northwind_straight_amortization_and_exit_fee():
    rows = schedule("northwind-tl-2025")
    r1 = rows[1]
    # 24,000,000 at 9.811% (SOFR 4.061% + 575 bps) for 92 days ACT/360
    assert r1["interest"] == cents(Decimal(24_000_000) * Decimal(r1["rate"]) * 92 / 360)  # 601,741.33
    assert r1["interest"] == "601741.33"
    # straight: 24,000,000 over 24 quarterly dates = 1,000,000.00 each
    assert {r["principal"] for r in rows[1:]} == {"1000000.00"}
    # the 1% exit fee on the 24,000,000 drawn, with the maturity payment
    assert rows[-1]["fees"] == "240000.00" and rows[-1]["closing_balance"] == "0.00"
