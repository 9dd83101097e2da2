"""The rules one row of a payment file obeys (SPEC §4.1), each written once in Python and,
right beside it, once in SQL.

The Python rule gives the row-by-row parser (`paymentfile`) its exact diagnostics. The SQL
fragment of the same rule is part of `bad_row_sql`, the predicate the vectorised post and
rebuild (`loanctl.ledger.staging`) evaluate over a whole file in DuckDB: true for every row
some rule refuses, and such a file goes to the row-by-row parser, which says why. Change a
rule in both languages at once: tests/servicing/test_svc_archive_integrity.py feeds both the
same hostile rows and asserts the same verdict.

The SQL fragments read these columns of the staging query: pid, deal, fac, raw_date, vd, amt,
ccy, typ, ref, rev (the cells trimmed of WHITESPACE, ccy upper-cased, typ lower-cased, fac
resolved by `facility_cells`, vd read by `date_sql`); known_deal, deal_ccy, digits, pay_until (the
deal's facts) and fac_known, fac_start, fac_type, fac_maturity (the facility's), all NULL when
the deal or its facility cell is unknown.

Rules across rows — a reversal against the payment it names, no payment after a payoff — are
not here: `crossrows` checks them in the ledger's plan step, whichever way the rows were read.

The admission rules (the deal takes payments, `payable_until`; the value date is at most
MAX_DAYS_AHEAD after the posting day) apply when posting only: a rebuild re-reads the archive
exactly as it was accepted.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from ..conventions.currency import minor_units
from ..model.records import LoadedBook
from ..model.values import ValueProblem, money_digits, parse_date
from .allocation import PAYMENT_TYPES

TYPES = PAYMENT_TYPES
_AMOUNT = re.compile(r"^\+?[0-9]+(\.[0-9]+)?$")
MAX_PAYMENT_ID = 128
MAX_REFERENCE = 1024
MAX_AMOUNT_EXPONENT = 15
"""Amounts are below 10^15, as money in YAML (`values.parse_money`)."""
MAX_DAYS_AHEAD = 366
"""A value date may be at most this many days after the posting day."""
WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())
"""What `str.strip()` removes around a cell; the vectorised post trims the same set (none
lies above U+3000 IDEOGRAPHIC SPACE; a test holds Python to that)."""

Problem = tuple[str, str, "str | None"]
"""(code, message, hint) of one broken rule."""


@dataclass(frozen=True, slots=True)
class FacilityFacts:
    """What a row is checked against."""

    currency: str
    facility_ids: tuple[str, ...]
    starts: dict[str, date]
    maturities: dict[str, date]
    status: str = "funded"
    types: dict[str, str] = field(default_factory=dict)
    """Facility type by id (term · delayed_draw · revolver): a repayment is for a revolver."""


def facts_of(loaded: LoadedBook) -> dict[str, FacilityFacts]:
    from ..engine.deal import deal_terms
    out = {}
    for deal_id, record in loaded.deals.items():
        terms, _ = deal_terms(record)
        out[deal_id] = FacilityFacts(
            record.deal.currency, tuple(terms),
            {fid: t.first.facility.start_date for fid, t in terms.items()},
            {fid: t.last.facility.maturity_date for fid, t in terms.items()}, record.deal.status,
            {fid: t.last.facility.type for fid, t in terms.items()})
    return out


def payable_until(ff: FacilityFacts) -> date | None:
    """The last value date a deal takes payments for, None for none: a funded deal takes
    any (up to MAX_DAYS_AHEAD), a written-off one too (recoveries); a repaid deal only up to
    its final maturity (the book records no repayment date; the repayment came by then); a
    deal not yet funded, or declined, none."""
    if ff.status in ("funded", "written_off"):
        return date.max
    if ff.status == "repaid":
        return max(ff.maturities.values())
    return None


def shorten(text: str, limit: int = 40) -> str:
    """A value quoted in a message, cut so a 10 MB field never becomes a 10 MB diagnostic."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'a control character')}"


def _unicode_digit(text: str) -> str | None:
    """The first non-ASCII digit in `text` (Python's int, Decimal and dates accept them)."""
    return next((ch for ch in text if ch.isdigit() and not ch.isascii()), None)


