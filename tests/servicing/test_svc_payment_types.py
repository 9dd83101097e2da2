"""Payment types end to end from the command line (SPEC §4.1–4.3, issue #13 items 1–3):
repayment (revolver only), payoff, reversal with its `reverses` column; a revolver drawn,
repaid and redrawn; `loanctl payoff`; and every bad row refused with FILE:LINE, its code,
nothing posted (archive and ledger byte-for-byte unchanged).

Figures are computed by hand in each test. The books are ledgerkit's (acme-fixed: 1,000,000
at 3.6% ACT/360 = 100.00 a day per million, 250,000 a quarter, prepayment fee 2% until
2026-07-15) plus `acme-rcf` below: a revolver `rcf` (10,000,000 committed, 6,000,000 drawn
at closing, 7.2% ACT/360, commitment fee 50bps on the undrawn) and a delayed-draw `ddtl`.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from ledgerkit import (FIXED_DEAL, FIXED_YAML, HEADER, TWO_DEAL, TWO_YAML, days, positions, post, post_ok,
                       post_rows, row, run, snapshot, tree_hash, write_book, write_payments)
from bookfactory import acme_deal, facility_yaml

RCF_DEAL = "acme-rcf"
FIRST_DRAW = "draws: [{date: 2026-01-15, amount: 6000000}]"
RCF_YAML = acme_deal(
    RCF_DEAL, "Acme revolver and delayed-draw",
    facility_yaml("rcf", "revolver", "10000000", "2026-01-15", "2027-01-15", {"fixed_rate": "7.2%", "day_count": "ACT/360"},
                  {"fund-a": "100%"}, fees=("{type: commitment, rate: 50bps}",), draws="[{date: 2026-01-15, amount: 6000000}]"),
    facility_yaml("ddtl", "delayed_draw", "1000000", "2026-01-15", "2027-01-15",
                  {"fixed_rate": "7.2%", "day_count": "ACT/360"}, {"fund-b": "100%"},
                  extra="availability_end: 2026-07-15", draws="[{date: 2026-01-15, amount: 500000}]"))
H = "payment_id,deal,facility,date,amount,type,reverses"


def make_book(root: Path) -> Path:
    return write_book(root, deals={FIXED_DEAL: FIXED_YAML, TWO_DEAL: TWO_YAML, RCF_DEAL: RCF_YAML})


def redraw(root: Path, amount: str, on: str = "2026-03-16") -> str:
    """deal.yaml of acme-rcf with a second draw added (as an operations person would)."""
    text = RCF_YAML.replace(FIRST_DRAW, "draws: [{date: 2026-01-15, amount: 6000000}, "
                                        f"{{date: {on}, amount: {amount}}}]")
    (root / RCF_DEAL / "deal.yaml").write_text(text, encoding="utf-8")
    return text


# --- bad rows -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """c-1 (closing fee), p1 (the 2026-04-15 due, 259,000.00) and p2 (100.00 on 2026-07-15)
    posted on acme-fixed, then rv1 reversing p2."""
    root = make_book(tmp_path_factory.mktemp("types") / "book")
    bank = tmp_path_factory.mktemp("bank")
    post_ok(root, write_payments(bank, "base.csv", "\n".join([
        H, "c-1,acme-fixed,,2026-01-15,10000.00,,", "p1,acme-fixed,,2026-04-15,259000.00,,",
        "p2,acme-fixed,,2026-07-15,100.00,,"]) + "\n"))
    post_ok(root, write_payments(bank, "rev.csv", H + "\nrv1,acme-fixed,,2026-07-20,100.00,reversal,p2\n"))
    return root


@pytest.fixture
def copy(baseline, tmp_path) -> Path:
    return Path(shutil.copytree(baseline, tmp_path / "book"))


OK_ROW = "n0,acme-fixed,,2026-05-01,1.00,,"
# (name, rows after the header, code, line — header = 1)
BAD = [
    ("repayment on a term loan", ["n1,acme-fixed,,2026-05-01,100.00,repayment,"], "E0434", 2),
    ("repayment on a delayed-draw facility", [OK_ROW, "n1,acme-rcf,ddtl,2026-05-01,100.00,repayment,"], "E0434", 3),
    ("payoff dated after maturity", ["n1,acme-fixed,,2027-01-16,800000.00,payoff,"], "E0435", 2),
    ("reversal without reverses", ["n1,acme-fixed,,2026-05-01,259000.00,reversal,"], "E0436", 2),
    ("reverses on a scheduled payment", ["n1,acme-fixed,,2026-05-01,259000.00,scheduled,p1"], "E0436", 2),
    ("reversal of an unknown payment", [OK_ROW, "n1,acme-fixed,,2026-05-01,259000.00,reversal,p9"], "E0437", 3),
    ("reversal of a reversal", ["n1,acme-fixed,,2026-08-01,100.00,reversal,rv1"], "E0438", 2),
    ("reversing a payment the ledger shows reversed", ["n1,acme-fixed,,2026-08-01,100.00,reversal,p2"], "E0438", 2),
    ("reversing twice in one file", ["n1,acme-fixed,,2026-04-20,259000.00,reversal,p1",
                                     "n2,acme-fixed,,2026-04-21,259000.00,reversal,p1"], "E0438", 3),
    ("reversal of another amount", ["n1,acme-fixed,,2026-04-20,258999.00,reversal,p1"], "E0438", 2),
    ("reversal on another deal and facility", ["n1,acme-rcf,rcf,2026-04-20,259000.00,reversal,p1"], "E0438", 2),
    ("reversal dated before its payment", ["n1,acme-fixed,,2026-04-14,259000.00,reversal,p1"], "E0438", 2),
    ("reversal of itself", ["n1,acme-fixed,,2026-04-20,259000.00,reversal,n1"], "E0438", 2),
]


@pytest.mark.parametrize("name, rows, code, line", BAD, ids=[b[0] for b in BAD])
def test_bad_payment_type_rows_post_nothing(copy, tmp_path, name, rows, code, line):
    before = tree_hash(copy)
    f = write_payments(tmp_path / "bank", "bad.csv", "\n".join([H, *rows]) + "\n")
    result = post(copy, f)
    assert result.exit_code == 1, result.stdout
    assert f"{f}:{line}: {code}:" in result.stderr
    assert "nothing was posted" in result.stderr
    assert tree_hash(copy) == before


def test_a_reversal_of_a_payment_in_the_same_post_is_accepted(copy, tmp_path):
    f = write_payments(tmp_path / "bank", "same.csv", "\n".join([
        H, "q1,acme-fixed,,2026-05-01,500.00,,", "q1-r,acme-fixed,,2026-05-03,500.00,reversal,q1"]) + "\n")
    post_ok(copy, f)
    pays = {p[0]: p for p in snapshot(copy)["payments"]}
    assert pays["q1-r"][-1] == "q1" and pays["q1"][-1] is None  # the reverses column


# --- the vectorised post of large files checks the same rules --------------------------------
PAD = "x" * 1000  # a reference that makes 300 rows a file above the vectorised threshold (256 KB)
BIG_H = "payment_id,deal,facility,date,amount,type,reverses,reference"


def big_file(folder: Path, extra: list[str]) -> Path:
    rows = [f"b{i:04d},acme-fixed,,2026-05-01,1.00,,,{PAD}" for i in range(300)]
    text = "\n".join([BIG_H, *rows, *extra]) + "\n"
    assert len(text.encode()) > 256 * 1024
    return write_payments(folder, "big.csv", text)


@pytest.mark.parametrize("extra, code", [
    ("z1,acme-fixed,,2026-05-01,1.00,repayment,,r", "E0434"),
    ("z1,acme-fixed,,2027-02-01,1.00,payoff,,r", "E0435"),
    ("z1,acme-fixed,,2026-05-01,1.00,reversal,,r", "E0436"),
    ("z1,acme-fixed,,2026-05-01,1.00,reversal,p404,r", "E0437"),
    ("z1,acme-fixed,,2026-08-01,100.00,reversal,rv1,r", "E0438"),
    ("z1,acme-fixed,,2026-05-02,2.00,reversal,b0001,r", "E0438"),
], ids=["repayment-on-term", "payoff-after-maturity", "no-reverses", "unknown", "reversal-of-reversal",
        "amount-differs"])
def test_large_files_are_refused_at_the_same_line(copy, tmp_path, extra, code):
    before = tree_hash(copy)
    f = big_file(tmp_path / "bank", [extra])
    result = post(copy, f)
    assert result.exit_code == 1
    assert f"{f}:302: {code}:" in result.stderr  # header, 300 rows, then the bad one
    assert tree_hash(copy) == before


def test_a_large_clean_file_with_the_new_types_posts_and_rebuilds_the_same(copy, tmp_path):
    f = big_file(tmp_path / "bank", ["z1,acme-rcf,rcf,2026-02-14,4000000.00,repayment,,r",
                                     "z2,acme-fixed,,2026-05-03,1.00,reversal,b0007,r"])
    post_ok(copy, f)
    incremental = snapshot(copy)
    pays = {p[0]: p for p in incremental["payments"]}
    assert (pays["z1"][6], pays["z2"][6], pays["z2"][-1]) == ("repayment", "reversal", "b0007")
    assert run(copy, "ledger", "rebuild").exit_code == 0
    assert snapshot(copy) == incremental


# --- the revolver cycle ---------------------------------------------------------------------
def test_revolver_drawn_repaid_and_redrawn(tmp_path):
    root = make_book(tmp_path / "book")
    bank = tmp_path / "bank"
    # 7,000,000 more on 2026-03-16 before any repayment: 13,000,000 > 10,000,000 committed
    text = redraw(root, "7000000")
    assert run(root, "validate").exit_code == 1
    assert "error[E0210]" in run(root, "validate").stdout
    (root / RCF_DEAL / "deal.yaml").write_text(RCF_YAML, encoding="utf-8")
    # 4,000,000 repaid on 2026-02-14 (no fee, the revolver is available again)
    post_rows(root, bank, "repay.csv", [("r-1", RCF_DEAL, "rcf", "2026-02-14", "4000000.00", "repayment", "")], H)
    text = redraw(root, "7000000")
    ok = run(root, "validate")
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    # available on 2026-03-16: 10,000,000 − (6,000,000 − 4,000,000) = 8,000,000; one more is too much
    text = redraw(root, "8000001")
    bad = run(root, "validate", "--format", "json")
    assert bad.exit_code == 1
    (d,) = [d for d in json.loads(bad.stdout) if d["code"] == "E0275"]
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "8000001" in ln)
    assert d["line"] == line and "8,000,000.00 available" in d["message"]
    redraw(root, "7000000")
    # the first period, 2026-01-15 → 2026-04-15 (90 days), in three 30-day pieces:
    #   01-15 → 02-14  drawn 6,000,000: interest 6,000,000 × 7.2% × 30/360 = 36,000.00
    #                  undrawn 4,000,000: fee   4,000,000 × 0.5% × 30/360 =  1,666.666…
    #   02-14 → 03-16  drawn 2,000,000: interest 2,000,000 × 7.2% × 30/360 = 12,000.00
    #                  undrawn 8,000,000: fee   8,000,000 × 0.5% × 30/360 =  3,333.333…
    #   03-16 → 04-15  drawn 9,000,000: interest 9,000,000 × 7.2% × 30/360 = 54,000.00
    #                  undrawn 1,000,000: fee   1,000,000 × 0.5% × 30/360 =    416.666…
    #   interest 102,000.00; commitment fee 5,416.666… → 5,416.67
    # the second, 2026-04-15 → 2026-07-15 (91 days) on 9,000,000 drawn, 1,000,000 undrawn:
    #   interest 9,000,000 × 7.2% × 91/360 = 163,800.00; fee 1,000,000 × 0.5% × 91/360 = 1,263.888… → 1,263.89
    assert days("2026-01-15", "2026-02-14") == days("2026-02-14", "2026-03-16") == days("2026-03-16", "2026-04-15") == 30
    out = run(root, "schedule", RCF_DEAL, "--facility", "rcf", "--actuals", "--format", "json")
    assert out.exit_code == 0, out.stderr
    rows = {r["date"]: r for f in json.loads(out.stdout)["facilities"] for r in f["rows"]}
    assert (rows["2026-04-15"]["interest"], rows["2026-04-15"]["commitment_fee"]) == ("102000.00", "5416.67")
    assert (rows["2026-07-15"]["interest"], rows["2026-07-15"]["commitment_fee"]) == ("163800.00", "1263.89")
    assert rows["2026-04-15"]["closing_balance"] == "9000000.00"  # 6,000,000 − 4,000,000 + 7,000,000
    # paying the first period's dues leaves nothing past due
    post_rows(root, bank, "q1.csv", [("i-1", RCF_DEAL, "rcf", "2026-04-15", "107416.67", "", "")], H)
    pos = positions(root, "2026-04-16", deal=RCF_DEAL, facility="rcf")[None]
    assert (pos.outstanding_principal, pos.past_due, pos.unfunded) == (Decimal("9000000.00"), 0, Decimal("1000000.00"))


# --- payoff ---------------------------------------------------------------------------------
@pytest.fixture
def paid_to_april(tmp_path) -> Path:
    root = make_book(tmp_path / "book")
    post_rows(root, tmp_path / "bank", "a.csv", [row("c-1", "2026-01-15", "10000.00"),
                                                 row("p1", "2026-04-15", "259000.00")])
    return root


def test_payoff_quote_text_and_json(paid_to_april):
    # on 2026-05-15, after the 2026-04-15 dues were paid: 750,000 outstanding
    #   interest 2026-04-15 → 05-15, 30 days × 750,000 × 3.6% / 360 = 30 × 75.00 = 2,250.00
    #   prepayment fee 2% (until 2026-07-15) × 750,000 repaid early = 15,000.00
    #   total 750,000 + 2,250 + 15,000 = 767,250.00
    assert days("2026-04-15", "2026-05-15") == 30
    out = run(paid_to_april, "payoff", FIXED_DEAL, "--date", "2026-05-15", "--format", "json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout) == {
        "deal": FIXED_DEAL, "facility": "tl", "currency": "USD", "date": "2026-05-15", "past_due": {},
        "interest": "2250.00", "overdue_interest": "0.00", "default_interest": "0.00", "pik": "0.00",
        "commitment_fee": "0.00",
        "principal": "750000.00", "prepayment_fee": "15000.00", "exit_fee": "0.00", "other_fees": "0.00",
        "total": "767250.00", "unapplied": "0.00"}
    text = run(paid_to_april, "payoff", FIXED_DEAL, "--date", "2026-05-15").stdout
    lines = [ln.split() for ln in text.splitlines()]
    assert ["accrued", "interest", "2,250.00"] in lines and ["principal", "750,000.00"] in lines
    assert ["prepayment", "fee", "15,000.00"] in lines and ["total", "767,250.00"] in lines
    # past due before the 2026-04-15 payment: quoted on 2026-04-20 with p1 not yet counted
    # (payments dated before the date count; p1 is dated 04-15, so it does)


def test_payoff_quote_past_due_component(tmp_path):
    root = make_book(tmp_path / "book")
    post_rows(root, tmp_path / "bank", "a.csv", [row("c-1", "2026-01-15", "10000.00")])
    # nothing paid on 2026-04-15: 9,000 interest and 250,000 principal past due on 2026-04-20;
    # then 5 days on 750,000 (375.00) plus the contractual rate on the 250,000 overdue (125.00);
    # prepayment fee 2% × 750,000 = 15,000.00 (the overdue principal was not repaid early)
    out = run(root, "payoff", FIXED_DEAL, "--date", "2026-04-20", "--format", "json")
    q = json.loads(out.stdout)
    assert q["past_due"] == {"interest": "9000.00", "principal": "250000.00"}
    assert (q["interest"], q["overdue_interest"], q["principal"], q["prepayment_fee"]) == (
        "375.00", "125.00", "750000.00", "15000.00")
    assert q["total"] == "1024500.00"  # 259,000 + 375 + 125 + 750,000 + 15,000


def test_payoff_of_the_quote_leaves_nothing_and_closes_the_facility(paid_to_april, tmp_path):
    root = paid_to_april
    post_rows(root, tmp_path / "bank", "po.csv", [row("po", "2026-05-15", "767250.00", "payoff")])
    check = run(root, "ledger", "check")
    assert check.exit_code == 0 and "clean" in check.stderr
    pos = positions(root, "2026-06-01")[None]
    for name in ("outstanding_principal", "accrued_interest", "accrued_pik", "accrued_commitment_fee", "past_due",
                 "unapplied", "unfunded"):
        assert getattr(pos, name) == 0, name
    assert pos.dpd == 0 and pos.paid_off
    # a payment dated after the payoff is refused at its line; nothing changes
    before = tree_hash(root)
    late = write_payments(tmp_path / "bank", "late.csv", [row("ok", "2026-05-10", "1.00"),
                                                          row("late", "2026-06-01", "100.00")])
    result = post(root, late)
    assert result.exit_code == 1 and f"{late}:3: E0439:" in result.stderr
    assert tree_hash(root) == before
    # the quote command says so too
    q = run(root, "payoff", FIXED_DEAL, "--date", "2026-06-15")
    assert q.exit_code == 1 and "E0277" in q.stderr


def test_a_payoff_dated_before_a_posted_payment_is_refused(paid_to_april, tmp_path):
    # on 2026-04-10: 1,000,000 + 85 days × 100.00 = 8,500.00 + 2% × 1,000,000 = 20,000.00 → 1,028,500.00,
    # but p1 (2026-04-15) is already posted: the payoff would leave it after the facility's end
    assert days("2026-01-15", "2026-04-10") == 85
    before = tree_hash(paid_to_april)
    f = write_payments(tmp_path / "bank", "po.csv", [row("po", "2026-04-10", "1028500.00", "payoff")])
    result = post(paid_to_april, f)
    assert result.exit_code == 1 and f"{f}:2: E0439:" in result.stderr and "'p1'" in result.stderr
    assert tree_hash(paid_to_april) == before


@pytest.mark.parametrize("on", ["2026-01-15", "2026-01-14", "2027-01-16"])
def test_payoff_quote_outside_the_facility_life(paid_to_april, on):
    out = run(paid_to_april, "payoff", FIXED_DEAL, "--date", on, "--format", "json")
    assert out.exit_code == 1
    (d,) = json.loads(out.stdout)
    assert d["code"] == "E0276" and d["file"].endswith("acme-fixed/deal.yaml")
    assert d["line"] == next(i for i, ln in enumerate(FIXED_YAML.splitlines(), 1) if "maturity_date" in ln)


def test_payoff_usage_errors(paid_to_april):
    assert run(paid_to_april, "payoff", TWO_DEAL, "--date", "2026-05-15").exit_code == 2  # two facilities
    assert run(paid_to_april, "payoff", FIXED_DEAL, "--facility", "nope", "--date", "2026-05-15").exit_code == 2
    assert run(paid_to_april, "payoff", FIXED_DEAL, "--date", "15/05/2026").exit_code == 2


# --- reversal -------------------------------------------------------------------------------
def test_reversal_reopens_the_dues(paid_to_april, tmp_path):
    root = paid_to_april
    assert positions(root, "2026-05-16")[None].dpd == 0
    post_rows(root, tmp_path / "bank", "r.csv", [("rv", FIXED_DEAL, "", "2026-04-20", "259000.00", "reversal", "p1")],
              H)
    pos = positions(root, "2026-05-16")[None]
    # the wire of 2026-04-15 came back: its 9,000 interest and 250,000 principal are unpaid again,
    # 31 days past due on 2026-05-16 (2026-05-16 − 2026-04-15)
    assert days("2026-04-15", "2026-05-16") == 31
    assert (pos.dpd, pos.dpd_bucket, pos.past_due) == (31, "31-60", Decimal("259000.00"))
    # accrued 04-15 → 05-16 (31 days): 750,000 × 3.6%/360 × 31 = 2,325.00, plus the contractual rate on
    # the 250,000 overdue principal, 25.00 a day × 31 = 775.00
    assert pos.accrued_interest == Decimal("3100.00")
    assert pos.outstanding_principal == Decimal("1000000.00")
    assert run(root, "ledger", "check").exit_code == 0


# --- rebuild = incremental, whatever the order of posting -----------------------------------
FILES = {
    "a.csv": [row("c-1", "2026-01-15", "10000.00"), row("p1", "2026-04-15", "259000.00")],
    "b.csv": [row("p2", "2026-04-25", "259000.00")],
    "c.csv": [("rv", FIXED_DEAL, "", "2026-04-20", "259000.00", "reversal", "p1")],
    "d.csv": [row("po", "2026-05-15", "800000.00", "payoff")],
    "e.csv": [("rr", RCF_DEAL, "rcf", "2026-02-14", "1000000.00", "repayment", ""),
              ("rr-back", RCF_DEAL, "rcf", "2026-02-16", "1000000.00", "reversal", "rr")],
}


@pytest.mark.parametrize("order", [
    [["a.csv"], ["b.csv"], ["c.csv"], ["d.csv"], ["e.csv"]],
    [["a.csv"], ["d.csv", "c.csv", "b.csv"], ["e.csv"]],
    [["e.csv", "d.csv", "c.csv", "b.csv", "a.csv"]],
    [["a.csv", "c.csv"], ["e.csv"], ["b.csv", "d.csv"]],
], ids=["one-by-one", "payoff-first", "all-reversed", "reversal-before-repay"])
def test_rebuild_equals_incremental_whatever_the_order(tmp_path, order):
    root = make_book(tmp_path / "book")
    bank = tmp_path / "bank"
    paths = {n: write_payments(bank, n, rows, HEADER if n in ("a.csv", "b.csv", "d.csv") else H)
             for n, rows in FILES.items()}
    for batch in order:
        post_ok(root, *[paths[n] for n in batch])
    incremental = snapshot(root)
    assert run(root, "ledger", "rebuild").exit_code == 0
    assert snapshot(root) == incremental
    assert run(root, "ledger", "check").exit_code == 0
    # both sides of the reversal stay on record
    comps = {(r[0], r[5]) for r in incremental["allocations"]}
    assert {("rv", "reversal"), ("p1", "reversed"), ("rr-back", "reversal"), ("rr", "reversed")} <= comps
    # p1 reversed, p2 pays the 2026-04-15 dues late, the payoff of 800,000 ends the facility
    pos = positions(root, "2026-06-01")[None]
    assert pos.paid_off and pos.outstanding_principal == 0


def test_a_ledger_of_schema_3_gains_the_reverses_column(paid_to_april, tmp_path):
    """A ledger written before `reverses` (emulated: the column dropped, version 3) is
    migrated on the next write; a reversal then round-trips through a rebuild."""
    import duckdb
    from loanctl.ledger.db import ledger_path
    con = duckdb.connect(str(ledger_path(paid_to_april)))
    con.execute("ALTER TABLE payments DROP COLUMN reverses")
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.close()
    post_rows(paid_to_april, tmp_path / "bank", "r.csv",
              [("rv", FIXED_DEAL, "", "2026-04-20", "259000.00", "reversal", "p1")], H)
    incremental = snapshot(paid_to_april)
    assert {p[0]: p[-1] for p in incremental["payments"]} == {"c-1": None, "p1": None, "rv": "p1"}
    assert run(paid_to_april, "ledger", "rebuild").exit_code == 0
    assert snapshot(paid_to_april) == incremental
