"""One lender position's accounting (SPEC §9): its journal entries and, at each period end,
its outstanding principal and amortized cost.

Input is the facility's allocation (`servicing.allocation.FacilityAllocation`: the schedule
with prepayments applied, its dues and the payments' allocations); the lender's part of a
facility figure is always `engine.lenders.lender_part` with the shares in force. Balances
the lender holds are split as balances, never as sums of split flows, so they agree with
`servicing.positions.lender_position` to the cent and the lenders' parts add up to the
facility's exactly:
- principal: each principal event moves the lender's principal to its part of the
  facility's new balance (draws, PIK capitalised, principal and prepayments received, and a
  participation change, posted as a transfer at par);
- a due paid in pieces: each receipt moves the lender's cumulative receipt on that due to its
  part of the facility's cumulative receipt;
- income: the lender's cumulative income to a date is its part of each due recognised so
  far plus its part of the facility's accrual to the date (rounded once), and each period
  posts the difference.

Cash follows the allocation (§4.3): an upfront fee netted at closing is a fee received on
the start date (the lender funds par less the fee); a payment's cash comes in on its date,
what settles nothing credited to unapplied cash; unapplied cash applied to a due on a later
date (`Allocation.on`) moves from unapplied to that due, no cash; prepayments and
repayments are principal; a reversed payment and its reversal are not cash at all. Interest
on overdue principal is interest: accrued as positions accrue it, due on the row's date.

Accrual to a date E follows positions (§4.4): from the accrual period's start to E, E
excluded. Events of one day post in this order: participation change, draws, fees due,
the upfront fee netted, PIK capitalised, payments, then the day's accrual and amortization.

Default interest (§3.3) is interest: accrued as positions accrue it
(`servicing.credit.credit_fields`, rounded once per date), then due as allocation creates
its dues, received against interest receivable.

Credit events (§2.7, §9), from `servicing.credit`:
- non-accrual [a, b) (`non_accrual_history`; a write-off of the whole balance starts one
  too): the accrual at `a` (days before `a`) is recognised, then the interest and PIK
  receivable (accrued and unpaid, past due included) is reversed out of income. Cuts in
  (a, b] recognise no interest, PIK, commitment fee or fee amortization. Cash received then
  on interest and fees (and PIK capitalised then) goes to the cost-recovery account (a
  contra-asset: amortized cost falls), never below an amortized cost of zero; beyond it, it
  is a recovery. A fixed fee falling due in [a, b) is not recognised (no receivable, no
  income): cash applied to it goes to cost recovery like interest (on or before `b`), or is
  fee income when received after the restoration; cash on a due's booked fees (upfront,
  exit) settles their receivable first. On restoration (`b`) recognition resumes from `b`: what was applied to cost
  stays applied (it is not reinstated as income), the effective rate is re-solved
  prospectively from the fee recognised by then (`_resolve`; straight line, or no rate: the
  rest spread in proportion to the curve from `b`), and interest cash later received beyond the interest receivable
  (interest of the non-accrual days) is interest income when received.
- write-off (`principal_history`: dated amounts, PIK capitalised after a full write-off
  written off as it comes): principal is carried as positions carry it (legal balance −
  written off + recovered); at the write-off the same fraction of the unamortized fee,
  the accreted exit fee and the cost recovery leaves with the principal, the loss being
  that amortized cost. Principal cash on written-off principal is a recovery (income).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Iterable

from ..conventions.rounding import money_rounder, round_money
from ..diagnostics import Diagnostic
from ..conventions.split import share_weights, split_by_weights
from ..engine.credit import in_span
from ..engine.lenders import row_weights, timeline_of
from ..servicing.allocation import (DEFAULT_INTEREST, OVERDUE_INTEREST, PRINCIPAL_COMPONENTS, FacilityAllocation,
                                    overdue_interest)
from ..servicing.credit import credit_fields, non_accrual_history, principal_history
from .amortization import (Curve, effective_interest_curve, purchase_curve, reforecast, split_recognised,
                           straight_line_curve, straight_line_purchase)

ZERO = Decimal(0)
ONE = Decimal(1)
ROLES = ("cash", "principal", "interest_receivable", "pik_receivable", "fees_receivable", "accreted_fees",
         "deferred_fees", "unapplied", "interest_income", "fee_income", "pik_income", "fair_value_adjustment",
         "unrealized_gains", "cost_recovery", "recoveries", "losses", "realized_gains")
_ORDER = {"transfer": 0, "draw": 1, "fees": 2, "prepayment fee": 2, "netted": 3, "pik": 4,
          "payment": 5, "write_off": 6, "cut": 7}
_TRACKED = frozenset({"interest_receivable", "pik_receivable", "fees_receivable", "cost_recovery"})
"""The roles whose balance the books read back (`_Books.bal`)."""
NOT_CASH = ("reversed", "reversal")
"""Allocation rows of a reversed payment and of its reversal: on record, never cash."""


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: Decimal
    """Positive: debit; negative: credit."""

    def __reduce__(self):  # pickled as its fields (the journal's worker processes send many)
        return Posting, (self.account, self.amount)


def entry_from_fields(ordinal: int, kind: str, narration: str, deal: str, facility: str, lender: str, currency: str,
                      accounts: tuple[str, ...], amounts: str, ref: str) -> "Entry":
    """An entry as `Entry.__reduce__` pickles it: its date as an ordinal and its postings as
    the accounts and the amounts' text (one string; a Decimal's text gives it back exactly)."""
    return Entry(date.fromordinal(ordinal), kind, narration, deal, facility, lender, currency,
                 tuple(map(Posting, accounts, map(Decimal, amounts.split(" ")))), ref)


@dataclass(frozen=True, slots=True)
class Entry:
    date: date
    kind: str
    """draw · transfer · fees due · fee · fee netted · pik capitalised · payment · unapplied applied ·
    accrual · amortization · opening"""
    narration: str
    deal: str
    facility: str
    lender: str
    currency: str
    postings: tuple[Posting, ...]
    ref: str = ""
    """The payment id of a payment entry."""

    def __reduce__(self):  # compact: the journal's worker processes send many (`entry_from_fields`)
        postings = self.postings
        return entry_from_fields, (self.date.toordinal(), self.kind, self.narration, self.deal, self.facility,
                                   self.lender, self.currency, tuple([p.account for p in postings]),
                                   " ".join([str(p.amount) for p in postings]), self.ref)


@dataclass(frozen=True, slots=True)
class Balance:
    """loanctl's figures of one lender position at a period end (after that day's entries)."""

    date: date
    deal: str
    facility: str
    lender: str
    currency: str
    outstanding_principal: Decimal
    unamortized_fees: Decimal
    """Upfront fee / OID deferred, not yet amortized."""
    accreted_exit_fees: Decimal
    """Exit fee accreted, not yet due."""
    fair_value_adjustment: Decimal = ZERO
    """Fair value less amortized cost at the latest mark on or before the date (0: never marked)."""
    cost_recovery: Decimal = ZERO
    """Cash applied to amortized cost under non-accrual (≤ 0: a contra-asset)."""

    def __reduce__(self):  # compact, as an entry (`balance_from_fields`)
        return balance_from_fields, (self.date.toordinal(), self.deal, self.facility, self.lender, self.currency,
                                     f"{self.outstanding_principal} {self.unamortized_fees} {self.accreted_exit_fees} "
                                     f"{self.fair_value_adjustment} {self.cost_recovery}")

    @property
    def amortized_cost(self) -> Decimal:
        return self.outstanding_principal - self.unamortized_fees + self.accreted_exit_fees + self.cost_recovery


def balance_from_fields(ordinal: int, deal: str, facility: str, lender: str, currency: str, amounts: str) -> Balance:
    """A balance as `Balance.__reduce__` pickles it (its five amounts as one text)."""
    return Balance(date.fromordinal(ordinal), deal, facility, lender, currency, *map(Decimal, amounts.split(" ")))


# Posting and Entry built without the dataclass `__init__` (the books post hundreds of
# thousands): a frozen dataclass sets each field by `object.__setattr__`; these set the
# slots through their descriptors — the same object.
_new = object.__new__
_SET_POSTING = tuple(getattr(Posting, name).__set__ for name in Posting.__slots__)
_SET_ENTRY = tuple(getattr(Entry, name).__set__ for name in Entry.__slots__)


_SET_ACCOUNT, _SET_AMOUNT = _SET_POSTING
(_SET_DATE, _SET_KIND, _SET_NARRATION, _SET_DEAL, _SET_FACILITY, _SET_LENDER, _SET_CURRENCY, _SET_POSTINGS,
 _SET_REF) = _SET_ENTRY


def _posting(account: str, amount: Decimal) -> Posting:
    p = _new(Posting)
    _SET_ACCOUNT(p, account)
    _SET_AMOUNT(p, amount)
    return p


def _entry(on: date, kind: str, narration: str, deal: str, facility: str, lender: str, currency: str,
           postings: tuple[Posting, ...], ref: str) -> Entry:
    """An `Entry` of its fields in order (all nine)."""
    e = _new(Entry)
    _SET_DATE(e, on)
    _SET_KIND(e, kind)
    _SET_NARRATION(e, narration)
    _SET_DEAL(e, deal)
    _SET_FACILITY(e, facility)
    _SET_LENDER(e, lender)
    _SET_CURRENCY(e, currency)
    _SET_POSTINGS(e, postings)
    _SET_REF(e, ref)
    return e


@dataclass
class PositionBooks:
    entries: list[Entry]
    balances: list[Balance]
    warnings: list[Diagnostic]
    curve: Curve | None
    folded: dict[str, Decimal] | None = None
    """With `fold_before`: the net per account of the entries before it (not in `entries`)."""
    folded_zero: Decimal | None = None
    """0 at the exponent of the first posting folded; None when nothing was folded."""


def position_books(fa: FacilityAllocation, deal: str, lender: str, accounts: dict[str, str], cuts: list[date],
                   period_ends: set[date], last: date, method: str = "effective_interest",
                   rounding: str = "half_up", marks: dict[date, Decimal] | None = None,
                   projections: list | None = None, shared: dict | None = None,
                   fold_before: date | None = None) -> PositionBooks:
    """The lender's entries up to `last` (accrual and amortization at every date of `cuts`,
    which includes each payment date) and its balances at `period_ends`. `marks`: the
    facility's price (% of par) by mark date, each date also in `cuts`: there the fair-value
    adjustment moves to fair value − amortized cost, through unrealized gains. `projections`:
    [(funding date, the schedule projected at funding), (change date, the schedule projected
    then), …] when an amendment, trade or prepayment changed the projected flows: the
    effective rate is solved on the first and re-solved prospectively on each later one.
    `fold_before`: entries dated before it are not returned, only their net per account
    (`PositionBooks.folded`)."""
    books = _Books(fa, deal, lender, accounts, rounding)
    books.fold_before = fold_before
    books.marks = marks or {}
    books.projections = projections or []
    if shared is not None:  # the lenders of one facility (same allocation) share its accruals
        books.shared = shared
    return books.run(cuts, period_ends, last, method)


def deferred_fees_on(fa: FacilityAllocation, deal: str, lender: str, on: date, method: str = "effective_interest",
                     rounding: str = "half_up", projections: list | None = None) -> tuple[Decimal, Decimal]:
    """(unamortized upfront fee/OID, accreted exit fee not yet due) of the lender on `on`, as
    `position_books` carries them at a cut on `on` — from the curve alone, no entries: amortized
    cost = the lender's outstanding principal − the first + the second."""
    if needs_run(fa, on):
        got = credit_carrying(fa, deal, lender, on, method, rounding, projections)
        return got.unamortized_fees, got.accreted_exit_fees
    books = _Books(fa, deal, lender, {}, rounding)
    books.projections = projections or []
    books.fees_by_row = books._fee_parts()
    books.upfront = sum((u for u, _, _ in books.fees_by_row.values()), books.zero)
    curve = books._curve(method)
    if curve is None:
        return books.zero, books.zero
    up, ex = split_recognised(curve.at(on), curve.total, books.upfront, books.r)
    due = sum((books.fees_by_row[i][1] for i, row in enumerate(fa.schedule.rows)
               if row.date <= on and i in books.fees_by_row), books.zero)
    return books.upfront - up, ex - due


