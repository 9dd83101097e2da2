"""`loanctl journal` (SPEC §9), checked against independent references.

- Beancount itself (`bean-check`, `beancount.loader`, `beancount.core.realization`) checks
  the journal and gives the balances per lender account; they must equal loanctl's positions
  (outstanding principal, from `servicing.positions`) and amortized cost on every period end.
- Effective interest on a fixed-rate 5-year loan with 2% OID: the rate solved by
  numpy-financial's `irr` on the same cash flows, the amortization table recomputed here.
- Straight line by hand; Σ amortized = the fee exactly, property-tested.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from bookfactory import BOOK_YAML, DEAL_YAML, invoke, write_book, write_file

beancount = pytest.importorskip("beancount")
npf = pytest.importorskip("numpy_financial")

REPO = Path(__file__).resolve().parents[2]
D = Decimal
CENT = D("0.01")


def r2(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def cli(root: Path, *args: str):
    result = invoke(["--book", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def bean_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "beancount.scripts.check", str(path)], capture_output=True,
                          text=True, timeout=300)


def bean_balances(path: Path, on: date) -> dict[str, Decimal]:
    """Every account's balance at the end of `on`, by Beancount's own loader and realization."""
    from beancount import loader
    from beancount.core import data, realization

    entries, errors, _ = loader.load_file(str(path))
    assert not errors, errors
    upto = [e for e in entries if not isinstance(e, data.Transaction) or e.date <= on]
    real = realization.realize(upto)
    out = {}
    for acc in realization.iter_children(real):
        if acc.account:
            inv = acc.balance
            out[acc.account] = sum((p.units.number for p in inv), D(0))
    return out


# --- effective interest: a fixed-rate 5-year loan with 2% OID ---------------------------------
FIXED = """\
id: fixed-5y
name: Fixed five-year bullet with OID
borrower: acme
status: funded
currency: USD
origination:
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2025-12-01, decision: approved}
facilities:
  - id: tl
    type: term
    commitment: 10000000
    start_date: 2025-12-31
    maturity_date: 2030-12-31
    interest: {fixed_rate: 8%, day_count: ACT/360}
    payments: {frequency: quarterly, first_payment_date: 2026-03-31, business_day: unadjusted}
    amortization: {type: bullet}
    fees:
      - {type: upfront, rate: 2%}
    participations:
      - {lender: fund-i, share: 100%}
