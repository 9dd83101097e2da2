"""`loanctl journal`: the double-entry journal of the book or a fund (loanctl.api.journal,
rendered by loanctl.render.journal)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Optional

import typer

from .common import app, book_root, fail_usage, guarded, print_diagnostics

_EXT = {".beancount": "beancount", ".bean": "beancount", ".csv": "csv", ".json": "json"}


@app.command()
@guarded
def journal(
    ctx: typer.Context,
    start: Optional[str] = typer.Option(None, "--from", help="First day of the journal; earlier entries are "
                                                             "brought forward as opening balances."),
    end: Optional[str] = typer.Option(None, "--to", help="Last day (default today): terms in force and payments "
                                                         "with value dates up to then."),
    fund: Optional[str] = typer.Option(None, "--fund", help="One fund's positions (its SPVs roll up); default: "
                                                            "every lender of the book."),
    period: str = typer.Option("month", "--period", help="Accrue and amortize at each month or quarter end."),
    fmt: Optional[str] = typer.Option(None, "--format", help="beancount, csv or json (default: from --out's "
                                                             "extension, else beancount)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write to FILE."),
) -> None:
    """Accruals, cash received and its allocation, PIK, fee deferral and amortization, draws: one
    balanced entry per event, to the accounts of book.yaml."""
    import datetime as _dt
    from ..api import journal_stream
    from ..model.options import option_date
    from ..render import journal as render

    to = option_date(end, "--to") or _dt.date.today()
    since = option_date(start, "--from")
    if fmt is None:
        fmt = _EXT.get(out.suffix.lower(), "beancount") if out is not None else "beancount"
    if fmt not in render.FORMATS:
        raise fail_usage(f"--format {fmt} is not one of {', '.join(render.FORMATS)}")
    result, loaded = journal_stream(book_root(ctx), to, fmt, start=since, fund=fund, period=period)
    with result:
        if result.warnings:
            print_diagnostics(result.warnings, stream=sys.stderr)
        base = loaded.book.base_currency if loaded.book else "USD"
        if out is None:
            render.write(fmt, result, sys.stdout, base)
            return
        tmp = out.with_name(out.name + ".tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:  # streamed: the journal is never one text in memory
                render.write(fmt, result, fh, base)
            tmp.replace(out)
        except BaseException as exc:  # nothing half-written is left (a scratch file's failure included)
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError):
                raise fail_usage(f"cannot write {out}: {exc.strerror}") from None
            raise
    sys.stderr.write(f"wrote {out}\n")
