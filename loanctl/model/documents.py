"""The book's data model (SPEC §2.1–2.5, §7): small frozen types, one docstring per field.

Every model forbids unknown keys. Values are parsed by `loanctl.model.values` from the exact
source text; where a value came from (file, line, column) lives beside the model in
`loanctl.source.yamlsrc.Doc`, never inside business fields.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from . import values as v


def _wrap(parser):
    def run(value: Any):
        try:
            return parser(value)
        except v.ValueProblem as problem:
            raise PydanticCustomError(problem.code, problem.message, {"hint": problem.hint or ""}) from None
    return BeforeValidator(run)


Money = Annotated[Decimal, _wrap(v.parse_money), Field(json_schema_extra={"examples": [25000000, "1250.50"]})]
Number = Annotated[Decimal, _wrap(v.parse_number)]
Rate = Annotated[Decimal, _wrap(v.parse_rate), Field(json_schema_extra={"examples": ["5.75%", "575bps", 0.0575]})]
Share = Annotated[Decimal, _wrap(v.parse_share), Field(json_schema_extra={"examples": ["60%", 0.6]})]
Date = Annotated[date, _wrap(v.parse_date)]
Id = Annotated[str, _wrap(v.parse_id), Field(pattern=v.ID_RE.pattern)]
Currency = Annotated[str, _wrap(v.parse_currency), Field(pattern=r"^[A-Z]{3}$")]

DayCount = Literal["ACT/360", "ACT/365F", "30/360", "30E/360", "ACT/ACT"]
Frequency = Literal["monthly", "quarterly", "semiannual", "annual"]
BusinessDay = Literal["following", "modified_following", "preceding", "unadjusted"]
Status = Literal["draft", "submitted", "approved", "funded", "repaid", "written_off", "declined"]
STATUS_ORDER = ("draft", "submitted", "approved", "funded", "repaid", "written_off", "declined")
FUNDED_OR_LATER = frozenset({"funded", "repaid", "written_off"})
APPROVED_OR_LATER = frozenset({"approved", "funded", "repaid", "written_off"})
WaterfallItem = Literal["fees", "commitment_fee", "default_interest", "interest", "principal"]
Metric = Literal["total_leverage", "net_leverage", "interest_coverage", "fixed_charge_coverage", "ltv",
                 "debt_service_coverage"]


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


# --- book.yaml -----------------------------------------------------------------------------
class FundCommitment(Strict):
    fund: Id
    """The fund the investor committed to."""
    amount: Money
    """Committed capital."""


class Entity(Strict):
    id: Id
    kind: Literal["borrower", "fund", "spv", "investor"]
    """borrower · fund · spv (rolls up into `parent`) · investor (a fund's LP)."""
    name: str
    industry: str | None = None
    """Borrower industry, for concentration reports."""
    country: str | None = None
    parent: Id | None = None
    """For an spv: the fund it rolls up into."""
    commitments: tuple[FundCommitment, ...] = ()
    """For an investor: its commitments to funds."""


class CalendarDef(Strict):
    id: Id
    base: str = "WEEKENDS"
    """A calendar spec this one starts from (WEEKENDS, US, GB-ENG, NYSE, US+GB …)."""
    add: tuple[Date, ...] = ()
    """Extra holidays."""
    remove: tuple[Date, ...] = ()
    """Holidays of the base that are business days here."""


class ApprovalRule(Strict):
    up_to: Money | None = None
    """Applies when the deal's total commitment is at most this; absent: any size."""
    require: tuple[str, ...]
    """Roles that must each have approved."""


class Limits(Strict):
    max_borrower_share_of_fund: Share | None = None
    max_leverage: Number | None = None


class Policy(Strict):
    approvals: tuple[ApprovalRule, ...] = ()
    limits: Limits = Limits()
    notice_days: int = Field(default=10, ge=0, le=366)
    """`loanctl notices` covers payment dates this many days ahead of its date."""
    unapplied: Literal["apply", "hold"] = "apply"
    """apply: unapplied cash settles the next dues as they fall due, oldest first; hold: it
    stays in suspense for a person to decide."""
    fee_amortization: Literal["effective_interest", "straight_line"] = "effective_interest"
    """How upfront fees / OID and exit fees are recognised over the life (SPEC §9)."""
    non_accrual_dpd: int | None = Field(default=None, ge=1, le=3660)
    """A facility goes on non-accrual automatically on the day its DPD reaches this number,
    until it is current again (SPEC §2.7); omitted: only by event."""


class PaymentProfile(Strict):
    columns: dict[str, str] = {}
    """loanctl column → the bank file's header."""
    date_format: str | None = None
    """strptime format of the date column, e.g. %d/%m/%Y."""


REFERENCE_FIELDS = ("deal", "facility", "date", "borrower")
"""The `{name}` fields a remittance reference may use."""


def _reference_template(value: str) -> str:
    """`{deal}-{date}`: literal text and known `{field}`s only (never str.format on book text)."""
    for m in re.finditer(r"\{([^{}]*)\}|[{}]", value):
        if m.group(1) not in REFERENCE_FIELDS:
            raise PydanticCustomError("E0700", f"remittance reference {value!r}: {m.group(0)!r} is not one of "
                                      + ", ".join("{" + f + "}" for f in REFERENCE_FIELDS),
                                      {"hint": "write the reference from literal text and "
                                               + ", ".join("{" + f + "}" for f in REFERENCE_FIELDS)})
    return value


class Remittance(Strict):
    """Where borrowers pay, and the reference they quote (notices print it; reconcile reads it)."""
    bank: str | None = None
    """The bank the borrower pays to (billing notices need it)."""
    account: str | None = None
    """Account number, as text (quote it: leading zeros; billing notices need it)."""
    aba: str | None = Field(default=None, pattern=r"^[0-9]{9}$")
    """ABA routing number (nine digits, quoted)."""
    reference: Annotated[str, AfterValidator(_reference_template)] = "{deal}-{date}"
    """What the borrower quotes on the payment: text with {deal}, {facility}, {date}, {borrower}."""

    def reference_for(self, **fields: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: fields[m.group(1)], self.reference)


class StatementProfile(Strict):
    columns: dict[str, str] = {}
    """loanctl statement column (transaction_id, date, amount, currency, credit_debit, remittance,
    counterparty) → the bank CSV's header."""
    date_format: str | None = None
    """strptime format of the date column, e.g. %d/%m/%Y."""
    currency: Currency | None = None
    """The account's currency when the CSV has no currency column."""


class Reconcile(Strict):
    tolerance: Money = Decimal(0)
    """A credit within this amount of a due matches it (third rule, after reference and borrower)."""
    profiles: dict[str, StatementProfile] = {}
    """CSV bank statements, used with `loanctl reconcile FILE --profile NAME`."""


ACCOUNT_ROOTS = ("Assets", "Liabilities", "Equity", "Income", "Expenses")


def _account(value: Any) -> Any:
    """A journal account: colon-separated components under one of the five Beancount roots,
    each starting with a capital letter or digit, then letters, digits or dashes."""
    import re
    if isinstance(value, str):
        parts = value.split(":")
        if (len(parts) >= 2 and parts[0] in ACCOUNT_ROOTS
                and all(re.fullmatch(r"[A-Z0-9][A-Za-z0-9-]*", p) for p in parts[1:])):
            return value
    raise PydanticCustomError("E0800", f"{value!r} is not a journal account name",
                              {"hint": "write Root:Name[:Name…] with Root one of " + ", ".join(ACCOUNT_ROOTS)
                                       + "; names start with a capital letter or digit (e.g. Assets:Loans:Principal)"})


Account = Annotated[str, BeforeValidator(_account),
                    Field(pattern=r"^(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z0-9][A-Za-z0-9-]*)+$")]


class Accounts(Strict):
    """The journal's accounts (SPEC §2.2, §9). Loan accounts get :<Lender>:<Deal>:<Facility>
    sub-accounts, cash, income and loss accounts :<Lender>."""
    cash: Account = "Assets:Cash"
    principal: Account = "Assets:Loans:Principal"
    interest_receivable: Account = "Assets:Loans:InterestReceivable"
    pik_receivable: Account = "Assets:Loans:PIKReceivable"
    """PIK accrued, not yet capitalised."""
    fees_receivable: Account = "Assets:Loans:FeesReceivable"
    """Commitment, fixed, upfront and exit fees recognised or deferred, not yet received."""
    accreted_fees: Account = "Assets:Loans:AccretedExitFees"
    """Exit fees accreted into amortized cost, until due."""
    deferred_fees: Account = "Liabilities:DeferredFees"
    """Upfront fees / OID not yet amortized (a contra-asset of amortized cost)."""
    unapplied: Account = "Liabilities:UnappliedCash"
    """Cash received that settled no due (suspense)."""
    interest_income: Account = "Income:Interest"
    fee_income: Account = "Income:Fees"
    pik_income: Account = "Income:PIK"
    losses: Account = "Expenses:CreditLosses"
    fair_value_adjustment: Account = "Assets:Loans:FairValueAdjustment"
    """Fair value less amortized cost, per the latest mark (SPEC §9)."""
    unrealized_gains: Account = "Income:UnrealizedGains"
    """Unrealized gains (credit: gain) and losses (debit) from marks."""
    opening: Account = "Equity:OpeningBalances"
    """Balances brought forward when the journal starts after the first entry (--from)."""
    cost_recovery: Account = "Assets:Loans:CostRecovery"
    """Cash received on interest and fees while on non-accrual, applied to amortized cost
    (a contra-asset; with PIK capitalised then), until written off or repaid (SPEC §9)."""
    recoveries: Account = "Income:Recoveries"
    """Cash received on a position beyond its amortized cost after a write-off (SPEC §9)."""
    realized_gains: Account = "Income:RealizedGains"
    """A seller's realised gain (credit) or loss (debit) on a trade: cash − amortized cost sold."""


class Book(Strict):
    name: str
    base_currency: Currency = "USD"
    rounding: Literal["half_up", "half_even"] = "half_up"
    entities: tuple[Entity, ...] = ()
    calendars: tuple[CalendarDef, ...] = ()
    policy: Policy = Policy()
    dpd_buckets: tuple[int, ...] = (0, 30, 60, 90, 120)
    waterfall: tuple[WaterfallItem, ...] = ("fees", "commitment_fee", "default_interest", "interest", "principal")
    """Settlement order within a due date; a waterfall without default_interest settles it right
    after commitment_fee (servicing.allocation.waterfall_order)."""
    payment_profiles: dict[str, PaymentProfile] = {}
    remittance: Remittance = Remittance()
    """Where and how borrowers pay (billing notices; the reference reconcile matches)."""
    reconcile: Reconcile = Reconcile()
    accounts: Accounts = Accounts()
    """Journal accounts (loanctl journal)."""

    def entity(self, entity_id: str) -> Entity | None:
        for e in self.entities:
            if e.id == entity_id:
                return e
        return None


# --- deal.yaml -----------------------------------------------------------------------------
class Underwriting(Strict):
    ebitda: Number | None = None
    total_debt: Number | None = None
    cash: Number | None = None
    collateral_value: Number | None = None
    interest_expense: Number | None = None
    fixed_charges: Number | None = None


class Approval(Strict):
    by: str
    role: str
    date: Date
    decision: Literal["approved", "declined"] = "approved"
    conditions: str | None = None


class Origination(Strict):
    sourced_by: str | None = None
    purpose: str | None = None
    underwriting: Underwriting | None = None
    approvals: tuple[Approval, ...] = ()


class Draw(Strict):
    date: Date
    amount: Money


class Interest(Strict):
    index: str | None = None
    """Floating: the index name; fixings come from rates/<index>.csv."""
    fixed_rate: Rate | None = None
    spread: Rate = Decimal(0)
    floor: Rate | None = None
    """Applies to the index fixing."""
    cap: Rate | None = None
    fixing_lag_days: int = Field(default=0, ge=0, le=31)
    """Term method: the fixing is taken this many calendar days before the accrual start."""
    fixing_lag_business_days: int | None = Field(default=None, ge=0, le=31)
    """Term method: the fixing is taken this many business days of the facility's calendar
    before the accrual start (instead of fixing_lag_days)."""
    index_adjustment: Rate = Decimal(0)
    """Added to each fixing before floor and cap (a credit spread adjustment, e.g. 11.448bps)."""
    method: Literal["term", "simple", "compounded"] = "term"
    """term: a fixing at period start · simple / compounded: an overnight index in arrears (SPEC §3.2)."""
    lookback_days: int = Field(default=0, json_schema_extra={"minimum": 0})
    """simple / compounded: each day observes the fixing this many index business days earlier."""
    observation_shift: bool = False
    """compounded: weights come from the observation period (shifted back lookback_days)."""
    lockout_days: int = Field(default=0, json_schema_extra={"minimum": 0})
    """simple / compounded: the period's last business days reuse the rate of the day before them."""
    pik_rate: Rate = Decimal(0)
    default_rate: Rate | None = None
    """Added to the contractual rate on overdue amounts, and on all principal while a default
    is in force (SPEC §3.3); computed by allocation, not by the contractual schedule."""
    day_count: DayCount = "ACT/360"

    @field_validator("lookback_days", "lockout_days")
    @classmethod
    def _not_negative(cls, value, info):
        if value < 0:
            raise PydanticCustomError("E0282", "{key} is {value}; it counts business days and cannot be negative",
                                      {"key": info.field_name, "value": value,
                                       "hint": f"write {info.field_name}: 0 for none, or a positive count"})
        return value


class PaymentTerms(Strict):
    frequency: Frequency = "quarterly"
    first_payment_date: Date | None = None
    business_day: BusinessDay = "modified_following"
    calendar: str = "WEEKENDS"
    accrual: Literal["adjusted", "unadjusted"] = "adjusted"


class CustomInstallment(Strict):
    date: Date
    amount: Money


class Amortization(Strict):
    type: Literal["bullet", "percent", "straight", "level", "custom"] = "bullet"
    annual_rate: Rate | None = None
    interest_only_periods: int = Field(default=0, ge=0)
    schedule: tuple[CustomInstallment, ...] = ()


class PrepaymentStep(Strict):
    until: Date
    rate: Rate


class UpfrontFee(Strict):
    type: Literal["upfront"]
    rate: Rate
    netted: bool = True
    """Settled at closing out of the draw proceeds (the lender funds par less the fee)."""


class CommitmentFee(Strict):
    type: Literal["commitment"]
    rate: Rate


class ExitFee(Strict):
    type: Literal["exit"]
    rate: Rate


class PrepaymentFee(Strict):
    type: Literal["prepayment"]
    schedule: tuple[PrepaymentStep, ...]


class FixedFee(Strict):
    type: Literal["fixed"]
    amount: Money
    date: Date
    name: str | None = None


Fee = Annotated[Union[UpfrontFee, CommitmentFee, ExitFee, PrepaymentFee, FixedFee], Field(discriminator="type")]


class Participation(Strict):
    lender: Id
    share: Share


class Facility(Strict):
    id: Id
    type: Literal["term", "delayed_draw", "revolver"] = "term"
    commitment: Money
    start_date: Date
    maturity_date: Date
    availability_end: Date | None = None
    """Delayed draw and revolver: draws are dated before it; commitment fees accrue up to it."""
    draws: tuple[Draw, ...] | None = None
    """Term: defaults to the full commitment on start_date."""
    interest: Interest
    payments: PaymentTerms = PaymentTerms()
    amortization: Amortization = Amortization()
    fees: tuple[Fee, ...] = ()
    participations: tuple[Participation, ...] = ()

    @property
    def effective_draws(self) -> tuple[Draw, ...]:
        if self.draws is not None:
            return self.draws
        if self.type == "term":
            return (Draw(date=self.start_date, amount=self.commitment),)
        return ()


def bound_steps(value: Any) -> Any:
    if isinstance(value, list):
        return value
    if value is None:
        return None
    return [{"value": value}]


class BoundStep(Strict):
    until: Date | None = None
    value: Number


Bound = Annotated[tuple[BoundStep, ...], BeforeValidator(bound_steps)]


class Waiver(Strict):
    period_end: Date
    """The test date whose breach the lenders waived."""
    by: str
    """Who granted the waiver (the lenders, the agent, a named officer)."""
    note: str | None = None
    """The waiver letter or its reason."""


PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}
"""Months in one test period of each covenant frequency; test dates are the calendar
month ends whose month is a multiple of it (quarter ends for quarterly)."""