"""


def quarter_ends() -> list[date]:
    out, y, m = [], 2026, 3
    while (y, m) <= (2030, 12):
        out.append(date(y, m, 31 if m in (3, 12) else 30))
        y, m = (y + 1, 3) if m == 12 else (y, m + 3)
    return out


def amortization_cumulative(root: Path, *args: str) -> dict[date, Decimal]:
    result = cli(root, "journal", "--to", "2031-01-31", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    cum, out = D(0), {}
    for e in json.loads(result.stdout)["entries"]:
        if e["kind"] == "amortization":
            cum += sum(D(p["amount"]) for p in e["postings"] if p["account"].startswith("Liabilities:DeferredFees"))
            out[date.fromisoformat(e["date"])] = cum
    return out


def test_effective_interest_matches_irr_table(tmp_path):
    root = write_book(tmp_path, deals={"fixed-5y": FIXED})
    got = amortization_cumulative(root, "--period", "quarter")
    # cash flows by hand: −(par − OID) at funding, 8% ACT/360 coupons, par back at maturity
    dates = [date(2025, 12, 31)] + quarter_ends()
    par, oid = D(10_000_000), D(200_000)
    coupons = [r2(par * D("0.08") * (b - a).days / 360) for a, b in zip(dates, dates[1:])]
    flows = [-(par - oid)] + coupons[:-1] + [coupons[-1] + par]
    i = D(repr(float(npf.irr([float(f) for f in flows]))))  # the periodic rate, solved independently
    carrying = par - oid
    for k, on in enumerate(dates[1:], start=1):
        carrying = carrying * (1 + i) - flows[k]   # B_k = B_{k−1}(1+i) − cf_k
        amortized = carrying - par + oid if k < len(flows) - 1 else oid
        assert got[on] == r2(amortized), (on, got[on], amortized)
    assert got[dates[-1]] == oid
    # the first quarter by hand: 9,800,000 × i − 8% × 90/360 × 10,000,000 (i ≈ 2.1%)
    assert got[date(2026, 3, 31)] == r2(D(9_800_000) * i - coupons[0])


def test_straight_line_by_hand(tmp_path):
    book = BOOK_YAML.replace("    max_leverage: 6.0\n", "    max_leverage: 6.0\n  fee_amortization: straight_line\n")
    root = write_book(tmp_path, deals={"fixed-5y": FIXED}, book_yaml=book)
    got = amortization_cumulative(root)
    life = (date(2030, 12, 31) - date(2025, 12, 31)).days   # 1826 days
    assert life == 1826
    # 2026-01-31: 200,000 × 31 / 1826 = 3,395.40; 2026-06-30: × 181 / 1826 = 19,824.75
    assert got[date(2026, 1, 31)] == D("3395.40")
    assert got[date(2026, 6, 30)] == D("19824.75")
    for on, cum in got.items():
        days = min((on - date(2025, 12, 31)).days, life)
        assert cum == r2(D(200_000) * days / life)
    assert got[max(got)] == D("200000.00")


# --- Σ amortized = the fee exactly (property) --------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), coupon=st.integers(0, 400), fee_bps=st.integers(1, 500), exit_bps=st.integers(0, 300),
       par=st.integers(1, 10**9), cut_days=st.lists(st.integers(1, 4000), max_size=30),
       straight=st.booleans())
def test_sum_recognised_is_the_fee(n, coupon, fee_bps, exit_bps, par, cut_days, straight):
    from loanctl.accounting.amortization import effective_interest_curve, split_recognised, straight_line_curve

    P = D(par) / 100
    dates = [date(2025, 1, 1) + timedelta(days=91 * k) for k in range(n + 1)]
    upfront, exit_fee = r2(P * fee_bps / 10000), r2(P * exit_bps / 10000)
    coupon_amt = r2(P * coupon / 40000)
    flows = [upfront - P] + [coupon_amt] * (n - 1) + [coupon_amt + P + exit_fee]
    exits = [D(0)] * n + [exit_fee]
    balances = [P] * n + [D(0)]
    curve = None if straight else effective_interest_curve(dates, flows, balances, upfront, exits)
    if curve is None:
        curve = straight_line_curve(dates, upfront, exits)
    cuts = sorted({dates[0] + timedelta(days=d) for d in cut_days} | {dates[-1]})
    done_up = done_ex = D(0)
    total_up = total_ex = D(0)
    for on in cuts:
        up, ex = split_recognised(curve.at(on), curve.total, upfront, r2)
        total_up += up - done_up
        total_ex += ex - done_ex
        done_up, done_ex = up, ex
    assert (total_up, total_ex) == (upfront, exit_fee)


# --- bean-check and the balances, on an inline book and on the demo book ----------------------
def journal_file(root: Path, out: Path, to: str, *args: str) -> Path:
    result = cli(root, "journal", "--to", to, "--out", str(out), *args)
    assert result.exit_code == 0, result.stderr
    checked = bean_check(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return out


def month_ends(first: date, last: date) -> list[date]:
    out, d = [], first
    while d <= last:
        nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        if nxt - timedelta(days=1) <= last:
            out.append(nxt - timedelta(days=1))
        d = nxt
    return out


def loanctl_principal(root: Path, on: date) -> dict[tuple[str, str, str], Decimal]:
    """(lender, deal, facility) → outstanding principal, from loanctl's positions."""
    from loanctl.ledger.db import ledger_payments
    from loanctl.model.documents import FUNDED_OR_LATER
    from loanctl.servicing.positions import allocate_facility, facility_inputs, facility_position, lender_position
    from loanctl.validation.run import load_valid_book

    loaded, errors = load_valid_book(root)
    assert not errors
    payments = [p for p in ledger_payments(root) if p.date <= on]
    out = {}
    for deal_id, record in loaded.deals.items():
        if record.deal.status not in FUNDED_OR_LATER:
            continue
        terms, builder = facility_inputs(loaded, deal_id, on)
        for fid in terms:
            fa = allocate_facility(loaded, deal_id, fid, [p for p in payments if (p.deal, p.facility) == (deal_id, fid)],
                                   on, terms=terms, builder=builder)
            if fa.schedule.rows[0].date > on:
                continue
            whole = facility_position(fa, deal_id, on, (0, 30, 60, 90, 120))
            for lender in {n for r in fa.schedule.rows for n, _ in r.shares}:
                pos = lender_position(fa, whole, lender)
                # the carrying rule (SPEC §4.3, §9): written-off principal leaves the principal
                # account at the write-off (keystone in the demo book)
                out[(lender, deal_id, fid)] = pos.outstanding_principal
    return out


