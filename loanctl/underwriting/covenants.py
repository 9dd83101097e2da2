"""Underwriting metrics and covenant tests (SPEC §7).

Ratios are kept exact (Decimal division at 28 digits) and shown to 2 decimals. Each
covenant is tested against every financials file from its first test date on; a test date
without financials 45 days after it is `overdue`; a waived breach is `waived`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable

from ..conventions.dates import add_months, is_month_end
from ..diagnostics import Diagnostic
from ..model.records import DealRecord, LoadedBook
from ..model.documents import FUNDED_OR_LATER, PERIOD_MONTHS, Covenant, Underwriting

DEFAULT_AT_RISK = Decimal("0.10")
OVERDUE_AFTER = timedelta(days=45)
_TWO = Decimal("0.01")

#: metric → (numerator, denominator) in words, for messages and docs
METRICS = {
    "total_leverage": "total_debt / ebitda",
    "net_leverage": "(total_debt − cash) / ebitda",
    "interest_coverage": "ebitda / interest_expense",
    "fixed_charge_coverage": "ebitda / fixed_charges",
    "ltv": "total_debt / collateral_value",
    "debt_service_coverage": "ebitda / next 12 months of scheduled interest, fees and principal",
}
METRIC_NEEDS = {
    "total_leverage": ("total_debt", "ebitda"),
    "net_leverage": ("total_debt", "cash", "ebitda"),
    "interest_coverage": ("ebitda", "interest_expense"),
    "fixed_charge_coverage": ("ebitda", "fixed_charges"),
    "ltv": ("total_debt", "collateral_value"),
    "debt_service_coverage": ("ebitda",),
}


@dataclass(frozen=True)
class Figures:
    ebitda: Decimal | None = None
    total_debt: Decimal | None = None
    cash: Decimal | None = None
    interest_expense: Decimal | None = None
    fixed_charges: Decimal | None = None
    collateral_value: Decimal | None = None
    debt_service: Decimal | None = None
    """Next 12 months of scheduled cash interest, fees and principal."""


class Undefined(Exception):
    """A ratio whose denominator is zero."""

    def __init__(self, denominator_zero_means: str) -> None:
        self.means = denominator_zero_means


def metric_value(metric: str, f: Figures) -> Decimal | None:
    """The exact ratio; None when a figure is missing; raises Undefined for a zero denominator."""
    def ratio(num, den, zero_means: str):
        if num is None or den is None:
            return None
        if den == 0:
            raise Undefined(zero_means)
        return num / den

    if metric in ("total_leverage", "net_leverage") and f.ebitda is not None and f.ebitda <= 0:
        raise Undefined("not meaningful")  # zero or negative EBITDA: leverage has no finite value
    if metric == "total_leverage":
        return ratio(f.total_debt, f.ebitda, "infinite")
    if metric == "net_leverage":
        if f.total_debt is None or f.cash is None:
            return None
        return ratio(f.total_debt - f.cash, f.ebitda, "infinite")
    if metric == "interest_coverage":
        return ratio(f.ebitda, f.interest_expense, "infinite")
    if metric == "fixed_charge_coverage":
        return ratio(f.ebitda, f.fixed_charges, "infinite")
    if metric == "ltv":
        return ratio(f.total_debt, f.collateral_value, "infinite")
    if metric == "debt_service_coverage":
        return ratio(f.ebitda, f.debt_service, "infinite")
    raise ValueError(metric)  # pragma: no cover - the model restricts metrics


def bound_on(covenant: Covenant, period_end: date) -> tuple[str, Decimal]:
    """('max'|'min', the step whose `until` is on or after the period end)."""
    kind = "max" if covenant.max is not None else "min"
    steps = covenant.max if covenant.max is not None else covenant.min
    for step in steps:
        if step.until is None or step.until >= period_end:
            return kind, step.value
    return kind, steps[-1].value


def status_of(kind: str, value: Decimal | None, bound: Decimal, margin: Decimal, undefined: bool = False
              ) -> tuple[Decimal | None, str]:
    """(headroom, status): breached when headroom < 0, at_risk below margin × bound."""
    if undefined:  # a zero denominator: leverage-type ratios are infinite, coverage-type infinite too
        return None, "breached" if kind == "max" else "compliant"
    if value is None:
        return None, "missing"
    headroom = bound - value if kind == "max" else value - bound
    if headroom < 0:
        return headroom, "breached"
    if headroom < margin * abs(bound):
        return headroom, "at_risk"
    return headroom, "compliant"


def period_end_on_or_after(day: date, frequency: str) -> date:
    """The first calendar month (quarter, half-year, year) end on or after `day`."""
    months = PERIOD_MONTHS[frequency]
    d = add_months(day, 0, month_end=True)
    while d.month % months:
        d = add_months(d, 1, month_end=True)
    return d


def first_test_date(covenant: Covenant, start: date) -> date | None:
    """The covenant's own `first_test_date`, else the first period end at least one full
    period (1, 3, 6 or 12 months) after `start`: start 2026-01-15, quarterly → on or after
    2026-04-15 → 2026-06-30. A covenant is not tested on a stub period shorter than that.
    None when that lies past 9999-12-31: the covenant is never tested."""
    if covenant.first_test_date is not None:
        return covenant.first_test_date
    try:
        earliest = add_months(start, PERIOD_MONTHS[covenant.frequency])
    except ValueError:  # beyond the last representable date
        return None
    return period_end_on_or_after(earliest, covenant.frequency)


def test_dates(first: date | None, frequency: str, until: date) -> list[date]:
    """`first` and every calendar month (quarter, half-year, year) end after it, up to `until`."""
    months = PERIOD_MONTHS[frequency]
    out: list[date] = []
    d, k = first, 0
    while d is not None and d <= until:
        out.append(d)
        k += 1
        try:
            d = add_months(first, k * months, month_end=True)
        except ValueError:  # past 9999-12-31
            d = None
    return out


def deal_start(record: DealRecord) -> date | None:
    """The deal's start date: its earliest facility start."""
    return min((f.start_date for f in record.deal.facilities), default=None)


