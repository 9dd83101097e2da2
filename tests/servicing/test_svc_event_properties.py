"""Properties of allocation with servicing events (SPEC §4.3–§4.4, issue #13), at the library
level: payment files do not take `payoff`, `reversal` or `repayment` rows yet, so the
payments are built as `Payment` objects and given to `allocate_facility` /
`facility_position` / `quote_payoff` directly.

Over three facilities (the amortizing fixed-rate `acme-fixed` of ledgerkit, a floating PIK
bullet with prepayment-fee steps and an exit fee, a revolver with a commitment fee), both
unapplied-cash policies (apply, hold), and generated payments of every type:

* every payment's allocation rows sum exactly to its amount (negative `unapplied` rows, which
  take cash out of suspense when it is applied, and the `reversed`/`reversal` records included);
* the order in which the payments are given does not matter;
* reversals, wherever they fall, give the allocation of never having posted the reversed
  payments (besides the two records each);
* a payoff of exactly its quote leaves outstanding principal, past due and every accrued
  figure at zero on and after its date.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ledgerkit import BOOK_YAML, FIXED_DEAL, FIXED_YAML, HOLD_BOOK_YAML, write_book
from loanctl.api import load_valid_book
from loanctl.servicing.allocation import Payment
from loanctl.servicing.positions import allocate_facility, facility_position, quote_payoff
from test_svc_events import PIK_DEAL, PIK_YAML

D = Decimal
RCF_DEAL = "acme-rcf"
RCF_YAML = """\
id: acme-rcf
name: Acme revolver
borrower: acme
status: funded
currency: USD
origination:
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2026-01-10, decision: approved}
facilities:
  - id: tl
    type: revolver
    commitment: 5000000
    start_date: 2026-01-15
    maturity_date: 2027-07-15
    draws: [{date: 2026-01-15, amount: 2000000}, {date: 2026-05-04, amount: 1000000}]
    interest:
      fixed_rate: 7%
      day_count: ACT/360
    payments:
      frequency: quarterly
      business_day: following
    amortization:
      type: bullet
    fees:
      - {type: commitment, rate: 50bps}
    participations:
      - {lender: fund-a, share: 100%}
"""
DEALS = {FIXED_DEAL: (FIXED_YAML, date(2026, 1, 15), date(2027, 1, 15)),
         PIK_DEAL: (PIK_YAML, date(2026, 1, 15), date(2028, 1, 15)),
         RCF_DEAL: (RCF_YAML, date(2026, 1, 15), date(2027, 7, 15))}
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def books():
    """{"apply" | "hold": the loaded book} (written once for the module)."""
    base = Path(tempfile.mkdtemp(prefix="loanctl-events-"))
    out = {}
    for policy, text in (("apply", BOOK_YAML), ("hold", HOLD_BOOK_YAML)):
        root = write_book(base / policy, text, {d: y for d, (y, _, _) in DEALS.items()})
        loaded, errors = load_valid_book(root)
        assert not errors, errors
        out[policy] = loaded
    yield out
    shutil.rmtree(base, ignore_errors=True)


@st.composite
def scenarios(draw, reversals: int | None = 0, payoffs: bool = True) -> dict:
    """A facility, its payments (and `reversals`: at least that many reversals; None: none)."""
    deal = draw(st.sampled_from(sorted(DEALS)))
    _, start, maturity = DEALS[deal]
    span = (maturity - start).days
    types = ["scheduled", "scheduled", "prepayment", "fee"] + (["repayment"] if deal == RCF_DEAL else [])
    if payoffs:
        types.append("payoff")
    pays = []
    for k in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(types))
        when = start + timedelta(days=draw(st.integers(0, span + 20)))
        cents = draw(st.one_of(st.integers(1, 100_000_000), st.integers(1, 1_200_000_000)))
        if kind == "payoff" and draw(st.booleans()):
            cents = 1_200_000_000  # 12,000,000: above every quote of these facilities
        pays.append(Payment(f"p{k:02d}", deal, "tl", when, D(cents) / 100, "USD", kind))
    reversed_ids: list[str] = []
    if reversals is not None:
        targets = draw(st.lists(st.sampled_from([p.payment_id for p in pays]), unique=True,
                                min_size=reversals, max_size=len(pays)))
        by_id = {p.payment_id: p for p in pays}
        for i, pid in enumerate(targets):
            p = by_id[pid]
            when = p.date + timedelta(days=draw(st.integers(0, 200)))
            pays.append(Payment(f"r{i:02d}", deal, "tl", when, p.amount, "USD", "reversal", reverses=pid))
            reversed_ids.append(pid)
    return {"deal": deal, "payments": pays, "reversed": reversed_ids,
            "policy": draw(st.sampled_from(["apply", "hold"])),
            "as_of": [start + timedelta(days=draw(st.integers(0, span + 60))) for _ in range(3)]}


def allocate(loaded, case: dict, payments):
    return allocate_facility(loaded, case["deal"], "tl", payments)


def state(fa) -> tuple:
    """What an allocation decides: its rows (without reversal records) and every due's settlements."""
    rows = [a for a in fa.allocations if a.component not in ("reversed", "reversal")]
    dues = [(d.date, d.component, d.kind, d.amount, tuple(d.settled)) for d in fa.dues]
    return rows, dues, [(n.date, n.amount) for n in fa.netted], fa.payoff, [r.date for r in fa.schedule.rows]


