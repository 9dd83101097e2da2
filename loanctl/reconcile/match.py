"""Matching a statement's credits to open dues — a pure function of the book, the posted
payments and the statement.

Open dues come from the allocation of each facility's posted payments (servicing.positions),
leaving out payments this statement itself produced (its transaction references), so running
reconcile again after posting gives the same matches and the same payments file. Each credit
is tried, in statement order, by three rules:

1. **reference** — the remittance quotes the book's payment reference (`remittance.reference`,
   default `{deal}-{date}`): the dues of that deal (and facility, if the pattern names one) on
   that date;
2. **borrower** — the remittance or payer names a borrower (id or name): the oldest payment
   date of that borrower's deals whose open dues equal the credit exactly; failing that, when
   only one of the borrower's deals has dues open, its oldest open date (partial or overpaid);
3. **tolerance** — the one deal in the credit's currency (of the named borrower, if any) with
   a payment date whose open dues are within `reconcile.tolerance` of the credit, its oldest
   such date (no deal or several: unexpected).

A due counts for a credit when it is dated up to the facility's first payment date on or after
the credit's value date (what a scheduled payment may settle, SPEC §4.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ..diagnostics import Diagnostic
from ..model.records import LoadedBook
from ..servicing.allocation import Payment
from ..servicing.positions import allocate_facility, facility_inputs
from .statement import Entry, Statement, problem

ZERO = Decimal(0)
DEFAULT_REFERENCE = "{deal}-{date}"
_FIELDS = {"deal": r"[a-z0-9][a-z0-9._-]{0,63}", "facility": r"[a-z0-9][a-z0-9._-]{0,63}",
           "borrower": r"[a-z0-9][a-z0-9._-]{0,63}", "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}"}


@dataclass(slots=True)
class FacilityDues:
    deal: str
    facility: str
    currency: str
    pay_dates: list[date]
    open: dict[date, Decimal]
    """Unpaid dues by payment date (all components)."""

    def cutoff(self, value_date: date) -> date | None:
        return next((d for d in self.pay_dates if d >= value_date), None)

    def dates_for(self, value_date: date) -> list[date]:
        cut = self.cutoff(value_date)
        return sorted(d for d, a in self.open.items() if a > 0 and (cut is None or d <= cut))


@dataclass(slots=True)
class CreditMatch:
    entry: Entry
    status: str
    """matched · partial · overpaid · unexpected"""
    rule: str = ""
    """reference · borrower · tolerance ('' when unexpected)"""
    deal: str = ""
    due_date: date | None = None
    due: Decimal = ZERO
    """The open dues the credit was matched to."""
    payments: list[Payment] = field(default_factory=list)
    facilities: list[str] = field(default_factory=list)
    """The facilities the reference names (empty: every facility of the deal)."""
    already_posted: bool = False
    """The ledger holds these payment ids: post-payments will skip them as duplicates."""
    note: str = ""

    @property
    def difference(self) -> Decimal:
        return self.entry.amount - self.due


@dataclass(frozen=True, slots=True)
class Missing:
    deal: str
    facility: str
    date: date
    amount: Decimal
    currency: str


@dataclass(slots=True)
class Reconciliation:
    statement: Statement
    tolerance: Decimal
    credits: list[CreditMatch]
    ignored: list[tuple[Entry, str]]
    missing: list[Missing]

    def payment_rows(self) -> list[Payment]:
        return [p for c in self.credits for p in c.payments]


def reference_regex(pattern: str) -> re.Pattern:
    """The book's reference pattern as a regex with named groups; other text literal, any case."""
    out, pos, seen = [], 0, set()
    for m in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        name = m.group(1)
        body = _FIELDS.get(name, r"[A-Za-z0-9._-]{1,64}")
        out.append(f"(?P<{name}>{body})" if name in _FIELDS and name not in seen else f"(?:{body})")
        seen.add(name)
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile(r"(?<![a-z0-9._-])" + "".join(out) + r"(?![a-z0-9._-])", re.IGNORECASE)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def open_dues(loaded: LoadedBook, payments: list[Payment]) -> dict[str, list[FacilityDues]]:
    """Open dues of every funded deal's facilities, by deal, facilities in the deal's order."""
    by_facility: dict[tuple[str, str], list[Payment]] = {}
    for p in payments:
        by_facility.setdefault((p.deal, p.facility), []).append(p)
    out: dict[str, list[FacilityDues]] = {}
    for deal_id, record in sorted(loaded.deals.items()):
        if record.deal.status != "funded":
            continue
        terms, builder = facility_inputs(loaded, deal_id)
        for fid in terms:
            fa = allocate_facility(loaded, deal_id, fid, by_facility.get((deal_id, fid), []), terms=terms,
                                   builder=builder)
            owed: dict[date, Decimal] = {}
            for due in fa.dues:
                owed[due.date] = owed.get(due.date, ZERO) + due.unpaid
            out.setdefault(deal_id, []).append(FacilityDues(deal_id, fid, record.deal.currency,
                                                            sorted({r.date for r in fa.schedule.rows}), owed))
    return out


