"""The journal of credit events and trades (SPEC §9), entries computed by hand.

A fixed-rate 10,000,000 bullet (8% ACT/360, quarterly from 2026-03-31, 2% upfront fee
amortized straight line over 2025-12-31 → 2030-12-31 = 1826 days, fund-i 100%):
- written off in full on 2026-05-15, then 1,300,000 received (a recovery);
- on non-accrual 2026-05-15 → 2026-08-15, the 2026-06-30 interest received then (cost
  recovery), the 2026-09-30 interest received after the restoration;
and without its fee, 4,000,000 sold at 95 on 2026-06-30 to fund-i-spv (a discounted trade):
the seller's realised loss, the buyer's discount accreted by its own effective rate, checked
against numpy-financial's irr on the buyer's flows. Every journal here passes bean-check
(`_library_journal`), balances read back by Beancount itself.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from bookfactory import BOOK_YAML, write_book, write_file
from test_acc_journal import FIXED, _library_journal, bean_balances, month_ends, r2

npf = pytest.importorskip("numpy_financial")
D = Decimal
SFX = ":Fund-i:Fixed-5y:Tl"
STRAIGHT = BOOK_YAML.replace("    max_leverage: 6.0\n", "    max_leverage: 6.0\n  fee_amortization: straight_line\n")
LIFE = 1826   # 2025-12-31 → 2030-12-31


def _pay(pid, on, amount, kind="scheduled"):
    from loanctl.servicing.allocation import Payment
    return Payment(pid, "fixed-5y", "tl", on, D(amount), "USD", kind)


def _event(root, name, on, kind):
    write_file(root, f"fixed-5y/events/{name}.yaml", f"id: {name}\ndate: {on}\ntype: {kind}\nfacility: tl\n")


def _by_kind(journal, kind, lender="fund-i"):
    return [e for e in journal.entries if e.kind == kind and e.lender == lender]


def _legs(entry) -> dict[str, Decimal]:
    return {p.account: p.amount for p in entry.postings}


def _positions(loaded, payments, on):
    from loanctl.servicing.positions import allocate_facility, facility_position, lender_position

    fa = allocate_facility(loaded, "fixed-5y", "tl", [p for p in payments if p.date <= on], on)
    whole = facility_position(fa, "fixed-5y", on, (0, 30, 60, 90, 120))
    return {n: lender_position(fa, whole, n) for n in ("fund-i", "fund-i-spv")}


def test_write_off_is_a_loss_at_amortized_cost_and_later_cash_a_recovery(tmp_path):
    root = write_book(tmp_path, deals={"fixed-5y": FIXED}, book_yaml=STRAIGHT)
    _event(root, "2026-05-15-write-off", "2026-05-15", "write_off")
    payments = [_pay("q1", date(2026, 3, 31), "200000.00"),          # 10m × 8% × 90/360
                _pay("r1", date(2026, 8, 14), "300000.00"),          # applied to interest dues
                _pay("r2", date(2026, 8, 14), "1000000.00", "prepayment")]  # principal written off
    loaded, journal, path = _library_journal(root, payments, date(2026, 8, 31), tmp_path, "wo")

    # the fee amortized to the write-off's eve: 200,000 × 134/1826 = 14,676.89 (134 days 12-31 → 05-14)
    amortized = r2(D(200_000) * 134 / LIFE)
    assert amortized == D("14676.89")
    [wo] = _by_kind(journal, "write-off")
    assert wo.date == date(2026, 5, 15)
    # loss = principal 10,000,000.00 − unamortized 185,323.11 = 9,814,676.89
    assert _legs(wo) == {"Assets:Loans:Principal" + SFX: D("-10000000.00"),
                         "Liabilities:DeferredFees" + SFX: D("185323.11"),
                         "Expenses:CreditLosses:Fund-i": D("9814676.89")}
    # the interest accrued and unpaid is reversed: 10m × 8% × 45/360 (03-31 → 05-14) = 100,000.00
    [na] = _by_kind(journal, "non-accrual")
    assert _legs(na) == {"Assets:Loans:InterestReceivable" + SFX: D("-100000.00"),
                         "Income:Interest:Fund-i": D("100000.00")}
    # nothing is recognised after it
    assert not [e for e in journal.entries if e.date > date(2026, 5, 15) and e.kind in ("accrual", "amortization")]
    # 1,300,000.00 received on 08-14 against an amortized cost of zero: all of it recoveries
    pay = [e for e in journal.entries if e.kind == "payment" and e.date == date(2026, 8, 14)]
    assert sum((_legs(e).get("Income:Recoveries:Fund-i", D(0)) for e in pay), D(0)) == D("-1300000.00")
    assert sum((_legs(e).get("Assets:Cash:Fund-i", D(0)) for e in pay), D(0)) == D("1300000.00")
    bean = bean_balances(path, date(2026, 8, 31))
    for acc in ("Assets:Loans:Principal", "Liabilities:DeferredFees", "Assets:Loans:InterestReceivable"):
        assert bean.get(acc + SFX, D(0)) == 0, acc
    # positions: carrying principal 0 (10m written off, 1m recovered); Beancount's principal equals it
    pos = _positions(loaded, payments, date(2026, 8, 31))["fund-i"]
    assert (pos.outstanding_principal, pos.written_off, pos.recoveries) == (0, D("10000000.00"), D("1000000.00"))
    assert [b.amortized_cost for b in journal.balances if b.date == date(2026, 8, 31)] == [0]


def test_non_accrual_reversal_cost_recovery_and_restoration(tmp_path):
    root = write_book(tmp_path, deals={"fixed-5y": FIXED}, book_yaml=STRAIGHT)
    _event(root, "2026-05-15-non-accrual", "2026-05-15", "non_accrual")
    _event(root, "2026-08-15-restored", "2026-08-15", "accrual_restored")
    payments = [_pay("q1", date(2026, 3, 31), "200000.00"),
                _pay("q2", date(2026, 6, 30), "202222.22"),     # 10m × 8% × 91/360, while on non-accrual
                _pay("q3", date(2026, 9, 30), "204444.44")]     # 10m × 8% × 92/360, after the restoration
    loaded, journal, path = _library_journal(root, payments, date(2026, 10, 31), tmp_path, "na")

    # 05-15: accrued 03-31 → 05-14 (45 days) = 100,000.00 reversed
    [na] = _by_kind(journal, "non-accrual")
    assert na.date == date(2026, 5, 15)
    assert _legs(na) == {"Assets:Loans:InterestReceivable" + SFX: D("-100000.00"),
                         "Income:Interest:Fund-i": D("100000.00")}
    # fee amortized to 05-15 (135 days): 200,000 × 135/1826 = 14,786.42, then frozen until 08-15
    rec = r2(D(200_000) * 135 / LIFE)
    assert rec == D("14786.42")
    # the 06-30 interest applied to cost: amortized cost 10,000,000 − 185,213.58 − 202,222.22 = 9,612,564.20
    [q2] = [e for e in journal.entries if e.ref == "q2"]
    assert _legs(q2) == {"Assets:Cash:Fund-i": D("202222.22"), "Assets:Loans:CostRecovery" + SFX: D("-202222.22")}
    assert not [e for e in journal.entries if date(2026, 5, 15) < e.date <= date(2026, 8, 15)
                and e.kind in ("accrual", "amortization")]
    jul = {b.date: b for b in journal.balances}[date(2026, 7, 31)]
    assert jul.amortized_cost == D("9612564.20")
    # 08-31: interest from the restoration, 16 days: 137,777.78 (62 days) − 102,222.22 (46 days) = 35,555.56
    aug = [e for e in _by_kind(journal, "accrual") if e.date == date(2026, 8, 31)]
    assert _legs(aug[0])["Income:Interest:Fund-i"] == D("-35555.56")
    # the fee left (185,213.58) spread over the rest of the life from 08-15 (day 227 of 1826):
    # 08-31 is day 243, so 185,213.58 × 16/1599 = 1,853.29
    [am] = [e for e in _by_kind(journal, "amortization") if e.date == date(2026, 8, 31)]
    assert _legs(am)["Income:Fees:Fund-i"] == -r2(D("185213.58") * 16 / 1599) == D("-1853.29")
    # 09-30: 204,444.44 received; 102,222.22 of it accrued since the restoration (35,555.56 + 66,666.66)
    # settles the receivable, the 102,222.22 of the non-accrual days is income when received
    [q3] = [e for e in journal.entries if e.ref == "q3"]
    assert _legs(q3) == {"Assets:Cash:Fund-i": D("204444.44"),
                         "Assets:Loans:InterestReceivable" + SFX: D("-102222.22"),
                         "Income:Interest:Fund-i": D("-102222.22")}
    bean = bean_balances(path, date(2026, 9, 30))
    assert bean["Assets:Loans:InterestReceivable" + SFX] == 0
    # cost recovered stays applied: amortized cost at 10-31 = 10,000,000 − (185,213.58 − recognised) − 202,222.22
    octb = {b.date: b for b in journal.balances}[date(2026, 10, 31)]
    g = D(summed := (date(2026, 10, 31) - date(2026, 8, 15)).days) / 1599
    assert summed == 77
    assert octb.cost_recovery == D("-202222.22")
    assert octb.unamortized_fees == D("185213.58") - r2(D("185213.58") * g)
    cost = bean["Assets:Loans:Principal" + SFX] + bean["Liabilities:DeferredFees" + SFX] + \
        bean["Assets:Loans:CostRecovery" + SFX]
    assert cost == {b.date: b for b in journal.balances}[date(2026, 9, 30)].amortized_cost
    # positions still show the legal principal and the non-accrual flag for the span
    assert _positions(loaded, payments, date(2026, 7, 31))["fund-i"].non_accrual


TRADE = """\
id: 2026-06-sale
facility: tl
seller: fund-i
buyer: fund-i-spv
trade_date: 2026-06-25
settlement_date: 2026-06-30
amount: 4000000
price: 95
approvals: [{by: pm, role: credit_officer, date: 2026-06-24, decision: approved}]
"""


def quarter_ends(first: date, last: date) -> list[date]:
    return [d for d in month_ends(first, last) if d.month in (3, 6, 9, 12)]


def test_discounted_trade_seller_loss_and_buyer_accretion_by_irr(tmp_path):
    deal = FIXED.replace("    fees:\n      - {type: upfront, rate: 2%}\n", "")
    root = write_book(tmp_path, deals={"fixed-5y": deal, "fixed-5y/trades/2026-06-sale.yaml": TRADE})
    payments = []
    loaded, journal, path = _library_journal(root, payments, date(2031, 1, 31), tmp_path, "trade")

    # the seller: 4,000,000 par at 95 = 3,800,000 cash for an amortized cost of 4,000,000: a 200,000 loss
    [sold] = _by_kind(journal, "trade", "fund-i")
    assert _legs(sold) == {"Assets:Loans:Principal" + SFX: D("-4000000.00"), "Assets:Cash:Fund-i": D("3800000.00"),
                           "Income:RealizedGains:Fund-i": D("200000.00")}
    # the buyer: par in principal, the cash paid out, the 200,000 discount deferred
    bsfx = ":Fund-i-spv:Fixed-5y:Tl"
    [bought] = _by_kind(journal, "trade", "fund-i-spv")
    assert _legs(bought) == {"Assets:Loans:Principal" + bsfx: D("4000000.00"),
                             "Assets:Cash:Fund-i-spv": D("-3800000.00"),
                             "Liabilities:DeferredFees" + bsfx: D("-200000.00")}
    # the buyer's flows: −3,800,000 on 2026-06-30 (it held none of the quarter then ending), then
    # 4m × 8% × days/360 each quarter to 2030-12-31, and the 4m par back
    dates = [date(2026, 6, 30)] + quarter_ends(date(2026, 9, 1), date(2030, 12, 31))
    coupons = [r2(D(4_000_000) * D("0.08") * (b - a).days / 360) for a, b in zip(dates, dates[1:])]
    flows = [D(-3_800_000)] + coupons[:-1] + [coupons[-1] + D(4_000_000)]
    i = D(repr(float(npf.irr([float(f) for f in flows]))))   # the periodic rate, solved independently
    cum, got = D(0), {}
    for e in _by_kind(journal, "accretion", "fund-i-spv"):
        cum += _legs(e)["Liabilities:DeferredFees" + bsfx]
        got[e.date] = cum
    carrying = D(3_800_000)
    for k, on in enumerate(dates[1:], start=1):
        carrying = carrying * (1 + i) - flows[k]          # B_k = B_{k−1}(1+i) − cf_k
        accreted = carrying - D(4_000_000) + D(200_000) if k < len(flows) - 1 else D(200_000)
        assert abs(got[on] - accreted) <= D("0.01"), (on, got[on], accreted)
    assert got[dates[-1]] == D("200000.00")                # Σ accreted = the discount exactly
    # the first quarter by hand: 3,800,000 × i − 4m × 8% × 92/360 (i ≈ 2.3%)
    assert abs(got[date(2026, 9, 30)] - (D(3_800_000) * i - coupons[0])) <= D("0.01")
    # Beancount's balances: the buyer's principal equals its position, its amortized cost the journal's
    for on in (date(2026, 7, 31), date(2027, 12, 31)):
        bean = bean_balances(path, on)
        pos = _positions(loaded, payments, on)
        for lender, sfx in (("fund-i", SFX), ("fund-i-spv", bsfx)):
            assert bean["Assets:Loans:Principal" + sfx] == pos[lender].outstanding_principal
            b = {(x.date, x.lender): x for x in journal.balances}[(on, lender)]
            assert bean["Assets:Loans:Principal" + sfx] + bean.get("Liabilities:DeferredFees" + sfx, D(0)) == \
                b.amortized_cost


def test_default_interest_is_interest_income_accrued_then_due(tmp_path):
    deal = FIXED.replace("interest: {fixed_rate: 8%, day_count: ACT/360}",
                         "interest: {fixed_rate: 8%, day_count: ACT/360, default_rate: 2%}")
    root = write_book(tmp_path, deals={"fixed-5y": deal}, book_yaml=STRAIGHT)
    _event(root, "2026-02-01-default", "2026-02-01", "default")
    payments = [_pay("q1", date(2026, 3, 31), "200000.00")]
    loaded, journal, path = _library_journal(root, payments, date(2026, 4, 30), tmp_path, "di")
    acc = {e.date: _legs(e) for e in _by_kind(journal, "accrual")}
    # 02-28: contractual 10m × 8% × 28/360 (01-31 → 02-27) = 62,222.22, plus default interest on all
    # principal from 02-01: 10m × 2% × 27/360 = 15,000.00 → 77,222.22 of interest income
    assert acc[date(2026, 2, 28)]["Income:Interest:Fund-i"] == -(D("62222.22") + D("15000.00"))
    assert not [p for e in journal.entries for p in e.postings if p.account.startswith("Assets:Loans:FeesReceivable")
                and e.date >= date(2026, 2, 1) and e.kind != "fees due"]
    # 03-31: 200,000.00 received pays the default interest due first (10m × 2% × 58/360 = 32,222.22),
    # then 167,777.78 of the 200,000.00 interest: 32,222.22 of interest stays receivable (overdue);
    # 04-30 adds 10m × 8% × 30/360 = 66,666.67 and default interest, rounded once:
    # 10m × 2% × 30/360 + the overdue 32,222.22 × 2% × 30/360 = 16,666.667 + 53.704 = 16,720.37
    default_april = r2(D(10_000_000) * D("0.02") * 30 / 360 + D("32222.22") * D("0.02") * 30 / 360)
    assert default_april == D("16720.37")
    bean = bean_balances(path, date(2026, 4, 30))
    assert bean["Assets:Loans:InterestReceivable" + SFX] == D("32222.22") + D("66666.67") + default_april
    # Σ interest income to 04-30 = 10m × 8% × 120/360 + the default interest due 03-31 + April's
    assert bean["Income:Interest:Fund-i"] == -(r2(D(10_000_000) * D("0.08") * 120 / 360)
                                               + D("32222.22") + default_april)


# --- invariants under random credit events (property) -------------------------------------------
from hypothesis import example, given, settings, strategies as st  # noqa: E402


@settings(max_examples=12, deadline=None)
@given(start=st.integers(20, 400), length=st.one_of(st.none(), st.integers(1, 300)),
       write_off=st.one_of(st.none(), st.integers(30, 700)), paid=st.integers(0, 6),
       straight=st.booleans())
def test_credit_events_keep_the_books_whole(start, length, write_off, paid, straight):
    """Any non-accrual span and write-off: every entry balances; the principal account equals
    positions' outstanding principal; the fee recognised + written off + unamortized = the fee;
    the report's amortized cost equals the journal's on the last date."""
    import tempfile
    from pathlib import Path

    from loanctl.accounting.journal import build_journal
    from loanctl.accounting.valuation import valuation_hook
    from loanctl.servicing.positions import allocate_facility, facility_position
    from loanctl.validation.run import load_valid_book

    with tempfile.TemporaryDirectory() as tmp:
        root = write_book(Path(tmp), deals={"fixed-5y": FIXED}, book_yaml=STRAIGHT if straight else BOOK_YAML)
        a = date(2026, 1, 1) + timedelta(days=start)
        _event(root, "na", a.isoformat(), "non_accrual")
        if length is not None:
            _event(root, "re", (a + timedelta(days=length)).isoformat(), "accrual_restored")
        if write_off is not None:
            _event(root, "wo", (date(2026, 1, 1) + timedelta(days=write_off)).isoformat(), "write_off")
        quarters = [date(2026, 3, 31), date(2026, 6, 30), date(2026, 9, 30), date(2026, 12, 31), date(2027, 3, 31),
                    date(2027, 6, 30)]
        payments = [_pay(f"q{k}", d, "200000.00") for k, d in enumerate(quarters[:paid])]
        end = date(2027, 12, 31)
        loaded, errors = load_valid_book(root)
        assert not errors
        journal = build_journal(loaded, payments, end)
        for e in journal.entries:
            assert sum((p.amount for p in e.postings), D(0)) == 0, e
        fee = D(200_000)
        recognised = -sum((p.amount for e in journal.entries for p in e.postings
                           if p.account == "Income:Fees:Fund-i"), D(0))
        written = sum((p.amount for e in journal.entries if e.kind == "write-off" for p in e.postings
                       if p.account.startswith("Liabilities:DeferredFees")), D(0))
        last = journal.balances[-1]
        assert last.date == end
        assert recognised + written + last.unamortized_fees == fee
        fa = allocate_facility(loaded, "fixed-5y", "tl", payments, end)
        whole = facility_position(fa, "fixed-5y", end, (0, 30, 60, 90, 120))
        assert last.outstanding_principal == whole.outstanding_principal
        row = {"deal": "fixed-5y", "facility": "tl", "outstanding_principal": whole.outstanding_principal}
        valuation_hook(loaded, end, payments)(fa, row, ["fund-i"], lambda lender, x: x)
        assert row["amortized_cost"] == last.amortized_cost


@settings(max_examples=10, deadline=None)
@given(amount=st.integers(1, 99), price=st.integers(8000, 11000), day=st.integers(1, 900), fee=st.booleans())
@example(amount=1, price=10000, day=1, fee=False)  # at par without fees: nothing realised
def test_trades_at_any_price_keep_the_books_whole(amount, price, day, fee):
    """A trade of amount × 100,000 par at `price`/100 % on any date: the seller's realised gain =
    cash − the amortized cost it held of the part (computed from its balances the day before), the
    buyer's Σ accretion = its discount exactly at maturity, both principals = positions', and the
    report's amortized cost = the journal's."""
    import tempfile
    from pathlib import Path

    from loanctl.accounting.journal import build_journal
    from loanctl.accounting.valuation import valuation_hook
    from loanctl.servicing.positions import allocate_facility, facility_position, lender_position
    from loanctl.validation.run import load_valid_book

    settle = date(2026, 1, 1) + timedelta(days=day)
    par, px = D(amount * 100_000), D(price) / 100
    trade = TRADE.replace("amount: 4000000", f"amount: {par}").replace("price: 95", f"price: {px}") \
        .replace("settlement_date: 2026-06-30", f"settlement_date: {settle}") \
        .replace("trade_date: 2026-06-25", f"trade_date: {settle}").replace("date: 2026-06-24", f"date: {settle}")
    deal = FIXED if fee else FIXED.replace("    fees:\n      - {type: upfront, rate: 2%}\n", "")
    with tempfile.TemporaryDirectory() as tmp:
        root = write_book(Path(tmp), deals={"fixed-5y": deal, "fixed-5y/trades/2026-06-sale.yaml": trade})
        loaded, errors = load_valid_book(root)
        assert not errors
        end = date(2031, 1, 31)
        eve = settle - timedelta(days=1)
        journal = build_journal(loaded, [], end, period="month")
        cash = r2(px * par / 100)
        [sold] = _by_kind(journal, "trade", "fund-i")
        before = [b for b in build_journal(loaded, [], eve).balances if b.lender == "fund-i"][-1]
        # the amortized cost sold: par less its fraction of the unamortized fee (rounded once)
        sold_cost = par - r2(before.unamortized_fees * par / before.outstanding_principal)
        # a sale at cost realises nothing: the entry then has no gains leg (no zero postings)
        assert -_legs(sold).get("Income:RealizedGains:Fund-i", D(0)) == cash - sold_cost
        accreted = sum((p.amount for e in _by_kind(journal, "accretion", "fund-i-spv") for p in e.postings
                        if p.account.startswith("Liabilities")), D(0))
        assert accreted == par - cash
        fa = allocate_facility(loaded, "fixed-5y", "tl", [], end - timedelta(days=400))
        on = end - timedelta(days=400)
        whole = facility_position(fa, "fixed-5y", on, (0, 30, 60, 90, 120))
        mine = build_journal(loaded, [], on)
        for lender in ("fund-i", "fund-i-spv"):
            b = [x for x in mine.balances if x.lender == lender][-1]
            assert b.outstanding_principal == lender_position(fa, whole, lender).outstanding_principal
            row = {"deal": "fixed-5y", "facility": "tl", "outstanding_principal": b.outstanding_principal}
            valuation_hook(loaded, on)(fa, row, [lender], lambda _, x: x)
            assert row["amortized_cost"] == b.amortized_cost, lender


def test_bought_at_a_discount_then_prepaid_recognises_the_rest(tmp_path):
    """fund-i-spv buys 4m at 95 on 2026-06-30; the loan is prepaid in full on 2027-01-15: what is
    left of the 200,000 discount is recognised then, nothing stays deferred."""
    deal = FIXED.replace("    fees:\n      - {type: upfront, rate: 2%}\n", "")
    root = write_book(tmp_path, deals={"fixed-5y": deal, "fixed-5y/trades/2026-06-sale.yaml": TRADE})
    # the two quarters' interest (10m × 8% × 92/360 each), then the 10m prepaid
    payments = [_pay("q3", date(2026, 9, 30), "204444.44"), _pay("q4", date(2026, 12, 31), "204444.44"),
                _pay("pp", date(2027, 1, 15), "10000000.00", "prepayment")]
    loaded, journal, path = _library_journal(root, payments, date(2027, 2, 28), tmp_path, "pp")
    bean = bean_balances(path, date(2027, 1, 31))
    bsfx = ":Fund-i-spv:Fixed-5y:Tl"
    assert bean["Assets:Loans:Principal" + bsfx] == 0
    assert bean.get("Liabilities:DeferredFees" + bsfx, D(0)) == 0
    accreted = sum((p.amount for e in _by_kind(journal, "accretion", "fund-i-spv") for p in e.postings
                    if p.account.startswith("Liabilities")), D(0))
    assert accreted == D("200000.00")
