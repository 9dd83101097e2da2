"""The synthetic book `loanctl bench` writes (and the fault tests build on) is valid: its
amendments carry the approvals the book's policy requires, dated before they take effect, so
`loanctl bench` does not stop at its validate stage (it did, exit 3, once E0230 was enforced)."""

from __future__ import annotations

from pathlib import Path

from loanctl.api import validate_book
from loanctl.bench import run as bench


def test_the_bench_book_with_amendments_validates(tmp_path: Path):
    root = tmp_path / "book"
    bench.write_book(root, 40, 20261128)  # the fault tests' book
    assert list(root.glob("*/amendments/001-repricing.yaml")), "no amendment: the test would prove nothing"
    errors = [f"{d.location()} {d.code} {d.message}" for d in validate_book(root).diagnostics if d.is_error]
    assert errors == []


def test_bench_workdir_that_does_not_exist_yet_is_made(tmp_path):
    """`--workdir` names a folder to work in; a missing one is created, never an internal error."""

    result = bench.run_bench(3, 30, 7, workdir=tmp_path / "new" / "folder", growth=False)
    assert (tmp_path / "new" / "folder").is_dir() and result.deals == 3
