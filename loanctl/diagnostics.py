"""One diagnostic type for every stage, the registry of stable codes, and the renderers.

Stages collect `Diagnostic` values and return them; nothing here raises. Printing happens
once, at the command line's edge, through `render_text`, `render_json` or `render_github`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem found in the book or in an input file."""

    code: str
    """Stable code from `CODES`, e.g. ``E0104``."""
    message: str
    """What is wrong, in the words of the trade."""
    file: str | None = None
    """Path of the offending file as given to loanctl (relative where possible)."""
    line: int | None = None
    """1-based line; for CSV files the file's line (header = 1)."""
    column: int | None = None
    """1-based column (YAML only)."""
    hint: str | None = None
    """How to fix it."""
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def location(self) -> str:
        parts = [self.file or "<book>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass
class DiagnosticError(Exception):
    """Raised only to cross a boundary where returning is impossible (e.g. deep in the CLI);
    carries the diagnostics so the edge can print them."""

    diagnostics: list[Diagnostic] = field(default_factory=list)


def has_errors(diags: Iterable[Diagnostic], strict: bool = False) -> bool:
    return any(d.is_error or strict for d in diags)


def sort_key(d: Diagnostic):
    return (d.file or "", d.line or 0, d.column or 0, d.code, d.message)


# --- the registry -------------------------------------------------------------------------
# Codes are stable: never renumber, only add. Each has a reproducing test (tests check it).
CODES: dict[str, str] = {
    # E00xx — reading files
    "E0001": "YAML syntax error",
    "E0002": "duplicate key in a YAML mapping",
    "E0003": "YAML tag other than the standard scalars",
    "E0004": "alias expansion too large (alias bomb)",
    "E0005": "file too large",
    "E0006": "file is not valid UTF-8",
    "E0007": "file is empty",
    "E0008": "tab character used for indentation",
    "E0009": "nesting too deep",
    "E0010": "deal folder without deal.yaml",
    "E0011": "no book found",
    "E0012": "folder or file name is not a valid id",
    "E0013": "document is not a mapping",
    "E0014": "merge-conflict markers left in the file",
    "E0015": "file cannot be read",
    "E0016": "template reached through a symlink that leaves the book",
    "E0017": "template syntax error",
    "E0018": "template refused by the sandbox",
    "E0019": "template failed to render",
    "E0020": "a link leads outside the book",
    "E0021": "command-line text is not valid UTF-8",
    # E01xx — values and shapes
    "E0101": "unknown key",
    "E0102": "required key missing",
    "E0103": "wrong type of value",
    "E0104": "invalid rate",
    "E0105": "invalid money amount",
    "E0106": "invalid date",
    "E0107": "invalid share",
    "E0108": "unknown currency",
    "E0109": "invalid id",
    "E0110": "value not among the allowed choices",
    "E0111": "invalid number",
    "E0112": "date outside the accepted window 1900-01-01 to 2200-12-31",
    "E0113": "digits other than ASCII 0-9 in a number or date",
    # E02xx — consistency of the book
    "E0201": "deal id differs from its folder name",
    "E0202": "unknown borrower",
    "E0203": "unknown lender",
    "E0204": "interest needs exactly one of index or fixed_rate",
    "E0205": "index has no rate file",
    "E0206": "unknown calendar",
    "E0207": "participation shares do not sum to 100%",
    "E0208": "dates out of order",
    "E0209": "draw outside the availability period",
    "E0210": "draws exceed the commitment",
    "E0211": "custom amortization date is not a payment date",
    "E0212": "more decimals than the currency allows",
    "E0213": "duplicate id",
    "E0214": "amendment names an unknown facility",
    "E0215": "amendment changes a term that cannot be amended",
    "E0216": "amendment path is not a facility term",
    "E0217": "amendment effective date outside the facility's life",
    "E0218": "amendment id differs from its file name",
    "E0219": "approvals required by policy are missing",
    "E0220": "invalid entity reference",
    "E0221": "amortization settings incomplete",
    "E0222": "no fixing on or before the first fixing date",
    "E0223": "amortization exceeds the drawn principal",
    "E0224": "amendment change must name a facility with set, or add_facility",
    "E0225": "leverage above the policy limit",
    "E0226": "a declined deal or approval is inconsistent with the status",
    "E0227": "duplicate lender in a participation",
    "E0228": "negative or zero amount",
    "E0229": "financials lack a figure a covenant needs",
    "E0230": "amendment lacks the approvals the policy requires",
    "E0231": "approval dated after the amendment's effective date",
    "E0232": "amendment changes terms dated before its effective date",
    "E0233": "amended maturity not after the effective date",
    "E0234": "one person signs for two roles",
    "E0235": "approvals on a draft deal",
    "E0240": "a payment profile used by archived files changed or was removed",
    "E0245": "negative spread, rate, fee or amortization rate",
    "E0246": "commitment amended below the amount drawn",
    "E0260": "first_test_date is not a test date of the covenant's frequency",
    "E0261": "a waiver names a period that is not tested",
    "E0262": "a covenant test is waived twice",
    "E0275": "revolver draw above the availability after repayments",
    "E0276": "payoff quote date outside the facility's life",
    "E0277": "payoff quote for a facility already paid off",
    "E0280": "overnight method with a day count other than ACT/360 or ACT/365F",
    "E0281": "observation_shift with method simple",
    "E0282": "negative lookback_days or lockout_days",
    "E0283": "lockout as long as a period",
    "E0284": "overnight settings without an overnight method and index",
    "E0285": "fixing lag that does not apply, or given twice",
    # E03xx — rate fixings
    "E0301": "rate file header must be date,rate",
    "E0302": "invalid date in a rate file",
    "E0303": "invalid rate in a rate file",
    "E0304": "rate file dates are not strictly increasing",
    "E0305": "rate file has no rows",
    "E0306": "rate fixing outside the plausible range (warning)",
    "E0307": "a period needs an overnight fixing before the rate file's first row",
    "E0308": "gap of more than 5 days in an overnight rate file (warning)",
    "E0309": "overnight fixing dated on a weekend (warning)",
    # E04xx — payment files and the ledger
    "E0401": "payment file is empty",
    "E0402": "payment file misses a required column",
    "E0403": "unknown or repeated column in a payment file",
    "E0404": "payment for an unknown deal",
    "E0405": "payment facility unknown or missing",
    "E0406": "payment currency differs from the deal's",
    "E0407": "payment amount is not a positive number",
    "E0408": "payment amount has more decimals than the currency allows",
    "E0409": "invalid payment date",
    "E0410": "payment dated before the facility's start",
    "E0411": "payment_id repeated in the files being posted",
    "E0412": "payment_id already posted with different content",
    "E0413": "unknown payment type",
    "E0414": "malformed CSV row",
    "E0416": "required payment field is empty",
    "E0417": "unusable payment_id",
    "E0418": "payment line or reference too long",
    "E0419": "payment amount out of range",
    "E0420": "the ledger is missing, corrupt or from a newer loanctl",
    "E0421": "the ledger is busy (another post is running)",
    "E0422": "cannot write the archive or the ledger",
    "E0423": "ledger check found an inconsistency",
    "E0424": "query rejected or failed",
    "E0425": "query stopped at its time limit",
    "E0426": "query over its memory and spill budget",
    "E0427": "no private work folder for a query",
    "E0440": "stored allocations do not follow the book",
    "E0441": "the ledger holds payments of a deal or facility the book no longer has",
    "E0430": "payment file posted before with another profile",
    "E0431": "payment for a deal that takes no payments",
    "E0432": "payment value date too far after the posting day",
    "E0433": "non-ASCII digits in a payment amount or date",
    "E0434": "repayment on a facility that is not a revolver",
    "E0435": "payoff dated after maturity",
    "E0436": "reversal without reverses, or reverses on another type",
    "E0437": "reversal of an unknown payment",
    "E0438": "reversal that cannot reverse its payment",
    "E0439": "payment for a facility already paid off",
    # E05xx — git, workflow and the audit trail
    "E0501": "not a git repository",
    "E0502": "unknown git revision",
    "E0503": "revision missing from a shallow clone",
    "E0504": "a funded deal's term changed without an amendment",
    "E0505": "a merged amendment, trade or credit-event file changed or was deleted",
    "E0506": "status moved backwards",
    "E0507": "a funded deal was deleted or renamed",
    "E0508": "status does not allow this step",
    "E0509": "policy limit breached",
    "E0510": "invalid --set for an amendment",
    "E0511": "a past rate fixing changed or was removed",
    "E0512": "a book calendar changed or was removed",
    "E0513": "a merged financials file changed or was deleted",
    "E0514": "approval dated before the deal was created in git",
    # E06xx — simulation
    "E0601": "simulated prepayment larger than the balance",
    "E0602": "simulated prepayment names an unknown facility",
    "E0603": "simulated default date outside the facility's life",
    "E0604": "simulated prepayment outside the facility's life",
    "E0605": "trade id differs from its file name",
    "E0606": "trade names an unknown facility",
    "E0607": "trade seller or buyer is not a lender",
    "E0608": "trade settles before its trade date",
    "E0609": "trade settles outside the facility's life",
    "E0610": "trade price is not positive",
    "E0611": "trade gives both or neither of amount and share",
    "E0612": "trade seller and buyer are the same lender",
    "E0613": "trade lacks the approvals the policy requires",
    "E0614": "trade seller holds less than it sells",
    "E0615": "shares would not sum to 100% after a trade",
    "E0616": "par amount traded when nothing is outstanding",
    "E0617": "invalid loanctl trade request",
    # E062x — credit events (SPEC §2.7)
    "E0620": "credit event id differs from its file name",
    "E0621": "credit event dated outside the facility's life",
    "E0622": "credit event names an unknown facility",
    "E0623": "default cured without a default in force",
    "E0624": "accrual restored without a non-accrual in force",
    "E0625": "write-off larger than the outstanding principal",
    "E0626": "amount on a credit event other than a write-off",
    "E0627": "status written_off without a write-off of everything",
    "E0628": "status repaid with principal still owed",
    "E0629": "credit event on a deal that is not funded",
    # E0640–E0659 — fair-value marks and FX rates (fund accounting)
    "E0640": "marks file name is not a date",
    "E0641": "marks file header is not deal,facility,price,source",
    "E0642": "marks row malformed",
    "E0643": "mark price not a percentage of par",
    "E0644": "mark without a source",
    "E0645": "facility marked twice in one marks file",
    "E0646": "mark names an unknown deal",
    "E0647": "mark names an unknown facility",
    "E0650": "FX file name is not a currency pair",
    "E0651": "FX file header is not date,rate",
    "E0652": "FX row malformed",
    "E0653": "FX dates not strictly increasing",
    "E0654": "no FX rate on or before the as-of date",
    # E07xx — notices, statements and reconciliation (E0700–E0709: notices and statements)
    "E0700": "remittance reference names an unknown field",
    "E0701": "billing notices need remittance instructions",
    "E0702": "PDF output needs WeasyPrint",
    # E071x — bank statements (loanctl reconcile)
    "E0710": "statement in an unknown format",
    "E0711": "malformed camt.053 statement",
    "E0712": "XML statement declares a DTD or entities",
    "E0713": "malformed MT940 statement",
    "E0714": "statement credit in another currency than the deal's",
    "E0715": "transaction reference repeated in a statement",
    "E0716": "statement entry without a usable transaction reference",
    "E0717": "CSV statement does not fit its profile",
    "E0718": "invalid amount, date or currency in a statement entry",
    # accounting and the journal (SPEC §9)
    "E0800": "invalid journal account name in book.yaml accounts",
    "E0801": "effective interest rate cannot be solved; straight line used",
    "E0802": "two ids give the same journal account name",
    # derived state, scale and export (SPEC §10)
    "E0900": "the export could not be written",
    "E0920": "a stored report position is corrupt",
    "E0921": "stored report positions of an earlier version of their deal",
    "E0922": "stored schedules missing or of an earlier version of their deal",
    "E0923": "a deal's stored schedules are incomplete",
}

SEVERITY_WORD = {"error": "error", "warning": "warning"}


# --- rendering ----------------------------------------------------------------------------
def display_path(path: str | os.PathLike) -> str:
    """A path relative to the current folder when it lies below it, else as given."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


class _Lines:
    def __init__(self, read=None) -> None:
        self._cache: dict[str, list[str] | None] = {}
        self._read = read

    def _bytes(self, file: str) -> bytes | None:
        if self._read is not None:  # e.g. the book at a git revision
            return self._read(file)
        try:
            path = Path(file)
            return path.read_bytes() if path.is_file() else None
        except OSError:
            return None

    def get(self, file: str | None, line: int | None) -> str | None:
        if not file or not line:
            return None
        if file not in self._cache:
            raw = self._bytes(file)
            self._cache[file] = None if raw is None or len(raw) > 2_000_000 else \
                raw.decode("utf-8", "replace").splitlines()
        lines = self._cache[file]
        if lines is None or line > len(lines):
            return None
        text = lines[line - 1]
        return text if len(text) <= 300 else text[:300] + "…"


def render_text(diags: Iterable[Diagnostic], read=None) -> str:
    """`file:line:col: error[CODE]: message`, the source line with a caret, and the hint.
    `read(file)` supplies a file's bytes when it is not the one on disk (a git revision)."""
    from .plaintext import inert  # names, values and source lines are the book's text: never live on a terminal
    lines = _Lines(read)
    out: list[str] = []
    for d in diags:
        out.append(inert(f"{d.location()}: {d.severity}[{d.code}]: {d.message}", one_line=True))
        src = lines.get(d.file, d.line)
        if src is not None:
            num = str(d.line)
            src = src.replace(chr(9), ' ')
            out.append(f" {num} | {inert(src, one_line=True)}")
            if d.column:
                out.append(f" {' ' * len(num)} | {' ' * _caret(src, d.column, inert)}^")
        if d.hint:
            out.append(f"  = hint: {inert(d.hint, one_line=True)}")
    return "\n".join(out)


def _caret(src: str, column: int, inert) -> int:
    """Spaces before the caret: the shown width of the text before `column` (escapes are wider)."""
    return len(inert(src[:column - 1], one_line=True)) + max(0, column - 1 - len(src))


def render_json(diags: Iterable[Diagnostic]) -> str:
    from .plaintext import json_text
    return json_text(json.dumps([d.as_dict() for d in diags], indent=2, ensure_ascii=False))


def _gh_escape(text: str, prop: bool = False) -> str:
    from .plaintext import inert
    text = inert(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diags: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands, one annotation per diagnostic."""
    out = []
    for d in diags:
        props = []
        if d.file:
            props.append(f"file={_gh_escape(d.file, True)}")
        if d.line:
            props.append(f"line={d.line}")
        if d.column:
            props.append(f"col={d.column}")
        props.append(f"title={_gh_escape(d.code, True)}")
        msg = d.message + (f" (hint: {d.hint})" if d.hint else "")
        out.append(f"::{d.severity} {','.join(props)}::{_gh_escape(msg)}")
    return "\n".join(out)


def summary(diags: list[Diagnostic]) -> str:
    errors = sum(1 for d in diags if d.is_error)
    warnings = len(diags) - errors
    return f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"


class UsageProblem(Exception):
    """A usage error (exit 2): unknown deal, no book, a path outside the book."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
