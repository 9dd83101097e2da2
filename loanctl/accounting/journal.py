"""The book's journal (SPEC §9): every lender position's entries, to the accounts of book.yaml.

Loan accounts are per position (`<account>:<Lender>:<Deal>:<Facility>`), cash, income and
opening-balance accounts per lender (`<account>:<Lender>`); an id becomes an account
component with a capital first letter and `.`/`_` as `-` (two ids meeting there is E0802).
A journal starting after the first entry (`start`) opens with one entry per position that
brings its balances forward, income to date going to the opening-balance (equity) account.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable

from ..engine.lenders import timeline_of
from ..diagnostics import Diagnostic, DiagnosticError
from ..model.documents import FUNDED_OR_LATER, Accounts
from ..model.records import LoadedBook
from ..reports.build import resolve_scope
from ..servicing.allocation import Payment
from ..servicing.positions import allocate_facility, facility_inputs
from .periods import period_ends
from .projections import facility_projections
from .position import Balance, Entry, Posting, position_books

LENDER_ROLES = ("cash", "interest_income", "fee_income", "pik_income", "losses", "opening", "unrealized_gains",
                "recoveries", "realized_gains")
BALANCE_SHEET = ("Assets", "Liabilities", "Equity")


@dataclass
class Journal:
    book: str
    scope: str
    start: date | None
    end: date
    period: str
    entries: list[Entry] = field(default_factory=list)
    balances: list[Balance] = field(default_factory=list)
    """loanctl's outstanding principal and amortized cost per position at each period end."""
    warnings: list[Diagnostic] = field(default_factory=list)

    def accounts(self) -> list[str]:
        return sorted({p.account for e in self.entries for p in e.postings})

    def currencies(self) -> list[str]:
        return sorted({e.currency for e in self.entries})


def component(ident: str) -> str:
    """An id as a Beancount account component: `fund-i.b_2` → `Fund-i-b-2`."""
    text = ident.replace(".", "-").replace("_", "-")
    return text[:1].upper() + text[1:]


PARALLEL_FROM = 200
"""Deals: below this the journal is worked in this process (starting workers costs more)."""
CHUNK_MIN = 20
"""Deals: the smallest chunk a worker is given."""


def build_journal(loaded: LoadedBook, payments: Iterable[Payment], end: date, start: date | None = None,
                  fund: str | None = None, period: str = "month", workers: int | None = None) -> Journal:
    """The journal of every funded position (of `fund` and its SPVs, or the whole book) up to
    `end`; entries before `start` are brought forward as opening balances. Raises
    `reports.build.ScopeProblem` for an unknown fund, DiagnosticError on account collisions.
    A book of `PARALLEL_FROM` funded deals or more is worked by `workers` forked processes
    (default: the CPUs, at most 4), each a chunk of deals, merged in deal order: the same
    journal as one process makes."""
    book = loaded.book
    scope = resolve_scope(loaded, fund=fund) if fund else None
    lenders_in_scope = set(scope.lenders) if scope else None
    method = book.policy.fee_amortization if book else "effective_interest"
    mode = book.rounding if book else "half_up"
    accounts = book.accounts if book else Accounts()
    journal = Journal(book.name if book else "", scope.name if scope else "whole book", start, end, period)
    by_facility: dict[tuple[str, str], list[Payment]] = defaultdict(list)
    for p in payments:
        if p.date <= end:
            by_facility[(p.deal, p.facility)].append(p)

    deal_ids = [d for d, r in sorted(loaded.deals.items()) if r.deal.status in FUNDED_OR_LATER]
    job = _Job(loaded, by_facility, end, start, lenders_in_scope, method, mode, accounts, period,
               facility_marks(loaded, end))
    n = workers if workers is not None else min(os.cpu_count() or 1, 4)
    results = _run_parallel(job, deal_ids, n) if n > 1 and len(deal_ids) >= PARALLEL_FROM else job.run(deal_ids)
    names = _Names()
    for deal_id, fid, lender, _, _, _ in results:
        names.add(lender, deal_id, fid)
    names.check()
    for _, _, _, entries, balances, warnings in results:
        journal.warnings += warnings
        journal.entries += entries
        journal.balances += balances
    journal.entries.sort(key=lambda e: e.date)  # stable: each position's own order within a day
    journal.balances.sort(key=lambda b: (b.date, b.deal, b.facility, b.lender))
    return journal


