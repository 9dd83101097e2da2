"""Every code of the book (E00xx–E03xx in `loanctl.diagnostics.CODES`) has a reproducer
here: a valid book with one file broken, run through `loanctl validate --format json`,
asserting the exact code, file, line and column, and the exit code (1; E0011 "no book
found" is a usage error: 2; E0229 comes from `loanctl covenants`).

Positions are stated by pointing at the source text (`pos(text, needle)`), never by reading
them back from loanctl. Where a branch cannot be reached from the command line it is also
reproduced by calling the library function (each such test says why).

The registry meta-tests below cover every code, including the payment, ledger, workflow and
simulation codes (E04xx–E06xx) whose reproducers live with those features' tests: each code
must be named by some test and documented in docs/diagnostics.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import yaml

from bookfactory import (DEAL_YAML, book_with, deal_with, invoke, pos, run_cli_subprocess,
                         run_validate, sofr_csv, write_book, write_file)
from loanctl.source import yamlsrc
from loanctl.diagnostics import CODES

DEAL = "acme-tl/deal.yaml"
AMENDMENT = "acme-tl/amendments/001-repricing.yaml"
TESTS = Path(__file__).parent
DOC = TESTS.parent / "docs" / "diagnostics.md"

AMENDMENT_YAML = """\
id: 001-repricing
effective_date: 2026-07-15
description: Repricing by 50 bps and one-year extension
approvals: [{by: jane.doe, role: credit_officer, date: 2026-06-30, decision: approved},
            {by: ic, role: credit_committee, date: 2026-07-01, decision: approved}]
changes:
  - {facility: tl, set: {interest.spread: 525bps, maturity_date: 2031-01-15}}
"""


@dataclass
class Case:
    code: str
    files: dict[str, str | bytes]
    """Files written over the valid book (path below the book root → text)."""
    file: str
    """The diagnostic's file, as a path suffix."""
    line: int | None
    column: int | None
    severity: str = "error"
    exit: int = 1
    count: int = 1
    """How many diagnostics with this code (the first, by position, is checked)."""
    allowed: frozenset = field(default_factory=frozenset)
    """Other codes that may appear beside it (known cascades)."""
    symlinks: dict[str, str] = field(default_factory=dict)


def deal_case(code: str, old: str, new: str, needle: str, nth: int = 1, **kw) -> Case:
    text = deal_with(old, new)
    line, col = pos(text, needle, nth)
    return Case(code, {DEAL: text}, DEAL, line, col, **kw)


def book_case(code: str, old: str, new: str, needle: str, nth: int = 1, **kw) -> Case:
    text = book_with(old, new)
    line, col = pos(text, needle, nth)
    return Case(code, {"book.yaml": text}, "book.yaml", line, col, **kw)


def amendment_case(code: str, old: str, new: str, needle: str, nth: int = 1, path: str = AMENDMENT,
                   **kw) -> Case:
    text = deal_with(old, new, AMENDMENT_YAML) if old else AMENDMENT_YAML
    line, col = pos(text, needle, nth)
    return Case(code, {path: text}, path, line, col, **kw)


def rates_case(code: str, text: str, line: int | None, column: int | None) -> Case:
    # A broken rate file is not loaded, so the deal's index also reports E0205 (see test_checks).
    return Case(code, {"rates/SOFR-3M.csv": text}, "rates/SOFR-3M.csv", line, column,
                allowed=frozenset({"E0205"}))


def _bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
        prev = name
    return "\n".join(lines) + "\n"


_CONFLICT = deal_with("status: funded\n", "<<<<<<< HEAD\nstatus: funded\n=======\nstatus: approved\n>>>>>>> other\n")
_NESTED = "id: acme-tl\nx: " + "[" * 100 + "]" * 100 + "\n"
_LATIN1 = DEAL_YAML.replace("Acme Industrial Senior", "Acme Industri\u00e9 Senior").encode("latin-1")
_TABS = deal_with("    type: term\n", "\ttype: term\n")
_CUSTOM = ("type: percent\n      annual_rate: 1%",
           "type: custom\n      schedule: [{date: 2025-04-16, amount: 1000000}]")
