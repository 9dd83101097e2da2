"""Checks of overnight rates in arrears and term-rate fixing settings (SPEC §2.5, §3.2):
the method's settings (E0280–E0285), what the fixings cannot serve (E0283, E0307) and the
overnight rates files themselves (E0308 gaps, E0309 weekend rows; warnings)."""

from __future__ import annotations

from typing import Iterable

from ..diagnostics import Diagnostic
from ..engine.overnight import BASIS, GAP_WARN_DAYS, OVERNIGHT_METHODS, gaps
from ..engine.periods import facility_calendar
from ..engine.schedule import overnight_problems
from ..engine.terms import FacilityTerms, Version
from ..model.records import DealRecord, LoadedBook


def check_overnight_terms(v: Version) -> list[Diagnostic]:
    """The settings of one version of a facility's interest terms."""
    it = v.facility.interest
    out: list[Diagnostic] = []
    overnight = it.method in OVERNIGHT_METHODS
    if overnight:
        if it.index is None:
            out.append(v.diag("E0284", f"method {it.method} needs an overnight index, not a fixed rate",
                              ("interest", "method"), hint="write index: SOFR (or SONIA, ESTR), or remove method"))
        if it.day_count not in BASIS:
            out.append(v.diag("E0280", f"method {it.method} accrues on ACT/360 or ACT/365F, not {it.day_count}",
                              ("interest", "day_count"),
                              hint="ACT/360 for SOFR and €STR, ACT/365F for SONIA"))
        if it.observation_shift and it.method == "simple":
            out.append(v.diag("E0281", "observation_shift applies to method compounded, not simple",
                              ("interest", "observation_shift"),
                              hint="remove observation_shift, or write method: compounded"))
        if it.fixing_lag_days or it.fixing_lag_business_days:
            key = "fixing_lag_days" if it.fixing_lag_days else "fixing_lag_business_days"
            out.append(v.diag("E0285", f"{key} does not apply to method {it.method}; the overnight rate "
                                       f"is observed with lookback_days", ("interest", key),
                              hint=f"remove {key}; write lookback_days: N for a lookback"))
    else:
        for key in ("lookback_days", "lockout_days", "observation_shift"):
            if getattr(it, key):
                out.append(v.diag("E0284", f"{key} applies to an overnight method (simple or compounded), "
                                           f"not method {it.method}", ("interest", key),
                                  hint=f"write method: compounded (or simple), or remove {key}"))
        if it.fixing_lag_days and it.fixing_lag_business_days is not None:
            out.append(v.diag("E0285", "fixing_lag_days and fixing_lag_business_days are both given",
                              ("interest", "fixing_lag_business_days"),
                              hint="keep one: business days on the facility's calendar, or calendar days"))
    return out


def check_overnight_facility(loaded: LoadedBook, ft: FacilityTerms, calendars) -> list[Diagnostic]:
    """Settings of every version, then (when they are sound) the periods against the fixings."""
    out: list[Diagnostic] = []
    for v in ft.versions:
        out += check_overnight_terms(v)
    if out or not any(v.facility.interest.method in OVERNIGHT_METHODS for v in ft.versions):
        return out
    try:
        cals = {v.facility.payments.calendar: facility_calendar(v.facility, calendars) for v in ft.versions}
    except ValueError:  # an unknown calendar: E0206, reported by the facility checks
        return out
    for problem in overnight_problems(ft, loaded.rates, lambda f: cals[f.payments.calendar]):
        out.append(problem.diagnostic())
    return out


def overnight_indices(records: Iterable[DealRecord]) -> set[str]:
    """The indices these deals' facilities use with an overnight method."""
    return {f.interest.index for r in records for f in r.deal.facilities
            if f.interest.method in OVERNIGHT_METHODS and f.interest.index}


def check_overnight_files(loaded: LoadedBook, used: Iterable[str] | None = None) -> list[Diagnostic]:
    """Warnings about the rates files of the indices used with an overnight method (by the
    loaded deals, or `used`): a gap of more than five calendar days between rows (E0308), a
    row dated on a weekend (E0309)."""
    used = sorted(overnight_indices(loaded.deals.values()) if used is None else set(used))
    out: list[Diagnostic] = []
    for index in used:
        series = loaded.rates.get(index)
        if series is None:
            continue
        line = (lambda i: series.lines[i] if series.lines else None)
        for i, prev, d in gaps(series):
            out.append(Diagnostic("E0308", f"no {index} fixing from {prev} to {d} ({(d - prev).days - 1} days "
                                           f"without a row); those days use {prev}'s rate",
                                  series.file, line(i), 1,
                                  f"an overnight index is never closed more than {GAP_WARN_DAYS} days: "
                                  f"add the missing fixings", severity="warning"))
        for i, d in enumerate(series.dates):
            if d.weekday() >= 5:
                out.append(Diagnostic("E0309", f"{index} fixing dated {d}, a {d.strftime('%A')}", series.file,
                                      line(i), 1, "an overnight fixing is dated by its value date, a business "
                                                  "day: check the date", severity="warning"))
    return out
