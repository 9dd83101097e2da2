"""Idempotent posting, order independence, `ledger rebuild` = the incremental ledger, and
recovery from a deleted or corrupt ledger (SPEC §1.1, §4.2, §4.5)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerkit import (BANK_FILE, TWO_PROFILES, allocations, post, post_ok, row, run, snapshot, tree_hash,
                       write_book, write_payments)

CLOSING = row("c-1", "2026-01-15", "10000.00", reference="closing")
Q1 = row("q1", "2026-04-15", "259000.00", reference="FED 20260415 0001")
Q2 = row("q2", "2026-07-15", "250000.00", reference="partial")
PREPAY = row("pp", "2026-08-03", "100000.00", "prepayment", "FED 20260803 0007")
LATE = row("late", "2026-08-20", "12000.00", reference="arrears")


def files(bank: Path) -> dict[str, Path]:
    """Five files: scheduled, a prepayment, a back-dated closing fee, a late catch-up,
    and a two-facility deal's interest."""
    return {
        "q": write_payments(bank, "q.csv", [Q1, Q2]),
        "pp": write_payments(bank, "pp.csv", [PREPAY]),
        "closing": write_payments(bank, "closing.csv", [CLOSING]),
        "late": write_payments(bank, "late.csv", [LATE]),
        "two": write_payments(bank, "two.csv", "payment_id,deal,facility,date,amount\n"
                                               "t1,acme-two,tl,2026-05-01,11125.00\n"),
    }


def archive(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "payments").iterdir())}


# --- idempotence ---------------------------------------------------------------------------------
def test_posting_the_same_file_twice_changes_nothing_and_exits_0(book, bank):
    f = write_payments(bank, "p.csv", [CLOSING, Q1])
    post_ok(book, f)
    before_hash, before = tree_hash(book), snapshot(book)
    again = post_ok(book, f, extra=("--format", "json"))
    summary = json.loads(again.stdout)
    assert (summary["posted"], summary["duplicates"], summary["archived"]) == (0, 2, [])
    assert tree_hash(book) == before_hash
    assert snapshot(book) == before
    post_ok(book, f, day="2027-03-01")  # another day: still nothing archived
    assert tree_hash(book) == before_hash


def test_a_reused_payment_id_with_other_content_posts_nothing_of_the_file(book, bank):
    post_ok(book, write_payments(bank, "a.csv", [CLOSING]))
    before = tree_hash(book)
    f = write_payments(bank, "b.csv", [Q1, row("c-1", "2026-01-15", "10000.00", reference="changed reference")])
    result = post(book, f)
    assert result.exit_code == 1
    assert f"{f}:3: E0412: payment_id 'c-1' was posted before with different content" in result.stderr
    assert tree_hash(book) == before


def test_a_file_with_some_duplicates_posts_the_new_rows_only(book, bank):
    post_ok(book, write_payments(bank, "a.csv", [CLOSING, Q1]))
    result = post_ok(book, write_payments(bank, "b.csv", [Q1, Q2]), extra=("--format", "json"))
    summary = json.loads(result.stdout)
    assert (summary["posted"], summary["duplicates"], len(summary["archived"])) == (1, 1, 1)
    assert [a[0] for a in allocations(book)].count("q1") == 2  # interest + principal, once
    assert run(book, "ledger", "check").exit_code == 0


def test_the_order_in_which_files_are_posted_gives_the_same_ledger(tmp_path):
    fs = files(tmp_path / "bank")
    order_a = ["q", "pp", "closing", "late", "two"]
    order_b = ["two", "late", "closing", "pp", "q"]
    a, b = write_book(tmp_path / "a"), write_book(tmp_path / "b")
    for name in order_a:
        post_ok(a, fs[name])
    for name in order_b:
        post_ok(b, fs[name])
    assert snapshot(a) == snapshot(b)
    one_go = write_book(tmp_path / "one-go")
    post_ok(one_go, *(fs[n] for n in order_a))
    assert snapshot(one_go)["allocations"] == snapshot(a)["allocations"]


