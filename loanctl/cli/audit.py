"""`loanctl history` and `loanctl diff`: the git audit trail in the terms of the trade."""

from __future__ import annotations

import json
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
    from ..plaintext import inert, json_text
    if fmt == "json":
        sys.stdout.write(json_text(json.dumps(entries, indent=2, ensure_ascii=False)) + "\n")
        return
    out = []
    for e in entries:
        out.append(f"{e['commit'][:10]}  {e['date']}  {e['author']} <{e['email']}>")
        out.append(f"    {e['message']}")
        if e.get("note"):
            out.append(f"    {e['note']}")
        for ch in e["changes"]:
            out.append(f"    {ch['term']}: {ch['old'] if ch['old'] is not None else '∅'} → "
                       f"{ch['new'] if ch['new'] is not None else '∅'}")
        for a in e["amendments"]:
            approvals = ", ".join(f"{x['role']} {x['by']} {x['date']} {x['decision']}" for x in a["approvals"])
            out.append(f"    amendment {a['id']} effective {a['effective_date']}: {a['description'] or ''}"
                       + (f" (approved: {approvals})" if approvals else ""))
            for c in a["changes"]:
                if "set" in c:
                    for k, v in c["set"].items():
                        out.append(f"      facilities.{c['facility']}.{k} → {v}")
                else:
                    out.append(f"      adds facility {c['add_facility']}")
        out.append("")
    sys.stdout.write("\n".join(inert(line, one_line=True) for line in out))  # authors and messages are anyone's text


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
    from ..render.audit import diff_markdown, diff_text
    from .schedule import parse_date_option
    from ..plaintext import json_text

    root = book_root(ctx)
    tree_a = git_tree(root, rev_a or "HEAD")
    tree_b = git_tree(root, rev_b) if rev_b else None
    entries = book_diff(root, tree_a, tree_b, parse_date_option(as_of, "--as-of") or _dt.date.today())
    label_a, label_b = rev_a or "HEAD", rev_b or "work tree"
    if fmt == "json":
        sys.stdout.write(json_text(json.dumps({"from": label_a, "to": label_b, "deals": entries}, indent=2,
                                              ensure_ascii=False)) + "\n")
    elif fmt == "md":
        sys.stdout.write(diff_markdown(entries, label_a, label_b))
    elif fmt == "text":
        sys.stdout.write(diff_text(entries, label_a, label_b))
    else:
        raise fail_usage(f"--format {fmt} is not one of text, json, md")
