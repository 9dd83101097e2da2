"""`reconcile_statement`: read a statement, read the ledger's posted payments, match.

The one place the reconciliation reads the ledger (its public reader of posted payments).
"""

from __future__ import annotations

from ..diagnostics import Diagnostic, UsageProblem
from ..model.records import LoadedBook
from .match import Reconciliation, reconcile
from .statement import read_statement


def posted_payments(loaded: LoadedBook):
    from ..ledger.db import ledger_payments  # the ledger's public reader; store.py is being split
    return ledger_payments(loaded.root)


def reconcile_statement(loaded: LoadedBook, file: str, raw: bytes, profile: str | None = None
                        ) -> tuple[Reconciliation | None, list[Diagnostic]]:
    """The reconciliation of the statement `raw` (read from `file`); diagnostics mean none.
    An unknown --profile is a usage problem."""
    spec = None
    if profile is not None:
        profiles = loaded.book.reconcile.profiles if loaded.book else {}
        if profile not in profiles:
            raise UsageProblem(f"unknown statement profile {profile!r}",
                               f"book.yaml reconcile.profiles has: {', '.join(sorted(profiles)) or 'none'}")
        spec = profiles[profile]
    statement, diags = read_statement(file, raw, spec, profile)
    if statement is None:
        return None, diags
    return reconcile(loaded, statement, posted_payments(loaded))
