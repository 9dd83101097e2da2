"""The ledger follows the book (issue #11, class 4): stored allocations are recomputed when a
deal's terms, amendments or fixings change (post-payments, query and `ledger refresh` do
it), `ledger check` proves it (E0440 stale, E0441 orphaned), and a payment profile that
archived files were read with cannot change or go (E0240 from validate).

The figures are computed by hand on `acme-two` facility `tl` (see ledgerkit): 500,000
drawn 2026-02-01, bullet, quarterly, ACT/360, SOFR-3M + 500bps, fixings 4.00% from
2025-12-31, 3.90% from 2026-03-31. First period 2026-02-01 → 2026-05-01 = 89 days.
The book holds unapplied cash (`policy: {unapplied: hold}`), so the unapplied amounts below
stay as they are posted (by default they would settle the next dues as they fall due).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import duckdb
import pytest

from ledgerkit import (BOOK_YAML, HOLD_BOOK_YAML, SOFR_CSV, TWO_DEAL, TWO_YAML, allocations, post_ok, run,
                       snapshot, tree_hash, write_book, write_payments)

@pytest.fixture
def book(tmp_path):
    """The inline test book holding unapplied cash (see the module's docstring)."""
    return write_book(tmp_path / "book", HOLD_BOOK_YAML)


TWO_HEADER = "payment_id,deal,facility,date,amount"
FIRST = "2026-05-01"


def post_two(root, bank, name: str, rows: list[tuple[str, str, str]]):
    """Post rows (payment_id, value date, amount) for acme-two tl."""
    text = TWO_HEADER + "\n" + "".join(f"{p},{TWO_DEAL},tl,{d},{a}\n" for p, d, a in rows)
    return post_ok(root, write_payments(bank, name, text))


def two(root) -> list[tuple[str, str, str | None, str, Decimal]]:
    return allocations(root, TWO_DEAL)


def codes(result) -> list[str]:
    return [d["code"] for d in json.loads(result.stdout)]


def check_json(root):
    return run(root, "ledger", "check", "--format", "json")


# 500,000 × (4.00% + 5.00%) × 89/360 = 44,500 × 0.09 / 0.36 … = 11,125.00 interest; a
# payment of 12,000.00 leaves 875.00 unapplied.
BEFORE = [("T1", FIRST, FIRST, "interest", Decimal("11125.00")), ("T1", FIRST, None, "unapplied", Decimal("875.00"))]


def test_a_spread_edited_after_posting_is_stale_until_refreshed(book, bank):
    post_two(book, bank, "t1.csv", [("T1", FIRST, "12000.00")])
    assert two(book) == BEFORE
    assert run(book, "ledger", "check").exit_code == 0

    (book / TWO_DEAL / "deal.yaml").write_text(TWO_YAML.replace("spread: 500bps", "spread: 600bps"), encoding="utf-8")
    # 500,000 × (4.00% + 6.00%) × 89/360 = 12,361.111… → 12,361.11 due: all 12,000.00 is interest
    result = check_json(book)
    assert result.exit_code == 1
    diags = json.loads(result.stdout)
    # E0440: the allocations no longer follow the book; E0922 (a warning): nor do its stored schedules
    assert [(d["code"], d["file"].endswith("acme-two/deal.yaml")) for d in diags] == [("E0440", True),
                                                                                       ("E0922", False)]
    assert "ledger refresh" in diags[0]["hint"]
    assert two(book) == BEFORE  # check changes nothing

    # schedule --actuals allocates from the book at hand: the new due and what was paid
    actuals = json.loads(run(book, "schedule", TWO_DEAL, "--facility", "tl", "--actuals", "--format", "json").stdout)
    first = next(r for r in actuals["facilities"][0]["rows"] if r["date"] == FIRST)
    assert (first["interest"], first["paid"]["interest"], first["unpaid"]) == ("12361.11", "12000.00", "361.11")

    refreshed = run(book, "ledger", "refresh")
    assert refreshed.exit_code == 0 and "1 facility" in refreshed.stderr
    assert two(book) == [("T1", FIRST, FIRST, "interest", Decimal("12000.00"))]
    assert run(book, "ledger", "check").exit_code == 0
    again = run(book, "ledger", "refresh")
    assert again.exit_code == 0 and "every facility follows the book" in again.stderr


def test_a_changed_fixing_is_followed_by_query(book, bank):
    post_two(book, bank, "t1.csv", [("T1", FIRST, "12000.00")])
    (book / "rates" / "SOFR-3M.csv").write_text(SOFR_CSV.replace("2025-12-31,4.00%", "2025-12-31,4.50%"),
                                                encoding="utf-8")
    # 500,000 × (4.50% + 5.00%) × 89/360 = 11,743.055… → 11,743.06; 12,000.00 − 11,743.06 = 256.94 unapplied
    assert codes(check_json(book)) == ["E0440", "E0922"]  # E0922: its stored schedules too
    result = run(book, "query", "SELECT component, amount FROM allocations WHERE deal = 'acme-two' ORDER BY seq",
                 "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["interest,11743.0600", "unapplied,256.9400"]  # DECIMAL(28,4)
    assert run(book, "ledger", "check").exit_code == 0


def test_an_amendment_after_posting_is_followed_by_the_next_post(book, bank):
    # T1 settles the first period as in BEFORE; the second period 2026-05-01 → 2026-08-01 =
    # 92 days on the 3.90% fixing of 2026-03-31: 500,000 × 8.90% × 92/360 = 11,372.22, so T2
    # of 12,000.00 leaves 627.78 unapplied
    post_two(book, bank, "t2.csv", [("T1", FIRST, "12000.00"), ("T2", "2026-08-01", "12000.00")])
    assert [a[3:] for a in two(book)][2:] == [("interest", Decimal("11372.22")), ("unapplied", Decimal("627.78"))]
    (book / TWO_DEAL / "amendments").mkdir()
    (book / TWO_DEAL / "amendments" / "001-repricing.yaml").write_text(
        "id: 001-repricing\neffective_date: 2026-05-01\ndescription: Repricing by 100 bps\n"
        "approvals: [{by: jane.doe, role: credit_officer, date: 2026-04-20, decision: approved}]\n"
        "changes:\n  - {facility: tl, set: {interest.spread: 600bps}}\n", encoding="utf-8")
    assert codes(check_json(book)) == ["E0440", "E0922"]  # E0922: its stored schedules too
    # a payment for the other deal: the post also brings acme-two up to date
    # 500,000 × (3.90% + 6.00%) × 92/360 = 12,650.00 due: all 12,000.00 is interest
    result = post_ok(book, write_payments(bank, "f1.csv", "payment_id,deal,date,amount\nF1,acme-fixed,2026-04-15,"
                                                          "259000.00\n"))
    assert "recomputed the allocations of 1 facility" in result.stderr
    assert [a[3:] for a in two(book)][2:] == [("interest", Decimal("12000.00"))]
    assert two(book)[:2] == BEFORE  # the first period is before the amendment's effective date
    assert run(book, "ledger", "check").exit_code == 0


def test_a_rebuild_records_the_fingerprints(book, bank):
    post_two(book, bank, "t1.csv", [("T1", FIRST, "12000.00")])
    assert run(book, "ledger", "rebuild").exit_code == 0
    assert run(book, "ledger", "check").exit_code == 0
    result = run(book, "ledger", "refresh")
    assert "every facility follows the book" in result.stderr


def test_a_ledger_without_fingerprints_is_proved_not_trusted(book, bank):
    """A ledger from before fingerprints (emulated: the table emptied) is checked by
    recomputing: an unchanged book is clean, a changed one is stale."""
    from loanctl.ledger.db import ledger_path
    post_two(book, bank, "t1.csv", [("T1", FIRST, "12000.00")])
    con = duckdb.connect(str(ledger_path(book)))
    con.execute("DELETE FROM facility_inputs")
    con.close()
    assert run(book, "ledger", "check").exit_code == 0
    (book / TWO_DEAL / "deal.yaml").write_text(TWO_YAML.replace("spread: 500bps", "spread: 600bps"), encoding="utf-8")
    assert codes(check_json(book)) == ["E0440", "E0922"]  # E0922: its stored schedules too


def test_payments_of_a_deal_the_book_lost_are_reported(book, bank):
    post_two(book, bank, "t1.csv", [("T1", FIRST, "12000.00")])
    before = snapshot(book)
    (book / TWO_DEAL / "deal.yaml").unlink()
    (book / TWO_DEAL).rmdir()
    result = check_json(book)
    assert result.exit_code == 1
    assert codes(result) == ["E0441"] and "acme-two" in json.loads(result.stdout)[0]["message"]
    assert run(book, "ledger", "refresh").exit_code == 0  # left alone, not dropped
    assert snapshot(book) == before


# --- payment profiles used by archived files ------------------------------------------------
BANKX = "Txn ID,Loan,Value Date,Amt\nB-1,acme-fixed,15/04/2026,259000.00\n"


def posted_with_bankx(book, bank) -> str:
    post_ok(book, write_payments(bank, "bankx.csv", BANKX), extra=("--profile", "bankx"))
    archive = f"2026-12-01-{hashlib.sha256(BANKX.encode()).hexdigest()[:12]}.csv"
    assert (book / "payments" / f"{archive}.profile").read_text() == "bankx\n"
    # the definition's digest at post time: sha256 of its canonical JSON
    definition = {"columns": {"payment_id": "Txn ID", "deal": "Loan", "date": "Value Date", "amount": "Amt"},
                  "date_format": "%d/%m/%Y"}
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert (book / "payments" / f"{archive}.profile.sha256").read_text() == f"bankx {digest}\n"
    return archive


def validate(book) -> tuple[int, list[dict]]:
    result = run(book, "validate", "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def line_col(text: str, needle: str) -> tuple[int, int]:
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def test_a_changed_profile_used_by_an_archived_file_is_a_validate_error(book, bank):
    archive = posted_with_bankx(book, bank)
    changed = HOLD_BOOK_YAML.replace('"%d/%m/%Y"', '"%m/%d/%Y"')  # 15/04/2026 would no longer read
    (book / "book.yaml").write_text(changed, encoding="utf-8")
    before = tree_hash(book)
    code, diags = validate(book)
    assert code == 1
    assert [(d["code"], d["file"].endswith("book.yaml"), d["line"], d["column"]) for d in diags] == [
        ("E0240", True, *line_col(changed, "bankx:"))]
    assert "'bankx'" in diags[0]["message"] and archive in diags[0]["message"]
    assert "new profile name" in diags[0]["hint"]
    rebuild = run(book, "ledger", "rebuild")  # a rebuild would read the archive differently: refused
    assert rebuild.exit_code == 1 and "E0240" in rebuild.stderr
    assert tree_hash(book) == before


def test_a_removed_profile_used_by_an_archived_file_is_a_validate_error(book, bank):
    archive = posted_with_bankx(book, bank)
    renamed = HOLD_BOOK_YAML.replace("  bankx:", "  banky:")
    (book / "book.yaml").write_text(renamed, encoding="utf-8")
    code, diags = validate(book)
    assert code == 1
    assert [(d["code"], d["line"], d["column"]) for d in diags] == [("E0240", *line_col(renamed, "payment_profiles:"))]
    assert archive in diags[0]["message"] and "removed" in diags[0]["message"]


def test_a_new_profile_beside_the_used_one_is_fine(book, bank):
    posted_with_bankx(book, bank)
    added = HOLD_BOOK_YAML + '  banky:\n    columns: {payment_id: "Ref"}\n'
    (book / "book.yaml").write_text(added, encoding="utf-8")
    assert validate(book) == (0, [])


def test_the_unapplied_cash_policy_changed_after_posting_is_stale_until_refreshed(book, bank):
    """`policy.unapplied` decides the allocation (SPEC §4.3), so it is in every fingerprint."""
    post_two(book, bank, "t1.csv", [("T1", FIRST, "12000.00")])
    assert two(book) == BEFORE  # held: 875.00 stays unapplied
    (book / "book.yaml").write_text(BOOK_YAML, encoding="utf-8")  # the default: apply it as dues fall due
    assert codes(check_json(book)) == ["E0440", "E0922"]
    assert two(book) == BEFORE  # check changes nothing
    assert run(book, "ledger", "refresh").exit_code == 0
    # the next due, interest on 2026-08-01: 500,000 × (3.90% + 5.00%) × 92/360 = 11,372.22; the
    # 875.00 settles 875.00 of it that day, and leaves suspense by a negative unapplied row
    assert two(book) == BEFORE + [("T1", FIRST, "2026-08-01", "interest", Decimal("875.00")),
                                  ("T1", FIRST, None, "unapplied", Decimal("-875.00"))]
    assert run(book, "ledger", "check").exit_code == 0
