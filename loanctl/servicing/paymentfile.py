"""Payment files (SPEC §4.1): strict CSV with a header, every row checked, `FILE:LINE` diagnostics.

UTF-8 (a BOM is accepted), comma-separated, CRLF or LF, quoted fields. Header names are
case-insensitive; other columns are an error unless a payment profile of book.yaml maps a
bank's export columns (and date format) onto ours.

Every limit the ledger insert relies on is checked here, before anything is archived: a
line of at most MAX_LINE characters, a payment_id of printable ASCII (at most
MAX_PAYMENT_ID), a reference of at most MAX_REFERENCE characters, an amount below 10^15
written with ASCII digits (the bound of money in YAML). A cell is stripped of exactly the
characters `str.strip()` strips (WHITESPACE), in this parser, in the vectorised post and in
a rebuild alike. The admission rules, which depend on when a file is posted (the deal takes
payments, see `payable_until`; the value date is at most MAX_DAYS_AHEAD after the posting
day), apply when posting only: a rebuild re-reads the archive exactly as it was accepted.

Types (SPEC §4.1): a row alone is checked for what it can say (a reversal names the payment
it reverses in `reverses`, a repayment is for a revolver, a payoff is not dated after
maturity); `reversal_problems` and `paid_off_problems` check rows against the ledger and the
other rows being posted, and against the allocation (no payment after a facility's payoff).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from ..conventions.currency import minor_units
from ..diagnostics import Diagnostic
from ..model.records import LoadedBook
from ..model.documents import PaymentProfile
from ..model.values import ValueProblem, money_digits, parse_date
from ..source.yamlsrc import decode
from .allocation import PAYMENT_TYPES, FacilityAllocation, Payment, live_payments

COLUMNS = ("payment_id", "deal", "facility", "date", "amount", "currency", "type", "reference", "reverses")
REQUIRED = ("payment_id", "deal", "date", "amount")
TYPES = PAYMENT_TYPES
_AMOUNT = re.compile(r"^\+?[0-9]+(\.[0-9]+)?$")
csv.field_size_limit(64 * 1024 * 1024)
MAX_PAYMENT_ID = 128
MAX_REFERENCE = 1024
MAX_LINE = 4096
"""Characters of one physical line (the ledger's staging reader and DuckDB's stay far above)."""
MAX_AMOUNT_EXPONENT = 15
"""Amounts are below 10^15, as money in YAML (`values.parse_money`)."""
MAX_DAYS_AHEAD = 366
"""A value date may be at most this many days after the posting day."""
WHITESPACE = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace())
"""What `str.strip()` removes around a cell; the vectorised post trims the same set (none
lies above U+3000 IDEOGRAPHIC SPACE; a test holds Python to that)."""


def _short(text: str, limit: int = 40) -> str:
    """A value quoted in a message, cut so a 10 MB field never becomes a 10 MB diagnostic."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _id_problem(pid: str) -> str | None:
    """Why a payment_id is unusable, or None. Ids are printable ASCII: that is exactly the
    NFKC-stable text without look-alikes (a Cyrillic 'а', a fullwidth '１') or invisible
    characters (a BOM, zero-width or no-break space), so two ids that look alike are equal."""
    if len(pid) > MAX_PAYMENT_ID:
        return f"is longer than {MAX_PAYMENT_ID} characters"
    bad = next((ch for ch in pid if not " " <= ch <= "~"), None)
    if bad is None:
        return None
    folded = unicodedata.normalize("NFKC", pid)
    if folded != pid and all(" " <= ch <= "~" for ch in folded):
        return f"is not plain ASCII: it reads as {_short(folded)} (NFKC)"
    return f"has {_char_name(bad)}, not printable ASCII"


def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'a control character')}"


def _unicode_digit(text: str) -> str | None:
    """The first non-ASCII digit in `text` (Python's int, Decimal and dates accept them)."""
    return next((ch for ch in text if ch.isdigit() and not ch.isascii()), None)


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


