"""Bad payment files (SPEC §4.1, §4.2): every E04xx code of `loanctl.diagnostics.CODES`
reproduced through `loanctl post-payments` (or `ledger` / `query` for the ledger codes),
with the exact `FILE:LINE: CODE:` text on stderr, exit 1, and the book — archive and
ledger included — byte-for-byte unchanged.

LINE is the file's line (header = 1), stated here by counting the file text in the test.
A baseline book has one file posted (`c-1`, the 10,000 closing fee), so "unchanged" covers
an existing ledger and archive, not only their absence.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerkit import (BOOK_YAML, allocations, post, post_ok, run, snapshot, tree_hash, write_book,
                       write_payments)
from loanctl.diagnostics import CODES

H = "payment_id,deal,date,amount\n"
OK = "p1,acme-fixed,2026-04-15,259000.00\n"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    root = write_book(tmp_path_factory.mktemp("baseline") / "book")
    f = write_payments(tmp_path_factory.mktemp("bank"), "closing.csv", H + "c-1,acme-fixed,2026-01-15,10000.00\n")
    post_ok(root, f)
    return root


@pytest.fixture
def copy(baseline, tmp_path) -> Path:
    return Path(shutil.copytree(baseline, tmp_path / "book"))


# (name, file bytes or text, code, line)
CASES = [
    ("empty file", b"", "E0401", 1),
    ("blank lines only", "\n  \n\n", "E0401", 1),
    ("header without rows", H, "E0401", 1),
    ("missing required column", "payment_id,deal,amount\np1,acme-fixed,100\n", "E0402", 1),
    ("unknown column", "payment_id,deal,date,amount,memo\np1,acme-fixed,2026-04-15,100,x\n", "E0403", 1),
    ("repeated column", "payment_id,deal,date,amount,AMOUNT\np1,acme-fixed,2026-04-15,100,100\n", "E0403", 1),
    ("semicolon-separated", "payment_id;deal;date;amount\np1;acme-fixed;2026-04-15;100\n", "E0403", 1),
    ("unknown deal", H + OK + "p2,acme-nope,2026-04-15,100\n", "E0404", 3),
    ("facility missing for a two-facility deal", H + "p1,acme-two,2026-05-01,100\n", "E0405", 2),
    ("unknown facility", "payment_id,deal,facility,date,amount\np1,acme-fixed,rcf,2026-04-15,100\n", "E0405", 2),
    ("wrong currency", "payment_id,deal,date,amount,currency\np1,acme-fixed,2026-04-15,100,EUR\n", "E0406", 2),
    ("negative amount", H + OK + OK.replace("p1", "p2") + "p3,acme-fixed,2026-04-15,-100.00\n", "E0407", 4),
    ("zero amount", H + "p1,acme-fixed,2026-04-15,0.00\n", "E0407", 2),
    ("amount in parentheses", H + "p1,acme-fixed,2026-04-15,(100.00)\n", "E0407", 2),
    ("thousands separator", H + 'p1,acme-fixed,2026-04-15,"1,000.00"\n', "E0407", 2),
    ("exponent", H + "p1,acme-fixed,2026-04-15,1e3\n", "E0407", 2),
    ("currency sign", H + "p1,acme-fixed,2026-04-15,$100\n", "E0407", 2),
    ("too many decimals", H + "p1,acme-fixed,2026-04-15,100.001\n", "E0408", 2),
    ("impossible date", H + "p1,acme-fixed,2026-02-30,100\n", "E0409", 2),
    ("non-ISO date", H + "p1,acme-fixed,15/04/2026,100\n", "E0409", 2),
    ("empty date", H + "p1,acme-fixed,,100\n", "E0409", 2),
    ("date before the facility start", H + "p1,acme-fixed,2026-01-14,100\n", "E0410", 2),
    ("payment_id twice in the file", H + OK + "p2,acme-fixed,2026-04-15,1\n" + OK, "E0411", 4),
    ("payment_id posted before with other content", H + "c-1,acme-fixed,2026-01-15,10000.01\n", "E0412", 2),
    ("unknown type", "payment_id,deal,date,amount,type\np1,acme-fixed,2026-04-15,100,refund\n", "E0413", 2),
    ("too many fields", H + OK + "p2,acme-fixed,2026-04-15,100,extra\n", "E0414", 3),
    ("unterminated quote", H + OK + 'p2,acme-fixed,2026-04-15,"100\n', "E0414", 3),
    ("empty payment_id", H + ",acme-fixed,2026-04-15,100\n", "E0416", 2),
    ("empty amount", H + "p1,acme-fixed,2026-04-15,\n", "E0416", 2),
    ("control character in payment_id", H + '"p\x011",acme-fixed,2026-04-15,100\n', "E0417", 2),
    ("payment_id over 128 characters", H + "p" * 129 + ",acme-fixed,2026-04-15,100\n", "E0417", 2),
    ("look-alike payment_id (Cyrillic a)", H + OK + "p\u0430y,acme-fixed,2026-04-15,100\n", "E0417", 3),
    ("reference over 1024 characters", "payment_id,deal,date,amount,reference\np1,acme-fixed,2026-04-15,100,"
     + "r" * 1025 + "\n", "E0418", 2),
    ("line over 4096 characters", H + "p1,acme-fixed,2026-04-15," + " " * 4100 + "100\n", "E0418", 2),
    ("amount of 10^15", H + "p1,acme-fixed,2026-04-15,1000000000000000\n", "E0419", 2),
    ("value date 367 days after the posting day", H + "p1,acme-fixed,2027-12-03,100\n", "E0432", 2),
    ("Arabic-Indic digits in the amount", H + "p1,acme-fixed,2026-04-15,\u0661\u0660\u0660\n", "E0433", 2),
    ("not UTF-8", (H + OK).encode() + "p2,acme-fixed,2026-04-15,100,caf\xe9\n".encode("latin-1"), "E0006", 3),
]


@pytest.mark.parametrize("name, content, code, line", CASES, ids=[c[0] for c in CASES])
def test_bad_payment_file_is_reported_at_its_line_and_posts_nothing(copy, tmp_path, name, content, code, line):
    f = write_payments(tmp_path / "bank", "pay.csv", content)
    before_hash, before = tree_hash(copy), snapshot(copy)
    result = post(copy, f)
    assert result.exit_code == 1, result.stderr + result.stdout
    assert f"{f}:{line}: {code}: " in result.stderr, result.stderr
    assert "nothing was posted" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert tree_hash(copy) == before_hash
    assert snapshot(copy) == before


def test_every_payment_code_in_the_registry_has_a_case_here():
    covered = {c[2] for c in CASES} | {"E0420", "E0421", "E0422", "E0423", "E0424"}  # tested below
    covered |= {"E0425", "E0426", "E0427"}  # query limits: test_query_security.py
    covered |= {"E0440", "E0441"}  # the ledger follows the book: test_svc_follows_book
    covered |= {"E0430", "E0431"}  # need a second posting or another deal status: test_svc_archive_integrity.py
    covered |= {"E0434", "E0435", "E0436", "E0437", "E0438", "E0439"}  # payment types: test_svc_payment_types.py
    assert {c for c in CODES if c.startswith("E04")} <= covered


def test_every_bad_row_is_reported_with_its_own_line_across_bom_crlf_and_quoted_newlines(copy, tmp_path):
    text = ("\ufeffPayment_ID,DEAL,Date,AMOUNT,Reference\r\n"        # 1
            'q1,acme-fixed,2026-04-15,259000.00,"ACME, Inc.\r\n'     # 2
            'wire 1"\r\n'                                            # 3
            "q2,acme-nope,2026-07-15,1.00,x\r\n"                     # 4
            'q3,acme-fixed,2026-07-15,-1,"multi\r\n'                 # 5
            "line\r\n"                                               # 6
            'ref"\r\n'                                               # 7
            "q4,acme-fixed,2026-13-01,1.00,y\r\n"                    # 8
            "q1,acme-fixed,2026-04-15,259000.00,dup\r\n")            # 9
    f = write_payments(tmp_path / "bank", "pay.csv", text.encode("utf-8"))
    before = tree_hash(copy)
    result = post(copy, f)
    assert result.exit_code == 1
    reported = [line.split(": ")[0:2] for line in result.stderr.splitlines() if line.startswith(str(f))]
    assert reported == [[f"{f}:4", "E0404"], [f"{f}:5", "E0407"], [f"{f}:8", "E0409"], [f"{f}:9", "E0411"]]
    assert tree_hash(copy) == before


def test_bom_crlf_quoted_fields_and_header_case_are_accepted_and_archived_byte_for_byte(copy, tmp_path):
    raw = ("\ufeffPAYMENT_ID,Deal,DATE,Amount,TYPE,Reference\r\n"
           'q1,acme-fixed,2026-04-15,259000.00,Scheduled,"FEDWIRE 123, ACME\nsecond line"\r\n'
           '"q2",acme-fixed,2026-07-15,"259325.00",,"say ""hi"""\r\n').encode("utf-8")
    f = write_payments(tmp_path / "bank", "export.csv", raw)
    post_ok(copy, f)
    name = f"2026-12-01-{hashlib.sha256(raw).hexdigest()[:12]}.csv"
    assert (copy / "payments" / name).read_bytes() == raw
    assert _references(copy) == [
        {"payment_id": "c-1", "type": "scheduled", "reference": None},
        {"payment_id": "q1", "type": "scheduled", "reference": "FEDWIRE 123, ACME\nsecond line"},
        {"payment_id": "q2", "type": "scheduled", "reference": 'say "hi"'},
    ]
    assert [a[3] for a in allocations(copy)] == ["fees", "interest", "principal", "fees", "interest", "principal"]
    assert run(copy, "ledger", "check").exit_code == 0


