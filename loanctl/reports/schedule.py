"""The schedule as shown (`loanctl schedule`, with or without `--actuals`): each facility's rows
with its totals and, from the ledger, what was paid against each row and what is left unpaid —
every figure computed here, so the renderers only format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ..engine.deal import DealSchedule
from ..engine.schedule import Row

ZERO = Decimal(0)
TOTALS = ("draws", "interest", "pik", "commitment_fee", "fees", "principal", "transfers", "total_due")
PAID = ("fees", "commitment_fee", "default_interest", "interest", "overdue_interest", "principal")


@dataclass
class RowPaid:
    """What was due beside the schedule row and what was paid against the row (`--actuals`)."""

    components: dict[str, Decimal]
    """fees, commitment_fee, interest, overdue_interest, principal."""
    prepayment: Decimal
    paid: Decimal
    """The sum of the components (prepayments and repayments apart)."""
    unpaid: Decimal
    """Total due (the row's, interest on overdue principal and prepayment fees included) less paid."""
    overdue_interest: Decimal = ZERO
    """Interest on principal unpaid after its due date, due on the row's date."""
    prepayment_fee: Decimal = ZERO
    repayment: Decimal = ZERO
    default_interest: Decimal = ZERO
    """Default interest (SPEC §3.3) due on the row's date."""
    event: str | None = None
    """"prepayment" (or "repayment") for a row added on an event's own date, off the schedule's dates."""


@dataclass
class FacilityView:
    facility_id: str
    digits: int
    rows: list[Row]
    totals: dict[str, Decimal]
    paid: list[RowPaid] | None = None
    """One per row with `--actuals`."""
    unapplied: Decimal | None = None


@dataclass
class ScheduleView:
    deal: str
    currency: str
    facilities: list[FacilityView] = field(default_factory=list)
    actuals: bool = False


def schedule_view(ds: DealSchedule, actuals: dict | None = None) -> ScheduleView:
    """The view of a deal schedule; `actuals` as `reports.actuals.schedule_with_actuals` gives them."""
    view = ScheduleView(ds.deal, ds.currency, actuals=actuals is not None)
    for fs in ds.facilities:
        rows = list(fs.rows)
        if actuals is not None:
            rows = _with_event_rows(rows, actuals[fs.facility_id]["events"])
        totals = {k: sum((getattr(r, k) for r in rows), ZERO) for k in TOTALS}
        fv = FacilityView(fs.facility_id, fs.digits, rows, totals)
        if actuals is not None:
            _add_actuals(fv, fs.rows, actuals[fs.facility_id])
        view.facilities.append(fv)
    return view


def _with_event_rows(rows: list[Row], events: list[date]) -> list[Row]:
    """The schedule's rows plus one row on each prepayment's (repayment's) own date that is
    not a schedule date (the prepayment fee due that day is shown on it by `_add_actuals`)."""
    dates = {r.date for r in rows}
    out = list(rows)
    for d in events:
        if d in dates or d <= rows[0].date or d > rows[-1].date:
            continue
        nxt = next(r for r in rows if r.date > d)
        before = next((g.balance for g in nxt.segments if g.end == d), None)
        after = next((g.balance for g in nxt.segments if g.start == d), None)
        opening = before if before is not None else nxt.opening_balance
        closing = after if after is not None else opening
        zero = ZERO * opening  # the row's digits
        out.append(Row(d, None, None, 0, None, opening, zero, zero, zero, zero, zero, zero, zero, closing,
                       shares=nxt.shares, prepayment=opening - closing))
    return sorted(out, key=lambda r: r.date)


def _add_actuals(fv: FacilityView, schedule_rows: list[Row], got: dict) -> None:
    """Each row's extra dues and what was paid against it (a due on a date that is no row's
    goes to the next row)."""
    schedule_dates = {r.date for r in schedule_rows}
    dates = [r.date for r in fv.rows]
    paid: dict[date, dict] = {d: {} for d in dates}
    due: dict[date, dict] = {d: {} for d in dates}
    for source, target in ((got["by_date"], paid), (got["due"], due)):
        for d, figures in source.items():
            row_date = next((x for x in dates if x >= d), dates[-1])
            for k, v in figures.items():
                target[row_date][k] = target[row_date].get(k, ZERO) + v
    fv.paid = []
    for r in fv.rows:
        got_r, due_r = paid[r.date], due[r.date]
        overdue, fee = due_r.get("overdue_interest", ZERO), due_r.get("prepayment_fee", ZERO)
        default = due_r.get("default_interest", ZERO)
        event = None
        if r.date not in schedule_dates:
            event = "prepayment" if got_r.get("prepayment") or not got_r.get("repayment") else "repayment"
        components = {k: got_r.get(k, ZERO) for k in PAID}
        total_paid = sum(components.values(), ZERO)
        fv.paid.append(RowPaid(components, got_r.get("prepayment", ZERO), total_paid,
                               r.total_due + overdue + fee + default - total_paid, overdue, fee,
                               got_r.get("repayment", ZERO), default, event))
    fv.totals["overdue_interest"] = sum((p.overdue_interest for p in fv.paid), ZERO)
    fv.totals["prepayment_fee"] = sum((p.prepayment_fee for p in fv.paid), ZERO)
    fv.totals["default_interest"] = sum((p.default_interest for p in fv.paid), ZERO)
    fv.unapplied = got["unapplied"]