def reconcile(loaded: LoadedBook, statement: Statement, posted: list[Payment]
              ) -> tuple[Reconciliation | None, list[Diagnostic]]:
    """Match the statement's credits; diagnostics (a credit in another currency) mean no result."""
    book = loaded.book
    pattern = reference_regex(book.remittance.reference if book else DEFAULT_REFERENCE)
    tolerance = book.reconcile.tolerance if book else ZERO
    own = {e.ref for e in statement.entries}
    keep = [p for p in posted if p.payment_id not in own and p.payment_id.rsplit(":", 1)[0] not in own]
    posted_ids = {p.payment_id for p in posted}
    dues = open_dues(loaded, keep)
    borrowers = _borrowers(loaded)
    currencies = {fd.currency for fds in dues.values() for fd in fds}
    credits: list[CreditMatch] = []
    ignored: list[tuple[Entry, str]] = []
    diags: list[Diagnostic] = []
    seen: dict[str, int | None] = {}
    touched: set[tuple[str, str, date]] = set()
    for e in statement.entries:
        if e.ref in seen:
            diags.append(problem("E0715", f"transaction reference {e.ref!r} appears twice in the statement "
                                 f"(first at line {seen[e.ref]})", statement.file, e.line,
                                 "each bank transaction becomes one payment_id; ask the bank for a corrected statement"))
            continue
        seen[e.ref] = e.line
        if not e.credit or not e.booked:
            ignored.append((e, "debit" if e.booked and not e.credit else "not booked (pending or reversal)"))
            continue
        match, diag = _match(e, dues, pattern, borrowers, loaded, tolerance, currencies, statement.file)
        if diag:
            diags.append(diag)
            continue
        if match.status != "unexpected":
            _book_payments(match, [fd for fd in dues[match.deal] if not match.facilities
                                   or fd.facility in match.facilities], e, touched)
            match.already_posted = all(p.payment_id in posted_ids for p in match.payments)
        credits.append(match)
    if diags:
        return None, diags
    missing = [Missing(fd.deal, fd.facility, d, amount, fd.currency)
               for fds in dues.values() for fd in fds for d, amount in sorted(fd.open.items())
               if amount > 0 and statement.start and statement.end and statement.start <= d <= statement.end
               and (fd.deal, fd.facility, d) not in touched]
    return Reconciliation(statement, tolerance, credits, ignored, missing), []


def _borrowers(loaded: LoadedBook) -> dict[str, list[str]]:
    """Borrower id → the texts that name it (id and name, normalised)."""
    out: dict[str, list[str]] = {}
    if loaded.book:
        for ent in loaded.book.entities:
            if ent.kind == "borrower":
                out[ent.id] = [t for t in (_norm(ent.id), _norm(ent.name)) if t]
    return out


def _named_borrowers(e: Entry, borrowers: dict[str, list[str]]) -> list[str]:
    text = f" {_norm(e.remittance + ' ' + e.counterparty)} "
    return sorted(b for b, names in borrowers.items() if any(f" {n} " in text for n in names))


def _total(fds: list[FacilityDues], when: date, value_date: date) -> Decimal:
    return sum((fd.open.get(when, ZERO) for fd in fds if when in fd.dates_for(value_date)), ZERO)


