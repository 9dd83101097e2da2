"""Renderers of a deal schedule view (`reports.schedule.ScheduleView`, figures computed there):
JSON (SPEC §3.1), CSV and a rich table."""

from __future__ import annotations

from .text import print_table

import csv
import io
import json
from decimal import Decimal

from ..engine.schedule import MONEY_FIELDS, Row
from ..reports.schedule import RowPaid, ScheduleView

COLUMNS = ("date", "accrual_start", "accrual_end", "days", "rate", "opening_balance", "draws", "interest", "pik",
           "commitment_fee", "fees", "principal", "transfers", "total_due", "closing_balance", "projected")


def money(x: Decimal, digits: int) -> str:
    return f"{x:.{digits}f}"


def rate_text(rate: Decimal | None) -> str | None:
    if rate is None:
        return None
    return format(rate.normalize(), "f")


def row_dict(row: Row, digits: int) -> dict:
    return {
        "date": row.date.isoformat(),
        "accrual_start": row.accrual_start.isoformat() if row.accrual_start else None,
        "accrual_end": row.accrual_end.isoformat() if row.accrual_end else None,
        "days": row.days,
        "rate": rate_text(row.rate),
        **{k: money(getattr(row, k), digits) for k in MONEY_FIELDS},
        "projected": row.projected,
    }


def schedule_dict(view: ScheduleView) -> dict:
    out = {"deal": view.deal, "currency": view.currency, "facilities": []}
    for fv in view.facilities:
        rows = []
        for i, r in enumerate(fv.rows):
            d = row_dict(r, fv.digits)
            if fv.paid is not None:
                d.update(actuals_dict(fv.paid[i], fv.digits))
            rows.append(d)
        fac = {"facility": fv.facility_id, "rows": rows}
        if fv.unapplied is not None:
            fac["unapplied"] = money(fv.unapplied, fv.digits)
        out["facilities"].append(fac)
    return out


ACTUALS_COLUMNS = ("event", "overdue_interest", "default_interest", "prepayment_fee", "prepayment", "repayment",
                   "paid_fees", "paid_commitment_fee", "paid_default_interest", "paid_interest",
                   "paid_overdue_interest", "paid_principal", "paid", "unpaid")


def actuals_dict(got: RowPaid, digits: int) -> dict:
    """A row's `--actuals` figures: the dues beside the schedule's, what was paid, what is unpaid."""
    return {"event": got.event, "overdue_interest": money(got.overdue_interest, digits),
            "default_interest": money(got.default_interest, digits),
            "prepayment_fee": money(got.prepayment_fee, digits), "prepayment": money(got.prepayment, digits),
            "repayment": money(got.repayment, digits),
            "paid": {k: money(v, digits) for k, v in got.components.items()},
            "paid_total": money(got.paid, digits), "unpaid": money(got.unpaid, digits)}


def to_json(view: ScheduleView) -> str:
    return json.dumps(schedule_dict(view), indent=2) + "\n"


def to_csv(view: ScheduleView) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    extra = ACTUALS_COLUMNS if view.actuals else ()
    w.writerow(("deal", "facility", *COLUMNS, *extra))
    for fv in view.facilities:
        for i, r in enumerate(fv.rows):
            d = row_dict(r, fv.digits)
            if fv.paid is not None:
                a = actuals_dict(fv.paid[i], fv.digits)
                d.update({k: a[k] for k in ("event", "overdue_interest", "default_interest", "prepayment_fee", "prepayment",
                                            "repayment", "unpaid")})
                d.update({f"paid_{k}": v for k, v in a["paid"].items()}, paid=a["paid_total"])
            w.writerow((view.deal, fv.facility_id, *("" if d[c] is None else str(d[c]).lower()
                                                     if isinstance(d[c], bool) else d[c] for c in (*COLUMNS, *extra))))
    return buf.getvalue()


def to_table(view: ScheduleView, console) -> None:
    from rich.table import Table

    actuals = view.actuals
    for fv in view.facilities:
        t = Table(title=f"{view.deal} · {fv.facility_id} · {view.currency}", title_justify="left", show_lines=False,
                  header_style="bold", pad_edge=False)
        for name, justify in (("Date", "left"), ("Days", "right"), ("Rate", "right"), ("Opening", "right"),
                              ("Draws", "right"), ("Interest", "right"), ("PIK", "right"), ("Commit fee", "right"),
                              ("Fees", "right"), ("Principal", "right"), ("Transfers", "right"), ("Total due", "right"),
                              ("Closing", "right")) + ((("Overdue int.", "right"), ("Default int.", "right"),
                                                        ("Prepay fee", "right"),
                                                        ("Paid", "right"), ("Unpaid", "right"))
                                                       if actuals else ()):
            t.add_column(name, justify=justify, no_wrap=True)
        n = fv.digits
        for i, r in enumerate(fv.rows):
            rate = f"{(r.rate * 100):.4f}%" if r.rate is not None else ""
            extra = ()
            if fv.paid is not None:
                got = fv.paid[i]
                overdue = _blank(got.overdue_interest, n)
                if got.overdue_interest or got.components["overdue_interest"]:
                    overdue += f" (paid {got.components['overdue_interest']:,.{n}f})"
                default = _blank(got.default_interest, n)
                if got.default_interest or got.components["default_interest"]:
                    default += f" (paid {got.components['default_interest']:,.{n}f})"
                extra = (overdue, default, _blank(got.prepayment_fee, n),
                         f"{got.paid:,.{n}f}" + (f" +{got.prepayment:,.{n}f} prepaid" if got.prepayment else "")
                         + (f" +{got.repayment:,.{n}f} repaid" if got.repayment else ""),
                         _blank(got.unpaid, n))
            label = r.date.isoformat() + (" *" if r.projected else "")
            if fv.paid is not None and fv.paid[i].event:
                label += f" {fv.paid[i].event}"
            t.add_row(label, str(r.days) if r.days else "", rate,
                      f"{r.opening_balance:,.{n}f}", _blank(r.draws, n), _blank(r.interest, n), _blank(r.pik, n),
                      _blank(r.commitment_fee, n), _blank(r.fees, n), _blank(r.principal, n), _blank(r.transfers, n),
                      f"{r.total_due:,.{n}f}", f"{r.closing_balance:,.{n}f}", *extra)
        tot = fv.totals
        t.add_section()
        t.add_row("Total", "", "", "", f"{tot['draws']:,.{n}f}", f"{tot['interest']:,.{n}f}",
                  f"{tot['pik']:,.{n}f}", f"{tot['commitment_fee']:,.{n}f}", f"{tot['fees']:,.{n}f}",
                  f"{tot['principal']:,.{n}f}", f"{tot.get('transfers', 0):,.{n}f}", f"{tot['total_due']:,.{n}f}", "",
                  *((f"{tot['overdue_interest']:,.{n}f}", f"{tot['default_interest']:,.{n}f}",
                     f"{tot['prepayment_fee']:,.{n}f}", "",
                     f"unapplied {fv.unapplied:,.{n}f}") if fv.unapplied is not None else ()),
                  style="bold")
        print_table(console, t)
        if any(r.projected for r in fv.rows):
            console.print("  * projected: the fixing date is after the last published fixing", style="dim")


def _blank(x: Decimal, n: int) -> str:
    return "" if not x else f"{x:,.{n}f}"
