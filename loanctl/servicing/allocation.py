"""Allocation (SPEC §4.3): a pure function of a facility's schedule and all its payments.

Payments are taken in (value date, payment_id) order.
- A `reversal` removes the payment it names (and itself) before anything else, so the
  allocation is recomputed as if that payment had never arrived; both rows stay on record.
- `prepayment` and `repayment` change the schedule itself (lower balance from their date),
  so the schedule is built with them first.
- A `payoff` that covers everything owed on its date ends the schedule there; short of
  that it is allocated like a scheduled payment and the facility stays open.
- Time then runs forward over the payment dates: on each one, interest on principal left
  unpaid after its due date becomes due, and default interest (SPEC §3.3, the rule in
  `engine.credit`) on amounts overdue in the period and, during a default, on all
  principal; then cash held as unapplied (suspense) settles the dues now falling due,
  oldest first (unless the book holds unapplied cash for a person).
- After maturity (a facility not paid off) overdue principal keeps bearing the last
  period's contractual rate and the default rate; what accrues falls due on the date of
  each later payment (on demand), before that payment is applied.
Whatever a payment cannot settle is `unapplied` — reported, never dropped.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Callable, Iterable, Sequence

from ..conventions.daycount import year_fraction
from ..engine.credit import CreditEvents, Overdue, RateSteps, default_interest
from ..engine.fees import prepayment_fee_rate  # noqa: F401  (one rule for servicing and simulation)
from ..engine.schedule import FacilitySchedule, Row
from ..model.documents import Facility

ZERO = Decimal(0)
COMPONENTS = ("fees", "commitment_fee", "interest", "principal")
FEE_COMPONENTS = ("fees", "commitment_fee")
PAYMENT_TYPES = ("scheduled", "prepayment", "repayment", "payoff", "fee", "reversal")
BALANCE_TYPES = ("prepayment", "repayment")
"""Payment types that reduce the balance on their own date."""
PRINCIPAL_COMPONENTS = ("principal", "prepayment", "repayment")
OVERDUE_INTEREST = "interest on overdue principal"
DEFAULT_INTEREST = "default_interest"
NETTED = "netted at closing"

Reductions = Sequence[tuple[date, Decimal, str]]
ScheduleWith = Callable[[Reductions, "date | None"], FacilitySchedule]
"""(balance reductions (date, amount, type), payoff date or None) → the schedule."""


@dataclass(frozen=True, slots=True, init=False)
class Payment:
    """One row of a posted payment file (immutable). Its `__init__` is written out, as
    `Allocation`'s: the journal's, the allocation's and the rebuild's workers read a million."""

    payment_id: str
    deal: str
    facility: str
    date: date
    amount: Decimal
    currency: str
    type: str = "scheduled"
    """scheduled · prepayment · repayment · payoff · fee · reversal"""
    reference: str = ""
    file: str = ""
    """Archive file name the payment was posted from."""
    line: int = 0
    reverses: str = ""
    """For a reversal: the payment_id it reverses."""

    def __init__(self, payment_id: str, deal: str, facility: str, date: date, amount: Decimal, currency: str,
                 type: str = "scheduled", reference: str = "", file: str = "", line: int = 0,
                 reverses: str = "") -> None:
        _set_p_id(self, payment_id)  # the slots' own setters (every field, in order)
        _set_p_deal(self, deal)
        _set_p_facility(self, facility)
        _set_p_date(self, date)
        _set_p_amount(self, amount)
        _set_p_currency(self, currency)
        _set_p_type(self, type)
        _set_p_reference(self, reference)
        _set_p_file(self, file)
        _set_p_line(self, line)
        _set_p_reverses(self, reverses)

    def content(self) -> tuple:
        """What must match for a re-posted payment_id to be a harmless duplicate."""
        return (self.deal, self.facility, self.date, self.amount, self.currency, self.type, self.reference,
                self.reverses)


(_set_p_id, _set_p_deal, _set_p_facility, _set_p_date, _set_p_amount, _set_p_currency, _set_p_type, _set_p_reference,
 _set_p_file, _set_p_line, _set_p_reverses) = (Payment.__dict__[name].__set__ for name in Payment.__slots__)


@dataclass(slots=True)
class Due:
    date: date
    component: str
    amount: Decimal
    kind: str = ""
    """For fees: upfront, exit, prepayment fee, or the fixed fee's name; for interest on
    overdue principal: OVERDUE_INTEREST."""
    paid: Decimal = ZERO
    settled: list[tuple[date, Decimal]] = field(default_factory=list)
    """(date, amount) of each settlement, in order."""

    @property
    def unpaid(self) -> Decimal:
        return self.amount - self.paid

    def unpaid_on(self, on: date) -> Decimal:
        """What was still unpaid at the end of `on`."""
        settled = self.settled
        if not settled or settled[0][0] > on:
            return self.amount
        if settled[-1][0] <= on:  # settlements are recorded in date order; paid is their sum
            return self.amount - self.paid
        paid = ZERO
        for d, a in settled:
            if d <= on:
                paid += a
        return self.amount - paid


@dataclass(frozen=True, slots=True, init=False)
class Allocation:
    """One settlement, or unapplied cash (immutable). Its `__init__` is written out: the frozen
    dataclass's sets each field with `object.__setattr__`, twice the cost, and the walk makes
    one per settlement."""

    payment_id: str
    payment_date: date
    due_date: date | None
    component: str
    """fees · commitment_fee · interest · principal · prepayment · repayment · unapplied ·
    reversed (a payment a reversal undid) · reversal"""
    amount: Decimal
    applied_on: date | None = None
    """When the cash was applied, if later than the payment (unapplied cash applied to a due
    as it fell due); a negative `unapplied` row on that date takes it out of suspense."""

    def __init__(self, payment_id: str, payment_date: date, due_date: date | None, component: str,
                 amount: Decimal, applied_on: date | None = None) -> None:
        _set_payment_id(self, payment_id)  # the slots' own setters (every field, in order)
        _set_payment_date(self, payment_date)
        _set_due_date(self, due_date)
        _set_component(self, component)
        _set_amount(self, amount)
        _set_applied_on(self, applied_on)

    @property
    def on(self) -> date:
        return self.applied_on or self.payment_date


_set_payment_id, _set_payment_date, _set_due_date, _set_component, _set_amount, _set_applied_on = (
    Allocation.__dict__[name].__set__ for name in Allocation.__slots__)


def waterfall_order(waterfall: Sequence[str]) -> tuple[str, ...]:
    """The waterfall with `default_interest` in it: a book's own waterfall that leaves it out
    settles it right after `commitment_fee` (after `fees` without one; first without both)."""
    order = tuple(waterfall)
    if DEFAULT_INTEREST in order:
        return order
    for after in ("commitment_fee", "fees"):
        if after in order:
            i = order.index(after) + 1
            return order[:i] + (DEFAULT_INTEREST,) + order[i:]
    return (DEFAULT_INTEREST,) + order


@dataclass(frozen=True, slots=True)
class Credit:
    """A facility's default rate over time and the spans its `default` events are in force."""

    default_rates: RateSteps = ()
    default_spans: tuple[tuple[date, date | None], ...] = ()
    events: CreditEvents = field(default_factory=CreditEvents)
    """All the facility's credit events (positions read write-offs and non-accrual from them)."""
    non_accrual_dpd: int | None = None

    @property
    def active(self) -> bool:
        """A default rate is set: allocation computes default interest."""
        return any(r for _, r in self.default_rates)

    @property
    def tracked(self) -> bool:
        """Anything for positions to read: events, a default rate or automatic non-accrual."""
        return bool(self.events.events) or self.active or bool(self.non_accrual_dpd)