def check_balances(root: Path, bean: Path, ends: list[date], json_out: Path) -> int:
    from loanctl.accounting.journal import component as comp

    balances = json.loads(json_out.read_text())["balances"]
    amortized = {(b["date"], b["lender"], b["deal"], b["facility"]): D(b["amortized_cost"]) for b in balances}
    checked = 0
    for on in ends:
        bean_bal = bean_balances(bean, on)
        for (lender, deal, fid), principal in loanctl_principal(root, on).items():
            suffix = f":{comp(lender)}:{comp(deal)}:{comp(fid)}"
            got = bean_bal.get("Assets:Loans:Principal" + suffix, D(0))
            assert got == principal, (on, lender, deal, fid, got, principal)
            cost = got + bean_bal.get("Liabilities:DeferredFees" + suffix, D(0)) + \
                bean_bal.get("Assets:Loans:AccretedExitFees" + suffix, D(0)) + \
                bean_bal.get("Assets:Loans:CostRecovery" + suffix, D(0))
            key = (on.isoformat(), lender, deal, fid)
            if key in amortized:
                assert cost == amortized[key], (key, cost, amortized[key])
                checked += 1
    return checked


def post(root: Path, *files: Path, day: str = "2026-12-01"):
    result = cli(root, "post-payments", "--posting-day", day, *map(str, files))
    assert result.exit_code == 0, result.stderr + result.stdout


def test_inline_book_balances_equal_positions(tmp_path):
    root = write_book(tmp_path)   # acme-tl: 25m SOFR + 575, 1% amortization, 2% upfront, 60/40
    sched = json.loads(cli(root, "schedule", "acme-tl", "--format", "json").stdout)
    rows = sched["facilities"][0]["rows"] if "facilities" in sched else sched["rows"]
    lines = ["payment_id,deal,date,amount,type", "p0,acme-tl,2025-01-15,500000.00,fee"]
    for k, row in enumerate(rows[1:4], start=1):  # three quarters paid on the day, the fourth 1,000.01 short
        lines.append(f"p{k},acme-tl,{row['date']},{row['total_due']},scheduled")
    short = D(rows[4]["total_due"]) - D("1000.01")
    lines.append(f"p4,acme-tl,{rows[4]['date']},{short},scheduled")
    lines.append("p5,acme-tl,2026-02-10,1000000.01,prepayment")
    bank = write_file(tmp_path, "bank/pay.csv", "\n".join(lines) + "\n")
    post(root, bank)
    bean = journal_file(root, tmp_path / "j.beancount", "2026-11-30")
    out = tmp_path / "j.json"
    assert cli(root, "journal", "--to", "2026-11-30", "--out", str(out)).exit_code == 0
    assert check_balances(root, bean, month_ends(date(2025, 1, 31), date(2026, 11, 30)), out) == 2 * 23


@pytest.fixture(scope="module")
def demo_book(tmp_path_factory) -> Path:
    root = Path(shutil.copytree(REPO / "deals", tmp_path_factory.mktemp("demo") / "deals",
                                ignore=shutil.ignore_patterns(".loanctl", "payments")))
    post(root, *sorted((REPO / "templates" / "demo-payments").glob("*.csv")), day="2026-11-28")
    return root


