"""The library's public functions: what the command line (and any script) calls.

Each returns values and diagnostics; none prints, reads the clock or exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .diagnostics import Diagnostic, DiagnosticError, UsageProblem, sort_key
from .model.records import LoadedBook, Tree
from .source.loader import find_book, load_book
from .validation.run import ValidationResult, deals_for_paths, validate
from .validation.run import load_valid_book as _load_valid_book

if TYPE_CHECKING:
    from .servicing.allocation import PayoffQuote

__all__ = ["PayoffResult", "UsageProblem", "ValidationResult", "deals_for_paths", "load_valid_book", "locate_book",
           "export", "payoff", "payoff_quote", "record_event", "trade", "validate_book"]


def locate_book(explicit: str | None) -> Path:
    root = find_book(explicit)
    if root is None:
        raise UsageProblem("E0011: no book found", "pass --book PATH, set LOANCTL_BOOK, or run in a folder with deals/ "
                                            "or book.yaml (create one with: loanctl init)")
    if not root.is_dir():
        raise UsageProblem(f"book folder {root} does not exist", "check --book or LOANCTL_BOOK")
    if not (root / "book.yaml").is_file():
        raise UsageProblem(f"{root} has no book.yaml", "create a book with: loanctl init")
    return root


def load_valid_book(root: Path, deal_ids: Iterable[str] | None = None, tree: Tree | None = None):
    """Load (a part of) the book for commands that compute: (book, errors sorted). A
    revolver's draws are checked against the repayments archived in payments/."""
    return _load_valid_book(root, deal_ids, tree, _repaid(tree))


def _repaid(tree: Tree | None):
    """The archive's repayments for a book read from its folder (not from a git revision)."""
    from .ledger.rebuild import archive_repaid
    from .source.loader import FsTree
    return archive_repaid() if tree is None or isinstance(tree, FsTree) else None


def validate_book(root: Path, paths: Iterable[str] = (), tree: Tree | None = None,
                  workers: int | None = None, base: Tree | None = None, kept: bool = False) -> ValidationResult:
    """Load and check the book (or the deals PATHS name), with the audit rules against git:
    approvals dated before a deal appeared in git, and — given the `base` revision's tree —
    the no-drift rules of `validate --base`. Diagnostics sorted by position. `kept`: unchanged
    deals' results may come from .loanctl/cache (SPEC §10; `loaded.deals` is then left empty)."""
    from .audit.drift import approvals_before_creation, check_against_base

    result = validate(root, paths, tree, workers, _repaid(tree), kept=kept)
    extra = approvals_before_creation(result.loaded, root, tree)
    if base is not None:
        base_book, _ = load_book(root, tree=base)
        current = result.loaded
        if len(current.deals) < len(current.deal_folders):  # checked from kept results or in worker processes
            current, _ = load_book(root, tree=tree)
        extra += check_against_base(current, base_book)
    result.diagnostics = sorted(result.diagnostics + extra, key=sort_key)
    return result




def load_deal(root: Path, deal: str, rev_tree: Tree | None = None):
    """The book with `deal` loaded and valid (from the git revision's tree, if given): an
    unknown deal is a usage problem (with the closest id), an invalid one a DiagnosticError."""
    import difflib

    from .diagnostics import DiagnosticError
    from .source.loader import book_tree

    tree = rev_tree or book_tree(root)
    if tree.read(f"{deal}/deal.yaml", 1 << 30) is None or deal.startswith((".", "_")) or "/" in deal:
        known = sorted(load_book(root, tree=tree)[0].deal_folders)
        close = difflib.get_close_matches(deal, known, n=1)
        raise UsageProblem(f"unknown deal '{deal}'", f"did you mean '{close[0]}'?" if close else
                           f"deals: {', '.join(known[:20]) or 'none'}")
    loaded, errors = load_valid_book(root, [deal], tree=tree)
    if errors:
        raise DiagnosticError(errors)
    return loaded


