"""Workflow commands: approve, amend, fund."""

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
    from ..origination.workflow import approve as run
    from .schedule import parse_date_option

    result = run(book_root(ctx), deal, by, role, decision, conditions, parse_date_option(on, "--date"))
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
    from ..origination.workflow import fund as run
    from .schedule import parse_date_option

    result = run(book_root(ctx), deal, parse_date_option(on, "--date"))
    _finish(result)
    sys.stderr.write(f"{deal} is funded; from now on its terms change only by amendment\n")


@app.command()
@guarded
def amend(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    effective: str = typer.Option(..., "--effective", help="Effective date of the amendment."),
    sets: List[str] = typer.Option(..., "--set", help="FACILITY.PATH=VALUE, e.g. tl.interest.spread=525bps "
                                                       "(repeatable)."),
    description: Optional[str] = typer.Option(None, "--description", help="What the amendment does."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the file and the impact; write nothing."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Next payment after DATE in the impact "
                                                              "(default today)."),
) -> None:
    """Write a new amendment file, after checking it and showing its schedule impact."""
    from ..render.audit import IMPACT
    from ..origination.workflow import amend as run
    from .schedule import parse_date_option

    result = run(book_root(ctx), deal, parse_date_option(effective, "--effective"), sets, description,
                 today=parse_date_option(as_of, "--as-of"), dry_run=dry_run)
    _finish(result)
    before, after = (result.impact or {}).get("before") or {}, (result.impact or {}).get("after") or {}
    sys.stderr.write("schedule impact:\n")
    for key, label in IMPACT:
        sys.stderr.write(f"  {label}: {before.get(key, '—')} → {after.get(key, '—')}\n")
    if dry_run:
        sys.stdout.write(result.text)
    else:
        sys.stderr.write(f"wrote {result.written}\n")
