"""The notices of SPEC §5.1, built once as plain JSON-ready data (money and rates as strings):

* `billing` (to the borrower) for each payment date in the window: the interest period and
  its rate (index, fixing date and value, floor, cap, spread, all-in), the period's interest,
  PIK, commitment fee, fees and scheduled principal, the interest on principal overdue in the
  period (a due of its own, SPEC §4.3), what is already received against them, the past-due amounts of earlier dates, the total to pay, remittance instructions and the
  reference to quote;
* `rate_set` (to each lender, SWIFT MT644 content) for each interest period starting on a
  date in the window: the rate and the lender's participation and interest;
* `payment` (to each lender, SWIFT MT646 content) for each payment date in the window whose
  dues have received cash in the ledger: principal, interest and fees received and the
  lender's part.

Every figure is the schedule's (`schedule_deal`; rebuilt with the posted prepayments by the
allocation) or the allocation's (`allocate_facility` over the ledger's payments, as posted);
lender parts come from the engine's `for_lender` and `lender_part`. No clock: the window's
first day is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable, Sequence

from ..diagnostics import Diagnostic
from ..engine.deal import schedule_deal
from ..engine.overnight import business_days_back
from ..engine.periods import book_calendars, facility_calendar
from ..engine.lenders import lender_part, lender_rows, row_weights, timeline_of
from ..engine.schedule import FacilitySchedule, Row
from ..engine.terms import FacilityTerms
from ..ledger.db import ledger_payments
from ..model.records import LoadedBook
from ..servicing.allocation import OVERDUE_INTEREST, FacilityAllocation, Payment
from ..servicing.positions import allocate_facility, facility_inputs

KINDS = ("billing", "rate_set", "payment")
COMPONENTS = ("principal", "interest", "default_interest", "commitment_fee", "fees")
"""What a payment settles, in the order an MT646 lists it."""


@dataclass(frozen=True)
class Notice:
    kind: str
    """billing · rate_set · payment"""
    deal: str
    facility: str
    party: str
    """The entity it is addressed to: the borrower (billing) or a lender."""
    date: date
    """The payment date (billing, payment) or the interest period's first payment-grid date (rate_set)."""
    data: dict
    """Every field, JSON-ready: money with the currency's digits and rates as strings."""

    @property
    def stem(self) -> str:
        """`<deal>-<facility>-<kind>-<party>`: ids only, so always a safe file name."""
        return f"{self.deal}-{self.facility}-{self.kind}-{self.party}"


def posted_payments(loaded: LoadedBook) -> list[Payment]:
    """The ledger's payments: the one place notices and statements read the ledger."""
    return ledger_payments(loaded.root)


def money(x: Decimal, digits: int) -> str:
    return f"{x:.{digits}f}"


def rate(x: Decimal | None) -> str | None:
    return None if x is None else (format(x.normalize(), "f") if x else "0")


def facility_allocations(loaded: LoadedBook, deal_id: str, payments: Iterable[Payment]
                         ) -> tuple[list[tuple[FacilityTerms, FacilityAllocation]], list[Diagnostic]]:
    """(terms, allocation) of each facility of a deal, in the deal's order; the schedule's
    diagnostics (a missing fixing, E0222) instead when it cannot be built."""
    sched, diags = schedule_deal(loaded, deal_id)
    if sched is None:
        return [], diags
    terms, builder = facility_inputs(loaded, deal_id)
    pays = [p for p in payments if p.deal == deal_id]
    out = []
    for fs in sched.facilities:
        fa = allocate_facility(loaded, deal_id, fs.facility_id, [p for p in pays if p.facility == fs.facility_id],
                               terms=terms, builder=builder)
        out.append((terms[fs.facility_id], fa))
    return out, []


def build_notices(loaded: LoadedBook, payments: Iterable[Payment], start: date, days: int,
                  deal: str | None = None, kinds: Sequence[str] = KINDS) -> tuple[list[Notice], list[Diagnostic]]:
    """Every notice for dates in [start, start + days] of the funded deals (or one deal),
    sorted by date, deal, facility, kind and party."""
    end = start + timedelta(days=days)
    payments = list(payments)
    notices: list[Notice] = []
    diags: list[Diagnostic] = []
    for deal_id, record in sorted(loaded.deals.items()):
        if (deal is not None and deal_id != deal) or record.deal.status != "funded":
            continue
        allocations, problems = facility_allocations(loaded, deal_id, payments)
        diags += problems
        for ft, fa in allocations:
            rows = fa.schedule.rows
            for i, row in enumerate(rows):
                if "rate_set" in kinds and start <= row.date <= end and i + 1 < len(rows):
                    notices += _rate_sets(loaded, deal_id, ft, fa.schedule, i)
                if not start <= row.date <= end:
                    continue
                if "billing" in kinds and i > 0:
                    notices.append(_billing(loaded, deal_id, ft, fa, i))
                if "payment" in kinds:
                    notices += _payments(loaded, deal_id, fa, row)
    if any(n.kind == "billing" for n in notices) and (loaded.book is None or loaded.book.remittance.bank is None
                                                                or loaded.book.remittance.account is None):
        diags.append(Diagnostic("E0701", "billing notices need remittance instructions: book.yaml has no "
                                         "remittance", "book.yaml",
                                hint='add remittance: {bank: ..., account: "...", aba: "...", '
                                     'reference: "{deal}-{date}"} to book.yaml'))
    order = {k: i for i, k in enumerate(KINDS)}
    notices.sort(key=lambda n: (n.date, n.deal, n.facility, order[n.kind], n.party))
    return notices, diags