def simulate(root: Path, deal: str, spec, as_of: date, grid: bool = False):
    """`loanctl simulate`: the deal (a draft works too) under the scenario the options in `spec`
    (an `underwriting.scenario.ScenarioSpec`) describe, beside its base — or the grid of rate
    shocks × full prepayment dates. Coverage windows start after `as_of`."""
    from .diagnostics import DiagnosticError
    from .underwriting.scenario import build_scenario
    from .underwriting.simulate import simulate as run_simulation

    loaded, errors = load_valid_book(root, [deal])
    if deal not in loaded.deals and not errors:
        raise UsageProblem(f"unknown deal '{deal}'")
    if errors:
        raise DiagnosticError(errors)
    scenario, diags = build_scenario(loaded.deals[deal], spec)
    if any(d.is_error for d in diags):
        raise DiagnosticError(diags)
    return run_simulation(loaded, deal, scenario, as_of, with_grid=grid)


def schedule(root: Path, deal: str, *, tree: Tree | None = None, facility: str | None = None,
             lender: str | None = None, as_of: date | None = None, actuals: bool = False):
    """`loanctl schedule`: the deal's schedule view (terms in force by `as_of`, one facility or
    all, a lender's share), with `actuals` what was paid against each due from the ledger
    (with `lender`: the lender's cash)."""
    from .diagnostics import DiagnosticError
    from .engine.deal import schedule_deal
    from .reports.schedule import schedule_view

    loaded = load_deal(root, deal, tree)
    record = loaded.deals[deal]
    facilities = {f.id for f in record.deal.facilities} | _added_facilities(record)
    if facility is not None and facility not in facilities:
        raise UsageProblem(f"deal '{deal}' has no facility '{facility}'", f"facilities: {', '.join(sorted(facilities))}")
    if lender is not None and (loaded.book is None or loaded.book.entity(lender) is None):
        raise UsageProblem(f"unknown lender '{lender}'", "lenders are fund or spv entities of book.yaml")
    if actuals:
        from .reports.actuals import schedule_with_actuals
        result, paid = schedule_with_actuals(loaded, deal, facility=facility, as_of=as_of, lender=lender)
        return schedule_view(result, paid)
    result, diags = schedule_deal(loaded, deal, as_of=as_of, facility=facility, lender=lender)
    if result is None:
        raise DiagnosticError(diags)
    return schedule_view(result)


def _added_facilities(record) -> set[str]:
    """Facilities an amendment adds."""
    out = set()
    for a in record.amendments:
        for c in a.amendment.changes:
            if c.add_facility and isinstance(c.add_facility.get("id"), str):
                out.add(c.add_facility["id"])
    return out


def terms(root: Path, deal: str, on: date, tree: Tree | None = None) -> dict:
    """`loanctl show`: the terms in force on `on`, with where each came from."""
    from .reports.terms import terms_view
    return terms_view(load_deal(root, deal, tree), deal, on)


