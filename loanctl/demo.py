"""`loanctl demo`: a guided tour on a copy of the demo book — a list of steps, each a heading
and a function, so a new feature adds one step. "Today" is passed in; the steps print to
the console they are given.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from .api import UsageProblem, validate_book
from .diagnostics import Diagnostic
from .render.text import print_table

from .resources import resource_dir


# --- loanctl demo --------------------------------------------------------------------------
_DEMO_SKIP_TOP = {".loanctl", "payments"}  # derived state and posted files: each demo starts clean
_DEMO_SKIP_ANY = {".loanctl", "__pycache__"}


def copy_demo_book(dest: Path) -> Path:
    """Copy the packaged demo book into `dest` (created; must be empty), without its ledger
    and posted payment files. Files are copied without their permissions (an installed
    package may be read-only)."""
    src = resource_dir("deals")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageProblem(f"{dest} is not an empty folder", "choose a new or empty folder for --dir")
    dest.mkdir(parents=True, exist_ok=True)
    for here, dirs, files in os.walk(src):
        rel = Path(here).relative_to(src)
        skip = _DEMO_SKIP_ANY | (_DEMO_SKIP_TOP if rel == Path(".") else set())
        dirs[:] = sorted(d for d in dirs if d not in skip)
        (dest / rel).mkdir(exist_ok=True)
        for f in sorted(files):
            shutil.copyfile(Path(here) / f, dest / rel / f)
    return dest


@dataclass
class DemoContext:
    root: Path
    console: Any
    """A rich Console."""
    today: date
    _loaded: Any = None

    def loaded(self):
        """The demo book, loaded once (errors are reported by the validate step)."""
        if self._loaded is None:
            from .api import load_valid_book
            self._loaded, _ = load_valid_book(self.root)
        return self._loaded


@dataclass(frozen=True)
class DemoStep:
    heading: str
    """The command a user would type for the same output."""
    note: str
    run: Callable[[DemoContext], bool]
    """Prints its output on the context's console; False when something failed."""


DEMO_AMENDED = "meridian-tl-2025"     # repriced and extended by amendment 001
DEMO_DELAYED_DRAW = "cobalt-unitranche-2025"  # term loan plus a delayed-draw facility (upsized by amendment)
DEMO_PIK = "keystone-holdco-2025"     # holdco loan with 3% PIK


def _print_diags(ctx: DemoContext, diags: list[Diagnostic]) -> None:
    from .diagnostics import render_text
    text = render_text(diags)
    if text:
        ctx.console.print(text, markup=False, highlight=False)


def _step_validate(ctx: DemoContext) -> bool:
    from .diagnostics import summary
    result = validate_book(ctx.root)
    _print_diags(ctx, result.diagnostics)
    deals = len(result.loaded.deal_folders)
    ctx.console.print(f"{deals} deals checked: {summary(result.diagnostics)}", highlight=False)
    return result.errors == 0


def _schedule_step(deal_id: str, lender: str | None = None) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from .engine.deal import schedule_deal
        from .render import schedule as render_schedule
        from .reports.schedule import schedule_view
        loaded = ctx.loaded()
        if deal_id not in loaded.deals:
            ctx.console.print(f"deal {deal_id} is not in the demo book or does not load", style="red")
            return False
        result, diags = schedule_deal(loaded, deal_id, lender=lender)
        if result is None:
            _print_diags(ctx, diags)
            return False
        render_schedule.to_table(schedule_view(result), ctx.console)
        return True
    return run


def _show_step(deal_id: str) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from .render import show as render_show
        from .reports.terms import terms_view
        loaded = ctx.loaded()
        if deal_id not in loaded.deals:
            ctx.console.print(f"deal {deal_id} is not in the demo book or does not load", style="red")
            return False
        render_show.to_text(terms_view(loaded, deal_id, ctx.today), ctx.console)
        return True
    return run


def _step_post(ctx: DemoContext) -> bool:
    from .render import servicing as render_servicing
    from .ledger.posting import post
    from .reports.posting import post_summary
    files = sorted((resource_dir("templates") / "demo-payments").glob("*.csv"))
    result = post(ctx.loaded(), [(f.name, f.read_bytes()) for f in files], ctx.today)
    if not result.ok:
        _print_diags(ctx, result.diagnostics)
        return False
    render_servicing.post_table(post_summary(result), ctx.console)
    return True


def _step_actuals(deal_id: str) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from .render import schedule as render_schedule
        from .reports.actuals import schedule_with_actuals
        from .reports.schedule import schedule_view
        result, paid = schedule_with_actuals(ctx.loaded(), deal_id)
        render_schedule.to_table(schedule_view(result, paid), ctx.console)
        return True
    return run


