"""Large clean payment files take a vectorised DuckDB path in `post` (files ≥
`FAST_PATH_BYTES`); a file with any problem falls back to the row-by-row parser. Whichever
path posts a file, the ledger must be the same — in particular equal to `ledger rebuild`,
which reads large archived files the same vectorised way, with the same fallback, and must
give the same ledger read row by row (SPEC §1.1, §4.3)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path


from ledgerkit import allocations, post, post_ok, run, snapshot, spy_on, tree_hash, write_book
from loanctl.ledger import staging

DATES = ["2026-01-15", "2026-03-02", "2026-04-15", "2026-06-01", "2026-07-15"]


def big_rows(n: int, reference=lambda i: f"FED {i:06d}", start: int = 0) -> list[str]:
    return [f"k{i:06d},acme-fixed,{DATES[i % len(DATES)]},0.01,{reference(i)}" for i in range(start, start + n)]


def write_big(path: Path, lines: list[str], header: str = "payment_id,deal,date,amount,reference",
              newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join([header] + lines) + newline).encode())
    assert path.stat().st_size >= staging.FAST_PATH_BYTES
    return path


def assert_rebuild_is_identical(root: Path) -> None:
    before = snapshot(root)
    result = run(root, "ledger", "rebuild")
    assert result.exit_code == 0, result.stderr
    assert snapshot(root) == before


def test_a_large_clean_file_is_posted_by_the_fast_path_with_file_line_numbers(book, bank, fast_calls):
    f = write_big(bank / "big.csv", big_rows(8000))
    post_ok(book, f)
    assert fast_calls == [True]
    payments = snapshot(book)["payments"]
    assert len(payments) == 8000
    assert all(p[9] == int(p[0][1:]) + 2 for p in payments)  # k000000 is on line 2 (p[9]: line)
    assert run(book, "ledger", "check").exit_code == 0
    assert_rebuild_is_identical(book)


def test_fast_and_row_by_row_paths_allocate_identically(tmp_path, fast_calls):
    lines = big_rows(8000)
    fast = write_book(tmp_path / "fast")
    post_ok(fast, write_big(tmp_path / "bank" / "big.csv", lines))
    slow = write_book(tmp_path / "slow")
    for i in range(0, 8000, 2000):  # the same rows in files below the threshold
        chunk = tmp_path / "bank" / f"chunk{i}.csv"
        chunk.write_text("\n".join(["payment_id,deal,date,amount,reference"] + lines[i:i + 2000]) + "\n")
        post_ok(slow, chunk)
    assert fast_calls == [True]
    assert snapshot(fast)["allocations"] == snapshot(slow)["allocations"]


def test_a_bad_row_in_a_large_file_falls_back_and_is_reported_at_its_line(book, bank, fast_calls):
    post_ok(book, write_big(bank / "first.csv", big_rows(7000)))
    lines = big_rows(8000, start=10000)
    lines[4321] = lines[4321].replace(",0.01,", ",0.001,")
    lines[6000] = lines[6000].replace("acme-fixed", "acme-nope")
    f = write_big(bank / "big.csv", lines)
    before = tree_hash(book)
    result = post(book, f)
    assert result.exit_code == 1
    assert fast_calls == [True, False]
    assert f"{f}:4323: E0408: " in result.stderr
    assert f"{f}:6002: E0404: " in result.stderr
    assert tree_hash(book) == before


def test_a_large_crlf_file_with_a_profile_posts_and_rebuilds(tmp_path, fast_calls):
    root = write_book(tmp_path / "book")
    lines = [f"B{i:06d},acme-fixed,{d[8:10]}/{d[5:7]}/{d[:4]},0.01,ref {i}"
             for i in range(8000) for d in [DATES[i % len(DATES)]]]
    f = write_big(tmp_path / "bank" / "bankx.csv", lines, "Txn ID,Loan,Value Date,Amt,Reference", "\r\n")
    post_ok(root, f, extra=("--profile", "bankx"))
    first = allocations(root)[0]
    assert (first[0], first[1]) == ("B000000", "2026-01-15")
    assert run(root, "ledger", "check").exit_code == 0
    assert_rebuild_is_identical(root)


def test_rebuild_equals_a_fast_path_post_with_empty_references(book, bank, fast_calls):
    post_ok(book, write_big(bank / "big.csv", big_rows(8000, reference=lambda i: "")))
    assert fast_calls == [True]
    assert_rebuild_is_identical(book)


def test_rebuild_equals_a_fast_path_post_of_a_file_with_duplicates(book, bank, fast_calls):
    first = bank / "first.csv"
    first.write_text("\n".join(["payment_id,deal,date,amount,reference"] + big_rows(1000)) + "\n")
    post_ok(book, first, day="2026-12-01")  # small: the row-by-row path
    post_ok(book, write_big(bank / "big.csv", big_rows(8000)), day="2026-12-02")
    assert fast_calls == [True]
    assert_rebuild_is_identical(book)


def test_a_rebuild_reads_large_archived_files_the_vectorised_way_with_the_same_fallback(book, bank, monkeypatch):
    post_ok(book, write_big(bank / "big.csv", big_rows(8000)), day="2026-12-01")
    quoted = big_rows(8000, reference=lambda i: f'"FED, {i:06d}"', start=10000)  # quotes: row by row
    post_ok(book, write_big(bank / "quoted.csv", quoted), day="2026-12-02")
    bankx = [f"B{i:06d},acme-fixed,{d[8:10]}/{d[5:7]}/{d[:4]},0.01,ref {i}"
             for i in range(8000) for d in [DATES[i % len(DATES)]]]
    post_ok(book, write_big(bank / "bankx.csv", bankx, "Txn ID,Loan,Value Date,Amt,Reference", "\r\n"),
            day="2026-12-03", extra=("--profile", "bankx"))
    small = bank / "small.csv"
    small.write_text("payment_id,deal,date,amount\ns-1,acme-fixed,2026-04-15,1.00\n")
    post_ok(book, small, day="2026-12-04")
    before = snapshot(book)
    assert len(before["payments"]) == 3 * 8000 + 1 and len(before["payment_files"]) == 4

    calls = spy_on(monkeypatch, staging, "stage_vectorised")
    assert_rebuild_is_identical(book)
    assert calls == [True, True]  # the clean file and the bank's (with its profile); not the quoted or small one

    monkeypatch.setattr(staging, "FAST_PATH_BYTES", 10 ** 15)  # every file row by row: the same ledger
    assert_rebuild_is_identical(book)
    assert snapshot(book) == before and calls == [True, True]

    # an archived file edited afterwards: the vectorised reader refuses it, the row-by-row parser says where
    monkeypatch.setattr(staging, "FAST_PATH_BYTES", 256 * 1024)
    archived = sorted((book / "payments").glob("2026-12-01-*.csv"))[0]
    lines = archived.read_text().split("\n")
    lines[4322] = lines[4322].replace(",0.01,", ",0.001,")  # line 4323: k004321
    archived.write_text("\n".join(lines))
    result = run(book, "ledger", "rebuild")
    assert result.exit_code == 1
    assert f"{archived}:4323" in result.stderr and "E0408" in result.stderr, result.stderr
    assert calls == [True, True, False, True]  # files in name order: the edited one, then the bank's
    assert snapshot(book) == before


def test_two_concurrent_large_posts_on_the_fast_path(tmp_path):
    """Both large files go through the vectorised path in two processes at once."""
    import subprocess

    from ledgerkit import loanctl_cmd, subprocess_env
    root = write_book(tmp_path / "book")
    a = write_big(tmp_path / "bank" / "a.csv", big_rows(8000))
    b = write_big(tmp_path / "bank" / "b.csv", big_rows(8000, start=50000))
    procs = [subprocess.Popen(loanctl_cmd(root, "post-payments", f, "--posting-day", "2026-12-01"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=subprocess_env())
             for f in (a, b)]
    codes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stderr.close()
    assert all(c == 0 or (c == 1 and "E0421" in err) for c, err in codes), codes
    ok = [f for f, (c, _) in zip((a, b), codes) if c == 0]
    assert ok
    reference = write_book(tmp_path / "reference")
    for f in ok:
        post_ok(reference, f)
    assert snapshot(root) == snapshot(reference)
    assert run(root, "ledger", "check").exit_code == 0


def test_a_streamed_post_sums_each_deal_as_the_dry_run_of_the_same_file_does(book, bank, fast_calls):
    # the fast path never holds the posted payments: its per-deal totals come from the ledger
    # (count, amount) and the workers (unapplied cash); a dry run reads the file row by row and
    # sums the payments it kept
    import json
    lines = big_rows(8000)
    lines[0] = "k000000,acme-fixed,2026-01-15,9000000.00,FED big"  # far more than is due: cash left unapplied
    f = write_big(bank / "big.csv", lines)
    dry = json.loads(post_ok(book, f, extra=("--dry-run", "--format", "json")).stdout)
    posted = json.loads(post_ok(book, f, extra=("--format", "json")).stdout)
    assert fast_calls == [True]
    assert posted["posted"] == dry["posted"] == 8000
    assert posted["deals"] == dry["deals"]
    assert [(d["deal"], d["currency"], d["payments"], d["amount"]) for d in posted["deals"]] == [
        ("acme-fixed", "USD", 8000, "9000079.99")]  # 7,999 × 0.01 + 9,000,000.00
    assert Decimal(posted["deals"][0]["unapplied"]) > 0


def test_cells_need_no_trimming_only_when_every_byte_is_printable_ascii_and_no_space_borders_a_cell():
    assert staging._plain(b"id,deal\np 1,acme\n")
    for body in (b"id,deal\np 1 ,acme\n", b"id,deal\np,  acme\n", b"id,deal\n p,acme\n", b"id,deal\np,acme \n",
                 b"id,deal\np,\tacme\n", b"id,deal\r\np,acme\r\n", "id,deal\np,acme\u00a0\n".encode(),
                 "id,deal\np,ацме\n".encode()):
        assert not staging._plain(body), body
