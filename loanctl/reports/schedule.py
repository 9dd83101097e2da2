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
TOTALS = ("draws", "interest", "pik", "commitment_fee", "fees", "principal", "total_due")
PAID = ("fees", "commitment_fee", "interest", "principal")


@dataclass
class RowPaid:
    """What was paid against one schedule row (`--actuals`)."""

    components: dict[str, Decimal]
    """fees, commitment_fee, interest, principal."""
    prepayment: Decimal
    paid: Decimal
    """The sum of the components (prepayments apart)."""
    unpaid: Decimal
    """Total due less paid."""


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
        totals = {k: sum((getattr(r, k) for r in fs.rows), ZERO) for k in TOTALS}
        fv = FacilityView(fs.facility_id, fs.digits, list(fs.rows), totals)
        if actuals is not None:
            got_by_date: dict[date, dict] = actuals[fs.facility_id]["by_date"]
            fv.paid = []
            for r in fs.rows:
                got = got_by_date.get(r.date, {})
                components = {k: got.get(k, ZERO) for k in PAID}
                paid = sum((v for k, v in got.items() if k != "prepayment"), ZERO)
                fv.paid.append(RowPaid(components, got.get("prepayment", ZERO), paid, r.total_due - paid))
            fv.unapplied = actuals[fs.facility_id]["unapplied"]
        view.facilities.append(fv)
    return view