# --- the parts of a notice ------------------------------------------------------------------
def _header(loaded: LoadedBook, kind: str, deal_id: str, fs: FacilitySchedule, on: date, party: str) -> dict:
    record = loaded.deals[deal_id]
    entities = loaded.entities
    borrower = record.deal.borrower

    def who(eid: str) -> dict:
        e = entities.get(eid)
        return {"id": eid, "name": e.name if e is not None else eid}

    return {"kind": kind, "date": on.isoformat(), "book": loaded.book.name if loaded.book else "",
            "deal": deal_id, "deal_name": record.deal.name, "facility": fs.facility_id, "currency": fs.currency,
            "borrower": who(borrower), "to": who(party)}


def _rate_terms(loaded: LoadedBook, ft: FacilityTerms, row: Row) -> dict:
    """The period's rate: the schedule's all-in rate and spread, with the fixing behind it
    (the terms in force at the period start; a term fixing on start − fixing lag, in calendar
    or business days, plus the index adjustment). Under an overnight method (SPEC §3.2) there
    is no single fixing: the base rate is the period's equivalent of the daily rates."""
    facility = (ft.at(row.accrual_start) or ft.first).facility
    interest = facility.interest
    out = {"index": interest.index, "method": interest.method, "fixed_rate": rate(interest.fixed_rate),
           "fixing_date": None, "fixing": None, "index_adjustment": rate(interest.index_adjustment),
           "floor": rate(interest.floor), "cap": rate(interest.cap), "base_rate": None,
           "spread": rate(row.spread), "all_in": rate(row.rate), "day_count": interest.day_count,
           "projected": row.projected}
    if interest.index is not None and interest.method != "term":
        if row.rate is not None and row.spread is not None:
            out.update(base_rate=rate(row.rate - row.spread))
        out.update(_observed(row))
    elif interest.index is not None:
        if interest.fixing_lag_business_days is not None:
            calendar = facility_calendar(facility, book_calendars(loaded.book))
            fixing_date = business_days_back(calendar, row.accrual_start, interest.fixing_lag_business_days)
        else:
            fixing_date = row.accrual_start - timedelta(days=interest.fixing_lag_days)
        fixing, _ = loaded.rates[interest.index].fixing(fixing_date)
        base = fixing + interest.index_adjustment
        base = base if interest.floor is None else max(base, interest.floor)
        base = base if interest.cap is None else min(base, interest.cap)
        out.update(fixing_date=fixing_date.isoformat(), fixing=rate(fixing), base_rate=rate(base))
    return out


def _observed(row: Row) -> dict:
    """Under an overnight method: the period's observed daily rates as the schedule used them
    (the engine's `observations` of the period's daily rates), the last published observation
    date among them, and whether the period's amount is final (no projected day left)."""
    daily = next((sg.daily for sg in row.segments if sg.daily is not None), None)
    if daily is None:
        return {"observations": [], "observed_through": None, "final": not row.projected}
    obs = daily.observations()
    known = [o.observation_date for o in obs if not o.projected]
    return {"observations": [{"accrual_date": o.accrual_date.isoformat(),
                              "observation_date": o.observation_date.isoformat(), "fixing": rate(o.fixing),
                              "rate": rate(o.rate), "days": o.days, "projected": o.projected} for o in obs],
            "observed_through": max(known).isoformat() if known else None,
            "final": not any(o.projected for o in obs)}


def _period(row: Row) -> dict:
    return {"start": row.accrual_start.isoformat(), "end": row.accrual_end.isoformat(), "days": row.days,
            "payment_date": row.date.isoformat()}