@dataclass(frozen=True, slots=True)
class Cells:
    """One row's cells, each stripped of WHITESPACE ('' for a column the file lacks)."""

    payment_id: str
    deal: str
    facility: str
    date: str
    amount: str
    currency: str
    type: str
    reference: str
    reverses: str


# --- rule: payment_id — present (E0416), at most MAX_PAYMENT_ID printable ASCII (E0417) --------
def payment_id_problems(pid: str) -> list[Problem]:
    """Ids are printable ASCII: that is exactly the NFKC-stable text without look-alikes (a
    Cyrillic 'а', a fullwidth '１') or invisible characters (a BOM, zero-width or no-break
    space), so two ids that look alike are equal."""
    if not pid:
        return [("E0416", "payment_id is empty", "every row needs a payment_id")]
    why = id_problem(pid)
    if why is None:
        return []
    return [("E0417", f"payment_id {shorten(pid)} is not usable: it {why}",
             f"at most {MAX_PAYMENT_ID} printable ASCII characters (letters, digits, punctuation, space)")]


def id_problem(pid: str) -> str | None:
    """Why a (non-empty) payment_id is not usable, or None."""
    if len(pid) > MAX_PAYMENT_ID:
        return f"is longer than {MAX_PAYMENT_ID} characters"
    if (bad := next((ch for ch in pid if not " " <= ch <= "~"), None)) is not None:
        folded = unicodedata.normalize("NFKC", pid)
        return (f"is not plain ASCII: it reads as {shorten(folded)} (NFKC)"
                if folded != pid and all(" " <= ch <= "~" for ch in folded) else f"has {char_name(bad)}, not "
                                                                                 "printable ASCII")
    return None


PAYMENT_ID_SQL = f"pid = '' OR length(pid) > {MAX_PAYMENT_ID}"  # and printable ASCII: PRINTABLE_SQL


# --- rule: a known deal and facility (E0416, E0404, E0405); an empty facility cell means ------
# --- the deal's one facility ---------------------------------------------------------------
def deal_problems(deal_id: str, facility: str, facts: dict[str, FacilityFacts]
                  ) -> tuple[FacilityFacts | None, str, list[Problem]]:
    """(the deal's facts, the facility, problems)."""
    ff = facts.get(deal_id) if deal_id else None
    if not deal_id:
        return ff, facility, [("E0416", "deal is empty", "name the deal id")]
    if ff is None:
        return ff, facility, [("E0404", f"unknown deal {shorten(deal_id)}", "the deal id is the deal's folder name")]
    if not facility:
        if len(ff.facility_ids) == 1:
            return ff, ff.facility_ids[0], []
        return ff, facility, [("E0405", f"deal {deal_id!r} has {len(ff.facility_ids)} facilities; the facility "
                                        "column is required", f"facilities: {', '.join(ff.facility_ids)}")]
    if facility not in ff.facility_ids:
        return ff, facility, [("E0405", f"deal {deal_id!r} has no facility {shorten(facility)}",
                               f"facilities: {', '.join(ff.facility_ids)}")]
    return ff, facility, []


def facility_cells(ff: FacilityFacts) -> list[tuple[str, str]]:
    """(a facility cell the deal takes, the facility it names): each facility's id, and an
    empty cell for a deal of one facility (the SQL twin of the facility rule: the vectorised
    reader joins the cells to these and refuses a row that matches none)."""
    return [(f, f) for f in ff.facility_ids] + ([("", ff.facility_ids[0])] if len(ff.facility_ids) == 1 else [])


DEAL_SQL = "known_deal IS NULL OR fac_known IS NULL"


# --- rule: the value date — ASCII digits (E0433), ISO or the profile's format (E0409) -----------
def value_date(raw: str, fmt: str | None) -> date:
    """The value date in a (stripped) cell: ISO, or the profile's strptime format. ASCII
    only, since strptime and int() also read other scripts' digits; ValueError otherwise."""
    if not raw.isascii():
        raise ValueError(raw)
    return datetime.strptime(raw, fmt).date() if fmt else parse_date(raw)


