"""Creating books and deals from the packaged templates, and the guided demo.

- `resource_dir` finds the packaged `templates/` and demo book `deals/`, in a checkout and in
  an installed wheel (where the build puts them under `loanctl/_data/`);
- `init_book` writes a starter book (book.yaml, a rate file, the JSON Schemas, .gitignore,
  a GitHub Actions workflow and a pre-commit configuration) and runs `git init` where there
  is no repository;
- `create_deal` renders `templates/deal.yaml.j2`, validates the deal with the real pipeline
  in memory, and writes it only when it is valid;
- `copy_demo_book` and `DEMO_STEPS` / `run_demo` are the `loanctl demo` tour: a list of
  steps, each a heading and a function, so a new feature adds one step.

Nothing here reads the clock: "today" is passed in. Rendering prints nothing except in the
demo steps, which write to the console they are given.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, Iterable

from ..diagnostics import UsageProblem
from ..validation.run import validate as validate_book
from ..diagnostics import Diagnostic
from ..source.loader import FsTree, load_book
from ..model.values import ID_RE
from ..resources import resource_dir

_NUMBER = re.compile(r"[-+]?\d[\d_]*(\.\d[\d_]*)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def yaml_scalar(value: Any) -> str:
    """A value as a YAML scalar that reads back as written: numbers and ISO dates bare (so
    loanctl parses them exactly and reports them at their position), plain lowercase words
    bare, anything else double-quoted (a JSON string is a valid YAML double-quoted scalar)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    text = str(value)
    if _NUMBER.fullmatch(text) or _ISO_DATE.fullmatch(text):
        return text
    if _WORD.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def yaml_flow(value: Any) -> str:
    """A value as YAML on one line: lists as [a, b], mappings as {key: value}, scalars as
    `yaml_scalar` writes them (each of which is safe inside a flow collection)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_scalar(k)}: {yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_flow(v) for v in value) + "]"
    return yaml_scalar(value)


def template_env():
    """The sandboxed Jinja2 environment over the packaged templates (StrictUndefined: a
    missing variable is an error, never an empty string; no autoescape: YAML, CSV and shell,
    not HTML)."""
    from ..templating import template_environment

    return template_environment([resource_dir("templates")], autoescape_html=False, filters={
        "yq": yaml_scalar,
        "yflow": yaml_flow,
        "shq": lambda v: shlex.quote(str(v)),
        "oneline": lambda v: " ".join(str(v).split()),  # for text inside a # comment
    })


def render(template: str, **values: Any) -> str:
    return template_env().get_template(template).render(**values)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and a rename: never half a file."""
    from ..validation.schema import write_atomic as _write
    _write(path, text)


# --- validation in memory -----------------------------------------------------------------
class OverlayTree:
    """The book on disk with some files replaced or added in memory (for checking a file
    with the real pipeline before it is written)."""

    def __init__(self, root: Path, files: dict[str, bytes]) -> None:
        self.root = root
        self._base = FsTree(root)
        self._files = dict(files)

    def list_dir(self, rel: str) -> list[tuple[str, bool]]:
        entries = dict(self._base.list_dir(rel))
        prefix = PurePosixPath(rel) if rel else None
        for path in self._files:
            p = PurePosixPath(path)
            parent = p.parent if str(p.parent) != "." else None
            parts = p.parts
            if prefix is None:
                entries[parts[0]] = len(parts) > 1
            elif parent is not None and (parent == prefix or prefix in parent.parents):
                below = p.relative_to(prefix).parts
                entries[below[0]] = len(below) > 1
        return sorted(entries.items())

    def read(self, rel: str, max_bytes: int) -> bytes | int | None:
        if rel in self._files:
            data = self._files[rel]
            return len(data) if len(data) > max_bytes else data
        return self._base.read(rel, max_bytes)

    def display(self, rel: str) -> str:
        return self._base.display(rel)