def _type_problems(ptype: str, reverses: str, pid: str, ff: FacilityFacts | None, facility: str,
                   when: date | None) -> list[tuple[str, str, str | None]]:
    """What one row alone says about its type: a reversal names what it reverses (and only a
    reversal does), a repayment is for a revolver, a payoff is dated by the maturity."""
    out: list[tuple[str, str, str | None]] = []
    if ptype == "reversal" and not reverses:
        out.append(("E0436", "a reversal needs the payment_id it reverses in the reverses column",
                    "add a reverses column naming the returned or misapplied payment"))
    elif reverses and ptype != "reversal":
        out.append(("E0436", f"reverses {_short(reverses)} is set on a {ptype} payment; only a reversal reverses "
                             "a payment", "set type to reversal, or leave reverses empty"))
    elif reverses and (why := _id_problem(reverses)) is not None:
        out.append(("E0436", f"reverses {_short(reverses)} is not a payment_id: it {why}", None))
    elif ptype == "reversal" and reverses == pid:
        out.append(("E0438", f"payment {_short(pid)} reverses itself", "name the payment it reverses"))
    if ff is None or facility not in ff.maturities:
        return out
    kind = ff.types.get(facility)
    if ptype == "repayment" and kind is not None and kind != "revolver":
        out.append(("E0434", f"a repayment is for a revolver; facility {facility!r} is a {kind.replace('_', '-')} "
                             "facility", "pay principal early with type prepayment (its prepayment fee applies)"))
    if ptype == "payoff" and when is not None and when > ff.maturities[facility]:
        out.append(("E0435", f"payoff dated {when} is after the facility's maturity {ff.maturities[facility]}",
                    "a payment after maturity settles what is past due: type scheduled"))
    return out


Problem = tuple[Payment, str, str, "str | None"]
"""(the row, code, message, hint) of a check across rows: the caller reports it at the row's FILE:LINE."""


def reversal_problems(new: list[Payment], existing: dict[str, Payment]) -> list[Problem]:
    """The reversals among `new` (in the order of their files) against the ledger's payments
    and all the rows being posted: each names a known payment, not a reversal, not reversed
    already (by the ledger or an earlier row), of the same deal, facility and amount, dated
    on or before the reversal."""
    known = dict(existing)
    for p in new:
        known.setdefault(p.payment_id, p)
    reversed_by = {p.reverses: p.payment_id for p in existing.values() if p.type == "reversal"}
    out: list[Problem] = []
    for p in new:
        if p.type != "reversal":
            continue
        target = known.get(p.reverses)
        if target is None:
            out.append((p, "E0437", f"reverses {p.reverses!r}, which is neither in the ledger nor in the files "
                                    "being posted", "check the payment_id; post the original payment first"))
        elif target.type == "reversal":
            out.append((p, "E0438", f"reverses {p.reverses!r}, itself a reversal: a reversal cannot be reversed",
                        "post the payment again under a new payment_id"))
        elif p.reverses in reversed_by:
            out.append((p, "E0438", f"payment {p.reverses!r} is already reversed by {reversed_by[p.reverses]!r}",
                        "a payment is reversed once"))
        elif (target.deal, target.facility, target.amount) != (p.deal, p.facility, p.amount):
            out.append((p, "E0438", f"reverses {p.reverses!r} ({target.deal} {target.facility} {target.amount}) "
                                    f"but is {p.deal} {p.facility} {p.amount}",
                        "a reversal has the deal, facility and amount of the payment it reverses"))
        elif p.date < target.date:
            out.append((p, "E0438", f"dated {p.date}, before the payment {p.reverses!r} it reverses ({target.date})",
                        "date the reversal on or after the payment"))
        else:
            reversed_by[p.reverses] = p.payment_id
    return out


