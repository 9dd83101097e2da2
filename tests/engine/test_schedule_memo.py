"""Schedules made again are the schedules made afresh (engine.schedule.ScheduleMaker,
engine.deal.ScheduleBuilder): one maker asked for many schedules of the same terms, in any
order and with repeats, gives exactly what `build_schedule` gives for each on its own; a
repeat is its own object; projections (accounting.projections) built on one builder that
shares work across dates equal the projections built one by one from scratch."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanctl.conventions.calendars import make_calendar
from loanctl.conventions.currency import minor_units
from loanctl.engine.deal import deal_terms, facility_timeline, schedule_builder
from loanctl.engine.schedule import ScheduleMaker, build_schedule
from loanctl.engine.terms import facility_terms
from schedkit import deal, record
from test_schedule_properties import FIXINGS, facilities


def _calendar(f):
    return make_calendar(f.payments.calendar, {})


def _content(s):
    """A schedule without its share timeline (`build_schedule` attaches none)."""
    return replace(s, share_timeline=None)


def _fresh(ft, **options):
    return build_schedule(ft, FIXINGS, _calendar, "USD", 2, "half_up", **options)


@st.composite
def requests(draw, start: date, maturity: date, commitment: Decimal):
    """A few schedule requests: prepayments, repayments and a payoff date inside the facility's life."""
    span = (maturity - start).days
    out = []
    for _ in range(draw(st.integers(1, 5))):
        def dated():
            return start + timedelta(days=draw(st.integers(1, max(1, span - 1))))
        prepay = [(dated(), Decimal(draw(st.integers(1, 400))) * commitment / 1000)
                  for _ in range(draw(st.integers(0, 2)))]
        repay = [(dated(), Decimal(draw(st.integers(1, 400))) * commitment / 1000)
                 for _ in range(draw(st.integers(0, 1)))]
        end_on = dated() if draw(st.booleans()) else None
        out.append({"prepayments": prepay, "repayments": repay, "end_on": end_on})
    return out + [out[0]]  # a repeat


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_maker_makes_what_build_schedule_makes(data):
    text, _ = data.draw(facilities())
    terms, _ = facility_terms(record(deal(text)))
    (ft,) = terms.values()
    f = ft.first.facility
    maker = ScheduleMaker(ft, FIXINGS, _calendar, "USD", 2, "half_up")
    made = []
    for options in data.draw(requests(f.start_date, f.maturity_date, f.commitment)):
        s = maker.build(**options)
        assert s == _fresh(ft, **options)
        assert all(s is not other for other in made)  # a repeat is a copy: callers attach their own parts
        made.append(s)
    assert maker.build() == _fresh(ft)


FLOATING = """\
id: tl
type: term
commitment: 1000000
start_date: 2025-01-15
maturity_date: 2028-01-15
interest: {index: IDX, spread: 500bps}
payments: {frequency: quarterly, calendar: WEEKENDS}
amortization: {type: level}
participations: [{lender: a, share: 100%}]
"""
REPRICING = """\
id: a1
effective_date: 2026-04-15
changes:
  - {facility: tl, set: {interest.spread: 400bps}}
"""


def _loaded(rec):
    from loanctl.model.records import LoadedBook
    return LoadedBook(root=Path("."), tree=None, book=None, doc=None, deals={"t": rec}, rates=FIXINGS)


def test_equal_terms_share_one_maker_and_amended_terms_do_not():
    rec = record(deal(FLOATING), [REPRICING])
    loaded = _loaded(rec)
    build = schedule_builder(loaded, rec)
    before_1 = deal_terms(rec, date(2025, 6, 1))[0]["tl"]
    before_2 = deal_terms(rec, date(2026, 1, 1))[0]["tl"]  # equal terms, another object
    after = deal_terms(rec, date(2026, 6, 1))[0]["tl"]
    assert before_1 is not before_2 and before_1 == before_2 and after != before_1
    assert build.maker(before_1) is build.maker(before_2)
    assert build.maker(after) is not build.maker(before_1)
    assert build.maker(before_1, Decimal("0.01")) is not build.maker(before_1)
    # 0 and 0.00 shift a fixing to different digits: not the same maker
    assert build.maker(before_1, Decimal("0.00")) is not build.maker(before_1, Decimal(0))
    prepay = [(date(2026, 5, 20), Decimal("250000"))]
    for ft in (before_1, before_2, after):
        s = build(ft, prepayments=prepay)
        assert _content(s) == _fresh(ft, prepayments=prepay)
        assert s.share_timeline == facility_timeline(loaded, rec, ft)[0]


