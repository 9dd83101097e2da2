"""Nothing outside the book (issue #11, class 6): a deal folder, a deal, amendment or
financials file, `rates/` or a rate file, `payments/` or an archived payment file (or its
profile note) that is a symbolic link leading outside the book is refused with E0020.

Each case is an attack a pull request could make: the link points at a file outside the
test's book folder that holds a unique marker string, written so that it would be quoted
back (a YAML line, a CSV header, a payment id, a profile name). Every case runs the real
command line in a fresh interpreter and asserts the exit code, the code, that the path is
named, and that the marker appears nowhere in stdout or stderr. Links that stay inside the
book still work.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from bookfactory import run_cli_subprocess, sofr_csv, write_book, write_file
from loanctl.source.bookpath import inside_book

MARKER = "SECRET-c0ffee-7731-MARKER"
OUTSIDE_YAML = f"{MARKER}: do not print me\nname: {MARKER}\n"  # unknown key at 1:1: would be quoted
AMENDMENT = ("id: 001-x\neffective_date: 2026-07-15\ndescription: " + MARKER + "\napprovals: []\n"
             "changes:\n  - {facility: tl, set: {interest.spread: 525bps}}\n")


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return write_book(tmp_path)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the book (not inside it) with secret files."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.yaml").write_text(OUTSIDE_YAML, encoding="utf-8")
    (folder / "secret.csv").write_text(f"{MARKER},rate\n2025-01-01,{MARKER}\n", encoding="utf-8")
    (folder / "deal.yaml").write_text(OUTSIDE_YAML, encoding="utf-8")
    (folder / "2025-q1.yaml").write_text(OUTSIDE_YAML, encoding="utf-8")
    (folder / "001-x.yaml").write_text(OUTSIDE_YAML, encoding="utf-8")
    return folder


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)


def _cli(book: Path, *args: str):
    return run_cli_subprocess(["--book", str(book), *args], env={"COLUMNS": "200"})


def _assert_refused(result, path_suffix: str, exit_code: int = 1) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == exit_code, out
    assert MARKER not in out, out
    assert "Traceback" not in out and "internal error" not in out, out
    where = [line.split(": error[E0020]")[0].replace("\\", "/") for line in out.splitlines() if "error[E0020]" in line]
    assert any(w.endswith(path_suffix) for w in where), out
    assert not any(re.search(r":\d+$", w) for w in where), "E0020 has no line: no source line is quoted"


def _validate_json(book: Path) -> tuple[int, list[dict]]:
    r = _cli(book, "validate", "--format", "json")
    assert MARKER not in r.stdout + r.stderr
    return r.returncode, json.loads(r.stdout)


# --- the book's own files ----------------------------------------------------------------------
def test_deal_folder_linked_outside_is_refused(book, outside):
    (outside / "evil-tl").mkdir()
    (outside / "evil-tl" / "deal.yaml").write_text(OUTSIDE_YAML, encoding="utf-8")
    _link(book / "evil-tl", outside / "evil-tl")
    _assert_refused(_cli(book, "validate"), "book/evil-tl")
    code, diags = _validate_json(book)
    assert code == 1
    assert [(d["code"], d["file"].replace("\\", "/").split("book/")[-1], d["line"]) for d in diags] == \
        [("E0020", "evil-tl", None)]


def test_deal_file_linked_outside_is_refused_by_validate_show_and_schedule(book, outside):
    _link(book / "acme-tl" / "deal.yaml", outside / "deal.yaml")
    _assert_refused(_cli(book, "validate"), "book/acme-tl/deal.yaml")
    _assert_refused(_cli(book, "show", "acme-tl", "--as-of", "2026-01-31"), "book/acme-tl/deal.yaml")
    _assert_refused(_cli(book, "schedule", "acme-tl", "--format", "json"), "book/acme-tl/deal.yaml")
    _assert_refused(_cli(book, "report", "--book", "--as-of", "2026-01-31"), "book/acme-tl/deal.yaml")


@pytest.mark.parametrize("rel, target", [("acme-tl/amendments/001-x.yaml", "001-x.yaml"),
                                         ("acme-tl/financials/2025-q1.yaml", "2025-q1.yaml")])
def test_amendment_and_financials_files_linked_outside_are_refused(book, outside, rel, target):
    _link(book / rel, outside / target)
    _assert_refused(_cli(book, "validate"), f"book/{rel}")
    code, diags = _validate_json(book)
    assert code == 1 and [d["code"] for d in diags] == ["E0020"], diags


def test_amendments_folder_linked_outside_is_refused(book, outside):
    (outside / "amendments").mkdir()
    (outside / "amendments" / "001-x.yaml").write_text(AMENDMENT, encoding="utf-8")
    _link(book / "acme-tl" / "amendments", outside / "amendments")
    _assert_refused(_cli(book, "validate"), "book/acme-tl/amendments")
    code, diags = _validate_json(book)
    assert code == 1 and [d["code"] for d in diags] == ["E0020"], diags


def test_rate_file_linked_outside_is_refused(book, outside):
    _link(book / "rates" / "SOFR-3M.csv", outside / "secret.csv")
    _assert_refused(_cli(book, "validate"), "book/rates/SOFR-3M.csv")
    code, diags = _validate_json(book)
    # the file exists (only unusable), so the deal's index is not also reported as missing
    assert code == 1 and [d["code"] for d in diags] == ["E0020"], diags


def test_rates_folder_linked_outside_is_refused_without_listing_it(book, outside):
    (outside / "rates").mkdir()
    (outside / "rates" / f"{MARKER}.csv").write_text(sofr_csv(), encoding="utf-8")  # a name that would be listed
    for f in (book / "rates").iterdir():
        f.unlink()
    (book / "rates").rmdir()
    _link(book / "rates", outside / "rates")
    _assert_refused(_cli(book, "validate"), "book/rates")
    code, diags = _validate_json(book)
    assert code == 1 and [d["code"] for d in diags] == ["E0020"], diags  # one, for the folder


def test_book_yaml_linked_outside_is_refused(book, outside):
    _link(book / "book.yaml", outside / "secret.yaml")
    _assert_refused(_cli(book, "validate"), "book/book.yaml")


# --- the payment archive ---------------------------------------------------------------------
PAYMENTS = "payment_id,deal,date,amount,type,reference\np-1,acme-tl,2025-04-15,100.00,,\n"


def _secret_payments(outside: Path) -> Path:
    path = outside / "2025-04-20-0123456789ab.csv"
    path.write_text(f"payment_id,deal,date,amount,type,reference\n{MARKER},acme-tl,2025-04-15,1.00,,{MARKER}\n",
                    encoding="utf-8")
    return path


def test_archived_payment_file_linked_outside_is_refused_by_rebuild_and_check(book, outside):
    _link(book / "payments" / "2025-04-20-0123456789ab.csv", _secret_payments(outside))
    _assert_refused(_cli(book, "ledger", "rebuild"), "book/payments/2025-04-20-0123456789ab.csv")
    assert not (book / ".loanctl" / "ledger.duckdb").exists()
    _assert_refused(_cli(book, "ledger", "check"), "book/payments/2025-04-20-0123456789ab.csv")


def test_archived_profile_note_linked_outside_is_refused(book, outside, tmp_path):
    write_file(book, "payments/2025-04-20-0123456789ab.csv", PAYMENTS)
    (outside / "profile").write_text(f"{MARKER}\n", encoding="utf-8")  # would be named as an unknown profile
    _link(book / "payments" / "2025-04-20-0123456789ab.csv.profile", outside / "profile")
    _assert_refused(_cli(book, "ledger", "rebuild"), "book/payments/2025-04-20-0123456789ab.csv.profile")
    assert not (book / ".loanctl" / "ledger.duckdb").exists()


def test_payments_folder_linked_outside_is_refused_and_nothing_is_written(book, outside, tmp_path):
    (outside / "archive").mkdir()
    _secret_payments(outside / "archive")
    _link(book / "payments", outside / "archive")
    before = sorted(p.name for p in (outside / "archive").iterdir())
    bank = tmp_path / "bank.csv"
    bank.write_text(PAYMENTS, encoding="utf-8")

    _assert_refused(_cli(book, "post-payments", str(bank)), "book/payments")
    assert sorted(p.name for p in (outside / "archive").iterdir()) == before  # nothing archived out there
    assert not (book / ".loanctl" / "ledger.duckdb").exists()
    _assert_refused(_cli(book, "ledger", "rebuild"), "book/payments")
    _assert_refused(_cli(book, "ledger", "check"), "book/payments")
    assert sorted(p.name for p in (outside / "archive").iterdir()) == before


# --- links inside the book are fine ----------------------------------------------------------
def test_links_that_stay_inside_the_book_are_followed(book):
    # 25,000,000 after the amendment: the policy wants credit_officer and credit_committee,
    # both dated on or before the effective date 2026-07-15
    approvals = ("approvals: [{by: jane.doe, role: credit_officer, date: 2026-06-30, decision: approved}, "
                 "{by: ic, role: credit_committee, date: 2026-07-01, decision: approved}]")
    write_file(book, "_shared/amendments/001-x.yaml", AMENDMENT.replace("approvals: []", approvals))
    _link(book / "acme-tl" / "amendments", Path("../_shared/amendments"))
    _link(book / "rates" / "SOFR-6M.csv", Path("SOFR-3M.csv"))
    r = _cli(book, "show", "acme-tl", "--as-of", "2026-08-01", "--format", "json")
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    assert [a["id"] for a in view["amendments_applied"]] == ["001-x"]  # read through the inside link
    spread = next(t for t in view["facilities"][0]["terms"] if t["term"] == "interest.spread")
    assert spread["value"] == "5.25%"  # 525bps, from the linked amendment
    r = _cli(book, "validate")
    assert r.returncode == 0 and "E0020" not in r.stdout + r.stderr, r.stdout + r.stderr


# --- the helper --------------------------------------------------------------------------------
def test_inside_book_follows_links_and_dot_dot(tmp_path):
    root = tmp_path / "book"
    (root / "a").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    os.symlink("../out", root / "out-link")
    os.symlink("a", root / "in-link")
    assert inside_book(root, root / "a" / "x.yaml")
    assert inside_book(root, root / "in-link" / "x.yaml")
    assert inside_book(root, root / "not-yet-there.yaml")
    assert inside_book(root, root)
    assert not inside_book(root, root / "out-link" / "x.yaml")
    assert not inside_book(root, root / "out-link")
    assert not inside_book(root, root / "a" / ".." / ".." / "out")
    assert not inside_book(root, tmp_path / "book-sibling")
    # a link to the root's parent, then back down into the book: still inside
    os.symlink("..", root / "up")
    assert inside_book(root, root / "up" / "book" / "a")
    assert not inside_book(root, root / "up" / "out")
    # a book that is itself reached through a link
    os.symlink(root, tmp_path / "book-link")
    assert inside_book(tmp_path / "book-link", tmp_path / "book-link" / "a")
    assert not inside_book(tmp_path / "book-link", tmp_path / "book-link" / "out-link")