def report(root: Path, on: date, *, fund: str | None = None, lender: str | None = None, deal: str | None = None,
           whole_book: bool = False, tree: Tree | None = None, investor: str | None = None,
           currency: str | None = None):
    """`loanctl report`: the portfolio report of one scope (a fund with its SPVs, a lender, a
    deal, the whole book, or an investor's look-through share of its funds) on `on`, from the
    ledger — or, for a git revision's `tree`, from the payment files archived at that
    revision — with the scope's covenant tests, amortized cost, fair value and NAV, and totals
    translated into `currency` (default: the book's base currency)."""
    from .accounting.valuation import investor_scope
    from .diagnostics import DiagnosticError
    from .model import values as v
    from .reports.build import ScopeProblem, resolve_scope
    from .underwriting.covenants import covenant_deals, covenant_rows

    if currency is not None:
        try:
            v.parse_currency(currency)
        except v.ValueProblem as exc:
            raise UsageProblem(f"--currency: {exc.message}", exc.hint) from None
    index = None
    if tree is None:  # the checks' kept results stand for running them again, and only the deals
        # that changed are loaded before they are needed (reports.stored)
        from .reports.stored import load_report_book
        loaded, errors, index = load_report_book(root, _repaid(tree))
    else:
        loaded, errors = load_valid_book(root, tree=tree)
    if errors:
        raise DiagnosticError(errors)
    if index is not None and deal is not None:
        index.load([deal])
    look_through: list = []
    try:
        if investor is not None:
            if fund or lender or deal or whole_book:
                raise ScopeProblem("choose one scope: --fund F, --lender L, --deal D, --investor I or --book")
            scope, look_through = investor_scope(loaded, investor)
        else:
            scope = resolve_scope(loaded, fund=fund, lender=lender, deal=deal, book=whole_book)
    except ScopeProblem as exc:
        raise UsageProblem(str(exc), "see `loanctl report --help`") from None
    ids = covenant_deals(loaded, deals=[scope.id] if scope.kind == "deal" else None, lenders=scope.lenders or None,
                         lenders_of=index.lenders if index is not None else None)
    if tree is None:  # the stores' reads share one connection to the ledger
        from .ledger.stored_positions import shared_reads
        with shared_reads(root):
            return _stored_report(root, loaded, scope, on, ids, index, currency, look_through)
    covenants = covenant_rows(loaded, on, deals=ids)
    return valued_report(loaded, scope, on, archived_payments(loaded, tree, on), covenants, currency=currency,
                         look_through=look_through)


def _stored_report(root: Path, loaded: LoadedBook, scope, on: date, ids: list[str], index, currency: str | None,
                   look_through: list):
    """`report` of a book read from its folder: each unchanged deal's covenant tests and each
    unchanged facility's position as stored in the ledger (reports.stored, reports.build)."""
    from .ledger.db import ledger_payments
    from .reports.build import open_report_store
    from .reports.stored import covenant_tests, open_covenant_store

    cov_store = open_covenant_store(loaded, on, index)
    covenants, _ = covenant_tests(loaded, ids, on, cov_store, index)
    if cov_store is not None:
        cov_store.save()
    store = open_report_store(loaded, scope, on, VALUED_REPORT, known=index.fingerprints if index is not None else None)
    if store is None and index is not None:  # no ledger: every deal of the scope is computed
        index.load(index.statuses)
        index = None
    payments = [] if store is not None else ledger_payments(root)
    return valued_report(loaded, scope, on, payments, covenants, currency=currency, look_through=look_through,
                         store=store, index=index)


VALUED_REPORT = "valued"
"""The report variant of `valued_report` (its position hook) in stored positions."""