def check_covenant_dates(record: DealRecord) -> list[Diagnostic]:
    """A first test date after the start (E0208); each waiver names a test date that has
    financials (E0261, a warning) and no test date is waived twice (E0262)."""
    out: list[Diagnostic] = []
    start = deal_start(record)
    if start is None:
        return out
    doc, deal = record.doc, record.deal
    last = max(f.maturity_date for f in deal.facilities)
    reported = {f.financials.period_end for f in record.financials}
    for i, cov in enumerate(deal.covenants):
        if cov.first_test_date is not None and cov.first_test_date <= start:
            out.append(doc.diag("E0208", f"covenant {cov.id}: first_test_date {cov.first_test_date} is not after "
                                         f"the deal's start date {start}", ("covenants", i, "first_test_date"),
                                hint="the first test date is a period end after closing"))
        first = first_test_date(cov, start)
        dates = set(test_dates(first, cov.frequency, last))
        seen: dict[date, int] = {}
        for j, w in enumerate(cov.waivers):
            where = ("covenants", i, "waivers", j, "period_end")
            if w.period_end in seen:
                out.append(doc.diag("E0262", f"covenant {cov.id}: the test at {w.period_end} is waived twice "
                                             f"(waivers {seen[w.period_end] + 1} and {j + 1})", where,
                                    hint="keep one waiver per test date"))
                continue
            seen[w.period_end] = j
            if w.period_end not in dates:
                span = (f"{cov.frequency} period ends from {first} until the final maturity {last}" if first
                        else "the covenant has none")
                out.append(doc.diag("E0261", f"covenant {cov.id}: {w.period_end} is not a test date ({span}); "
                                             f"the waiver has no effect", where, severity="warning",
                                    hint=f"use the period end of the waived test; before {first or last} "
                                         f"nothing is tested"))
            elif w.period_end not in reported:
                out.append(doc.diag("E0261", f"covenant {cov.id}: no financials for the test at {w.period_end}; "
                                             f"the waiver has nothing to waive yet", where, severity="warning",
                                    hint=f"add financials with period_end: {w.period_end}, or remove the waiver"))
    return out


def _figures(fin, underwriting: Underwriting | None, debt_service: Decimal | None) -> Figures:
    collateral = fin.collateral_value if fin.collateral_value is not None else (
        underwriting.collateral_value if underwriting else None)
    return Figures(fin.ebitda, fin.total_debt, fin.cash, fin.interest_expense, fin.fixed_charges, collateral,
                   debt_service)


def debt_service_source(loaded: LoadedBook, deal_id: str):
    """period end → next 12 months' scheduled debt service of the deal (None if unschedulable)."""
    from ..engine.deal import schedule_deal
    cache: dict = {}

    def source(period_end: date) -> Decimal | None:
        if "s" not in cache:
            cache["s"], _ = schedule_deal(loaded, deal_id)
        sched = cache["s"]
        return debt_service_after(sched.facilities, period_end) if sched is not None else None
    return source