def needs_run(fa: FacilityAllocation, on: date) -> bool:
    """Whether the facility's amortized cost on `on` needs its books run (not the curve
    alone): credit events, trades, or an automatic non-accrual by then."""
    return bool(fa.credit.events.events or timeline_of(fa.schedule).trades or
                (fa.credit.non_accrual_dpd and non_accrual_history(fa, on)))


def credit_carrying(fa: FacilityAllocation, deal: str, lender: str, on: date, method: str = "effective_interest",
                    rounding: str = "half_up", projections: list | None = None) -> Balance:
    """The lender's balances on `on` as the journal carries them, by running its books to `on`
    (a facility with credit events: non-accrual and write-offs depend on its cash)."""
    acc = {role: role for role in ROLES}
    books = position_books(fa, deal, lender, acc, [on] if on >= fa.schedule.rows[0].date else [], {on}, on,
                           method, rounding, projections=projections)
    if books.balances:
        return books.balances[-1]
    zero = round_money(ZERO, fa.schedule.digits)
    return Balance(on, deal, fa.schedule.facility_id, lender, fa.schedule.currency, zero, zero, zero)


def fair_value(price: Decimal, principal: Decimal, digits: int, rounding: str = "half_up") -> Decimal:
    """price (% of par) × outstanding principal / 100, rounded once (SPEC §9)."""
    return round_money(price * principal / 100, digits, rounding)


def index_at_inception(rows, on: date | None = None) -> Decimal | None:
    """The index (all-in rate less spread) of the period containing `on` (default: the first
    period); None for a fixed-rate facility."""
    for row in rows[1:]:
        if row.rate is not None and (on is None or on < row.date):
            return None if row.spread is None else row.rate - row.spread
    return None


def projected_interest(row, index0: Decimal | None) -> Decimal:
    """A row's interest as projected for fee and discount amortization (SPEC §9): for a
    floating-rate row, at the index in effect at inception plus the row's own spread — the
    cash flows are those of the contract, the index held constant (ASC 310-20-35-20; IFRS 9
    re-estimates instead). Otherwise (fixed rate, no rate, a zero rate) the row's interest.
    Unrounded: the projection is a yield, not money owed."""
    if index0 is None or row.rate is None or row.spread is None or not row.rate or not row.interest:
        return row.interest
    return row.interest * (index0 + row.spread) / row.rate