def test_a_quoted_reference_with_crlf_inside_posts_and_rebuilds(copy, tmp_path):
    raw = ("payment_id,deal,date,amount,reference\r\n"
           'q1,acme-fixed,2026-04-15,259000.00,"FEDWIRE 123\r\nsecond line"\r\n').encode("utf-8")
    f = write_payments(tmp_path / "bank", "export.csv", raw)
    result = post(copy, f)
    assert result.exit_code == 0, result.stderr
    assert _references(copy)[1]["reference"] == "FEDWIRE 123\r\nsecond line"
    assert run(copy, "ledger", "rebuild").exit_code == 0


def _references(root):
    result = run(root, "query", "select payment_id, type, reference from payments order by payment_id",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_payment_id_repeated_across_two_files_of_one_post(copy, tmp_path):
    a = write_payments(tmp_path / "bank", "a.csv", H + OK)
    b = write_payments(tmp_path / "bank", "b.csv", H + "p0,acme-fixed,2026-04-15,1.00\n" + OK)
    before = tree_hash(copy)
    result = post(copy, a, b)
    assert result.exit_code == 1
    assert f"{b}:3: E0411: payment_id 'p1' also appears in {a}:2" in result.stderr
    assert tree_hash(copy) == before


def test_one_bad_file_among_several_posts_none_of_them(copy, tmp_path):
    good = write_payments(tmp_path / "bank", "good.csv", H + OK)
    bad = write_payments(tmp_path / "bank", "bad.csv", H + "p9,acme-fixed,2026-04-15,1.001\n")
    before = tree_hash(copy)
    result = post(copy, good, bad)
    assert result.exit_code == 1
    assert f"{bad}:2: E0408: " in result.stderr
    assert str(good) not in result.stderr
    assert tree_hash(copy) == before


def test_the_multi_facility_deal_posts_with_its_facility_column(copy, tmp_path):
    f = write_payments(tmp_path / "bank", "two.csv", "payment_id,deal,facility,date,amount\n"
                                                    "t1,acme-two,tl,2026-05-01,11125.00\n"
                                                    "r1,acme-two,rcf,2026-06-01,766.67\n")
    post_ok(copy, f)
    assert [(a[0], a[3], a[4]) for a in allocations(copy, "acme-two")] == [
        ("r1", "interest", Decimal("766.67")), ("t1", "interest", Decimal("11125"))]


# --- payment-file profiles ---------------------------------------------------------------------
BANKX = "Txn ID,Loan,Value Date,Amt,Reference\nB-1,acme-fixed,15/01/2026,10000.00,ref 1\nB-2,acme-fixed,15/04/2026,259000.00,\n"


def test_a_profile_maps_the_banks_columns_and_date_format(tmp_path):
    root = write_book(tmp_path / "book")
    f = write_payments(tmp_path / "bank", "bankx.csv", BANKX)
    post_ok(root, f, extra=("--profile", "bankx"))
    assert [(a[0], a[1], a[3]) for a in allocations(root)] == [
        ("B-1", "2026-01-15", "fees"), ("B-2", "2026-04-15", "interest"), ("B-2", "2026-04-15", "principal")]
    before = snapshot(root)
    assert run(root, "ledger", "rebuild").exit_code == 0
    assert snapshot(root) == before


def test_a_bank_file_without_its_profile_is_unknown_columns(copy, tmp_path):
    f = write_payments(tmp_path / "bank", "bankx.csv", BANKX)
    before = tree_hash(copy)
    result = post(copy, f)
    assert result.exit_code == 1
    assert f"{f}:1: E0403: unknown column 'Txn ID'" in result.stderr
    assert f"{f}:1: E0402: " in result.stderr
    assert tree_hash(copy) == before


def test_a_profile_date_in_the_wrong_format_is_reported(copy, tmp_path):
    f = write_payments(tmp_path / "bank", "bankx.csv", "Txn ID,Loan,Value Date,Amt\nB-1,acme-fixed,2026-01-15,1.00\n")
    before = tree_hash(copy)
    result = post(copy, f, extra=("--profile", "bankx"))
    assert result.exit_code == 1
    assert f"{f}:2: E0409: '2026-01-15' does not match the date format %d/%m/%Y" in result.stderr
    assert tree_hash(copy) == before


def test_an_unknown_profile_is_a_usage_error(copy, tmp_path):
    f = write_payments(tmp_path / "bank", "bankx.csv", BANKX)
    before = tree_hash(copy)
    result = post(copy, f, extra=("--profile", "banky"))
    assert result.exit_code == 2
    assert "unknown payment profile 'banky'" in result.stderr
    assert "bankx" in result.stderr  # the hint lists the known profiles
    assert tree_hash(copy) == before


def test_rebuild_recreates_a_file_posted_with_a_profile_mapping_optional_columns(tmp_path):
    book_yaml = BOOK_YAML.replace("  bankx:\n", "  bankz:\n").replace(
        'amount: "Amt"}', 'amount: "Amt", currency: "Ccy", reference: "Narrative"}')
    root = write_book(tmp_path / "book", book_yaml)
    f = write_payments(tmp_path / "bank", "bankz.csv", "Txn ID,Loan,Value Date,Amt\nB-1,acme-fixed,15/01/2026,10000.00\n")
    post_ok(root, f, extra=("--profile", "bankz"))
    before = snapshot(root)
    result = run(root, "ledger", "rebuild")
    assert result.exit_code == 0, result.stderr
    assert snapshot(root) == before


def test_rebuild_uses_the_profile_a_file_was_posted_with(tmp_path):
    book_yaml = BOOK_YAML + ('  bankus:\n    columns: {payment_id: "Txn ID", deal: "Loan", date: "Value Date", '
                             'amount: "Amt"}\n    date_format: "%m/%d/%Y"\n')
    root = write_book(tmp_path / "book", book_yaml)
    f = write_payments(tmp_path / "bank", "us.csv", "Txn ID,Loan,Value Date,Amt\nU-1,acme-fixed,02/03/2026,10000.00\n")
    post_ok(root, f, extra=("--profile", "bankus"))
    assert allocations(root)[0][1] == "2026-02-03"
    before = snapshot(root)
    result = run(root, "ledger", "rebuild")
    assert result.exit_code == 0, result.stderr
    assert snapshot(root) == before


# --- the ledger codes --------------------------------------------------------------------------
def test_e0420_ledger_missing_while_the_archive_holds_files(copy, tmp_path):
    (copy / ".loanctl" / "ledger.duckdb").unlink()
    f = write_payments(tmp_path / "bank", "pay.csv", H + OK)
    before = tree_hash(copy)
    result = post(copy, f)
    assert result.exit_code == 1
    ledger = copy / ".loanctl" / "ledger.duckdb"
    assert f"{ledger}: E0420: the ledger is missing but payments/ holds archived files" in result.stderr
    assert tree_hash(copy) == before


def test_e0421_a_second_writer_waits_then_fails_cleanly(copy, tmp_path, monkeypatch):
    """In-process with a short wait: the test holds the writer lock itself (flock locks of
    two open files conflict even within one process)."""
    import functools

    from loanctl.ledger import posting
    monkeypatch.setattr(posting, "writer_lock", functools.partial(posting.writer_lock, wait=0.3))
    lock = copy / ".loanctl" / "write.lock"
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        f = write_payments(tmp_path / "bank", "pay.csv", H + OK)
        before = tree_hash(copy)
        result = post(copy, f)
    finally:
        os.close(fd)
    assert result.exit_code == 1
    assert f"{lock}: error[E0421]: another loanctl is writing the ledger" in result.stderr
    assert tree_hash(copy) == before
    post_ok(copy, f)  # once the lock is free the same post goes through


def test_e0422_archive_cannot_be_written(copy, tmp_path):
    """In-process, so the temporary archive name (it carries the pid) is known: a folder in
    its place makes the write fail."""
    raw = (H + OK).encode()
    f = write_payments(tmp_path / "bank", "pay.csv", raw)
    name = f"2026-12-01-{hashlib.sha256(raw).hexdigest()[:12]}.csv"
    (copy / "payments" / f".{name}.tmp-{os.getpid()}").mkdir()
    before_hash, before = tree_hash(copy), snapshot(copy)
    result = post(copy, f)
    assert result.exit_code == 1
    assert f"{copy / 'payments' / name}: error[E0422]: cannot archive the payment file" in result.stderr
    assert tree_hash(copy) == before_hash
    assert snapshot(copy) == before


def test_e0422_state_folder_cannot_be_created(tmp_path):
    root = write_book(tmp_path / "book")
    (root / ".loanctl").write_text("not a folder")
    f = write_payments(tmp_path / "bank", "pay.csv", H + OK)
    before = tree_hash(root)
    result = post(root, f)
    assert result.exit_code == 1
    assert f"{root / '.loanctl'}: error[E0422]: cannot create {root / '.loanctl'}" in result.stderr
    assert tree_hash(root) == before


def test_e0423_ledger_check_finds_an_archived_file_not_in_the_ledger(copy):
    stray = copy / "payments" / "2026-12-02-0123456789ab.csv"
    stray.write_text(H + OK)
    result = run(copy, "ledger", "check")
    assert result.exit_code == 1
    assert f"{stray}: error[E0423]: archived file {stray.name} is not in the ledger" in result.stdout + result.stderr


def test_e0424_query_writes_are_rejected(copy):
    before = tree_hash(copy)
    result = run(copy, "query", "delete from payments")
    assert result.exit_code == 1
    assert "<book>: error[E0424]: only read-only queries are allowed (this is delete)" in result.stderr
    assert tree_hash(copy) == before