NO_CREDIT = Credit()


@dataclass(slots=True)
class FacilityAllocation:
    schedule: FacilitySchedule
    dues: list[Due]
    allocations: list[Allocation] = field(default_factory=list)
    netted: list[Due] = field(default_factory=list)
    """Upfront fees settled at closing out of the draw proceeds."""
    payoff: str | None = None
    """The payment_id of the payoff that ended the facility."""
    credit: Credit = NO_CREDIT
    """The default rate and default spans the allocation used."""


@dataclass(frozen=True, slots=True)
class Rules:
    """How a book allocates: its waterfall, its rounding, and what happens to unapplied cash."""

    waterfall: Sequence[str] = COMPONENTS
    rounding: Callable[[Decimal], Decimal] = lambda x: x
    hold_unapplied: bool = False


@dataclass(frozen=True, slots=True)
class PayoffQuote:
    """Everything owed on a date to end the facility, by component (SPEC §4.3 payoff)."""

    date: date
    past_due: dict[str, Decimal]
    """Unpaid dues dated before the payoff date, by component."""
    interest: Decimal
    overdue_interest: Decimal
    pik: Decimal
    commitment_fee: Decimal
    principal: Decimal
    """Outstanding principal (capitalised PIK included; the period's PIK accrued is `pik`)."""
    prepayment_fee: Decimal
    exit_fee: Decimal
    other_fees: Decimal
    unapplied: Decimal
    """Cash already held for the facility (not deducted from the total)."""
    default_interest: Decimal = ZERO
    """Default interest accrued in the final period (SPEC §3.3); past-due default interest is in `past_due`."""

    @property
    def total(self) -> Decimal:
        return (sum(self.past_due.values(), ZERO) + self.interest + self.overdue_interest + self.pik
                + self.commitment_fee + self.principal + self.prepayment_fee + self.exit_fee + self.other_fees
                + self.default_interest)