def _billing(loaded: LoadedBook, deal_id: str, ft: FacilityTerms, fa: FacilityAllocation, i: int) -> Notice:
    fs = fa.schedule
    row = fs.rows[i]
    n = fs.digits
    zero = Decimal(0)
    borrower = loaded.deals[deal_id].deal.borrower
    current = [d for d in fa.dues if d.date == row.date]
    received = sum((d.paid for d in current), zero)
    unpaid_now = sum((d.unpaid for d in current), zero)
    overdue_interest = sum((d.amount for d in current if d.kind == OVERDUE_INTEREST), zero)
    default_interest = sum((d.amount for d in current if d.component == "default_interest"), zero)
    past = [d for d in fa.dues if d.date < row.date and d.unpaid > 0]
    past_total = sum((d.unpaid for d in past), zero)
    data = _header(loaded, "billing", deal_id, fs, row.date, borrower)
    remittance = loaded.book.remittance if loaded.book else None
    reference = remittance.reference_for(deal=deal_id, facility=fs.facility_id, date=row.date.isoformat(),
                                         borrower=borrower) if remittance else None
    data.update({
        "period": _period(row),
        "rate": _rate_terms(loaded, ft, row),
        "balance": money(row.opening_balance, n),
        "draws": money(row.draws, n),
        "segments": [{"start": sg.start.isoformat(), "end": sg.end.isoformat(), "days": (sg.end - sg.start).days,
                      "balance": money(sg.balance, n), "rate": rate(sg.rate)} for sg in row.segments],
        "interest": money(row.interest, n),
        "pik": money(row.pik, n),
        "commitment_fee": money(row.commitment_fee, n),
        "fees": money(row.fees, n),
        "fee_details": [{"kind": kind, "amount": money(amt, n)} for d, kind, amt in fs.fee_details if d == row.date],
        "principal": money(row.principal, n),
        "scheduled_total": money(row.total_due, n),
        "overdue_interest": money(overdue_interest, n),
        "default_interest": money(default_interest, n),
        "closing_balance": money(row.closing_balance, n),
        "received": money(received, n),
        "current_due": money(unpaid_now, n),
        "past_due": [{"date": d.date.isoformat(), "component": d.component, "kind": d.kind,
                      "amount": money(d.unpaid, n)} for d in past],
        "past_due_total": money(past_total, n),
        "total_due": money(unpaid_now + past_total, n),
        "reference": reference,
        "remittance": None if remittance is None or remittance.bank is None else {
            "bank": remittance.bank, "account": remittance.account, "aba": remittance.aba},
    })
    return Notice("billing", deal_id, fs.facility_id, borrower, row.date, data)


def _rate_sets(loaded: LoadedBook, deal_id: str, ft: FacilityTerms, fs: FacilitySchedule, i: int) -> list[Notice]:
    """One MT644 per lender for the period that starts at row i (it is row i + 1's period)."""
    on, row = fs.rows[i].date, fs.rows[i + 1]
    n = fs.digits
    out = []
    parts = lender_rows(fs)
    tl = timeline_of(fs)
    for lender in tl.ordered(on):
        exact = tl.share_of(lender, on)
        share = Decimal(exact.numerator) / Decimal(exact.denominator)
        mine = parts[lender][i + 1]
        if not exact and not (mine.interest or mine.pik or mine.draws or mine.transfers):
            continue  # not a lender in this period
        data = _header(loaded, "rate_set", deal_id, fs, on, lender)
        data.update({
            "period": _period(row),
            "rate": _rate_terms(loaded, ft, row),
            "whole": {"balance": money(row.opening_balance, n), "draws": money(row.draws, n),
                      "interest": money(row.interest, n), "pik": money(row.pik, n)},
            "participation": {"share": rate(share), "balance": money(mine.opening_balance, n),
                              "draws": money(mine.draws, n), "interest": money(mine.interest, n),
                              "pik": money(mine.pik, n)},
        })
        out.append(Notice("rate_set", deal_id, fs.facility_id, lender, on, data))
    return out


def _payments(loaded: LoadedBook, deal_id: str, fa: FacilityAllocation, row: Row) -> list[Notice]:
    """One MT646 per lender for a payment date whose dues received cash in the ledger."""
    fs = fa.schedule
    n = fs.digits
    zero = Decimal(0)
    received = [a for a in fa.allocations if a.due_date == row.date and a.component in COMPONENTS]
    if not received:
        return []
    due = {c: sum((d.amount for d in fa.dues if d.date == row.date and d.component == c), zero) for c in COMPONENTS}
    got = {c: sum((a.amount for a in received if a.component == c), zero) for c in COMPONENTS}
    out = []
    tl = timeline_of(fs)
    for lender in tl.order:
        exact = tl.share_of(lender, row.date)
        share = Decimal(exact.numerator) / Decimal(exact.denominator)
        part = {c: lender_part(got[c], row_weights(fs, row.date, c), lender, n) for c in COMPONENTS}
        if not exact and not any(part.values()):
            continue
        data = _header(loaded, "payment", deal_id, fs, row.date, lender)
        data.update({
            "due": {**{c: money(due[c], n) for c in COMPONENTS}, "total": money(sum(due.values(), zero), n)},
            "received": {**{c: money(got[c], n) for c in COMPONENTS}, "total": money(sum(got.values(), zero), n)},
            "value_dates": sorted({a.payment_date.isoformat() for a in received}),
            "payments": sorted({a.payment_id for a in received}),
            "paid_in_full": all(d.unpaid <= 0 for d in fa.dues if d.date == row.date),
            "share": rate(share),
            "lender_part": {**{c: money(part[c], n) for c in COMPONENTS},
                            "total": money(sum(part.values(), zero), n)},
        })
        out.append(Notice("payment", deal_id, fs.facility_id, lender, row.date, data))
    return out
