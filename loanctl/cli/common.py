"""Shared pieces of the command line: the app, global state, output helpers, exit codes."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Callable

import typer

app = typer.Typer(
    name="loanctl",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # plain click help: rich's help renderer costs 150 ms at start-up
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


@dataclass
class State:
    book: str | None = None
    debug: bool = False


class DiagFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


class OutFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def fail_usage(message: str, hint: str | None = None) -> "typer.Exit":
    from ..plaintext import inert  # messages quote deal ids, options and git's words as given
    sys.stderr.write(f"loanctl: error: {inert(message, one_line=True)}\n")
    if hint:
        sys.stderr.write(f"  = hint: {inert(hint, one_line=True)}\n")
    return typer.Exit(EXIT_USAGE)


def undecodable_argument(argv: list[str]) -> str | None:
    """The usage error for the first command-line argument that is not valid UTF-8 (Python
    keeps such bytes as lone surrogates, which no output stream can write), or None."""
    import os
    from ..plaintext import inert
    for i, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(arg).decode("utf-8", "backslashreplace")  # the bad bytes as \xNN
            return f"error[E0021]: argument {i} is not valid UTF-8: {inert(shown, one_line=True)}"
    return None


def print_diagnostics(diags, fmt: str = "text", stream=None, read=None) -> None:
    from ..diagnostics import render_github, render_json, render_text
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(render_json(diags) + "\n")
    elif fmt == "github":
        text = render_github(diags)
        if text:
            stream.write(text + "\n")
    else:
        text = render_text(diags, read)
        if text:
            stream.write(text + "\n")


def guarded(func: Callable) -> Callable:
    """Map library usage problems to exit 2 and diagnostic errors to exit 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ..diagnostics import UsageProblem
        from ..diagnostics import DiagnosticError
        try:
            return func(*args, **kwargs)
        except UsageProblem as exc:
            raise fail_usage(exc.message, exc.hint) from None
        except DiagnosticError as exc:
            print_diagnostics(exc.diagnostics, stream=sys.stderr)
            raise typer.Exit(EXIT_INVALID) from None

    return wrapper


def book_root(ctx: typer.Context):
    from ..api import locate_book
    return locate_book(state(ctx).book)


def git_tree(root, rev: str | None):
    """The book as of a git revision (None: the work tree); git problems are usage errors."""
    if rev is None:
        return None
    from ..source.gitrev import GitProblem, GitTree
    try:
        tree = GitTree(root, rev)
    except GitProblem as exc:
        raise fail_usage(f"{exc.code}: {exc.message}", exc.hint) from None
    if not tree.exists():
        raise fail_usage(f"the book folder does not exist at {rev}")
    return tree
