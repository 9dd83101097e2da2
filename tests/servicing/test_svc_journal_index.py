"""`journal` loads its deals where they are worked (reports.stored.DealIndex; SPEC §10, issue #18).

As for `report` (test_svc_report_index), the journal's parent process takes validate's kept
results and the deal index instead of loading and checking every deal: a second journal loads
no deal in the parent; each forked worker loads its own chunk's deals (a single process loads
them itself). A deal whose folder changed is loaded (in the parent, to keep its facts) and
its new figures are shown; a deal made invalid gives the uncached path's diagnostics and exit
code. The loads are counted by a spy on `reports.stored.load_deal` that writes the loading
process's id to a file (a forked worker's own list would not come back).

Figures, by hand, of ledgerkit's acme-two revolver (fund-b 100%, 6% fixed, ACT/360):
the draw of 50,000 on 2026-03-01 accrues 50,000 × 6% × 30/360 = 250.00 to 2026-03-31;
drawn 80,000 it accrues 80,000 × 6% × 30/360 = 400.00.
"""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path

import pytest

from bookfactory import write_file
from ledgerkit import FIXED_DEAL, FIXED_YAML, TWO_DEAL, TWO_YAML, assert_same_failure, post_rows, row, run, write_book

END = date(2026, 4, 30)
RCF = "acme-two,rcf,fund-b,"
DRAW_50K = f"2026-03-01,draw,{RCF},Assets:Loans:Principal:Fund-b:Acme-two:Rcf,50000.00,USD,draw funded"
ACCRUED_250 = f"2026-03-31,accrual,{RCF},Assets:Loans:InterestReceivable:Fund-b:Acme-two:Rcf,250.00,USD,"


@pytest.fixture
def small(tmp_path, bank, monkeypatch):
    monkeypatch.setenv("LOANCTL_NO_CACHE", "")  # the cache on (an in-process --no-cache sets it for the process)
    book = write_book(tmp_path / "book", deals={FIXED_DEAL: FIXED_YAML, TWO_DEAL: TWO_YAML})
    # closing fee 10,000 and Q1 259,000 = 9,000 interest + 250,000 principal
    post_rows(book, bank, "p1.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    return book


@pytest.fixture
def loads(monkeypatch, tmp_path) -> Path:
    """A file of `pid folder` lines: each deal load, by the process that made it."""
    from loanctl.reports import stored
    log = tmp_path / "loads.txt"
    log.write_text("")
    original = stored.load_deal

    def spy(tree, folder):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {folder}\n")
        return original(tree, folder)
    monkeypatch.setattr(stored, "load_deal", spy)
    return log


def loaded_by(log: Path) -> tuple[list[str], list[str]]:
    """(the deals this process loaded, those other processes — the workers — loaded), and empty the log."""
    lines = [line.split(" ", 1) for line in log.read_text().splitlines()]
    log.write_text("")
    me = str(os.getpid())
    return [f for pid, f in lines if pid == me], sorted(f for pid, f in lines if pid != me)


def journal_csv(root: Path, workers: int) -> str:
    from loanctl import api
    from loanctl.render.journal import write
    result, _ = api.journal_stream(root, END, "csv", workers=workers)
    out = io.StringIO()
    with result:
        write("csv", result, out)
    return out.getvalue()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_journal_loads_no_deal_in_the_parent_and_an_edited_deal_shows(small, loads, monkeypatch, workers):
    from loanctl.accounting import journal as J
    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 1)  # one deal a chunk: each worker loads only its own
    first = journal_csv(small, workers)
    assert DRAW_50K in first and ACCRUED_250 in first
    loaded_by(loads)
    second = journal_csv(small, workers)
    assert second == first
    parent, workers_loaded = loaded_by(loads)
    if workers == 1:  # the one process loads the deals it works, each once
        assert (parent, workers_loaded) == ([FIXED_DEAL, TWO_DEAL], [])
    else:  # none in the parent: each deal by the worker of its chunk, once
        assert (parent, workers_loaded) == ([], [FIXED_DEAL, TWO_DEAL])
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("amount: 50000", "amount: 80000"))
    edited = journal_csv(small, workers)
    parent, workers_loaded = loaded_by(loads)
    assert parent[0] == TWO_DEAL  # changed: loaded in the parent for its facts (status, lenders, fingerprint)
    assert sorted(parent + workers_loaded) == [FIXED_DEAL, TWO_DEAL]  # and not again
    assert DRAW_50K not in edited and ACCRUED_250 not in edited
    assert DRAW_50K.replace("50000.00", "80000.00") in edited
    assert ACCRUED_250.replace("250.00", "400.00") in edited
    assert edited == journal_csv_uncached(small, workers)


def journal_csv_uncached(root: Path, workers: int) -> str:
    os.environ["LOANCTL_NO_CACHE"] = "1"
    try:
        return journal_csv(root, workers)
    finally:
        os.environ["LOANCTL_NO_CACHE"] = ""


def test_the_command_prints_the_same_journal_from_the_index_and_without_the_cache(small):
    args = ("journal", "--from", "2026-02-01", "--to", "2026-11-30", "--format", "beancount")
    first = run(small, *args)
    second = run(small, *args)
    uncached = run(small, "--no-cache", *args)
    assert first.exit_code == second.exit_code == uncached.exit_code == 0
    assert first.stdout == second.stdout == uncached.stdout
    assert "Acme-two:Rcf" in first.stdout


def test_a_deal_made_invalid_gives_the_same_diagnostics_and_exit_code(small):
    args = ("journal", "--to", "2026-11-30", "--format", "csv")
    assert run(small, *args).exit_code == 0
    assert run(small, *args).exit_code == 0  # the deals' facts kept
    write_file(small, f"{TWO_DEAL}/deal.yaml", TWO_YAML.replace("spread: 500bps", "spread: lots"))
    kept = assert_same_failure(small, *args)
    assert f"{TWO_DEAL}/deal.yaml" in kept.stderr and "spread" in kept.stderr


def test_a_deal_that_no_longer_loads_in_a_worker_is_its_diagnostics(small, monkeypatch):
    """A folder changed after the parent took the index (between the check and the work) is
    met by the worker that loads it: its load errors come back as a DiagnosticError."""
    from loanctl.accounting import journal as J
    from loanctl.diagnostics import DiagnosticError
    from loanctl.ledger.rebuild import archive_repaid
    from loanctl.render.journal import PIECES
    from loanctl.reports.stored import load_report_book

    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 1)
    assert run(small, "journal", "--to", "2026-11-30").exit_code == 0  # the facts kept
    loaded, errors, index = load_report_book(small, archive_repaid())
    assert not errors and index is not None and loaded.deals == {}
    write_file(small, f"{TWO_DEAL}/deal.yaml", "deal: [unclosed\n")
    with pytest.raises(DiagnosticError) as raised:
        J.stream_journal(loaded, END, *PIECES["csv"], root=small, workers=2, index=index)
    assert raised.value.diagnostics and all(d.is_error for d in raised.value.diagnostics)
    assert all(d.file and d.file.endswith(f"{TWO_DEAL}/deal.yaml") for d in raised.value.diagnostics)
