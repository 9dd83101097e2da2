"""Renderers of a deal schedule: JSON (SPEC §3.1), CSV and a rich table."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from ..engine.deal import DealSchedule
from ..engine.schedule import MONEY_FIELDS, FacilitySchedule, Row

COLUMNS = ("date", "accrual_start", "accrual_end", "days", "rate", "opening_balance", "draws", "interest", "pik",
           "commitment_fee", "fees", "principal", "total_due", "closing_balance", "projected")


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


def schedule_dict(ds: DealSchedule, actuals: dict | None = None) -> dict:
    out = {"deal": ds.deal, "currency": ds.currency, "facilities": []}
    for fs in ds.facilities:
        rows = []
        for r in fs.rows:
            d = row_dict(r, fs.digits)
            if actuals is not None:
                got = actuals[fs.facility_id]["by_date"].get(r.date, {})
                paid = {k: money(got.get(k, Decimal(0)), fs.digits)
                        for k in ("fees", "commitment_fee", "interest", "principal")}
                d["prepayment"] = money(got.get("prepayment", Decimal(0)), fs.digits)
                d["paid"] = paid
                d["unpaid"] = money(r.total_due - sum(Decimal(v) for v in paid.values()), fs.digits)
            rows.append(d)
        fac = {"facility": fs.facility_id, "rows": rows}
        if actuals is not None:
            fac["unapplied"] = money(actuals[fs.facility_id]["unapplied"], fs.digits)
        out["facilities"].append(fac)
    return out


def to_json(ds: DealSchedule, actuals: dict | None = None) -> str:
    return json.dumps(schedule_dict(ds, actuals), indent=2) + "\n"


def to_csv(ds: DealSchedule) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("deal", "facility", *COLUMNS))
    for fs in ds.facilities:
        for r in fs.rows:
            d = row_dict(r, fs.digits)
            w.writerow((ds.deal, fs.facility_id, *("" if d[c] is None else str(d[c]).lower()
                                                   if isinstance(d[c], bool) else d[c] for c in COLUMNS)))
    return buf.getvalue()


def totals(fs: FacilitySchedule) -> dict[str, Decimal]:
    return {k: sum((getattr(r, k) for r in fs.rows), Decimal(0))
            for k in ("draws", "interest", "pik", "commitment_fee", "fees", "principal", "total_due")}


def to_table(ds: DealSchedule, console, actuals: dict | None = None) -> None:
    from rich.table import Table

    from .text import print_table

    for fs in ds.facilities:
        t = Table(title=f"{ds.deal} · {fs.facility_id} · {ds.currency}", title_justify="left", show_lines=False,
                  header_style="bold", pad_edge=False)
        for name, justify in (("Date", "left"), ("Days", "right"), ("Rate", "right"), ("Opening", "right"),
                              ("Draws", "right"), ("Interest", "right"), ("PIK", "right"), ("Commit fee", "right"),
                              ("Fees", "right"), ("Principal", "right"), ("Total due", "right"),
                              ("Closing", "right")) + ((("Paid", "right"), ("Unpaid", "right"))
                                                       if actuals is not None else ()):
            t.add_column(name, justify=justify, no_wrap=True)
        n = fs.digits
        for r in fs.rows:
            rate = f"{(r.rate * 100):.4f}%" if r.rate is not None else ""
            extra = ()
            if actuals is not None:
                got = actuals[fs.facility_id]["by_date"].get(r.date, {})
                paid = sum((v for k, v in got.items() if k != "prepayment"), Decimal(0))
                pre = got.get("prepayment", Decimal(0))
                extra = (f"{paid:,.{n}f}" + (f" +{pre:,.{n}f} prepaid" if pre else ""),
                         _blank(r.total_due - paid, n))
            t.add_row(r.date.isoformat() + (" *" if r.projected else ""), str(r.days) if r.days else "", rate,
                      f"{r.opening_balance:,.{n}f}", _blank(r.draws, n), _blank(r.interest, n), _blank(r.pik, n),
                      _blank(r.commitment_fee, n), _blank(r.fees, n), _blank(r.principal, n),
                      f"{r.total_due:,.{n}f}", f"{r.closing_balance:,.{n}f}", *extra)
        tot = totals(fs)
        t.add_section()
        t.add_row("Total", "", "", "", f"{tot['draws']:,.{n}f}", f"{tot['interest']:,.{n}f}",
                  f"{tot['pik']:,.{n}f}", f"{tot['commitment_fee']:,.{n}f}", f"{tot['fees']:,.{n}f}",
                  f"{tot['principal']:,.{n}f}", f"{tot['total_due']:,.{n}f}", "",
                  *(("", f"unapplied {actuals[fs.facility_id]['unapplied']:,.{n}f}") if actuals is not None else ()),
                  style="bold")
        print_table(console, t)
        if any(r.projected for r in fs.rows):
            console.print("  * projected: the fixing date is after the last published fixing", style="dim")


def _blank(x: Decimal, n: int) -> str:
    return "" if not x else f"{x:,.{n}f}"
