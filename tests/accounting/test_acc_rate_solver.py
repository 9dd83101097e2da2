"""`amortization.solve_rate` with a mid-period start (a re-solve), its first Newton steps at
20 digits and a starting guess: the rate it finds is the one the flows were built from.

The flows are built here from a known periodic rate i and offset f, independently of the
solver: the first flow is minus the present value of the rest, Σ cf_k (1+i)^-(f+k-1),
computed at 80 digits with Decimal's correctly rounded power (the solver uses exp/ln at 50).
Whatever the guess — none, near, far, outside the bracket — the solved rate is i to 1e-30.
"""

from __future__ import annotations

from decimal import Context, Decimal, localcontext

from hypothesis import given, settings, strategies as st

from loanctl.accounting.amortization import solve_rate

D = Decimal


def _flows(rate: Decimal, offset: Decimal, later: list[Decimal]) -> list[Decimal]:
    """[−PV of `later` at `rate`, the first after `offset` periods, then one a period] + later."""
    with localcontext(Context(prec=80)):
        pv = sum((cf * (1 + rate) ** -(offset + k) for k, cf in enumerate(later)), D(0))
    return [Context(prec=50).minus(pv)] + later


def test_a_quarterly_loan_re_solved_a_third_into_a_period():
    # 1,000,000 at 2.5% a quarter for 8 quarters, re-solved with 1/3 of the current period to run
    rate, offset = D("0.025"), D(1) / D(3)
    later = [D("25000.00")] * 7 + [D("1025000.00")]
    flows = _flows(rate, offset, later)
    for guess in (None, D("0.0249"), D("0.09"), D("0.5"), D("-0.2")):
        got = solve_rate(flows, offset, guess)
        assert abs(got - rate) < D("1e-30"), (guess, got)


@settings(max_examples=60, deadline=None)
@given(rate_bp=st.integers(min_value=5, max_value=900), days_left=st.integers(min_value=1, max_value=91),
       coupons=st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=24),
       guess_bp=st.one_of(st.none(), st.integers(min_value=-500, max_value=5000)))
def test_the_solved_rate_is_the_rate_the_flows_were_built_from(rate_bp, days_left, coupons, guess_bp):
    rate = D(rate_bp) / 10_000  # 0.05% to 9% a period
    offset = D(days_left) / D(91)  # the fraction of a 91-day period still to run
    later = [D(c) / 100 for c in coupons]
    flows = _flows(rate, offset, later)
    got = solve_rate(flows, offset, None if guess_bp is None else D(guess_bp) / 10_000)
    assert got is not None and abs(got - rate) < D("1e-30")