_PAYMENT_ORDER = attrgetter("date", "payment_id")
_DUE_DATE = attrgetter("date")


def order(payments: Iterable[Payment]) -> list[Payment]:
    return sorted(payments, key=_PAYMENT_ORDER)


def by_facility(payments: Iterable[Payment], until: date) -> dict[tuple[str, str], list[Payment]]:
    """The payments dated on or before `until`, by (deal, facility), each list in the given order."""
    out: dict[tuple[str, str], list[Payment]] = defaultdict(list)
    for p in payments:
        if p.date <= until:
            out[(p.deal, p.facility)].append(p)
    return out


def live_payments(payments: Iterable[Payment]) -> list[Payment]:
    """The payments in force: in order, without reversals and the payments they reverse."""
    ordered = order(payments)
    reversed_ids = {p.reverses for p in ordered if p.type == "reversal"}
    return [p for p in ordered if p.type != "reversal" and p.payment_id not in reversed_ids]


def allocate(schedule_with: ScheduleWith, terms_at: Callable[[date], Facility], payments: Iterable[Payment],
             rules: Rules = Rules(), credit: Credit = NO_CREDIT) -> FacilityAllocation:
    """Allocate a facility's payments.

    `schedule_with(reductions, end_on)` builds the schedule with the given balance
    reductions and payoff date; `terms_at(d)` gives the terms in force on a date."""
    ordered = order(payments)
    reversed_ids = {p.reverses for p in ordered if p.type == "reversal"}
    live = [p for p in ordered if p.type != "reversal" and p.payment_id not in reversed_ids] if reversed_ids \
        else ordered  # (no reversal: every payment is live)
    result = None
    for k, p in enumerate(live):
        if p.type == "payoff":
            quote = _quote(schedule_with, terms_at, live[:k], p.date, rules, credit)
            if quote is not None and p.amount >= quote.total:
                reductions = [(q.date, q.amount, q.type) for q in live[:k] if q.type in BALANCE_TYPES]
                result = _Walk(schedule_with(reductions, p.date), terms_at, rules, p,
                               lambda: schedule_with(reductions, None), credit).run(live)
                break
    if result is None:
        reductions = [(q.date, q.amount, q.type) for q in live if q.type in BALANCE_TYPES]
        result = _Walk(schedule_with(reductions, None), terms_at, rules, None, None, credit).run(live)
    for p in ordered if reversed_ids else ():  # both sides of a reversal stay on record
        if p.type == "reversal":
            result.allocations.append(Allocation(p.payment_id, p.date, None, "reversal", p.amount))
        elif p.payment_id in reversed_ids:
            result.allocations.append(Allocation(p.payment_id, p.date, None, "reversed", p.amount))
    return result


