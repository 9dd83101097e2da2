"""Hostile payment files and queries (SPEC §1.3, §1.4, §4.1, §4.2, §4.5, §8).

Every case runs `loanctl post-payments` (or `query`/`report`) on a copy of a small posted
book and asserts a specific diagnostic at its `FILE:LINE` or a safe rendering; that it
finishes within a bounded time; that no traceback is printed and the diagnostics stay
short (a 10 MB field must not come back as a 10 MB error line); and that a refused file
leaves the book, the archive and the ledger byte for byte unchanged.

Spreadsheet formula injection: text starting with = + - @ is stored verbatim (it is just
text) but a CSV meant for a spreadsheet renders it with a leading `'`, as `report --format
csv` does. `loanctl query` runs one read-only statement: writing, attaching, installing,
loading, reading files and changing settings are all E0424 with exit 1.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from datetime import date
from pathlib import Path

import pytest

from loanctl.ledger.archive import archive_name
from loanctl.ledger.check import check
from loanctl.ledger.db import snapshot
from bookfactory import fixed_term_deal, invoke, small_book_yaml, tree_digests, write_book_at

LIMIT = 20.0  # seconds for one command on hostile input (each takes 1-3 s on a quiet machine)
MAX_DIAGNOSTICS = 4096  # bytes of stderr for a refused file
BIG = 10 * 1024 * 1024
DAY = "2026-12-01"
H = "payment_id,deal,date,amount,reference"

BOOK_YAML = small_book_yaml("Hostile Input Partners")
DEAL_YAML = fixed_term_deal("acme", {"fund-a": "100%"}, fees=(), name="Acme term loan")  # 1,000,000 at 3.6%


# --- helpers ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The book with one posted file, so a ledger and an archive exist to be left alone."""
    root = write_book_at(tmp_path_factory.mktemp("hostile") / "book", BOOK_YAML, {"acme": DEAL_YAML})
    first = root.parent / "first.csv"
    first.write_text(f"{H}\nc1,acme,2026-04-15,9000.00,first\n", encoding="utf-8")
    result = run(root, "post-payments", first, "--posting-day", DAY)
    assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture
def book(base, tmp_path) -> Path:
    return Path(shutil.copytree(base, tmp_path / "book"))


class Run:
    def __init__(self, result, seconds: float):
        self.exit_code = result.exit_code
        self.stdout = result.stdout_bytes.decode("utf-8")  # .stdout turns \r\n into \n
        self.stderr = result.stderr
        self.exception = result.exception
        self.seconds = seconds


def run(root: Path, *args) -> Run:
    """`loanctl --book ROOT ARGS` in-process, timed; an escaping exception is a test failure."""
    t0 = time.monotonic()
    result = invoke(["--book", root, *args])
    out = Run(result, time.monotonic() - t0)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"loanctl {' '.join(map(str, args))[:200]} raised {result.exception!r}")
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    return out


def tree(root: Path) -> dict[str, str]:
    """Every file below root → sha256 of its bytes (the book, the archive, the ledger)."""
    return tree_digests(root)


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def post(root: Path, path: Path) -> Run:
    return run(root, "post-payments", path, "--posting-day", DAY)


