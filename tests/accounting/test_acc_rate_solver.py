"""`amortization.solve_rate` with a mid-period start (a re-solve), its first Newton steps at
20 digits and a starting guess: the rate it finds is the one the flows were built from.

The flows are built here from a known periodic rate i and offset f, independently of the
solver: the first flow is minus the present value of the rest, Σ cf_k (1+i)^-(f+k-1),
computed at 80 digits with Decimal's correctly rounded power (the solver uses exp/ln at 50).
Whatever the guess — none, near, far, outside the bracket — the solved rate is i to 1e-30.
The bracket's ends are judged at 20 digits only when clear of zero: flows whose NPV at a
bracket end is 0 (or next to it) meet the 50-digit test. The last Newton steps take the
fractional power from the one before by series (`nearby_discount`): checked against Decimal's
correctly rounded power at 80 digits.
"""

from __future__ import annotations

from decimal import Context, Decimal, localcontext

from hypothesis import given, settings, strategies as st

from loanctl.accounting.amortization import effective_interest_curve, nearby_discount, solve_rate

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


@settings(max_examples=100, deadline=None)
@given(rate_bp=st.integers(min_value=-9000, max_value=90000), offset_days=st.integers(min_value=1, max_value=400),
       move=st.integers(min_value=-999_999, max_value=999_999), scale=st.sampled_from([9, 12, 15, 20]))
def test_a_power_from_a_nearby_one_is_the_correctly_rounded_power(rate_bp, offset_days, move, scale):
    at = D(rate_bp) / 10_000  # −90% to 900% a period
    rate = at + D(move).scaleb(-scale)  # within 1e-9 of it
    offset = D(offset_days) / D(91)
    with localcontext(Context(prec=80)):
        known = (1 + at) ** -offset
        want = (1 + rate) ** -offset
    with localcontext(Context(prec=50)):
        got = nearby_discount(+known, at, rate, offset)
    assert abs(got - want) <= want * D("1e-47"), (got, want)


def test_flows_whose_npv_is_zero_or_next_to_it_at_a_bracket_end_meet_the_50_digit_test():
    # Σ flows = 0 exactly: NPV(0) = 0, the rate is 0 — found at the bracket's end, not near it
    assert solve_rate([D("-1000000.00"), D("400000.00"), D("600000.00")]) == 0
    # the same a third into a period: the first flow now, the others at 1/3 and 4/3 periods
    assert solve_rate([D("-1000000.00"), D("400000.00"), D("600000.00")], D(1) / D(3)) == 0
    # −PV of 30,000 × 3 and 1,030,000 at 10% a quarter, rounded to 28 digits: the NPV at 10%
    # is that rounding's residue, −2.8e-23 (below 1e-12 of the flows: at 20 digits it reads
    # +1e-14), so the root is just below 10% — the bracket is (0, 10%), found by the 50-digit sign
    rate, later = D("0.1"), [D("30000.00")] * 3 + [D("1030000.00")]
    with localcontext(Context(prec=80)):
        pv = sum((cf * (1 + rate) ** -(k + 1) for k, cf in enumerate(later)), D(0))
    flows = [Context(prec=28).minus(pv), *later]
    got = solve_rate(flows)
    assert got is not None and D(0) < rate - got < D("1e-20")


def test_an_effective_rate_starts_from_the_simple_yield_and_is_the_rate_of_the_loan():
    # 1,000,000 lent at par with no fee at 2% a quarter for 4 quarters: the simple yield
    # (Σ flows 80,000 / Σ balances 4,000,000 = 2%) is the rate itself; with a 1% fee the
    # effective rate solves −990,000 + 20,000 v + 20,000 v² + 20,000 v³ + 1,020,000 v⁴ = 0
    dates = [None] * 5
    balances = [D(1_000_000)] * 4 + [D(0)]
    exits = [D(0)] * 5
    at_par = [D("-1000000"), D("20000"), D("20000"), D("20000"), D("1020000")]
    assert effective_interest_curve(dates, at_par, balances, D(0), exits).rate == D("0.02")
    fee = [D("-990000"), *at_par[1:]]
    want = _solve_by_bisection(fee)
    got = effective_interest_curve(dates, fee, balances, D("10000"), exits).rate
    assert abs(got - want) < D("1e-30")


def _solve_by_bisection(flows: list[Decimal]) -> Decimal:
    """The rate in (0, 10%) zeroing Σ cf_k (1+i)^-k, by 200 halvings at 60 digits."""
    with localcontext(Context(prec=60)):
        lo, hi = D(0), D("0.1")
        for _ in range(200):
            mid = (lo + hi) / 2
            if sum((cf / (1 + mid) ** k for k, cf in enumerate(flows)), D(0)) > 0:
                lo = mid
            else:
                hi = mid
        return lo