def payoff_quote(schedule_with: ScheduleWith, terms_at: Callable[[date], Facility], payments: Iterable[Payment],
                 on: date, rules: Rules = Rules(), credit: Credit = NO_CREDIT) -> PayoffQuote | None:
    """What ends the facility on `on`, after the payments dated before it (None: nothing to end)."""
    return _quote(schedule_with, terms_at, [p for p in live_payments(payments) if p.date < on], on, rules, credit)


def _quote(schedule_with: ScheduleWith, terms_at, before: list[Payment], on: date, rules: Rules,
           credit: Credit = NO_CREDIT) -> PayoffQuote | None:
    reductions = [(q.date, q.amount, q.type) for q in before if q.type in BALANCE_TYPES]
    schedule = schedule_with(reductions, on)
    if schedule.rows[-1].date != on or len(schedule.rows) < 2:
        return None  # on or before the start, or after the schedule's end
    fa = _Walk(schedule, terms_at, rules, None, lambda: schedule_with(reductions, None), credit).run(before)
    past: dict[str, Decimal] = {}
    final = {"interest": ZERO, "overdue": ZERO, "commitment_fee": ZERO, "principal": ZERO, "prepayment fee": ZERO,
             "exit": ZERO, "fees": ZERO, DEFAULT_INTEREST: ZERO}
    for due in fa.dues:
        unpaid = due.unpaid
        if not unpaid:
            continue
        if due.date < on:
            past[due.component] = past.get(due.component, ZERO) + unpaid
        elif due.kind == OVERDUE_INTEREST:
            final["overdue"] += unpaid
        elif due.component == "fees" and due.kind == "prepayment fee":
            final["prepayment fee"] += unpaid
        elif due.component == "fees":  # the exit fee, with any fixed fee falling on the date
            exit_fee = min(unpaid, sum((a for d, k, a in schedule.fee_details if d == on and k == "exit"), ZERO))
            final["exit"] += exit_fee
            final["fees"] += unpaid - exit_fee
        else:
            final[due.component] += unpaid
    row = schedule.rows[-1]
    pik = min(row.pik, final["principal"])
    unapplied = sum((a.amount for a in fa.allocations if a.component == "unapplied"), ZERO)  # still held
    return PayoffQuote(on, past, final["interest"], final["overdue"], pik, final["commitment_fee"],
                       final["principal"] - pik, final["prepayment fee"], final["exit"], final["fees"], unapplied,
                       final[DEFAULT_INTEREST])


