"""The terms in force on a date (`loanctl show`), amendments applied, with the file each term
came from and the deal's underwriting metrics — a view built once, as text values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from ..engine.deal import deal_terms
from ..model.records import LoadedBook
from ..model.values import fmt_rate

_RATE_KEYS = {"spread", "floor", "cap", "fixed_rate", "pik_rate", "rate", "annual_rate", "share", "index_adjustment"}


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return fmt_rate(value) if key in _RATE_KEYS else f"{value:,}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "; ".join(_fmt_item(v) for v in value)
    return str(value)


def _fmt_item(item: Any) -> str:
    if isinstance(item, dict):
        return ", ".join(f"{k} {_fmt(k, v)}" for k, v in item.items() if v is not None)
    return _fmt("", item)


def _flatten(data: dict, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    out = []
    for key, value in data.items():
        if isinstance(value, dict):
            out += _flatten(value, prefix + (key,))
        else:
            out.append((prefix + (key,), value))
    return out


def interest_method(it) -> str:
    """The interest method and its settings in words, e.g. 'SONIA compounded in arrears,
    5-day lookback, no observation shift, ACT/365F'."""
    if it.index is None:
        return f"fixed {fmt_rate(it.fixed_rate)}, {it.day_count}" if it.fixed_rate is not None else "—"
    adj = f" + {fmt_rate(it.index_adjustment)} adjustment" if it.index_adjustment else ""
    if it.method == "term":
        lag = (f"fixing {it.fixing_lag_business_days} business days before the period"
               if it.fixing_lag_business_days is not None else
               f"fixing {it.fixing_lag_days} days before the period" if it.fixing_lag_days else "fixing at period start")
        return f"{it.index}{adj} term rate, {lag}, {it.day_count}"
    parts = [f"{it.index}{adj} {'daily simple' if it.method == 'simple' else 'compounded'} in arrears",
             f"{it.lookback_days}-day lookback" if it.lookback_days else "no lookback"]
    if it.method == "compounded":
        parts.append("observation shift" if it.observation_shift else "no observation shift")
    if it.lockout_days:
        parts.append(f"{it.lockout_days}-day lockout")
    parts.append(it.day_count)
    return ", ".join(parts)


def terms_view(loaded: LoadedBook, deal_id: str, on: date) -> dict:
    record = loaded.deals[deal_id]
    deal = record.deal
    terms, _ = deal_terms(record, on)
    applied = [a for a in record.sorted_amendments() if a.amendment.effective_date <= on]
    pending = [a for a in record.sorted_amendments() if a.amendment.effective_date > on]
    facilities = []
    for fid, ft in terms.items():
        version = ft.at(on) or ft.first
        dumped = version.facility.model_dump()
        dumped["draws"] = [d.model_dump() for d in version.facility.effective_draws]
        rows = []
        for path, value in _flatten(dumped):
            rows.append({"term": ".".join(path), "value": _fmt(path[-1], value),
                         "source": version.source_label(path)})
            if path == ("interest", "method"):
                rows.append({"term": "interest (in words)", "value": interest_method(version.facility.interest),
                             "source": version.source_label(path)})
        facilities.append({"facility": fid, "terms": rows})
    underwriting = {}
    if deal.origination.underwriting is not None:
        from ..underwriting.covenants import debt_service_after, underwriting_metrics
        from ..engine.deal import schedule_deal
        sched, _ = schedule_deal(loaded, deal_id)
        start = min(f.start_date for f in deal.facilities)
        service = debt_service_after(sched.facilities, start) if sched is not None else None
        metrics = underwriting_metrics(record, service)
        underwriting = {k: (f"{v:.2f}" if v is not None else None) for k, v in metrics.items()}
        underwriting["debt_service_12m"] = f"{service:.2f}" if service is not None else None
    return {
        "deal": deal.id, "name": deal.name, "underwriting": underwriting, "borrower": deal.borrower, "status": deal.status,
        "currency": deal.currency, "as_of": on.isoformat(),
        "amendments_applied": [{"id": a.amendment.id, "effective_date": a.amendment.effective_date.isoformat(),
                                "description": a.amendment.description} for a in applied],
        "amendments_pending": [{"id": a.amendment.id, "effective_date": a.amendment.effective_date.isoformat(),
                                "description": a.amendment.description} for a in pending],
        "facilities": facilities,
    }
