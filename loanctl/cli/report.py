"""`loanctl report`: portfolio rollups for a fund, a lender, a deal or the whole book."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .common import EXIT_INVALID, app, book_root, fail_usage, git_tree, guarded, print_diagnostics

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
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Positions on DATE (default today): terms in force and "
                                                              "payments with value dates up to then."),
    fmt: Optional[str] = typer.Option(None, "--format", help="text, json, csv, md or html."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write to FILE (format from its extension)."),
    rev: Optional[str] = typer.Option(None, "--rev", help="Read the book (and its payment archive) as of git "
                                                          "revision REV."),
) -> None:
    """Positions, totals, rates, DPD, concentration, covenants, XIRR and MOIC for a scope."""
    import datetime as _dt
    from ..api import load_valid_book
    from ..render import report as render
    from ..reports.build import ScopeProblem, build_report, resolve_scope
    from ..ledger.db import ledger_payments
    from .schedule import parse_date_option

    on = parse_date_option(as_of, "--as-of") or _dt.date.today()
    if fmt is None:
        fmt = _EXT.get(out.suffix.lower(), "text") if out is not None else "text"
    if fmt not in FORMATS:
        raise fail_usage(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    root = book_root(ctx)
    tree = git_tree(root, rev)
    loaded, errors = load_valid_book(root, tree=tree)
    if errors:
        print_diagnostics(errors, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    try:
        scope = resolve_scope(loaded, fund=fund, lender=lender, deal=deal, book=whole_book)
    except ScopeProblem as exc:
        raise fail_usage(str(exc), "see `loanctl report --help`") from None
    covenant_rows = _covenants(loaded, scope, on)
    payments = ledger_payments(root) if tree is None else _archived_payments(loaded, tree)
    result = build_report(loaded, scope, on, payments, covenant_rows)
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


def _covenants(loaded, scope, on):
    try:
        from ..underwriting.covenants import covenant_rows
    except ImportError:  # pragma: no cover - covenants land with the underwriting work
        return []
    deals = [scope.id] if scope.kind == "deal" else None
    return covenant_rows(loaded, on, deals=deals, lenders=scope.lenders or None)


def _archived_payments(loaded, tree):
    """Payments as archived at a revision, replayed as `ledger rebuild` replays payments/; its
    diagnostics are shown, and an archive that cannot be replayed stops the report."""
    from ..ledger.rebuild import archived_payments_at
    payments, diags = archived_payments_at(loaded, tree)
    if diags:
        print_diagnostics(diags, stream=sys.stderr)
    if any(d.is_error for d in diags):
        sys.stderr.write(f"the payment archive at {tree.rev} cannot be replayed\n")
        raise typer.Exit(EXIT_INVALID)
    return payments