_PROJECTED = object()
"""The key (with a schedule's id), in a facility's shared dict, of the schedule's rows as
`_Books._projection` reads them (the schedule kept, so that its id stays its own)."""
_PROJECTED_PARTS = object()
"""The key (with a schedule's id), in a facility's shared dict, of each figure of `_PROJECTED`'s
rows split among the lenders (`_Books._row_parts`)."""
_EVENTS = object()
"""The key, in a facility's shared dict, of its events but the cuts (`_Books._facility_events`)."""
_SPLITS = object()
"""The key, in a facility's shared dict, of its splits: `id(shares)` → its `_Split` — shares
objects are reused (timelines, `row_weights`), so an amount is split once per facility for all
its lenders, found by identity (no shares tuple hashed)."""


class _Split:
    """One shares object's splits (in a facility's shared dict): the lenders' positions in it,
    its integer weights (`conventions.split.share_weights`, found at the first split) and
    each amount's parts."""

    __slots__ = ("shares", "index", "whole_to", "weights", "memo")

    def __init__(self, shares):
        self.shares = shares  # kept, so that its id stays its own
        self.index = {n: i for i, (n, _) in enumerate(shares)}
        self.whole_to = shares[0][0] if len(shares) == 1 and shares[0][1] == 1 else None
        """The lender holding all of it (its part of any amount is the amount), if one does."""
        self.weights: tuple | None = None
        self.memo: dict[Decimal, list[Decimal]] = {}

    def parts(self, amount: Decimal, digits: int) -> list[Decimal]:
        """The amount's parts, one a lender in the shares' order (split once per amount)."""
        got = self.memo.get(amount)
        if got is None:
            if self.weights is None:
                self.weights = share_weights([x for _, x in self.shares])
            got = self.memo[amount] = split_by_weights(amount, *self.weights, digits)
        return got