def date_problems(raw_date: str, fmt: str | None) -> tuple[date | None, list[Problem]]:
    if (digit := _unicode_digit(raw_date)) is not None:
        return None, [("E0433", f"date {shorten(raw_date)} has the non-ASCII digit {char_name(digit)}",
                       "write dates with the digits 0-9")]
    try:
        return value_date(raw_date, fmt), []
    except ValueProblem as p:
        return None, [("E0409", p.message, p.hint)]
    except (ValueError, OverflowError):
        return None, [("E0409", f"{shorten(raw_date)} does not match the date format {fmt or 'YYYY-MM-DD'}", None)]


def date_sql(fmt: str | None) -> str:
    """The value date DuckDB reads from `raw_date` (NULL when it cannot); the staging step
    compares every distinct reading with `value_date`, so DuckDB never reads a date the
    row-by-row parser refuses or reads differently (a reading DuckDB alone accepts, such as
    '2026-4-15', sends the file to the row-by-row parser, which reports it)."""
    if fmt:
        return f"try_strptime(raw_date, '{fmt.replace(chr(39), chr(39) * 2)}')::DATE"
    return "TRY_CAST(raw_date AS DATE)"


DATE_SQL = "vd IS NULL"


# --- rule: the amount — present (E0416), ASCII digits (E0433), a plain positive number --------
# --- (E0407), below 10^MAX_AMOUNT_EXPONENT (E0419) ---------------------------------------------
def amount_problems(raw_amount: str) -> tuple[Decimal | None, list[Problem]]:
    if not raw_amount:
        return None, [("E0416", "amount is empty", None)]
    if (digit := _unicode_digit(raw_amount)) is not None:
        return None, [("E0433", f"amount {shorten(raw_amount)} has the non-ASCII digit {char_name(digit)}",
                       "write amounts with the digits 0-9")]
    if raw_amount.startswith("-") or raw_amount.startswith("(") and raw_amount.endswith(")"):
        return None, [("E0407", f"amount {shorten(raw_amount)} is not positive", "payments are positive amounts")]
    if not _AMOUNT.match(raw_amount):
        return None, [("E0407", f"amount {raw_amount[:40]!r} is not a plain number",
                       "write 1250.50 (no thousands separators or currency signs)")]
    amount = Decimal(raw_amount)
    if amount <= 0:
        return amount, [("E0407", f"amount {shorten(raw_amount)} is not positive", "payments are positive amounts")]
    if amount.adjusted() >= MAX_AMOUNT_EXPONENT:
        return None, [("E0419", f"amount {shorten(raw_amount)} is 10^{MAX_AMOUNT_EXPONENT} or more",
                       "check the number of digits")]
    return amount, []


AMOUNT_SQL = ("NOT regexp_matches(amt, '^[+]?[0-9]+([.][0-9]+)?$') "
              "OR TRY_CAST(amt AS DECIMAL(38,10)) <= 0 "
              "OR TRY_CAST(amt AS DECIMAL(28,4)) IS NULL "
              f"OR TRY_CAST(amt AS DECIMAL(38,10)) >= CAST('1{'0' * MAX_AMOUNT_EXPONENT}' AS DECIMAL(38,10))")


# --- rule: the deal's currency, when given (E0406) ----------------------------------------------
def currency_problems(currency: str, ff: FacilityFacts) -> list[Problem]:
    if currency and (currency != ff.currency or not currency.isascii()):
        return [("E0406", f"currency {shorten(currency)} differs from the deal's {ff.currency}",
                 "pay in the deal's currency")]
    return []


CURRENCY_SQL = "ccy <> '' AND ccy <> deal_ccy"  # and printable ASCII: PRINTABLE_SQL


# --- rule: no more decimals than the currency has (E0408) ---------------------------------------
def decimals_problems(amount: Decimal | None, raw_amount: str, currency: str) -> list[Problem]:
    if amount is not None and money_digits(amount) > minor_units(currency):
        return [("E0408", f"amount {raw_amount} has more decimals than {currency} allows "
                          f"({minor_units(currency)})", None)]
    return []


DECIMALS_SQL = "(CASE WHEN strpos(amt, '.') > 0 THEN length(amt) - strpos(amt, '.') ELSE 0 END) > digits"


# --- rule: not before the facility's start (E0410) ----------------------------------------------
def start_problems(when: date | None, facility: str, ff: FacilityFacts) -> list[Problem]:
    if when is not None and facility in ff.starts and when < ff.starts[facility]:
        return [("E0410", f"value date {when} is before the facility's start {ff.starts[facility]}", None)]
    return []


