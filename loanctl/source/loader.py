"""Finding and loading a book: book.yaml, deals, amendments, financials and rate fixings.

`load_book` reads every file through a `Tree` (the work tree, or a git revision — see
`loanctl.source.gitrev`), parses it with positions, validates it into the model and returns the
`LoadedBook` with every diagnostic found on the way. It never raises for bad input.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Iterable

from ..model import values as v
from ..diagnostics import Diagnostic, display_path
from ..model.documents import Amendment, Book, CreditEvent, Deal, Financials, Trade
from .bookpath import inside_book, outside_diagnostic, read_regular
from ..model.validate import validate
from ..model.origin import Doc
from ..model.records import (AmendmentRecord, DealRecord, EventRecord, FinancialsRecord, LoadedBook, RateSeries,  # noqa: F401
                             TradeRecord, Tree)
from ..model.records import Mark, MarkFile
from .cache import ParsedCache, cache_disabled
from .yamlsrc import MAX_BYTES, decode, parse

NOT_DEALS = {"rates", "payments", "templates", "reports", "marks"}  # reserved folder names of a book
RATES_MAX_BYTES = 50 * 1024 * 1024
# No benchmark index has fixed outside this (the lowest, CHF and DKK, near -1%; the highest
# in a loan book, a few tens of percent): a fixing beyond is most likely a typo (E0306).
FIXING_MIN, FIXING_MAX = Decimal("-0.05"), Decimal("0.50")


class _Outside:
    """What `FsTree.read` returns for a file reached through a link leading out of the book (E0020)."""

    def __repr__(self) -> str:
        return "OUTSIDE"


OUTSIDE = _Outside()


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop: not a folder; reading it reports E0015
        return False


class FsTree:
    """The book as it is on disk."""

    def __init__(self, root: Path, parsed_cache: ParsedCache | None = None) -> None:
        self.root = root
        self._root = str(root)
        self._prefix = display_path(root)
        self.parsed_cache = parsed_cache
        """Where parsed YAML files are kept by content (`book_tree`); None: parse every file."""

    def list_dir(self, rel: str) -> list[tuple[str, bool]]:
        try:
            with os.scandir(os.path.join(self._root, rel) if rel else self._root) as it:
                return sorted((e.name, _is_dir(e)) for e in it)
        except OSError:
            return []

    def outside(self, rel: str) -> bool:
        """Whether `rel` is reached through a symbolic link leading outside the book."""
        return not inside_book(self._root, os.path.join(self._root, rel))

    def read(self, rel: str, max_bytes: int) -> bytes | int | None:
        path = os.path.join(self._root, rel)
        if not inside_book(self._root, path):
            return OUTSIDE
        return read_regular(path, max_bytes)  # None: missing, a link loop, not a regular file: E0015

    def display(self, rel: str) -> str:
        return rel if self._prefix in ("", ".") else f"{self._prefix}/{rel}"


def book_tree(root: Path, cache: bool | None = None) -> FsTree:
    """The book's work tree with its parsed-file cache (SPEC §10) — unless `cache` is False, or
    None and $LOANCTL_NO_CACHE is set (`loanctl --no-cache`)."""
    use = not cache_disabled() if cache is None else cache
    return FsTree(root, ParsedCache(root) if use else None)


def find_book(explicit: str | None = None, env: dict | None = None, cwd: Path | None = None) -> Path | None:
    """SPEC §2: --book PATH, else $LOANCTL_BOOK, else ./deals, else the current folder if it
    holds a book.yaml."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    if explicit:
        return Path(explicit)
    if env.get("LOANCTL_BOOK"):
        return Path(env["LOANCTL_BOOK"])
    if (cwd / "deals").is_dir():
        return cwd / "deals"
    if (cwd / "book.yaml").is_file():
        return cwd
    return None


def batched_writes(tree: Tree):
    """Parsed-file cache entries made inside are written together when it ends (`ParsedCache.batch`)."""
    cache = getattr(tree, "parsed_cache", None)
    return cache.batch() if cache is not None else contextlib.nullcontext()


