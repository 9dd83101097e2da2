"""Book set-up commands: init, new-deal, schema, demo (thin adapters over loanctl.origination.scaffold
and loanctl.validation.schema)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from .common import EXIT_INVALID, app, book_root, fail_usage, guarded, print_diagnostics


class SchemaKind(str, Enum):
    book = "book"
    deal = "deal"
    amendment = "amendment"
    financials = "financials"


class FacilityType(str, Enum):
    term = "term"
    delayed_draw = "delayed_draw"
    revolver = "revolver"


class Frequency(str, Enum):
    monthly = "monthly"
    quarterly = "quarterly"
    semiannual = "semiannual"
    annual = "annual"


class NewStatus(str, Enum):
    draft = "draft"
    submitted = "submitted"


def _say(text: str) -> None:
    from ..plaintext import inert  # paths and names as given
    sys.stdout.write(inert(text) + "\n")


@app.command()
@guarded
def schema(
    kind: Optional[SchemaKind] = typer.Option(None, "--kind", help="The file kind to print (default: deal)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write <kind>.schema.json files into this folder "
                                                           "(every kind unless --kind), e.g. deals/.schema."),
) -> None:
    """JSON Schema of book.yaml, deal.yaml, amendment and financials files, for editors
    (yaml-language-server) and other tools."""
    from ..validation.schema import KINDS, json_schemas, render, write_schemas

    if out is None:
        sys.stdout.write(render(json_schemas()[(kind or SchemaKind.deal).value]))
        return
    if out.exists() and not out.is_dir():
        raise fail_usage(f"--out {out} is not a folder")
    for path in write_schemas(out, (kind.value,) if kind else KINDS):
        sys.stderr.write(f"wrote {path}\n")


@app.command()
@guarded
def init(
    folder: Path = typer.Argument(Path("."), metavar="DIR",
                                  help="Folder of the new book (default: the current folder)."),
    name: Optional[str] = typer.Option(None, "--name", help="The book's name (default: from the folder name)."),
    currency: str = typer.Option("USD", "--currency", help="Base currency of the book."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing book.yaml and the generated files."),
    git: bool = typer.Option(True, "--git/--no-git",
                             help="--no-git: do not run git at all (no git init; the CI files go into DIR)."),
) -> None:
    """Create a new book: book.yaml, a rate file, JSON Schemas, .gitignore, a GitHub Actions
    workflow and a pre-commit configuration; runs git init where there is no repository."""
    from ..origination.scaffold import init_book

    result, diags = init_book(folder, name=name, currency=currency, force=force, git=git)
    if result is None:
        print_diagnostics(diags, stream=sys.stderr)
        sys.stderr.write("nothing written\n")
        raise typer.Exit(EXIT_INVALID)
    _say(f"created a book in {folder}")
    for path in result.written:
        _say(f"  wrote {_rel(path)}")
    for path, why in result.kept:
        _say(f"  kept  {_rel(path)}: {why}")
    for note in result.notes:
        _say(note)
    book = "" if folder.resolve() == Path.cwd().resolve() else f" --book {folder}"
    _say(f"next: loanctl{book} new-deal DEAL_ID, then loanctl{book} validate")


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _interactive() -> bool:
    """Whether new-deal may ask for missing options (stdin is a terminal)."""
    return sys.stdin.isatty()


@app.command("new-deal")
@guarded
def new_deal(
    ctx: typer.Context,
    deal_id: str = typer.Argument(..., metavar="DEAL_ID",
                                  help="The new deal's id (its folder name), e.g. acme-tl-2026."),
    borrower: Optional[str] = typer.Option(None, "--borrower", help="Borrower entity id from book.yaml."),
    name: Optional[str] = typer.Option(None, "--name", help="Deal name (default: borrower name and facility type)."),
    commitment: Optional[str] = typer.Option(None, "--commitment", help="Commitment amount, e.g. 25000000."),
    start: Optional[str] = typer.Option(None, "--start", help="Start (closing) date, YYYY-MM-DD."),
    maturity: Optional[str] = typer.Option(None, "--maturity", help="Maturity date, YYYY-MM-DD."),
    facility_type: FacilityType = typer.Option(FacilityType.term, "--type", help="Facility type."),
    index: Optional[str] = typer.Option(None, "--index", help="Floating rate index, e.g. SOFR-3M (rates/<INDEX>.csv)."),
    spread: Optional[str] = typer.Option(None, "--spread", help="Spread over the index, e.g. 575bps."),
    floor: Optional[str] = typer.Option(None, "--floor", help="Floor on the index fixing, e.g. 1%."),
    fixed_rate: Optional[str] = typer.Option(None, "--fixed-rate", help="Fixed rate instead of an index, e.g. 11%."),
    frequency: Frequency = typer.Option(Frequency.quarterly, "--frequency", help="Payment frequency."),
    amortization: Optional[str] = typer.Option(
        None, "--amortization", help="bullet, straight, level, or an annual rate such as 1% (percent amortization); "
                                     "default 1% for term loans, bullet for revolvers."),
    lender: Optional[List[str]] = typer.Option(
        None, "--lender", help="LENDER=SHARE, repeatable (e.g. --lender fund-i=60% --lender fund-i-spv=40%); "
                               "default: the book's first fund, 100%."),
    sourced_by: Optional[str] = typer.Option(None, "--sourced-by", help="Who sourced the deal."),
    status: NewStatus = typer.Option(NewStatus.draft, "--status", help="Initial status."),
    currency: Optional[str] = typer.Option(None, "--currency", help="Deal currency (default: the book's)."),
    availability_end: Optional[str] = typer.Option(
        None, "--availability-end", help="Delayed draw and revolver: end of the availability period."),
) -> None:
    """Write a new deal from the template, from options or by prompting; it is validated
    with the book first and written only when it has no errors."""
    from ..origination.scaffold import (DealSpec, book_facts, check_new_deal_id, create_deal, new_deal_options,
                                        parse_lender)

    root = book_root(ctx)
    check_new_deal_id(root, deal_id)
    facts = book_facts(root)
    index, missing = new_deal_options(facts, borrower=borrower, commitment=commitment, start=start,
                                      maturity=maturity, index=index, spread=spread, floor=floor,
                                      fixed_rate=fixed_rate)
    if missing:
        if not _interactive():
            raise fail_usage(f"missing {', '.join(missing)}",
                             "pass them as options, or run in a terminal to be asked for them")
        borrowers = ", ".join(list(facts.borrowers)[:12]) or "none in book.yaml yet"
        borrower = borrower or typer.prompt(f"Borrower ({borrowers})")
        commitment = commitment or typer.prompt("Commitment (e.g. 25000000)")
        start = start or typer.prompt("Start date (YYYY-MM-DD)")
        maturity = maturity or typer.prompt("Maturity date (YYYY-MM-DD)")
        if fixed_rate is None and (index is None or spread is None):
            if index is None:
                answer = typer.prompt("Index, or 'fixed' for a fixed rate",
                                      default=facts.indexes[0] if facts.indexes else "fixed")
                if answer.strip().lower() == "fixed":
                    fixed_rate = typer.prompt("Fixed rate (e.g. 11%)")
                else:
                    index = answer.strip()
            if fixed_rate is None and spread is None:
                spread = typer.prompt(f"Spread over {index} (e.g. 575bps)")

    spec = DealSpec(
        deal_id=deal_id, borrower=borrower, commitment=commitment, start=start, maturity=maturity,
        name=name, type=facility_type.value, index=index, spread=spread, floor=floor, fixed_rate=fixed_rate,
        frequency=frequency.value, amortization=amortization,
        lenders=tuple(parse_lender(x) for x in lender or ()), sourced_by=sourced_by, status=status.value,
        currency=currency, availability_end=availability_end)
    path, _, diags = create_deal(root, spec)
    print_diagnostics(diags, stream=sys.stderr)
    if path is None:
        sys.stderr.write(f"deal '{deal_id}' not written: fix the options above and run again\n")
        raise typer.Exit(EXIT_INVALID)
    _say(f"created {_rel(path)}")
    _say(f"next: edit it, then loanctl validate {deal_id} and loanctl schedule {deal_id}")


class _DemoCommand(typer.core.TyperCommand):
    """`demo`, whose --help names every step of the tour: the text is made from loanctl.demo's
    list of steps when help is asked for (importing the tour at start-up would cost 0.3 s)."""

    def format_help_text(self, ctx, formatter) -> None:
        from ..demo import demo_help
        self.help = demo_help()
        super().format_help_text(ctx, formatter)


@app.command(cls=_DemoCommand)
@guarded
def demo(
    folder: Optional[Path] = typer.Option(None, "--dir", help="Copy the demo book here (new or empty folder; "
                                                              "default: a new temporary folder)."),
) -> None:
    """A guided tour of loanctl on a copy of the demo book (its steps: loanctl demo --help)."""
    import datetime as _dt
    import tempfile

    from ..render.text import console as plain_console, text as inert_text
    from ..demo import copy_demo_book, run_demo

    dest = folder if folder is not None else Path(tempfile.mkdtemp(prefix="loanctl-demo-"))
    copy_demo_book(dest)
    console = plain_console(min_width=180)  # schedule tables need ~170 columns
    console.print(inert_text("Demo book copied to ") + inert_text(dest, "bold")
                  + " (a throwaway copy: change anything).")
    ok = run_demo(dest, console, _dt.date.today())
    console.print()
    console.rule(style="dim")
    console.print(f"Try it yourself:  cd {dest}  then  loanctl validate, loanctl schedule DEAL, loanctl show DEAL",
                  highlight=False, markup=False)
    if not ok:
        sys.stderr.write("loanctl: some demo steps failed (see above)\n")
        raise typer.Exit(EXIT_INVALID)