START_SQL = "vd < fac_start"


# --- admission rule: the deal takes payments on that value date (E0431) ------------------------
def payable_problems(deal_id: str, when: date | None, ff: FacilityFacts) -> list[Problem]:
    until = payable_until(ff)
    if until is None:
        return [("E0431", f"deal {deal_id!r} is {ff.status}: it takes payments once funded",
                 "fund the deal first (loanctl fund), or check the deal id")]
    if when is not None and when > until:
        return [("E0431", f"deal {deal_id!r} is repaid: a payment dated {when} is after its final maturity "
                          f"{until}", "a repaid deal takes no new payments; check the deal id and the date")]
    return []


PAYABLE_SQL = "pay_until IS NULL OR vd > pay_until"


# --- admission rule: at most MAX_DAYS_AHEAD after the posting day (E0432) ----------------------
def far_date_problems(when: date | None, posting_day: date) -> list[Problem]:
    if when is not None and (when - posting_day).days > MAX_DAYS_AHEAD:
        return [("E0432", f"value date {when} is more than {MAX_DAYS_AHEAD} days after the posting day "
                          f"{posting_day}", "check the year of the date")]
    return []


def far_date_sql(posting_day: date) -> str:
    last_day = min(posting_day, date.max - timedelta(days=MAX_DAYS_AHEAD)) + timedelta(days=MAX_DAYS_AHEAD)
    return f"vd > DATE '{last_day.isoformat()}'"


# --- rule: a reference of at most MAX_REFERENCE characters (E0418; a long line is reported ----
# --- once, as a line, by the parser) -----------------------------------------------------------
def reference_problems(reference: str, long_row: bool) -> list[Problem]:
    if len(reference) > MAX_REFERENCE and not long_row:
        return [("E0418", f"reference has {len(reference)} characters, more than {MAX_REFERENCE}",
                 "shorten the reference")]
    return []


REFERENCE_SQL = f"length(ref) > {MAX_REFERENCE}"


# --- rule: a type of TYPES, empty meaning scheduled (E0413) -------------------------------------
def type_problems(raw_type: str) -> tuple[str, list[Problem]]:
    ptype = raw_type.lower() or "scheduled"
    if ptype not in TYPES:
        return ptype, [("E0413", f"type {shorten(raw_type)} is not one of {', '.join(TYPES)}", None)]
    return ptype, []


TYPE_SQL = f"typ NOT IN ('', {', '.join(repr(t) for t in TYPES)})"


# --- rule: a reversal, and only a reversal, names a payment_id in reverses (E0436), not -------
# --- its own (E0438) -------------------------------------------------------------------------
def reverses_problems(ptype: str, reverses: str, pid: str) -> list[Problem]:
    if ptype == "reversal" and not reverses:
        return [("E0436", "a reversal needs the payment_id it reverses in the reverses column",
                 "add a reverses column naming the returned or misapplied payment")]
    if reverses and ptype != "reversal":
        return [("E0436", f"reverses {shorten(reverses)} is set on a {ptype} payment; only a reversal reverses "
                          "a payment", "set type to reversal, or leave reverses empty")]
    if reverses and (why := id_problem(reverses)) is not None:
        return [("E0436", f"reverses {shorten(reverses)} is not a payment_id: it {why}", None)]
    if ptype == "reversal" and reverses == pid:
        return [("E0438", f"payment {shorten(pid)} reverses itself", "name the payment it reverses")]
    return []


REVERSES_SQL = ("(typ = 'reversal') <> (rev <> '') OR (typ = 'reversal' AND rev = pid) "
                f"OR length(rev) > {MAX_PAYMENT_ID}")  # and printable ASCII: PRINTABLE_SQL


# --- the printable ASCII of payment_id (E0417), currency (E0406), type (E0413) and reverses ---
# --- (E0436), in SQL: one test of the four cells together -----------------------------------
PRINTABLE_SQL = "regexp_matches(pid || ccy || typ || rev, '[^ -~]')"
"""True when one of the four cells holds a character other than printable ASCII (the cells
are never NULL: an absent cell is ''); left out when the file is proven to hold none
(`bad_row_sql(printable=True)`)."""


