"""`loanctl simulate` (SPEC §7): base and scenario side by side, checked by hand.

The deals use round numbers so every figure is exact: a 36,000,000 balance at ACT/360
accrues 1,000.00 a day per 1% of rate, so 10% is 10,000.00 a day and a 200 bp shock
2,000.00 a day. SOFR-3M has one fixing (5%) before the start, so every period is projected
at 5%. Payment dates 2026-04-15 (90 days), 07-15 (91), 10-15 (92), 2027-01-15 (92) are
weekdays: nothing rolls.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import pyxirr

from bookfactory import cli, write_book_at

D = Decimal

BOOK_YAML = """\
name: Simulation Test Partners
base_currency: USD
rounding: half_up
entities:
  - {id: fund-i, kind: fund, name: Test Credit Fund I}
  - {id: fund-ii, kind: fund, name: Test Credit Fund II}
  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}
policy:
  approvals:
    - {up_to: 10000000, require: [credit_officer]}
    - {require: [credit_officer, credit_committee]}
  limits:
    max_leverage: 6.0
"""

def sim_deal(deal_id: str, name: str, interest: str, *, status: str = "draft", maturity: str = "2027-01-15",
             amortization: str = "{type: bullet}", fees: tuple[str, ...] = (),
             lenders: dict[str, str] | None = None, origination: tuple[str, ...] = (), borrower: str = "acme",
             currency: str = "USD", commitment: str = "36000000") -> str:
    """deal.yaml of one quarterly term facility `tl` starting 2026-01-15 (`interest`,
    `amortization` and `fees` as YAML flow mappings; `origination`: its lines, indented)."""
    lenders = {"fund-i": "60%", "fund-ii": "40%"} if lenders is None else lenders
    text = f"id: {deal_id}\nname: {name}\nborrower: {borrower}\nstatus: {status}\ncurrency: {currency}\n"
    if origination:
        text += "origination:\n" + "".join(f"  {line}\n" for line in origination)
    text += (f"facilities:\n  - id: tl\n    type: term\n    commitment: {commitment}\n"
             f"    start_date: 2026-01-15\n    maturity_date: {maturity}\n    interest: {interest}\n"
             f"    payments: {{frequency: quarterly}}\n    amortization: {amortization}\n")
    if fees:
        text += "    fees:\n" + "".join(f"      - {fee}\n" for fee in fees)
    return text + "    participations:\n" + "".join(f"      - {{lender: {lender}, share: {share}}}\n"
                                                     for lender, share in lenders.items())


UNDERWRITING = "underwriting: {ebitda: 3000000, total_debt: 13000000}"

# a draft: never funded, simulated before approval
FLOATING = sim_deal("flt-tl", "Floating bullet", "{index: SOFR-3M, spread: 500bps, day_count: ACT/360}",
                    origination=(UNDERWRITING,))

# fixed 10%, 4% a year amortisation: 360,000.00 each quarter
FIXED = sim_deal("fix-tl", "Fixed amortising", "{fixed_rate: 10%, day_count: ACT/360}", status="funded",
                 amortization="{type: percent, annual_rate: 4%}",
                 fees=("{type: upfront, rate: 1%}", "{type: exit, rate: 1%}"), lenders={"fund-i": "100%"},
                 origination=(UNDERWRITING, "approvals:",
                              "  - {by: jane.doe, role: credit_officer, date: 2026-01-10, decision: approved}",
                              "  - {by: ic, role: credit_committee, date: 2026-01-12, decision: approved}"))

# three years with a 1% floor, for the grid (anniversaries 2027-01-15 and 2028-01-15)
FLOATING_3Y = sim_deal("flt3-tl", "Floating three-year",
                       "{index: SOFR-3M, spread: 500bps, floor: 1%, day_count: ACT/360}", maturity="2029-01-15",
                       lenders={"fund-i": "50%", "fund-ii": "50%"}, origination=(UNDERWRITING,))

# fixed 10% bullet with a prepayment fee: 2% until 2026-07-15, then 1% to maturity
PREPAY_FEE = sim_deal("fee-tl", "Fixed bullet with a prepayment fee", "{fixed_rate: 10%, day_count: ACT/360}",
                      fees=("{type: prepayment, schedule: [{until: 2026-07-15, rate: 2%}, {until: 2027-01-15, rate: 1%}]}",))


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """Read-only for every test in this module (simulate writes nothing)."""
    deals = {"flt-tl": FLOATING, "fix-tl": FIXED, "flt3-tl": FLOATING_3Y, "fee-tl": PREPAY_FEE}
    return write_book_at(tmp_path_factory.mktemp("sim") / "book", BOOK_YAML, deals,
                         {"SOFR-3M": "date,rate\n2025-01-02,0.05\n"})


def sim(book: Path, deal: str, *args):
    result = cli("--book", book, "simulate", deal, *args, "--as-of", "2026-01-01", "--format", "json")
    return result, (json.loads(result.stdout) if result.exit_code == 0 else None)


def pyx(flows):
    return pyxirr.xirr([date.fromisoformat(d) for d, _ in flows], [float(a) for _, a in flows])


def all_zero(diff: dict) -> bool:
    values = list(diff["totals"].values()) + [diff["xirr"], diff["moic"], diff["min_interest_coverage"]]
    values += [v for lender in diff["lenders"].values() for v in lender.values()]
    return all(v is not None and D(v) == 0 for v in values)


# --- scenario = base ---------------------------------------------------------------------------
@pytest.mark.parametrize("deal", ["flt-tl", "fix-tl", "flt3-tl"])
@pytest.mark.parametrize("options", [(), ("--rate-shock", "+0bps")])
def test_a_scenario_equal_to_the_base_has_zero_differences(book, deal, options):
    result, out = sim(book, deal, *options)
    assert result.exit_code == 0, result.output
    assert out["scenario"] == {}
    assert out["result"] == out["base"]
    assert set(out["difference"]["totals"]) == {"interest", "pik", "commitment_fee", "fees", "principal"}
    assert all(v == "0.00" for v in out["difference"]["totals"].values())
    assert all_zero(out["difference"])
    assert out["notes"] == []


# --- the base run, by hand -------------------------------------------------------------------
def test_the_base_of_a_draft_floating_bullet_by_hand(book):
    result, out = sim(book, "flt-tl")
    assert result.exit_code == 0, result.output
    base = out["base"]
    # 10% on 36,000,000: 10,000.00 a day × 365 days
    assert base["totals"] == {"interest": "3650000.00", "pik": "0.00", "commitment_fee": "0.00",
                              "fees": "0.00", "principal": "36000000.00"}
    flows = [("2026-01-15", -36000000), ("2026-04-15", 900000), ("2026-07-15", 910000),
             ("2026-10-15", 920000), ("2027-01-15", 36920000)]
    assert abs(float(base["xirr"]) - pyx(flows)) < 1e-8
    assert base["moic"] == "1.1014"  # 39,650,000 / 36,000,000 = 1.10138…
    assert set(base["lenders"]) == {"fund-i", "fund-ii"}
    for lender in base["lenders"].values():  # pro rata: the same return
        assert lender == {"xirr": base["xirr"], "moic": base["moic"]}
    # 3,000,000 EBITDA over the 12 months' interest ending 2027-01-15
    assert base["min_interest_coverage"] == {"value": "0.82", "date": "2027-01-15"}


# --- rate shocks ---------------------------------------------------------------------------
def test_a_200bp_shock_adds_the_balance_times_2pct_times_days_over_360_per_period(book):
    result, out = sim(book, "flt-tl", "--rate-shock", "+200bps")
    assert result.exit_code == 0, result.output
    per_period = [(D(36000000) * D("0.02") * days / 360).quantize(D("0.01")) for days in (90, 91, 92, 92)]
    assert per_period == [D("180000.00"), D("182000.00"), D("184000.00"), D("184000.00")]
    assert out["scenario"] == {"rate_shock": "0.02"}
    assert out["difference"]["totals"] == {"interest": f"{sum(per_period)}", "pik": "0.00",
                                           "commitment_fee": "0.00", "fees": "0.00", "principal": "0.00"}
    assert out["result"]["totals"]["interest"] == "4380000.00"
    flows = [("2026-01-15", -36000000), ("2026-04-15", 1080000), ("2026-07-15", 1092000),
             ("2026-10-15", 1104000), ("2027-01-15", 37104000)]
    assert abs(float(out["result"]["xirr"]) - pyx(flows)) < 1e-8
    assert D(out["difference"]["xirr"]) == D(out["result"]["xirr"]) - D(out["base"]["xirr"]) > 0
    assert out["result"]["moic"] == "1.1217"  # 40,380,000 / 36,000,000
    # 3,000,000 / 4,380,000 = 0.6849
    assert out["result"]["min_interest_coverage"] == {"value": "0.68", "date": "2027-01-15"}
    assert out["difference"]["min_interest_coverage"] == "-0.14"


def test_a_shock_over_three_years_is_2000_a_day_for_1096_days(book):
    result, out = sim(book, "flt3-tl", "--rate-shock", "+200bps")
    assert result.exit_code == 0, result.output
    assert out["difference"]["totals"]["interest"] == "2192000.00"  # 2026-01-15 → 2029-01-15: 1096 days


def test_a_fixed_rate_deal_is_unchanged_by_a_shock(book):
    result, out = sim(book, "fix-tl", "--rate-shock", "+200bps")
    assert result.exit_code == 0, result.output
    assert out["result"] == out["base"]
    assert all_zero(out["difference"])


def test_a_negative_index_without_a_floor_is_allowed_and_said(book):
    result, out = sim(book, "flt-tl", "--rate-shock=-600bps")
    assert result.exit_code == 0, result.output
    # 5% − 6% = −1% index, + 5% spread = 4%: 4,000.00 a day × 365
    assert out["result"]["totals"]["interest"] == "1460000.00"
    assert len(out["notes"]) == 1 and "negative" in out["notes"][0] and "4.0000%" in out["notes"][0]
    text = cli("--book", book, "simulate", "flt-tl", "--rate-shock=-600bps", "--as-of", "2026-01-01")
    assert text.exit_code == 0, text.output
    assert "note:" in text.stdout and "negative" in text.stdout


def test_a_floor_stops_a_negative_shock_and_there_is_no_note(book):
    result, out = sim(book, "flt3-tl", "--rate-shock=-600bps")
    assert result.exit_code == 0, result.output
    assert out["notes"] == []
    # floored at 1% + 5% spread = 6%, against 10% in the base: −4% × 1,000.00 × 1096 days
    assert out["difference"]["totals"]["interest"] == "-4384000.00"


# --- prepayment and default ---------------------------------------------------------------
def test_a_prepayment_larger_than_the_balance_is_e0601(book):
    result, out = sim(book, "flt-tl", "--prepay", "2026-05-01:36000000.01")
    assert result.exit_code == 1
    assert f"error[{'E0601'}]" in result.stderr and "36,000,000.00" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_a_prepayment_of_the_whole_balance_is_fine(book):
    result, out = sim(book, "flt-tl", "--prepay", "2026-04-15:36000000")
    assert result.exit_code == 0, result.output
    # repaid on the first payment date: only the first period's 900,000.00 interest is earned
    assert out["result"]["totals"]["interest"] == "900000.00"
    assert out["result"]["totals"]["principal"] == "36000000.00"


@pytest.mark.parametrize("when", ["2027-03-01", "2027-01-15", "2025-12-31"])
def test_a_default_outside_the_facility_life_is_e0603(book, when):
    result, out = sim(book, "flt-tl", "--default", when)
    assert result.exit_code == 1
    assert f"error[{'E0603'}]" in result.stderr and when in result.stderr
    assert "Traceback" not in result.output


def test_a_default_recovers_60pct_of_the_outstanding_12_months_later(book):
    result, out = sim(book, "fix-tl", "--default", "2026-08-01", "--recovery", "60%", "--recovery-lag", "12m")
    assert result.exit_code == 0, result.output
    assert out["scenario"] == {"default": {"date": "2026-08-01", "recovery": "0.6", "recovery_lag_months": 12}}
    r = out["result"]["totals"]
    # outstanding after the 2026-07-15 payment: 36,000,000 − 2 × 360,000 = 35,280,000
    assert r["recovery"] == f"{D('35280000') * D('0.6'):.2f}" == "21168000.00"
    # interest 900,000.00 (90 d on 36,000,000) + 9,910.00 × 91 on 35,640,000 = 900,900.00
    assert r["interest"] == "1800900.00"
    assert r["principal"] == "720000.00"
    assert r["fees"] == "360000.00"  # the upfront fee only; the exit fee was never reached
    flows = [("2026-01-15", -36000000 + 360000), ("2026-04-15", 900000 + 360000),
             ("2026-07-15", 900900 + 360000), ("2027-08-01", 21168000)]
    assert abs(float(out["result"]["xirr"]) - pyx(flows)) < 1e-8
    # (360,000 + 1,260,000 + 1,260,900 + 21,168,000) / 36,000,000 = 0.668025
    assert out["result"]["moic"] == "0.6680"


def test_a_default_on_a_bullet_recovers_60pct_of_the_full_balance(book):
    result, out = sim(book, "flt-tl", "--default", "2026-08-01")  # 60% and 12m are the defaults
    assert result.exit_code == 0, result.output
    assert out["result"]["totals"]["recovery"] == "21600000.00"
    assert out["result"]["totals"]["interest"] == "1810000.00"
    flows = [("2026-01-15", -36000000), ("2026-04-15", 900000), ("2026-07-15", 910000),
             ("2027-08-01", 21600000)]
    assert abs(float(out["result"]["xirr"]) - pyx(flows)) < 1e-8
    assert out["result"]["moic"] == "0.6503"  # 23,410,000 / 36,000,000


# --- PIK toggle --------------------------------------------------------------------------------
def test_a_pik_toggle_capitalises_the_toggled_periods_interest(book):
    result, out = sim(book, "flt-tl", "--pik-toggle", "2026-04-15:on", "--pik-toggle", "2026-07-15:off")
    assert result.exit_code == 0, result.output
    # period 2 (91 d): 910,000.00 capitalised; periods 3 and 4 (92 d) on 36,910,000:
    # 36,910,000 × 10% × 92 / 360 = 943,255.555… → 943,255.56 each
    after = (D(36910000) * D("0.10") * 92 / 360).quantize(D("0.01"))
    assert after == D("943255.56")
    assert out["result"]["totals"] == {"interest": f"{D(900000) + 2 * after:.2f}", "pik": "910000.00",
                                       "commitment_fee": "0.00", "fees": "0.00", "principal": "36910000.00"}


def test_a_pik_toggle_row_by_row(book):
    from loanctl.api import load_valid_book
    from loanctl.underwriting.simulate import Scenario, run
    loaded, errors = load_valid_book(book, ["flt-tl"])
    assert not errors
    scenario = Scenario(pik_toggles=[(date(2026, 4, 15), True), (date(2026, 7, 15), False)])
    res, diags = run(loaded, "flt-tl", scenario, date(2026, 1, 1))
    assert not diags
    rows = [(str(r.date), str(r.interest), str(r.pik), str(r.closing_balance)) for r in res.schedules[0].rows[1:]]
    assert rows == [
        ("2026-04-15", "900000.00", "0.00", "36000000.00"),
        ("2026-07-15", "0.00", "910000.00", "36910000.00"),  # cash interest 0, the former interest as PIK
        ("2026-10-15", "943255.56", "0.00", "36910000.00"),
        ("2027-01-15", "943255.56", "0.00", "0.00"),
    ]


# --- a draft amendment -------------------------------------------------------------------------
def test_a_draft_amendment_cutting_the_spread_lowers_interest(book, tmp_path):
    draft = tmp_path / "002-reprice.yaml"
    draft.write_text("id: 002-reprice\neffective_date: 2026-07-15\ndescription: spread cut by 100 bps\n"
                     "changes:\n  - {facility: tl, set: {interest.spread: 400bps}}\n", encoding="utf-8")
    result, out = sim(book, "flt-tl", "--amendment", draft)
    assert result.exit_code == 0, result.output
    assert out["scenario"] == {"amendment": "002-reprice"}
    # 1% less on 36,000,000 from 2026-07-15: 1,000.00 a day × (92 + 92) days
    assert out["difference"]["totals"]["interest"] == "-184000.00"
    assert D(out["difference"]["xirr"]) < 0
    assert not (book / "flt-tl" / "amendments").exists()  # nothing written into the book


@pytest.mark.parametrize("text, needle, code", [
    ("id: bad\neffective_date: 2026-07-15\nchanges:\n  - {facility: tl, set: {interest.spread: 4.5}}\n",
     "4.5}", "E0104"),
    ("id: bad\neffective_date: 2026-07-15\nchanges:\n  - {facility: tx, set: {interest.spread: 400bps}}\n",
     "tx,", "E0214"),
    ("id: bad\nefective_date: 2026-07-15\nchanges:\n  - {facility: tl, set: {interest.spread: 400bps}}\n",
     "efective_date", "E0101"),
    ("id: bad\neffective_date: 2026-02-30\nchanges:\n  - {facility: tl, set: {interest.spread: 400bps}}\n",
     "2026-02-30", None),
])
def test_an_invalid_draft_amendment_is_reported_at_its_position(book, tmp_path, text, needle, code):
    draft = tmp_path / "bad.yaml"
    draft.write_text(text, encoding="utf-8")
    i = text.index(needle)
    line, col = text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1
    result, _ = sim(book, "flt-tl", "--amendment", draft)
    assert result.exit_code == 1
    assert f"bad.yaml:{line}:{col}: error[{code or 'E0'}" in result.stderr, result.stderr
    assert "Traceback" not in result.output


# --- an index path ------------------------------------------------------------------------------
def test_an_index_path_replaces_the_projected_fixings_from_its_first_date(book, tmp_path):
    path = tmp_path / "sofr-up.csv"
    path.write_text("date,rate\n2026-07-01,7%\n", encoding="utf-8")
    result, out = sim(book, "flt-tl", "--index-path", path)
    assert result.exit_code == 0, result.output
    # fixings on 2026-07-15 and 2026-10-15 are 7% instead of 5%: 2% × 1,000.00 × (92 + 92) days
    assert out["difference"]["totals"]["interest"] == "368000.00"
    assert out["scenario"] == {"index_path": {"SOFR-3M": 1}}


def test_a_bad_index_path_file_is_reported_at_its_line(book, tmp_path):
    path = tmp_path / "bad-path.csv"
    path.write_text("date,rate\n2026-07-01,7%\n2026-06-01,6%\n", encoding="utf-8")
    result, _ = sim(book, "flt-tl", "--index-path", f"SOFR-3M={path}")
    assert result.exit_code == 1
    assert "bad-path.csv:3" in result.stderr and "Traceback" not in result.output


# --- bad options ------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("--rate-shock", "abc"), ("--rate-shock", "5"), ("--prepay", "2026-05-01:abc"), ("--prepay", "2026-05-01:-5"),
    ("--prepay", "2026-05-01"), ("--default", "2026-13-01"), ("--default", "2026-08-01", "--recovery", "150%"),
    ("--default", "2026-08-01", "--recovery-lag", "xx"), ("--pik-toggle", "2026-04-15:maybe"),
    ("--index-path", "/no/such/file.csv"),
])
def test_a_bad_option_value_is_a_usage_error_with_a_message(book, args):
    result, _ = sim(book, "flt-tl", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("loanctl: error: ")
    assert "Traceback" not in result.output


def test_an_unknown_deal_is_a_usage_error(book):
    assert sim(book, "no-such-deal")[0].exit_code == 2


def test_a_prepayment_naming_an_unknown_facility_is_e0602(book):
    result, _ = sim(book, "flt-tl", "--prepay", "2026-05-01:100:zz")
    assert result.exit_code == 1 and f"error[{'E0602'}]" in result.stderr


# --- grid ----------------------------------------------------------------------------------
def test_the_grid_as_json_has_15_cells(book):
    result, out = sim(book, "flt3-tl", "--grid")
    assert result.exit_code == 0, result.output
    cells = out["grid"]
    assert len(cells) == 15
    assert list(dict.fromkeys(c["shock"] for c in cells)) == ["-200bps", "-100bps", "+0bps", "+100bps", "+200bps"]
    assert list(dict.fromkeys(c["prepay"] for c in cells)) == ["hold", "prepay 2027-01-15", "prepay 2028-01-15"]
    assert not [c for c in cells if "error" in c]
    _, plain = sim(book, "flt3-tl")
    hold0 = next(c for c in cells if c["shock"] == "+0bps" and c["prepay"] == "hold")
    assert (hold0["xirr"], hold0["moic"]) == (plain["base"]["xirr"], plain["base"]["moic"])
    hold = [D(c["xirr"]) for c in cells if c["prepay"] == "hold"]
    assert hold == sorted(hold) and len(set(hold)) == 5  # the floor (1%) is not reached at −200 bps


def test_the_grid_as_text_is_a_table(book):
    result = cli("--book", book, "simulate", "flt3-tl", "--grid", "--as-of", "2026-01-01")
    assert result.exit_code == 0, result.output
    for label in ("shock", "hold", "prepay 2027-01-15", "-200bps", "+200bps"):
        assert label in result.stdout


# --- bugs ----------------------------------------------------------------------------------------
def test_a_prepayment_after_maturity_is_an_error(book):
    result, _ = sim(book, "flt-tl", "--prepay", "2030-01-01:1000")
    assert result.exit_code == 1
    assert f"error[{'E0604'}]" in result.stderr


def test_a_prepayment_before_the_start_is_an_error(book):
    result, _ = sim(book, "flt-tl", "--prepay", "2025-06-01:1000")
    assert result.exit_code == 1
    assert f"error[{'E0604'}]" in result.stderr


def test_the_recovery_is_on_the_balance_left_after_a_prepayment(book):
    result, out = sim(book, "flt-tl", "--prepay", "2026-05-01:10000000", "--default", "2026-06-01")
    assert result.exit_code == 0, result.output
    assert out["result"]["totals"]["recovery"] == "15600000.00"


# --- the prepayment fee (as a posted prepayment creates it) ------------------------------------
def test_a_simulated_prepayment_creates_the_prepayment_fee_of_the_fee_schedule(book):
    result, out = sim(book, "fee-tl", "--prepay", "2026-05-01:5000000")
    assert result.exit_code == 0, result.output
    # 2026-05-01 is on or before the first step's until (2026-07-15): 2% × 5,000,000.00 = 100,000.00
    assert out["base"]["totals"]["fees"] == "0.00"
    assert out["result"]["totals"]["fees"] == "100000.00"
    assert out["difference"]["totals"]["fees"] == "100000.00"
    assert out["difference"]["totals"]["principal"] == "0.00"  # a bullet: the same 36,000,000 comes back
    # interest: 2026-01-15→04-15 90 days on 36,000,000 = 900,000.00; 04-15→05-01 16 days on 36,000,000
    # = 160,000.00 and 05-01→07-15 75 days on 31,000,000 = 645,833.33; then 92 + 92 days on 31,000,000
    # = 792,222.22 each
    interest = D("900000.00") + D("160000.00") + D("645833.33") + D("792222.22") + D("792222.22")
    assert out["result"]["totals"]["interest"] == f"{interest}" == "3290277.77"
    # MOIC: (3,290,277.77 interest + 36,000,000 principal + 100,000 fee) / 36,000,000 = 1.094174… (1.0914 without)
    assert out["result"]["moic"] == "1.0942"
    flows = [("2026-01-15", -36000000), ("2026-04-15", 900000), ("2026-05-01", 5000000 + 100000),
             ("2026-07-15", 805833.33), ("2026-10-15", 792222.22), ("2027-01-15", 31792222.22)]
    assert abs(float(out["result"]["xirr"]) - pyx(flows)) < 1e-8
    for lender in out["result"]["lenders"].values():  # pro rata (60/40): the same return, to the cent's rounding
        assert lender["moic"] == out["result"]["moic"]
        assert abs(D(lender["xirr"]) - D(out["result"]["xirr"])) < D("1e-9")


def test_a_prepayment_after_the_first_step_takes_the_next_steps_rate(book):
    result, out = sim(book, "fee-tl", "--prepay", "2026-10-01:5000000")
    assert result.exit_code == 0, result.output
    assert out["difference"]["totals"]["fees"] == "50000.00"  # after 2026-07-15: 1% × 5,000,000.00


def test_a_prepayment_of_a_deal_without_a_prepayment_fee_adds_no_fee(book):
    result, out = sim(book, "flt-tl", "--prepay", "2026-05-01:5000000")
    assert result.exit_code == 0, result.output
    assert out["difference"]["totals"]["fees"] == "0.00"


JPY_BOOK = """\
name: Yen Partners
base_currency: JPY
entities:
  - {id: fund-j, kind: fund, name: Yen Fund}
  - {id: kumo, kind: borrower, name: Kumo KK, industry: industrials, country: JP}
