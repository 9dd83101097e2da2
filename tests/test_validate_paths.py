"""`validate` has three ways through a book — in one process, in worker processes (a large book
with `--no-cache`), and with each deal's results kept (the default for `loanctl validate`) —
and every one of them reports the same diagnostics. The book-level checks that need the deals'
overnight indices (E0308, E0309) once ran only in the first and the last."""

from __future__ import annotations

import pytest

from bookfactory import write_book, write_file
from test_diagnostics_codes import CASES

from loanctl.validation import run

BOOK_LEVEL = [c for c in CASES if c.code in ("E0308", "E0309")]


def _found(result) -> list[tuple]:
    return sorted((d.code, d.severity, d.file, d.line, d.column, d.message) for d in result.diagnostics)


@pytest.mark.parametrize("case", BOOK_LEVEL, ids=[c.code for c in BOOK_LEVEL])
def test_every_way_through_validate_reports_the_same(tmp_path, monkeypatch, case):
    root = write_book(tmp_path)
    for rel, text in case.files.items():
        write_file(root, rel, text)
    one = run.validate(root, workers=1)
    assert case.code in {d.code for d in one.diagnostics}
    monkeypatch.setattr(run, "PARALLEL_FROM", 1)
    monkeypatch.delenv("LOANCTL_NO_CACHE", raising=False)
    workers = run.validate(root, workers=2)
    kept = run.validate(root, workers=2, kept=True)
    assert _found(workers) == _found(one)
    assert _found(kept) == _found(one)


DEAL_LEVEL = [c for c in CASES if c.code in ("E0002", "E0006", "E0101", "E0103", "E0104", "E0201")]


@pytest.mark.parametrize("case", DEAL_LEVEL, ids=[c.code for c in DEAL_LEVEL])
def test_a_deal_error_has_the_same_position_on_every_way_and_when_kept(tmp_path, monkeypatch, case):
    """A deal's diagnostics (positions included: a clean parse finds them again only when asked)
    are the same in one process, in workers, kept cold (the workers sum the folders they read)
    and kept warm (nothing read again)."""
    from loanctl.validation import cached
    root = write_book(tmp_path)
    for rel, text in case.files.items():
        write_file(root, rel, text)
    monkeypatch.setenv("LOANCTL_NO_CACHE", "1")
    one = _found(run.validate(root, workers=1))
    assert (case.code, case.line, case.column) in {(d[0], d[3], d[4]) for d in one}
    monkeypatch.setattr(run, "PARALLEL_FROM", 1)
    assert _found(run.validate(root, workers=2)) == one
    monkeypatch.delenv("LOANCTL_NO_CACHE")
    assert _found(run.validate(root, workers=2, kept=True)) == one  # cold: checked and summed in workers

    def not_again(*args):
        raise AssertionError("a kept deal was checked again")
    monkeypatch.setattr(cached, "check_job", not_again)
    monkeypatch.setattr(run, "check_job", not_again, raising=False)
    assert _found(run.validate(root, workers=2, kept=True)) == one  # warm: every deal's results kept