# --- loanctl init --------------------------------------------------------------------------
@dataclass
class InitResult:
    root: Path
    """The new book's folder."""
    repo_root: Path
    """The git work tree the book belongs to (the book itself when it is a new repository)."""
    written: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)
    """Files that existed and were left as they were, with why."""
    notes: list[str] = field(default_factory=list)
    """What happened with git."""


@dataclass(frozen=True)
class _Planned:
    rel: str
    """Path relative to the repository root."""
    text: str
    policy: str
    """replace (with --force) · keep (never overwrite: data or the user's configuration) ·
    append (add the missing lines)."""


def git_toplevel(folder: Path) -> tuple[Path | None, str | None]:
    """The work tree containing `folder` (or its nearest existing parent); None when it is in
    no repository. The second value says why git could not answer (not installed)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        out = subprocess.run(["git", "-C", str(probe), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return None, "git is not installed"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"git could not be run ({exc})"
    if out.returncode != 0:
        return None, None
    return Path(out.stdout.strip()), None


def init_book(folder: Path, *, name: str | None = None, currency: str = "USD", force: bool = False,
              git: bool = True) -> tuple[InitResult | None, list[Diagnostic]]:
    """Create a starter book in `folder`. UsageProblem when it already has a book.yaml (and not
    `force`); diagnostics (and nothing written) when the rendered book does not validate."""
    from .. import __version__
    from ..validation.schema import KINDS, file_name, json_schemas, render as render_schema

    folder = folder.absolute()
    if folder.exists() and not folder.is_dir():
        raise UsageProblem(f"{folder} is not a folder")
    if (folder / "book.yaml").exists() and not force:
        raise UsageProblem(f"{folder} already has a book.yaml", "use --force to overwrite the starter files, "
                                                                 "or choose another folder")
    top, git_problem = git_toplevel(folder) if git else (None, None)
    repo_root = top.resolve() if top is not None else folder.resolve()
    book_path = PurePosixPath(os.path.relpath(folder.resolve(), repo_root)).as_posix()
    prefix = "" if book_path == "." else book_path + "/"
    name = name or _title_from_folder(folder)
    files_regex = f"^{re.escape(prefix)}" if prefix else None

    book_text = render("init/book.yaml.j2", name=name, currency=currency)
    rates_text = render("init/SOFR-3M.csv.j2")
    plan = [
        _Planned(prefix + "book.yaml", book_text, "replace"),
        _Planned(prefix + "rates/SOFR-3M.csv", rates_text, "keep"),
        _Planned(prefix + ".gitignore", render("init/gitignore.j2"), "append"),
        _Planned(".github/workflows/loanctl.yml",
                 render("init/github-workflow.yml.j2", book_path=book_path, version=__version__), "replace"),
        _Planned(".pre-commit-config.yaml",
                 render("init/pre-commit-config.yaml.j2", book_path=book_path, files_regex=files_regex), "keep"),
    ]
    schemas = json_schemas()
    plan += [_Planned(f"{prefix}.schema/{file_name(k)}", render_schema(schemas[k]), "replace") for k in KINDS]

    # The starter book must pass validate: check it with the real pipeline before writing
    # (an existing rate file is kept, so it is checked as it is).
    overlay = {"book.yaml": book_text.encode("utf-8")}
    if not (folder / "rates" / "SOFR-3M.csv").exists():
        overlay["rates/SOFR-3M.csv"] = rates_text.encode("utf-8")
    tree = OverlayTree(folder, overlay)
    shown = {tree.display("book.yaml"), tree.display("rates/SOFR-3M.csv")}
    errors = [d for d in validate_book(folder, (), tree=tree).diagnostics if d.is_error and d.file in shown]
    if errors:
        return None, errors

    out = InitResult(root=folder, repo_root=repo_root)
    for p in plan:
        path = repo_root / p.rel
        exists = path.exists()
        if exists and p.policy == "keep":
            out.kept.append((path, "exists; left as it is"))
            continue
        if exists and p.policy == "replace" and not force:
            out.kept.append((path, "exists; left as it is (--force replaces it)"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if exists and p.policy == "append":
            current = path.read_text(encoding="utf-8")
            missing = [line for line in p.text.splitlines()
                       if line.strip() and not line.startswith("#") and line not in current.splitlines()]
            if not missing:
                out.kept.append((path, "already ignores .loanctl/"))
                continue
            sep = "" if current.endswith("\n") or not current else "\n"
            write_atomic(path, current + sep + p.text)
        else:
            write_atomic(path, p.text)
        out.written.append(path)

    if git_problem:
        out.notes.append(f"{git_problem}: no git repository created (run `git init` yourself)")
    elif git and top is None:
        proc = subprocess.run(["git", "init", "-q", str(folder)], capture_output=True, text=True)
        if proc.returncode == 0:
            out.notes.append(f"initialised a git repository in {folder}")
        else:
            out.notes.append(f"git init failed: {proc.stderr.strip() or proc.returncode}")
    elif git:
        out.notes.append(f"the book is in the git repository {repo_root}")
    return out, []


def _title_from_folder(folder: Path) -> str:
    base = folder.name if folder.name not in ("", ".", "deals", "book") else folder.resolve().parent.name
    words = re.split(r"[-_ .]+", base or "credit")
    return " ".join(w.capitalize() for w in words if w) or "Credit Book"


# --- loanctl new-deal ----------------------------------------------------------------------
FACILITY_IDS = {"term": "tl", "delayed_draw": "ddtl", "revolver": "rcf"}
FACILITY_WORDS = {"term": "Term Loan", "delayed_draw": "Delayed Draw Term Loan",
                  "revolver": "Revolving Credit Facility"}
AMORTIZATION_TYPES = ("bullet", "percent", "straight", "level")
# Market defaults by currency: the business-day calendar of the currency's centre, and the
# money-market day count (ACT/365F for sterling, ACT/360 for most others).
_CALENDARS = {"USD": "US", "GBP": "GB", "EUR": "TARGET", "JPY": "JP", "CAD": "CA", "AUD": "AU", "CHF": "CH"}
_DAY_COUNTS = {"GBP": "ACT/365F", "AUD": "ACT/365F", "CAD": "ACT/365F", "JPY": "ACT/365F"}


@dataclass(frozen=True)
class DealSpec:
    """What `loanctl new-deal` was told; values are kept as written (text), and parsed only
    by the validation of the rendered deal, so every problem is reported like in a file."""

    deal_id: str
    borrower: str
    commitment: str
    start: str
    maturity: str
    name: str | None = None
    type: str = "term"
    index: str | None = None
    spread: str | None = None
    floor: str | None = None
    fixed_rate: str | None = None
    frequency: str = "quarterly"
    amortization: str | None = None
    """bullet, percent, straight, level, or an annual rate such as 1% (percent amortization)."""
    lenders: tuple[tuple[str, str], ...] = ()
    """(lender, share) pairs; empty: the book's first fund, 100%."""
    sourced_by: str | None = None
    status: str = "draft"
    currency: str | None = None
    """Default: the book's base currency."""
    availability_end: str | None = None


