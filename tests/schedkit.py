"""Build schedules from YAML written inline in a test, through the real parse → model →
terms → engine pipeline (no book folder needed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from textwrap import dedent

from loanctl.conventions.calendars import make_calendar
from loanctl.conventions.currency import minor_units
from loanctl.engine.schedule import build_schedule
from loanctl.engine.terms import facility_terms
from loanctl.model.records import AmendmentRecord, DealRecord, RateSeries
from loanctl.model.documents import Amendment, Deal
from loanctl.model.validate import validate
from loanctl.source.yamlsrc import parse


def rates(index: str, rows: list[tuple[str, str]]) -> dict[str, RateSeries]:
    return {index: RateSeries(index, f"rates/{index}.csv", tuple(date.fromisoformat(d) for d, _ in rows),
                              tuple(Decimal(r) for _, r in rows))}


def record(deal_yaml: str, amendments: list[str] = ()) -> DealRecord:
    doc, diags = parse(dedent(deal_yaml), "deal.yaml")
    assert doc is not None, diags
    deal, diags = validate(Deal, doc)
    assert deal is not None, diags
    rec = DealRecord(deal=deal, doc=doc, rel="d/deal.yaml")
    for i, text in enumerate(amendments):
        adoc, diags = parse(dedent(text), f"a{i}.yaml")
        assert adoc is not None, diags
        am, diags = validate(Amendment, adoc)
        assert am is not None, diags
        rec.amendments.append(AmendmentRecord(am, adoc, f"d/amendments/a{i}.yaml"))
    return rec


def schedules(deal_yaml: str, amendments: list[str] = (), fixings=None, rounding="half_up", calendars=None):
    rec = record(deal_yaml, amendments)
    terms, diags = facility_terms(rec)
    assert not [d for d in diags if d.is_error], diags
    out = {}
    for fid, ft in terms.items():
        out[fid] = build_schedule(ft, fixings or {}, lambda f: make_calendar(f.payments.calendar, calendars or {}),
                                  rec.deal.currency, minor_units(rec.deal.currency), rounding)
    return out


def one(deal_yaml: str, **kw):
    (s,) = schedules(deal_yaml, **kw).values()
    return s


def col(schedule, name: str) -> list[str]:
    return [str(getattr(r, name)) for r in schedule.rows]


def deal(facility: str, currency: str = "USD") -> str:
    """A deal document around one facility written as YAML (indented under facilities)."""
    body = "\n".join("    " + line for line in dedent(facility).strip().splitlines())
    return f"""\
id: t
name: test
borrower: b
currency: {currency}
facilities:
  - {body.lstrip()}
"""




def trade(text: str):
    """A trade document (SPEC §2.6) written as YAML, validated into the model."""
    from loanctl.model.documents import Trade
    doc, diags = parse(dedent(text), "trade.yaml")
    assert doc is not None, diags
    t, diags = validate(Trade, doc)
    assert t is not None, diags
    return t