def test_adopt_takes_a_live_maker_of_the_same_deal_fixings_and_book_only():
    rec = record(deal(FLOATING), [REPRICING])
    loaded = _loaded(rec)
    ft = deal_terms(rec)[0]["tl"]
    first = schedule_builder(loaded, rec)
    made = first(ft, prepayments=[(date(2026, 5, 20), Decimal("250000"))])
    same = schedule_builder(loaded, rec)
    same.adopt(made)
    assert same.maker(deal_terms(rec)[0]["tl"]) is made.maker()
    other_rates = schedule_builder(loaded, rec, rates=dict(FIXINGS))
    other_rates.adopt(made)
    assert other_rates.maker(ft) is not made.maker()
    del first, same  # its makers die with the builders that held them: nothing left to adopt
    assert made.maker() is None
    late = schedule_builder(loaded, rec)
    late.adopt(made)
    assert late.maker(ft).build(prepayments=[(date(2026, 5, 20), Decimal("250000"))]) == _content(made)
    fresh_only = schedule_builder(loaded, rec)
    fresh_only.adopt(_fresh(ft))  # not made by a maker: nothing to adopt
    assert fresh_only.maker(ft) is not made.maker()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "servicing"))
    from ledgerkit import posted_demo_book
    from loanctl.api import load_valid_book
    from loanctl.ledger.db import ledger_payments
    book = posted_demo_book(tmp_path_factory.mktemp("memo"))
    loaded, errors = load_valid_book(book)
    assert not errors
    return loaded, ledger_payments(book)


def _projections_one_by_one(loaded, deal_id, fa, end):
    """The projections as `facility_projections` documents them, each schedule built from
    scratch with `build_schedule` and its timeline by `facility_timeline`."""
    from loanctl.accounting.projections import change_dates
    dates = change_dates(loaded, deal_id, fa, end)
    if not dates:
        return []
    record_ = loaded.deals[deal_id]
    s = fa.schedule
    funding = s.rows[0].date
    out = []
    for on in [funding, *dates]:
        terms, _ = deal_terms(record_, on)
        if s.facility_id not in terms:
            continue
        ft = terms[s.facility_id]
        known = [r for r in s.reductions if r[0] <= on] if on != funding else []
        ended = s.ended_on if s.ended_on is not None and s.ended_on <= on else None
        currency = record_.deal.currency
        projected = build_schedule(ft, loaded.rates, lambda f: make_calendar(f.payments.calendar, {
            c.id: (c.base, c.add, c.remove) for c in loaded.book.calendars}), currency, minor_units(currency),
            loaded.book.rounding, prepayments=[(d, a) for d, a, k in known if k == "prepayment"],
            repayments=[(d, a) for d, a, k in known if k == "repayment"], end_on=ended)
        projected.share_timeline = facility_timeline(loaded, record_, ft)[0]
        if projected.rows and projected.rows[0].date == funding:
            out.append((on, projected))
    return out


def test_demo_book_allocations_and_projections_equal_schedules_made_from_scratch(demo):
    from loanctl.accounting.projections import facility_projections
    from loanctl.servicing.positions import allocate_facility, facility_inputs
    loaded, payments = demo
    end = date(2026, 11, 30)
    projected = 0
    for deal_id in sorted(loaded.deals):
        terms, builder = facility_inputs(loaded, deal_id, end)
        for fid in terms:
            paid = [p for p in payments if p.deal == deal_id and p.facility == fid and p.date <= end]
            fa = allocate_facility(loaded, deal_id, fid, paid, end, terms=terms, builder=builder)
            again = allocate_facility(loaded, deal_id, fid, paid, end)  # a builder of its own
            assert fa.schedule == again.schedule and fa.allocations == again.allocations
            assert fa.schedule.share_timeline == again.schedule.share_timeline
            got = facility_projections(loaded, deal_id, fa, paid, end)
            want = _projections_one_by_one(loaded, deal_id, fa, end)
            assert [on for on, _ in got] == [on for on, _ in want]
            for (_, a), (_, b) in zip(got, want):
                assert a == b and a.share_timeline == b.share_timeline
            projected += len(got)
    assert projected >= 3  # the demo's prepayment, revolver repayment and amendments changed projections