# The option each generated value came from: diagnostics on it name the option.
OPTION_PATHS: dict[tuple, str] = {
    ("id",): "DEAL_ID", ("name",): "--name", ("borrower",): "--borrower", ("status",): "--status",
    ("currency",): "--currency", ("origination", "sourced_by"): "--sourced-by",
    ("facilities", 0, "type"): "--type", ("facilities", 0, "commitment"): "--commitment",
    ("facilities", 0, "start_date"): "--start", ("facilities", 0, "maturity_date"): "--maturity",
    ("facilities", 0, "availability_end"): "--availability-end",
    ("facilities", 0, "interest", "index"): "--index", ("facilities", 0, "interest", "spread"): "--spread",
    ("facilities", 0, "interest", "floor"): "--floor", ("facilities", 0, "interest", "fixed_rate"): "--fixed-rate",
    ("facilities", 0, "payments", "frequency"): "--frequency",
    ("facilities", 0, "amortization"): "--amortization", ("facilities", 0, "participations"): "--lender",
}


@dataclass
class BookFacts:
    """What new-deal offers as choices and defaults."""

    base_currency: str
    funds: list[str]
    borrowers: dict[str, str]
    """id → name."""
    indexes: list[str]


def book_facts(root: Path) -> BookFacts:
    loaded, _ = load_book(root, deal_ids=())
    book = loaded.book
    funds = [e.id for e in book.entities if e.kind in ("fund", "spv")] if book else []
    borrowers = {e.id: e.name for e in book.entities if e.kind == "borrower"} if book else {}
    return BookFacts(book.base_currency if book else "USD", funds, borrowers, sorted(loaded.rates))


