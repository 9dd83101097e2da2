"""Pre-funding and what-if simulation (SPEC §7): a deal run under a scenario beside its base.

A scenario shocks every index fixing, replaces the projected index path, adds prepayments,
a default with a recovery after a lag, a draft amendment, or PIK toggle elections. Both
runs are projected schedules (no payments posted), so a draft deal can be run before it
is funded. Returns are gross, from the lender's side: draws out; interest, fees and
principal in. A prepayment creates the prepayment fee of the deal's fee schedule exactly as
a posted one does (`engine.fees.prepayment_fee_rate`, rounded to the currency's minor unit).
`grid` runs rate shocks × full prepayment dates. Reading scenario options: `scenario.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from ..conventions.currency import minor_units
from ..conventions.dates import add_months
from ..conventions.rounding import round_money
from ..diagnostics import Diagnostic, DiagnosticError
from ..engine.deal import deal_terms, schedule_builder
from ..engine.credit import default_interest, default_rate_steps
from ..engine.fees import prepayment_fee_rate
from ..engine.lenders import lender_part, lender_rows, settlement_cash, timeline_of
from ..engine.schedule import FacilitySchedule
from ..engine.terms import facility_terms
from ..model.records import AmendmentRecord, LoadedBook, RateSeries
from .metrics import moic, xirr

ZERO = Decimal(0)
TOTAL_KEYS = ("interest", "pik", "commitment_fee", "fees", "principal")


@dataclass
class Scenario:
    rate_shock: Decimal = ZERO
    index_paths: dict[str, list[tuple[date, Decimal]]] = field(default_factory=dict)
    prepayments: list[tuple[date, Decimal | None, str | None]] = field(default_factory=list)
    """(date, amount or None for the whole balance then, facility or None for the deal's first facility)."""
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
            out["prepay"] = [{"date": d.isoformat(), "amount": format(a, "f") if a is not None else "all",
                              "facility": f}
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
    prepaid: list[tuple[date, Decimal, Decimal]] = field(default_factory=list)
    """(date, principal prepaid, prepayment fee) of each prepayment applied, whole facilities."""


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
    build = schedule_builder(loaded, record, _rates(loaded, scenario))
    rounding = loaded.book.rounding if loaded.book else "half_up"
    digits = minor_units(record.deal.currency)
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
        prepay_by.setdefault(target, []).append((d, FULL if amount is None else amount))
    schedules: list[FacilitySchedule] = []
    notes: list[str] = []
    fees_by: dict[int, list[tuple[date, Decimal]]] = {}
    rates_by: dict[int, list] = {}
    prepaid: list[tuple[date, Decimal, Decimal]] = []
    from ..engine.schedule import ScheduleProblem
    for fid, ft in terms.items():
        try:
            s = build(ft, rate_shift=scenario.rate_shock, prepayments=prepay_by.get(fid, ()),
                      pik_toggles=scenario.pik_toggles)
        except ScheduleProblem as problem:
            return None, [problem.diagnostic()]
        for (d, wanted), (_, applied) in zip(sorted(prepay_by.get(fid, ()), key=lambda x: x[0]), s.prepaid):
            if applied < wanted and wanted is not FULL:
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
        fees_by[id(s)] = [(d, _prepayment_fee(ft, d, applied, digits, rounding)) for d, applied in s.prepaid]
        rates_by[id(s)] = default_rate_steps(ft)
        prepaid += [(d, applied, fee) for (d, applied), (_, fee) in zip(s.prepaid, fees_by[id(s)])]
    flows_all: list[tuple[date, Decimal]] = []
    totals = {k: round_money(ZERO, digits) for k in TOTAL_KEYS}
    lender_flows: dict[str, list[tuple[date, Decimal]]] = {}
    recovery_total = round_money(ZERO, digits)
    for s in schedules:
        flows, tot, rec = _flows(s, fees_by[id(s)], scenario, digits, None, rates_by[id(s)], rounding)
        flows_all += flows
        recovery_total += rec
        for k in TOTAL_KEYS:
            totals[k] += tot[k]
        if "default_interest" in tot:  # only with a default rate: otherwise the figures as before
            totals["default_interest"] = totals.get("default_interest", ZERO) + tot["default_interest"]
        lenders = list(timeline_of(s).order)
        for lender in lenders:
            lender_flows.setdefault(lender, []).extend(
                _flows(s, fees_by[id(s)], scenario, digits, lender, rates_by[id(s)], rounding)[0])
    if scenario.default_date is not None:
        totals["recovery"] = recovery_total
    lenders = {name: {"xirr": xirr(f), "moic": moic(f)} for name, f in sorted(lender_flows.items())}
    return Run(schedules, totals, xirr(flows_all), moic(flows_all), lenders,
               _min_icr(record, schedules, as_of, scenario), notes, sorted(prepaid, key=lambda x: x[0])), []


FULL = Decimal(10) ** 15
"""The amount asked for a full prepayment: more than any balance (amounts stop below 10^15),
so the schedule caps it at the balance outstanding then."""


def _prepayment_fee(ft, when: date, applied: Decimal, digits: int, rounding: str) -> Decimal:
    """The fee a posted prepayment of `applied` on `when` would create (the same rate rule)."""
    rate = prepayment_fee_rate((ft.at(when) or ft.first).facility, when)
    return round_money(rate * applied, digits, rounding) if rate and applied else ZERO


def _flows(s: FacilitySchedule, prepay_fees: list[tuple[date, Decimal]], scenario: Scenario, digits: int,
           lender: str | None = None, default_rates=(), rounding: str = "half_up"):
    """Cash flows (draws negative) and totals, cut at a default with its recovery; each
    prepayment's fee is received with it. With a default rate the claim recovered is the
    principal plus its default interest from the default to the recovery (SPEC §3.3, the
    rule of `engine.credit.default_interest`, rounded once per period of the schedule)."""
    cut = scenario.default_date
    rows = s.rows
    flows: list[tuple[date, Decimal]] = []
    totals = {k: ZERO for k in TOTAL_KEYS}

    shares_on = timeline_of(s).shares_on
    mine = rows if lender is None else lender_rows(s).get(lender, [])

    for d, amount in s.draws:
        if cut is None or d <= cut:
            flows.append((d, -lender_part(amount, shares_on(d), lender, digits)))
    for d, amount in s.prepaid:
        if cut is None or d <= cut:
            flows.append((d, lender_part(amount, shares_on(d), lender, digits)))
            totals["principal"] += lender_part(amount, shares_on(d), lender, digits)
    for d, fee in prepay_fees:
        if fee and (cut is None or d <= cut):
            flows.append((d, lender_part(fee, shares_on(d), lender, digits)))
            totals["fees"] += lender_part(fee, shares_on(d), lender, digits)
    if lender is not None:
        flows += [(d, x) for d, x in settlement_cash(s, lender) if cut is None or d <= cut]
    outstanding = ZERO
    last_row_date = rows[0].date
    for r, own in zip(rows, mine):
        if cut is not None and r.date > cut:
            break
        last_row_date = r.date
        cash = own.interest + own.commitment_fee + own.fees + own.principal
        if cash:
            flows.append((r.date, cash))
        for k in TOTAL_KEYS:
            totals[k] += getattr(own, k)
        outstanding = r.closing_balance
    recovery = ZERO
    if cut is not None:
        # the balance on the default date: after the last row, less prepayments and plus draws since
        outstanding -= sum((a for d, a in s.prepaid if last_row_date <= d <= cut), ZERO)
        outstanding += sum((a for d, a in s.draws if d <= cut and (last_row_date < d or (
            d == last_row_date and d != rows[0].date))), ZERO)
        when = add_months(cut, scenario.recovery_lag_months)
        extra = _default_interest(s, outstanding, cut, when, default_rates, digits, rounding)
        if extra:
            totals["default_interest"] = lender_part(extra, shares_on(cut), lender, digits)
        claim = round_money((outstanding + extra) * scenario.recovery, digits)
        recovery = lender_part(claim, shares_on(cut), lender, digits)
        if recovery:
            flows.append((when, recovery))
    return flows, totals, recovery


def _default_interest(s: FacilitySchedule, principal: Decimal, start: date, end: date, rates, digits: int,
                      rounding: str) -> Decimal:
    """Default interest on `principal` while the default is in force, [start, end), rounded
    once per period (split at the schedule's payment dates; after maturity one period)."""
    if not any(r for _, r in rates) or principal <= 0:
        return ZERO
    cuts = [start] + [r.date for r in s.rows[1:] if start < r.date < end] + [end]
    total = ZERO
    for a, b in zip(cuts, cuts[1:]):
        amount = default_interest(a, b, s.day_count, rates, (), lambda _d: principal, (), [(start, end)])
        total += round_money(amount, digits, rounding)
    return total


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


GRID_SHOCKS_BPS = (-200, -100, 0, 100, 200)


def grid(loaded: LoadedBook, deal_id: str, scenario: Scenario, as_of: date) -> list[dict]:
    """Rate shocks −200…+200 bps (on top of the scenario's) × full prepayment of the deal's first
    facility at each anniversary before maturity (and none): one cell per pair, with gross XIRR
    and MOIC, and for a prepayment the principal prepaid and its fee in the currency's digits."""
    from copy import deepcopy
    record = loaded.deals[deal_id]
    digits = minor_units(record.deal.currency)
    start = min(f.start_date for f in record.deal.facilities)
    maturity = max(f.maturity_date for f in record.deal.facilities)
    dates = [add_months(start, 12 * k) for k in range(1, 4) if add_months(start, 12 * k) < maturity]
    rows = []
    for bps in GRID_SHOCKS_BPS:
        for when in [None, *dates]:
            s = deepcopy(scenario)
            s.rate_shock = scenario.rate_shock + Decimal(bps) / 10000
            if when is not None:
                s.prepayments = [(when, None, None)]  # the whole balance outstanding then
            result, diags = run(loaded, deal_id, s, as_of)
            cell: dict = {"shock": f"{bps:+d}bps", "prepay": "hold" if when is None else f"prepay {when}"}
            if result is None:
                cell["error"] = diags[0].code if diags else "error"
            else:
                d = result_dict(result, digits)
                cell.update(xirr=d["xirr"], moic=d["moic"])
                if when is not None:
                    cell["prepaid"] = f"{sum((a for _, a, _ in result.prepaid), ZERO):.{digits}f}"
                    cell["prepayment_fee"] = f"{sum((f for _, _, f in result.prepaid), ZERO):.{digits}f}"
            rows.append(cell)
    return rows


@dataclass
class Simulation:
    """What `loanctl simulate` shows: `view` is JSON-ready (SPEC §7) — base, scenario and their
    difference, or the grid's cells; `digits` are the deal currency's minor units."""

    deal: str
    digits: int
    view: dict
    notes: list[str] = field(default_factory=list)


def simulate(loaded: LoadedBook, deal_id: str, scenario: Scenario, as_of: date, with_grid: bool = False) -> Simulation:
    """The deal under `scenario` beside its base (or the grid around the scenario); a base or
    scenario that cannot be run raises `DiagnosticError` with the reasons."""
    digits = minor_units(loaded.deals[deal_id].deal.currency)
    if with_grid:
        return Simulation(deal_id, digits, {"deal": deal_id, "grid": grid(loaded, deal_id, scenario, as_of)})
    base, d1 = run(loaded, deal_id, Scenario(), as_of)
    result, d2 = run(loaded, deal_id, scenario, as_of)
    problems = [x for x in d1 + d2 if x.is_error]
    if problems or base is None or result is None:
        raise DiagnosticError(problems)
    b, r = result_dict(base, digits), result_dict(result, digits)
    return Simulation(deal_id, digits, {"deal": deal_id, "scenario": scenario.describe(), "base": b, "result": r,
                                        "difference": difference(b, r), "notes": result.notes}, result.notes)
