"""`loanctl report`: portfolio rollups for a fund, a lender, a deal or the whole book
(loanctl.api.report, rendered by loanctl.render.report)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .common import app, book_root, fail_usage, git_tree, guarded, print_diagnostics

FORMATS = ("text", "json", "csv", "md", "html")
_EXT = {".json": "json", ".csv": "csv", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html",
        ".txt": "text"}


@app.command()
@guarded
def report(
    ctx: typer.Context,
    fund: Optional[str] = typer.Option(None, "--fund", help="A fund (its SPVs roll up)."),
    lender: Optional[str] = typer.Option(None, "--lender", help="One lender (fund or spv)."),
    deal: Optional[str] = typer.Option(None, "--deal", help="One deal, all lenders."),
    whole_book: bool = typer.Option(False, "--book", "--all", help="The whole book (all deals, all lenders)."),
    investor: Optional[str] = typer.Option(None, "--investor", help="An investor's look-through share of each fund "
                                                                    "it committed to."),
    currency: Optional[str] = typer.Option(None, "--currency", help="Add totals translated into CCY at the as-of "
                                                                    "FX rates (default: the book's base currency)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Positions on DATE (default today): terms in force and "
                                                              "payments with value dates up to then."),
    fmt: Optional[str] = typer.Option(None, "--format", help="text, json, csv, md or html."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write to FILE (format from its extension)."),
    rev: Optional[str] = typer.Option(None, "--rev", help="Read the book (and its payment archive) as of git "
                                                          "revision REV."),
) -> None:
    """Positions, totals, rates, DPD, concentration, covenants, XIRR and MOIC for a scope."""
    import datetime as _dt
    from ..api import report as build
    from ..model.options import option_date
    from ..render import report as render

    on = option_date(as_of, "--as-of") or _dt.date.today()
    if fmt is None:
        fmt = _EXT.get(out.suffix.lower(), "text") if out is not None else "text"
    if fmt not in FORMATS:
        raise fail_usage(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    root = book_root(ctx)
    result = build(root, on, fund=fund, lender=lender, deal=deal, whole_book=whole_book, tree=git_tree(root, rev),
                   investor=investor, currency=currency)
    if result.warnings:
        print_diagnostics(result.warnings, stream=sys.stderr)
    if fmt == "text":
        from ..render.text import console
        if out is not None:
            import io
            buf = io.StringIO()
            render.to_text(result, console(file=buf, width=120, no_color=True))
            text = buf.getvalue()
        else:
            render.to_text(result, console(min_width=120))
            return
    else:
        text = {"json": render.to_json, "csv": render.to_csv,
                "md": lambda r: render.to_markdown(r, root), "html": lambda r: render.to_html(r, root)}[fmt](result)
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise fail_usage(f"cannot write {out}: {exc.strerror}") from None
        sys.stderr.write(f"wrote {out}\n")