def paid_off_problems(fa: FacilityAllocation, payments: list[Payment], new_ids: set[str]) -> list[Problem]:
    """A facility ended by a payoff (`fa.payoff`) takes no payment dated after the payoff's
    date (a reversal excepted: reversing the payoff reopens the facility). A new payment
    dated after it is refused at its row; a new payoff dated before a payment already
    posted is refused at the payoff's row."""
    if fa.payoff is None:
        return []
    live = live_payments(payments)
    off = next(p for p in live if p.payment_id == fa.payoff)
    later = [p for p in live if p.date > off.date]
    out: list[Problem] = []
    for p in later:
        if p.payment_id in new_ids:
            out.append((p, "E0439", f"facility {p.deal}/{p.facility} was paid off on {off.date} by "
                                    f"{off.payment_id!r}; a payment dated {p.date} is after it",
                        "reverse the payoff first (type reversal), or check the deal, facility and date"))
        elif off.payment_id in new_ids:
            out.append((off, "E0439", f"this payoff ends facility {p.deal}/{p.facility} on {off.date}, before "
                                      f"payment {p.payment_id!r} ({p.date}) already posted",
                        "date the payoff after the last payment, or reverse that payment first"))
    return out


def detect_profile(header: list[str], profiles: dict[str, PaymentProfile]) -> str | None:
    """The one profile whose mapped columns are exactly this header (for rebuilds)."""
    names = {h.strip().lower() for h in header}
    if names <= set(COLUMNS):
        return None
    found = [n for n, p in sorted(profiles.items()) if {c.strip().lower() for c in p.columns.values()} | (
        names & set(COLUMNS) - set(p.columns)) == names]
    return found[0] if len(found) == 1 else None


def value_date(raw: str, fmt: str | None) -> date:
    """The value date in a (stripped) cell: ISO, or the profile's strptime format. ASCII
    only, since strptime and int() also read other scripts' digits; ValueError otherwise."""
    if not raw.isascii():
        raise ValueError(raw)
    return datetime.strptime(raw, fmt).date() if fmt else parse_date(raw)


def long_lines(text: str) -> dict[int, int]:
    """{line number: characters} of the physical lines longer than MAX_LINE (lines end
    where the CSV reader ends them: LF, CRLF or a lone CR)."""
    return {n: len(line.rstrip("\r\n")) for n, line in enumerate(io.StringIO(text, newline=""), 1)
            if len(line) > MAX_LINE and len(line.rstrip("\r\n")) > MAX_LINE}