def read_yaml(tree: Tree, rel: str) -> tuple[Doc | None, list[Diagnostic]]:
    file = tree.display(rel)
    raw = tree.read(rel, MAX_BYTES)
    if raw is OUTSIDE:
        return None, [outside_diagnostic(file)]
    if raw is None:
        return None, [Diagnostic("E0015", "file not found or not a readable regular file", file,
                                 hint="check the path, its permissions, and that it is not a link loop")]
    if isinstance(raw, int):
        return None, [Diagnostic("E0005", f"file is {raw:,} bytes; the limit is {MAX_BYTES:,}", file,
                                 hint="split the file, or check that it is the file you meant")]
    cache = getattr(tree, "parsed_cache", None)
    if cache is not None:
        doc = cache.get(raw, file)
        if doc is not None:
            return doc, []
    text, diags = decode(raw, file)
    if text is None:
        return None, diags
    doc, diags = parse(text, file)
    if cache is not None and doc is not None and not diags:
        cache.put(raw, doc)
    return doc, diags


def load_book(root: Path, tree: Tree | None = None, deal_ids: Iterable[str] | None = None
              ) -> tuple[LoadedBook, list[Diagnostic]]:
    """Load the whole book (or only `deal_ids`); diagnostics are collected, never raised."""
    tree = tree or book_tree(root)
    diags: list[Diagnostic] = []
    book_doc, d = read_yaml(tree, "book.yaml")
    diags += d
    book = None
    if book_doc is not None:
        book, d = validate(Book, book_doc)
        diags += d
    loaded = LoadedBook(root=root, tree=tree, book=book, doc=book_doc)

    if _outside(tree, "rates"):
        diags.append(outside_diagnostic(tree.display("rates"), "folder"))
    for name, is_dir in ([] if _outside(tree, "rates") else tree.list_dir("rates")):
        if not is_dir and name.endswith(".csv") and name.startswith(FX_PREFIX):
            series, d = load_fx(tree, f"rates/{name}", name[len(FX_PREFIX):-4])
            diags += d
            if series is not None:
                loaded.fx[series.index] = series
        elif not is_dir and name.endswith(".csv"):
            series, d = load_rates(tree, f"rates/{name}", name[:-4])
            diags += d
            if series is not None:
                loaded.rates[series.index] = series
    marks_listing = [] if not dict(tree.list_dir("")).get("marks") else tree.list_dir("marks")
    if marks_listing and _outside(tree, "marks"):
        diags.append(outside_diagnostic(tree.display("marks"), "folder"))
        marks_listing = []
    for name, is_dir in marks_listing:
        if not is_dir and name.endswith(".csv"):
            mf, d = load_marks(tree, f"marks/{name}")
            diags += d
            if mf is not None:
                loaded.marks.append(mf)
    loaded.marks.sort(key=lambda m: m.date)

    wanted = set(deal_ids) if deal_ids is not None else None
    with batched_writes(tree):
        for name, is_dir in tree.list_dir(""):
            if not is_dir or name in NOT_DEALS or name.startswith((".", "_")):
                continue
            if wanted is not None and name not in wanted:
                continue
            loaded.deal_folders.append(name)
            record, d = load_deal(tree, name)
            diags += d
            if record is not None:
                loaded.deals[name] = record
    if deal_ids is None:  # the whole book is here: every mark must name one of its facilities
        diags += check_marks(loaded)
    return loaded, diags