def _step_ledger_check(ctx: DemoContext) -> bool:
    from .ledger.check import check
    diags = check(ctx.loaded())
    _print_diags(ctx, diags)
    if not diags:
        ctx.console.print("ledger check: clean (archive and ledger agree; allocations sum to payments)")
    return not diags


def _step_report(fund: str) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from .api import valued_report
        from .render import report as render_report
        from .reports.build import resolve_scope
        from .underwriting.covenants import covenant_rows
        from .ledger.db import ledger_payments
        loaded = ctx.loaded()
        scope = resolve_scope(loaded, fund=fund)
        report = valued_report(loaded, scope, ctx.today, ledger_payments(ctx.root),
                               covenant_rows(loaded, ctx.today, lenders=scope.lenders))
        _print_diags(ctx, report.warnings)
        out = ctx.root / "reports"
        out.mkdir(exist_ok=True)
        (out / f"{fund}.html").write_text(render_report.to_html(report, ctx.root), encoding="utf-8")
        (out / f"{fund}.md").write_text(render_report.to_markdown(report, ctx.root), encoding="utf-8")
        render_report.to_text(report, ctx.console)
        ctx.console.print(f"wrote {out / (fund + '.html')} and {out / (fund + '.md')}", highlight=False)
        return True
    return run


def _step_investor(investor: str) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from .accounting.valuation import investor_scope
        from .api import valued_report
        from .ledger.db import ledger_payments
        from .render import report as render_report
        loaded = ctx.loaded()
        scope, shares = investor_scope(loaded, investor)
        report = valued_report(loaded, scope, ctx.today, ledger_payments(ctx.root), look_through=shares)
        out = ctx.root / "reports"
        out.mkdir(exist_ok=True)
        (out / f"{investor}.md").write_text(render_report.to_markdown(report, ctx.root), encoding="utf-8")
        render_report.valuation_text(report, ctx.console)
        ctx.console.print(f"wrote {out / (investor + '.md')}", highlight=False)
        return True
    return run


def _step_journal(fund: str) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from datetime import date as _date
        from .accounting.journal import build_journal
        from .ledger.db import ledger_payments
        from .render import journal as render_journal
        loaded = ctx.loaded()
        start = _date(ctx.today.year, 1, 1)
        journal = build_journal(loaded, ledger_payments(ctx.root), ctx.today, start=start, fund=fund)
        out = ctx.root / "reports"
        out.mkdir(exist_ok=True)
        path = out / f"{fund}-{ctx.today.year}.beancount"
        path.write_text(render_journal.to_beancount(journal, loaded.book.base_currency), encoding="utf-8")
        kinds: dict[str, int] = {}
        for e in journal.entries:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        ctx.console.print(f"wrote {path}: {len(journal.entries)} entries ("
                          + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + f"), "
                          f"{len(journal.accounts())} accounts", highlight=False)
        try:
            from beancount import loader
        except ImportError:
            ctx.console.print("bean-check skipped: beancount is not installed (pip install beancount)",
                              highlight=False)
            return True
        _, errors, _ = loader.load_file(str(path))
        for err in errors[:5]:
            ctx.console.print(f"bean-check: {err.message}", style="red", markup=False)
        if not errors:
            ctx.console.print("bean-check: no errors — open it in Fava: fava " + str(path), highlight=False)
        return not errors
    return run


def _step_covenants(fund: str) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from rich.table import Table
        from .underwriting.covenants import covenant_rows
        loaded = ctx.loaded()
        from .reports.build import resolve_scope
        rows = covenant_rows(loaded, ctx.today, lenders=resolve_scope(loaded, fund=fund).lenders)
        latest: dict = {}
        for r in rows:
            if r["status"] != "overdue":
                latest[(r["deal"], r["covenant"])] = r
        t = Table(title="latest covenant tests", title_justify="left", header_style="bold")
        for name in ("Deal", "Covenant", "Period end", "Value", "Bound", "Headroom", "Status"):
            t.add_column(name)
        for r in latest.values():
            style = {"breached": "bold red", "at_risk": "yellow"}.get(r["status"], "green")
            t.add_row(r["deal"], r["covenant"], str(r["period_end"]),
                      f"{r['value']:.2f}x" if r["value"] is not None else "—",
                      f"{'≤' if r['bound_kind'] == 'max' else '≥'} {r['bound']}",
                      f"{r['headroom']:.2f}" if r["headroom"] is not None else "—", f"[{style}]{r['status']}[/]")
        print_table(ctx.console, t)
        return True
    return run