"""

JPY_DEAL = sim_deal("yen-tl", "Yen fixed bullet", "{fixed_rate: 10%, day_count: ACT/360}", borrower="kumo",
                    currency="JPY", commitment="3600000000", maturity="2029-01-15",
                    fees=("{type: prepayment, schedule: [{until: 2027-01-15, rate: 2%}, {until: 2028-01-15, rate: 1%}]}",),
                    lenders={"fund-j": "100%"})


def test_the_grid_of_a_yen_deal_prepays_in_whole_yen_with_the_fee(tmp_path):
    root = write_book_at(tmp_path / "book", JPY_BOOK, {"yen-tl": JPY_DEAL})
    result, out = sim(root, "yen-tl", "--grid")
    assert result.exit_code == 0, result.output
    cells = out["grid"]
    assert list(dict.fromkeys(c["prepay"] for c in cells)) == ["hold", "prepay 2027-01-15", "prepay 2028-01-15"]
    assert not [c for c in cells if "error" in c]
    for c in cells:
        if c["prepay"] == "hold":
            assert "prepaid" not in c
            continue
        # a bullet: the whole 3,600,000,000 is outstanding on both anniversaries; JPY has no minor unit
        assert c["prepaid"] == "3600000000"
        # 2027-01-15 is on the 2% step's until; 2028-01-15 on the 1% step's: 72,000,000 and 36,000,000 yen
        assert c["prepayment_fee"] == {"prepay 2027-01-15": "72000000", "prepay 2028-01-15": "36000000"}[c["prepay"]]
    # fixed rate: every shock gives the same cell. Prepaid on 2027-01-15 (a Friday, a payment date): interest
    # 90 + 91 + 92 + 92 days × 3,600,000,000 × 10% / 360 = 365,000,000; returned 365,000,000 + 3,600,000,000 +
    # 72,000,000 = 4,037,000,000 over 3,600,000,000 = 1.12138… (1.1014 without the fee)
    first = [c for c in cells if c["prepay"] == "prepay 2027-01-15"]
    assert {c["moic"] for c in first} == {"1.1214"}
    flows = [("2026-01-15", -3600000000), ("2026-04-15", 90000000), ("2026-07-15", 91000000),
             ("2026-10-15", 92000000), ("2027-01-15", 92000000 + 3600000000 + 72000000)]
    assert all(abs(float(c["xirr"]) - pyx(flows)) < 1e-8 for c in first)
