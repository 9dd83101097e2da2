"""`loanctl schedule` and `loanctl show`: a deal's schedule and its terms in force."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from .common import EXIT_INVALID, OutFormat, app, book_root, fail_usage, git_tree, guarded, print_diagnostics


def parse_date_option(value: str | None, option: str):
    if value is None:
        return None
    from ..model.values import ValueProblem, parse_date
    try:
        return parse_date(value)
    except ValueProblem as p:
        raise fail_usage(f"{option}: {p.message}", p.hint) from None


def load_deal_or_exit(ctx: typer.Context, deal: str, rev: str | None = None):
    """The book with `deal` loaded and valid; exit 2 for an unknown deal, 1 for an invalid one."""
    from ..api import load_valid_book
    from ..source.loader import FsTree

    root = book_root(ctx)
    tree = git_tree(root, rev) or FsTree(root)
    if tree.read(f"{deal}/deal.yaml", 1 << 30) is None or deal.startswith((".", "_")) or "/" in deal:
        from ..source.loader import load_book
        known = sorted(load_book(root, tree=tree)[0].deal_folders)
        import difflib
        close = difflib.get_close_matches(deal, known, n=1)
        raise fail_usage(f"unknown deal '{deal}'", f"did you mean '{close[0]}'?" if close else
                         f"deals: {', '.join(known[:20]) or 'none'}")
    loaded, errors = load_valid_book(root, [deal], tree=tree)
    if errors:
        print_diagnostics(errors, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    return loaded


@app.command()
@guarded
def schedule(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    facility: Optional[str] = typer.Option(None, "--facility", help="Only this facility."),
    lender: Optional[str] = typer.Option(None, "--lender", help="The lender's share of every figure."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Terms in force then (amendments effective by DATE)."),
    fmt: Optional[OutFormat] = typer.Option(None, "--format", help="table (default on a terminal), csv or json."),
    actuals: bool = typer.Option(False, "--actuals", help="Add what was paid against each due (from the ledger)."),
    rev: Optional[str] = typer.Option(None, "--rev", help="Read the book as of git revision REV."),
) -> None:
    """A deal's schedule: one row for the start date, one per payment date."""
    from ..engine.deal import schedule_deal
    from ..render import schedule as render

    as_of_date = parse_date_option(as_of, "--as-of")
    loaded = load_deal_or_exit(ctx, deal, rev)
    record = loaded.deals[deal]
    if facility is not None and facility not in {f.id for f in record.deal.facilities} | _added(record):
        raise fail_usage(f"deal '{deal}' has no facility '{facility}'",
                         f"facilities: {', '.join(sorted({f.id for f in record.deal.facilities} | _added(record)))}")
    if lender is not None and (loaded.book is None or loaded.book.entity(lender) is None):
        raise fail_usage(f"unknown lender '{lender}'", "lenders are fund or spv entities of book.yaml")
    paid = None
    if actuals:
        if lender is not None:
            raise fail_usage("--actuals shows the whole facility; drop --lender")
        from ..reports.actuals import schedule_with_actuals
        result, paid = schedule_with_actuals(loaded, deal, facility=facility, as_of=as_of_date)
        diags = []
    else:
        result, diags = schedule_deal(loaded, deal, as_of=as_of_date, facility=facility, lender=lender)
    if result is None:
        print_diagnostics(diags, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    fmt = fmt or (OutFormat.table if sys.stdout.isatty() else OutFormat.json)
    if fmt is OutFormat.json:
        sys.stdout.write(render.to_json(result, paid))
    elif fmt is OutFormat.csv:
        sys.stdout.write(render.to_csv(result))
    else:
        from ..render.text import console
        render.to_table(result, console(min_width=210 if paid else 180), paid)


def _added(record) -> set[str]:
    out = set()
    for a in record.amendments:
        for c in a.amendment.changes:
            if c.add_facility and isinstance(c.add_facility.get("id"), str):
                out.add(c.add_facility["id"])
    return out


@app.command()
@guarded
def show(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Terms in force on DATE (default: today)."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    rev: Optional[str] = typer.Option(None, "--rev", help="Read the book as of git revision REV."),
) -> None:
    """The deal's terms in force on a date, amendments applied, with where each came from."""
    import datetime as _dt
    from ..render import show as render

    on = parse_date_option(as_of, "--as-of") or _dt.date.today()
    loaded = load_deal_or_exit(ctx, deal, rev)
    view = render.terms_view(loaded, deal, on)
    if fmt == "json":
        sys.stdout.write(render.to_json(view))
    elif fmt == "text":
        from ..render.text import console
        render.to_text(view, console())
    else:
        raise fail_usage(f"--format {fmt} is not one of text, json")
