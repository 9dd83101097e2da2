"""Payment files (SPEC §4.1): strict CSV with a header, every row checked, `FILE:LINE` diagnostics.

UTF-8 (a BOM is accepted), comma-separated, CRLF or LF, quoted fields. Header names are
case-insensitive; other columns are an error unless a payment profile of book.yaml maps a
bank's export columns (and date format) onto ours.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ..conventions.currency import minor_units
from ..diagnostics import Diagnostic
from ..model.records import LoadedBook
from ..model.documents import PaymentProfile
from ..model.values import ValueProblem, money_digits, parse_date
from ..source.yamlsrc import decode
from .allocation import Payment

COLUMNS = ("payment_id", "deal", "facility", "date", "amount", "currency", "type", "reference")
REQUIRED = ("payment_id", "deal", "date", "amount")
TYPES = ("scheduled", "prepayment", "fee")
_AMOUNT = re.compile(r"^\+?\d+(\.\d+)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
csv.field_size_limit(64 * 1024 * 1024)


def _short(text: str, limit: int = 40) -> str:
    """A value quoted in a message, cut so a 10 MB field never becomes a 10 MB diagnostic."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _usable_id(pid: str) -> bool:
    """Printable, without invisible or look-alike spacing (a BOM, zero-width or no-break space)."""
    import unicodedata
    return all(ch == " " or (ch.isprintable() and unicodedata.category(ch) not in ("Zs", "Cf")) for ch in pid)


@dataclass(frozen=True, slots=True)
class FacilityFacts:
    """What a row is checked against."""

    currency: str
    facility_ids: tuple[str, ...]
    starts: dict[str, date]
    maturities: dict[str, date]


def facts_of(loaded: LoadedBook) -> dict[str, FacilityFacts]:
    from ..engine.deal import deal_terms
    out = {}
    for deal_id, record in loaded.deals.items():
        terms, _ = deal_terms(record)
        out[deal_id] = FacilityFacts(
            record.deal.currency, tuple(terms),
            {fid: t.first.facility.start_date for fid, t in terms.items()},
            {fid: t.last.facility.maturity_date for fid, t in terms.items()})
    return out


def detect_profile(header: list[str], profiles: dict[str, PaymentProfile]) -> str | None:
    """The one profile whose mapped columns are exactly this header (for rebuilds)."""
    names = {h.strip().lower() for h in header}
    if names <= set(COLUMNS):
        return None
    found = [n for n, p in sorted(profiles.items()) if {c.strip().lower() for c in p.columns.values()} | (
        names & set(COLUMNS) - set(p.columns)) == names]
    return found[0] if len(found) == 1 else None


def parse_payment_file(name: str, raw: bytes, facts: dict[str, FacilityFacts],
                       profile: PaymentProfile | None = None, archive_name: str = ""
                       ) -> tuple[list[Payment], list[Diagnostic]]:
    """Rows of one payment file as `Payment`s, or diagnostics for every bad row."""
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
        elif len(pid) > 128 or _CONTROL.search(pid) or not _usable_id(pid):
            problems.append(("E0417", f"payment_id {pid[:40]!r} is not usable", "at most 128 printable characters"))
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
        try:
            when = datetime.strptime(raw_date, fmt).date() if fmt else parse_date(raw_date)
        except ValueProblem as p:
            problems.append(("E0409", p.message, p.hint))
        except ValueError:
            problems.append(("E0409", f"{raw_date!r} does not match the date format {fmt}", None))
        amount = None
        raw_amount = cell("amount")
        if not raw_amount:
            problems.append(("E0416", "amount is empty", None))
        elif raw_amount.startswith("-") or raw_amount.startswith("(") and raw_amount.endswith(")"):
            problems.append(("E0407", f"amount {raw_amount} is not positive", "payments are positive amounts"))
        elif not _AMOUNT.match(raw_amount):
            problems.append(("E0407", f"amount {raw_amount[:40]!r} is not a plain number",
                             "write 1250.50 (no thousands separators or currency signs)"))
        else:
            amount = Decimal(raw_amount)
            if amount <= 0:
                problems.append(("E0407", f"amount {raw_amount} is not positive", "payments are positive amounts"))
        currency = cell("currency").upper()
        if ff is not None:
            if currency and currency != ff.currency:
                problems.append(("E0406", f"currency {_short(currency)} differs from the deal's {ff.currency}",
                                 "pay in the deal's currency"))
            currency = ff.currency
            if amount is not None and money_digits(amount) > minor_units(currency):
                problems.append(("E0408", f"amount {raw_amount} has more decimals than {currency} allows "
                                          f"({minor_units(currency)})", None))
            if when is not None and facility in ff.starts and when < ff.starts[facility]:
                problems.append(("E0410", f"value date {when} is before the facility's start "
                                          f"{ff.starts[facility]}", None))
        ptype = cell("type").lower() or "scheduled"
        if ptype not in TYPES:
            problems.append(("E0413", f"type {_short(cell('type'))} is not one of {', '.join(TYPES)}", None))
        if pid and pid in seen:
            problems.append(("E0411", f"payment_id {pid!r} already appears on line {seen[pid]}",
                             "payment ids are unique in the book forever"))
        if problems:
            for code, message, hint in problems:
                out_diags.append(Diagnostic(code, message, name, line, hint=hint))
            continue
        seen[pid] = line
        amount = amount.quantize(Decimal(1).scaleb(-minor_units(currency)))
        payments.append(Payment(pid, deal_id, facility, when, amount, currency, ptype, cell("reference"),
                                archive_name, line))
    if not payments and not out_diags:
        out_diags.append(Diagnostic("E0401", "the payment file has a header but no rows", name, 1))
    return payments, out_diags