def _step_simulate(deal_id: str, shock: str) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from rich.table import Table
        from .underwriting.simulate import Scenario, result_dict, run as simulate_run
        from .model.values import parse_rate
        loaded = ctx.loaded()
        base, d1 = simulate_run(loaded, deal_id, Scenario(), ctx.today)
        result, d2 = simulate_run(loaded, deal_id, Scenario(rate_shock=parse_rate(shock)), ctx.today)
        if base is None or result is None:
            _print_diags(ctx, d1 + d2)
            return False
        b, r = result_dict(base, 2), result_dict(result, 2)
        t = Table(title=f"{deal_id}: base vs {shock} on every SOFR fixing", title_justify="left", header_style="bold")
        for name in ("", "base", "scenario"):
            t.add_column(name, justify="right" if name else "left")
        t.add_row("total interest", f"{Decimal(b['totals']['interest']):,.2f}", f"{Decimal(r['totals']['interest']):,.2f}")
        t.add_row("gross XIRR", f"{Decimal(b['xirr']) * 100:.2f}%", f"{Decimal(r['xirr']) * 100:.2f}%")
        t.add_row("MOIC", f"{b['moic']}x", f"{r['moic']}x")
        bi, ri = b["min_interest_coverage"], r["min_interest_coverage"]
        t.add_row("min interest coverage", f"{bi['value']}x" if bi else "—", f"{ri['value']}x" if ri else "—")
        print_table(ctx.console, t)
        return True
    return run


DEMO_STATEMENT = "2026-12-camt053.xml"  # templates/demo-statements/: December's bank statement (synthetic)


def _step_reconcile(ctx: DemoContext) -> bool:
    """Reconcile the December statement into reports/2026-12-payments.csv, then post that file."""
    from .reconcile.output import payments_csv, report_text
    from .reconcile.run import reconcile_statement
    from .render import servicing as render_servicing
    from .ledger.posting import post
    statement = resource_dir("templates") / "demo-statements" / DEMO_STATEMENT
    result, diags = reconcile_statement(ctx.loaded(), f"templates/demo-statements/{DEMO_STATEMENT}",
                                        statement.read_bytes())
    if result is None:
        _print_diags(ctx, diags)
        return False
    ctx.console.print(report_text(result), markup=False, highlight=False, end="")
    out = ctx.root / "reports"
    out.mkdir(exist_ok=True)
    raw = payments_csv(result).encode("utf-8")
    (out / "2026-12-payments.csv").write_bytes(raw)
    ctx.console.print(f"wrote {out / '2026-12-payments.csv'}; posting it:", highlight=False)
    posted = post(ctx.loaded(), [("reports/2026-12-payments.csv", raw)], ctx.today)
    if not posted.ok:
        _print_diags(ctx, posted.diagnostics)
        return False
    from .reports.posting import post_summary
    render_servicing.post_table(post_summary(posted), ctx.console)
    return True


def _step_notices(days: int) -> Callable[[DemoContext], bool]:
    def run(ctx: DemoContext) -> bool:
        from .notices.build import build_notices, posted_payments
        from .render.notices import notice_files, write_files
        loaded = ctx.loaded()
        notices, diags = build_notices(loaded, posted_payments(loaded), ctx.today, days, kinds=("billing",))
        if diags:
            _print_diags(ctx, diags)
            return False
        out = ctx.root / "reports" / "notices"
        written = write_files(out, notice_files(notices, "md", ctx.root) + notice_files(notices, "html", ctx.root))
        for n in notices:
            ctx.console.print(f"{n.date}  {n.deal} {n.facility}  to {n.data['to']['name']}: total due "
                              f"{n.data['currency']} {Decimal(n.data['total_due']):,.2f} "
                              f"(past due {Decimal(n.data['past_due_total']):,.2f}), reference {n.data['reference']}",
                              highlight=False)
        ctx.console.print(f"wrote {len(written)} files under {out}" if notices else
                          f"no payment dates from {ctx.today} to {days} days ahead", highlight=False)
        return True
    return run