class _Walk:
    """One pass over a schedule's dues and the payments in order (see the module's docstring)."""

    def __init__(self, schedule: FacilitySchedule, terms_at, rules: Rules, payoff: Payment | None,
                 unended: Callable[[], FacilitySchedule] | None = None, credit: Credit = NO_CREDIT) -> None:
        self.s = schedule
        self.credit = credit
        self.unended = unended
        """For a schedule ended by a payoff: the same schedule not ended (its scheduled principal)."""
        self.terms_at = terms_at
        self.rules = rules
        self.payoff = payoff
        self.rank = {c: i for i, c in enumerate(waterfall_order(rules.waterfall))}
        self.dues = _dues(schedule, self.rank)
        self.principal = [d for d in self.dues if d.component == "principal"]
        """The principal dues in date order (allocation adds none): what can be overdue."""
        self.principal_from = 0
        """Principal dues before this index were settled in full by the last period start reached."""
        self.out: list[Allocation] = []
        self.netted: list[Due] = []
        self.suspense: deque[list] = deque()  # [payment, amount left], oldest first
        self.pay_rows = schedule.rows[1:]
        self.pay_dates = [r.date for r in self.pay_rows]
        self.arrived = 0  # payment dates (rows) already reached
        self.next_arrival = self.pay_dates[0] if self.pay_dates else date.max
        """The next payment date to reach (date.max once all are reached)."""
        self.default_active = credit.active
        self.first_open = 0  # dues before this index are settled
        self.closed = False
        self.post_from = schedule.rows[-1].date
        """After maturity: what accrues on overdue amounts is made due up to here."""

    # -- dues ------------------------------------------------------------------------------
    def _key(self, due: Due) -> tuple:
        return (due.date, self.rank.get(due.component, 99))

    def _add_due(self, due: Due) -> None:
        i = bisect.bisect_right(self.dues, self._key(due), key=self._key)
        self.dues.insert(i, due)
        if i < self.first_open:
            self.first_open = i

    def _settle_until(self, bound: date, left: Decimal, p: Payment, on: date,
                      only: tuple[str, ...] | None = None) -> Decimal:
        """Apply what is left of payment `p` on `on` to the open dues falling due by `bound`
        (of the components `only`, if given), in waterfall order, each up to what it still
        owes; returns what is still left. The walk's one settling rule — its hottest loop, so
        one call a payment rather than one a due."""
        dues, out = self.dues, self.out
        n = len(dues)
        k = self.first_open
        while k < n and dues[k].amount - dues[k].paid <= 0:  # settled: skipped from now on
            k += 1
        self.first_open = k
        pid, paid_on = p.payment_id, p.date
        later = on if on != paid_on else None
        while k < n and left > 0:
            due = dues[k]
            if due.date > bound:
                break
            k += 1
            if only is not None and due.component not in only:
                continue
            unpaid = due.amount - due.paid
            if unpaid > 0:
                take = unpaid if unpaid < left else left
                due.paid += take
                due.settled.append((on, take))
                out.append(Allocation(pid, paid_on, due.date, due.component, take, later))
                left -= take
        return left

    # -- the run ---------------------------------------------------------------------------
    def run(self, payments: list[Payment]) -> FacilityAllocation:
        self._net_upfront_fees()
        self._prepayment_fees(payments)
        arrive, pay, rows = self._arrive, self._pay, len(self.pay_rows)
        for p in payments:
            if p.date >= self.next_arrival or self.arrived == rows:  # else nothing to reach
                arrive(p.date)
            pay(p)
        arrive(date.max)
        fa = FacilityAllocation(self.s, self.dues, self.out, self.netted,
                                self.payoff.payment_id if self.payoff else None, self.credit)
        return fa

    def _net_upfront_fees(self) -> None:
        start = self.s.rows[0].date
        fees = self.terms_at(start).fees
        if not any(f.type == "upfront" and getattr(f, "netted", True) for f in fees):
            return
        if not self.s.rows[0].draws:
            return  # nothing drawn at closing: nothing to net the fee from
        for due in self.dues:
            if due.date > start:
                break  # (the dues are in date order)
            if due.date == start and due.component == "fees" and "upfront" in due.kind.split(", "):
                amount = next((a for d, k, a in self.s.fee_details if d == start and k == "upfront"), ZERO)
                amount = min(amount, due.unpaid)
                if amount > 0:
                    due.paid += amount
                    due.settled.append((start, amount))
                    self.netted.append(Due(start, "fees", amount, "upfront", amount, [(start, amount)]))

    def _prepayment_fees(self, payments: list[Payment]) -> None:
        """Prepayment fee dues from the prepayments the schedule applied, and the payoff's."""
        self.prepaid: dict[str, Decimal] = {}
        self.repaid: dict[str, Decimal] = {}
        reductions = list(self.s.reductions)
        for p in payments:
            if p.type not in BALANCE_TYPES:
                continue
            for i, (d, amt, kind) in enumerate(reductions):
                if d == p.date and kind == p.type:
                    (self.prepaid if kind == "prepayment" else self.repaid)[p.payment_id] = amt
                    reductions.pop(i)
                    break
            amount = self.prepaid.get(p.payment_id, ZERO)
            rate = prepayment_fee_rate(self.terms_at(p.date), p.date) if p.type == "prepayment" else None
            if rate and amount:
                self._add_due(Due(p.date, "fees", self.rules.rounding(rate * amount), "prepayment fee"))
        end = self.s.ended_on
        if end is not None and end < self.s.maturity_date and self.s.rows[-1].date == end:
            # the fee is on the principal repaid ahead of schedule: the balance the payoff
            # repays, less the PIK of the final stub and the principal scheduled for the date
            row = self.s.rows[-1]
            rate = prepayment_fee_rate(self.terms_at(end), end)
            base = row.principal - row.pik
            if rate and base > 0 and self.unended is not None:
                base -= next((r.principal for r in self.unended().rows[1:] if r.date == end), ZERO)
            if rate and base > 0:
                self._add_due(Due(end, "fees", self.rules.rounding(rate * base), "prepayment fee"))

    def _arrive(self, until: date) -> None:
        """Reach every payment date up to `until`: interest on overdue principal falls due,
        then unapplied cash settles what is due."""
        while self.next_arrival <= until and self.arrived < len(self.pay_rows):
            row = self.pay_rows[self.arrived]
            prev = self.s.rows[self.arrived].date
            extra = self._overdue_interest(prev, row)
            if extra:  # (zero rounds to zero: no due)
                extra = self.rules.rounding(extra)
            if extra > 0:
                self._add_due(Due(row.date, "interest", extra, OVERDUE_INTEREST))
            if self.default_active:
                self._default_interest(prev, row.date, row)
            self.arrived += 1
            self.next_arrival = self.pay_dates[self.arrived] if self.arrived < len(self.pay_dates) else date.max
            if self.suspense and not self.rules.hold_unapplied:
                self._apply_suspense(row.date)
        if (self.arrived == len(self.pay_rows) and until != date.max and until > self.post_from
                and self.s.ended_on is None and not self.closed and len(self.s.rows) > 1):
            self._after_maturity(until)

    def _after_maturity(self, until: date) -> None:
        """Overdue principal keeps bearing interest after maturity; it falls due on `until`."""
        last = self.s.rows[-1]
        prev = self.post_from
        extra = self.rules.rounding(overdue_interest(self.principal, prev, last, until, self.s.day_count))
        if extra > 0:
            self._add_due(Due(until, "interest", extra, OVERDUE_INTEREST))
        if self.default_active:
            self._default_interest(prev, until, None)
        self.post_from = until

    def _default_interest(self, start: date, end: date, row: Row | None) -> None:
        """Default interest for [start, end), due on `end` (SPEC §3.3)."""
        amount = self.rules.rounding(self.default_interest_between(start, end, row))
        if amount > 0:
            self._add_due(Due(end, DEFAULT_INTEREST, amount))

    def default_interest_between(self, start: date, end: date, row: Row | None) -> Decimal:
        """Unrounded default interest over [start, end) of the period ending on `row` (None:
        after maturity, when only overdue amounts bear it)."""
        return default_interest_on(self.dues, self.credit, start, end, row, self.s.day_count)

    def _overdue_interest(self, prev: date, row: Row) -> Decimal:
        principal = self.principal
        k = self.principal_from
        while k < len(principal) and principal[k].date <= prev and principal[k].unpaid <= 0 \
                and principal[k].unpaid_on(prev) <= 0:
            k += 1  # paid in full by `prev`: never overdue again (period starts only move forward)
        self.principal_from = k
        end = bisect.bisect_right(principal, prev, lo=k, key=_DUE_DATE)
        if k == end:
            return ZERO
        return overdue_interest(principal[k:end], prev, row, row.date, self.s.day_count)

    def _apply_suspense(self, on: date) -> None:
        suspense = self.suspense
        while suspense:
            entry = suspense[0]
            p, before = entry
            left = self._settle_until(on, before, p, on)
            if left == before:
                return  # nothing open is due by `on`
            self.out.append(Allocation(p.payment_id, p.date, None, "unapplied", left - before, on))
            if left > 0:
                entry[1] = left
                return
            suspense.popleft()

    def _pay(self, p: Payment) -> None:
        left = p.amount
        if self.closed:
            pass  # the facility was paid off: everything after is unapplied
        elif p.type in BALANCE_TYPES:
            applied = (self.prepaid if p.type == "prepayment" else self.repaid).get(p.payment_id, ZERO)
            if applied:
                self.out.append(Allocation(p.payment_id, p.date, p.date, p.type, applied))
                left -= applied
        elif p.type == "fee":
            left = self._settle_until(date.max, left, p, p.date, FEE_COMPONENTS)
        elif self.payoff is not None and p.payment_id == self.payoff.payment_id:
            left = self._settle_until(date.max, left, p, p.date)
            self.closed = True
        else:  # scheduled, or a payoff short of its quote: the dues up to the next payment date
            i = bisect.bisect_left(self.pay_dates, p.date)
            left = self._settle_until(self.pay_dates[i] if i < len(self.pay_dates) else date.max, left, p, p.date)
        if left > 0:
            self.out.append(Allocation(p.payment_id, p.date, None, "unapplied", left))
            self.suspense.append([p, left])