# --- rule: a repayment is for a revolver (E0434) ----------------------------------------------
def repayment_problems(ptype: str, facility: str, ff: FacilityFacts) -> list[Problem]:
    kind = ff.types.get(facility)
    if ptype == "repayment" and kind is not None and kind != "revolver":
        return [("E0434", f"a repayment is for a revolver; facility {facility!r} is a {kind.replace('_', '-')} "
                          "facility", "pay principal early with type prepayment (its prepayment fee applies)")]
    return []


REPAYMENT_SQL = "typ = 'repayment' AND fac_type <> 'revolver'"


# --- rule: a payoff is dated by the facility's maturity (E0435) ------------------------------
def payoff_date_problems(ptype: str, when: date | None, facility: str, ff: FacilityFacts) -> list[Problem]:
    if ptype == "payoff" and when is not None and facility in ff.maturities and when > ff.maturities[facility]:
        return [("E0435", f"payoff dated {when} is after the facility's maturity {ff.maturities[facility]}",
                 "a payment after maturity settles what is past due: type scheduled")]
    return []


PAYOFF_DATE_SQL = "typ = 'payoff' AND vd > fac_maturity"


# --- rule: a payment_id once per file (E0411; across the files of one post: loanctl.ledger) --
def repeated_problems(pid: str, seen: dict[str, int]) -> list[Problem]:
    if pid and pid in seen:
        return [("E0411", f"payment_id {pid!r} already appears on line {seen[pid]}",
                 "payment ids are unique in the book forever")]
    return []


def repeated_sql(table: str) -> str:
    """How many payment ids appear more than once in the staged `table`."""
    return f"SELECT count(*) FROM (SELECT payment_id FROM {table} GROUP BY 1 HAVING count(*) > 1)"


# --- all rules of one row, in the order their diagnostics are reported -------------------------
def check_row(c: Cells, facts: dict[str, FacilityFacts], fmt: str | None, posting_day: date | None,
              long_row: bool, seen: dict[str, int]) -> tuple[list[Problem], tuple]:
    """(problems, the row's values: payment_id, deal, facility, date, amount, currency, type,
    reference, reverses). With `posting_day` (a post, not a re-reading of the archive) the admission
    rules apply too."""
    problems = payment_id_problems(c.payment_id)
    ff, facility, found = deal_problems(c.deal, c.facility, facts)
    problems += found
    when, found = date_problems(c.date, fmt)
    problems += found
    amount, found = amount_problems(c.amount)
    problems += found
    currency = c.currency.upper()
    if ff is not None:
        problems += currency_problems(currency, ff)
        currency = ff.currency
        problems += decimals_problems(amount, c.amount, currency)
        problems += start_problems(when, facility, ff)
        if posting_day is not None:
            problems += payable_problems(c.deal, when, ff)
    if posting_day is not None:
        problems += far_date_problems(when, posting_day)
    problems += reference_problems(c.reference, long_row)
    ptype, found = type_problems(c.type)
    problems += found
    problems += reverses_problems(ptype, c.reverses, c.payment_id)
    if ff is not None and facility in ff.maturities:
        problems += repayment_problems(ptype, facility, ff)
        problems += payoff_date_problems(ptype, when, facility, ff)
    problems += repeated_problems(c.payment_id, seen)
    return problems, (c.payment_id, c.deal, facility, when, amount, currency, ptype, c.reference, c.reverses)


def bad_row_sql(posting_day: date | None, printable: bool = False) -> str:
    """The SQL twin of `check_row` (but E0411, which `repeated_sql` counts per staged table):
    true, or NULL, for a row some rule refuses. `printable`: the caller proved that every
    byte of the file is printable ASCII (or a line break), so PRINTABLE_SQL holds for no row."""
    rules = [PAYMENT_ID_SQL, DEAL_SQL, DATE_SQL, AMOUNT_SQL, CURRENCY_SQL, DECIMALS_SQL, START_SQL]
    if not printable:
        rules.append(PRINTABLE_SQL)
    if posting_day is not None:
        rules += [PAYABLE_SQL, far_date_sql(posting_day)]
    rules += [REFERENCE_SQL, TYPE_SQL, REVERSES_SQL, REPAYMENT_SQL, PAYOFF_DATE_SQL]
    return "(" + " OR ".join(f"({r})" for r in rules) + ") IS NOT FALSE"