def valued_report(loaded: LoadedBook, scope, on: date, payments, covenants=None, *, currency: str | None = None,
                  look_through: list | None = None, store=None, index=None):
    """The report of a resolved scope with amortized cost, marks, fair value and NAV, and its
    totals translated into `currency` (default: the base currency). A missing FX rate raises
    DiagnosticError (E0654) when `currency` was asked for or the scope is an investor's; for
    the implied base currency it is a warning on the report, which stands untranslated.
    With a `store` (`reports.build.open_report_store` for VALUED_REPORT) the positions stored
    and up to date are read from the ledger, and only the other facilities' payments are
    loaded and allocated (`payments` is then ignored); what was computed is stored. `index`
    (with a store): the book's reports.stored.DealIndex when not all its deals are loaded; the
    deals to compute are loaded here."""
    from dataclasses import replace

    from .accounting.valuation import add_valuation_totals, translate, valuation_hook
    from .diagnostics import DiagnosticError
    from .reports.build import build_report, compute_in_workers, deals_to_compute, facilities_to_compute

    statuses = index.statuses if index is not None and store is not None else None
    if store is not None:
        # many deals to compute (the first report after a post): in worker processes, and kept
        # at once, so the report reads them all as stored (DuckDB sums their flows)
        todo = deals_to_compute(loaded, scope, store, statuses)
        if compute_in_workers(loaded, scope, on, store, todo, lambda ps: valuation_hook(loaded, on, ps),
                              index.load if index is not None else None, statuses):
            store.save()
            todo = deals_to_compute(loaded, scope, store, statuses)  # those with an entry it cannot store
        if index is not None:
            index.load(todo)
        payments = store.payments(facilities_to_compute(loaded, scope, on, store, statuses, todo))
    payments = list(payments)
    result = build_report(loaded, scope, on, payments, covenants, position_hook=valuation_hook(loaded, on, payments),
                          store=store, statuses=statuses)
    if store is not None:
        store.save()
    add_valuation_totals(result)
    result.look_through = look_through or []
    target = currency or (loaded.book.base_currency if loaded.book else None)
    if target is not None and result.positions:
        try:
            translate(result, loaded, target)
        except DiagnosticError as exc:
            if currency is not None or scope.kind == "investor":
                raise
            result.warnings += [replace(d, severity="warning") for d in exc.diagnostics]
    return result


def journal(root: Path, end: date, *, start: date | None = None, fund: str | None = None, period: str = "month"):
    """`loanctl journal`'s journal as objects (SPEC §9): of the whole book or one fund (with its
    SPVs) up to `end`, from the ledger's payments; entries before `start` brought forward.
    (Journal, loaded book). The command itself streams it: `journal_stream`."""
    from .accounting.journal import build_journal
    from .ledger.db import ledger_payments
    from .reports.build import ScopeProblem

    loaded, index = _journal_book(root, end, start, period)
    try:
        return build_journal(loaded, ledger_payments(root), end, start=start, fund=fund, period=period,
                             index=index), loaded
    except ScopeProblem as exc:
        raise UsageProblem(str(exc), "see `loanctl journal --help`") from None