def query_json(root: Path, sql: str) -> list[dict]:
    result = run(root, "query", sql, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --- refused files: a specific diagnostic, bounded, nothing changed ---------------------------
def _utf(encoding: str, bom: bytes = b"") -> bytes:
    return bom + "payment_id,deal,date,amount\nu1,acme,2026-04-15,5.00\n".encode(encoding)


REFUSED = {
    # name: (file bytes, [(codes, line, fragment of the message)])
    "semicolon-delimited": (b"payment_id;deal;date;amount\nx1;acme;2026-04-15;5,00\n",
                            [({"E0403"}, 1, "is not comma-separated")]),
    "tab-delimited": (b"payment_id\tdeal\tdate\tamount\nx1\tacme\t2026-04-15\t5.00\n",
                      [({"E0403"}, 1, "is not comma-separated")]),
    "semicolon-delimited with quoted cells": (b'"payment_id";"deal";"date";"amount"\n"x1";"acme";"2026-04-15";"5,00"\n',
                                              [({"E0403", "E0414"}, 1, None)]),
    "missing header (the first line is data)": (b"x1,acme,2026-04-15,5.00\nx2,acme,2026-04-15,6.00\n",
                                                [({"E0403"}, 1, "unknown column 'x1'"),
                                                 ({"E0402"}, 1, "missing required column")]),
    "UTF-16 LE with BOM": (_utf("utf-16-le", b"\xff\xfe"), [({"E0006"}, 1, "is not valid UTF-8")]),
    "UTF-16 BE with BOM": (_utf("utf-16-be", b"\xfe\xff"), [({"E0006"}, 1, "is not valid UTF-8")]),
    "UTF-32 LE with BOM": (_utf("utf-32-le", b"\xff\xfe\x00\x00"), [({"E0006"}, 1, "is not valid UTF-8")]),
    "two UTF-8 BOMs": (b"\xef\xbb\xbf" + _utf("utf-8", b"\xef\xbb\xbf"),
                       [({"E0403"}, 1, "unknown column '\\ufeffpayment_id'")]),
    "latin-1 reference": (f"{H}\nl1,acme,2026-04-15,5.00,ok\nl2,acme,2026-04-15,5.00,Soci\xe9t\xe9\n".encode("latin-1"),
                          [({"E0006"}, 3, "is not valid UTF-8")]),
    "a quote left open to the end": (f'{H}\no1,acme,2026-04-15,5.00,ok\no2,acme,2026-04-15,5.00,"open\n'
                                     f'o3,acme,2026-04-15,5.00,more\n'.encode(),
                                     [({"E0414"}, 3, "unexpected end of data")]),
    "10 MB payment_id": (f"{H}\n{'i' * BIG},acme,2026-04-15,5.00,x\n".encode(), [({"E0417"}, 2, "is not usable")]),
    "10 MB date": (f"{H}\nd1,acme,{'2' * BIG},5.00,x\n".encode(), [({"E0409"}, 2, None)]),
    "10 MB amount": (f"{H}\na1,acme,2026-04-15,{'9' * BIG}.5x,x\n".encode(), [({"E0407"}, 2, "is not a plain number")]),
}

# a 10 MB value in a column whose message quotes it: the message quotes a short prefix of it
REFUSED |= {
    "10 MB column name": (f"payment_id,deal,date,amount,{'c' * BIG}\nx1,acme,2026-04-15,5.00,a\n".encode(),
                          [({"E0403"}, 1, "unknown column")]),
    "10 MB deal": (f"{H}\nx1,{'d' * BIG},2026-04-15,5.00,a\n".encode(), [({"E0404"}, 2, "unknown deal")]),
    "10 MB facility": (f"payment_id,deal,facility,date,amount\nx1,acme,{'f' * BIG},2026-04-15,5.00\n".encode(),
                       [({"E0405"}, 2, "has no facility")]),
    "10 MB currency": (f"payment_id,deal,date,amount,currency\nx1,acme,2026-04-15,5.00,{'u' * BIG}\n".encode(),
                       [({"E0406"}, 2, "differs from the deal's")]),
    "10 MB type": (f"payment_id,deal,date,amount,type\nx1,acme,2026-04-15,5.00,{'t' * BIG}\n".encode(),
                   [({"E0413"}, 2, "is not one of")]),
}


@pytest.mark.parametrize("data, expected", list(REFUSED.values()), ids=list(REFUSED))
def test_a_hostile_file_is_refused_at_its_line_quickly_and_changes_nothing(book, tmp_path, data, expected):
    f = write(tmp_path, "bank.csv", data)
    before = tree(book)
    result = post(book, f)
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.splitlines()
    for codes, line, fragment in expected:
        hits = [x for x in lines if any(x.startswith(f"{f}:{line}: {code}: ") for code in codes)]
        assert hits, f"no {'/'.join(sorted(codes))} at {f}:{line} in {result.stderr[:600]!r}"
        if fragment:
            assert any(fragment in x for x in hits), (fragment, hits[0][:300])
    assert lines[-1] == "nothing was posted"
    assert result.seconds < LIMIT
    assert tree(book) == before
    assert len(result.stderr) < MAX_DIAGNOSTICS, f"{len(result.stderr):,} bytes of diagnostics"


# --- accepted files: stored verbatim -----------------------------------------------------------
FORMULAS = ['=HYPERLINK("http://x","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"]


def formula_file(folder: Path) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(H.split(","))
    w.writerow(['=1+2', "acme", "2026-04-15", "1.00", "payment id like a formula"])
    for i, text in enumerate(FORMULAS):
        w.writerow([f"f{i}", "acme", "2026-04-15", "1.00", text])
    return write(folder, "formulas.csv", buf.getvalue())


def test_formula_like_text_posts_as_plain_text_and_is_stored_verbatim(book, tmp_path):
    result = post(book, formula_file(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.seconds < LIMIT
    rows = query_json(book, "SELECT payment_id, reference FROM payments WHERE payment_id <> 'c1' ORDER BY payment_id")
    assert rows == [{"payment_id": "=1+2", "reference": "payment id like a formula"}] + [
        {"payment_id": f"f{i}", "reference": text} for i, text in enumerate(FORMULAS)]
    assert check(_load(book)) == []


def test_query_csv_renders_formula_like_text_with_a_leading_quote(book, tmp_path):
    assert post(book, formula_file(tmp_path)).exit_code == 0
    result = run(book, "query", "SELECT payment_id, reference, amount, -5 AS negative FROM payments "
                                "WHERE payment_id <> 'c1' ORDER BY payment_id", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["payment_id", "reference", "amount", "negative"]
    assert rows[1] == ["'=1+2", "payment id like a formula", "1.0000", "-5"]
    assert [r[1] for r in rows[2:]] == ["'" + t for t in FORMULAS]
    assert all(r[2:] == ["1.0000", "-5"] for r in rows[2:])  # numbers stay numbers


def test_report_csv_renders_formula_like_book_text_with_a_leading_quote(book):
    text = (book / "book.yaml").read_text(encoding="utf-8").replace(
        "{id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}",
        '{id: acme, kind: borrower, name: "=HYPERLINK(\\"http://x\\",\\"click\\")", industry: "@SUM(A1)", '
        'country: US}')
    (book / "book.yaml").write_text(text, encoding="utf-8")
    result = run(book, "report", "--book", "--as-of", "2026-06-01", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["borrower_name"], r["industry"]) for r in rows] == [("'=HYPERLINK(\"http://x\",\"click\")", "'@SUM(A1)")]
    assert rows[0]["outstanding_principal"] == "1000000.00"


def _load(root: Path):
    from loanctl.api import load_valid_book
    loaded, errors = load_valid_book(root)
    assert not errors, errors
    return loaded


NEWLINES = (f'{H}\r\n'
            'n1,acme,2026-04-15,5.00,"line a\nline b\r\nline c"\r\n'   # lines 2-4
            'n2,acme,2026-04-15,5.00,"=1+1\n@x"\r\n'                    # lines 5-6
            'n3,acme,2026-04-15,5.00,plain\r\n')                         # line 7


def test_embedded_newlines_keep_the_line_numbers_of_later_rows(book, tmp_path):
    bad = NEWLINES + 'n4,nope,2026-04-15,5.00,"x\ny"\r\nn5,acme,2026-04-15,abc,z\r\nn6,acme,2026-13-01,5.00,"\n"\r\n'
    f = write(tmp_path, "bank.csv", bad)
    before = tree(book)
    result = post(book, f)
    assert result.exit_code == 1
    got = [line.split(": ")[0:2] for line in result.stderr.splitlines()[:-1]]
    assert got == [[f"{f}:8", "E0404"], [f"{f}:10", "E0407"], [f"{f}:11", "E0409"]], result.stderr
    assert tree(book) == before


def test_embedded_newlines_are_stored_verbatim_and_survive_query_csv_and_rebuild(book, tmp_path):
    f = write(tmp_path, "bank.csv", NEWLINES)
    assert post(book, f).exit_code == 0
    rows = query_json(book, "SELECT payment_id, reference, line FROM payments WHERE payment_id <> 'c1' "
                            "ORDER BY payment_id")
    assert rows == [{"payment_id": "n1", "reference": "line a\nline b\r\nline c", "line": 2},
                    {"payment_id": "n2", "reference": "=1+1\n@x", "line": 5},
                    {"payment_id": "n3", "reference": "plain", "line": 7}]
    out = run(book, "query", "SELECT payment_id, reference FROM payments WHERE payment_id = 'n1'",
              "--format", "csv").stdout
    assert list(csv.reader(io.StringIO(out, newline=""))) == [["payment_id", "reference"],
                                                              ["n1", "line a\nline b\r\nline c"]]
    snap = snapshot(book)
    assert run(book, "ledger", "rebuild").exit_code == 0
    assert snapshot(book) == snap


def test_a_utf8_bom_with_crlf_is_accepted_and_archived_byte_for_byte(book, tmp_path):
    raw = b"\xef\xbb\xbf" + f"{H}\r\nb1,acme,2026-04-15,5.00,with bom\r\n".encode()
    f = write(tmp_path, "bank.csv", raw)
    assert post(book, f).exit_code == 0
    name, _ = archive_name(raw, date.fromisoformat(DAY))
    assert (book / "payments" / name).read_bytes() == raw
    assert query_json(book, "SELECT payment_id, reference FROM payments WHERE payment_id = 'b1'") == [
        {"payment_id": "b1", "reference": "with bom"}]


@pytest.mark.parametrize("payment_id", [
    pytest.param("\ufeffx2", id="a BOM starting a later line (two files concatenated)"),
    pytest.param("x\u200b2", id="zero-width space"),
    pytest.param("x\u00a02", id="no-break space"),
])
def test_a_payment_id_with_an_invisible_character_is_refused(book, tmp_path, payment_id):
    f = write(tmp_path, "bank.csv", f"{H}\nx1,acme,2026-04-15,5.00,a\n{payment_id},acme,2026-04-15,5.00,b\n")
    before = tree(book)
    result = post(book, f)
    assert result.exit_code == 1 and f"{f}:3: E0417: " in result.stderr, result.stderr
    assert tree(book) == before


def test_a_10_mb_reference_is_posted_or_refused_at_its_line_never_half_done(book, tmp_path):
    f = write(tmp_path, "bank.csv", f"{H}\nr1,acme,2026-04-15,5.00,{'r' * BIG}\nr2,acme,2026-04-15,6.00,short\n")
    before = tree(book)
    result = post(book, f)
    assert result.seconds < LIMIT
    assert len(result.stderr) < MAX_DIAGNOSTICS
    if result.exit_code == 0:
        assert check(_load(book)) == []
        assert query_json(book, "SELECT length(reference) AS n FROM payments WHERE payment_id = 'r1'") == [{"n": BIG}]
        rebuilt = run(book, "ledger", "rebuild")
        assert rebuilt.exit_code == 0, rebuilt.stderr
    else:
        assert result.exit_code == 1
        assert f"{f}:2: " in result.stderr, result.stderr[:500]
        assert tree(book) == before


# --- query: one read-only statement, no file access -------------------------------------------
QUERIES = {
    "COPY TO a file": "COPY (SELECT * FROM payments) TO '{out}/leak.csv'",
    "COPY TO hidden after a comment": "SELECT 1 /* ; */ ; COPY payments TO '{out}/leak.csv'",
    "ATTACH": "ATTACH '{out}/other.duckdb' AS other",
    "INSTALL": "INSTALL httpfs",
    "LOAD": "LOAD httpfs",
    "read_csv of /etc/passwd": "SELECT * FROM read_csv('/etc/passwd')",
    "read_csv_auto of /etc/hostname": "FROM read_csv_auto('/etc/hostname')",
    "a replacement scan of a path": "SELECT * FROM '/etc/passwd'",
    "read_blob": "SELECT * FROM read_blob('/etc/passwd')",
    "sniff_csv": "SELECT * FROM sniff_csv('/etc/passwd')",
    "SET enable_external_access": "SET enable_external_access = true",
    "RESET lock_configuration": "RESET lock_configuration",
    "USE the ledger": "USE ledger",
    "CALL": "CALL pragma_version()",
    "two statements": "SELECT 1; SELECT 2",
    "a read then a write": "SELECT * FROM payments; DELETE FROM ledger.payments",
    "a COPY inside query()": "SELECT * FROM query('COPY (SELECT 1) TO ''{out}/leak.csv''')",
    "EXPLAIN ANALYZE of a file read": "EXPLAIN ANALYZE SELECT * FROM read_csv('/etc/passwd')",
}


@pytest.mark.parametrize("sql", list(QUERIES.values()), ids=list(QUERIES))
def test_query_cannot_write_attach_install_or_read_files(base, tmp_path, sql):
    out = tmp_path / "out"
    out.mkdir()
    before = tree(base)
    result = run(base, "query", sql.format(out=out), "--format", "csv")
    assert result.exit_code == 1, result.stdout
    assert "error[E0424]" in result.stderr, result.stderr
    assert result.stdout == ""
    assert list(out.iterdir()) == []
    assert tree(base) == before
    assert result.seconds < LIMIT


def test_query_still_reads_the_ledger_and_the_settings_stay_locked(base):
    assert query_json(base, "SELECT count(*) AS n FROM payments") == [{"n": 1}]
    assert query_json(base, "SELECT value FROM duckdb_settings() WHERE name = 'enable_external_access'") == [
        {"value": "false"}]
