"""Invariants of every schedule, over generated facilities (hypothesis)."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanctl.engine.lenders import lender_view
from loanctl.engine.schedule import MONEY_FIELDS
from schedkit import deal, one, rates

FIXINGS = rates("IDX", [("2020-01-01", "0.0450"), ("2026-03-02", "0.0390"), ("2026-09-01", "0.0120")])


@st.composite
def facilities(draw):
    start = date(2025, 1, 1) + timedelta(days=draw(st.integers(0, 700)))
    years = draw(st.integers(1, 4))
    maturity = start + timedelta(days=365 * years + draw(st.integers(-40, 40)))
    ftype = draw(st.sampled_from(["term", "delayed_draw", "revolver"]))
    commitment = Decimal(draw(st.integers(100_000, 50_000_000))) + Decimal(draw(st.integers(0, 99))) / 100
    amort = draw(st.sampled_from(["bullet", "percent", "straight", "level"]))
    freq = draw(st.sampled_from(["monthly", "quarterly", "semiannual"]))
    io = draw(st.integers(0, 3))
    if draw(st.booleans()):
        interest = f"{{index: IDX, spread: {draw(st.integers(100, 900))}bps, floor: {draw(st.integers(0, 200))}bps}}"
    else:
        interest = f"{{fixed_rate: {draw(st.integers(0, 1500))}bps}}"
    pik = draw(st.sampled_from(["0%", "2%", "3.5%"]))
    interest = interest[:-1] + f", pik_rate: {pik}, day_count: {draw(st.sampled_from(['ACT/360', 'ACT/365F', '30/360', '30E/360', 'ACT/ACT']))}}}"
    draws = ""
    if ftype != "term":
        n = draw(st.integers(1, 4))
        avail = start + (maturity - start) / 2
        fractions = [draw(st.integers(1, 100)) for _ in range(n)]
        total = sum(fractions) + draw(st.integers(0, 100))
        items = []
        for i, frac in enumerate(fractions):
            when = start if i == 0 else start + timedelta(days=draw(st.integers(1, (avail - start).days - 1)))
            amount = (commitment * frac / total).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
            if amount > 0:
                items.append(f"{{date: {when}, amount: {amount}}}")
        draws = f"availability_end: {avail}\ndraws: [{', '.join(items)}]\n"
    shares = draw(st.sampled_from([["100%"], ["60%", "40%"], ["0.3333333333", "0.3333333333", "0.3333333334"],
                                   ["12.5%", "37.5%", "50%"]]))
    parts = ", ".join(f"{{lender: l{i}, share: {s}}}" for i, s in enumerate(shares))
    fees = "[{type: upfront, rate: 2%}, {type: commitment, rate: 50bps}, {type: exit, rate: 1%}]"
    text = (f"id: f\ntype: {ftype}\ncommitment: {commitment}\nstart_date: {start}\nmaturity_date: {maturity}\n"
            f"{draws}interest: {interest}\n"
            f"payments: {{frequency: {freq}, calendar: {draw(st.sampled_from(['WEEKENDS', 'US', 'GB-ENG']))}, "
            f"business_day: {draw(st.sampled_from(['following', 'modified_following', 'preceding', 'unadjusted']))}}}\n"
            f"amortization: {{type: {amort}, annual_rate: 5%, interest_only_periods: {io}}}\n"
            f"fees: {fees}\nparticipations: [{parts}]\n")
    return text, [f"l{i}" for i in range(len(shares))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facilities())
def test_schedule_invariants(case):
    text, lenders = case
    s = one(deal(text), fixings=FIXINGS)
    rows = s.rows
    # dates strictly increase; closing balance of the last row is zero; no negative balance
    assert all(a.date < b.date for a, b in zip(rows, rows[1:]))
    assert rows[-1].closing_balance == 0
    assert all(r.closing_balance >= 0 and r.opening_balance >= 0 and r.principal >= 0 for r in rows)
    # SPEC §3.1 identities on every row
    for prev, r in zip([None] + rows, rows):
        assert r.total_due == r.interest + r.commitment_fee + r.fees + r.principal
        assert r.closing_balance == r.opening_balance + r.draws + r.pik - r.principal
        if prev is not None:
            assert r.opening_balance == prev.closing_balance
    # residues are never dropped: principal repaid = draws + PIK capitalised, exactly
    assert sum(r.principal for r in rows) == sum(r.draws for r in rows) + sum(r.pik for r in rows)
    # money has exactly the currency's digits
    assert all(getattr(r, k).as_tuple().exponent == -2 for r in rows for k in MONEY_FIELDS if k != "transfers")
    assert all(r.transfers == 0 for r in rows)  # zero for the facility (SPEC §3.1)
    # lender splits sum exactly to the whole, figure by figure
    views = [lender_view(s, lender) for lender in lenders]
    for i, r in enumerate(rows):
        for k in MONEY_FIELDS:
            assert sum(getattr(v.rows[i], k) for v in views) == getattr(r, k), (k, i)