class _Books:
    def __init__(self, fa: FacilityAllocation, deal: str, lender: str, accounts: dict[str, str], rounding: str):
        self.fa, self.deal, self.lender, self.acc = fa, deal, lender, accounts
        s = self.s = fa.schedule
        self.digits, self.mode = s.digits, rounding
        self.r = money_rounder(s.digits, rounding)
        """`round_money` at the facility's digits and the book's mode."""
        self.zero = round_money(ZERO, s.digits)
        self.row_dates = [r.date for r in s.rows]
        self.entries: list[Entry] = []
        self.balances: list[Balance] = []
        self.warnings: list[Diagnostic] = []
        self.marks: dict[date, Decimal] = {}
        self.fv_adjustment = self.zero
        self.projections: list = []
        self.shared: dict = {}
        """Whole-facility figures by date, the same for every lender of the facility."""
        self.mine: dict[int, tuple] = {}
        """`id(shares)` → (its `_Split`, the lender's index in it or None, whether it holds all)."""
        self.fold_before: date | None = None
        """Entries dated before it are not kept: their postings are netted per account (`folded`)."""
        self.folded: dict[str, Decimal] = {}
        self.folded_zero: Decimal | None = None
        """0 at the exponent of the first posting folded (the opening entry's amounts carry it)."""
        self.bal: dict[str, Decimal] = {}
        """The position's balance per role of `_TRACKED` (debit positive), as posted."""
        self.principal_dues = [d for d in fa.dues if d.component == "principal"]
        self.timeline = timeline_of(s)
        self.sole = all(len(sh) == 1 and sh[0][0] == lender and sh[0][1] == 1 for _, sh in self.timeline.changes)
        """The lender holds the whole facility throughout: its part of any amount is the amount."""

    # -- helpers ---------------------------------------------------------------------------
    def shares_on(self, on: date):
        """The shares in force on a date: amendments and trades (`engine.lenders`)."""
        return self.timeline.shares_on(on)

    def _mine(self, shares) -> tuple[_Split, int | None, bool]:
        """(the facility's `_Split` of `shares`, the lender's index in them or None, whether it holds all)."""
        mine = self.mine.get(id(shares))
        if mine is None:
            splits = self.shared.setdefault(_SPLITS, {})
            got = splits.get(id(shares))
            if got is None:  # the shares object is kept in the entry, so its id stays its own
                got = splits[id(shares)] = _Split(shares)
            mine = self.mine[id(shares)] = (got, got.index.get(self.lender), got.whole_to == self.lender)
        return mine

    def part(self, amount: Decimal, shares) -> Decimal:
        if self.sole:
            return amount  # a sole lender's part is the whole amount
        mine = self.mine.get(id(shares))
        if mine is None:
            mine = self._mine(shares)
        got, i, whole = mine
        if whole:
            return amount
        if not amount:
            return self.zero
        parts = got.parts(amount, self.digits)  # split even for a lender not in the shares: bad shares raise
        return self.zero if i is None else parts[i]

    def post(self, on: date, kind: str, narration: str, legs: list[tuple[str, Decimal]], ref: str = "") -> None:
        merged: dict[str, Decimal] = {}
        get = merged.get
        bal, acc, zero = self.bal, self.acc, self.zero
        for role, amount in legs:
            if amount:
                account = acc[role]
                x = get(account)
                merged[account] = zero + amount if x is None else x + amount
                if role in _TRACKED:
                    x = bal.get(role)
                    bal[role] = zero + amount if x is None else x + amount
        if not merged:
            return
        assert not sum(merged.values()), (kind, merged)
        if self.fold_before is not None and on < self.fold_before:  # only its net is wanted
            folded = self.folded
            for account, x in merged.items():
                if x:
                    if self.folded_zero is None:
                        self.folded_zero = x * 0
                    folded[account] = folded.get(account, ZERO) + x
            return
        postings = tuple([_posting(a, x) for a, x in merged.items() if x])
        if postings:
            self.entries.append(_entry(on, kind, narration, self.deal, self.s.facility_id, self.lender,
                                       self.s.currency, postings, ref))

    # -- the run ---------------------------------------------------------------------------
    def run(self, cuts: list[date], period_ends: set[date], last: date, method: str) -> PositionBooks:
        s = self.s
        self.fees_by_row = self._fee_parts()
        self.upfront = sum((u for u, _, _ in self.fees_by_row.values()), self.zero)
        self.curve = self._curve(method)
        self.balance_whole = ZERO
        self.principal = self.zero
        self.held = self.zero
        self.pik_capitalised = self.zero
        self.exit_due = self.zero
        self.paid_whole: dict[tuple, Decimal] = {}
        self.paid_part: dict[tuple, Decimal] = {}
        self.income = (self.zero, self.zero, self.zero)  # (interest, PIK, commitment fee) recognised
        self.recognised = (self.zero, self.zero)
        self.written_fees = (self.zero, self.zero)  # (upfront, exit) written off or sold
        self.restored_on: date | None = None  # the last cut of a non-accrual span, until the next
        self.method = method
        self.trades = [t for t in self.timeline.trades if self.lender in (t.buyer, t.seller)]
        self.purchases: list[_Purchase] = []
        self.anchor = None  # (upfront, exit recognised, Y) where the curve was re-spread
        self.spans: list[tuple[date, date | None]] = []
        self.written_whole = self.recovered_whole = ZERO
        self.recovery_left: dict[date, Decimal] = {}
        self.recovered_part = self.zero
        self.write_offs: list[tuple[date, Decimal]] = []
        self.fees_unbooked: dict[date, tuple[Decimal, Decimal]] = {}
        """due date → (booked fees of the due left to receive, fixed fees not recognised left)"""
        credit = self.fa.credit
        if credit.events.events or credit.non_accrual_dpd:
            self.spans = non_accrual_history(self.fa, last)
            if credit.events.write_offs:
                c = principal_history(self.fa, last)
                self.write_offs = list(c.write_offs)
                for d, a in c.recovered:
                    self.recovery_left[d] = self.recovery_left.get(d, ZERO) + a
                full = [e.date for e in credit.events.write_offs if e.amount is None and e.date <= last]
                if full:
                    self.spans = _union(self.spans + [(full[0], None)])
        # default interest (§3.3) is interest: its dues as created (cumulative lender parts by
        # date) and, between them, what is accrued as positions accrue it
        self.default_dates: list[date] = []
        self.default_cum: list[Decimal] = [self.zero]
        for due in sorted((d for d in self.fa.dues if d.component == DEFAULT_INTEREST and d.amount),
                          key=lambda d: d.date):
            self.default_dates.append(due.date)
            self.default_cum.append(self.default_cum[-1] + self.part(due.amount, self.shares_on(due.date)))
        self.due_interest, self.due_cfee = [self.zero], [self.zero]  # [k]: Σ of the lender's dues of rows[1:k]
        overdue: dict[date, Decimal] = {}  # interest on overdue principal, due on a row's date
        for due in self.fa.dues:
            if due.component == "interest" and due.kind == OVERDUE_INTEREST:
                overdue[due.date] = overdue.get(due.date, ZERO) + due.amount
        sole = self.sole  # (a sole lender's part needs no weights)
        for i, row in enumerate(s.rows):
            interest = row.interest + overdue.get(row.date, ZERO) if overdue else row.interest + ZERO
            self.due_interest.append(self.due_interest[-1] + (
                self.part(interest, None if sole else row_weights(s, row.date, "interest")) if i else ZERO))
            self.due_cfee.append(self.due_cfee[-1] + (
                self.part(row.commitment_fee, None if sole else row_weights(s, row.date, "commitment_fee"))
                if i else ZERO))
        fold = self.fold_before
        # before `fold_before` a payment (on its own date, no credit events) is only summed
        # (`_defer`), its entry's net posted with the next event's (`_flush`)
        defer = fold is not None and not self.spans and not self.recovery_left
        self.deferred: _Deferred | None = None
        for on, kind, _, item in self._events(cuts, last):
            if kind == "payment":  # the commonest first
                if defer and on < fold and on == item[1][0].payment_date:
                    self._defer(on, item)
                    continue
                if self.deferred is not None:
                    self._flush()
                self._payment(on, item)
                continue
            if self.deferred is not None:
                self._flush()
            if kind == "cut":
                self._cut(on, period_ends)
            elif kind == "transfer":
                before = self.principal
                mv, held = self._move(ZERO, on)
                mine = [t for t in self.trades if t.settlement_date == on]
                if not mine:
                    self.post(on, "transfer", "participation transferred at par",
                              [("principal", mv), ("unapplied", -held), ("cash", held - mv)])
                else:
                    self._trade(on, mine, before, mv, held)
            elif kind == "draw":
                mv, held = self._move(item, on)
                self.post(on, "draw", "draw funded", [("principal", mv), ("unapplied", -held), ("cash", held - mv)])
            elif kind == "fees":
                upfront, exit_fee, other = self.fees_by_row[item]
                self.exit_due += exit_fee
                if other and self.spans and in_span(self.spans, on) is not None:
                    # non-accrual: a fixed fee falling due is not recognised (no receivable);
                    # cash later applied to it is cost recovery, or income after restoration
                    self.fees_unbooked[s.rows[item].date] = (upfront + exit_fee, other)
                    other = self.zero
                self.post(on, "fees due", "fees due: upfront deferred, exit accreted, other recognised",
                          [("fees_receivable", upfront + exit_fee + other), ("deferred_fees", -upfront),
                           ("accreted_fees", -exit_fee), ("fee_income", -other)])
            elif kind == "prepayment fee":
                amount = self.part(item.amount, self.shares_on(on))
                self.post(on, "fee", "prepayment fee due", [("fees_receivable", amount), ("fee_income", -amount)])
            elif kind == "netted":
                got = self._receive((item.date, "fees"), item.amount)
                self.post(on, "fee netted", "upfront fee netted from the funding (par funded less the fee)",
                          [("cash", got), ("fees_receivable", -got)])
            elif kind == "pik":
                mv, held = self._move(item, on)
                self.pik_capitalised += mv - held
                # under non-accrual PIK was not recognised: capitalised, it adds no amortized cost
                self.post(on, "pik capitalised", "PIK capitalised",
                          [("principal", mv), ("unapplied", -held),
                           ("cost_recovery" if self.spans and self._suspended(on) else "pik_receivable", held - mv)])
            elif kind == "write_off":
                self._write_off(on, item)
        if self.deferred is not None:
            self._flush()
        return PositionBooks(self.entries, self.balances, self.warnings, self.curve, self.folded, self.folded_zero)

    def _cut(self, on: date, period_ends: set[date]) -> None:
        """A cut: the day's accrual and amortization, a non-accrual's reversal, a mark, a balance."""
        self._accrue(on)
        self._amortize(on)
        if any(a == on for a, _ in self.spans):
            self._reverse(on)
        if on in self.marks:
            self._mark(on, self.marks[on])
        elif self.fv_adjustment and not self.principal:  # repaid: nothing left to carry at fair value
            self.post(on, "mark", "position repaid: fair-value adjustment reversed",
                      [("fair_value_adjustment", -self.fv_adjustment),
                       ("unrealized_gains", self.fv_adjustment)])
            self.fv_adjustment = self.zero
        if on in period_ends:
            self._snapshot(on)

    def _events(self, cuts: list[date], last: date) -> list[tuple]:
        """(date, kind, seq, item) in posting order: the facility's events (`_facility_events`,
        shared by its lenders), each cut after every event of its day (a cut comes last)."""
        s = self.s
        eves = {t.settlement_date - timedelta(days=1) for t in self.trades}  # fees amortized to the eve
        eves |= {d - timedelta(days=1) for d, _ in self.write_offs}
        extra = eves | {a for a, _ in self.spans} | {b for _, b in self.spans if b is not None} | {d for d, _ in self.write_offs}
        cuts = sorted(set(cuts) | {d for d in extra if d >= s.rows[0].date})
        facility = self.shared.get(_EVENTS)  # the same for every lender of the facility
        if facility is None:
            facility = self.shared[_EVENTS] = self._facility_events(last)
        out: list[tuple] = []
        i, n = 0, len(facility)
        for c in cuts:
            if c > last:
                break
            while i < n and facility[i][0] <= c:
                out.append(facility[i])
                i += 1
            out.append((c, "cut", None, None))
        out += facility[i:]
        return out

    def _facility_events(self, last: date) -> list[tuple]:
        """The facility's events up to `last` (all but the cuts), sorted: by date, then the
        order of a day (`_ORDER`), then as listed."""
        s, fa = self.s, self.fa
        events: list[tuple] = []
        rows = s.rows
        for d in timeline_of(s).change_dates():  # amendments and trades (engine.lenders)
            events.append((d, "transfer", None))
        for d, amount in s.draws:
            events.append((d, "draw", amount))
        for i, row in enumerate(rows):
            if row.fees:
                events.append((row.date, "fees", i))
            if row.pik:
                events.append((row.date, "pik", row.pik))
        for due in fa.dues:
            if due.kind == "prepayment fee":
                events.append((due.date, "prepayment fee", due))
        for due in fa.netted:
            events.append((due.date, "netted", due))
        events += [(d, "write_off", a) for d, a in self.write_offs]
        groups: dict[tuple[str, date], list] = {}  # cash on its date; unapplied cash applied on a later one
        for a in fa.allocations:
            if a.component not in NOT_CASH:
                groups.setdefault((a.payment_id, a.on), []).append(a)
        events += [(on, "payment", (pid, allocs)) for (pid, on), allocs in groups.items()]
        keyed = [(on, _ORDER[kind], seq, kind, item) for seq, (on, kind, item) in enumerate(events) if on <= last]
        keyed.sort(key=lambda x: x[:3])
        return [(on, kind, seq, item) for on, _, seq, kind, item in keyed]

    def _move(self, delta: Decimal, on: date) -> tuple[Decimal, Decimal]:
        """Move the lender's principal to its part of the facility's balance after `delta`;
        (the move, the move of the cash held). As positions hold it: principal paid ahead of
        PIK not yet capitalised would take the balance below zero, so that part is held as
        unapplied cash until the PIK is capitalised."""
        whole = self.balance_whole = self.balance_whole + delta
        carried = whole + self.recovered_whole - self.written_whole  # the carrying rule (§4.3)
        if self.sole:  # its part is the whole
            target, held = max(carried, ZERO), max(-whole, ZERO)
        else:
            shares = self.shares_on(on)
            target = self.part(max(carried, ZERO), shares)
            held = self.part(max(-whole, ZERO), shares)
        mv, dh = target - self.principal, held - self.held
        self.principal, self.held = target, held
        return mv, dh

    def _fee_parts(self, schedule=None) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
        """Per row with fees: the lender's (upfront, exit, other) parts of the row's fees (of
        `schedule`, default the facility's)."""
        schedule = schedule or self.s
        by_date: dict[date, dict[str, Decimal]] = {}
        for d, kind, amount in schedule.fee_details:
            bucket = by_date.setdefault(d, {"upfront": ZERO, "exit": ZERO})
            if kind in ("upfront", "exit"):
                bucket[kind] += amount
        out = {}
        for i, row in enumerate(schedule.rows):
            if row.fees:
                kinds = by_date.get(row.date, {"upfront": ZERO, "exit": ZERO})
                shares = self.s.shares_on(row.date)
                total = self.part(row.fees, shares)
                upfront = self.part(kinds["upfront"], shares) if kinds["upfront"] else self.zero
                exit_fee = self.part(kinds["exit"], shares) if kinds["exit"] else self.zero
                out[i] = (upfront, exit_fee, total - upfront - exit_fee)
        return out

    def _projection(self, schedule, upfront: Decimal):
        """The lender's (dates, flows, balances, exits, coupons) of the rows of a schedule;
        coupons: each row's interest and commitment fee (what accrues over its period, which
        `amortization.reforecast` needs for a mid-period re-solve)."""
        rows = schedule.rows
        fees = self.fees_by_row if schedule is self.s else self._fee_parts(schedule)
        exits = [fees.get(i, (ZERO, ZERO, ZERO))[1] for i in range(len(rows))]
        flows, balances, coupons = [], [], []
        key = (_PROJECTED, id(schedule))
        facility = self.shared.get(key)  # the facility's side of each row, the same for every lender
        if facility is None:
            index0 = index_at_inception(self.s.rows)
            tl = timeline_of(schedule)
            facility = self.shared[key] = (schedule, [
                (tl.shares_on(row.date), self.r(projected_interest(row, index0)), row.commitment_fee, row.principal,
                 row.prepayment, row.draws, row.closing_balance) for row in rows])
        if self.sole:  # its parts are the facility's figures
            mine: Iterable = (figures for _, *figures in facility[1])
        else:
            key = (_PROJECTED_PARTS, id(schedule))
            table = self.shared.get(key)
            if table is None:  # each figure split once for every lender, as `part` splits it
                table = self.shared[key] = [self._row_parts(sh, figures) for sh, *figures in facility[1]]
            mine = (self._my_figures(sh, figures, parts) for (sh, *figures), parts in zip(facility[1], table))
        for i, (interest, commitment_fee, principal, prepayment, draws, closing) in enumerate(mine):
            coupon = interest + commitment_fee
            inflow = coupon + principal + prepayment + exits[i]
            flows.append(inflow - draws + (upfront if i == 0 else ZERO))
            balances.append(closing)
            coupons.append(coupon)
        return [r.date for r in rows], flows, balances, exits, coupons

    def _my_figures(self, shares, figures: list[Decimal], parts: list[list[Decimal] | None] | None) -> list[Decimal]:
        """The lender's part of each of a row's figures (`_row_parts` split them)."""
        _, k, whole = self._mine(shares)
        if whole:
            return figures
        if k is None:
            return [self.zero] * len(figures)
        return [self.zero if p is None else p[k] for p in parts]  # type: ignore[union-attr]

    def _row_parts(self, shares, figures: list[Decimal]) -> list[list[Decimal] | None] | None:
        """Each figure's parts by `shares` (None: a zero figure), as `part` splits them; None
        when one lender holds all (nothing is split)."""
        got = self._mine(shares)[0]
        if got.whole_to is not None:
            return None
        return [got.parts(x, self.digits) if x else None for x in figures]

    def _curve(self, method: str) -> Curve | None:
        rows = self.s.rows
        exits = [self.fees_by_row.get(i, (ZERO, ZERO, ZERO))[1] for i in range(len(rows))]
        upfront = self.upfront
        if not upfront and not any(exits):
            return None
        dates = [r.date for r in rows]
        if method == "effective_interest":
            # solved at funding on the flows projected then; re-solved prospectively at each change
            first = self.projections[0][1] if self.projections else self.s
            d0, f0, b0, e0, _ = self._projection(first, upfront)
            curve = effective_interest_curve(d0, f0, b0, upfront, e0)
            if curve is not None:
                return self._reforecasts(curve, self.projections[1:])
            self.warnings.append(Diagnostic(
                "E0801", f"{self.deal}/{self.s.facility_id} ({self.lender}): no effective interest rate solves the "
                         "projected cash flows; the fees are amortized straight line", severity="warning",
                hint="check the facility's draws and fees (a facility never drawn has no yield)"))
        return straight_line_curve(dates, upfront, exits)

    def _reforecasts(self, curve: Curve, projections: list) -> Curve:
        """The curve re-solved prospectively on each (date, projected schedule) in turn."""
        for on, schedule in projections:
            d, f, b, e, coupons = self._projection(schedule, self.upfront)
            j = bisect_right(d, on) - 1
            settled = sum((self.part(a, schedule.shares_on(x)) for x, a in schedule.prepaid
                           if 0 <= j and d[j] <= x <= on), ZERO)  # booked on row j+1
            curve = reforecast(curve, on, d, f, b, self.upfront, e, settled, coupons) or curve
        return curve

    def _receive(self, key: tuple[date, str], amount: Decimal) -> Decimal:
        """Move the lender's cumulative receipt on a due to its part of the facility's."""
        paid_whole = self.paid_whole
        paid_whole[key] = paid_whole.get(key, ZERO) + amount
        return self._received(key)

    def _received(self, key: tuple[date, str]) -> Decimal:
        """The lender's cumulative receipt on a due moved to its part of the facility's (as
        `paid_whole` has it); the move."""
        whole = self.paid_whole[key]
        target = whole if self.sole else self.part(whole, row_weights(self.s, key[0], key[1]))
        got = target - self.paid_part.get(key, self.zero)
        self.paid_part[key] = target
        return got

    def _defer(self, on: date, group) -> None:
        """`_payment` of a payment on its own date before `fold_before`, no credit events: only
        its entry's net per account is wanted, and the position's state after it. The facility's
        figures (its balance, its cumulative receipt on each due) are summed as `_payment` sums
        them; the lender's parts, where they telescope (principal and unapplied cash held
        follow the balance, a due's receipts its cumulative receipt), are taken once by
        `_flush` — the same state, the same net per account."""
        d = self.deferred
        if d is None:
            d = self.deferred = _Deferred(self.zero)
        d.on = on
        paid_whole, keys = self.paid_whole, d.keys
        for a in group[1]:
            component = a.component
            if component in PRINCIPAL_COMPONENTS:
                self.balance_whole = self.balance_whole + -a.amount
                d.moved = on
            elif component == "unapplied" or a.due_date is None:
                d.unapplied -= self.part(a.amount, self.shares_on(a.payment_date))
            else:
                key = (a.due_date, component)
                paid_whole[key] = paid_whole.get(key, ZERO) + a.amount
                if key not in keys:
                    keys[key] = _receivable(component)

    def _flush(self) -> None:
        """The deferred payments' (`_defer`) net per account, posted as one entry on the last one's
        date (folded: before `fold_before`), and the position's state moved as they move it."""
        d, self.deferred = self.deferred, None
        legs: list[tuple[str, Decimal]] = []
        if d.moved is not None:
            mv, held = self._move(ZERO, d.moved)
            legs += [("principal", mv), ("unapplied", -held)]
        legs.append(("unapplied", d.unapplied))
        for key, role in d.keys.items():
            legs.append((role, -self._received(key)))
        self.post(d.on, "payment", "cash received and allocated",
                  [("cash", -sum([x for _, x in legs], self.zero))] + legs)

    def _payment(self, on: date, group) -> None:
        """A payment's allocation rows of one date. On the payment date the cash comes in
        (what settles nothing is credited to unapplied cash); on a later date, cash held as
        unapplied settles dues then falling due: unapplied is debited, nothing is cash."""
        if self.spans or self.recovery_left:
            return self._payment_credit(on, group)
        # no credit events: no cost recovery, recovery or fee left unbooked (`_payment_credit`)
        pid, allocs = group
        later = on != allocs[0].payment_date
        legs: list[tuple[str, Decimal]] = []  # credits (negative)
        for a in allocs:
            if not self._cash_leg(a, on, later, legs):  # a due settled: off its receivable
                legs.append((_receivable(a.component), -self._receive((a.due_date, a.component), a.amount)))
        self._post_payment(on, pid, later, legs)

    def _cash_leg(self, a, on: date, later: bool, legs: list[tuple[str, Decimal]]) -> bool:
        """The legs of an allocation row that settles no due — principal received, or cash left
        unapplied — added to `legs`; False for a row that settles a due (the caller's)."""
        if a.component in PRINCIPAL_COMPONENTS:
            self._principal_received(a.amount, on, legs)
            return True
        if a.component == "unapplied" or a.due_date is None:
            if not later:  # the negative row of a later date is the balancing debit (`_post_payment`)
                legs.append(("unapplied", -self.part(a.amount, self.shares_on(a.payment_date))))
            return True
        return False

    def _payment_credit(self, on: date, group) -> None:
        """`_payment` of a position with non-accrual spans or recoveries (§9 credit events)."""
        pid, allocs = group
        later = on != allocs[0].payment_date
        legs: list[tuple[str, Decimal]] = []  # credits (negative)
        spans = self.spans
        suspended = bool(spans) and self._suspended(on)
        restored = not suspended and bool(spans) and any(b is not None and b <= on for _, b in spans)
        pending = None
        for a in allocs:
            if self._cash_leg(a, on, later, legs):
                continue
            component = a.component
            got = self._receive((a.due_date, component), a.amount)
            role = _receivable(component)
            interest = role == "interest_receivable"
            unbooked = self.fees_unbooked.get(a.due_date) if component == "fees" and self.fees_unbooked else None
            if unbooked is not None:  # the receivable first, then the fee not recognised
                booked = min(got, unbooked[0])
                rest = min(got - booked, unbooked[1])
                self.fees_unbooked[a.due_date] = (unbooked[0] - booked, unbooked[1] - rest)
                legs.append((role, -(got - rest)))
                if rest and (suspended or in_span(self.spans, on) is not None):
                    legs += self._to_cost(rest, legs)
                elif rest:  # after the restoration: income when received
                    legs.append(("fee_income", -rest))
            elif suspended and component != "fees":  # cost recovery, to an amortized cost of zero
                legs += self._to_cost(got, legs)
            elif restored and component != "fees":  # beyond the receivable: income when received
                if pending is None:  # what the day's accrual will still recognise for the due
                    cum = self._cum(on)
                    pending = {"interest_receivable": cum[0] - self.income[0],
                               "fees_receivable": cum[2] - self.income[2]}
                open_ = max(self.bal.get(role, self.zero) + pending[role] +
                            sum((x for r_, x in legs if r_ == role), self.zero), self.zero)
                inside = min(got, open_)
                legs += [(role, -inside), ("interest_income" if interest else "fee_income", -(got - inside))]
            else:
                legs.append((role, -got))
        self._post_payment(on, pid, later, legs)

    def _principal_received(self, amount: Decimal, on: date, legs: list[tuple[str, Decimal]]) -> None:
        """The legs of principal received on `on` (`amount` of the facility's): the lender's
        principal follows the facility's balance (beyond it, held as unapplied); cash on
        written-off principal is a recovery (§4.3)."""
        left = self.recovery_left.get(on, ZERO) if self.recovery_left else ZERO
        if left:
            take = min(left, amount)
            self.recovery_left[on] = left - take
            self.recovered_whole += take
        mv, held = self._move(-amount, on)
        legs.append(("principal", mv))
        legs.append(("unapplied", -held))
        if self.recovered_whole:
            rec = self.part(self.recovered_whole, self.shares_on(on))
            legs.append(("recoveries", -(rec - self.recovered_part)))
            self.recovered_part = rec

    def _post_payment(self, on: date, pid: str, later: bool, legs: list[tuple[str, Decimal]]) -> None:
        """A payment's entry: the cash received (or, on a `later` date, the unapplied cash
        applied) against its `legs`."""
        plug = -sum([x for _, x in legs], self.zero)
        if later:
            self.post(on, "unapplied applied", "unapplied cash applied to dues now due", [("unapplied", plug)] + legs,
                      pid)
        else:
            self.post(on, "payment", "cash received and allocated", [("cash", plug)] + legs, pid)

    def _suspended(self, on: date) -> bool:
        """Non-accrual in force for what happens on `on` (a < on ≤ b: the accrual at `a` covers
        the days before it, the one at `b` the span's days)."""
        return bool(self.spans) and any(a < on and (b is None or on <= b) for a, b in self.spans)

    def _to_cost(self, got: Decimal, pending: list) -> list[tuple[str, Decimal]]:
        """Credits of cash received under non-accrual: cost recovery down to an amortized cost
        of zero, the rest a recovery (`pending`: the legs of the entry not yet posted)."""
        room = max(self._amortized_cost() + sum((x for r_, x in pending if r_ == "cost_recovery"), self.zero),
                   self.zero)
        inside = min(got, room)
        return [("cost_recovery", -inside), ("recoveries", -(got - inside))]

    def _reverse(self, on: date) -> None:
        """At a non-accrual's start: interest and PIK accrued and unpaid reversed out of income."""
        interest = self.bal.get("interest_receivable", self.zero)
        pik = self.bal.get("pik_receivable", self.zero)
        k = bisect_right(self.row_dates, on)
        cfee = self.income[2] - self.due_cfee[k]  # accrued, not yet due
        self.post(on, "non-accrual", "non-accrual: interest, PIK and commitment fee accrued and unpaid reversed",
                  [("interest_receivable", -interest), ("interest_income", interest),
                   ("pik_receivable", -pik), ("pik_income", pik),
                   ("fees_receivable", -cfee), ("fee_income", cfee)])

    def _write_off(self, on: date, amount: Decimal) -> None:
        """A write-off: the principal and the same fraction of the fees deferred or accreted and
        of the cost recovery leave; the loss is that amortized cost (§9)."""
        before = self.principal
        self.written_whole += amount
        mv, _ = self._move(ZERO, on)
        if not mv:
            return
        legs = [("principal", mv)] + self._derecognise(on, -mv / before if before else Decimal(1))
        self.post(on, "write-off", "written off: a loss at amortized cost",
                  legs + [("losses", -sum((x for _, x in legs), self.zero))])

    def _derecognise(self, on: date, f: Decimal) -> list[tuple[str, Decimal]]:
        """The fraction `f` of the fees deferred or accreted, of any premium or discount paid and
        of the cost recovery leaves with principal written off or sold (legs, debit +); what
        stays is spread on the same curves from `on`."""
        legs: list[tuple[str, Decimal]] = []
        if self.curve is not None:
            up, ex = self.recognised
            uw, ew = self.written_fees
            up_w = self.r((self.upfront - up - uw) * f)
            ex_w = self.r((ex - ew - self.exit_due) * f)
            self.written_fees = (uw + up_w, ew + ex_w)
            self.anchor = (up, ex, self.curve.at(on))
            legs += [("deferred_fees", up_w), ("accreted_fees", -ex_w)]
        for pu in self.purchases:
            legs.append(("deferred_fees", pu.remove(on, f, self.r)))
        legs.append(("cost_recovery", -self.r(self.bal.get("cost_recovery", self.zero) * f)))
        return legs

    def _trade(self, on: date, trades: list, before: Decimal, mv: Decimal, held: Decimal) -> None:
        """A trade settled (§2.6, §9): the seller's part sold leaves at its amortized cost, the
        cash less that cost a realised gain (loss); the buyer's enters at the cash paid, its
        discount (premium) deferred and accreted by its own effective rate."""
        adj = self.zero  # the lender's cash beyond par moved: + received
        for t in trades:
            adj += (t.cash - t.par) if t.seller == self.lender else (t.par - t.cash) if t.buyer == self.lender else 0
        legs = [("principal", mv), ("unapplied", -held), ("cash", held - mv + adj)]
        if mv < 0:
            legs += self._derecognise(on, -mv / before if before else Decimal(1))
            legs.append(("realized_gains", -sum((x for _, x in legs), self.zero)))
            self.post(on, "trade", "sold: realised gain (loss) = cash − amortized cost sold", legs)
        elif mv > 0:
            legs.append(("deferred_fees", -adj))  # the discount (par − cash) deferred, a premium (−) too
            if adj:
                bought = sum((t.fraction for t in trades if t.buyer == self.lender), Fraction(0))
                self.purchases.append(_Purchase(self._purchase_curve(on, mv - adj, mv, bought)))
            self.post(on, "trade", "bought: at cost (cash paid); premium or discount deferred", legs)
        else:
            self.post(on, "trade", "trade settled", legs)

    def _purchase_curve(self, on: date, cash: Decimal, par: Decimal, fraction: Fraction) -> Curve:
        """The curve of the part bought: the exact `fraction` of the facility's flows after `on`
        (the first period's interest and commitment fee for the days from `on`), as projected on
        `on` (`projections`; the facility's schedule when nothing changed)."""
        rows = next((sch for d, sch in self.projections if d == on), self.s).rows
        dates = [r.date for r in rows]
        if self.method == "effective_interest":
            phi = Decimal(fraction.numerator) / Decimal(fraction.denominator)
            flows, balances = [], []
            index0 = index_at_inception(rows, on)  # the index when the part was bought
            for i, r in enumerate(rows):
                income = projected_interest(r, index0) + r.commitment_fee
                start = rows[i - 1].date if i else r.date
                if r.date <= on:  # a period ended by `on`: the seller's (the position moves at its start)
                    income = ZERO
                elif i and start < on:  # held from `on` only
                    income = income * Decimal((r.date - on).days) / Decimal((r.date - start).days)
                flows.append(phi * (income + r.principal + r.prepayment - r.draws))
                balances.append(phi * r.closing_balance)
            curve = purchase_curve(on, dates, flows, balances, cash, par)
            if curve is not None:
                return curve
        return straight_line_purchase(on, dates[-1] if dates else on, cash, par)

    def _accrue(self, on: date) -> None:
        """Income to the end of `on`: dues recognised by then plus the accrual to `on` (excluded)."""
        cum = self._cum(on)
        income, self.income = self.income, cum
        if self.spans and self._suspended(on):
            return  # non-accrual: nothing recognised (the baseline moves on)
        interest, pik, cfee = cum[0] - income[0], cum[1] - income[1], cum[2] - income[2]
        self.post(on, "accrual", "income accrued", [
            ("interest_receivable", interest), ("interest_income", -interest),
            ("pik_receivable", pik), ("pik_income", -pik),
            ("fees_receivable", cfee), ("fee_income", -cfee)])

    def _cum(self, on: date) -> tuple[Decimal, Decimal, Decimal]:
        """The lender's cumulative (interest, PIK, commitment fee) income to `on` as contracted."""
        k = bisect_right(self.row_dates, on)  # rows[:k] are dated on or before `on`
        shared = self.shared
        accrued = shared.get(on)
        if accrued is None:  # rounded once, the same for every lender
            accrued = shared[on] = tuple(map(self.r, self._facility_accrued(k, on)))
        if self.sole:
            interest, pik, cfee = accrued
        else:
            shares = self.shares_on(on)
            part = self.part
            interest, pik, cfee = part(accrued[0], shares), part(accrued[1], shares), part(accrued[2], shares)
        interest = self.due_interest[k] + interest
        if self.fa.credit.active:
            key = ("default", on)
            pending = shared.get(key)
            if pending is None:
                pending = shared[key] = credit_fields(self.fa, _AsOf(on), self.mode)["accrued_default_interest"]
            interest += self.default_cum[bisect_right(self.default_dates, on)] + self.part(pending, self.shares_on(on))
        return interest, self.pik_capitalised + pik, self.due_cfee[k] + cfee

    def _facility_accrued(self, k: int, on: date) -> tuple[Decimal, Decimal, Decimal]:
        """The whole facility's (interest, PIK, commitment fee) accrued from the period of row k's
        start to `on` (excluded), unrounded; the same for every lender (shared across them)."""
        s = self.s
        accrued = (ZERO, ZERO, ZERO)
        if k < len(s.rows):
            row = s.rows[k]
            if row.accrual_start is not None and row.accrual_start <= on:
                for seg in row.segments:
                    got = seg.accrued(on)
                    accrued = tuple(x + y for x, y in zip(accrued, got))
                # as positions: the contractual interest on principal overdue since its due date
                extra = overdue_interest(self.principal_dues, s.rows[k - 1].date, row, on, s.day_count) \
                    if self.principal_dues else ZERO
                accrued = (accrued[0] + extra, accrued[1], accrued[2])
        return accrued

    def _amortize(self, on: date) -> None:
        if self.purchases:
            self._accrete_purchases(on)
        if self.curve is None:
            return
        if self.spans and self._suspended(on):  # the last cut of the span (its end) anchors the re-spread
            self.anchor = (*self.recognised, self.curve.at(on))
            self.restored_on = on
            return
        if self.restored_on is not None:
            self._resolve(self.restored_on)
            self.restored_on = None
        if self.anchor is None:
            up, ex = split_recognised(self.curve.at(on), self.curve.total, self.upfront, self.r)
        else:  # re-spread after a restoration or write-off: the rest in proportion to the curve
            up_a, ex_a, y_a = self.anchor
            total = self.curve.total
            uw, ew = self.written_fees
            g = ONE if on >= self.curve.dates[-1] or total == y_a else \
                min(max((self.curve.at(on) - y_a) / (total - y_a), ZERO), ONE)
            up = up_a + self.r((self.upfront - uw - up_a) * g)
            ex = ex_a + self.r((total - self.upfront - ew - ex_a) * g)
        d_up, d_ex = up - self.recognised[0], ex - self.recognised[1]
        self.recognised = (up, ex)
        self.post(on, "amortization", f"deferred fees recognised ({self.curve.method.replace('_', ' ')})",
                  [("deferred_fees", d_up), ("accreted_fees", d_ex), ("fee_income", -(d_up + d_ex))])

    def _resolve(self, b: date) -> None:
        """Accrual restored on `b` (effective interest, nothing written off): the rate re-solved
        prospectively from what was recognised by then (`amortization.reforecast` on the flows
        projected by then); else the proportional re-spread of the anchor stands."""
        if self.curve.method != "effective_interest" or any(self.written_fees):
            return
        c = self.curve
        recognised = sum(self.recognised, self.zero)
        keep = [(d, y) for d, y in zip(c.dates, c.cumulative) if d < b]
        stub = Curve(tuple(d for d, _ in keep) + (b,), tuple(y for _, y in keep) + (recognised,), c.total,
                     c.method, c.rate)
        schedule = self.s
        for d, projected in self.projections:
            if d <= b:
                schedule = projected
        dates, flows, balances, exits, coupons = self._projection(schedule, self.upfront)
        new = reforecast(stub, b, dates, flows, balances, self.upfront, exits, coupons=coupons)
        if new is not None:  # later changes re-solved again on the new curve
            self.curve, self.anchor = self._reforecasts(new, [(d, p) for d, p in self.projections if d > b]), None

    def _accrete_purchases(self, on: date) -> None:
        """Premium or discount paid, recognised as interest (none under non-accrual)."""
        suspended = bool(self.spans) and self._suspended(on)
        done = not self.principal  # repaid (prepaid before its curve ends): the rest recognised now
        delta = sum((pu.step(on, suspended, self.r, done) for pu in self.purchases), self.zero)
        self.post(on, "accretion", "purchase discount accreted (premium amortized) as interest",
                  [("deferred_fees", delta), ("interest_income", -delta)])

    def _unamortized(self) -> Decimal:
        up, _ = self.recognised
        uw, _ = self.written_fees
        return self.upfront - up - uw + sum((pu.left() for pu in self.purchases), self.zero)

    def _amortized_cost(self) -> Decimal:
        up, ex = self.recognised
        uw, ew = self.written_fees
        return self.principal - self._unamortized() + (ex - ew - self.exit_due) + \
            self.bal.get("cost_recovery", self.zero)

    def _mark(self, on: date, price: Decimal) -> None:
        """A mark: the adjustment to fair value − amortized cost, the change an unrealized gain or loss."""
        target = fair_value(price, self.principal, self.digits, self.mode) - self._amortized_cost()
        delta = target - self.fv_adjustment
        self.fv_adjustment = target
        self.post(on, "mark", f"marked at {price.normalize():f}% of par: unrealized gain (loss)",
                  [("fair_value_adjustment", delta), ("unrealized_gains", -delta)])

    def _snapshot(self, on: date) -> None:
        up, ex = self.recognised
        uw, ew = self.written_fees
        self.balances.append(Balance(on, self.deal, self.s.facility_id, self.lender, self.s.currency,
                                     self.principal, self._unamortized(), ex - ew - self.exit_due,
                                     self.fv_adjustment, self.bal.get("cost_recovery", self.zero)))