def parse_payment_file(name: str, raw: bytes, facts: dict[str, FacilityFacts],
                       profile: PaymentProfile | None = None, archive_name: str = "",
                       posting_day: date | None = None) -> tuple[list[Payment], list[Diagnostic]]:
    """Rows of one payment file as `Payment`s, or diagnostics for every bad row.

    With `posting_day` (a post, not a re-reading of the archive) the admission rules apply
    too: the deal takes payments (`payable_until`) and the value date is at most
    MAX_DAYS_AHEAD after that day."""
    text, diags = decode(raw, name)
    if text is None:
        return [], diags
    if not text.strip():
        return [], [Diagnostic("E0401", "the payment file is empty", name, 1,
                               hint="a payment file starts with a header: payment_id,deal,facility,date,amount,...")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        return [], [Diagnostic("E0414", f"malformed CSV header: {exc}", name, 1)]
    mapping = {c: c for c in COLUMNS}
    if profile is not None:
        mapping.update(profile.columns)
    by_header = {v.strip().lower(): k for k, v in mapping.items()}
    index: dict[str, int] = {}
    out_diags: list[Diagnostic] = []
    for i, h in enumerate(header):
        key = h.strip().lower()
        col = by_header.get(key)
        if col is None:
            hint = ("map it with a payment profile in book.yaml (payment_profiles) and --profile, or remove it"
                    if profile is None else "add it to the profile's columns, or remove it")
            if len(header) == 1 and (";" in h or "\t" in h):
                out_diags.append(Diagnostic("E0403", f"header {_short(h)} is not comma-separated", name, 1,
                                            hint="payment files are comma-separated (,)"))
                return [], out_diags
            out_diags.append(Diagnostic("E0403", f"unknown column {_short(h.strip())}", name, 1, hint=hint))
        elif col in index:
            out_diags.append(Diagnostic("E0403", f"column {_short(h.strip())} appears twice", name, 1))
        else:
            index[col] = i
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        out_diags.append(Diagnostic("E0402", f"missing required column{'s' if len(missing) > 1 else ''}: "
                                             f"{', '.join(mapping[c] for c in missing)}", name, 1,
                                    hint="the header needs payment_id, deal, date and amount"))
    if out_diags:
        return [], out_diags

    payments: list[Payment] = []
    seen: dict[str, int] = {}
    too_long = long_lines(text)
    for n, chars in too_long.items():
        out_diags.append(Diagnostic("E0418", f"line {n} has {chars} characters, more than {MAX_LINE}", name, n,
                                    hint="a payment row is one short line; split or shorten it"))
    width = len(header)
    fmt = profile.date_format if profile is not None else None
    get = {c: index.get(c) for c in COLUMNS}
    line = 1
    while True:
        start_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out_diags.append(Diagnostic("E0414", f"malformed CSV: {exc}", name, start_line,
                                        hint="check the quotes on this line"))
            break
        line = start_line
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        long_row = bool(too_long) and any(n in too_long for n in range(line, reader.line_num + 1))
        if len(row) != width:
            out_diags.append(Diagnostic("E0414", f"expected {width} fields, found {len(row)}", name, line,
                                        hint="a comma inside a value must be quoted"))
            continue

        def cell(col: str) -> str:
            i = get[col]
            return row[i].strip() if i is not None else ""

        problems: list[tuple[str, str, str | None]] = []
        pid = cell("payment_id")
        deal_id = cell("deal")
        if not pid:
            problems.append(("E0416", "payment_id is empty", "every row needs a payment_id"))
        elif (why := _id_problem(pid)) is not None:
            problems.append(("E0417", f"payment_id {_short(pid)} is not usable: it {why}",
                             f"at most {MAX_PAYMENT_ID} printable ASCII characters (letters, digits, "
                             "punctuation, space)"))
        ff = facts.get(deal_id) if deal_id else None
        facility = cell("facility")
        if not deal_id:
            problems.append(("E0416", "deal is empty", "name the deal id"))
        elif ff is None:
            problems.append(("E0404", f"unknown deal {_short(deal_id)}", "the deal id is the deal's folder name"))
        else:
            if not facility:
                if len(ff.facility_ids) == 1:
                    facility = ff.facility_ids[0]
                else:
                    problems.append(("E0405", f"deal {deal_id!r} has {len(ff.facility_ids)} facilities; "
                                              "the facility column is required",
                                     f"facilities: {', '.join(ff.facility_ids)}"))
            elif facility not in ff.facility_ids:
                problems.append(("E0405", f"deal {deal_id!r} has no facility {_short(facility)}",
                                 f"facilities: {', '.join(ff.facility_ids)}"))
        when = None
        raw_date = cell("date")
        if (digit := _unicode_digit(raw_date)) is not None:
            problems.append(("E0433", f"date {_short(raw_date)} has the non-ASCII digit {_char_name(digit)}",
                             "write dates with the digits 0-9"))
        else:
            try:
                when = value_date(raw_date, fmt)
            except ValueProblem as p:
                problems.append(("E0409", p.message, p.hint))
            except (ValueError, OverflowError):
                problems.append(("E0409", f"{_short(raw_date)} does not match the date format "
                                          f"{fmt or 'YYYY-MM-DD'}", None))
        amount = None
        raw_amount = cell("amount")
        if not raw_amount:
            problems.append(("E0416", "amount is empty", None))
        elif (digit := _unicode_digit(raw_amount)) is not None:
            problems.append(("E0433", f"amount {_short(raw_amount)} has the non-ASCII digit {_char_name(digit)}",
                             "write amounts with the digits 0-9"))
        elif raw_amount.startswith("-") or raw_amount.startswith("(") and raw_amount.endswith(")"):
            problems.append(("E0407", f"amount {_short(raw_amount)} is not positive", "payments are positive amounts"))
        elif not _AMOUNT.match(raw_amount):
            problems.append(("E0407", f"amount {raw_amount[:40]!r} is not a plain number",
                             "write 1250.50 (no thousands separators or currency signs)"))
        else:
            amount = Decimal(raw_amount)
            if amount <= 0:
                problems.append(("E0407", f"amount {_short(raw_amount)} is not positive",
                                 "payments are positive amounts"))
            elif amount.adjusted() >= MAX_AMOUNT_EXPONENT:
                problems.append(("E0419", f"amount {_short(raw_amount)} is 10^{MAX_AMOUNT_EXPONENT} or more",
                                 "check the number of digits"))
                amount = None
        currency = cell("currency").upper()
        if ff is not None:
            if currency and (currency != ff.currency or not currency.isascii()):
                problems.append(("E0406", f"currency {_short(currency)} differs from the deal's {ff.currency}",
                                 "pay in the deal's currency"))
            currency = ff.currency
            if amount is not None and money_digits(amount) > minor_units(currency):
                problems.append(("E0408", f"amount {raw_amount} has more decimals than {currency} allows "
                                          f"({minor_units(currency)})", None))
            if when is not None and facility in ff.starts and when < ff.starts[facility]:
                problems.append(("E0410", f"value date {when} is before the facility's start "
                                          f"{ff.starts[facility]}", None))
            until = payable_until(ff)
            if posting_day is not None and until is None:
                problems.append(("E0431", f"deal {deal_id!r} is {ff.status}: it takes payments once funded",
                                 "fund the deal first (loanctl fund), or check the deal id"))
            elif posting_day is not None and when is not None and when > until:
                problems.append(("E0431", f"deal {deal_id!r} is repaid: a payment dated {when} is after its final "
                                          f"maturity {until}", "a repaid deal takes no new payments; check the "
                                                               "deal id and the date"))
        if posting_day is not None and when is not None and (when - posting_day).days > MAX_DAYS_AHEAD:
            problems.append(("E0432", f"value date {when} is more than {MAX_DAYS_AHEAD} days after the posting "
                                      f"day {posting_day}", "check the year of the date"))
        reference = cell("reference")
        if len(reference) > MAX_REFERENCE and not long_row:  # a long line is reported once, above
            problems.append(("E0418", f"reference has {len(reference)} characters, more than {MAX_REFERENCE}",
                             "shorten the reference"))
        ptype = cell("type").lower() or "scheduled"
        if ptype not in TYPES:
            problems.append(("E0413", f"type {_short(cell('type'))} is not one of {', '.join(TYPES)}", None))
        reverses = cell("reverses")
        problems += _type_problems(ptype, reverses, pid, ff, facility, when)
        if pid and pid in seen:
            problems.append(("E0411", f"payment_id {pid!r} already appears on line {seen[pid]}",
                             "payment ids are unique in the book forever"))
        if problems:
            for code, message, hint in problems:
                out_diags.append(Diagnostic(code, message, name, line, hint=hint))
            continue
        seen[pid] = line
        amount = amount.quantize(Decimal(1).scaleb(-minor_units(currency)))
        payments.append(Payment(pid, deal_id, facility, when, amount, currency, ptype, reference,
                                archive_name, line, reverses))
    if not payments and not out_diags:
        out_diags.append(Diagnostic("E0401", "the payment file has a header but no rows", name, 1))
    out_diags.sort(key=lambda d: d.line or 0)  # long lines are found first; report in file order
    return payments, out_diags