# The tour, in order. A new feature adds its step here (a heading, a note and a function).
DEMO_STEPS: list[DemoStep] = [
    DemoStep("loanctl validate", "check every file of the book: syntax, types, references, dates, "
                                 "shares, approvals", _step_validate),
    DemoStep(f"loanctl schedule {DEMO_AMENDED}", "a term loan repriced by amendment: the spread changes "
                                                 "mid-life and the maturity moves", _schedule_step(DEMO_AMENDED)),
    DemoStep(f"loanctl schedule {DEMO_DELAYED_DRAW}", "a unitranche with a delayed-draw facility: draws, "
                                                      "commitment fees on the undrawn part",
             _schedule_step(DEMO_DELAYED_DRAW)),
    DemoStep(f"loanctl schedule {DEMO_PIK}", "a holdco loan paying part of its interest in kind (PIK "
                                             "capitalised each quarter)", _schedule_step(DEMO_PIK)),
    DemoStep(f"loanctl show {DEMO_AMENDED}", "the terms in force today, and which file set each one",
             _show_step(DEMO_AMENDED)),
    DemoStep("loanctl schedule alder-tl-2026 --lender fund-ii", "a secondary trade: Fund II bought 2,000,000 par "
             "from Fund I at 97.5, settling 2026-09-15 — the transfer at settlement, interest for the days held",
             _schedule_step("alder-tl-2026", "fund-ii")),
    DemoStep("loanctl post-payments templates/demo-payments/*.csv", "bank files checked row by row, archived "
             "under payments/ and posted in one transaction: on-time, late, partial, a prepayment, an overpayment, "
             "a revolver paydown, a payoff, a returned wire and a recovery on a loan written off",
             _step_post),
    DemoStep("loanctl schedule northwind-tl-2025 --actuals", "what was paid against each due (a late payment "
             "settles the oldest due first)", _step_actuals("northwind-tl-2025")),
    DemoStep("loanctl schedule sable-tl-2025 --actuals", "a loan in payment default (credit events): default "
             "interest at 2% on the missed interest and, from the default notice, on all principal, due on the next "
             "payment date", _step_actuals("sable-tl-2025")),
    DemoStep("loanctl ledger check", "the ledger agrees with the archive", _step_ledger_check),
    DemoStep("loanctl covenants --fund fund-i", "the latest test of every covenant: one breach, one at risk",
             _step_covenants("fund-i")),
    DemoStep("loanctl simulate meridian-tl-2025 --rate-shock +200bps", "returns and coverage if SOFR rises "
             "200 bps", _step_simulate("meridian-tl-2025", "+200bps")),
    DemoStep("loanctl report --fund fund-i --out reports/fund-i.html", "the fund's positions, DPD, concentration, "
             "covenants, XIRR and MOIC, amortized cost, fair value at the latest marks and NAV (HTML and Markdown "
             "written beside the book)", _step_report("fund-i")),
    DemoStep("loanctl report --investor lp-ctrs --out reports/lp-ctrs.md", "an LP's look-through: its "
             "commitment's share of each fund (exact: 3/5 of Fund I, 5/9 of Fund II) applied to the funds' "
             "positions; amortized cost, fair value at the latest marks, NAV, and totals in USD at the as-of "
             "GBP/USD rate", _step_investor("lp-ctrs")),
    DemoStep("loanctl notices --kind billing --days 31 --out reports/notices", "the period's billing "
             "notices to borrowers: interest period, fixing, floor, spread, amounts due, past due, remittance and "
             "the reference to quote (Markdown and print-ready HTML)", _step_notices(31)),
    DemoStep("loanctl journal --fund fund-i --from <January 1> --out reports/fund-i-<year>.beancount",
             "the fund's double-entry journal for the year (accruals, cash and its allocation, PIK, fees "
             "deferred and amortized by effective interest, marks as unrealized gains), checked with bean-check",
             _step_journal("fund-i")),
    DemoStep(f"loanctl reconcile templates/demo-statements/{DEMO_STATEMENT} --out reports/2026-12-payments.csv "
             "&& loanctl post-payments reports/2026-12-payments.csv",
             "December's bank statement (camt.053) matched to the dues: by reference, by borrower and amount, "
             "within the 0.50 tolerance; a partial payment, a credit nobody billed, dues nobody paid; the "
             "matched credits posted", _step_reconcile),
]


def demo_help(steps: list[DemoStep] | None = None, width: int = 76) -> str:
    """The help text of `loanctl demo`, made from the steps themselves: every step's heading on
    a line of its own (never wrapped: it is the command to type) and its note below it. A new
    step is described by adding it to DEMO_STEPS. The steps block is marked for click with
    \\b, so click keeps its lines as written."""
    import textwrap
    steps = DEMO_STEPS if steps is None else steps
    lines = ["A guided tour of loanctl on a copy of the demo book (a throwaway copy: change anything), in "
             f"{len(steps)} steps. Each step prints what its command prints:", "", "\b"]
    for number, step in enumerate(steps, 1):
        label = f"{number:>2}. "
        lines.append(f"{label}$ {step.heading}")
        lines += textwrap.wrap(step.note, width, initial_indent=" " * len(label), subsequent_indent=" " * len(label))
    return "\n".join(lines)


def run_demo(root: Path, console: Any, today: date, steps: list[DemoStep] | None = None) -> bool:
    """Run the demo steps on the book at `root`; True when every step worked."""
    ctx = DemoContext(root=root, console=console, today=today)
    ok = True
    for step in DEMO_STEPS if steps is None else steps:
        console.print()
        from rich.text import Text
        console.rule(Text(f"$ {step.heading}", style="bold"), align="left")
        console.print(step.note, style="dim", highlight=False)
        console.print()
        try:
            worked = step.run(ctx)
        except Exception as exc:  # one failing step should not hide the others
            console.print(f"step failed: {type(exc).__name__}: {exc}", style="red", markup=False)
            worked = False
        ok = ok and worked
    return ok