# --- rebuild ---------------------------------------------------------------------------------------
def test_rebuild_equals_the_incrementally_built_ledger(book, bank):
    fs = files(bank)
    post_ok(book, fs["q"], day="2026-07-20")
    post_ok(book, fs["pp"], day="2026-08-04")
    post_ok(book, fs["closing"], day="2026-08-10")  # back-dated to the start date
    post_ok(book, fs["late"], day="2026-08-21")
    post_ok(book, fs["two"], day="2026-08-21")
    incremental = snapshot(book)
    assert len(incremental["payments"]) == 6 and len(incremental["payment_files"]) == 5
    kept = archive(book)
    result = run(book, "ledger", "rebuild")
    assert result.exit_code == 0, result.stderr
    assert "ledger rebuilt from 5 archived files: 6 payments" in result.stderr
    assert snapshot(book) == incremental
    assert archive(book) == kept  # the archive is read, never written
    assert run(book, "ledger", "check").exit_code == 0


def test_rebuild_keeps_the_posting_day_of_each_file(book, bank):
    f = write_payments(bank, "p.csv", [CLOSING])
    post_ok(book, f, day="2026-02-01")

    def posted_on():
        r = run(book, "query", "select posted_on from payment_files", "--format", "csv")
        return r.stdout.splitlines()[1:]
    assert posted_on() == ["2026-02-01"]
    assert run(book, "ledger", "rebuild").exit_code == 0
    assert posted_on() == ["2026-02-01"]


def test_rebuild_equals_incremental_when_files_overlap(book, bank):
    first_rows = [CLOSING, Q1]
    first = write_payments(bank, "first.csv", first_rows)
    sha_first = hashlib.sha256(first.read_bytes()).hexdigest()
    for i in range(1000):  # a second file (q1 again plus q2) whose hash sorts before the first's
        second = write_payments(bank, "second.csv", [Q1, row("q2", "2026-07-15", "259325.00", reference=f"r{i}")])
        if hashlib.sha256(second.read_bytes()).hexdigest()[:12] < sha_first[:12]:
            break
    post_ok(book, first)
    post_ok(book, second)
    incremental = snapshot(book)
    assert run(book, "ledger", "rebuild").exit_code == 0
    assert snapshot(book) == incremental


def test_rebuild_of_an_empty_archive_gives_an_empty_ledger(book):
    result = run(book, "ledger", "rebuild")
    assert result.exit_code == 0, result.stderr
    assert snapshot(book) == {"payments": [], "allocations": [], "payment_files": []}
    assert run(book, "ledger", "check").exit_code == 0


# --- a deleted or corrupt ledger --------------------------------------------------------------------
@pytest.fixture
def posted(book, bank) -> tuple[Path, dict, Path]:
    fs = files(bank)
    post_ok(book, fs["q"], fs["closing"])
    post_ok(book, fs["pp"], day="2026-12-02")
    return book, snapshot(book), write_payments(bank, "next.csv", [LATE])


def _ledger(root: Path) -> Path:
    return root / ".loanctl" / "ledger.duckdb"


def test_a_deleted_ledger_is_reported_on_post_query_and_check_and_rebuild_recovers(posted):
    root, before, nxt = posted
    _ledger(root).unlink()
    kept = tree_hash(root)
    p = post(root, nxt)
    assert p.exit_code == 1
    assert f"{_ledger(root)}: E0420: the ledger is missing but payments/ holds archived files" in p.stderr
    for args in (["query", "select count(*) from payments"], ["ledger", "check"]):
        r = run(root, *args)
        assert r.exit_code == 1, args
        assert f"{_ledger(root)}: error[E0420]: the ledger is missing" in r.stderr
        assert "ledger rebuild" in r.stderr
    assert tree_hash(root) == kept
    assert run(root, "ledger", "rebuild").exit_code == 0
    assert snapshot(root) == before
    post_ok(root, nxt)


def test_a_ledger_overwritten_with_garbage_is_reported_and_rebuild_recovers(posted):
    root, before, nxt = posted
    _ledger(root).write_bytes(os.urandom(1 << 16))
    for args in (["post-payments", nxt, "--posting-day", "2026-12-03"], ["query", "select 1"], ["ledger", "check"]):
        r = run(root, *args)
        assert r.exit_code == 1, args
        assert f"{_ledger(root)}: error[E0420]: the ledger cannot be opened" in r.stderr, args
        assert "run `loanctl ledger rebuild`" in r.stderr
        assert "Traceback" not in r.stderr
    assert run(root, "ledger", "rebuild").exit_code == 0
    assert snapshot(root) == before
    assert run(root, "ledger", "check").exit_code == 0