class Covenant(Strict):
    id: Id
    metric: Metric
    max: Bound | None = None
    min: Bound | None = None
    frequency: Frequency = "quarterly"
    first_test_date: Date | None = None
    """The first test date; default: the first period end at least one full period after
    the deal's start date (SPEC §7)."""
    at_risk_margin: Share | None = None
    """Headroom below this share of the bound is 'at risk' (default 10%)."""
    waivers: tuple[Waiver, ...] = ()
    """Breaches the lenders waived: the test at each period_end is 'waived'."""

    @field_validator("first_test_date")
    @classmethod
    def _first_test_date_is_a_period_end(cls, value, info):
        frequency = info.data.get("frequency")
        if frequency is None:  # the frequency itself is wrong: that is the error to show
            return value
        months = PERIOD_MONTHS[frequency]
        if value is not None and not (value.month % months == 0
                                     and value.day == monthrange(value.year, value.month)[1]):
            word = {"monthly": "a month end", "quarterly": "a quarter end (Mar 31, Jun 30, Sep 30, Dec 31)",
                    "semiannual": "a half-year end (Jun 30, Dec 31)", "annual": "a year end (Dec 31)"}[frequency]
            raise PydanticCustomError("E0260", "first_test_date {date} is not {word}, a {frequency} test date",
                                      {"date": value.isoformat(), "word": word, "frequency": frequency,
                                       "hint": "use the period end the agreement names as the first test date"})
        return value

    @model_validator(mode="after")
    def _one_bound(self):
        if (self.max is None) == (self.min is None):
            raise PydanticCustomError("E0102", "a covenant needs exactly one of max or min",
                                      {"hint": "write max: 4.5 or min: 2.0"})
        return self


