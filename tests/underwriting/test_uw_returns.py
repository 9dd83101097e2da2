"""Decimal XIRR and MOIC (loanctl.underwriting.metrics): closed forms, pyxirr as an independent
reference on irregular flows, and the degenerate cases."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, localcontext

import pytest
import pyxirr

from loanctl.underwriting.metrics import moic, xirr

D = Decimal


def test_two_flows_one_365_day_year_apart_is_exactly_ten_percent():
    flows = [(date(2025, 1, 1), D(-1000)), (date(2026, 1, 1), D(1100))]  # 365 days
    assert xirr(flows) == D("0.1")


def test_two_flows_two_years_apart_is_exactly_ten_percent():
    flows = [(date(2025, 1, 1), D(-1000)), (date(2025, 1, 1) + timedelta(days=730), D(1210))]
    assert xirr(flows) == D("0.1")


@pytest.mark.parametrize("days, back", [(200, "1043.17"), (91, "1012.5"), (1000, "1500"), (365, "800")])
def test_two_flows_equal_the_closed_form(days, back):
    # (back / 1000) ** (365 / days) − 1, in 50-digit Decimal
    with localcontext() as ctx:
        ctx.prec = 50
        closed = (D(back) / D(1000)) ** (D(365) / D(days)) - 1
    got = xirr([(date(2025, 3, 1), D(-1000)), (date(2025, 3, 1) + timedelta(days=days), D(back))])
    assert abs(got - closed) <= D("1e-10")


IRREGULAR = [
    [("2025-01-15", "-25000000"), ("2025-04-15", "589375.00"), ("2025-07-15", "601232.64"),
     ("2025-10-15", "603115.28"), ("2026-01-15", "598541.67"), ("2026-01-15", "25250000.00")],
    [("2024-02-29", "-1000000"), ("2024-03-31", "-500000"), ("2024-09-01", "120000"),
     ("2025-02-28", "-250000"), ("2025-12-31", "1900000")],
    [("2025-01-01", "-100"), ("2025-01-02", "-50"), ("2027-06-30", "40")],          # a heavy loss
    [("2025-01-01", "-1000"), ("2025-02-01", "2500")],                             # a large gain
    [("2025-01-01", "-1000"), ("2026-01-01", "1")],                                # almost a total loss
    [("2025-01-01", "-1000"), ("2025-01-02", "1001")],                             # one day
    [("2025-01-01", "-1000"), ("2055-01-01", "100000")],                           # thirty years
    [("2026-05-05", "-7777777.77"), ("2026-08-05", "123456.78"), ("2026-11-05", "123456.78"),
     ("2027-02-05", "123456.78"), ("2027-05-05", "6000000.00")],
]


@pytest.mark.parametrize("flows", IRREGULAR)
def test_xirr_matches_pyxirr_on_irregular_flows(flows):
    dates = [date.fromisoformat(d) for d, _ in flows]
    amounts = [D(a) for _, a in flows]
    expected = pyxirr.xirr(dates, [float(a) for a in amounts])
    got = xirr(list(zip(dates, amounts)))
    assert got is not None
    assert isinstance(got, Decimal)
    assert abs(float(got) - expected) < 1e-8, (got, expected)


def test_xirr_is_none_without_both_signs():
    assert xirr([(date(2025, 1, 1), D(-1000)), (date(2026, 1, 1), D(-10))]) is None
    assert xirr([(date(2025, 1, 1), D(1000))]) is None
    assert xirr([]) is None


def test_xirr_nets_flows_on_the_same_date():
    flows = [(date(2025, 1, 1), D(-1500)), (date(2025, 1, 1), D(500)), (date(2026, 1, 1), D(1100))]
    assert xirr(flows) == D("0.1")


def test_moic_is_money_returned_over_money_invested():
    # invested 1,000; returned 300 + 900 = 1,200 → 1.2
    assert moic([(date(2025, 1, 1), D(-1000)), (date(2025, 6, 1), D(300)), (date(2026, 1, 1), D(900))]) == D("1.2")
    # invested 600 + 400 = 1,000 (two draws); returned 1,300 → 1.3
    assert moic([(date(2025, 1, 1), D(-600)), (date(2025, 3, 1), D(-400)), (date(2026, 1, 1), D(1300))]) \
        == D("1.3")
    # 36,000,000 out; 3,650,000 interest and 36,000,000 principal back → 1.101388… → 1.1014
    assert moic([(date(2026, 1, 15), D(-36000000)), (date(2026, 4, 15), D(3650000)),
                 (date(2027, 1, 15), D(36000000))]) == D("1.1014")


def test_moic_is_none_with_nothing_invested():
    assert moic([(date(2025, 1, 1), D(100))]) is None
