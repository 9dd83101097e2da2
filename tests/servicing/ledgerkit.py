"""The small servicing book (built with bookfactory's `small_book_yaml` and `fixed_term_deal`),
and helpers to post payment files through the real command line and compare ledgers.

The book (`write_book`) holds two funds (fund-a, fund-b), a borrower (acme), a SOFR-3M
rate file and two funded deals:

* `acme-fixed` — one term facility `tl` with round numbers so every due can be computed by
  hand: 1,000,000 at a fixed 3.6% ACT/360 (= 100.00 a day per million), quarterly,
  unadjusted, straight amortization (250,000 a quarter), start 2026-01-15, maturity
  2027-01-15, upfront fee 1% (10,000 on the start date), an agency fee of 2,500 dated
  2026-06-30 (due with the 2026-07-15 payment), prepayment fees 2% until 2026-07-15 and 1%
  until 2027-01-15, participations fund-a 60% / fund-b 40%.

  Its schedule (hand-computed; the tests restate what they rely on):

  | date       | days | opening   | interest | fees   | principal | total due |
  |------------|------|-----------|----------|--------|-----------|-----------|
  | 2026-01-15 |    0 |         0 |        0 | 10,000 |         0 |    10,000 |
  | 2026-04-15 |   90 | 1,000,000 |    9,000 |      0 |   250,000 |   259,000 |
  | 2026-07-15 |   91 |   750,000 |    6,825 |  2,500 |   250,000 |   259,325 |
  | 2026-10-15 |   92 |   500,000 |    4,600 |      0 |   250,000 |   254,600 |
  | 2027-01-15 |   92 |   250,000 |    2,300 |      0 |   250,000 |   252,300 |

* `acme-two` — a term loan `tl` and a revolver `rcf` (for the facility-required check).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

from bookfactory import (UPFRONT_FEE, acme_deal, cli_env, facility_yaml, fixed_term_deal, invoke, loanctl_argv,  # noqa: F401
                         small_book_yaml, tree_hash, write_book_at)

BOOK_YAML = small_book_yaml("Servicing Test Partners", extra="""\
payment_profiles:
  bankx:
    columns: {payment_id: "Txn ID", deal: "Loan", date: "Value Date", amount: "Amt"}
    date_format: "%d/%m/%Y"
""")

HOLD_BOOK_YAML = BOOK_YAML.replace("policy:\n", "policy:\n  unapplied: hold\n", 1)
"""The same book keeping unapplied cash in suspense (`policy.unapplied: hold`, SPEC §4.3) —
for tests about the unapplied amount itself (by default it settles the next dues as they fall due)."""
TWO_PROFILES = BOOK_YAML + """\
  ids-first:
    columns: {payment_id: "Txn ID", reference: "Ref", deal: "Loan", date: "Value Date", amount: "Amt"}
  refs-first:
    columns: {payment_id: "Ref", reference: "Txn ID", deal: "Loan", date: "Value Date", amount: "Amt"}
"""
"""Two profiles that read the same bank header two ways (only the archive's `.profile` sidecar
tells which one a file was posted with)."""
BANK_FILE = ("Txn ID,Ref,Loan,Value Date,Amt\n"
             "T-1,R-1,acme-fixed,2026-04-15,100.00\n"
             "T-2,R-2,acme-fixed,2026-07-15,200.00\n")

FIXED_DEAL = "acme-fixed"
FIXED_YAML = fixed_term_deal(FIXED_DEAL, fees=(
    UPFRONT_FEE, "{type: fixed, amount: 2500, date: 2026-06-30, name: agency fee}",
    "{type: prepayment, schedule: [{until: 2026-07-15, rate: 2%}, {until: 2027-01-15, rate: 1%}]}"))

TWO_DEAL = "acme-two"
TWO_YAML = acme_deal(
    TWO_DEAL, "Acme term loan and revolver",
    facility_yaml("tl", "term", "500000", "2026-02-01", "2028-02-01",
                  {"index": "SOFR-3M", "spread": "500bps", "day_count": "ACT/360"}, {"fund-a": "100%"}),
    facility_yaml("rcf", "revolver", "200000", "2026-03-01", "2028-02-01", {"fixed_rate": "6%", "day_count": "ACT/360"},
                  {"fund-b": "100%"}, draws="[{date: 2026-03-01, amount: 50000}]"))

SOFR_CSV = "date,rate\n2025-12-31,4.00%\n2026-03-31,3.90%\n2026-06-30,3.80%\n"

HEADER = "payment_id,deal,date,amount,type,reference"


def write_book(root: Path, book_yaml: str = BOOK_YAML, deals: dict[str, str] | None = None) -> Path:
    """The test book under `root` (created); `deals` maps deal id → deal.yaml text."""
    return write_book_at(root, book_yaml, {FIXED_DEAL: FIXED_YAML, TWO_DEAL: TWO_YAML} if deals is None else deals,
                         {"SOFR-3M": SOFR_CSV})


def payment_csv(rows: list[tuple], header: str = HEADER, newline: str = "\n") -> str:
    """CSV text of `rows` under `header` (values written as given, quoted where needed)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header.split(","))
    w.writerows(rows)
    return buf.getvalue()