def default_interest_on(dues: Sequence[Due], credit: Credit, start: date, end: date, row: Row | None,
                        day_count: str) -> Decimal:
    """Default interest, unrounded, over [start, end): on the dues (other than default
    interest) unpaid after their due date, and during a default on the principal balance of
    the period ending on `row` (the rule: `engine.credit.default_interest`)."""
    if not credit.active or end <= start:
        return ZERO
    overdue = [Overdue(d.date, d.amount, tuple(d.settled), d.component == "principal") for d in dues
               if d.component != DEFAULT_INTEREST and d.date < end and d.amount > 0
               and (d.unpaid > 0 or (d.settled and d.settled[-1][0] > max(start, d.date)))]
    segments = row.segments if row is not None else ()

    def balance_on(on: date) -> Decimal:
        for seg in segments:
            if seg.start <= on < seg.end:
                return seg.balance
        return ZERO
    return default_interest(start, end, day_count, credit.default_rates, overdue, balance_on,
                            [seg.start for seg in segments], credit.default_spans)


def overdue_interest(dues: Sequence[Due], prev: date, row: Row, until: date, day_count: str) -> Decimal:
    """Contractual interest, unrounded, on principal unpaid after its due date, over the days
    [prev, until) of the period ending on `row` (at the rate in force on each day)."""
    overdue: list[Due] = []
    unpaid_at_prev: list[Decimal] = []  # what each was still owed at the end of `prev`
    for d in dues:
        if d.component == "principal" and d.date <= prev:
            unpaid = d.unpaid_on(prev)
            if unpaid > 0:
                overdue.append(d)
                unpaid_at_prev.append(unpaid)
    if not overdue or until <= prev:
        return ZERO
    cuts = {prev, until}
    for d in overdue:
        for sd, _ in d.settled:
            if prev < sd < until:
                cuts.add(sd)
    for seg in row.segments:
        if prev < seg.start < until:
            cuts.add(seg.start)
    cuts = sorted(cuts)
    total = ZERO
    for a, b in zip(cuts, cuts[1:]):
        amount = ZERO
        if a == prev:  # the first cut: the amounts just found
            for unpaid in unpaid_at_prev:
                amount += unpaid
        else:
            for d in overdue:
                amount += d.unpaid_on(a)
        if amount <= 0:
            continue
        rate = row.rate or ZERO
        for seg in row.segments:
            if seg.start <= a < seg.end:
                rate = seg.rate
        total += amount * rate * year_fraction(day_count, a, b)
    return total


def _dues(schedule: FacilitySchedule, rank: dict[str, int]) -> list[Due]:
    """The schedule's dues in (date, waterfall rank) order. With the row dates increasing (as
    they do), made row by row, each row's in rank order: the order the sort gives."""
    dues: list[Due] = []
    fee_kinds: dict[date, list[str]] = {}
    for d, kind, _ in schedule.fee_details:
        fee_kinds.setdefault(d, []).append(kind)
    rows = schedule.rows
    in_order = all(a.date < b.date for a, b in zip(rows, rows[1:]))
    components = sorted(COMPONENTS, key=lambda c: rank.get(c, 99)) if in_order else COMPONENTS
    for row in rows:
        for component in components:
            amount = getattr(row, component)
            if amount > 0:
                kind = ", ".join(fee_kinds.get(row.date, [])) if component == "fees" else ""
                dues.append(Due(row.date, component, amount, kind))
    return dues if in_order else sorted(dues, key=lambda d: (d.date, rank.get(d.component, 99)))