def test_demo_book_bean_check_and_balances(demo_book, tmp_path):
    bean = journal_file(demo_book, tmp_path / "demo.beancount", "2026-11-30")
    out = tmp_path / "demo.json"
    assert cli(demo_book, "journal", "--to", "2026-11-30", "--out", str(out)).exit_code == 0
    ends = [date(2025, 6, 30), date(2025, 11, 30), date(2025, 12, 31), date(2026, 3, 31), date(2026, 6, 30),
            date(2026, 7, 31), date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30)]
    assert check_balances(demo_book, bean, ends, out) > 80
    # the demo's credit events and trades are in it (SPEC §9): keystone written off (a loss) with a
    # recovery, pinecrest's accrued interest reversed at its non-accrual, alder sold at 97.5 (a
    # realised loss for fund-i, a discount accreted by fund-ii), northwind SPV → fund at par
    entries = json.loads(out.read_text())["entries"]
    kinds = {(e["kind"], e["deal"]) for e in entries}
    assert {("write-off", "keystone-holdco-2025"), ("non-accrual", "pinecrest-tl-2026"),
            ("trade", "alder-tl-2026"), ("trade", "northwind-tl-2025"),
            ("accretion", "alder-tl-2026")} <= kinds
    end = bean_balances(bean, date(2026, 11, 30))
    assert end["Expenses:CreditLosses:Fund-ii"] > 0 and end["Income:Recoveries:Fund-ii"] < 0
    assert end["Income:RealizedGains:Fund-i"] > 0            # alder: 1,950,000 for more than that at cost
    # after the write-off nothing is recognised on keystone: no accrual or amortization entries
    assert not [e for e in entries if e["deal"] == "keystone-holdco-2025" and e["date"] > "2026-10-30"
                and e["kind"] in ("accrual", "amortization")]


def test_demo_fund_journal_from_a_date_opens_with_balances(demo_book, tmp_path):
    """--from brings balances forward: the fund's principal at 2026-11-30 is the same."""
    full = journal_file(demo_book, tmp_path / "full.beancount", "2026-11-30", "--fund", "fund-i")
    part = journal_file(demo_book, tmp_path / "part.beancount", "2026-11-30", "--fund", "fund-i",
                        "--from", "2026-01-01")
    a, b = bean_balances(full, date(2026, 11, 30)), bean_balances(part, date(2026, 11, 30))
    for acc, x in a.items():
        if acc.split(":")[0] in ("Assets", "Liabilities"):
            assert b.get(acc, D(0)) == x, acc
    assert not any(":Fund-ii" in acc for acc in a)   # fund-i and its SPV only
    assert any(":Fund-i-spv:" in acc for acc in a)


# --- bad input ---------------------------------------------------------------------------------
def test_bad_account_name_is_E0800(tmp_path):
    book = BOOK_YAML + "accounts: {cash: 'assets:cash'}\n"
    root = write_book(tmp_path, book_yaml=book)
    result = cli(root, "validate", "--format", "json")
    assert result.exit_code == 1
    diags = json.loads(result.stdout)
    assert [d["code"] for d in diags] == ["E0800"]
    assert diags[0]["line"] == book.count("\n")


def test_account_collision_is_E0802_and_writes_nothing(tmp_path):
    book = BOOK_YAML.replace("  - {id: fund-i-spv,", "  - {id: fund.i, kind: fund, name: Dotted}\n  - {id: fund-i-spv,")
    deal = DEAL_YAML.replace("      - {lender: fund-i, share: 60%}", "      - {lender: fund.i, share: 30%}\n"
                                                                    "      - {lender: fund-i, share: 30%}")
    root = write_book(tmp_path, deals={"acme-tl": deal}, book_yaml=book)
    out = tmp_path / "j.beancount"
    result = cli(root, "journal", "--to", "2026-06-30", "--out", str(out))
    assert result.exit_code == 1
    assert "E0802" in result.stderr and "'fund-i' and 'fund.i'" in result.stderr
    assert not out.exists()