def _receivable(component: str) -> str:
    """The receivable a settled due of `component` is taken off: interest (default interest too) or fees."""
    return "interest_receivable" if component in ("interest", DEFAULT_INTEREST) else "fees_receivable"


class _Deferred:
    """Payments deferred by `_Books._defer`: the last one's date, the last principal row's date,
    the lender's unapplied cash credited (Σ of its parts) and the dues received on (with their role)."""

    __slots__ = ("on", "moved", "unapplied", "keys")

    def __init__(self, zero: Decimal):
        self.on: date | None = None
        self.moved: date | None = None
        self.unapplied = zero
        self.keys: dict[tuple[date, str], str] = {}


@dataclass(frozen=True, slots=True)
class _AsOf:
    """The date `servicing.credit.credit_fields` reads its accrued default interest on."""

    as_of: date
    outstanding_principal: Decimal = ZERO


class _Purchase:
    """A premium or discount paid for a part bought: its curve, what is recognised, what left
    with parts sold or written off, and the anchor of the re-spread after that."""

    def __init__(self, curve: Curve):
        self.curve = curve
        self.rec = self.removed = ZERO
        self.anchor: tuple[Decimal, Decimal] | None = None

    def left(self) -> Decimal:
        return self.curve.total - self.removed - self.rec

    def remove(self, on: date, f: Decimal, r) -> Decimal:
        out = r(self.left() * f)
        self.removed += out
        self.anchor = (self.rec, self.curve.at(on))
        return out

    def step(self, on: date, suspended: bool, r, done: bool = False) -> Decimal:
        if done:
            delta, self.rec = self.left(), self.curve.total - self.removed
            return delta
        if suspended:  # the last cut of a non-accrual span anchors the re-spread
            self.anchor = (self.rec, self.curve.at(on))
            return r(ZERO)
        c = self.curve
        if self.anchor is None:
            cum = r(c.at(on))
        else:
            rec_a, y_a = self.anchor
            g = ONE if on >= c.dates[-1] or c.total == y_a else min(max((c.at(on) - y_a) / (c.total - y_a), ZERO), ONE)
            cum = rec_a + r((c.total - self.removed - rec_a) * g)
        delta, self.rec = cum - self.rec, cum
        return delta


def _union(spans: list[tuple[date, date | None]]) -> list[tuple[date, date | None]]:
    """Spans [a, b) joined where they overlap or touch, in date order."""
    out: list[tuple[date, date | None]] = []
    for a, b in sorted(spans, key=lambda x: x[0]):
        if out and (out[-1][1] is None or a <= out[-1][1]):
            last_b = out[-1][1]
            out[-1] = (out[-1][0], None if last_b is None or b is None else max(last_b, b))
        else:
            out.append((a, b))
    return out
