"""`loanctl schedule` and `loanctl show`: a deal's schedule and its terms in force
(loanctl.api.schedule and loanctl.api.terms)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from .common import OutFormat, app, book_root, fail_usage, git_tree, guarded


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
    from ..api import schedule as build
    from ..model.options import option_date
    from ..render import schedule as render

    as_of_date = option_date(as_of, "--as-of")
    root = book_root(ctx)
    view = build(root, deal, tree=git_tree(root, rev), facility=facility, lender=lender, as_of=as_of_date,
                 actuals=actuals)
    fmt = fmt or (OutFormat.table if sys.stdout.isatty() else OutFormat.json)
    if fmt is OutFormat.json:
        sys.stdout.write(render.to_json(view))
    elif fmt is OutFormat.csv:
        sys.stdout.write(render.to_csv(view))
    else:
        from ..render.text import console
        render.to_table(view, console(min_width=210 if view.actuals else 180))


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
    from ..api import terms
    from ..model.options import option_date
    from ..render import show as render

    on = option_date(as_of, "--as-of") or _dt.date.today()
    root = book_root(ctx)
    view = terms(root, deal, on, git_tree(root, rev))
    if fmt == "json":
        sys.stdout.write(render.to_json(view))
    elif fmt == "text":
        from ..render.text import console
        render.to_text(view, console())
    else:
        raise fail_usage(f"--format {fmt} is not one of text, json")
