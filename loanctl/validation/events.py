"""Checks of a deal's credit-event files (SPEC §2.7, §4.4): E0620–E0629.

Each event: its id equals its file name, it names a facility of the deal, it is dated inside
that facility's life, an amount only on a write-off, a cure only while a default is in
force, `accrual_restored` only while on non-accrual. With the archived payments (the ledger
supplies the principal received, like a revolver's repayments): a write-off no larger than
the carrying principal on its date, and a deal's `written_off` or `repaid` status agrees with
its events and payments (`repaid` is checked once the archive holds principal payments of
the deal: a book copied without payments/, like the demo's, cannot tell).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Callable, Sequence

from ..diagnostics import Diagnostic
from ..engine.credit import carrying, facility_events
from ..model.documents import FUNDED_OR_LATER
from ..model.records import DealRecord, LoadedBook

PrincipalPaid = Callable[[LoadedBook, str, str], Sequence[tuple[date, Decimal]]]
"""(book, deal id, facility id) → (date, amount) of the principal received on the facility,
as allocation applies the archived payments (the ledger supplies it)."""

ZERO = Decimal(0)


def check_events(loaded: LoadedBook, record: DealRecord, terms: dict, paid: PrincipalPaid | None = None
                 ) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    deal = record.deal
    lives = {fid: (ft.first.facility.start_date, ft.last.facility.maturity_date) for fid, ft in terms.items()}
    auto = bool(loaded.book is not None and loaded.book.policy.non_accrual_dpd)
    default_on: dict[str | None, bool] = {}
    non_accrual_on: dict[str | None, bool] = {}
    for r in record.sorted_events():
        e, doc = r.event, r.doc
        stem = PurePosixPath(r.rel).stem
        if e.id != stem:
            out.append(doc.diag("E0620", f"event id '{e.id}' differs from its file name '{stem}'", ("id",),
                                hint=f"set id: {stem}, or rename the file"))
        if deal.status not in FUNDED_OR_LATER:
            out.append(doc.diag("E0629", f"credit event on deal '{deal.id}', which is {deal.status}", ("type",),
                                hint="credit events concern funded loans; fund the deal first"))
        if e.facility is not None and e.facility not in terms:
            out.append(doc.diag("E0622", f"event names facility '{e.facility}', which deal '{deal.id}' does not have",
                                ("facility",), hint=f"facilities: {', '.join(terms) or 'none'}; or omit facility "
                                                    "for all of them"))
            continue
        concerned = [e.facility] if e.facility is not None else list(terms)
        if concerned:
            start = min(lives[f][0] for f in concerned)
            end = max(lives[f][1] for f in concerned)
            if not start <= e.date <= end:
                what = f"facility '{e.facility}'" if e.facility else f"deal '{deal.id}'"
                out.append(doc.diag("E0621", f"{e.type} event dated {e.date} is outside {what}'s life "
                                             f"({start} to maturity {end})", ("date",),
                                    hint="date the event on or after the start date and on or before maturity"))
        if e.amount is not None and e.type != "write_off":
            out.append(doc.diag("E0626", f"a {e.type} event has no amount (only a write_off does)", ("amount",),
                                hint="remove amount"))
        keys = [e.facility] if e.facility is not None else [None, *terms]
        if e.type == "default":
            for k in keys:
                default_on[k] = True
        elif e.type == "default_cured":
            if not any(default_on.get(k) for k in keys + [None]):
                out.append(doc.diag("E0623", f"default_cured on {e.date} without a default in force", ("type",),
                                    hint="record the default event first (loanctl event DEAL --type default)"))
            for k in keys:
                default_on[k] = False
        elif e.type == "non_accrual":
            for k in keys:
                non_accrual_on[k] = True
        elif e.type == "accrual_restored":
            if not auto and not any(non_accrual_on.get(k) for k in keys + [None]):
                out.append(doc.diag("E0624", f"accrual_restored on {e.date} without a non-accrual in force",
                                    ("type",), hint="record the non_accrual event first, or set "
                                                    "policy.non_accrual_dpd for automatic non-accrual"))
            for k in keys:
                non_accrual_on[k] = False
    if paid is not None and (any(r.event.type == "write_off" for r in record.events)
                             or deal.status in ("written_off", "repaid")):
        out += _check_balances(loaded, record, terms, paid)
    return out


def _check_balances(loaded: LoadedBook, record: DealRecord, terms: dict, paid: PrincipalPaid) -> list[Diagnostic]:
    """Write-offs against the carrying principal; `written_off` and `repaid` against the balance."""
    from ..engine.deal import schedule_builder
    from ..engine.schedule import ScheduleProblem
    out: list[Diagnostic] = []
    deal = record.deal
    build = schedule_builder(loaded, record)
    owing: list[str] = []
    partly: list[str] = []
    posted = False
    for fid, ft in terms.items():
        try:
            s = build(ft)
        except ScheduleProblem:
            return out  # reported by the schedule checks
        increases = [(d, a) for d, a in s.draws] + [(r.date, r.pik) for r in s.rows if r.pik]
        cash = list(paid(loaded, deal.id, fid))
        posted = posted or bool(cash)
        events = facility_events(record, fid)
        by_date = {(r.event.date, r.event.amount): r for r in record.sorted_events()
                   if r.event.type == "write_off" and r.event.facility in (None, fid)}
        seen = []
        for w in events.write_offs:
            before = carrying(increases, cash, seen, w.date)
            if w.amount is not None and w.amount > before.carrying:
                r = by_date[(w.date, w.amount)]
                out.append(r.doc.diag("E0625", f"write-off of {w.amount:,} on {w.date} is more than facility "
                                               f"'{fid}''s {before.carrying:,} outstanding then", ("amount",),
                                      hint=f"write off at most {before.carrying:,} (omit amount to write off "
                                           "all of it)"))
            seen.append(w)
        end = carrying(increases, cash, events.write_offs, date.max)
        if end.carrying > 0 or (deal.status == "repaid" and end.written_off > end.recoveries):
            owing.append(f"{fid} {end.carrying + end.written_off - end.recoveries:,}")
        last = events.write_offs[-1].date if events.write_offs else None
        left = carrying(increases, cash, events.write_offs, last).carrying if last else end.carrying
        if left > 0 or not events.write_offs:
            partly.append(f"{fid} {left:,}")
    if deal.status == "written_off" and partly:
        out.append(record.doc.diag("E0627", "status written_off, but not everything is written off "
                                            f"(carrying principal: {', '.join(partly)})", ("status",),
                                   hint="record a write_off event for what is left (loanctl event DEAL --type "
                                        "write_off --date D), or keep the status funded"))
    if deal.status == "repaid" and owing and posted:  # a book without its payment archive cannot tell
        out.append(record.doc.diag("E0628", f"status repaid, but principal is still owed ({', '.join(owing)})",
                                   ("status",), hint="post the repayment first, or keep the status funded"))
    return out