def check_new_deal_id(root: Path, deal_id: str) -> None:
    """UsageProblem for an invalid id or one the book already has."""
    if not ID_RE.match(deal_id) or ".." in deal_id:
        raise UsageProblem(f"'{deal_id}' is not a valid deal id",
                           "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit "
                           "(at most 64 characters), e.g. acme-tl-2026")
    from ..source.loader import NOT_DEALS
    if deal_id in NOT_DEALS:
        raise UsageProblem(f"'{deal_id}' is a reserved folder name of the book", "choose another deal id")
    if (root / deal_id).exists():
        raise UsageProblem(f"deal '{deal_id}' already exists ({root / deal_id})",
                           "choose a new id; change an existing deal by editing it or with an amendment")


def new_deal_options(facts: BookFacts, *, borrower: str | None, commitment: str | None, start: str | None,
                     maturity: str | None, index: str | None, spread: str | None, floor: str | None,
                     fixed_rate: str | None) -> tuple[str | None, list[str]]:
    """The rate options of a new deal checked together: (the index — the book's only one when a
    spread is given without it —, the options still missing). Fixed and floating together is a
    usage problem."""
    if fixed_rate is not None and (index is not None or spread is not None or floor is not None):
        raise UsageProblem("--fixed-rate cannot be combined with --index, --spread or --floor",
                           "a facility is fixed (--fixed-rate 11%) or floating (--index SOFR-3M --spread 575bps)")
    if fixed_rate is None and index is None and spread is not None and len(facts.indexes) == 1:
        index = facts.indexes[0]
    given = {"--borrower": borrower, "--commitment": commitment, "--start": start, "--maturity": maturity}
    missing = [opt for opt, value in given.items() if value is None]
    if fixed_rate is None:
        if index is None and spread is None:
            missing.append("--index and --spread (or --fixed-rate)")
        elif index is None:
            missing.append("--index")
        elif spread is None:
            missing.append("--spread")
    return index, missing


def render_deal(spec: DealSpec, facts: BookFacts) -> str:
    """The deal.yaml text for `spec` (not validated)."""
    currency = spec.currency or facts.base_currency
    amort = (spec.amortization or ("bullet" if spec.type == "revolver" else "1%")).strip()
    if amort in AMORTIZATION_TYPES or re.fullmatch(r"[a-z_]+", amort):
        amortization_type, annual_rate = amort, ("1%" if amort == "percent" else None)
    else:
        amortization_type, annual_rate = "percent", amort
    lenders = spec.lenders
    if not lenders and facts.funds:
        lenders = ((facts.funds[0], "100%"),)
    borrower_name = facts.borrowers.get(spec.borrower, spec.borrower)
    name = spec.name or f"{borrower_name} — {FACILITY_WORDS.get(spec.type, 'Loan')}"
    return render(
        "deal.yaml.j2", deal_id=spec.deal_id, name=name, borrower=spec.borrower, status=spec.status,
        currency=currency, sourced_by=spec.sourced_by, facility_id=FACILITY_IDS.get(spec.type, "tl"),
        type=spec.type, commitment=spec.commitment, start=spec.start, maturity=spec.maturity,
        availability_end=spec.availability_end, fixed_rate=spec.fixed_rate, index=spec.index,
        spread=spec.spread, floor=spec.floor, day_count=_DAY_COUNTS.get(currency, "ACT/360"),
        frequency=spec.frequency, calendar=_CALENDARS.get(currency, "WEEKENDS"),
        amortization_type=amortization_type, annual_rate=annual_rate, lenders=list(lenders))