_DUP_FACILITY = DEAL_YAML + DEAL_YAML[DEAL_YAML.index("  - id: tl"):]
_PARTS = "      - {lender: fund-i-spv, share: 40%}\n"
_COVENANT = "covenants:\n  - {{id: max-lev, metric: total_leverage, max: 5.0{extra}}}\n"
_TWICE = deal_with(_PARTS, _PARTS + _COVENANT.format(
    extra=", waivers: [{period_end: 2025-06-30, by: agent}, {period_end: 2025-06-30, by: lenders}]"))
_Q2 = "period_end: 2025-06-30\nbasis: ltm\nebitda: 12600000\ntotal_debt: 45000000\n"
_SOFR = sofr_csv()
_PROFILED = book_with("dpd_buckets", 'payment_profiles:\n  bankx:\n    columns: {payment_id: "Txn ID"}\ndpd_buckets')
_SOFR_LINE3 = "2025-01-03,0.04300"  # the third row: line 4 of the file

# overnight rates in arrears (SPEC §3.2): the deal on compounded SOFR with daily fixings
_ON = deal_with("      index: SOFR-3M\n", "      index: SOFR\n      method: compounded\n")
_ON_RATES = sofr_csv(start=date(2024, 12, 2))
_ON_GAP = "".join(r + "\n" for r in _ON_RATES.splitlines()
                  if not r.startswith(("2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06")))
_ON_WEEKEND = _ON_RATES.replace("2025-03-07,", "2025-03-07,0.043\n2025-03-08,", 1)


def _line_of(text: str, prefix: str) -> int:
    return next(i for i, r in enumerate(text.splitlines(), start=1) if r.startswith(prefix))


def on_case(code: str, old: str, new: str, needle: str, offset: int = 0, rates: str = _ON_RATES, **kw) -> Case:
    """A case on the overnight deal; the position is `offset` characters after `needle`."""
    text = deal_with(old, new, _ON)
    line, col = pos(text, needle)
    return Case(code, {DEAL: text, "rates/SOFR.csv": rates}, DEAL, line, col + offset, **kw)