def test_undrawn_revolver_fee_warns_E0801_and_amortizes_straight(tmp_path):
    deal = DEAL_YAML.replace("type: term", "type: revolver").replace(
        "    draws: [{date: 2025-01-15, amount: 25000000}]\n", "    draws: []\n    availability_end: 2029-01-15\n")
    root = write_book(tmp_path, deals={"acme-tl": deal})
    result = cli(root, "journal", "--to", "2025-03-31", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "E0801" in result.stderr
    entries = json.loads(result.stdout)["entries"]
    first = [e for e in entries if e["kind"] == "amortization" and e["lender"] == "fund-i"][0]
    # 60% of 2% × 25m = 300,000 over 2025-01-15 → 2030-01-15 (1826 days): 16 days to 01-31 → 2,628.70
    assert first["date"] == "2025-01-31"
    assert D([p for p in first["postings"] if p["account"].startswith("Income")][0]["amount"]) == D("-2628.70")


@pytest.mark.parametrize("args", [["--period", "year"], ["--fund", "nope"], ["--from", "2026-02-01", "--to", "2026-01-01"],
                                  ["--format", "xml"]])
def test_usage_errors_exit_2(tmp_path, args):
    root = write_book(tmp_path)
    result = cli(root, "journal", *args)
    assert result.exit_code == 2


# --- the allocation's events: netted fee, unapplied cash applied later, reversal, payoff, repayment --
def _library_journal(root: Path, payments, end: date, tmp_path: Path, name: str):
    """Payment files do not take reversal, payoff or repayment rows yet: the payments go to the
    library's journal directly; the Beancount text is bean-checked and read back by Beancount."""
    from loanctl.accounting.journal import build_journal
    from loanctl.render.journal import to_beancount
    from loanctl.validation.run import load_valid_book

    loaded, errors = load_valid_book(root)
    assert not errors
    journal = build_journal(loaded, payments, end)
    path = tmp_path / f"{name}.beancount"
    path.write_text(to_beancount(journal, "USD"), encoding="utf-8")
    checked = bean_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return loaded, journal, path


def _positions(loaded, payments, on: date, deal: str, fid: str):
    from loanctl.servicing.positions import allocate_facility, facility_position, lender_position

    fa = allocate_facility(loaded, deal, fid, [p for p in payments if p.date <= on], on)
    whole = facility_position(fa, deal, on, (0, 30, 60, 90, 120))
    return {lender: lender_position(fa, whole, lender) for lender in ("fund-i", "fund-i-spv")}


def test_netted_fee_unapplied_reversal_and_payoff_by_hand(tmp_path):
    from loanctl.servicing.allocation import Payment
    from loanctl.servicing.positions import quote_payoff

    root = write_book(tmp_path)   # acme-tl: 25m drawn 2025-01-15, 2% upfront (netted), 60% fund-i / 40% spv

    def pay(pid, on, amount, kind="scheduled", reverses=""):
        return Payment(pid, "acme-tl", "tl", on, D(amount), "USD", kind, reverses=reverses)

    # dues (schedule): 2025-04-15 690,562.50; 2025-07-15 695,575.15; 2025-10-15 700,546.51
    payments = [pay("p1", date(2025, 4, 15), "691562.50"),      # 1,000.00 more than due: unapplied
                pay("p2", date(2025, 7, 15), "694575.15"),      # the due less the 1,000.00 held
                pay("p3", date(2025, 10, 15), "700546.51"),     # returned by the bank:
                pay("r3", date(2025, 10, 20), "700546.51", "reversal", reverses="p3")]
    from loanctl.validation.run import load_valid_book
    loaded, _ = load_valid_book(root)
    quote = quote_payoff(loaded, "acme-tl", "tl", payments, date(2025, 11, 14))
    payments.append(pay("po", date(2025, 11, 14), str(quote.total), "payoff"))
    loaded, journal, path = _library_journal(root, payments, date(2025, 11, 30), tmp_path, "acme")

    cash = "Assets:Cash:{}"
    loans = lambda lender: f":{lender}:Acme-tl:Tl"  # noqa: E731
    # closing: each lender funds its part of par less its part of the 2% fee (500,000)
    on = bean_balances(path, date(2025, 1, 15))
    assert on[cash.format("Fund-i")] == D("-14700000.00")        # −15,000,000 + 300,000
    assert on[cash.format("Fund-i-spv")] == D("-9800000.00")     # −10,000,000 + 200,000
    # 2025-04-15: 691,562.50 received, 60% = 414,937.50; the 1,000.00 beyond the due held unapplied (600 / 400)
    on = bean_balances(path, date(2025, 4, 15))
    assert on[cash.format("Fund-i")] == D("-14700000.00") + D("414937.50")
    assert on["Liabilities:UnappliedCash" + loans("Fund-i")] == D("-600.00")
    assert on["Liabilities:UnappliedCash" + loans("Fund-i-spv")] == D("-400.00")
    # 2025-07-15: the held 1,000.00 settles the second due with 694,575.15 of new cash (60% = 416,745.09)
    jul = bean_balances(path, date(2025, 7, 15))
    assert jul["Liabilities:UnappliedCash" + loans("Fund-i")] == 0
    assert jul[cash.format("Fund-i")] == D("-14700000.00") + D("414937.50") + D("416745.09")
    # p3 and its reversal are not cash: nothing moves the cash between July and the payoff's eve
    nov = bean_balances(path, date(2025, 11, 13))
    assert nov[cash.format("Fund-i")] == jul[cash.format("Fund-i")]
    assert not [e for e in journal.entries if e.ref in ("p3", "r3")]
    # the payoff settles everything (overdue interest on the unpaid third principal included):
    # every loan, receivable, deferred-fee and unapplied account is zero, the cash is all received
    end = bean_balances(path, date(2025, 11, 30))
    for acc, x in end.items():
        if acc.startswith(("Assets:Loans", "Liabilities")):
            assert x == 0, (acc, x)
    received = D("691562.50") + D("694575.15") + quote.total
    assert end[cash.format("Fund-i")] + end[cash.format("Fund-i-spv")] == D(-25_000_000) + D(500_000) + received
    # and against positions on each month end
    for on in month_ends(date(2025, 1, 31), date(2025, 11, 30)):
        bean = bean_balances(path, on)
        for lender, pos in _positions(loaded, payments, on, "acme-tl", "tl").items():
            sfx = loans(journal_component(lender))
            assert bean.get("Assets:Loans:Principal" + sfx, D(0)) == pos.outstanding_principal, (on, lender)
            assert -bean.get("Liabilities:UnappliedCash" + sfx, D(0)) == pos.unapplied, (on, lender)


def journal_component(ident: str) -> str:
    from loanctl.accounting.journal import component
    return component(ident)


def test_revolver_repayment_is_principal(tmp_path):
    from loanctl.servicing.allocation import Payment

    deal = DEAL_YAML.replace("type: term", "type: revolver").replace(
        "    draws: [{date: 2025-01-15, amount: 25000000}]\n",
        "    draws: [{date: 2025-01-15, amount: 25000000}]\n    availability_end: 2029-01-15\n")
    root = write_book(tmp_path, deals={"acme-tl": deal})
    payments = [Payment("rp", "acme-tl", "tl", date(2025, 2, 14), D("5000000.00"), "USD", "repayment")]
    loaded, journal, path = _library_journal(root, payments, date(2025, 2, 28), tmp_path, "rcf")
    bean = bean_balances(path, date(2025, 2, 28))
    # 25,000,000 − 5,000,000 repaid = 20,000,000: 60% = 12,000,000.00, 40% = 8,000,000.00
    assert bean["Assets:Loans:Principal:Fund-i:Acme-tl:Tl"] == D("12000000.00")
    assert bean["Assets:Loans:Principal:Fund-i-spv:Acme-tl:Tl"] == D("8000000.00")
    # the repayment is cash: −15,000,000 + 300,000 (netted fee) + 3,000,000
    assert bean["Assets:Cash:Fund-i"] == D("-11700000.00")
    pos = _positions(loaded, payments, date(2025, 2, 28), "acme-tl", "tl")
    assert pos["fund-i"].outstanding_principal == D("12000000.00")


def test_principal_paid_ahead_of_pik_is_held_as_unapplied(tmp_path):
    from loanctl.servicing.allocation import Payment

    deal = FIXED.replace("day_count: ACT/360}", "day_count: ACT/360, pik_rate: 2%}").replace(
        "maturity_date: 2030-12-31", "maturity_date: 2026-06-30")
    root = write_book(tmp_path, deals={"fixed-5y": deal})
    # schedule by hand: 10,000,000 at 8% cash + 2% PIK, ACT/360
    #   2026-03-31 (90 days): interest 200,000.00, PIK 50,000.00 capitalised → 10,050,000.00
    #   2026-06-30 (91 days): interest 10,050,000 × 8% × 91/360 = 203,233.33, PIK × 2% = 50,808.33,
    #   principal 10,100,808.33 (PIK of the stub included), due 10,304,041.66
    pay = lambda pid, on, amount: Payment(pid, "fixed-5y", "tl", on, D(amount), "USD")  # noqa: E731
    payments = [pay("q1", date(2026, 3, 31), "200000.00"), pay("early", date(2026, 6, 25), "10304041.66")]
    loaded, journal, path = _library_journal(root, payments, date(2026, 6, 30), tmp_path, "pik")
    sfx = ":Fund-i:Fixed-5y:Tl"
    before = bean_balances(path, date(2026, 6, 25))
    # 10,100,808.33 of principal against a balance of 10,050,000.00: 50,808.33 held until the PIK exists
    assert before["Assets:Loans:Principal" + sfx] == 0
    assert before["Liabilities:UnappliedCash" + sfx] == D("-50808.33")
    pos = _positions(loaded, payments, date(2026, 6, 25), "fixed-5y", "tl")["fund-i"]
    assert (pos.outstanding_principal, pos.unapplied) == (0, D("50808.33"))
    after = bean_balances(path, date(2026, 6, 30))
    for acc, x in after.items():
        if acc.startswith(("Assets:Loans", "Liabilities")):
            assert x == 0, (acc, x)
    assert after["Income:PIK:Fund-i"] == D("-100808.33")          # 50,000.00 + 50,808.33
    # cash: −10,000,000 + 200,000 (netted 2%) + 200,000.00 + 10,304,041.66
    assert after["Assets:Cash:Fund-i"] == D("704041.66")


def test_demo_report_valuation_equals_beancount_balances(demo_book, tmp_path):
    """`report --fund fund-i` on a mark date: each position's amortized cost and fair value equal
    the Beancount balances of the fund's journal (fund-i and its SPV's accounts summed)."""
    from loanctl.accounting.journal import component as comp

    on = date(2026, 9, 30)
    bean = journal_file(demo_book, tmp_path / "q3.beancount", on.isoformat(), "--fund", "fund-i")
    bal = bean_balances(bean, on)
    result = cli(demo_book, "report", "--fund", "fund-i", "--as-of", on.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    checked = 0
    for p in json.loads(result.stdout)["positions"]:
        cost = fva = D(0)
        for lender in p["lenders"]:
            sfx = f":{comp(lender)}:{comp(p['deal'])}:{comp(p['facility'])}"
            cost += sum(bal.get(a + sfx, D(0)) for a in ("Assets:Loans:Principal", "Liabilities:DeferredFees",
                                                          "Assets:Loans:AccretedExitFees"))
            fva += bal.get("Assets:Loans:FairValueAdjustment" + sfx, D(0))
        assert D(p["amortized_cost"]) == cost, (p["deal"], p["facility"], p["amortized_cost"], cost)
        assert p["mark_date"] in ("2026-09-30", None)   # tidewater (repaid in 2025) is not marked
        assert D(p["fair_value"]) == cost + fva, (p["deal"], p["facility"])
        checked += p["mark_date"] is not None
    assert checked >= 10


@pytest.mark.parametrize("fund", ["fund-i", "fund-ii"])
def test_demo_report_amortized_cost_after_credit_events_equals_beancount(demo_book, tmp_path, fund):
    """On 2026-11-30 — keystone written off with a recovery, pinecrest on non-accrual, alder sold
    at 97.5 by fund-i to fund-ii — each position's `amortized_cost` in `report --fund` equals the
    Beancount balances of the fund's journal: principal, deferred fees (purchase discounts
    included), accreted exit fees and cost recovery (SPEC §9)."""
    from loanctl.accounting.journal import component as comp

    on = date(2026, 11, 30)
    bal = bean_balances(journal_file(demo_book, tmp_path / "nov.beancount", on.isoformat(), "--fund", fund), on)
    result = cli(demo_book, "report", "--fund", fund, "--as-of", on.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    seen = set()
    for p in json.loads(result.stdout)["positions"]:
        cost = D(0)
        for lender in p["lenders"]:
            sfx = f":{comp(lender)}:{comp(p['deal'])}:{comp(p['facility'])}"
            cost += sum(bal.get(a + sfx, D(0)) for a in ("Assets:Loans:Principal", "Liabilities:DeferredFees",
                                                          "Assets:Loans:AccretedExitFees", "Assets:Loans:CostRecovery"))
        assert D(p["amortized_cost"]) == cost, (p["deal"], p["facility"], p["amortized_cost"], cost)
        seen.add(p["deal"])
    assert {"keystone-holdco-2025", "pinecrest-tl-2026", "alder-tl-2026"} <= seen


# --- --from: the opening entry is the net of the entries before it ------------------------------
def _assert_opening_is_net_before(loaded, payments, end: date, start: date) -> None:
    """The journal from `start` (the first of a month: its eve is a period end, a cut of both)
    against the whole journal (every entry posted one by one): each
    position's opening entry is, per account and to the digit (its text), the net of that
    position's entries dated before `start` (income to date in its opening-balance account),
    and the entries from `start` on are the same."""
    from collections import defaultdict

    from loanctl.accounting.journal import BALANCE_SHEET, build_journal

    full = build_journal(loaded, payments, end, workers=1)
    part = build_journal(loaded, payments, end, start=start, workers=1)
    net: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: D("0.00")))
    for e in full.entries:
        if e.date < start:
            for p in e.postings:
                net[(e.deal, e.facility, e.lender)][p.account] += p.amount
    openings = {(e.deal, e.facility, e.lender): e for e in part.entries if e.kind == "opening"}
    for key, accounts in net.items():
        equity = D("0.00")
        want = {}
        for account, x in accounts.items():
            if account.split(":")[0] in BALANCE_SHEET:
                want[account] = x
            else:
                equity += x
        want = {a: str(x) for a, x in want.items() if x}
        got = {p.account: str(p.amount) for p in openings[key].postings} if key in openings else {}
        equity_got = [x for a, x in got.items() if a.startswith("Equity:")]
        assert {a: x for a, x in got.items() if not a.startswith("Equity:")} == want, key
        assert equity_got == ([str(equity)] if equity else []), key
    assert set(openings) <= set(net)
    later = [e for e in full.entries if e.date >= start]
    assert [e for e in part.entries if e.kind != "opening"] == later


@pytest.mark.parametrize("start", [date(2025, 5, 1), date(2025, 8, 1), date(2025, 11, 1), date(2025, 12, 1)])
def test_from_opening_is_the_net_before_with_unapplied_reversal_and_payoff(tmp_path, start):
    """Two lenders (60/40), cash beyond a due held unapplied then applied, a reversed payment,
    a payoff: payments before `start` are folded into the opening entry."""
    from loanctl.servicing.allocation import Payment
    from loanctl.validation.run import load_valid_book

    root = write_book(tmp_path)
    pay = lambda pid, on, amount, kind="scheduled", reverses="": Payment(  # noqa: E731
        pid, "acme-tl", "tl", on, D(amount), "USD", kind, reverses=reverses)
    payments = [pay("p1", date(2025, 4, 15), "691562.50"), pay("p2", date(2025, 7, 15), "694575.15"),
                pay("p3", date(2025, 10, 15), "700546.51"),
                pay("r3", date(2025, 10, 20), "700546.51", "reversal", reverses="p3"),
                pay("x1", date(2025, 10, 29), "1234.56", "prepayment"),
                pay("x2", date(2025, 10, 30), "1000.01")]
    loaded, _ = load_valid_book(root)
    _assert_opening_is_net_before(loaded, payments, date(2025, 12, 31), start)


@pytest.mark.parametrize("start", [date(2026, 4, 1), date(2026, 6, 1), date(2026, 7, 1)])
def test_from_opening_is_the_net_before_with_principal_held_until_pik(tmp_path, start):
    """Principal paid ahead of PIK not yet capitalised is held as unapplied cash (see
    `test_principal_paid_ahead_of_pik_is_held_as_unapplied`): folded, the same."""
    from loanctl.servicing.allocation import Payment
    from loanctl.validation.run import load_valid_book

    deal = FIXED.replace("day_count: ACT/360}", "day_count: ACT/360, pik_rate: 2%}").replace(
        "maturity_date: 2030-12-31", "maturity_date: 2026-06-30")
    root = write_book(tmp_path, deals={"fixed-5y": deal})
    pay = lambda pid, on, amount: Payment(pid, "fixed-5y", "tl", on, D(amount), "USD")  # noqa: E731
    payments = [pay("q1", date(2026, 3, 31), "200000.00"), pay("early", date(2026, 6, 25), "10304041.66")]
    loaded, _ = load_valid_book(root)
    _assert_opening_is_net_before(loaded, payments, date(2026, 7, 31), start)


@pytest.mark.parametrize("start", ["2025-06-01", "2026-01-01", "2026-10-01", "2026-11-01"])
def test_demo_from_opening_is_the_net_before(demo_book, start):
    """The demo book (trades, a participation transfer, PIK, non-accrual, a write-off, marks)."""
    from loanctl.ledger.db import ledger_payments
    from loanctl.validation.run import load_valid_book

    loaded, _ = load_valid_book(demo_book)
    end = date(2026, 11, 30)
    _assert_opening_is_net_before(loaded, ledger_payments(demo_book), end, date.fromisoformat(start))
