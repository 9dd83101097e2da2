"""The schedules a facility was projected on (SPEC §9): at funding, and again on each date an
amendment, a trade or a prepayment changed its projected cash flows — the effective interest
rate is solved on the first and re-solved, prospectively, on each later one."""

from __future__ import annotations

from datetime import date
from typing import Sequence

from ..engine.deal import deal_terms, schedule_builder
from ..model.records import LoadedBook
from ..servicing.allocation import FacilityAllocation, Payment
from ..servicing.positions import facility_inputs

CHANGES = ("prepayment", "repayment")
"""Allocation components that change the projected flows (scheduled principal does not)."""


def change_dates(loaded: LoadedBook, deal_id: str, fa: FacilityAllocation, end: date) -> list[date]:
    """Dates after funding, up to `end`, when the facility's projected flows changed: amendments
    effective, trades settled (of this facility), prepayments and revolver repayments received."""
    record = loaded.deals[deal_id]
    s = fa.schedule
    funding = s.rows[0].date
    out = {a.amendment.effective_date for a in record.amendments}
    out |= {t.trade.settlement_date for t in record.trades if t.trade.facility == s.facility_id}
    out |= {a.payment_date for a in fa.allocations if a.component in CHANGES}
    return sorted(d for d in out if funding < d <= end)


def facility_projections(loaded: LoadedBook, deal_id: str, fa: FacilityAllocation, payments: Sequence[Payment],
                         end: date) -> list:
    """[(funding, schedule projected then), (change date, schedule projected then), …], or []
    when nothing changed (the facility's own schedule is the projection at funding). A
    projection is the schedule under the terms in force on its date with the balance
    reductions (prepayments, repayments) received by then, as the allocation applied them."""
    dates = change_dates(loaded, deal_id, fa, end)
    if not dates:
        return []
    s = fa.schedule
    fid = s.facility_id
    funding = s.rows[0].date
    record = loaded.deals[deal_id]
    build = schedule_builder(loaded, record)  # one for every date: schedules of equal terms share their work
    build.adopt(s)
    by_amendments: dict[tuple, dict] = {}  # the terms as of a date follow from the amendments effective by then
    out = []
    for on in [funding, *dates]:
        effective = tuple(id(a) for a in record.amendments if a.amendment.effective_date <= on)
        terms = by_amendments.get(effective)
        if terms is None:
            terms = by_amendments[effective] = deal_terms(record, on)[0]
        terms, builder = facility_inputs(loaded, deal_id, on, build, terms)
        if fid not in terms:
            continue
        known = [r for r in s.reductions if r[0] <= on] if on != funding else []
        ended = s.ended_on if s.ended_on is not None and s.ended_on <= on else None
        projected = builder(terms[fid], known, ended)
        if projected.rows and projected.rows[0].date == funding:
            out.append((on, projected))
    return out