class Deal(Strict):
    id: Id
    name: str
    borrower: Id
    status: Status = "draft"
    currency: Currency = "USD"
    origination: Origination = Origination()
    facilities: tuple[Facility, ...]
    covenants: tuple[Covenant, ...] = ()
    notes: str | None = None
    tags: tuple[str, ...] = ()

    @field_validator("facilities")
    @classmethod
    def _has_facilities(cls, value):
        if not value:
            raise PydanticCustomError("E0102", "a deal needs at least one facility",
                                      {"hint": "add a facility under facilities:"})
        return value

    def facility(self, facility_id: str) -> Facility | None:
        for f in self.facilities:
            if f.id == facility_id:
                return f
        return None

    @property
    def total_commitment(self) -> Decimal:
        return sum((f.commitment for f in self.facilities), Decimal(0))


# --- amendments, financials ----------------------------------------------------------------
class Change(Strict):
    facility: Id | None = None
    set: dict[str, Any] | None = None
    """Dotted paths into the facility → new values."""
    add_facility: dict[str, Any] | None = None
    """A whole new facility."""


class Amendment(Strict):
    id: Id
    effective_date: Date
    description: str | None = None
    approvals: tuple[Approval, ...] = ()
    changes: tuple[Change, ...]


class Trade(Strict):
    """An assignment of part of a lender's position in a facility (SPEC §2.6)."""

    id: Id
    facility: Id
    seller: Id
    buyer: Id
    trade_date: Date
    settlement_date: Date
    """The position moves at the start of this date."""
    amount: Money | None = None
    """Par of funded principal moved (with the same fraction of any unfunded commitment)."""
    share: Share | None = None
    """Or: the share of the whole facility moved."""
    price: Number = Decimal(100)
    """Percent of par paid by the buyer to the seller."""
    approvals: tuple[Approval, ...] = ()
    notes: str | None = None


CreditEventType = Literal["default", "default_cured", "non_accrual", "accrual_restored", "write_off"]


class CreditEvent(Strict):
    """A credit event on a deal's facilities (SPEC §2.7)."""

    id: Id
    date: Date
    type: CreditEventType
    facility: Id | None = None
    """The facility it concerns; all facilities when omitted."""
    amount: Money | None = None
    """write_off: principal written off (omitted: all outstanding)."""
    note: str | None = None


class Financials(Strict):
    period_end: Date
    basis: Literal["ltm", "quarter", "annual"] = "ltm"
    ebitda: Number
    total_debt: Number
    cash: Number | None = None
    interest_expense: Number | None = None
    fixed_charges: Number | None = None
    collateral_value: Number | None = None
    notes: str | None = None


SETTABLE_BLOCKED = {"id": "a facility's id", "type": "a facility's type", "payments.frequency": "the payment frequency",
                    "currency": "the currency"}
