"""A small servicing book written inline, and helpers to post payment files through the
real command line and compare ledgers.

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
import hashlib
import io
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

BOOK_YAML = """\
name: Servicing Test Partners
base_currency: USD
rounding: half_up
entities:
  - {id: fund-a, kind: fund, name: Fund A}
  - {id: fund-b, kind: fund, name: Fund B}
  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}
policy:
  approvals:
    - {require: [credit_officer]}
dpd_buckets: [0, 30, 60, 90, 120]
payment_profiles:
  bankx:
    columns: {payment_id: "Txn ID", deal: "Loan", date: "Value Date", amount: "Amt"}
    date_format: "%d/%m/%Y"
"""

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
FIXED_YAML = """\
id: acme-fixed
name: Acme fixed-rate term loan
borrower: acme
status: funded
currency: USD
origination:
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2026-01-10, decision: approved}
facilities:
  - id: tl
    type: term
    commitment: 1000000
    start_date: 2026-01-15
    maturity_date: 2027-01-15
    interest:
      fixed_rate: 3.6%
      day_count: ACT/360
    payments:
      frequency: quarterly
      business_day: unadjusted
    amortization:
      type: straight
    fees:
      - {type: upfront, rate: 1%, netted: false}  # paid in cash at closing (the tests post it)
      - {type: fixed, amount: 2500, date: 2026-06-30, name: agency fee}
      - {type: prepayment, schedule: [{until: 2026-07-15, rate: 2%}, {until: 2027-01-15, rate: 1%}]}
    participations:
      - {lender: fund-a, share: 60%}
      - {lender: fund-b, share: 40%}
"""

TWO_DEAL = "acme-two"
TWO_YAML = """\
id: acme-two
name: Acme term loan and revolver
borrower: acme
status: funded
currency: USD
origination:
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2026-01-10, decision: approved}
facilities:
  - id: tl
    type: term
    commitment: 500000
    start_date: 2026-02-01
    maturity_date: 2028-02-01
    interest:
      index: SOFR-3M
      spread: 500bps
      day_count: ACT/360
    payments:
      frequency: quarterly
      business_day: unadjusted
    amortization:
      type: bullet
    participations:
      - {lender: fund-a, share: 100%}
  - id: rcf
    type: revolver
    commitment: 200000
    start_date: 2026-03-01
    maturity_date: 2028-02-01
    draws: [{date: 2026-03-01, amount: 50000}]
    interest:
      fixed_rate: 6%
      day_count: ACT/360
    payments:
      frequency: quarterly
      business_day: unadjusted
    amortization:
      type: bullet
    participations:
      - {lender: fund-b, share: 100%}
"""

SOFR_CSV = "date,rate\n2025-12-31,4.00%\n2026-03-31,3.90%\n2026-06-30,3.80%\n"

HEADER = "payment_id,deal,date,amount,type,reference"


def write_book(root: Path, book_yaml: str = BOOK_YAML, deals: dict[str, str] | None = None) -> Path:
    """The test book under `root` (created); `deals` maps deal id → deal.yaml text."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "book.yaml").write_text(book_yaml, encoding="utf-8")
    (root / "rates").mkdir(exist_ok=True)
    (root / "rates" / "SOFR-3M.csv").write_text(SOFR_CSV, encoding="utf-8")
    for deal_id, text in (deals if deals is not None else {FIXED_DEAL: FIXED_YAML, TWO_DEAL: TWO_YAML}).items():
        (root / deal_id).mkdir(exist_ok=True)
        (root / deal_id / "deal.yaml").write_text(text, encoding="utf-8")
    return root


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
def invoke(args: list[str]):
    """`loanctl ARGS` in-process (stdout and stderr apart)."""
    from typer.testing import CliRunner

    import loanctl.cli  # noqa: F401  registers the commands
    from loanctl.cli.common import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)


def run(root: Path, *args) -> "object":
    """`loanctl --book ROOT ARGS` in-process; an unexpected exception fails the test loudly."""
    result = invoke(["--book", root, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def post(root: Path, *files: Path, day: str = "2026-12-01", extra: tuple = ()) -> "object":
    """`loanctl --book ROOT post-payments FILES --posting-day DAY` (fixed posting day, so
    archive names do not depend on the clock)."""
    return run(root, "post-payments", *files, "--posting-day", day, *extra)


def post_ok(root: Path, *files: Path, day: str = "2026-12-01", extra: tuple = ()):
    result = post(root, *files, day=day, extra=extra)
    assert result.exit_code == 0, result.stderr + result.stdout
    return result


def loanctl_cmd(root: Path, *args) -> list[str]:
    return [sys.executable, "-m", "loanctl", "--book", str(root), *map(str, args)]


def subprocess_env() -> dict:
    env = dict(os.environ)
    env.pop("LOANCTL_BOOK", None)
    return env


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
    from loanctl.servicing.positions import allocate_facility, facility_position, lender_position

    loaded, errors = load_valid_book(root)
    assert not errors, errors
    on = date.fromisoformat(as_of)
    pays = [p for p in ledger_payments(root) if p.deal == deal and p.facility == facility and p.date <= on]
    fa = allocate_facility(loaded, deal, facility, pays)
    whole = facility_position(fa, deal, on, loaded.book.dpd_buckets, loaded.book.rounding)
    out = {None: whole}
    for lender in ("fund-a", "fund-b"):
        lp = lender_position(fa, whole, lender)
        if lp is not None:
            out[lender] = lp
    return out


def tree_hash(root: Path) -> str:
    """Every file's path and bytes below `root` (the book, the archive and the ledger)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
        for name in dirnames:
            h.update(b"dir:" + str((Path(dirpath) / name).relative_to(root)).encode())
    return h.hexdigest()


def post_rows(root: Path, bank: Path, name: str, rows: list[tuple], header: str = HEADER, day: str = "2026-12-01"):
    """Write `rows` as bank/NAME and post it (must succeed)."""
    return post_ok(root, write_payments(bank, name, rows, header), day=day)


def days(a: str, b: str) -> int:
    return (date.fromisoformat(b) - date.fromisoformat(a)).days
