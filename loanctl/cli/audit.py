"""`loanctl history` and `loanctl diff`: the git audit trail in the terms of the trade."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from .common import app, book_root, fail_usage, git_tree, guarded


def _git_guard(func, *args):
    from ..source.gitrev import GitProblem
    try:
        return func(*args)
    except GitProblem as exc:
        raise fail_usage(f"{exc.code}: {exc.message}", exc.hint) from None


@app.command()
@guarded
def history(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Every commit touching the deal: author, date, message, term changes and new amendments."""
    from ..audit.history import history as build

    root = book_root(ctx)
    entries = _git_guard(build, root, deal)
    if not entries:
        raise fail_usage(f"no commits touch deal '{deal}'", "check the deal id; is the deal committed?")
    if entries[-1].get("truncated"):
        sys.stderr.write("loanctl: warning[E0503]: the history is cut short: this is a shallow clone "
                         "(git fetch --unshallow)\n")
    from ..render.audit import history_json, history_text
    sys.stdout.write(history_json(entries) if fmt == "json" else history_text(entries))


@app.command()
@guarded
def diff(
    ctx: typer.Context,
    rev_a: Optional[str] = typer.Argument(None, help="From (default HEAD)."),
    rev_b: Optional[str] = typer.Argument(None, help="To (default the work tree)."),
    fmt: str = typer.Option("text", "--format", help="text, json or md."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Next payment after DATE in the impact "
                                                              "(default today)."),
) -> None:
    """Changed deals between two revisions: term changes and schedule impact."""
    import datetime as _dt
    from ..audit.history import book_diff
    from ..model.options import option_date
    from ..render.audit import diff_json, diff_markdown, diff_text

    root = book_root(ctx)
    tree_a = git_tree(root, rev_a or "HEAD")
    tree_b = git_tree(root, rev_b) if rev_b else None
    entries = book_diff(root, tree_a, tree_b, option_date(as_of, "--as-of") or _dt.date.today())
    label_a, label_b = rev_a or "HEAD", rev_b or "work tree"
    if fmt == "json":
        sys.stdout.write(diff_json(entries, label_a, label_b))
    elif fmt == "md":
        sys.stdout.write(diff_markdown(entries, label_a, label_b))
    elif fmt == "text":
        sys.stdout.write(diff_text(entries, label_a, label_b))
    else:
        raise fail_usage(f"--format {fmt} is not one of text, json, md")