def create_deal(root: Path, spec: DealSpec) -> tuple[Path | None, str, list[Diagnostic]]:
    """Render the deal, validate it with the book in memory, and write `<id>/deal.yaml` only
    when it has no errors. Returns (path written or None, the rendered text, diagnostics);
    diagnostics on a value that came from an option name the option instead of a line."""
    check_new_deal_id(root, spec.deal_id)
    text = render_deal(spec, book_facts(root))
    rel = f"{spec.deal_id}/deal.yaml"
    tree = OverlayTree(root, {rel: text.encode("utf-8")})
    result = validate_book(root, (), tree=tree)
    shown = tree.display(rel)
    mine = [d for d in result.diagnostics if d.file == shown or (result.loaded.book is None and d.is_error)]
    diags = _name_options(mine, text, shown)
    if any(d.is_error for d in diags):
        return None, text, diags
    folder = root / spec.deal_id
    folder.mkdir()
    try:
        write_atomic(folder / "deal.yaml", text)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder / "deal.yaml", text, diags


def _name_options(diags: list[Diagnostic], text: str, shown: str) -> list[Diagnostic]:
    from ..model.origin import KEY
    from ..source.yamlsrc import parse

    doc, _ = parse(text, shown)
    if doc is None:
        return diags
    at: dict[tuple[int, int], tuple] = {}
    for path, pos in doc.positions.at.items():
        clean = tuple(p for p in path if p != KEY)
        if pos not in at or len(clean) > len(at[pos]):
            at[pos] = clean
    out = []
    for d in diags:
        path = at.get((d.line, d.column)) if d.file == shown else None
        option = None
        while path:
            if path in OPTION_PATHS:
                option = OPTION_PATHS[path]
                break
            path = path[:-1]
        if option is None:
            out.append(d)
        else:
            out.append(Diagnostic(d.code, d.message, option, None, None, d.hint, d.severity))
    return out


def parse_lender(text: str) -> tuple[str, str]:
    """`fund-i=60%` → ("fund-i", "60%"); `fund-i` → ("fund-i", "100%")."""
    lender, sep, share = text.partition("=")
    return lender.strip(), (share.strip() if sep else "100%")


def render_amendment(*, amendment_id: str, effective_date: str, description: str, facility: str,
                     set_terms: dict[str, Any], approvals: Iterable[dict] = ()) -> str:
    """An amendment file's text (for `loanctl amend`)."""
    return render("amendment.yaml.j2", amendment_id=amendment_id, effective_date=effective_date,
                  description=description, facility=facility, set=dict(set_terms), approvals=list(approvals))


def render_trade(*, trade_id: str, facility: str, seller: str, buyer: str, trade_date: str, settlement_date: str,
                 amount: str | None, share: str | None, price: str, description: str,
                 approvals: Iterable[dict] = ()) -> str:
    """A trade file's text (for `loanctl trade`)."""
    return render("trade.yaml.j2", trade_id=trade_id, facility=facility, seller=seller, buyer=buyer,
                  trade_date=trade_date, settlement_date=settlement_date, amount=amount, share=share, price=price,
                  description=description, approvals=list(approvals))