@dataclass
class _Job:
    """What every position's books need; `run` works a list of deals in this process."""

    loaded: LoadedBook
    by_facility: dict
    end: date
    start: date | None
    lenders_in_scope: set | None
    method: str
    mode: str
    accounts: Accounts
    period: str
    marks: dict

    def run(self, deal_ids: list[str]) -> list[tuple]:
        """(deal, facility, lender, entries, balances, warnings) of each position, in deal order."""
        loaded, end, start = self.loaded, self.end, self.start
        out = []
        for deal_id in deal_ids:
            terms, builder = facility_inputs(loaded, deal_id, end)
            for fid in terms:
                paid = self.by_facility.get((deal_id, fid), [])
                fa = allocate_facility(loaded, deal_id, fid, paid, end, terms=terms, builder=builder)
                s = fa.schedule
                if s.rows[0].date > end:
                    continue
                lenders: list[str] = []
                for name in timeline_of(s).order:  # every lender that held a part, trade buyers included
                    if self.lenders_in_scope is None or name in self.lenders_in_scope:
                        lenders.append(name)
                if not lenders:
                    continue
                projections = facility_projections(loaded, deal_id, fa, paid, end) \
                    if self.method == "effective_interest" else []
                own_ends = period_ends(s.rows[0].date, end, self.period)
                own_marks = {d: p for d, p in self.marks.get((deal_id, fid), {}).items() if d >= s.rows[0].date}
                cuts = sorted(set(own_ends) | {r.date for r in s.rows if r.date <= end} | set(own_marks))
                if start is not None:  # before `start` only the cumulative state on its eve matters
                    eve = start - timedelta(days=1)
                    cuts = sorted({d for d in own_marks if d < eve} | ({eve} if eve >= s.rows[0].date else set())
                                  | {c for c in cuts if c >= start})  # a mark's adjustment depends on its own date
                shown = {e for e in own_ends if start is None or e >= start}
                shared: dict = {}
                for lender in lenders:
                    acc = _position_accounts(self.accounts, lender, deal_id, fid)
                    books = position_books(fa, deal_id, lender, acc, cuts, shown, end, self.method, self.mode,
                                           own_marks, projections, shared, fold_before=start)
                    entries = books.entries
                    if start is not None:
                        opening = _opening(books.folded, books.folded_zero, start, acc["opening"], deal_id, fid,
                                           lender, s.currency)
                        entries = ([opening] if opening else []) + entries
                    out.append((deal_id, fid, lender, entries, books.balances, books.warnings))
        return out


_WORKER_JOB: _Job | None = None  # the job a forked worker inherits


def _run_chunk(deal_ids: list[str]) -> list[tuple]:
    return _WORKER_JOB.run(deal_ids)


def _run_parallel(job: _Job, deal_ids: list[str], workers: int) -> list[tuple]:
    """`job.run(deal_ids)` by forked worker processes, a chunk of deals each, in deal order."""
    import multiprocessing
    global _WORKER_JOB
    size = max(CHUNK_MIN, len(deal_ids) // (workers * 8))
    chunks = [deal_ids[i:i + size] for i in range(0, len(deal_ids), size)]
    _WORKER_JOB = job
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return [r for part in pool.imap(_run_chunk, chunks) for r in part]
    finally:
        _WORKER_JOB = None


def facility_marks(loaded: LoadedBook, end: date) -> dict[tuple[str, str], dict[date, Decimal]]:
    """Each facility's marks (price, % of par) by date, up to `end`."""
    out: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    for mf in loaded.marks:
        if mf.date <= end:
            for m in mf.marks:
                out[(m.deal, m.facility)][mf.date] = m.price
    return out


def _position_accounts(accounts: Accounts, lender: str, deal: str, facility: str) -> dict[str, str]:
    out = {}
    for role, base in accounts.model_dump().items():
        if role in LENDER_ROLES:
            out[role] = f"{base}:{component(lender)}"
        else:
            out[role] = f"{base}:{component(lender)}:{component(deal)}:{component(facility)}"
    return out


def _opening(folded: dict[str, Decimal], zero: Decimal | None, start: date, equity: str, deal: str, facility: str,
             lender: str, currency: str) -> Entry | None:
    """One entry bringing a position's balances forward to the day before `start`, from the
    net per account of its entries before `start` (`zero`: at the first posting's exponent)."""
    if zero is None:
        return None
    net: dict[str, Decimal] = defaultdict(Decimal)
    for account, x in folded.items():
        net[account if account.split(":")[0] in BALANCE_SHEET else equity] += x
    postings = tuple(Posting(a, x + zero) for a, x in sorted(net.items()) if x)
    if not postings:
        return None
    return Entry(start - timedelta(days=1), "opening", "balances brought forward", deal, facility, lender, currency,
                 postings)


class _Names:
    """Every id's account component, checked for two ids meeting on one (E0802)."""

    def __init__(self) -> None:
        self.seen: dict[tuple, set[str]] = defaultdict(set)

    def add(self, lender: str, deal: str, facility: str) -> None:
        self.seen[("lender", component(lender))].add(lender)
        self.seen[("deal", component(deal))].add(deal)
        self.seen[("facility", deal, component(facility))].add(facility)

    def check(self) -> None:
        clashes = [(key, sorted(ids)) for key, ids in sorted(self.seen.items()) if len(ids) > 1]
        if clashes:
            raise DiagnosticError([Diagnostic(
                "E0802", f"{key[0]} ids {' and '.join(repr(i) for i in ids)} give the same journal account "
                         f"component '{key[-1]}'",
                hint="rename one of them: account names keep letters, digits and dashes only ('.' and '_' become '-')")
                for key, ids in clashes])