@SETTINGS
@given(scenarios())
def test_each_payments_allocation_rows_sum_to_the_payment(books, case):
    fa = allocate(books[case["policy"]], case, case["payments"])
    total: dict[str, Decimal] = defaultdict(Decimal)
    for a in fa.allocations:
        total[a.payment_id] += a.amount
        event(f"component {a.component}")
    assert dict(total) == {p.payment_id: p.amount for p in case["payments"]}
    if fa.payoff:
        event("paid off")


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_order_of_the_payments_does_not_matter(books, case, rnd):
    loaded = books[case["policy"]]
    shuffled = list(case["payments"])
    rnd.shuffle(shuffled)
    assert state(allocate(loaded, case, shuffled)) == state(allocate(loaded, case, case["payments"]))


@SETTINGS
@given(scenarios(reversals=1))
def test_reversals_give_the_allocation_of_never_having_posted_the_payments(books, case):
    loaded = books[case["policy"]]
    gone = set(case["reversed"])
    kept = [p for p in case["payments"] if p.type != "reversal" and p.payment_id not in gone]
    with_reversals = allocate(loaded, case, case["payments"])
    assert state(with_reversals) == state(allocate(loaded, case, kept))
    records = sorted((a.payment_id, a.component) for a in with_reversals.allocations
                     if a.component in ("reversed", "reversal"))
    assert records == sorted([(pid, "reversed") for pid in gone]
                             + [(p.payment_id, "reversal") for p in case["payments"] if p.type == "reversal"])
    # positions on any date after the last reversal agree too
    last = max(p.date for p in case["payments"] if p.type == "reversal")
    for as_of in [last, *(a for a in case["as_of"] if a > last)]:
        a = facility_position(allocate(loaded, case, [p for p in case["payments"] if p.date <= as_of]),
                              case["deal"], as_of, loaded.book.dpd_buckets)
        b = facility_position(allocate(loaded, case, [p for p in kept if p.date <= as_of]),
                              case["deal"], as_of, loaded.book.dpd_buckets)
        assert a == b, as_of


@SETTINGS
@given(scenarios(reversals=None, payoffs=False), st.integers(1, 900), st.integers(0, 3_000_00),
       st.lists(st.integers(0, 400), max_size=3))
def test_a_payoff_of_its_quote_leaves_nothing_outstanding_or_accruing(books, case, offset, extra_cents, later):
    loaded = books[case["policy"]]
    _, start, maturity = DEALS[case["deal"]]
    on = min(start + timedelta(days=offset), maturity)
    before = [p for p in case["payments"] if p.date < on]
    quote = quote_payoff(loaded, case["deal"], "tl", before, on)
    assert quote is not None
    assume(quote.total > 0)
    payoff = Payment("zz-payoff", case["deal"], "tl", on, quote.total + D(extra_cents) / 100, "USD", "payoff")
    pays = before + [payoff]
    fa = allocate(loaded, case, pays)
    assert fa.payoff == "zz-payoff"
    assert fa.schedule.rows[-1].date == on
    assert all(d.unpaid == 0 for d in fa.dues)
    excess = [a.amount for a in fa.allocations if a.payment_id == "zz-payoff" and a.component == "unapplied"]
    assert excess == ([D(extra_cents) / 100] if extra_cents else [])   # above the quote: unapplied
    for as_of in sorted({on, on + timedelta(days=1), maturity + timedelta(days=1),
                         *(on + timedelta(days=d) for d in later)}):
        pos = facility_position(fa, case["deal"], as_of, loaded.book.dpd_buckets)
        zero = (pos.outstanding_principal, pos.past_due, pos.accrued_interest, pos.accrued_pik,
                pos.accrued_commitment_fee, pos.unfunded, pos.dpd)
        assert zero == (0, 0, 0, 0, 0, 0, 0), as_of
        assert pos.paid_off
    event(f"payoff {'on' if on == maturity else 'before'} maturity")
