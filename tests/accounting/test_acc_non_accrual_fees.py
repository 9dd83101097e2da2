"""A fixed fee falling due during non-accrual is not recognised (SPEC §9: "no interest, PIK
or fee income is recognised"); cash on it then is cost recovery, after the restoration it
is fee income when received. Hand-computed on test_acc_journal's FIXED bullet (10,000,000
at 8% ACT/360, quarterly from 2026-03-31, 2% upfront fee straight line over 1826 days,
fund-i 100%) with an agency fee of 25,000 on 2026-06-30, on non-accrual 2026-05-15 →
2026-08-15."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from test_acc_credit import SFX, STRAIGHT, _by_kind, _event, _legs, _pay
from test_acc_journal import FIXED, _library_journal, bean_balances

from bookfactory import write_book

D = Decimal
WITH_FEE = FIXED.replace("      - {type: upfront, rate: 2%}\n",
                         "      - {type: upfront, rate: 2%}\n"
                         "      - {type: fixed, amount: 25000, date: 2026-06-30, name: agency fee}\n")
FEES = "Income:Fees:Fund-i"
RECEIVABLE = "Assets:Loans:FeesReceivable" + SFX


def _book(tmp_path):
    assert WITH_FEE != FIXED
    root = write_book(tmp_path, deals={"fixed-5y": WITH_FEE}, book_yaml=STRAIGHT)
    _event(root, "2026-05-15-non-accrual", "2026-05-15", "non_accrual")
    _event(root, "2026-08-15-restored", "2026-08-15", "accrual_restored")
    return root


def _fee_income(journal, first: date, last: date) -> Decimal:
    return sum((_legs(e).get(FEES, D(0)) for e in journal.entries
                if first <= e.date <= last and e.lender == "fund-i"), D(0))


def test_fixed_fee_due_and_paid_during_non_accrual_is_cost_recovery(tmp_path):
    root = _book(tmp_path)
    payments = [_pay("q1", date(2026, 3, 31), "200000.00"),    # 10m × 8% × 90/360
                # 06-30: the agency fee 25,000 + interest 10m × 8% × 91/360 = 202,222.22 → 227,222.22
                _pay("q2", date(2026, 6, 30), "227222.22")]
    _, journal, path = _library_journal(root, payments, date(2026, 7, 31), tmp_path, "fee-na")
    # the fee is not recognised: no income and no receivable on its date (the entry has no legs)
    assert not [e for e in journal.entries if e.date == date(2026, 6, 30) and e.kind == "fees due"]
    assert _fee_income(journal, date(2026, 5, 16), date(2026, 7, 31)) == 0
    # all the cash goes to cost: 25,000 + 202,222.22 = 227,222.22
    [q2] = [e for e in journal.entries if e.ref == "q2"]
    assert _legs(q2) == {"Assets:Cash:Fund-i": D("227222.22"), "Assets:Loans:CostRecovery" + SFX: D("-227222.22")}
    # fee amortized to 05-15 (135 days): 200,000 × 135/1826 = 14,786.42 → unamortized 185,213.58;
    # amortized cost 07-31 = 10,000,000 − 185,213.58 − 227,222.22 = 9,587,564.20
    jul = {b.date: b for b in journal.balances}[date(2026, 7, 31)]
    assert jul.amortized_cost == D("9587564.20")
    assert bean_balances(path, date(2026, 7, 31)).get(RECEIVABLE, D(0)) == 0
    assert [e for e in _by_kind(journal, "non-accrual")][0].date == date(2026, 5, 15)


def test_fixed_fee_of_the_non_accrual_paid_after_restoration_is_income_when_received(tmp_path):
    root = _book(tmp_path)
    # nothing paid on 06-30; on 09-01 (after the restoration) 227,222.22: the 06-30 dues in the
    # waterfall order — the agency fee 25,000 first, then interest 202,222.22
    payments = [_pay("q1", date(2026, 3, 31), "200000.00"), _pay("late", date(2026, 9, 1), "227222.22")]
    _, journal, path = _library_journal(root, payments, date(2026, 9, 30), tmp_path, "fee-late")
    # no fee income while on non-accrual (amortization stops too; 05-15's covers the days before)
    assert _fee_income(journal, date(2026, 5, 16), date(2026, 8, 14)) == 0
    [late] = [e for e in journal.entries if e.ref == "late"]
    legs = _legs(late)
    assert legs["Assets:Cash:Fund-i"] == D("227222.22")
    assert legs[FEES] == D("-25000.00")               # the agency fee, income when received
    assert RECEIVABLE not in legs                      # it was never a receivable
    assert bean_balances(path, date(2026, 9, 30)).get(RECEIVABLE, D(0)) == 0
