"""The `loanctl` command line: a thin layer over `loanctl.api`.

Exit codes (SPEC §8): 0 success · 1 the book or input is invalid · 2 usage error ·
3 unexpected internal error (traceback only with --debug). Heavy modules (pydantic, duckdb,
jinja2) are imported inside the commands so that `loanctl --help` answers at once.
"""

from __future__ import annotations

import sys

import typer

from . import common
from .common import app

# Command modules register themselves on `app`; they import only typer at module level.
from . import validate as _validate  # noqa: E402,F401
from . import book as _book  # noqa: E402,F401
from . import schedule as _schedule  # noqa: E402,F401
from . import servicing as _servicing  # noqa: E402,F401
from . import reconcile as _reconcile  # noqa: E402,F401
from . import report as _report  # noqa: E402,F401
from . import journal as _journal  # noqa: E402,F401
from . import covenants as _covenants  # noqa: E402,F401
from . import audit as _audit  # noqa: E402,F401
from . import workflow as _workflow  # noqa: E402,F401
from . import simulate as _simulate  # noqa: E402,F401
from . import bench as _bench  # noqa: E402,F401
from . import notices as _notices  # noqa: E402,F401
from . import payoff as _payoff  # noqa: E402,F401
from . import events as _events  # noqa: E402,F401
from . import export as _export  # noqa: E402,F401


@app.callback()
def _root(
    ctx: typer.Context,
    book: str = typer.Option(None, "--book", help="The book folder (default: $LOANCTL_BOOK, ./deals, or ./ with a book.yaml).",
                             envvar=None),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of internal errors."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse every file again instead of using the parsed-file "
                                                            "cache in .loanctl/cache (same as LOANCTL_NO_CACHE=1)."),
) -> None:
    """loanctl — origination and servicing of private-credit loans over plain files in git."""
    if no_cache:
        import os
        os.environ["LOANCTL_NO_CACHE"] = "1"  # read by loanctl.source.cache for this process (and its workers)
    ctx.obj = common.State(book=book, debug=debug)


def main() -> None:
    debug = "--debug" in sys.argv
    bad = common.undecodable_argument(sys.argv[1:])
    if bad is not None:
        sys.stderr.write(f"loanctl: {bad}\n  = hint: pass ids, dates and paths as UTF-8 text\n")
        raise SystemExit(common.EXIT_USAGE)
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130)
    except Exception as exc:  # the one place an unexpected error is turned into exit 3
        if debug:
            raise
        from ..plaintext import inert
        sys.stderr.write(f"loanctl: internal error: {type(exc).__name__}: {inert(exc, one_line=True)}\n"
                         "(run again with --debug for the traceback)\n")
        raise SystemExit(3)