def write_payments(folder: Path, name: str, rows: list[tuple] | str | bytes, header: str = HEADER) -> Path:
    """A payment file outside the book (as a bank export would be)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(rows, bytes):
        path.write_bytes(rows)
    elif isinstance(rows, str):
        path.write_text(rows, encoding="utf-8", newline="")
    else:
        path.write_text(payment_csv(rows, header), encoding="utf-8", newline="")
    return path


# --- running the command line -----------------------------------------------------------------
def run(root: Path, *args) -> "object":
    """`loanctl --book ROOT ARGS` in-process; an unexpected exception fails the test loudly.
    `--no-cache` sets LOANCTL_NO_CACHE for its process: here it is put back as it was after."""
    flag = os.environ.get("LOANCTL_NO_CACHE")
    try:
        result = invoke(["--book", root, *args])
    finally:
        if flag is None:
            os.environ.pop("LOANCTL_NO_CACHE", None)
        else:
            os.environ["LOANCTL_NO_CACHE"] = flag
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def assert_same_failure(root: Path, *args) -> "object":
    """`loanctl ARGS` fails alike from the kept state, with `--no-cache` and after `.loanctl/`
    is deleted: exit 1, nothing on stdout, the same diagnostics. Returns the first run."""
    kept = run(root, *args)
    uncached = run(root, "--no-cache", *args)
    shutil.rmtree(root / ".loanctl")
    clean = run(root, *args)
    assert kept.exit_code == uncached.exit_code == clean.exit_code == 1
    assert kept.stdout == uncached.stdout == clean.stdout == ""
    assert kept.stderr == uncached.stderr == clean.stderr
    return kept


def post(root: Path, *files: Path, day: str = "2026-12-01", extra: tuple = ()) -> "object":
    """`loanctl --book ROOT post-payments FILES --posting-day DAY` (fixed posting day, so
    archive names do not depend on the clock)."""
    return run(root, "post-payments", *files, "--posting-day", day, *extra)


def post_ok(root: Path, *files: Path, day: str = "2026-12-01", extra: tuple = ()):
    result = post(root, *files, day=day, extra=extra)
    assert result.exit_code == 0, result.stderr + result.stdout
    return result


def loanctl_cmd(root: Path, *args) -> list[str]:
    """argv of `python -m loanctl --book ROOT ARGS` (this interpreter: no activated venv needed)."""
    return loanctl_argv("--book", root, *args)


def subprocess_env() -> dict:
    return cli_env()


def run_sub(root: Path, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(loanctl_cmd(root, *args), capture_output=True, text=True, timeout=timeout,
                          env=subprocess_env())


def spy_on(monkeypatch, module, name: str) -> list:
    """What each call of `module.name` returns, in order (the function still runs)."""
    calls: list = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(original(*args, **kwargs))
        return calls[-1]
    monkeypatch.setattr(module, name, spy)
    return calls


# --- reading the ledger -----------------------------------------------------------------------
def snapshot(root: Path) -> dict:
    from loanctl.ledger.db import snapshot as snap
    return snap(root)


def allocations(root: Path, deal: str = FIXED_DEAL) -> list[tuple[str, str, str | None, str, Decimal]]:
    """(payment_id, value_date, due_date, component, amount) rows of a deal, in ledger order."""
    import duckdb
    from loanctl.ledger.db import ledger_path
    con = duckdb.connect(str(ledger_path(root)), read_only=True)
    try:
        rows = con.execute("SELECT payment_id, value_date, due_date, component, amount FROM allocations "
                           "WHERE deal = ? ORDER BY facility, seq", [deal]).fetchall()
    finally:
        con.close()
    return [(p, v.isoformat(), d.isoformat() if d else None, c, Decimal(a)) for p, v, d, c, a in rows]


def row(payment_id: str, value_date: str, amount: str, type: str = "", reference: str = "",
        deal: str = FIXED_DEAL) -> tuple:
    """One payment row under HEADER."""
    return (payment_id, deal, value_date, amount, type, reference)


def positions(root: Path, as_of: str, deal: str = FIXED_DEAL, facility: str = "tl") -> dict:
    """Positions through the library: {None: the facility, "fund-a": ..., "fund-b": ...}."""
    from loanctl.api import load_valid_book
    from loanctl.ledger.db import ledger_payments
    from loanctl.servicing.positions import lender_position

    loaded, errors = load_valid_book(root)
    assert not errors, errors
    pays = [p for p in ledger_payments(root) if p.deal == deal and p.facility == facility]
    fa, whole = position_on(loaded, deal, facility, pays, as_of)
    out = {None: whole}
    for lender in ("fund-a", "fund-b"):
        lp = lender_position(fa, whole, lender)
        if lp is not None:
            out[lender] = lp
    return out


def position_on(loaded, deal: str, facility: str, payments: list, as_of: str):
    """(allocation, position) of the facility on `as_of` from the payments dated up to then
    (as every report takes them), through the library."""
    from loanctl.servicing.positions import allocate_facility, facility_position

    on = date.fromisoformat(as_of)
    fa = allocate_facility(loaded, deal, facility, [p for p in payments if p.date <= on])
    return fa, facility_position(fa, deal, on, loaded.book.dpd_buckets, loaded.book.rounding)


def post_rows(root: Path, bank: Path, name: str, rows: list[tuple], header: str = HEADER, day: str = "2026-12-01"):
    """Write `rows` as bank/NAME and post it (must succeed)."""
    return post_ok(root, write_payments(bank, name, rows, header), day=day)


def days(a: str, b: str) -> int:
    return (date.fromisoformat(b) - date.fromisoformat(a)).days


DEMO_PAYMENTS = sorted((Path(__file__).resolve().parents[2] / "templates" / "demo-payments").glob("*.csv"))


def posted_demo_book(base: Path) -> Path:
    """A copy of the demo book (deals/) under `base`, its demo payment files posted on
    2026-11-28 through the command line."""
    import shutil
    demo = Path(__file__).resolve().parents[2] / "deals"
    book = Path(shutil.copytree(demo, base / "book", ignore=shutil.ignore_patterns(".loanctl", "payments")))
    result = run(book, "post-payments", *DEMO_PAYMENTS, "--posting-day", "2026-11-28")
    assert result.exit_code == 0, result.stderr
    return book