CASES: list[Case] = [
    # E00xx — reading files
    deal_case("E0001", "borrower: acme\n", "borrower: acme: x\n", ": x"),
    deal_case("E0002", "status: funded\n", "status: funded\nstatus: draft\n", "status", nth=2),
    deal_case("E0003", "name: Acme Industrial Senior Secured Term Loan",
              'name: !!python/object/apply:os.system ["echo pwned"]', "!!python"),
    # The budget counts each placed value by its expanded size: a..d add up to 16,604; e's
    # key 1 and its nine *d of 7,381 each reach 83,034, and closing e adds its own 66,430:
    # over 100,000 at the list anchored &e, which is reported (line 5, at the anchor).
    Case("E0004", {DEAL: _bomb()}, DEAL, *pos(_bomb(), "*e")),
    Case("E0005", {DEAL: "# padding\n" * (yamlsrc.MAX_BYTES // 10 + 1)}, DEAL, None, None),
    Case("E0006", {DEAL: _LATIN1}, DEAL, 2, len("name: Acme Industri") + 1),
    Case("E0007", {DEAL: ""}, DEAL, 1, 1),
    Case("E0008", {DEAL: _TABS}, DEAL, pos(_TABS, "\ttype")[0], 1),
    # 64 levels: the root mapping is the first, so the 64th bracket opens the 65th level
    Case("E0009", {DEAL: _NESTED}, DEAL, 2, len("x: ") + 64),
    Case("E0010", {"nodeal/notes.md": "no deal here\n"}, "/nodeal", None, None),
    # E0011: see test_e0011_no_book_found_is_a_usage_error
    Case("E0012", {"Acme/deal.yaml": DEAL_YAML}, "/Acme", None, None),
    Case("E0013", {DEAL: "- id: acme-tl\n- name: Acme\n"}, DEAL, 1, 1),
    Case("E0014", {DEAL: _CONFLICT}, DEAL, pos(_CONFLICT, "<<<<<<<")[0], 1),
    # a rate file that is a dangling symlink: listed, but cannot be read
    Case("E0015", {}, "rates/SOFR-6M.csv", None, None, symlinks={"rates/SOFR-6M.csv": "missing.csv"}),
    # a rate file that is a link to a file outside the book (the test folder holds book/ only)
    Case("E0020", {}, "rates/SOFR-6M.csv", None, None, symlinks={"rates/SOFR-6M.csv": "../../outside.csv"}),
    # E01xx — values and shapes
    deal_case("E0101", "  sourced_by: j.smith", "  sorced_by: j.smith", "sorced_by"),
    deal_case("E0102", "borrower: acme\n", "", "id: acme-tl"),  # the mapping that lacks the key
    deal_case("E0103", "      day_count: ACT/360\n", "      day_count: ACT/360\n      fixing_lag_days: 5x\n", "5x"),
    deal_case("E0104", "spread: 575bps", "spread: 5.75", "5.75"),
    deal_case("E0105", "commitment: 25000000", 'commitment: "$25,000,000"', '"$25'),
    deal_case("E0106", "start_date: 2025-01-15", "start_date: 2025-02-30", "2025-02-30"),
    deal_case("E0107", "share: 40%", "share: 140%", "140%"),
    deal_case("E0108", "currency: USD", "currency: USX", "USX"),
    deal_case("E0109", "  - id: tl\n", "  - id: TL/A\n", "TL/A"),
    deal_case("E0110", "status: funded", "status: fundd", "fundd"),
    deal_case("E0111", "ebitda: 12500000", "ebitda: abc", "abc"),
    deal_case("E0112", "maturity_date: 2030-01-15", "maturity_date: 9999-12-31", "9999-12-31"),
    deal_case("E0113", "commitment: 25000000", "commitment: ٢٥٠٠٠٠٠٠", "٢٥٠٠٠٠٠٠"),  # Arabic-Indic digits
    # E02xx — consistency of the book
    deal_case("E0201", "id: acme-tl", "id: acme-tl2", "acme-tl2"),
    deal_case("E0202", "borrower: acme", "borrower: acme-inc", "acme-inc"),
    deal_case("E0203", "lender: fund-i-spv", "lender: fund-i-spw", "fund-i-spw"),
    deal_case("E0204", "      index: SOFR-3M\n", "      index: SOFR-3M\n      fixed_rate: 9%\n", "index: SOFR-3M"),
    deal_case("E0205", "index: SOFR-3M", "index: SOFR-6M", "SOFR-6M"),
    deal_case("E0206", "calendar: US", "calendar: nyc-bnk", "nyc-bnk"),
    deal_case("E0207", "share: 40%", "share: 39.99%", "- {lender: fund-i,"),  # the list
    deal_case("E0208", "first_payment_date: 2025-04-15", "first_payment_date: 2031-04-15", "2031-04-15"),
    deal_case("E0209", "draws: [{date: 2025-01-15", "draws: [{date: 2025-01-10", "2025-01-10", nth=2),
    deal_case("E0210", "amount: 25000000}]", "amount: 25000001}]", "25000001"),
    deal_case("E0211", *_CUSTOM, "2025-04-16"),
    deal_case("E0212", "commitment: 25000000", "commitment: 25000000.005", "25000000.005"),
    Case("E0213", {DEAL: _DUP_FACILITY}, DEAL, *pos(_DUP_FACILITY, "tl\n", 3)),  # the second facility's id
    amendment_case("E0214", "facility: tl", "facility: rcf", "rcf"),
    amendment_case("E0215", "interest.spread: 525bps", "payments.frequency: monthly", "payments.frequency"),
    amendment_case("E0216", "interest.spread", "interest.sprd", "interest.sprd"),
    amendment_case("E0217", "effective_date: 2026-07-15", "effective_date: 2030-02-01", "2030-02-01"),
    amendment_case("E0218", "id: 001-repricing", "id: 001-reprice", "001-reprice"),
    deal_case("E0219", "    - {by: ic, role: credit_committee, date: 2025-01-12, decision: approved}\n", "",
              "funded"),
    book_case("E0220", ", parent: fund-i}", "}", "{id: fund-i-spv"),
    deal_case("E0221", "      annual_rate: 1%\n", "", "type: percent"),
    Case("E0222", {"rates/SOFR-3M.csv": sofr_csv(start=date(2025, 2, 1))}, DEAL, *pos(DEAL_YAML, "SOFR-3M")),
    deal_case("E0223", "type: percent\n      annual_rate: 1%",
              "type: custom\n      schedule: [{date: 2025-04-15, amount: 26000000}]", "[{date: 2025-04-15"),
    amendment_case("E0224", "{facility: tl, set:", "{set:", "{set:"),
    deal_case("E0225", "total_debt: 45000000", "total_debt: 80000000", "80000000"),
    deal_case("E0226", "decision: approved}\n",
              "decision: approved}\n    - {by: risk, role: risk_officer, date: 2025-01-13, decision: declined}\n",
              "declined"),
    # each row of the repeated lender is reported; the first is the original fund-i row
    deal_case("E0227", "lender: fund-i-spv, share: 40%", "lender: fund-i, share: 40%", "fund-i, share: 60%",
              count=2),
    deal_case("E0228", "{type: upfront, rate: 2%}", "{type: fixed, amount: 0, date: 2025-06-30}", "0, date"),
    # an archived file's sidecars say it was read with profile bankx as it was then (digest)
    Case("E0240", {"book.yaml": _PROFILED, "payments/2026-07-15-3f2a9c1b7d4e.csv.profile": "bankx\n",
                   "payments/2026-07-15-3f2a9c1b7d4e.csv.profile.sha256": "bankx " + "0" * 64 + "\n"},
         "book.yaml", *pos(_PROFILED, "bankx:")),
    deal_case("E0245", "spread: 575bps", "spread: -575bps", "-575bps"),
    # 25,000,000 drawn on 2025-01-15, before the amendment's 2026-07-15
    amendment_case("E0246", "interest.spread: 525bps", "commitment: 24999999", "24999999"),
    # start 2025-01-15: the first quarterly test date is 2025-06-30 (on or after 2025-04-15)
    deal_case("E0260", _PARTS, _PARTS + _COVENANT.format(extra=", first_test_date: 2025-05-31"), "2025-05-31"),
    deal_case("E0261", _PARTS, _PARTS + _COVENANT.format(extra=", waivers: [{period_end: 2025-03-31, by: agent}]"),
              "2025-03-31", severity="warning", exit=0),
    Case("E0262", {DEAL: _TWICE, "acme-tl/financials/2025-q2.yaml": _Q2}, DEAL, *pos(_TWICE, "2025-06-30", 2)),
    # approvals and time order: the amendment of the funded 25m deal needs both roles, each
    # dated on or before 2026-07-15; it may not reach before that date
    amendment_case("E0230", "{by: jane.doe, role: credit_officer, date: 2026-06-30, decision: approved},\n"
                            "            ", "", "[{by: ic"),
    amendment_case("E0231", "date: 2026-07-01", "date: 2026-07-16", "2026-07-16"),
    amendment_case("E0232", "interest.spread: 525bps", "draws: [{date: 2025-01-15, amount: 24000000}]",
                   "{date: 2025-01-15"),
    amendment_case("E0233", "maturity_date: 2031-01-15", "maturity_date: 2026-07-15", "2026-07-15", nth=2),
    deal_case("E0234", "{by: ic, role: credit_committee", "{by: jane.doe, role: credit_committee", "jane.doe",
              nth=2),
    deal_case("E0235", "status: funded", "status: draft", "{by: jane.doe", severity="warning", exit=0),
    # E03xx — rate fixings (CSV: file and line; column where a field is at fault)
    rates_case("E0301", _SOFR.replace("date,rate", "day,rate"), 1, None),
    rates_case("E0302", _SOFR.replace("2025-01-03,", "2025-01-32,"), 4, 1),
    rates_case("E0303", _SOFR.replace(_SOFR_LINE3, "2025-01-03,4.3"), 4, len("2025-01-03,") + 1),
    rates_case("E0304", _SOFR.replace("2025-01-03,", "2025-01-01,"), 4, 1),
    rates_case("E0305", "date,rate\n", 1, None),
    Case("E0306", {"rates/SOFR-3M.csv": _SOFR.replace(_SOFR_LINE3, "2025-01-03,0.6")}, "rates/SOFR-3M.csv",
         4, len("2025-01-03,") + 1, severity="warning", exit=0),
    on_case("E0280", "day_count: ACT/360", "day_count: 30/360", "30/360"),
    on_case("E0281", "method: compounded", "method: simple\n      observation_shift: true", "true"),
    on_case("E0282", "method: compounded", "method: compounded\n      lookback_days: -2", "lookback_days: ",
            len("lookback_days: ")),
    # the first quarter 2025-01-15 to 2025-04-15 has 64 weekdays, all rows of the file
    on_case("E0283", "method: compounded", "method: compounded\n      lockout_days: 70", "70"),
    on_case("E0284", "method: compounded", "method: term\n      lookback_days: 5", "lookback_days: ",
            len("lookback_days: ")),
    on_case("E0285", "method: compounded", "method: compounded\n      fixing_lag_days: 2", "fixing_lag_days: ",
            len("fixing_lag_days: ")),
    # the deal starts 2025-01-15; five business days back is before the file's first row, 2025-01-13
    on_case("E0307", "method: compounded", "method: compounded\n      lookback_days: 5", "SOFR\n",
            rates=sofr_csv(start=date(2025, 1, 13))),
    Case("E0308", {DEAL: _ON, "rates/SOFR.csv": _ON_GAP}, "rates/SOFR.csv", _line_of(_ON_GAP, "2025-03-07"), 1,
         severity="warning", exit=0),
    Case("E0309", {DEAL: _ON, "rates/SOFR.csv": _ON_WEEKEND}, "rates/SOFR.csv", _line_of(_ON_WEEKEND, "2025-03-08"),
         1, severity="warning", exit=0),
]

@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_code_is_reproduced_at_its_position(tmp_path, case: Case):
    root = write_book(tmp_path)
    for rel, text in case.files.items():
        write_file(root, rel, text)
    for rel, target in case.symlinks.items():
        (root / rel).symlink_to(target)

    code, diags = run_validate(root)

    found = sorted((d for d in diags if d["code"] == case.code), key=lambda d: (d["line"] or 0, d["column"] or 0))
    assert len(found) == case.count, diags
    d = found[0]
    assert d["file"].replace("\\", "/").endswith(case.file), d
    assert (d["line"], d["column"]) == (case.line, case.column), d
    assert d["severity"] == case.severity
    assert d["message"] and d["message"][0] != " "
    others = {x["code"] for x in diags} - {case.code}
    assert others <= case.allowed, diags
    assert code == case.exit


def test_every_case_reproduces_a_distinct_registered_code():
    codes = [c.code for c in CASES]
    assert len(codes) == len(set(codes))
    assert set(codes) <= set(CODES)
    book_codes = {c for c in CODES if c < "E0400"}  # E04xx: payment files and the ledger, not validate
    # E0011 is a usage error and E0229 comes from `loanctl covenants`: both tested below;
    # E0016-E0019 come from rendering a book's templates (tests/test_template_sandbox.py);
    # E0021 (an argument that is not UTF-8) is a usage error: see tests/test_untrusted_text.py
    # E0275 needs repayments archived by post-payments, E0276-E0277 come from `loanctl payoff`:
    # tests/servicing/test_svc_payment_types.py
    assert book_codes - set(codes) - {"E0016", "E0017", "E0018", "E0019", "E0275", "E0276", "E0277"} == {
        "E0011", "E0021", "E0229"}


def test_e0011_no_book_found_is_a_usage_error(tmp_path):
    """No --book, no $LOANCTL_BOOK, no ./deals, no ./book.yaml: exit 2 (usage), no traceback.

    The CLI reports this through `UsageProblem` as `loanctl: error: no book found`; the code
    "E0011" itself is not printed (nothing emits it as a Diagnostic)."""
    proc = run_cli_subprocess(["validate", "--format", "json"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "no book found" in proc.stderr
    assert "--book" in proc.stderr  # the hint says how to point at a book
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == ""


def test_e0011_book_path_without_book_yaml_is_a_usage_error(tmp_path):
    result = invoke(["--book", str(tmp_path), "validate"])
    assert result.exit_code == 2
    assert "has no book.yaml" in result.stderr
    missing = invoke(["--book", str(tmp_path / "nowhere"), "validate"])
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr


def test_e0229_financials_lack_a_covenant_figure(tmp_path):
    """`loanctl covenants` (not `validate`): an interest-coverage covenant tested against
    financials without interest_expense. Reported at the financials file's top (the key is
    missing), on stderr; exit 1."""
    deal = DEAL_YAML + "covenants:\n  - {id: min-icr, metric: interest_coverage, min: 2.0, frequency: quarterly}\n"
    root = write_book(tmp_path, deals={"acme-tl": deal})
    write_file(root, "acme-tl/financials/2025-q1.yaml",
               "period_end: 2025-03-31\nbasis: ltm\nebitda: 12600000\ntotal_debt: 45000000\n")
    result = invoke(["--book", str(root), "covenants", "acme-tl", "--as-of", "2025-06-30", "--format", "json"])
    assert result.exit_code == 1
    assert re.search(r"acme-tl/financials/2025-q1\.yaml:1:1: error\[E0229\]: covenant min-icr \(interest_coverage\) "
                     r"needs interest_expense", result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_e0009_without_libyaml_too(monkeypatch):
    """Direct call: the reader builds from the event stream without recursion, so PyYAML's
    pure Python parser (the fallback when libyaml is missing) stops deep nesting at the same
    place, without a RecursionError."""
    monkeypatch.setattr(yamlsrc, "_Loader", yaml.BaseLoader)
    doc, diags = yamlsrc.parse("x: " + "[" * 1500 + "]" * 1500 + "\n", "deep.yaml")
    assert doc is None
    assert [(d.code, d.file, d.line, d.column) for d in diags] == [("E0009", "deep.yaml", 1, len("x: ") + 64)]


def test_e0015_unreadable_file_direct_call(tmp_path):
    """Direct call: `yamlsrc.read_text` on a path that does not exist."""
    text, diags = yamlsrc.read_text(tmp_path / "gone.yaml", "gone.yaml")
    assert text is None
    assert [(d.code, d.file, d.line) for d in diags] == [("E0015", "gone.yaml", None)]


# --- the registry, the tests and the docs agree ---------------------------------------------
def _code_literals_in_tests() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in TESTS.rglob("*.py"))
    return set(re.findall(r"""["'](E\d{4})["']""", text))


_LITERALS = _code_literals_in_tests()


@pytest.mark.parametrize("code", list(CODES))
def test_every_code_has_a_test_naming_it(code):
    """A code added to the registry needs a reproducing test that names it as a string
    literal somewhere under tests/ (one failure per code, so the owner is obvious)."""
    assert code in _LITERALS, f"{code} ({CODES[code]}) has no test naming it"


def test_every_code_is_documented():
    doc = DOC.read_text(encoding="utf-8")
    headings = re.findall(r"^### (E\d{4}) — (.+)$", doc, re.M)
    assert [c for c, _ in headings] == list(CODES), "docs/diagnostics.md lists the codes in registry order"
    for code, title in headings:
        assert title.strip() == CODES[code], code
    sections = re.split(r"^### ", doc, flags=re.M)[1:]
    for section in sections:
        code = section[:5]
        assert "```" in section, f"{code}: no example"
        if code != "E0011":  # a usage error, printed without a code
            # a diagnostic line, or a usage error that names its code (`loanctl: error: E0510: …`, exit 2)
            assert (f"error[{code}]:" in section or f"warning[{code}]:" in section
                    or f"loanctl: error: {code}:" in section), f"{code}: no example diagnostic line"
        assert "**Fix.**" in section, f"{code}: no fix"


def test_codes_are_well_formed_and_titled():
    for code, title in CODES.items():
        assert re.fullmatch(r"E0\d{3}", code)
        assert title and title == title.strip() and not title.endswith(".")