def _match(e: Entry, dues, pattern, borrowers, loaded, tolerance, currencies, file
           ) -> tuple[CreditMatch | None, Diagnostic | None]:
    def wrong_currency(why: str, deal_ccy: str) -> Diagnostic:
        return problem("E0714", f"entry {e.ref}: a credit of {e.currency} {e.amount} {why}, which is billed in "
                       f"{deal_ccy}", file, e.line, "only credits in the deal's currency can pay its dues")

    for m in pattern.finditer(e.remittance):
        deal = (m.groupdict().get("deal") or "").lower()
        try:
            when = date.fromisoformat(m.groupdict().get("date") or "")
        except ValueError:
            continue
        if deal not in loaded.deals:
            continue
        if loaded.deals[deal].deal.currency != e.currency:
            return None, wrong_currency(f"quotes the reference of {deal}", loaded.deals[deal].deal.currency)
        if deal not in dues:
            return CreditMatch(e, "unexpected", note=f"quotes {m.group(0)} but {deal} is not funded"), None
        facility = (m.groupdict().get("facility") or "").lower()
        fds = [fd for fd in dues[deal] if not facility or fd.facility == facility] or dues[deal]
        due = sum((fd.open.get(when, ZERO) for fd in fds), ZERO)
        match = _result(e, "reference", deal, when, due, tolerance)
        match.facilities = [fd.facility for fd in fds]
        return match, None

    named = _named_borrowers(e, borrowers)
    deals = [d for d, fds in dues.items() if loaded.deals[d].deal.borrower in named]
    if named and deals:
        same = [d for d in deals if dues[d][0].currency == e.currency]
        if not same:
            return None, wrong_currency(f"names borrower {', '.join(named)} of {deals[0]}", dues[deals[0]][0].currency)
        exact = sorted((when, d) for d in same for when in _dates(dues[d], e.date)
                       if _total(dues[d], when, e.date) == e.amount)
        if exact and len({d for _, d in exact}) == 1:
            when, deal = exact[0]
            return _result(e, "borrower", deal, when, e.amount, tolerance), None
        with_open = [d for d in same if _dates(dues[d], e.date)]
        if len(with_open) == 1:
            deal = with_open[0]
            when = _dates(dues[deal], e.date)[0]
            return _result(e, "borrower", deal, when, _total(dues[deal], when, e.date), tolerance), None
        deals = same
    elif e.currency not in currencies:
        return None, problem("E0714", f"entry {e.ref}: a credit of {e.currency} {e.amount} is in a currency no "
                             f"funded deal is billed in ({', '.join(sorted(currencies)) or 'none'})", file, e.line,
                             "only credits in a deal's currency can pay its dues")
    else:
        deals = [d for d in dues if dues[d][0].currency == e.currency]
    near = []  # per deal its oldest date within the tolerance: a deal's next quarter often owes the same
    for d in deals:
        within = [when for when in _dates(dues[d], e.date) if abs(_total(dues[d], when, e.date) - e.amount) <= tolerance]
        near += [(within[0], d)] if within else []
    if len(near) == 1:
        when, deal = near[0]
        return _result(e, "tolerance", deal, when, _total(dues[deal], when, e.date), tolerance), None
    note = f"{len(near)} dues within the tolerance: ambiguous" if near else "no reference, borrower or amount matches"
    return CreditMatch(e, "unexpected", note=note), None


def _dates(fds: list[FacilityDues], value_date: date) -> list[date]:
    return sorted({d for fd in fds for d in fd.dates_for(value_date)})


def _result(e: Entry, rule: str, deal: str, when: date, due: Decimal, tolerance: Decimal) -> CreditMatch:
    if e.amount == due or (due > 0 and abs(e.amount - due) <= tolerance):
        status = "matched"
    else:
        status = "partial" if e.amount < due else "overpaid"
    note = "" if due > 0 else f"nothing open on {when}: the cash is held unapplied"
    return CreditMatch(e, status, rule, deal, when, due, note=note)


def _book_payments(match: CreditMatch, fds: list[FacilityDues], e: Entry, touched: set) -> None:
    """Split the credit over the deal's facilities with dues on the date (in the deal's order);
    what is left goes to the last of them. One facility: the payment_id is the bank's reference;
    several: `<reference>:<facility>`."""
    when = match.due_date
    open_fds = [fd for fd in fds if fd.open.get(when, ZERO) > 0] or fds[:1]
    left = e.amount
    parts: list[tuple[FacilityDues, Decimal]] = []
    for i, fd in enumerate(open_fds):
        take = left if i == len(open_fds) - 1 else min(left, fd.open.get(when, ZERO))
        if take > 0:
            parts.append((fd, take))
            left -= take
    for fd, take in parts:
        fd.open[when] = max(fd.open.get(when, ZERO) - take, ZERO)
        touched.add((fd.deal, fd.facility, when))
        pid = e.ref if len(parts) == 1 else f"{e.ref}:{fd.facility}"
        match.payments.append(Payment(pid, fd.deal, fd.facility, e.date, take, e.currency, "scheduled", e.statement_ref))