def journal_stream(root: Path, end: date, fmt: str, *, start: date | None = None, fund: str | None = None,
                   period: str = "month", workers: int | None = None):
    """`loanctl journal`: `journal`, rendered in `fmt` by the processes that work it, each
    reading its own deals' payments from the ledger — (JournalStream, loaded book); write it
    with `render.journal.write(fmt, …)`, then close it (a context manager)."""
    from .accounting.journal import scratch_problem, stream_journal
    from .render.journal import FORMATS, PIECES
    from .reports.build import ScopeProblem

    if fmt not in FORMATS:
        raise UsageProblem(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    loaded, index = _journal_book(root, end, start, period)
    pieces, balance = PIECES[fmt]
    try:
        return stream_journal(loaded, end, pieces, balance, root=root, start=start, fund=fund, period=period,
                              workers=workers, index=index), loaded
    except ScopeProblem as exc:
        raise UsageProblem(str(exc), "see `loanctl journal --help`") from None
    except OSError as exc:  # the scratch files, in the system's temporary folder
        raise scratch_problem(exc) from None


def _journal_book(root: Path, end: date, start: date | None, period: str):
    """The book a journal is made of, once its options are checked, and its deal index: as for
    `report`, the checks are validate's kept results and only the deals whose folders changed
    are loaded here (reports.stored.load_report_book); the journal's processes load the deals
    they work. (With the cache off, or an error kept: the whole book loaded and checked, no index.)"""
    from .accounting.periods import PERIODS
    from .diagnostics import DiagnosticError
    from .reports.stored import load_report_book

    if period not in PERIODS:
        raise UsageProblem(f"--period {period} is not one of {', '.join(PERIODS)}")
    if start is not None and start > end:
        raise UsageProblem(f"--from {start} is after --to {end}")
    loaded, errors, index = load_report_book(root, _repaid(None))
    if errors:
        raise DiagnosticError(errors)
    return loaded, index


def archived_payments(loaded, tree: Tree, on: date) -> list:
    """Payments as archived at a revision, replayed exactly as `ledger rebuild` replays payments/
    (each file with the profile it was posted with); an archive that cannot be replayed is a
    DiagnosticError carrying the replay's diagnostics. `on` is unused: kept for the callers."""
    from .diagnostics import DiagnosticError
    from .ledger.rebuild import archived_payments_at

    payments, diags = archived_payments_at(loaded, tree)
    if any(d.is_error for d in diags):
        raise DiagnosticError(diags)
    return payments


def covenants(root: Path, on: date, deal: str | None = None, fund: str | None = None):
    """`loanctl covenants`: every covenant test of one deal, or of every deal the fund (or its
    SPVs) holds, on `on` — (rows in deal order, diagnostics of the tests). Deals whose inputs
    are unchanged since their tests were stored in the ledger are read from it."""
    from .diagnostics import DiagnosticError
    from .reports.build import ScopeProblem, resolve_scope
    from .reports.stored import covenant_tests, open_covenant_store

    if (deal is None) == (fund is None):
        raise UsageProblem("give a DEAL or --fund F")
    loaded, errors = load_valid_book(root)
    if errors:
        raise DiagnosticError(errors)
    if deal is not None and deal not in loaded.deals:
        raise UsageProblem(f"unknown deal '{deal}'")
    if fund is not None:
        try:
            scope = resolve_scope(loaded, fund=fund)
        except ScopeProblem as exc:
            raise UsageProblem(str(exc)) from None
        ids = [d for d, r in sorted(loaded.deals.items())
               if any(p.lender in scope.lenders for f in r.deal.facilities for p in f.participations)]
    else:
        ids = [deal]
    store = open_covenant_store(loaded, on)  # each unchanged deal's tests as stored (SPEC §10)
    rows, diags = covenant_tests(loaded, ids, on, store)
    if store is not None:
        store.save()
    return rows, diags


# --- servicing: the payments ledger (loanctl.ledger's public functions) -------------------------
class InvalidBook(DiagnosticError):
    """The book has errors: servicing waits until it is valid (`note` says so)."""

    note = "the book is invalid: fix it first (loanctl validate)"


def valid_book(root: Path):
    """The whole book, loaded and valid, or InvalidBook with its errors."""
    loaded, errors = load_valid_book(root)
    if errors:
        raise InvalidBook(errors)
    return loaded


def post_payments(root: Path, files: list[tuple[str, bytes]], posting_day: date, profile: str | None = None,
                  dry_run: bool = False):
    """`loanctl post-payments`: check every row of every (name, bytes) file, then archive and post
    them on `posting_day` in one transaction — or nothing (the PostResult says which and why)."""
    from .ledger.posting import post
    return post(valid_book(root), files, posting_day, profile=profile, dry_run=dry_run)


def rebuild_ledger(root: Path, posting_day: date) -> tuple[int, int, list]:
    """`loanctl ledger rebuild` on `posting_day` (recorded for archived files whose name carries
    no date): (archived files, payments, diagnostics)."""
    from .ledger.rebuild import rebuild
    return rebuild(valid_book(root), posting_day)


def refresh_ledger(root: Path) -> list[tuple[str, str]]:
    """`loanctl ledger refresh`: the (deal, facility) pairs whose allocations were recomputed."""
    from .ledger.refresh import refresh
    return refresh(valid_book(root))


def check_ledger(root: Path) -> list:
    """`loanctl ledger check`: the diagnostics of the ledger against the archive and the book."""
    from .ledger.check import check
    return check(valid_book(root))


MAX_QUERY_SECONDS = 86400


def query(root: Path, sql: str, on: date, timeout: float = 30.0):
    """`loanctl query`: the allocations brought up to date with the book (as far as the ledger
    allows), then one read-only statement with the positions view on `on`:
    (columns, rows, facilities refreshed, warnings of the refresh)."""
    from .ledger.query import run_query
    from .ledger.refresh import refresh_or_warn

    if not 0 < timeout <= MAX_QUERY_SECONDS:
        raise UsageProblem(f"--timeout must be more than 0 and at most {MAX_QUERY_SECONDS} seconds, not {timeout:g}")
    loaded = valid_book(root)
    refreshed, warnings = refresh_or_warn(loaded)
    columns, rows = run_query(loaded, sql, on, timeout=timeout)
    return columns, rows, refreshed, warnings


@dataclass(frozen=True, slots=True)
class PayoffResult:
    """A payoff quote (SPEC §4.3) with what it is for."""

    deal: str
    facility: str
    currency: str
    quote: "PayoffQuote"


def payoff(root: Path, deal_id: str, facility_id: str | None, on: date
           ) -> tuple[PayoffResult | None, list[Diagnostic]]:
    """`loanctl payoff`: the deal loaded and valid (InvalidBook otherwise), then `payoff_quote`."""
    loaded, errors = load_valid_book(root, [deal_id])
    if errors:
        raise InvalidBook(errors)
    return payoff_quote(loaded, deal_id, facility_id, on)


def payoff_quote(loaded: LoadedBook, deal_id: str, facility_id: str | None, on: date
                 ) -> tuple[PayoffResult | None, list[Diagnostic]]:
    """What ends a facility on `on` by component, after the ledger's payments dated before
    it. A date outside the facility's life (on or before its start, after its maturity)
    is E0276; a facility a payoff already ended is E0277. Unknown deal or facility, or a
    deal of several facilities without one named: a usage problem."""
    from .ledger.db import ledger_payments
    from .servicing.positions import allocate_facility, facility_inputs, quote_payoff

    record = loaded.deals.get(deal_id)
    if record is None:
        raise UsageProblem(f"unknown deal '{deal_id}'", "the deal id is its folder name under the book")
    terms, _ = facility_inputs(loaded, deal_id)
    if facility_id is None:
        if len(terms) != 1:
            raise UsageProblem(f"deal '{deal_id}' has {len(terms)} facilities: name one with --facility",
                               f"facilities: {', '.join(terms)}")
        facility_id = next(iter(terms))
    ft = terms.get(facility_id)
    if ft is None:
        raise UsageProblem(f"deal '{deal_id}' has no facility '{facility_id}'", f"facilities: {', '.join(terms)}")
    start, maturity = ft.first.facility.start_date, ft.last.facility.maturity_date
    if not start < on <= maturity:
        return None, [ft.last.diag("E0276", f"a payoff on {on} is outside facility {facility_id}'s life: after "
                                            f"its start {start}, up to its maturity {maturity}", ("maturity_date",),
                                   hint=f"quote a date after {start} and on or before {maturity}")]
    payments = [p for p in ledger_payments(loaded.root) if p.deal == deal_id and p.facility == facility_id]
    before = [p for p in payments if p.date < on]
    ended = allocate_facility(loaded, deal_id, facility_id, before)
    if ended.payoff is not None:
        off = next(p for p in before if p.payment_id == ended.payoff)
        return None, [Diagnostic("E0277", f"facility {deal_id}/{facility_id} was paid off on {off.date} by payment "
                                          f"{off.payment_id!r}: nothing is owed on {on}", record.doc.file,
                                 hint="a reversal of the payoff reopens the facility")]
    quote = quote_payoff(loaded, deal_id, facility_id, before, on)
    if quote is None:
        return None, [ft.last.diag("E0276", f"no payoff quote on {on}: the facility's schedule does not run to it",
                                   ("maturity_date",), hint=f"quote a date after {start} and on or before {maturity}")]
    return PayoffResult(deal_id, facility_id, record.deal.currency, quote), []


def trade(root: Path, deal: str, facility: str, seller: str, buyer: str, *, settle: date, amount: str | None = None,
          share: str | None = None, price: str = "100", trade_date: date | None = None,
          approvals: list[str] = (), trade_id: str | None = None, dry_run: bool = False):
    """`loanctl trade`: write `<deal>/trades/<id>.yaml` (checked like `amend`); returns the
    workflow's StepResult with the position change in `impact`. `approvals` are
    "BY:ROLE:DATE" texts."""
    from .model.options import option_date
    from .origination.workflow import trade as run

    parsed = []
    for text in approvals:
        parts = text.split(":")
        if len(parts) != 3 or not all(p.strip() for p in parts):
            raise UsageProblem(f"--approval {text!r} is not BY:ROLE:DATE", "e.g. --approval pm:portfolio_manager:2027-01-04")
        parsed.append({"by": parts[0].strip(), "role": parts[1].strip(),
                       "date": option_date(parts[2].strip(), "--approval").isoformat()})
    return run(root, deal, facility, seller, buyer, settle=settle, amount=amount, share=share, price=price,
               trade_date=trade_date, approvals=parsed, trade_id=trade_id, dry_run=dry_run)


def record_event(root: Path, deal_id: str, event_type: str, on: date, *, amount=None, facility: str | None = None,
                 note: str | None = None, dry_run: bool = False):
    """`loanctl event`: write a credit-event file (SPEC §2.7) after checking the book with it
    (`origination.workflow.record_event`); a StepResult with the diagnostics if refused."""
    from .origination.workflow import record_event as run
    return run(root, deal_id, event_type, on, amount=amount, facility=facility, note=note, dry_run=dry_run)


# --- export (SPEC §10) -------------------------------------------------------------------------
def export(root: Path, out: Path, on: date, fmt: str = "parquet", force: bool = False):
    """`loanctl export`: deals, facilities, schedules, payments, allocations, positions and the
    journal as of `on`, as Parquet under `out` (an empty or missing folder; with `force`, a
    previous export is replaced). Returns the `export.parquet.ExportResult`."""
    import duckdb

    from .diagnostics import Diagnostic, DiagnosticError
    from .export.parquet import write_export
    from .export.tables import Payments, build_tables
    from .ledger.db import ledger_payments
    from .ledger.refresh import refresh_or_warn
    from .ledger.stored_schedules import stored_as_of

    if fmt != "parquet":
        raise UsageProblem(f"--format {fmt} is not supported", "the export format is: parquet")
    out = Path(out)
    try:
        inside = out.resolve().relative_to(Path(root).resolve()).parts
    except ValueError:
        inside = None
    if inside is not None and (not inside or not (inside[0] == "reports" or inside[0].startswith((".", "_")))):
        raise UsageProblem(f"{out} is inside the book, where it would read as a deal folder",
                           "write the export outside the book, or under its reports/ folder")
    if out.exists() and not out.is_dir():
        raise UsageProblem(f"{out} is a file, not a folder", "choose a folder for --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageProblem(f"{out} is not empty", "choose an empty or new folder, or pass --force to replace it")
    loaded = valid_book(root)
    refresh_or_warn(loaded)  # stored schedules and allocations brought up to date where the ledger can be written
    stored = stored_as_of(loaded, on)
    # with stored rows, the ledger's payments are read only where needed (never all in this process)
    payments = Payments(on, root=root) if stored is not None else Payments(on, ledger_payments(root))
    currencies = {r.deal.currency for r in loaded.deals.values()}
    try:
        return write_export(build_tables(loaded, payments, on, stored), out, on, currencies, force,
                            stored.attach if stored is not None else None)
    except (OSError, duckdb.Error) as exc:
        text = (getattr(exc, "strerror", None) or str(exc)).splitlines()[0][:200]
        raise DiagnosticError([Diagnostic("E0900", f"the export could not be written: {text}", str(out),
                                          hint="check that the folder is writable and has space; "
                                               "nothing was changed at --out")]) from None