def test_deal(record: DealRecord, as_of: date, debt_service_for=None, loaded: LoadedBook | None = None
              ) -> tuple[list[dict], list[Diagnostic]]:
    """Every covenant against every financials file up to `as_of`, plus overdue test dates
    (up to the final maturity: a repaid loan owes no more financials)."""
    deal = record.deal
    if debt_service_for is None and loaded is not None and deal.id in loaded.deals:
        debt_service_for = debt_service_source(loaded, deal.id)
    rows: list[dict] = []
    diags: list[Diagnostic] = []
    uw = deal.origination.underwriting
    fins = [f for f in record.financials if f.financials.period_end <= as_of]
    start = deal_start(record) or as_of
    for cov in deal.covenants:
        margin = cov.at_risk_margin if cov.at_risk_margin is not None else DEFAULT_AT_RISK
        first = first_test_date(cov, start)
        waivers = {w.period_end: w for w in cov.waivers}
        reported = set()
        for rec in fins:
            fin = rec.financials
            if first is None or fin.period_end < first:  # a stub before the first test: not tested
                continue
            reported.add(fin.period_end)
            ds = debt_service_for(fin.period_end) if (debt_service_for and cov.metric == "debt_service_coverage") else None
            figures = _figures(fin, uw, ds)
            kind, bound = bound_on(cov, fin.period_end)
            try:
                value = metric_value(cov.metric, figures)
                undefined = False
            except Undefined:
                value, undefined = None, True
            if value is None and not undefined:
                missing = [n for n in METRIC_NEEDS[cov.metric] if getattr(figures, n) is None] or ["scheduled debt service"]
                diags.append(rec.doc.diag("E0229", f"covenant {cov.id} ({cov.metric}) needs "
                                                   f"{', '.join(missing)}, which these financials do not give",
                                          (), hint=f"add {', '.join(missing)} to the file"))
            headroom, status = status_of(kind, value, bound, margin, undefined)
            waiver = waivers.get(fin.period_end)
            if waiver is not None and status == "breached":
                status = "waived"  # a waiver only changes a breach; on any other test it is noted
            rows.append({"deal": deal.id, "covenant": cov.id, "period_end": fin.period_end, "metric": cov.metric,
                         "value": value.quantize(_TWO) if value is not None else None, "bound": bound,
                         "bound_kind": kind, "headroom": headroom.quantize(_TWO) if headroom is not None else None,
                         "status": status, "file": rec.rel})
            if waiver is not None:
                rows[-1]["waiver"] = {"by": waiver.by, "note": waiver.note}
        if deal.status in FUNDED_OR_LATER:
            last = max((f.maturity_date for f in deal.facilities), default=as_of)
            for t in test_dates(first, cov.frequency, min(as_of, last)):
                if t not in reported and as_of - t > OVERDUE_AFTER:  # (t + 45 days may pass 9999-12-31)
                    kind, bound = bound_on(cov, t)
                    rows.append({"deal": deal.id, "covenant": cov.id, "period_end": t, "metric": cov.metric,
                                 "value": None, "bound": bound, "bound_kind": kind, "headroom": None,
                                 "status": "overdue", "file": None})
    rows.sort(key=lambda r: (r["deal"], r["covenant"], r["period_end"]))
    diags += [d for d in check_covenant_dates(record) if not d.is_error]  # validate reports the errors
    return rows, diags


def covenant_rows(loaded: LoadedBook, as_of: date, deals: Iterable[str] | None = None,
                  lenders: Iterable[str] | None = None) -> list[dict]:
    """Covenant results across the book (or the given deals / the deals the lenders hold)."""
    out: list[dict] = []
    for deal_id in covenant_deals(loaded, deals, lenders):
        rows, _ = test_deal(loaded.deals[deal_id], as_of, loaded=loaded)
        out += rows
    return out


def covenant_deals(loaded: LoadedBook, deals: Iterable[str] | None = None,
                   lenders: Iterable[str] | None = None, lenders_of: dict[str, set[str]] | None = None) -> list[str]:
    """The deals whose covenants `covenant_rows` tests, in its order. `lenders_of`: every deal's
    `deal_lenders` when the book's deals are not all loaded (reports.stored.DealIndex)."""
    wanted = set(deals) if deals is not None else None
    lender_set = set(lenders) if lenders is not None else None
    out: list[str] = []
    for deal_id in sorted(lenders_of if lenders_of is not None else loaded.deals):
        if wanted is not None and deal_id not in wanted:
            continue
        if lender_set is not None and lender_set.isdisjoint(
                lenders_of[deal_id] if lenders_of is not None else deal_lenders(loaded.deals[deal_id])):
            continue
        out.append(deal_id)
    return out


def deal_lenders(record: DealRecord) -> set[str]:
    """The lenders of a deal: in its participations, or a trade's buyer."""
    return ({p.lender for f in record.deal.facilities for p in f.participations}
            | {t.trade.buyer for t in record.trades})


def underwriting_metrics(record: DealRecord, debt_service: Decimal | None) -> dict[str, Decimal | None]:
    """The SPEC §7 metrics from origination.underwriting, with pro-forma debt service."""
    uw = record.deal.origination.underwriting
    if uw is None:
        return {}
    figures = Figures(uw.ebitda, uw.total_debt, uw.cash, uw.interest_expense, uw.fixed_charges,
                      uw.collateral_value, debt_service)
    out: dict[str, Decimal | None] = {}
    for metric in METRICS:
        try:
            value = metric_value(metric, figures)
        except Undefined:
            value = None
        out[metric] = value
    return out


def debt_service_after(schedules, start: date) -> Decimal:
    """The next 12 months of scheduled cash interest, fees (commitment fees included) and
    principal: payment dates in (start, start + 12 months], the end widened by five days so a
    date that a weekend or holiday rolled just past the window still counts (payment periods
    are a month or longer, so no second date can slip in)."""
    end = add_months(start, 12, month_end=is_month_end(start)) + timedelta(days=5)
    total = Decimal(0)
    for fs in schedules:
        for r in fs.rows[1:]:
            if start < r.date <= end:
                total += r.interest + r.commitment_fee + r.fees + r.principal
    return total