def test_a_ledger_with_corrupt_blocks_is_reported_as_corrupt(posted):
    root, before, nxt = posted
    path = _ledger(root)
    with open(path, "r+b") as fh:  # keep DuckDB's file header, scramble the blocks after it
        fh.seek(8192)
        fh.write(os.urandom(path.stat().st_size - 8192))
    r = run(root, "query", "select count(*) from payments")
    assert r.exit_code == 1
    assert "E0420" in r.stderr, r.stderr


def test_rebuild_recovers_a_ledger_with_corrupt_blocks(posted):
    root, before, _ = posted
    path = _ledger(root)
    with open(path, "r+b") as fh:
        fh.seek(8192)
        fh.write(os.urandom(path.stat().st_size - 8192))
    assert run(root, "query", "select 1").exit_code == 1
    assert run(root, "ledger", "rebuild").exit_code == 0
    assert snapshot(root) == before


# --- ledger check ---------------------------------------------------------------------------------
def test_check_finds_an_archived_file_not_in_the_ledger_and_rebuild_takes_it_in(posted, tmp_path):
    root, before, nxt = posted
    stray = root / "payments" / "2026-12-05-abcdefabcdef.csv"
    shutil.copyfile(nxt, stray)
    r = run(root, "ledger", "check")
    assert r.exit_code == 1
    assert f"{stray}: error[E0423]: archived file {stray.name} is not in the ledger" in r.stdout
    assert snapshot(root) == before
    assert run(root, "ledger", "rebuild").exit_code == 0
    assert run(root, "ledger", "check").exit_code == 0
    assert "late" in {p[0] for p in snapshot(root)["payments"]}


def test_check_finds_an_edited_and_a_missing_archive_file(posted):
    root, _, _ = posted
    names = sorted(archive(root))
    edited, gone = root / "payments" / names[0], root / "payments" / names[1]
    edited.write_bytes(edited.read_bytes() + b"\n")
    gone.unlink()
    r = run(root, "ledger", "check")
    assert r.exit_code == 1
    assert f"{edited}: error[E0423]: archived file {edited.name} changed after posting" in r.stdout
    assert f"error[E0423]: ledger file {gone.name} is missing from payments/" in r.stdout


def test_check_is_clean_without_a_ledger_or_archive(book):
    r = run(book, "ledger", "check")
    assert r.exit_code == 0
    assert "ledger check: clean" in r.stderr


# --- report --rev: the archive at a revision, replayed as `ledger rebuild` replays it ----------
def _commit(root: Path) -> None:
    import subprocess
    (root / ".gitignore").write_text(".loanctl/\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit",
                                                  "-q", "-m", "book"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _report(root: Path, *rev: str):
    return run(root, "report", "--deal", "acme-fixed", "--as-of", "2026-12-01", "--format", "json", *rev)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_report_rev_reads_each_archived_file_with_the_profile_it_was_posted_with(tmp_path):
    root = write_book(tmp_path / "book", TWO_PROFILES)
    post_ok(root, write_payments(tmp_path / "bank", "export.csv", BANK_FILE), extra=("--profile", "ids-first"))
    _commit(root)
    then = _report(root, "--rev", "HEAD")
    assert then.exit_code == 0, then.stderr
    assert then.stderr == ""
    # both payments (100.00 + 200.00) settle the 10,000.00 upfront fee due 2026-01-15, the first
    # due in the waterfall (fees, commitment fee, interest, principal)
    positions = json.loads(then.stdout)["positions"]
    assert sum(Decimal(p["fees_received"]) for p in positions) == Decimal("300.00")
    assert sum(Decimal(p["interest_received"]) + Decimal(p["principal_received"]) for p in positions) == 0
    assert json.loads(then.stdout) == json.loads(_report(root).stdout)  # the ledger says the same


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_report_rev_shows_what_the_archive_replay_refuses_and_reports_nothing(tmp_path):
    root = write_book(tmp_path / "book")
    post_ok(root, write_payments(tmp_path / "bank", "pay.csv", [CLOSING]))
    [archived] = (root / "payments").glob("*.csv")
    archived.write_text(archived.read_text() + "x-1,acme-fixed,2026-04-15,-5.00,,edited\n")  # committed as edited
    _commit(root)
    result = _report(root, "--rev", "HEAD")
    assert result.exit_code == 1
    assert f"payments/{archived.name}:3" in result.stderr and "E0407" in result.stderr, result.stderr
    assert result.stdout == ""  # no report from an archive that cannot be replayed