def load_deal(tree: Tree, folder: str) -> tuple[DealRecord | None, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    if not v.ID_RE.match(folder) or ".." in folder:
        return None, [Diagnostic("E0012", f"folder '{folder}' is not a valid deal id", tree.display(folder),
                                 hint="rename it: lowercase letters, digits, '.', '_' and '-'")]
    if _outside(tree, folder):
        return None, [outside_diagnostic(tree.display(folder), "deal folder")]
    rel = f"{folder}/deal.yaml"
    entries = dict(tree.list_dir(folder))
    if entries.get("deal.yaml") is not False:
        return None, [Diagnostic("E0010", f"deal folder '{folder}' has no deal.yaml", tree.display(folder),
                                 hint="add deal.yaml (loanctl new-deal), or move the folder out of the book")]
    doc, d = read_yaml(tree, rel)
    if doc is None:
        return None, d
    deal, d = validate(Deal, doc)
    if deal is None:
        return None, d
    record = DealRecord(deal=deal, doc=doc, rel=rel)
    for arel, adoc, d in _yaml_files(tree, folder, "amendments", entries):
        diags += d
        if adoc is None:
            continue
        amendment, d = validate(Amendment, adoc)
        diags += d
        if amendment is not None:
            record.amendments.append(AmendmentRecord(amendment, adoc, arel))
    for frel, fdoc, d in _yaml_files(tree, folder, "financials", entries):
        diags += d
        if fdoc is None:
            continue
        fin, d = validate(Financials, fdoc)
        diags += d
        if fin is not None:
            record.financials.append(FinancialsRecord(fin, fdoc, frel))
    record.financials.sort(key=lambda f: f.financials.period_end)
    for sub, model, make, into in (("trades", Trade, TradeRecord, record.trades),
                                   ("events", CreditEvent, EventRecord, record.events)):
        for rel, sdoc, d in _yaml_files(tree, folder, sub, entries):
            diags += d
            if sdoc is None:
                continue
            parsed, d = validate(model, sdoc)
            diags += d
            if parsed is not None:
                into.append(make(parsed, sdoc, rel))
    return record, diags


def _yaml_files(tree: Tree, folder: str, sub: str, entries: dict):
    """(rel, doc or None, diagnostics) of each YAML file in a deal's sub-folder."""
    if not entries.get(sub):
        return
    if _outside(tree, f"{folder}/{sub}"):
        yield f"{folder}/{sub}", None, [outside_diagnostic(tree.display(f"{folder}/{sub}"), "folder")]
        return
    for name, is_dir in tree.list_dir(f"{folder}/{sub}"):
        if not is_dir and name.endswith((".yaml", ".yml")):
            rel = f"{folder}/{sub}/{name}"
            doc, d = read_yaml(tree, rel)
            yield rel, doc, d


def _outside(tree: Tree, rel: str) -> bool:
    """Whether folder `rel` leads out of the book (only a tree on disk can say; git trees never follow links)."""
    outside = getattr(tree, "outside", None)
    return bool(outside and outside(rel))


def _read_data_file(tree: Tree, rel: str) -> tuple[bytes | None, list[Diagnostic]]:
    """The bytes of a CSV data file (rates, FX, marks) within RATES_MAX_BYTES, or the diagnostic why not."""
    file = tree.display(rel)
    raw = tree.read(rel, RATES_MAX_BYTES)
    if raw is OUTSIDE:
        return None, [outside_diagnostic(file)]
    if raw is None:
        return None, [Diagnostic("E0015", "file not found", file)]
    if isinstance(raw, int):
        return None, [Diagnostic("E0005", f"file is {raw:,} bytes; the limit is {RATES_MAX_BYTES:,}", file)]
    return raw, []


def _dated_series(reader, name: str, file: str, value, diags: list[Diagnostic], *, fields: str, bad_date: str,
                  order: str, empty: tuple[str, str]) -> tuple[RateSeries | None, list[Diagnostic]]:
    """The series `name` of the rows after the header of a date,value CSV (rates, FX), or None
    when any row is in error. Blank rows are skipped; a row with other than two fields (code
    `fields`), a bad date (`bad_date`), a value that `value(cell, date, line, column)`
    refuses, or a date not after the previous row's (`order`) is added to `diags`; no rows at
    all is `empty` (code, message)."""
    dates: list[date] = []
    values: list[Decimal] = []
    lines: list[int] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            diags.append(Diagnostic(fields, f"expected 2 fields, found {len(row)}", file, line, hint="write date,rate"))
            continue
        try:
            d = v.parse_date(row[0].strip())
        except v.ValueProblem as p:
            diags.append(Diagnostic(bad_date, p.message, file, line, 1, p.hint))
            continue
        r, problems = value(row[1].strip(), d, line, len(row[0]) + 2)
        diags.extend(problems)
        if r is None:
            continue
        if dates and d <= dates[-1]:
            diags.append(Diagnostic(order, f"{d} is not after the previous row's {dates[-1]}", file, line, 1,
                                    "sort the rows by date and remove duplicates"))
            continue
        dates.append(d)
        values.append(r)
        lines.append(line)
    if not dates and not diags:
        diags.append(Diagnostic(empty[0], empty[1], file, 1, hint="add date,rate rows"))
    if any(x.is_error for x in diags):
        return None, diags
    return RateSeries(name, file, tuple(dates), tuple(values), tuple(lines)), diags


def load_rates(tree: Tree, rel: str, index: str) -> tuple[RateSeries | None, list[Diagnostic]]:
    """rates/<INDEX>.csv: header date,rate; rate as a fraction or with %; dates strictly increasing."""
    file = tree.display(rel)
    raw, diags = _read_data_file(tree, rel)
    if raw is None:
        return None, diags
    cache = getattr(tree, "parsed_cache", None)
    if cache is not None:
        series = _cached_rates(cache, raw, index, file)
        if series is not None:
            return series, []
    series, diags = parse_rates(raw, index, file)
    if cache is not None and series is not None and not diags:
        cache.put_columns("rates", raw, {"dates": [d.isoformat() for d in series.dates],
                                         "rates": [str(r) for r in series.rates], "lines": list(series.lines)})
    return series, diags


def _cached_rates(cache: ParsedCache, raw: bytes, index: str, file: str) -> RateSeries | None:
    """A clean parse of these rate-file bytes kept by `load_rates` (None: not kept, or not as written)."""
    cols = cache.get_columns("rates", raw)
    if cols is None:
        return None
    try:
        dates = tuple(map(date.fromisoformat, cols["dates"]))
        rates = tuple(map(Decimal, cols["rates"]))
        lines = tuple(cols["lines"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None
    if (not dates or len(rates) != len(dates) or len(lines) != len(dates) or any(type(n) is not int for n in lines)
            or any(b <= a for a, b in zip(dates, dates[1:])) or not all(r.is_finite() for r in rates)):
        return None
    return RateSeries(index, file, dates, rates, lines)


def parse_rates(raw: bytes, index: str, file: str) -> tuple[RateSeries | None, list[Diagnostic]]:
    text, diags = decode(raw, file)
    if text is None:
        return None, diags
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return None, [Diagnostic("E0305", "the rate file is empty", file, 1, hint="write the header date,rate and one row per fixing")]
    if [h.strip().lower() for h in header] != ["date", "rate"]:
        return None, [Diagnostic("E0301", f"header is {','.join(header)!r}; expected 'date,rate'", file, 1,
                                 hint="the first line must be exactly: date,rate")]

    def fixing(cell: str, d: date, line: int, col: int) -> tuple[Decimal | None, list[Diagnostic]]:
        try:
            r = v.parse_rate(cell)
        except v.ValueProblem as p:
            return None, [Diagnostic("E0303", p.message, file, line, col, p.hint)]
        if not FIXING_MIN <= r <= FIXING_MAX:
            return r, [Diagnostic("E0306", f"fixing {v.fmt_rate(r)} on {d} is outside the plausible range "
                                           f"{v.fmt_rate(FIXING_MIN)} to {v.fmt_rate(FIXING_MAX)}",
                                  file, line, col,
                                  "check the value: write 4.3% or 0.043 for four point three percent", severity="warning")]
        return r, []

    return _dated_series(reader, index, file, fixing, diags, fields="E0303", bad_date="E0302", order="E0304",
                         empty=("E0305", "the rate file has no rows"))


# --- FX rates and fair-value marks (SPEC §2.5, §9) ------------------------------------------------

FX_PREFIX = "FX-"
MARKS_HEADER = ["deal", "facility", "price", "source"]
PRICE_MAX = Decimal(1000)
"""A price above 1000% of par is a typo, not a mark (E0643)."""


def _read_csv(tree: Tree, rel: str) -> tuple[str | None, list[Diagnostic]]:
    raw, diags = _read_data_file(tree, rel)
    if raw is None:
        return None, diags
    return decode(raw, tree.display(rel))


def load_fx(tree: Tree, rel: str, pair: str) -> tuple[RateSeries | None, list[Diagnostic]]:
    """rates/FX-<BASE><QUOTE>.csv: header date,rate; rate = units of QUOTE per one BASE, a
    positive plain number; dates strictly increasing."""
    file = tree.display(rel)
    import re
    if not re.fullmatch(r"[A-Z]{6}", pair) or not all(_is_ccy(c) for c in (pair[:3], pair[3:])) \
            or pair[:3] == pair[3:]:
        return None, [Diagnostic("E0650", f"'FX-{pair}.csv' does not name a currency pair", file,
                                 hint="name the file FX-<BASE><QUOTE>.csv with two different ISO 4217 codes, "
                                      "e.g. FX-GBPUSD.csv")]
    text, diags = _read_csv(tree, rel)
    if text is None:
        return None, diags
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != ["date", "rate"]:
        shown = ",".join(header) if header else ""
        return None, [Diagnostic("E0651", f"header is {shown!r}; expected 'date,rate'", file, 1,
                                 hint=f"the first line must be exactly: date,rate (rate: {pair[3:]} per one {pair[:3]})")]

    def fx_rate(cell: str, d: date, line: int, col: int) -> tuple[Decimal | None, list[Diagnostic]]:
        try:
            r = v.parse_number(cell)
            if r <= 0:
                raise v.ValueProblem("E0652", f"FX rate {cell} is not positive", "")
        except v.ValueProblem as p:
            return None, [Diagnostic("E0652", p.message, file, line, col,
                                     f"write the number of {pair[3:]} per one {pair[:3]}, e.g. 1.2650")]
        return r, []

    return _dated_series(reader, pair, file, fx_rate, diags, fields="E0652", bad_date="E0652", order="E0653",
                         empty=("E0652", "the FX file has no rows"))


def _is_ccy(code: str) -> bool:
    try:
        v.parse_currency(code)
    except v.ValueProblem:
        return False
    return True


def load_marks(tree: Tree, rel: str) -> tuple[MarkFile | None, list[Diagnostic]]:
    """marks/<date>.csv: header deal,facility,price,source; price as % of par (`98.5` or
    `98.5%`); one row per facility."""
    file = tree.display(rel)
    stem = rel.rsplit("/", 1)[-1][:-4]
    try:
        on = v.parse_date(stem)
    except v.ValueProblem as p:
        return None, [Diagnostic("E0640", f"marks file name '{stem}' is not a date: {p.message}", file,
                                 hint="name the file after its valuation date, e.g. marks/2026-03-31.csv")]
    text, diags = _read_csv(tree, rel)
    if text is None:
        return None, diags
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != MARKS_HEADER:
        shown = ",".join(header) if header else ""
        return None, [Diagnostic("E0641", f"header is {shown!r}; expected 'deal,facility,price,source'", file, 1,
                                 hint="the first line must be exactly: deal,facility,price,source")]
    marks: list[Mark] = []
    seen: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 4:
            diags.append(Diagnostic("E0642", f"expected 4 fields, found {len(row)}", file, line,
                                    hint="write deal,facility,price,source (quote a source holding a comma)"))
            continue
        deal, facility, price_text, source = (c.strip() for c in row)
        bad = next((x for x in (deal, facility) if not v.ID_RE.match(x)), None)
        if bad is not None:
            diags.append(Diagnostic("E0642", f"{bad!r} is not a valid id", file, line, 1,
                                    hint="write the deal and facility ids as in deal.yaml"))
            continue
        col = len(row[0]) + len(row[1]) + 3
        try:
            text_p = price_text[:-1].strip() if price_text.endswith("%") else price_text
            price = v.parse_number(text_p)
            if not 0 <= price <= PRICE_MAX:
                raise v.ValueProblem("E0643", f"price {price_text} is outside 0 to {PRICE_MAX} (% of par)", "")
        except v.ValueProblem as p:
            diags.append(Diagnostic("E0643", p.message if p.code == "E0643" else
                                    f"price {price_text!r} is not a number", file, line, col,
                                    "write the price as a percentage of par, e.g. 98.5 (or 98.5%)"))
            continue
        if not source:
            diags.append(Diagnostic("E0644", "the mark has no source", file, line, col + len(row[2]) + 1,
                                    hint="name where the price came from, e.g. a pricing service or 'model'"))
            continue
        if (deal, facility) in seen:
            diags.append(Diagnostic("E0645", f"{deal}/{facility} is marked twice in this file (first on line "
                                             f"{seen[(deal, facility)]})", file, line, 1,
                                    hint="keep one row per facility"))
            continue
        seen[(deal, facility)] = line
        marks.append(Mark(deal, facility, price, source, line))
    if any(x.is_error for x in diags):
        return None, diags
    return MarkFile(on, file, tuple(marks)), diags


def check_marks(loaded: LoadedBook, only: set[str] | None = None) -> list[Diagnostic]:
    """Every mark names a deal of the book and one of its facilities (E0646, E0647). `only`:
    check the marks of these deals only (a validate worker's share of the deals)."""
    out: list[Diagnostic] = []
    for mf in loaded.marks:
        for m in mf.marks:
            if only is not None and m.deal not in only:
                continue
            record = loaded.deals.get(m.deal)
            if record is None:
                if m.deal in loaded.deal_folders or only is not None:
                    continue  # the deal file itself is invalid: reported there
                out.append(Diagnostic("E0646", f"unknown deal '{m.deal}'", mf.file, m.line, 1,
                                      hint="mark a deal of the book (its folder name)"))
                continue
            ids = {f.id for f in record.deal.facilities}
            for a in record.amendments:
                for c in getattr(a.amendment, "changes", ()) or ():
                    added = getattr(c, "add_facility", None)
                    if added and isinstance(added, dict) and "id" in added:
                        ids.add(str(added["id"]))
            if m.facility not in ids:
                out.append(Diagnostic("E0647", f"deal '{m.deal}' has no facility '{m.facility}'", mf.file, m.line,
                                      len(m.deal) + 2, hint=f"facilities: {', '.join(sorted(ids))}"))
    return out
