"""Parts of the allocation walk made cheaper (session 6): `Allocation`'s written-out `__init__`
and the dues made in waterfall order instead of sorted. Expected values are written by hand."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from datetime import date
from decimal import Decimal

import pytest

from loanctl.engine.schedule import FacilitySchedule, Row
from loanctl.servicing.allocation import Allocation, _dues, waterfall_order

D = Decimal


def test_allocation_init_sets_every_field_positionally_and_by_keyword():
    fields = [f.name for f in dataclasses.fields(Allocation)]
    assert fields == ["payment_id", "payment_date", "due_date", "component", "amount", "applied_on"]
    assert list(inspect.signature(Allocation).parameters) == fields
    a = Allocation("p1", date(2026, 1, 15), date(2026, 4, 15), "interest", D("12.34"), date(2026, 4, 15))
    assert (a.payment_id, a.payment_date, a.due_date, a.component, a.amount, a.applied_on) == (
        "p1", date(2026, 1, 15), date(2026, 4, 15), "interest", D("12.34"), date(2026, 4, 15))
    b = Allocation(payment_id="p2", payment_date=date(2026, 1, 15), due_date=None, component="unapplied",
                   amount=D("5.00"))
    assert b.applied_on is None and b.on == date(2026, 1, 15)
    assert repr(b) == ("Allocation(payment_id='p2', payment_date=datetime.date(2026, 1, 15), due_date=None, "
                       "component='unapplied', amount=Decimal('5.00'), applied_on=None)")


def test_allocation_stays_frozen_hashable_and_picklable():
    a = Allocation("p1", date(2026, 1, 15), None, "unapplied", D("1.00"))
    same = Allocation("p1", date(2026, 1, 15), None, "unapplied", D("1.00"), None)
    assert a == same and hash(a) == hash(same) and len({a, same}) == 1
    assert a != Allocation("p1", date(2026, 1, 15), None, "unapplied", D("1.01"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.amount = D("2.00")
    assert pickle.loads(pickle.dumps(a)) == a


def _row(on: date, fees="0", cfee="0", interest="0", principal="0") -> Row:
    z = D(0)
    return Row(on, None, None, 0, None, z, z, D(interest), z, D(cfee), D(fees), D(principal), z, z)


def _schedule(rows: list[Row], fee_details=()) -> FacilitySchedule:
    return FacilitySchedule("f1", "USD", 2, rows, rows[-1].date, fee_details=list(fee_details))


def _order(waterfall) -> dict[str, int]:
    return {c: i for i, c in enumerate(waterfall_order(waterfall))}


def test_dues_come_date_by_date_in_the_books_waterfall_order():
    d0, d1, d2 = date(2026, 1, 15), date(2026, 4, 15), date(2026, 7, 15)
    s = _schedule([_row(d0, fees="100"),
                   _row(d1, fees="10", cfee="5", interest="90", principal="250"),
                   _row(d2, interest="60", principal="250")],
                  [(d0, "upfront", D(100)), (d1, "agency", D(10))])
    dues = _dues(s, _order(("interest", "principal", "fees", "commitment_fee")))
    assert [(d.date, d.component, d.amount, d.kind) for d in dues] == [
        (d0, "fees", D(100), "upfront"),
        (d1, "interest", D(90), ""), (d1, "principal", D(250), ""), (d1, "fees", D(10), "agency"),
        (d1, "commitment_fee", D(5), ""),
        (d2, "interest", D(60), ""), (d2, "principal", D(250), "")]
    default = _dues(s, _order(("fees", "commitment_fee", "interest", "principal")))
    assert [(d.date, d.component) for d in default][1:5] == [
        (d1, "fees"), (d1, "commitment_fee"), (d1, "interest"), (d1, "principal")]


def test_dues_of_rows_out_of_date_order_are_sorted_as_before():
    """Rows whose dates do not increase (none the engine makes) still give (date, rank) order,
    ties in row order."""
    d1, d2 = date(2026, 4, 15), date(2026, 7, 15)
    s = _schedule([_row(d2, interest="3", principal="4"), _row(d1, principal="2", interest="1"),
                   _row(d1, interest="5")])
    dues = _dues(s, _order(("principal", "interest")))
    assert [(d.date, d.component, d.amount) for d in dues] == [
        (d1, "principal", D(2)), (d1, "interest", D(1)), (d1, "interest", D(5)),
        (d2, "principal", D(4)), (d2, "interest", D(3))]


def test_overdue_interest_by_hand_with_a_settlement_inside_the_period():
    """3.6% ACT/360: balance × days / 10,000. From 2026-04-15 to 2026-07-15, principal of
    100,000 (due 2026-01-15) and 250,000 (due 2026-04-15) unpaid, 150,000 of the second paid
    on 2026-05-15: 350,000 × 30 / 10,000 = 1,050 then 200,000 × 61 / 10,000 = 1,220. Principal
    paid before the period and interest dues bear none."""
    from loanctl.engine.schedule import Segment
    from loanctl.servicing.allocation import Due, overdue_interest
    prev, mid, until = date(2026, 4, 15), date(2026, 5, 15), date(2026, 7, 15)
    rate = D("0.036")
    z = D(0)
    row = Row(until, prev, until, 91, rate, z, z, z, z, z, z, z, z, z,
              segments=(Segment(prev, until, D(1_000_000), rate, "ACT/360", z, z, z, until),))
    dues = [Due(date(2026, 1, 15), "principal", D(100_000)),
            Due(date(2026, 1, 15), "principal", D(50_000), "", D(50_000), [(date(2026, 3, 1), D(50_000))]),
            Due(date(2026, 1, 15), "interest", D(9_000)),
            Due(prev, "principal", D(250_000), "", D(150_000), [(mid, D(150_000))])]
    total = overdue_interest(dues, prev, row, until, "ACT/360")
    assert total.quantize(D("0.01")) == D("2270.00")
    assert overdue_interest(dues, prev, row, mid, "ACT/360").quantize(D("0.01")) == D("1050.00")
    assert overdue_interest(dues[1:3], prev, row, until, "ACT/360") == 0
