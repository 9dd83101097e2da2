"""Trade files (SPEC §2.6): `<deal>/trades/<id>.yaml`, checked against the deal and the book.

Per file: the id equals the file name (E0605), the facility exists (E0606), seller and
buyer are lenders — a `fund` or `spv` of book.yaml (E0607) — and differ (E0612), the
settlement is on or after the trade date (E0608) and inside the facility's life (E0609),
the price is positive (E0610), exactly one of `amount` and `share` is given (E0611), and the
approvals `policy.approvals` requires for the traded par are there (E0613).
Then each facility's trades are applied in (settlement_date, id) order after its
amendments (`engine.lenders.share_timeline`): the seller must hold what it sells at the
start of the settlement date (E0614), the shares must still sum to 100% (E0615), and a par
amount needs something outstanding to be a fraction of (E0616).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import PurePosixPath

from ..diagnostics import Diagnostic
from ..engine.deal import facility_timeline
from ..engine.schedule import ScheduleProblem
from ..model.records import DealRecord, LoadedBook, TradeRecord

__all__ = ["check_trades", "trade_approval_roles"]


def trade_approval_roles(book, par: Decimal) -> tuple[str, ...]:
    """The roles `policy.approvals` requires for a trade of `par` (the first rule whose
    `up_to` covers it)."""
    if book is None or not book.policy.approvals:
        return ()
    rule = next((r for r in book.policy.approvals if r.up_to is None or par <= r.up_to), None)
    return tuple(rule.require) if rule else ()


def check_trades(loaded: LoadedBook, record: DealRecord, terms: dict) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    valid: dict[str, list[TradeRecord]] = {}
    seen: dict[str, int] = {}
    for rec in record.trades:
        bad = _check_file(loaded, rec, terms)
        out += bad
        seen[rec.trade.id] = seen.get(rec.trade.id, 0) + 1
        if seen[rec.trade.id] == 2:
            out.append(rec.doc.diag("E0213", f"trade id '{rec.trade.id}' is used twice", ("id",)))
        if not any(d.is_error for d in bad):
            valid.setdefault(rec.trade.facility, []).append(rec)
    by_id = {r.trade.id: r for r in record.trades}
    for fid, recs in valid.items():
        only = DealRecord(record.deal, record.doc, record.rel, record.amendments, record.financials, recs,
                          record.events)
        try:
            tl, problems = facility_timeline(loaded, only, terms[fid])
        except ScheduleProblem:
            continue  # the deal's own diagnostics say why it cannot be scheduled
        for p in problems:
            out.append(by_id[p.trade_id].doc.diag(p.code, p.message, (p.key,), hint=p.hint))
        for move in tl.trades:
            rec = by_id[move.id]
            need = trade_approval_roles(loaded.book, move.par)
            have = {a.role for a in rec.trade.approvals if a.decision == "approved"}
            missing = [r for r in need if r not in have]
            if missing:
                out.append(rec.doc.diag("E0613", f"trade {move.id} needs approval by {', '.join(missing)} "
                                                 f"(par {move.par:,})", ("approvals",),
                                        hint=f"add {', '.join(missing)} under approvals, dated on or before "
                                             f"{rec.trade.settlement_date}"))
    return out


def _check_file(loaded: LoadedBook, rec: TradeRecord, terms: dict) -> list[Diagnostic]:
    t, doc = rec.trade, rec.doc
    out: list[Diagnostic] = []
    stem = PurePosixPath(rec.rel).stem
    if t.id != stem:
        out.append(doc.diag("E0605", f"trade id '{t.id}' differs from its file name '{stem}'", ("id",),
                            hint=f"set id: {stem}, or rename the file"))
    ft = terms.get(t.facility)
    if ft is None:
        out.append(doc.diag("E0606", f"no facility '{t.facility}' in this deal", ("facility",),
                            hint=f"facilities: {', '.join(terms) or 'none'}"))
    if loaded.book is not None:
        lenders = sorted(e.id for e in loaded.entities.values() if e.kind in ("fund", "spv"))
        for key in ("seller", "buyer"):
            who = getattr(t, key)
            e = loaded.entities.get(who)
            if e is None or e.kind not in ("fund", "spv"):
                out.append(doc.diag("E0607", f"{key} '{who}' is not a lender (a fund or spv in book.yaml)", (key,),
                                    hint=f"lenders: {', '.join(lenders) or 'none'}"))
    if t.seller == t.buyer:
        out.append(doc.diag("E0612", f"seller and buyer are both '{t.seller}'", ("buyer",),
                            hint="a trade moves a position between two different lenders"))
    if t.settlement_date < t.trade_date:
        out.append(doc.diag("E0608", f"settlement date {t.settlement_date} is before the trade date {t.trade_date}",
                            ("settlement_date",), hint="a trade settles on or after the day it is agreed"))
    if ft is not None:
        start, maturity = ft.first.facility.start_date, ft.last.facility.maturity_date
        if not start <= t.settlement_date < maturity:
            out.append(doc.diag("E0609", f"settlement date {t.settlement_date} is outside facility '{ft.id}' "
                                         f"({start} to {maturity})", ("settlement_date",),
                                hint="settle on or after the start date and before maturity"))
    if t.price <= 0:
        out.append(doc.diag("E0610", f"price {t.price} is not positive", ("price",),
                            hint="the price is a percent of par, e.g. 99.5"))
    if (t.amount is None) == (t.share is None):
        both = t.amount is not None
        out.append(doc.diag("E0611", "a trade gives its par amount or its share, not both" if both
                            else "a trade gives its par amount or its share", ("share",) if both else ("id",),
                            hint="write amount: 5000000 (par of funded principal) or share: 25% (of the facility)"))
    elif t.amount is not None and t.amount <= 0 or t.share is not None and t.share <= 0:
        key = "amount" if t.amount is not None else "share"
        out.append(doc.diag("E0611", f"the traded {key} must be positive", (key,),
                            hint="write amount: 5000000 or share: 25%"))
    return out
