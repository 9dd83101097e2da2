"""Pre-funding and what-if simulation (SPEC §7): a deal run under a scenario beside its base.

A scenario shocks every index fixing, replaces the projected index path, adds prepayments,
a default with a recovery after a lag, a draft amendment, or PIK toggle elections. Both
runs are projected schedules (no payments posted), so a draft deal can be run before it
is funded. Returns are gross, from the lender's side: draws out; interest, fees and
principal in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from ..conventions.calendars import make_calendar
from ..conventions.currency import minor_units
from ..conventions.dates import add_months
from ..conventions.rounding import round_money
from ..diagnostics import Diagnostic
from ..engine.deal import deal_terms
from ..engine.periods import book_calendars
from ..engine.schedule import FacilitySchedule, build_schedule, lender_part
from ..engine.terms import facility_terms
from ..model.records import AmendmentRecord, LoadedBook, RateSeries
from .metrics import moic, xirr

ZERO = Decimal(0)
TOTAL_KEYS = ("interest", "pik", "commitment_fee", "fees", "principal")


@dataclass
class Scenario:
    rate_shock: Decimal = ZERO
    index_paths: dict[str, list[tuple[date, Decimal]]] = field(default_factory=dict)
    prepayments: list[tuple[date, Decimal, str | None]] = field(default_factory=list)
    """(date, amount, facility or None for the deal's first facility)."""
    default_date: date | None = None
    recovery: Decimal = Decimal("0.6")
    recovery_lag_months: int = 12
    amendment: AmendmentRecord | None = None
    pik_toggles: list[tuple[date, bool]] = field(default_factory=list)

    def describe(self) -> dict:
        out: dict = {}
        if self.rate_shock:
            out["rate_shock"] = format(self.rate_shock, "f")
        if self.index_paths:
            out["index_path"] = {k: len(v) for k, v in self.index_paths.items()}
        if self.prepayments:
            out["prepay"] = [{"date": d.isoformat(), "amount": format(a, "f"), "facility": f}
                             for d, a, f in self.prepayments]
        if self.default_date:
            out["default"] = {"date": self.default_date.isoformat(), "recovery": format(self.recovery, "f"),
                              "recovery_lag_months": self.recovery_lag_months}
        if self.amendment:
            out["amendment"] = self.amendment.amendment.id
        if self.pik_toggles:
            out["pik_toggle"] = [{"date": d.isoformat(), "on": on} for d, on in self.pik_toggles]
        return out


@dataclass
class Run:
    schedules: list[FacilitySchedule]
    totals: dict[str, Decimal]
    xirr: Decimal | None
    moic: Decimal | None
    lenders: dict[str, dict]
    min_interest_coverage: tuple[Decimal, date] | None
    notes: list[str]


def _rates(loaded: LoadedBook, scenario: Scenario) -> dict[str, RateSeries]:
    rates = dict(loaded.rates)
    for index, path in scenario.index_paths.items():
        base = rates.get(index)
        keep = [(d, r) for d, r in zip(base.dates, base.rates)] if base else []
        first_new = path[0][0] if path else None
        merged = [(d, r) for d, r in keep if first_new is None or d < first_new] + list(path)
        rates[index] = RateSeries(index, f"--index-path {index}", tuple(d for d, _ in merged),
                                  tuple(r for _, r in merged))
    return rates


def run(loaded: LoadedBook, deal_id: str, scenario: Scenario, as_of: date) -> tuple[Run | None, list[Diagnostic]]:
    record = loaded.deals[deal_id]
    if scenario.amendment is not None:
        terms, diags = facility_terms(record, list(record.amendments) + [scenario.amendment])
    else:
        terms, diags = deal_terms(record)
    errors = [d for d in diags if d.is_error]
    if errors:
        return None, errors
    calendars = book_calendars(loaded.book)
    rounding = loaded.book.rounding if loaded.book else "half_up"
    digits = minor_units(record.deal.currency)
    rates = _rates(loaded, scenario)
    fids = list(terms)
    prepay_by: dict[str, list[tuple[date, Decimal]]] = {}
    for d, amount, fid in scenario.prepayments:
        target = fid or fids[0]
        if target not in terms:
            return None, [Diagnostic("E0602", f"--prepay names facility '{target}', which the deal does not have",
                                     hint=f"facilities: {', '.join(fids)}")]
        f0 = terms[target].first.facility
        maturity = terms[target].last.facility.maturity_date
        if not f0.start_date < d < maturity:
            return None, [Diagnostic("E0604", f"--prepay {d}: facility '{target}' runs from {f0.start_date} to "
                                              f"{maturity}", hint="prepay after the start date and before maturity")]
        prepay_by.setdefault(target, []).append((d, amount))
    schedules: list[FacilitySchedule] = []
    notes: list[str] = []
    from ..engine.schedule import ScheduleProblem
    for fid, ft in terms.items():
        try:
            s = build_schedule(ft, rates, lambda f: make_calendar(f.payments.calendar, calendars),
                               record.deal.currency, digits, rounding, rate_shift=scenario.rate_shock,
                               prepayments=prepay_by.get(fid, ()), pik_toggles=scenario.pik_toggles)
        except ScheduleProblem as problem:
            return None, [problem.diagnostic()]
        for (d, wanted), (_, applied) in zip(sorted(prepay_by.get(fid, ())), s.prepaid):
            if applied < wanted:
                return None, [Diagnostic("E0601", f"prepayment of {wanted:,} on {d} is larger than facility "
                                                  f"'{fid}''s balance ({applied:,} outstanding then)",
                                         hint=f"prepay at most {applied:,} on that date")]
        if scenario.default_date is not None and not (ft.first.facility.start_date <= scenario.default_date
                                                      < s.maturity_date):
            return None, [Diagnostic("E0603", f"default date {scenario.default_date} is outside facility '{fid}' "
                                              f"({ft.first.facility.start_date} to {s.maturity_date})",
                                     hint="a default happens after the start date and before maturity")]
        negative = [r for r in s.rows[1:] if r.rate is not None and r.rate - (r.spread or ZERO) < 0]
        if negative and scenario.rate_shock < 0:
            notes.append(f"{fid}: the shock makes the index negative in {len(negative)} period(s) "
                         f"(no floor); the all-in rate is {min(r.rate for r in negative) * 100:.4f}% at its lowest")
        schedules.append(s)
    flows_all: list[tuple[date, Decimal]] = []
    totals = {k: round_money(ZERO, digits) for k in TOTAL_KEYS}
    lender_flows: dict[str, list[tuple[date, Decimal]]] = {}
    recovery_total = round_money(ZERO, digits)
    for s in schedules:
        flows, tot, rec = _flows(s, scenario, digits)
        flows_all += flows
        recovery_total += rec
        for k in TOTAL_KEYS:
            totals[k] += tot[k]
        lenders = list(dict.fromkeys(n for r in s.rows for n, _ in r.shares))
        for lender in lenders:
            lender_flows.setdefault(lender, []).extend(_flows(s, scenario, digits, lender)[0])
    if scenario.default_date is not None:
        totals["recovery"] = recovery_total
    lenders = {name: {"xirr": xirr(f), "moic": moic(f)} for name, f in sorted(lender_flows.items())}
    return Run(schedules, totals, xirr(flows_all), moic(flows_all), lenders,
               _min_icr(record, schedules, as_of, scenario), notes), []


def _flows(s: FacilitySchedule, scenario: Scenario, digits: int, lender: str | None = None):
    """Cash flows (draws negative) and totals, cut at a default with its recovery."""
    cut = scenario.default_date
    rows = s.rows
    flows: list[tuple[date, Decimal]] = []
    totals = {k: ZERO for k in TOTAL_KEYS}

    shares_on = s.shares_on

    for d, amount in s.draws:
        if cut is None or d <= cut:
            flows.append((d, -lender_part(amount, shares_on(d), lender, digits)))
    for d, amount in s.prepaid:
        if cut is None or d <= cut:
            flows.append((d, lender_part(amount, shares_on(d), lender, digits)))
            totals["principal"] += lender_part(amount, shares_on(d), lender, digits)
    outstanding = ZERO
    last_row_date = rows[0].date
    for r in rows:
        if cut is not None and r.date > cut:
            break
        last_row_date = r.date
        cash = r.interest + r.commitment_fee + r.fees + r.principal
        part = lender_part(cash, r.shares, lender, digits)
        if part:
            flows.append((r.date, part))
        for k in TOTAL_KEYS:
            totals[k] += lender_part(getattr(r, k), r.shares, lender, digits)
        outstanding = r.closing_balance
    recovery = ZERO
    if cut is not None:
        # the balance on the default date: after the last row, less prepayments and plus draws since
        outstanding -= sum((a for d, a in s.prepaid if last_row_date <= d <= cut), ZERO)
        outstanding += sum((a for d, a in s.draws if d <= cut and (last_row_date < d or (
            d == last_row_date and d != rows[0].date))), ZERO)
        claim = round_money(outstanding * scenario.recovery, digits)
        recovery = lender_part(claim, shares_on(cut), lender, digits)
        when = add_months(cut, scenario.recovery_lag_months)
        if recovery:
            flows.append((when, recovery))
    return flows, totals, recovery


def _min_icr(record, schedules: list[FacilitySchedule], as_of: date, scenario: Scenario) -> tuple[Decimal, date] | None:
    """EBITDA (latest financials, else underwriting) over this deal's cash interest in each
    12-month window ending on a payment date after `as_of` (or after the start, for a draft)."""
    ebitda = None
    if record.financials:
        ebitda = record.financials[-1].financials.ebitda
    elif record.deal.origination.underwriting is not None:
        ebitda = record.deal.origination.underwriting.ebitda
    if not ebitda:
        return None
    dates = sorted({r.date for s in schedules for r in s.rows[1:]})
    start = min(s.rows[0].date for s in schedules)
    best: tuple[Decimal, date] | None = None
    for p in dates:
        if p <= max(as_of, start) or (scenario.default_date and p > scenario.default_date):
            continue
        window_start = add_months(p, -12)
        interest = sum((r.interest for s in schedules for r in s.rows[1:] if window_start < r.date <= p), ZERO)
        if interest <= 0:
            continue
        icr = (ebitda / interest).quantize(Decimal("0.01"))
        if best is None or icr < best[0]:
            best = (icr, p)
    return best


def result_dict(r: Run, digits: int) -> dict:
    return {
        "totals": {k: f"{v:.{digits}f}" for k, v in r.totals.items()},
        "xirr": format(r.xirr, "f") if r.xirr is not None else None,
        "moic": format(r.moic, "f") if r.moic is not None else None,
        "lenders": {k: {m: (format(v, "f") if v is not None else None) for m, v in x.items()}
                    for k, x in r.lenders.items()},
        "min_interest_coverage": ({"value": format(r.min_interest_coverage[0], "f"),
                                   "date": r.min_interest_coverage[1].isoformat()}
                                  if r.min_interest_coverage else None),
    }


def difference(base: dict, result: dict) -> dict:
    def sub(a, b):
        if a is None or b is None:
            return None
        return format(Decimal(b) - Decimal(a), "f")
    return {
        "totals": {k: sub(base["totals"].get(k, "0"), result["totals"].get(k, "0"))
                   for k in dict.fromkeys([*base["totals"], *result["totals"]])},
        "xirr": sub(base["xirr"], result["xirr"]),
        "moic": sub(base["moic"], result["moic"]),
        "lenders": {k: {m: sub(base["lenders"].get(k, {}).get(m), v) for m, v in x.items()}
                    for k, x in result["lenders"].items()},
        "min_interest_coverage": sub((base["min_interest_coverage"] or {}).get("value"),
                                     (result["min_interest_coverage"] or {}).get("value")),
    }


def load_index_path(text: str, file: str) -> tuple[list[tuple[date, Decimal]], list[Diagnostic]]:
    """An index path file: the rate file format (date,rate)."""
    from ..source.loader import load_rates

    class _One:
        root = Path(".")

        def read(self, rel, max_bytes):
            return text.encode()

        def display(self, rel):
            return file

        def list_dir(self, rel):
            return []

    series, diags = load_rates(_One(), file, "path")
    if series is None:
        return [], diags
    return list(zip(series.dates, series.rates)), diags
