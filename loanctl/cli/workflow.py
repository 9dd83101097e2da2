"""Workflow commands: approve, amend, fund (thin adapters over loanctl.origination.workflow).
The clock enters here: an approval without --date is dated today, an impact without --as-of
is measured from today."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from .common import EXIT_INVALID, app, book_root, guarded, print_diagnostics


def _finish(result) -> None:
    if not result.ok:
        print_diagnostics(result.diagnostics, stream=sys.stderr)
        sys.stderr.write("nothing was written\n")
        raise typer.Exit(EXIT_INVALID)


@app.command()
@guarded
def approve(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    by: str = typer.Option(..., "--by", help="Who decided."),
    role: str = typer.Option(..., "--role", help="Their role (credit_officer, credit_committee …)."),
    decision: str = typer.Option("approved", "--decision", help="approved or declined."),
    conditions: Optional[str] = typer.Option(None, "--conditions", help="Conditions attached to the approval."),
    on: Optional[str] = typer.Option(None, "--date", help="Decision date (default today)."),
) -> None:
    """Record an approval; the deal moves to approved when the policy's roles have all approved."""
    import datetime as _dt
    from ..model.options import option_date
    from ..origination.workflow import approve as run

    result = run(book_root(ctx), deal, by, role, decision, conditions,
                 on=option_date(on, "--date") or _dt.date.today())
    _finish(result)
    from ..plaintext import inert
    sys.stderr.write(inert(f"recorded {decision} by {by} ({role}); {deal} is {result.status}", one_line=True) + "\n")


@app.command()
@guarded
def fund(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    on: Optional[str] = typer.Option(None, "--date", help="Funding date (must be the start date)."),
) -> None:
    """Move an approved deal to funded, after checking approvals and policy limits."""
    from ..model.options import option_date
    from ..origination.workflow import fund as run

    result = run(book_root(ctx), deal, option_date(on, "--date"))
    _finish(result)
    sys.stderr.write(f"{deal} is funded; from now on its terms change only by amendment\n")


@app.command()
@guarded
def amend(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    effective: str = typer.Option(..., "--effective", help="Effective date of the amendment."),
    sets: List[str] = typer.Option(..., "--set", help="FACILITY.PATH=VALUE, e.g. tl.interest.spread=525bps; a list "
                                                       "in YAML flow syntax, e.g. 'tl.participations=[{lender: "
                                                       "fund-i, share: 50%}]' (repeatable)."),
    description: Optional[str] = typer.Option(None, "--description", help="What the amendment does."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the file and the impact; write nothing."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Next payment after DATE in the impact "
                                                              "(default today)."),
) -> None:
    """Write a new amendment file, after checking it and showing its schedule impact."""
    import datetime as _dt
    from ..model.options import option_date
    from ..origination.workflow import amend as run
    from ..render.audit import impact_text

    result = run(book_root(ctx), deal, option_date(effective, "--effective"), sets, description,
                 as_of=option_date(as_of, "--as-of") or _dt.date.today(), dry_run=dry_run)
    _finish(result)
    sys.stderr.write(impact_text(result.impact))
    if dry_run:
        sys.stdout.write(result.text)
    else:
        sys.stderr.write(f"wrote {result.written}\n")


@app.command()
@guarded
def trade(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    facility: str = typer.Option(..., "--facility", help="Facility id."),
    seller: str = typer.Option(..., "--seller", help="Lender selling (a fund or spv)."),
    buyer: str = typer.Option(..., "--buyer", help="Lender buying (a fund or spv)."),
    amount: Optional[str] = typer.Option(None, "--amount", help="Par of funded principal moved."),
    share: Optional[str] = typer.Option(None, "--share", help="Or: the share of the whole facility moved, e.g. 25%."),
    price: str = typer.Option("100", "--price", help="Percent of par the buyer pays (default 100)."),
    settle: str = typer.Option(..., "--settle", help="Settlement date: the position moves at its start."),
    trade_date: Optional[str] = typer.Option(None, "--trade-date", help="Trade date (default the settlement date)."),
    approval: List[str] = typer.Option([], "--approval", help="BY:ROLE:DATE, e.g. pm:portfolio_manager:2027-01-04 "
                                                               "(repeatable; without: a draft to approve next)."),
    trade_id: Optional[str] = typer.Option(None, "--id", help="Trade id (default SETTLE-SELLER-to-BUYER)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the file and the position change; write nothing."),
) -> None:
    """Write a new trade file (an assignment of a lender's position), after checking it, and
    show the position change."""
    from ..api import trade as run
    from ..model.options import option_date
    from ..render.trade import trade_text

    result = run(book_root(ctx), deal, facility, seller, buyer, settle=option_date(settle, "--settle"),
                 amount=amount, share=share, price=price, trade_date=option_date(trade_date, "--trade-date"),
                 approvals=approval, trade_id=trade_id, dry_run=dry_run)
    _finish(result)
    sys.stderr.write(trade_text(result.impact))
    if dry_run:
        sys.stdout.write(result.text)
    else:
        sys.stderr.write(f"wrote {result.written}\n")
