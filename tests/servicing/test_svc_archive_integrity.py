"""The archive can never be poisoned, and nonsense payments are refused (issue #11, classes
3 and 8; SPEC §4.1, §4.2).

Every case posts a payment file through `loanctl post-payments` and asserts the exit code,
the diagnostic at `FILE:LINE`, and that the book — the archive folder and the ledger
included — is byte for byte what it was. A baseline book has one file posted already (the
10,000.00 closing fee of acme-fixed), so "unchanged" covers an existing ledger and archive.

Most refusals are run twice, once with posting forced onto the vectorised DuckDB path
(`FAST_PATH_BYTES = 0`: the path tries every file and must hand a bad one to the row-by-row
parser) and once forced off it, so both paths refuse the same rows.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerkit import (BANK_FILE, BOOK_YAML, FIXED_YAML, TWO_PROFILES, TWO_YAML, loanctl_cmd, post, post_ok,
                       run, snapshot, subprocess_env, tree_hash, write_book, write_payments)
from loanctl.ledger import staging
from loanctl.ledger.archive import archive_file, archive_name, profile_conflicts
from loanctl.ledger.db import ledger_path
from loanctl.servicing.paymentfile import MAX_LINE
from loanctl.servicing.rowrules import MAX_REFERENCE, WHITESPACE

H = "payment_id,deal,date,amount,reference\n"
DAY = "2026-12-01"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    root = write_book(tmp_path_factory.mktemp("baseline") / "book")
    f = write_payments(tmp_path_factory.mktemp("bank"), "closing.csv", H + "c-1,acme-fixed,2026-01-15,10000.00,fee\n")
    post_ok(root, f)
    return root


@pytest.fixture
def copy(baseline, tmp_path) -> Path:
    return Path(shutil.copytree(baseline, tmp_path / "book"))


@pytest.fixture(params=["row-by-row", "vectorised"])
def path(request, monkeypatch, fast_calls) -> str:
    """Force one posting path for the test (the threshold picks it in real use)."""
    monkeypatch.setattr(staging, "FAST_PATH_BYTES", 0 if request.param == "vectorised" else 10 ** 15)
    return request.param


def archive_listing(root: Path) -> list[str]:
    folder = root / "payments"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def ledger_sha(root: Path) -> str:
    return hashlib.sha256(ledger_path(root).read_bytes()).hexdigest()


def assert_refused(root: Path, f: Path, expected: list[tuple[int, str]], *, day: str = DAY,
                   extra: tuple = ()) -> str:
    """Post `f`: exit 1, each (line, code) reported as FILE:LINE: CODE, nothing archived,
    the ledger byte for byte the same."""
    listing, sha, whole, rows = archive_listing(root), ledger_sha(root), tree_hash(root), snapshot(root)
    result = post(root, f, day=day, extra=extra)
    assert result.exit_code == 1, result.stdout + result.stderr
    for line, code in expected:
        where = f"{f}:{line}: {code}: "
        assert where in result.stderr, (where, result.stderr[:2000])
    assert result.stderr.endswith("nothing was posted\n")
    assert "Traceback" not in result.stderr + result.stdout
    assert archive_listing(root) == listing
    assert ledger_sha(root) == sha
    assert snapshot(root) == rows
    assert tree_hash(root) == whole
    return result.stderr


def fell_back(path: str, fast_calls: list[bool]) -> None:
    """On the forced vectorised path, the bad file went to the row-by-row parser."""
    assert fast_calls == ([False] if path == "vectorised" else [])


# --- class 3: every check the ledger insert relies on runs before the archive write ----------
def test_e0419_an_amount_beyond_the_ledger_column_is_refused_before_archiving(copy, tmp_path, path, fast_calls):
    # 10^30 has 31 integer digits: more than DECIMAL(28,4) holds (24). Before the fix the file
    # was archived, then the ledger insert failed (E0422) and the archive held a file the
    # ledger could never take.
    f = write_payments(tmp_path / "bank", "big.csv", H + "ok-1,acme-fixed,2026-04-15,1.00,\n"
                                                        "p-1,acme-fixed,2026-04-15,1" + "0" * 30 + ".00,x\n")
    assert_refused(copy, f, [(3, "E0419")])
    fell_back(path, fast_calls)


@pytest.mark.parametrize("amount, ok", [
    ("999999999999999.99", True),    # the largest amount below 10^15 with cents
    ("1000000000000000", False),     # 10^15: the bound of money in YAML (values.parse_money)
    ("1000000000000000.00", False),
    ("0001000000000000000", False),  # leading zeros do not hide it
])
def test_the_amount_bound_is_the_yaml_money_bound(copy, tmp_path, path, fast_calls, amount, ok):
    f = write_payments(tmp_path / "bank", "edge.csv", H + f"edge-1,acme-fixed,2026-04-15,{amount},\n")
    if ok:
        post_ok(copy, f)
        assert [Decimal(r[4]) for r in snapshot(copy)["payments"] if r[0] == "edge-1"] == [Decimal(amount)]
        assert fast_calls == ([True] if path == "vectorised" else [])
    else:
        assert_refused(copy, f, [(2, "E0419")])
        fell_back(path, fast_calls)


def test_e0418_a_reference_over_1024_characters_is_refused(copy, tmp_path, path, fast_calls):
    at_limit = "é" * 1024          # 1024 characters (2048 bytes): accepted
    over = "r" * 1025
    f = write_payments(tmp_path / "bank", "refs.csv", H + f"r-1,acme-fixed,2026-04-15,1.00,{at_limit}\n"
                                                         f"r-2,acme-fixed,2026-04-15,1.00,{over}\n")
    assert MAX_REFERENCE == 1024
    stderr = assert_refused(copy, f, [(3, "E0418")])
    assert f"{f}:2:" not in stderr
    fell_back(path, fast_calls)


def test_e0418_a_line_over_4096_characters_is_refused_even_when_every_field_is_short(copy, tmp_path, path,
                                                                                  fast_calls):
    # the spaces are trimmed from the amount, so every field is fine; the line is not
    line = "w-1,acme-fixed,2026-04-15," + " " * 5000 + "1.00,x"
    assert len(line) == 26 + 5000 + 6 > MAX_LINE == 4096
    f = write_payments(tmp_path / "bank", "wide.csv", H + "w-0,acme-fixed,2026-04-15,1.00,x\n" + line + "\n")
    assert_refused(copy, f, [(3, "E0418")])
    fell_back(path, fast_calls)


def _big_rows(n: int) -> list[str]:
    dates = ["2026-01-15", "2026-03-02", "2026-04-15", "2026-06-01", "2026-07-15"]
    return [f"k{i:06d},acme-fixed,{dates[i % 5]},0.01,FED {i:06d}" for i in range(n)]


LONG_LAST = "z-1,acme-fixed,2026-04-15,0.01," + "r" * 33_554_500  # past DuckDB's 32 MiB read buffer


def test_a_last_line_longer_than_duckdbs_buffer_is_refused_not_silently_dropped(copy, tmp_path, fast_calls):
    # Before the fix, DuckDB's reader silently skipped this last line (no newline after it):
    # the vectorised path posted 8,000 rows and archived a file of 8,001.
    f = tmp_path / "bank" / "big.csv"
    f.parent.mkdir()
    f.write_text("\n".join(["payment_id,deal,date,amount,reference"] + _big_rows(8000) + [LONG_LAST]))
    assert f.stat().st_size >= staging.FAST_PATH_BYTES
    assert_refused(copy, f, [(8002, "E0418")])
    assert fast_calls == [False]


def test_the_vectorised_path_counts_rows_and_falls_back_when_duckdb_drops_one(copy, tmp_path, fast_calls,
                                                                              monkeypatch):
    # Without the line-length guard the row count alone must catch the dropped row:
    # 8,001 data lines in the file, 8,000 rows from DuckDB → the row-by-row parser decides.
    monkeypatch.setattr(staging, "MAX_LINE", 10 ** 9)
    f = tmp_path / "bank" / "big.csv"
    f.parent.mkdir()
    f.write_text("\n".join(["payment_id,deal,date,amount,reference"] + _big_rows(8000) + [LONG_LAST]))
    assert_refused(copy, f, [(8002, "E0418")])
    assert fast_calls == [False]


def test_a_nul_in_a_reference_is_read_by_the_row_by_row_parser_and_rebuilds_the_same(copy, tmp_path, path,
                                                                                     fast_calls):
    # DuckDB's reader and Python's csv module need not agree on a NUL: the vectorised path
    # leaves such a file to the row-by-row parser, which a rebuild uses too.
    f = write_payments(tmp_path / "bank", "nul.csv", (H + "n-1,acme-fixed,2026-04-15,1.00,a\x00b\n").encode())
    post_ok(copy, f)
    assert fast_calls == ([False] if path == "vectorised" else [])
    after = snapshot(copy)
    assert [r[7] for r in after["payments"] if r[0] == "n-1"] == ["a\x00b"]
    assert run(copy, "ledger", "rebuild").exit_code == 0
    assert snapshot(copy) == after


# --- class 3: whitespace is handled identically by both paths and by a rebuild ----------------
_WS = ["\t", "\u00a0", "\u3000", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\u2028", "\u2003", " "]


def _hostile_rows() -> list[str]:
    """Rows with every whitespace Python strips around each field, case differences, a '+'
    and leading zeros; every row is valid and means the same as its plain twin."""
    rows = []
    for i, ws in enumerate(_WS):
        other = _WS[(i + 3) % len(_WS)]
        rows.append(",".join([
            f"{ws}h-{i:02d}{other}",
            f"{other}acme-fixed{ws}",
            f"{ws}{ws}2026-0{4 + i % 3}-15 ",
            f" +00{100 + i}.5{i % 10}{ws}",
            f"{ws}{['usd', 'USD', 'Usd'][i % 3]}{other}",
            f"{other}{['Scheduled', 'FEE', 'scheduled', ''][i % 4]}{ws}",
            f"{ws}ref{other}{i}  inner{ws}x{other}",
        ]))
    return rows


HOSTILE_HEADER = "payment_id,deal,date,amount,currency,type,reference"
LAYOUTS = {
    "LF": ("", "\n", "\n"),
    "CRLF": ("", "\r\n", "\r\n"),
    "BOM and CRLF": ("\ufeff", "\r\n", "\r\n"),
    "BOM, no final newline": ("\ufeff", "\n", ""),
    "trailing empty lines": ("", "\n", "\n\n\n"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_hostile_whitespace_gives_identical_ledgers_on_both_paths_and_in_a_rebuild(tmp_path, monkeypatch,
                                                                                    fast_calls, layout):
    bom, newline, end = LAYOUTS[layout]
    text = bom + newline.join([HOSTILE_HEADER] + _hostile_rows()) + end
    f = write_payments(tmp_path / "bank", "hostile.csv", text.encode("utf-8"))
    books = {}
    for name, threshold in (("vectorised", 0), ("row-by-row", 10 ** 15)):
        monkeypatch.setattr(staging, "FAST_PATH_BYTES", threshold)
        books[name] = write_book(tmp_path / name)
        post_ok(books[name], f)
    # the vectorised path posted it itself, except where blank lines need the row-by-row reader
    assert fast_calls == ([False] if layout == "trailing empty lines" else [True])
    fast, slow = snapshot(books["vectorised"]), snapshot(books["row-by-row"])
    assert fast == slow
    # what was stored, stated independently: ids, amounts, types and references as a person reads them
    stored = {r[0]: r for r in slow["payments"]}
    assert sorted(stored) == [f"h-{i:02d}" for i in range(len(_WS))]
    for i, ws in enumerate(_WS):
        other = _WS[(i + 3) % len(_WS)]
        pid, deal, facility, value_date, amount, currency, ptype, reference = stored[f"h-{i:02d}"][:8]
        assert (deal, facility, currency) == ("acme-fixed", "tl", "USD")
        assert value_date.isoformat() == f"2026-0{4 + i % 3}-15"
        assert Decimal(amount) == Decimal(f"{100 + i}.5{i % 10}")
        assert ptype == ["scheduled", "fee", "scheduled", "scheduled"][i % 4]
        assert reference == f"ref{other}{i}  inner{ws}x"
    for root in books.values():
        result = run(root, "ledger", "rebuild")
        assert result.exit_code == 0, result.stderr
    assert snapshot(books["vectorised"]) == snapshot(books["row-by-row"]) == fast


def test_the_whitespace_set_is_all_of_pythons():
    """The vectorised path trims WHITESPACE; it must be every character str.strip() strips."""
    import sys
    assert WHITESPACE == "".join(ch for ch in map(chr, range(sys.maxunicode + 1)) if ch.isspace())


# --- every row rule, in Python and in SQL: the same hostile rows, the same verdict ---------------
# The row-by-row parser (rowrules.check_row) and the vectorised reader (rowrules.bad_row_sql
# and the staging guards) are fed each row below; both must accept it or both refuse it, and
# what they accept they must read alike. The codes are the rules each row breaks, stated here.
FULL_HEADER = "payment_id,deal,facility,date,amount,currency,type,reference,reverses"


def _row(**cells: str) -> str:
    row = dict(zip(FULL_HEADER.split(","), ["ok-1", "acme-fixed", "", "2026-04-15", "1.00", "", "", "", ""]))
    row.update(cells)
    return ",".join(row.values())


def _hostile_full(row: str) -> str:
    cells = row.split(",")  # HOSTILE_HEADER lacks the facility and reverses columns: empty cells
    return ",".join(cells[:2] + [""] + cells[2:] + [""])


RULE_CASES = [  # (deal status, the rows, code when posted on DAY, code when a rebuild reads them)
    ("funded", _row(), None, None),
    *[("funded", _hostile_full(r), None, None) for r in _hostile_rows()],
    ("funded", _row(payment_id=""), "E0416", "E0416"),
    ("funded", _row(payment_id="p" * 128), None, None),              # MAX_PAYMENT_ID characters
    ("funded", _row(payment_id="p" * 129), "E0417", "E0417"),
    ("funded", _row(payment_id="pаy-1"), "E0417", "E0417"),          # Cyrillic а
    ("funded", _row(payment_id="pay\u00a0x"), "E0417", "E0417"),    # a no-break space inside
    ("funded", _row(deal=""), "E0416", "E0416"),
    ("funded", _row(deal="acme-nope"), "E0404", "E0404"),
    ("funded", _row(deal="acme-two"), "E0405", "E0405"),             # two facilities, none named
    ("funded", _row(deal="acme-two", facility="rcf", date="2026-03-02"), None, None),
    ("funded", _row(facility="rcf"), "E0405", "E0405"),
    ("funded", _row(date="2026-02-30"), "E0409", "E0409"),
    ("funded", _row(date="2026-4-15"), "E0409", "E0409"),
    ("funded", _row(date="15/04/2026"), "E0409", "E0409"),
    ("funded", _row(date="２０２６-04-15"), "E0433", "E0433"),
    ("funded", _row(date="2026-01-14"), "E0410", "E0410"),           # the day before the start 2026-01-15
    ("funded", _row(date="2027-12-02"), None, None),                 # DAY + 366 days
    ("funded", _row(date="2027-12-03"), "E0432", None),              # DAY + 367: a posting rule only
    ("funded", _row(amount=""), "E0416", "E0416"),
    ("funded", _row(amount="+001.50"), None, None),
    ("funded", _row(amount="999999999999999.99"), None, None),
    ("funded", _row(amount="1000000000000000"), "E0419", "E0419"),   # 10^15
    ("funded", _row(amount="1.001"), "E0408", "E0408"),              # USD has 2 decimals
    ("funded", _row(amount="-1.00"), "E0407", "E0407"),
    ("funded", _row(amount="(1.00)"), "E0407", "E0407"),
    ("funded", _row(amount="0.00"), "E0407", "E0407"),
    ("funded", _row(amount="1 000.00"), "E0407", "E0407"),
    ("funded", _row(amount="1e3"), "E0407", "E0407"),
    ("funded", _row(amount="+.5"), "E0407", "E0407"),
    ("funded", _row(amount="1."), "E0407", "E0407"),
    ("funded", _row(amount="١٢٥٠.٥٠"), "E0433", "E0433"),
    ("funded", _row(currency="usd"), None, None),
    ("funded", _row(currency="EUR"), "E0406", "E0406"),
    ("funded", _row(currency="ＵＳＤ"), "E0406", "E0406"),
    ("funded", _row(type="FEE"), None, None),
    ("funded", _row(type="refund"), "E0413", "E0413"),
    ("funded", _row(type="ｆee"), "E0413", "E0413"),
    ("funded", _row(reference="r" * 1024), None, None),
    ("funded", _row(reference="r" * 1025), "E0418", "E0418"),
    ("funded", _row(amount="0" * 4100 + "1.00"), "E0418", "E0418"),  # a line of more than MAX_LINE
    ("funded", _row(amount="0" * 3000 + "1.00"), None, None),
    ("funded", _row() + "\n" + _row(reference="again"), "E0411", "E0411"),
    # payment types (their rules across rows, against the ledger, are crossrows': test_svc_payment_types.py)
    ("funded", _row(type="repayment"), "E0434", "E0434"),             # acme-fixed's tl is a term loan
    ("funded", _row(deal="acme-two", facility="rcf", date="2026-03-02", type="repayment"), None, None),
    ("funded", _row(type="payoff", date="2027-01-15"), None, None),   # on the maturity
    ("funded", _row(type="payoff", date="2027-01-16"), "E0435", "E0435"),
    ("funded", _row(type="reversal"), "E0436", "E0436"),              # reverses nothing
    ("funded", _row(type="reversal", reverses="p-1"), None, None),    # a known payment or not: crossrows
    ("funded", _row(type="REVERSAL", reverses=" p-1 "), None, None),
    ("funded", _row(reverses="p-1"), "E0436", "E0436"),               # a scheduled payment reverses nothing
    ("funded", _row(type="reversal", reverses="p" * 129), "E0436", "E0436"),
    ("funded", _row(type="reversal", reverses="pаy-1"), "E0436", "E0436"),   # Cyrillic а
    ("funded", _row(type="reversal", reverses="ok-1"), "E0438", "E0438"),    # itself
    ("approved", _row(), "E0431", None),                               # takes payments once funded
]


@pytest.fixture(scope="module")
def loaded_books(tmp_path_factory) -> dict:
    from loanctl.api import load_valid_book
    out = {}
    for status in ("funded", "approved"):
        loaded, errors = load_valid_book(_book_with_status(tmp_path_factory.mktemp(status), status))
        assert not errors, errors
        out[status] = loaded
    return out


@pytest.mark.parametrize("posting", [True, False], ids=["post", "rebuild"])
@pytest.mark.parametrize("status, rows, post_code, rebuild_code", RULE_CASES,
                         ids=[f"{i:02d}-{c[2] or 'ok'}" for i, c in enumerate(RULE_CASES)])
def test_the_sql_predicate_and_the_python_checks_judge_every_hostile_row_alike(loaded_books, tmp_path, posting,
                                                                                 status, rows, post_code,
                                                                                 rebuild_code):
    import duckdb

    from loanctl.servicing.paymentfile import parse_payment_file
    from loanctl.servicing.rowrules import facts_of
    loaded = loaded_books[status]
    raw = f"{FULL_HEADER}\n{rows}\n".encode()
    day = date(2026, 12, 1) if posting else None
    expected = post_code if posting else rebuild_code

    payments, diags = parse_payment_file("f.csv", raw, facts_of(loaded), None, "f.csv", day)
    assert [d.code for d in diags] == ([expected] if expected else [])

    specs = staging.vectorised_files([(raw, "f.csv")], None)
    assert specs is not None  # no quotes, blank or long lines: DuckDB's reader takes every case
    con = duckdb.connect()
    staging.create_staged(con)
    staged = staging.stage_vectorised(con, tmp_path, facts_of(loaded), specs, None, day)
    assert staged == (expected is None)
    read = con.execute("SELECT * FROM staged ORDER BY line").fetchall()
    assert read == ([(p.payment_id, p.deal, p.facility, p.date, p.amount, p.currency, p.type, p.reference or None,
                      p.file, p.line, p.reverses or None) for p in payments] if staged else [])


# --- class 3: one file, one reading -------------------------------------------------------------


@pytest.mark.parametrize("second_day", [DAY, "2026-12-02"], ids=["same posting day", "another posting day"])
def test_e0430_the_same_bytes_under_another_profile_are_refused_and_a_rebuild_keeps_every_payment(
        tmp_path, second_day):
    # Read with ids-first the file pays T-1 and T-2; with refs-first it would pay R-1 and
    # Before the fix the second post succeeded, rewrote the archive's .profile, and a
    # rebuild read the file one way only: T-1 and T-2 vanished from the ledger.
    root = write_book(tmp_path / "book", TWO_PROFILES)
    f = write_payments(tmp_path / "bank", "bank.csv", BANK_FILE)
    post_ok(root, f, extra=("--profile", "ids-first"))
    before = snapshot(root)
    assert [r[0] for r in before["payments"]] == ["T-1", "T-2"]
    listing, sha = archive_listing(root), ledger_sha(root)

    proc = subprocess.run(loanctl_cmd(root, "post-payments", f, "--profile", "refs-first", "--posting-day",
                                      second_day), capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"{f}:1: E0430: this file was posted before with profile 'ids-first'; now with profile 'refs-first'" \
        in proc.stderr
    assert f"the file was posted with profile 'ids-first' on {DAY}" in proc.stderr
    assert archive_listing(root) == listing and ledger_sha(root) == sha
    assert (root / "payments" / f"{listing[0]}.profile").read_text() == "ids-first\n"

    result = run(root, "ledger", "rebuild")
    assert result.exit_code == 0, result.stderr
    assert snapshot(root) == before


def test_e0430_a_file_posted_without_a_profile_cannot_be_reposted_with_one(tmp_path, path, fast_calls):
    # a profile that reads this file exactly as no profile does: still another reading, by name
    book = BOOK_YAML + "  iso:\n    date_format: \"%Y-%m-%d\"\n"
    root = write_book(tmp_path / "book", book)
    f = write_payments(tmp_path / "bank", "plain.csv", H + "p-1,acme-fixed,2026-04-15,1.00,\n")
    post_ok(root, f)
    fast_calls.clear()
    stderr = assert_refused(root, f, [(1, "E0430")], extra=("--profile", "iso"))
    assert "posted before without a profile; now with profile 'iso'" in stderr
    fell_back(path, fast_calls)
    # the same bytes the same way again: a duplicate, exit 0, nothing changes
    before = tree_hash(root)
    post_ok(root, f)
    assert tree_hash(root) == before


def test_e0430_an_archived_file_not_yet_in_the_ledger_keeps_its_profile(tmp_path):
    """The archive side of the rule (an interrupted post archived the file, the ledger never
    took it). Reached through the library: the command line refuses to post while the
    archive holds a file the ledger lacks only when the ledger is missing (E0420)."""
    from datetime import date
    root = write_book(tmp_path / "book", TWO_PROFILES)
    raw = BANK_FILE.encode()
    name, sha = archive_name(raw, date(2026, 12, 1))
    archive_file(root, name, raw, "ids-first")
    diags = profile_conflicts(None, root, [(name, sha, "bank.csv", 2, len(raw), "refs-first", raw)])
    assert [(d.code, d.file) for d in diags] == [("E0430", "bank.csv")]
    assert profile_conflicts(None, root, [(name, sha, "bank.csv", 2, len(raw), "ids-first", raw)]) == []


# --- class 8: payments only for deals that take them ---------------------------------------------
def _book_with_status(tmp_path: Path, status: str) -> Path:
    deal = FIXED_YAML.replace("status: funded", f"status: {status}")
    if status == "declined":
        deal = deal.replace("decision: approved", "decision: declined")
    deals = {"acme-fixed": deal, "acme-two": TWO_YAML}
    if status == "written_off":  # the status must agree with the events (E0627): everything written off
        deals["acme-fixed/events/wo.yaml"] = "id: wo\ndate: 2027-01-15\ntype: write_off\n"
    return write_book(tmp_path / "book", deals=deals)


@pytest.mark.parametrize("status", ["draft", "submitted", "approved", "declined"])
def test_e0431_a_deal_not_yet_funded_takes_no_payments(tmp_path, path, fast_calls, status):
    root = _book_with_status(tmp_path, status)
    post_ok(root, write_payments(tmp_path / "bank", "other.csv",
                                 "payment_id,deal,facility,date,amount\no-1,acme-two,tl,2026-05-01,1.00\n"))
    fast_calls.clear()
    f = write_payments(tmp_path / "bank", "pay.csv", H + "s-1,acme-fixed,2026-04-15,1.00,\n")
    stderr = assert_refused(root, f, [(2, "E0431")])
    assert f"deal 'acme-fixed' is {status}: it takes payments once funded" in stderr
    fell_back(path, fast_calls)


def test_e0431_a_repaid_deal_takes_no_payment_dated_after_its_final_maturity(tmp_path, path, fast_calls):
    root = _book_with_status(tmp_path, "repaid")
    # acme-fixed matures 2027-01-15: a payment on that day is its repayment, the day after is not.
    # Repaid means nothing owed once payments are posted (E0628): every due of its schedule is paid.
    post_ok(root, write_payments(tmp_path / "bank", "final.csv", H + "c-1,acme-fixed,2026-01-15,10000.00,\n"
                                 "q-1,acme-fixed,2026-04-15,259000.00,\nq-2,acme-fixed,2026-07-15,259325.00,\n"
                                 "q-3,acme-fixed,2026-10-15,254600.00,\nm-1,acme-fixed,2027-01-15,252300.00,\n"),
            day="2027-01-20")
    fast_calls.clear()
    f = write_payments(tmp_path / "bank", "late.csv", H + "m-2,acme-fixed,2027-01-16,5.00,\n")
    stderr = assert_refused(root, f, [(2, "E0431")], day="2027-01-20")
    assert "deal 'acme-fixed' is repaid: a payment dated 2027-01-16 is after its final maturity 2027-01-15" in stderr
    fell_back(path, fast_calls)


def test_a_written_off_deal_still_takes_recoveries(tmp_path, path):
    root = _book_with_status(tmp_path, "written_off")
    post_ok(root, write_payments(tmp_path / "bank", "recovery.csv", H + "rec-1,acme-fixed,2027-03-01,500.00,\n"),
            day="2027-03-05")
    assert [r[0] for r in snapshot(root)["payments"]] == ["rec-1"]


def test_e0431_is_a_posting_rule_a_rebuild_reads_the_archive_as_accepted(tmp_path):
    root = _book_with_status(tmp_path, "funded")
    # every due paid, so that the repaid status below agrees with the payments (E0628)
    post_ok(root, write_payments(tmp_path / "bank", "pay.csv", H + "c-1,acme-fixed,2026-01-15,10000.00,\n"
                                 "a-1,acme-fixed,2026-04-15,259000.00,\nq-2,acme-fixed,2026-07-15,259325.00,\n"
                                 "q-3,acme-fixed,2026-10-15,254600.00,\nm-1,acme-fixed,2027-01-15,252300.00,\n"))
    before = snapshot(root)
    deal = root / "acme-fixed" / "deal.yaml"
    deal.write_text(deal.read_text().replace("status: funded", "status: repaid"))
    result = run(root, "ledger", "rebuild")
    assert result.exit_code == 0, result.stderr
    assert snapshot(root) == before


# --- class 8: value dates far in the future ------------------------------------------------------
def test_e0432_a_value_date_more_than_366_days_after_the_posting_day_is_refused(copy, tmp_path, path, fast_calls):
    # posting day 2026-12-01; + 365 days = 2027-12-01 (no 29 February between), + 366 = 2027-12-02
    f = write_payments(tmp_path / "bank", "future.csv", H + "f-1,acme-fixed,2027-12-02,1.00,\n"
                                                            "f-2,acme-fixed,2027-12-03,1.00,\n"
                                                            "f-3,acme-fixed,2062-07-15,1.00,\n")
    stderr = assert_refused(copy, f, [(3, "E0432"), (4, "E0432")])
    assert f"{f}:2:" not in stderr
    assert "value date 2027-12-03 is more than 366 days after the posting day 2026-12-01" in stderr
    fell_back(path, fast_calls)


def test_the_last_day_allowed_is_366_days_after_the_posting_day(copy, tmp_path, path, fast_calls):
    post_ok(copy, write_payments(tmp_path / "bank", "edge.csv", H + "f-1,acme-fixed,2027-12-02,1.00,\n"))
    assert fast_calls == ([True] if path == "vectorised" else [])


def test_the_far_future_rule_follows_the_posting_day_not_the_clock(copy, tmp_path):
    f = write_payments(tmp_path / "bank", "future.csv", H + "f-1,acme-fixed,2027-12-03,1.00,\n")
    assert_refused(copy, f, [(2, "E0432")], day="2026-12-01")
    post_ok(copy, f, day="2026-12-02")


def test_a_posting_day_at_the_end_of_the_calendar_is_no_crash(copy, tmp_path, path):
    """The last posting day loanctl accepts is the date window's end (2200-12-31); 366 days
    ahead of it is still a date. A posting day past the window is a usage error (exit 2)."""
    f = write_payments(tmp_path / "bank", "pay.csv", H + "e-1,acme-fixed,2026-04-15,1.00,\n")
    result = post(copy, f, day="9999-12-31")
    assert result.exit_code == 2 and "outside the dates loanctl accepts" in result.stderr + result.stdout
    post_ok(copy, f, day="2200-12-31")


# --- class 8: digits of other scripts, look-alike ids -------------------------------------------
@pytest.mark.parametrize("cells, code", [
    (("u-1", "2026-04-15", "١٢٥٠.٥٠"), "E0433"),           # Arabic-Indic digits: Decimal() reads 1250.50
    (("u-1", "2026-04-15", "１００.００"), "E0433"),          # fullwidth digits
    (("u-1", "2026-04-15", "1२5.00"), "E0433"),             # one Devanagari digit among ASCII ones
    (("u-1", "２０２６-04-15", "1.00"), "E0433"),            # fullwidth year: int() reads 2026
    (("u-1", "2026-0٤-15", "1.00"), "E0433"),
    (("pаy-1", "2026-04-15", "1.00"), "E0417"),             # Cyrillic а (U+0430) in a Latin id
    (("ｐａｙ-1", "2026-04-15", "1.00"), "E0417"),             # fullwidth: NFKC reads 'pay-1'
    (("pay\u200d-1", "2026-04-15", "1.00"), "E0417"),       # zero-width joiner
    (("pay\u2060-1", "2026-04-15", "1.00"), "E0417"),       # word joiner
    (("ﬁx-1", "2026-04-15", "1.00"), "E0417"),              # ligature: NFKC reads 'fix-1'
    (("café-1", "2026-04-15", "1.00"), "E0417"),            # not ASCII at all
], ids=["arabic-indic amount", "fullwidth amount", "devanagari digit", "fullwidth year", "arabic-indic month",
        "cyrillic a in id", "fullwidth id", "zero-width joiner", "word joiner", "ligature", "accented id"])
def test_unicode_digits_and_look_alike_ids_are_refused(copy, tmp_path, path, fast_calls, cells, code):
    pid, when, amount = cells
    f = write_payments(tmp_path / "bank", "uni.csv", H + "plain-1,acme-fixed,2026-04-15,1.00,\n"
                                                         f"{pid},acme-fixed,{when},{amount},\n")
    stderr = assert_refused(copy, f, [(3, code)])
    assert f"{f}:2:" not in stderr
    fell_back(path, fast_calls)


def test_e0417_names_the_look_alike_and_the_nfkc_reading(copy, tmp_path):
    f = write_payments(tmp_path / "bank", "ids.csv", H + "pаy-1,acme-fixed,2026-04-15,1.00,\n"
                                                         "ｐａｙ-2,acme-fixed,2026-04-15,1.00,\n")
    stderr = assert_refused(copy, f, [(2, "E0417"), (3, "E0417")])
    assert "it has U+0430 CYRILLIC SMALL LETTER A, not printable ASCII" in stderr
    assert "it is not plain ASCII: it reads as 'pay-2' (NFKC)" in stderr


def test_e0433_in_a_profile_date_format(tmp_path):
    root = write_book(tmp_path / "book")
    f = write_payments(tmp_path / "bank", "bankx.csv", "Txn ID,Loan,Value Date,Amt\nB-1,acme-fixed,１５/04/2026,1.00\n")
    assert_refused_without_ledger(root, f, [(2, "E0433")], extra=("--profile", "bankx"))


def assert_refused_without_ledger(root: Path, f: Path, expected, extra: tuple = ()) -> None:
    before = tree_hash(root)
    result = post(root, f, extra=extra)
    assert result.exit_code == 1, result.stdout
    for line, code in expected:
        assert f"{f}:{line}: {code}: " in result.stderr, result.stderr
    assert tree_hash(root) == before
    assert not (root / "payments").exists() and not ledger_path(root).exists()
