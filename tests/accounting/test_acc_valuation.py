"""Marks, fair value and NAV, FX translation and investor look-through (SPEC §5, §9), checked
by hand and by Beancount's own balances.

The book is the small servicing book (`bookfactory.small_book_yaml` / `fixed_term_deal`):
1,000,000 at a fixed 3.6% ACT/360 (100.00 a day), start 2026-01-15, maturity 2027-01-15
(365 days), 250,000 scheduled each quarter; fund-a 60%, fund-b 40%. No payment is posted,
so the outstanding principal stays 1,000,000 (the scheduled principal is past due).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from bookfactory import fixed_term_deal, invoke, run_validate, small_book_yaml, write_book_at

D = Decimal
STRAIGHT = "  fee_amortization: straight_line\n"
INVESTORS = ("  - {id: lp-x, kind: investor, name: LP X, commitments: [{fund: fund-a, amount: 100}]}\n"
             "  - {id: lp-y, kind: investor, name: LP Y, commitments: [{fund: fund-a, amount: 200}]}\n"
             "  - {id: lp-z, kind: investor, name: LP Z, commitments: [{fund: fund-a, amount: 300}, "
             "{fund: fund-b, amount: 50}]}\n"
             "  - {id: lp-w, kind: investor, name: LP W, commitments: [{fund: fund-b, amount: 100}]}\n")


def book_yaml(extra_policy: str = "", investors: str = "") -> str:
    text = small_book_yaml()
    if investors:
        text = text.replace("policy:\n", investors + "policy:\n")
    return text.replace("    - {require: [credit_officer]}\n", "    - {require: [credit_officer]}\n" + extra_policy)


def make_book(tmp_path: Path, *, fees=(), currency="USD", files: dict[str, str] | None = None,
              extra_policy: str = "", investors: str = "", extra_deals: dict[str, str] | None = None) -> Path:
    deal = fixed_term_deal(fees=fees).replace("currency: USD", f"currency: {currency}")
    deals = {"acme-fixed": deal, **(extra_deals or {}), **(files or {})}
    return write_book_at(tmp_path / "book", book_yaml(extra_policy, investors), deals)


def cli(root: Path, *args: str):
    result = invoke(["--book", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def report(root: Path, *args: str) -> dict:
    result = cli(root, "report", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


MARKS = {"marks/2026-03-31.csv": "deal,facility,price,source\nacme-fixed,tl,97.5,pricing service\n",
         "marks/2026-06-30.csv": "deal,facility,price,source\nacme-fixed,tl,99%,broker quote\n"}


# --- marks and NAV by hand ----------------------------------------------------------------------
def test_fair_value_unrealized_gain_and_nav_by_hand(tmp_path):
    root = make_book(tmp_path, fees=("{type: upfront, rate: 1%, netted: false}",), files=MARKS, extra_policy=STRAIGHT)
    got = report(root, "--fund", "fund-a", "--as-of", "2026-03-31")
    p = got["positions"][0]
    # fund-a: 60% of 1,000,000 = 600,000 outstanding; its fee 6,000 straight line over 365 days,
    # 75 days to 03-31: 6,000 × 75 / 365 = 1,232.876… → 1,232.88; cost 600,000 − (6,000 − 1,232.88)
    assert p["amortized_cost"] == "595232.88"
    assert (p["mark_price"], p["mark_date"], p["mark_source"]) == ("97.5", "2026-03-31", "pricing service")
    assert p["fair_value"] == "585000.00"                     # 97.5% × 600,000
    assert p["unrealized_gain"] == "-10232.88"                # 585,000 − 595,232.88
    t = got["totals"]["USD"]
    # NAV: fair value + interest accrued 01-15 → 03-31 (75 days × 100.00 × 60% = 4,500.00)
    assert t["accrued_interest"] == "4500.00"
    assert t["loan_nav"] == "589500.00"
    # before the first mark: carried at amortized cost (44 days: 6,000 × 44 / 365 = 723.287… → 723.29)
    early = report(root, "--fund", "fund-a", "--as-of", "2026-02-28")["positions"][0]
    assert early["mark_price"] is None and early["amortized_cost"] == early["fair_value"] == "594723.29"
    assert early["unrealized_gain"] == "0.00"
    # the latest mark on or before the date: 99% from 06-30 on
    later = report(root, "--fund", "fund-a", "--as-of", "2026-07-10")["positions"][0]
    assert later["mark_price"] == "99" and later["fair_value"] == "594000.00"


def bean_balances(path: Path, on: date) -> dict[str, Decimal]:
    from beancount import loader
    from beancount.core import data, realization

    entries, errors, _ = loader.load_file(str(path))
    assert not errors, errors
    real = realization.realize([e for e in entries if not isinstance(e, data.Transaction) or e.date <= on])
    return {a.account: sum((p.units.number for p in a.balance), D(0))
            for a in realization.iter_children(real) if a.account}


def test_journal_with_marks_bean_check_and_beancount_balances(tmp_path):
    pytest.importorskip("beancount")
    root = make_book(tmp_path, fees=("{type: upfront, rate: 1%, netted: false}",), files=MARKS, extra_policy=STRAIGHT)
    out = tmp_path / "j.beancount"
    result = cli(root, "journal", "--to", "2026-07-31", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    checked = subprocess.run([sys.executable, "-m", "beancount.scripts.check", str(out)], capture_output=True,
                             text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    sfx = ":Fund-a:Acme-fixed:Tl"
    q1 = bean_balances(out, date(2026, 3, 31))
    # fair value − amortized cost on the mark date (above): −10,232.88, a loss through income
    assert q1["Assets:Loans:FairValueAdjustment" + sfx] == D("-10232.88")
    assert q1["Income:UnrealizedGains:Fund-a"] == D("10232.88")
    carrying = sum(q1.get(a + sfx, D(0)) for a in ("Assets:Loans:Principal", "Liabilities:DeferredFees",
                                                    "Assets:Loans:AccretedExitFees", "Assets:Loans:FairValueAdjustment"))
    assert carrying == D("585000.00")                          # = fair value
    q2 = bean_balances(out, date(2026, 6, 30))
    # 06-30: 99% × 600,000 = 594,000; fee recognised 6,000 × 166 / 365 = 2,728.767… → 2,728.77,
    # cost 600,000 − 3,271.23 = 596,728.77; adjustment −2,728.77 (a gain of 7,504.11 in Q2)
    assert q2["Assets:Loans:FairValueAdjustment" + sfx] == D("-2728.77")
    assert q2["Income:UnrealizedGains:Fund-a"] == D("2728.77")
    # fund-b: 40% → 400,000 × 97.5% = 390,000; fee 4,000 × 75/365 = 821.917… → 821.92, cost 396,821.92
    assert q1["Assets:Loans:FairValueAdjustment:Fund-b:Acme-fixed:Tl"] == D("-6821.92")
    # --from after the first mark brings the adjustment forward
    part = tmp_path / "part.beancount"
    assert cli(root, "journal", "--from", "2026-05-01", "--to", "2026-07-31", "--out", str(part)).exit_code == 0
    assert bean_balances(part, date(2026, 6, 30))["Assets:Loans:FairValueAdjustment" + sfx] == D("-2728.77")


# --- FX -----------------------------------------------------------------------------------------
EUR_RATES = "date,rate\n2026-03-31,1.0850\n2026-06-30,1.1200\n"


def test_eur_loan_in_a_usd_fund_at_two_rates_by_hand(tmp_path):
    usd_deal = fixed_term_deal("usd-fixed")
    root = make_book(tmp_path, currency="EUR", files={"rates/FX-EURUSD.csv": EUR_RATES},
                     extra_deals={"usd-fixed": usd_deal})
    q1 = report(root, "--fund", "fund-a", "--as-of", "2026-04-10")
    tr = q1["translation"]
    assert tr["currency"] == "USD"
    assert tr["rates"] == [{"currency": "EUR", "pair": "EURUSD", "rate": "1.0850", "date": "2026-03-31",
                            "file": tr["rates"][0]["file"], "inverse": False}]
    assert tr["rates"][0]["file"].endswith("rates/FX-EURUSD.csv")
    # EUR 600,000 × 1.0850 = 651,000.00 plus the USD loan's 600,000.00
    assert tr["totals"]["outstanding_principal"] == "1251000.00"
    # accrued 04-10: 85 days × 100.00 × 60% = 5,100 in each currency; 5,100 × 1.085 = 5,533.50
    assert q1["totals"]["EUR"]["accrued_interest"] == "5100.00"
    assert tr["totals"]["accrued_interest"] == "10633.50"
    q2 = report(root, "--fund", "fund-a", "--as-of", "2026-07-01")
    assert q2["translation"]["rates"][0]["rate"] == "1.1200"
    assert q2["translation"]["totals"]["outstanding_principal"] == "1272000.00"   # 672,000 + 600,000
    # --currency EUR: the inverse pair is derived, USD 600,000 / 1.12 = 535,714.2857… → 535,714.29
    q3 = report(root, "--fund", "fund-a", "--as-of", "2026-07-01", "--currency", "EUR")
    assert q3["translation"]["rates"][0]["inverse"] is True
    assert q3["translation"]["totals"]["outstanding_principal"] == "1135714.29"


def test_translation_rounds_once_per_position(tmp_path):
    twin = fixed_term_deal("acme-fixed-2").replace("currency: USD", "currency: EUR")
    root = make_book(tmp_path, currency="EUR", files={"rates/FX-EURUSD.csv": "date,rate\n2026-01-01,1.00005\n"},
                     extra_deals={"acme-fixed-2": twin})
    got = report(root, "--book", "--as-of", "2026-03-31")
    # two whole facilities, each 7,500.00 EUR accrued (75 days × 100.00): 7,500 × 1.00005 = 7,500.375
    # → 7,500.38 per position, 15,000.76 in all (converting the sum 15,000 would give 15,000.75)
    assert got["totals"]["EUR"]["accrued_interest"] == "15000.00"
    assert got["translation"]["totals"]["accrued_interest"] == "15000.76"
    assert got["translation"]["totals"]["outstanding_principal"] == "2000100.00"   # 2 × 1,000,050.00


def test_missing_rate_is_E0654_never_one(tmp_path):
    root = make_book(tmp_path, currency="EUR", files={"rates/FX-EURUSD.csv": EUR_RATES})
    # before the first row, translating into the base currency by default: a warning, no translation
    result = cli(root, "report", "--fund", "fund-a", "--as-of", "2026-03-30", "--format", "json")
    assert result.exit_code == 0
    assert "warning[E0654]" in result.stderr and "EUR/USD" in result.stderr
    assert "translation" not in json.loads(result.stdout)
    # asked for explicitly (or for an investor, whose totals are in base currency): an error
    result = cli(root, "report", "--fund", "fund-a", "--as-of", "2026-03-30", "--currency", "USD")
    assert result.exit_code == 1 and "error[E0654]" in result.stderr
    result = cli(root, "report", "--fund", "fund-a", "--as-of", "2026-04-30", "--currency", "GBP")
    assert result.exit_code == 1 and result.stderr.count("E0654") == 1
    result = cli(root, "report", "--fund", "fund-a", "--as-of", "2026-04-30", "--currency", "usd")
    assert result.exit_code == 2


# --- investors ----------------------------------------------------------------------------------
MONEY = ("commitment", "drawn", "unfunded", "outstanding_principal", "accrued_interest", "interest_received",
         "fees_received", "principal_received", "past_due", "amortized_cost", "fair_value", "unrealized_gain")


def test_investor_look_through_by_hand_and_summing_to_the_fund(tmp_path):
    root = make_book(tmp_path, fees=("{type: upfront, rate: 1%, netted: false}",), files=MARKS,
                     investors=INVESTORS)
    on = "2026-03-31"
    x = report(root, "--investor", "lp-x", "--as-of", on)
    assert [(s["fund"], s["share"]) for s in x["look_through"]] == [("fund-a", "1/6")]   # 100 / (100+200+300)
    # fund-a holds 600,000: lp-x 1/6 = 100,000.00; accrued 4,500 / 6 = 750.00; fair value 585,000 / 6
    p = x["positions"][0]
    assert (p["outstanding_principal"], p["accrued_interest"], p["fair_value"]) == ("100000.00", "750.00", "97500.00")
    z = report(root, "--investor", "lp-z", "--as-of", on)
    assert [(s["fund"], s["share"]) for s in z["look_through"]] == [("fund-a", "1/2"), ("fund-b", "1/3")]
    # lp-z: 1/2 of fund-a's 600,000 + 1/3 of fund-b's 400,000 (133,333.333… → 133,333.33) = 433,333.33
    assert z["positions"][0]["outstanding_principal"] == "433333.33"
    assert z["translation"]["totals"]["outstanding_principal"] == "433333.33"


THIRDS = ("  - {id: lp-1, kind: investor, name: LP 1, commitments: [{fund: fund-a, amount: 70}]}\n"
          "  - {id: lp-2, kind: investor, name: LP 2, commitments: [{fund: fund-a, amount: 70}]}\n"
          "  - {id: lp-3, kind: investor, name: LP 3, commitments: [{fund: fund-a, amount: 70}]}\n")


def test_investor_reports_sum_exactly_to_the_fund(tmp_path):
    """Three equal investors (1/3 each): every money figure of their reports sums to the fund's,
    the cent a third leaves going by largest remainder."""
    root = make_book(tmp_path, fees=("{type: upfront, rate: 1%, netted: false}",), files=MARKS, investors=THIRDS)
    for on in ("2026-03-31", "2026-05-17"):
        whole = report(root, "--fund", "fund-a", "--as-of", on)["positions"][0]
        parts = [report(root, "--investor", inv, "--as-of", on)["positions"][0] for inv in ("lp-1", "lp-2", "lp-3")]
        for key in MONEY:
            assert sum((D(p[key]) for p in parts), D(0)) == D(whole[key]), (on, key)
        # 600,000 / 3 = 200,000 each; the fund's accrued interest 4,500 / 3 = 1,500 each (03-31)
        assert {p["outstanding_principal"] for p in parts} == {"200000.00"}
        assert len({p["amortized_cost"] for p in parts}) <= 2   # at most a cent apart


@settings(max_examples=60, deadline=None)
@given(st.integers(-10**9, 10**9), st.lists(st.integers(1, 10**6), min_size=1, max_size=6))
def test_look_through_parts_sum_to_the_amount(cents, commitments):
    from loanctl.reports.build import look_through_part
    amount = D(cents) / 100
    total = sum(commitments)
    shares = [(f"lp-{i}", Fraction(c, total)) for i, c in enumerate(commitments)]
    parts = [look_through_part(amount, (inv, shares), 2) for inv, _ in shares]
    assert sum(parts, D(0)) == amount
    for (inv, share), part in zip(shares, parts):
        assert abs(Fraction(part) - share * Fraction(amount)) < Fraction(1, 100)


def test_unknown_investor_is_usage_exit_2(tmp_path):
    root = make_book(tmp_path, investors=INVESTORS)
    for args in (["--investor", "nope"], ["--investor", "fund-a"], ["--investor", "lp-x", "--fund", "fund-a"]):
        result = cli(root, "report", "--as-of", "2026-03-31", *args)
        assert result.exit_code == 2, args


# --- bad marks and FX files: positioned diagnostics -------------------------------------------------
@pytest.mark.parametrize("rel,text,code,line", [
    ("marks/2026-13-01.csv", "deal,facility,price,source\n", "E0640", None),
    ("marks/2026-03-31.csv", "deal,facility,price\nacme-fixed,tl,99\n", "E0641", 1),
    ("marks/2026-03-31.csv", "deal,facility,price,source\nacme-fixed,tl,99\n", "E0642", 2),
    ("marks/2026-03-31.csv", "deal,facility,price,source\nacme-fixed,tl,ninety,model\n", "E0643", 2),
    ("marks/2026-03-31.csv", "deal,facility,price,source\nacme-fixed,tl,-1,model\n", "E0643", 2),
    ("marks/2026-03-31.csv", "deal,facility,price,source\nacme-fixed,tl,99,\n", "E0644", 2),
    ("marks/2026-03-31.csv", "deal,facility,price,source\nacme-fixed,tl,99,a\nacme-fixed,tl,98,b\n", "E0645", 3),
    ("marks/2026-03-31.csv", "deal,facility,price,source\nacme-fixed,tl,99,a\nnope,tl,98,b\n", "E0646", 3),
    ("marks/2026-03-31.csv", "deal,facility,price,source\nacme-fixed,rcf,99,a\n", "E0647", 2),
    ("rates/FX-EURABC.csv", "date,rate\n2026-01-01,1.1\n", "E0650", None),
    ("rates/FX-EURUSD.csv", "day,rate\n2026-01-01,1.1\n", "E0651", 1),
    ("rates/FX-EURUSD.csv", "date,rate\n2026-01-01,0\n", "E0652", 2),
    ("rates/FX-EURUSD.csv", "date,rate\n2026-01-02,1.1\n2026-01-01,1.2\n", "E0653", 3),
])
def test_bad_marks_and_fx_files(tmp_path, rel, text, code, line):
    root = make_book(tmp_path, files={rel: text})
    exit_code, diags = run_validate(root)
    assert exit_code == 1
    found = [d for d in diags if d["code"] == code]
    assert found, diags
    assert found[0]["file"].endswith(rel)
    assert found[0].get("line") == line


def test_fx_rate_above_one_is_accepted(tmp_path):
    """An FX rate is a plain positive number (1.27 USD per GBP), not a rate limited to 100%."""
    root = make_book(tmp_path, files={"rates/FX-GBPUSD.csv": "date,rate\n2026-01-01,1.27\n"})
    assert run_validate(root)[0] == 0


def test_marks_checked_when_validate_runs_in_workers(tmp_path, monkeypatch):
    """A large book is validated in worker processes: each checks its deals' marks (E0647), the
    parent the marks of deals no folder holds (E0646)."""
    from loanctl.validation import run
    monkeypatch.setattr(run, "PARALLEL_FROM", 1)
    marks = "deal,facility,price,source\nacme-fixed,rcf,99,a\nnope,tl,98,b\nacme-fixed-2,tl,97,c\n"
    root = make_book(tmp_path, files={"marks/2026-03-31.csv": marks},
                     extra_deals={"acme-fixed-2": fixed_term_deal("acme-fixed-2")})
    result = run.validate(root, workers=2)
    found = sorted((d.code, d.line) for d in result.diagnostics if d.code.startswith("E064"))
    assert found == [("E0646", 3), ("E0647", 2)]


def test_repaid_position_reverses_its_fair_value_adjustment(tmp_path):
    """Marked at 97.5 on 03-31 (adjustment −15,000 for fund-a: no fees, cost = principal), then
    repaid in full on 04-15: the adjustment is reversed at that date's cut, back to zero."""
    from loanctl.accounting.journal import build_journal
    from loanctl.servicing.allocation import Payment
    from loanctl.validation.run import load_valid_book
    root = make_book(tmp_path, files={"marks/2026-03-31.csv": MARKS["marks/2026-03-31.csv"]})
    loaded, errors = load_valid_book(root)
    assert not errors
    # 04-15: the due (interest 9,000.00 = 90 days × 100.00, principal 250,000) and the 750,000 left
    pays = [Payment("p1", "acme-fixed", "tl", date(2026, 4, 15), D("259000.00"), "USD", "scheduled"),
            Payment("p2", "acme-fixed", "tl", date(2026, 4, 15), D("750000.00"), "USD", "prepayment")]
    journal = build_journal(loaded, pays, date(2026, 5, 31))
    fva = [(e.date, p.amount) for e in journal.entries if e.lender == "fund-a" for p in e.postings
           if p.account.startswith("Assets:Loans:FairValueAdjustment")]
    assert fva[0] == (date(2026, 3, 31), D("-15000.00"))          # 97.5% × 600,000 − 600,000
    assert sum(x for _, x in fva) == 0 and fva[-1][0] == date(2026, 4, 15)
