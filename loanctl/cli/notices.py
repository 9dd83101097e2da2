"""`loanctl notices` and `loanctl statement` (SPEC §5.1): thin adapters over
`loanctl.notices` (the figures) and `loanctl.render.notices` (the files). "Today" is read
here and nowhere below."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ..model.options import option_date

from .common import EXIT_INVALID, EXIT_USAGE, app, book_root, fail_usage, guarded, print_diagnostics

FORMATS = ("md", "html", "txt", "json", "pdf")
KINDS = ("billing", "rate_set", "payment")
_EXT = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".txt": "txt", ".json": "json",
        ".pdf": "pdf"}


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise fail_usage(f"--format {fmt} is not one of {', '.join(FORMATS)}")
    if fmt == "pdf":
        from ..render.notices import pdf_available, pdf_missing
        if not pdf_available():
            print_diagnostics([pdf_missing()], stream=sys.stderr)
            raise typer.Exit(EXIT_USAGE)


@app.command()
@guarded
def notices(
    ctx: typer.Context,
    on: Optional[str] = typer.Option(None, "--date", help="First day of the window (default today)."),
    days: Optional[int] = typer.Option(None, "--days", help="Days ahead the window covers (default: book.yaml "
                                                            "policy.notice_days, 10)."),
    deal: Optional[str] = typer.Option(None, "--deal", help="Only this deal."),
    kind: Optional[str] = typer.Option(None, "--kind", help="billing, rate_set or payment (default: all three)."),
    fmt: str = typer.Option("md", "--format", help="md, html, txt, json or pdf (pdf needs loanctl[pdf])."),
    out: Path = typer.Option(Path("notices"), "--out", help="Folder the notices are written under, as "
                                                          "<out>/<date>/<deal>-<facility>-<kind>-<party>.<ext>."),
) -> None:
    """Billing notices to borrowers, rate-set (MT644) and payment (MT646) notices to lenders,
    for the payment dates in [DATE, DATE + DAYS]."""
    import datetime as _dt
    from ..api import load_valid_book
    from ..notices.build import build_notices, posted_payments
    from ..render.notices import notice_files, write_files

    start = option_date(on, "--date") or _dt.date.today()
    if kind is not None and kind not in KINDS:
        raise fail_usage(f"--kind {kind} is not one of {', '.join(KINDS)}")
    if days is not None and not 0 <= days <= 366:
        raise fail_usage(f"--days {days} is outside 0 to 366")
    _check_format(fmt)
    root = book_root(ctx)
    loaded, errors = load_valid_book(root)
    if errors:
        print_diagnostics(errors, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    if deal is not None and deal not in loaded.deals:
        raise fail_usage(f"unknown deal '{deal}'", f"deals: {', '.join(sorted(loaded.deals)[:20]) or 'none'}")
    if days is None:
        days = loaded.book.policy.notice_days if loaded.book else 10
    found, diags = build_notices(loaded, posted_payments(loaded), start, days, deal=deal,
                                 kinds=(kind,) if kind else KINDS)
    if diags:
        print_diagnostics(diags, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    files = notice_files(found, fmt, root)  # every file rendered before any is written
    try:
        write_files(out, files)
    except OSError as exc:
        raise fail_usage(f"cannot write under {out}: {exc.strerror}") from None
    end = start + _dt.timedelta(days=days)
    sys.stderr.write(f"{len(files)} notice{'s' if len(files) != 1 else ''} for {start} to {end} "
                     f"written under {out}\n")


@app.command()
@guarded
def statement(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    start: str = typer.Option(..., "--from", help="First day of the statement."),
    end: str = typer.Option(..., "--to", help="Last day of the statement."),
    fmt: Optional[str] = typer.Option(None, "--format", help="md, html, txt, json or pdf (default: from --out's "
                                                             "extension, else txt)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write to FILE instead of standard output."),
) -> None:
    """The borrower's account: opening balance, every draw, due and payment with its allocation,
    closing balance, with a running balance."""
    from ..notices.build import posted_payments
    from ..notices.statement import build_statement
    from ..render.notices import statement_bytes

    first, last = option_date(start, "--from"), option_date(end, "--to")
    if first > last:
        raise fail_usage(f"--from {first} is after --to {last}", "the statement runs from --from to --to, inclusive")
    if fmt is None:
        fmt = _EXT.get(out.suffix.lower(), "txt") if out is not None else "txt"
    _check_format(fmt)
    if fmt == "pdf" and out is None:
        raise fail_usage("--format pdf needs --out FILE", "PDF is not written to a terminal")
    from ..api import load_deal
    loaded = load_deal(book_root(ctx), deal)
    result, diags = build_statement(loaded, posted_payments(loaded), deal, first, last)
    if result is None:
        print_diagnostics(diags, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    content = statement_bytes(result, fmt, book_root(ctx))
    if out is None:
        sys.stdout.write(content.decode("utf-8"))
        return
    try:
        out.write_bytes(content)
    except OSError as exc:
        raise fail_usage(f"cannot write {out}: {exc.strerror}") from None
    sys.stderr.write(f"wrote {out}\n")
