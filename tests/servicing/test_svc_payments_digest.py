"""The payments digests post-payments and rebuild keep (ledger/stored_positions.py, issue #19):
a report's stored positions are keyed by each facility's payments up to the as-of date; the
digests of all of them are kept in `meta` when the payments are written, so a report need not
hash every payment. Here: the kept digests give exactly what hashing the payments gives, for
as-of dates after, between and before the payments, after a first post, a second post (only its
facilities recomputed) and a rebuild; and a ledger written without keeping them (an older
loanctl, a hand edit) is hashed as before, so a new payment is never missed."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from ledgerkit import FIXED_DEAL, FIXED_YAML, TWO_DEAL, TWO_YAML, post_rows, row, run, write_book

# the digest as the report defined it before it was kept: hashed over every payment on each report
HASHED = ("SELECT deal, facility, count(*) || ':' || sum(hash(payment_id, value_date, amount, currency, type, "
          "reference, reverses, file, line))::HUGEINT || ':' || bit_xor(hash(payment_id, amount, value_date)) "
          "FROM payments WHERE value_date <= ? GROUP BY deal, facility")
DAYS = [date(2026, 11, 28), date(2026, 7, 1), date(2026, 2, 1), date(2025, 12, 31)]


def ledger(book, read_only=True):
    return duckdb.connect(str(book / ".loanctl" / "ledger.duckdb"), read_only=read_only)


def check(book) -> None:
    from loanctl.ledger.stored_positions import PAID_KEY, payments_digests, payments_token
    con = ledger(book)
    try:
        kept = con.execute("SELECT value FROM meta WHERE key = ?", [PAID_KEY]).fetchone()
        assert kept is not None and payments_token(con) in kept[0]  # kept, and for these files
        for on in DAYS:
            assert payments_digests(con, on) == {(d, f): h for d, f, h in con.execute(HASHED, [on]).fetchall()}
    finally:
        con.close()


@pytest.fixture
def small(tmp_path, bank):
    book = write_book(tmp_path / "book", deals={FIXED_DEAL: FIXED_YAML, TWO_DEAL: TWO_YAML})
    post_rows(book, bank, "p1.csv", [row("c-1", "2026-01-15", "10000.00"), row("q1", "2026-04-15", "259000.00")])
    return book


def test_kept_digests_equal_the_hashed_ones_after_posts_and_a_rebuild(small, bank):
    check(small)
    post_rows(small, bank, "p2.csv", [row("q2", "2026-07-15", "259325.00")])
    check(small)
    post_rows(small, bank, "p3.csv", [("t-1", TWO_DEAL, "rcf", "2026-03-01", "1000.00", "", "")],
              header="payment_id,deal,facility,date,amount,type,reference")
    check(small)
    con = ledger(small)
    assert con.execute("SELECT count(DISTINCT deal) FROM payments").fetchone()[0] == 2
    con.close()
    assert run(small, "ledger", "rebuild").exit_code == 0
    check(small)


def hashed_now(book, on):
    con = ledger(book)
    try:
        from loanctl.ledger.stored_positions import payments_digests
        return payments_digests(con, on), {(d, f): h for d, f, h in con.execute(HASHED, [on]).fetchall()}
    finally:
        con.close()


@pytest.mark.parametrize("with_file", [True, False])
def test_payments_written_without_keeping_the_digests_are_hashed(small, with_file):
    on = date(2026, 11, 28)
    before, _ = hashed_now(small, on)
    con = ledger(small, read_only=False)
    # what an older loanctl's post writes (a file and its payment), or a hand edit (the payment alone)
    if with_file:
        con.execute("INSERT INTO payment_files VALUES ('2026-12-02-x.csv', 'ab', 'x.csv', DATE '2026-12-02', 1, 9, "
                    "NULL)")
    con.execute("INSERT INTO payments VALUES ('q2', ?, 'tl', DATE '2026-07-15', 259325.00, 'USD', 'payment', '', "
                "'2026-12-02-x.csv', 2, NULL)", [FIXED_DEAL])
    con.close()
    after, hashed = hashed_now(small, on)
    assert after == hashed
    assert after[(FIXED_DEAL, "tl")] != before[(FIXED_DEAL, "tl")]
