"""A minimal valid book written into a temporary folder, for tests that break one file of it.

`write_book(tmp_path)` writes book.yaml (a fund, an spv, a borrower, the demo policy),
rates/SOFR-3M.csv (every weekday from 2025-01-01 to 2026-11-27) and one funded deal
`acme-tl` whose approvals satisfy the policy. Each argument replaces one file's text, so a
test states exactly the input it is about. `run_validate(root)` runs the real command line
(`loanctl --book ROOT validate --format json`) and returns the exit code and diagnostics.

`pos(text, needle)` gives the 1-based (line, column) where `needle` starts in `text`, so a
test can state the expected position by pointing at the source rather than counting lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

BOOK_YAML = """\
name: Test Credit Partners
base_currency: USD
rounding: half_up
entities:
  - {id: fund-i, kind: fund, name: Test Credit Fund I}
  - {id: fund-i-spv, kind: spv, name: TCF I Holdings LLC, parent: fund-i}
  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}
calendars:
  - {id: nyc-bank, base: US, add: [2026-12-24], remove: []}
policy:
  approvals:
    - {up_to: 10000000, require: [credit_officer]}
    - {require: [credit_officer, credit_committee]}
  limits:
    max_borrower_share_of_fund: 15%
    max_leverage: 6.0
dpd_buckets: [0, 30, 60, 90, 120]
"""

DEAL_ID = "acme-tl"

DEAL_YAML = """\
id: acme-tl
name: Acme Industrial Senior Secured Term Loan
borrower: acme
status: funded
currency: USD
origination:
  sourced_by: j.smith
  purpose: acquisition financing
  underwriting: {ebitda: 12500000, total_debt: 45000000, cash: 2000000, collateral_value: 80000000}
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2025-01-10, decision: approved}
    - {by: ic, role: credit_committee, date: 2025-01-12, decision: approved}
facilities:
  - id: tl
    type: term
    commitment: 25000000
    start_date: 2025-01-15
    maturity_date: 2030-01-15
    draws: [{date: 2025-01-15, amount: 25000000}]
    interest:
      index: SOFR-3M
      spread: 575bps
      floor: 1%
      day_count: ACT/360
    payments:
      frequency: quarterly
      first_payment_date: 2025-04-15
      business_day: modified_following
      calendar: US
    amortization:
      type: percent
      annual_rate: 1%
    fees:
      - {type: upfront, rate: 2%}
    participations:
      - {lender: fund-i, share: 60%}
      - {lender: fund-i-spv, share: 40%}
"""


def sofr_csv(start: date = date(2025, 1, 1), end: date = date(2026, 11, 27)) -> str:
    """date,rate on every weekday from `start` to `end` (a slowly falling 4.3%)."""
    rows = ["date,rate"]
    d, i = start, 0
    while d <= end:
        if d.weekday() < 5:
            rows.append(f"{d.isoformat()},0.0{4300 - i // 10:04d}")
            i += 1
        d += timedelta(days=1)
    return "\n".join(rows) + "\n"


def write_book(tmp_path: Path, deals: dict[str, str] | None = None, book_yaml: str | None = None,
               rates: dict[str, str] | None = None) -> Path:
    """Write a minimal valid book under `tmp_path/book` and return its root.

    `deals` maps a path below the book (``"acme-tl"`` meaning ``acme-tl/deal.yaml``, or a
    file path such as ``"acme-tl/amendments/001-x.yaml"``) to its text; by default the one
    valid deal. `rates` maps an index name to CSV text (default: SOFR-3M). Text given as
    bytes is written as is.
    """
    root = tmp_path / "book"
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "book.yaml", BOOK_YAML if book_yaml is None else book_yaml)
    for index, text in ({"SOFR-3M": sofr_csv()} if rates is None else rates).items():
        _write(root / "rates" / f"{index}.csv", text)
    for rel, text in ({DEAL_ID: DEAL_YAML} if deals is None else deals).items():
        path = root / rel
        if not rel.endswith((".yaml", ".yml", ".csv")) and "/" not in rel.rstrip("/"):
            path = path / "deal.yaml"
        _write(path, text)
    return root


def write_file(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    _write(path, text)
    return path


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")


def deal_with(old: str, new: str, text: str = DEAL_YAML, count: int = 1) -> str:
    """The deal text with `old` replaced by `new` (which must occur: a silent no-op would
    make a test pass for the wrong reason)."""
    assert old in text, f"{old!r} is not in the text"
    return text.replace(old, new, count)


def book_with(old: str, new: str) -> str:
    return deal_with(old, new, BOOK_YAML)


def pos(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) where the `nth` occurrence of `needle` starts in `text`."""
    i = -1
    for _ in range(nth):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i) + 1
    return line, i - (text.rfind("\n", 0, i) + 1) + 1


def tree_hash(root: Path) -> str:
    """A digest of every file's path, bytes and mode below `root`."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            h.update(str(p.relative_to(root)).encode("utf-8", "surrogateescape") + b"\0")
            h.update(oct(p.stat().st_mode).encode())
            h.update(p.read_bytes())
        for name in dirnames:
            h.update(b"dir:" + str((Path(dirpath) / name).relative_to(root)).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# --- running the command line ----------------------------------------------------------------
def invoke(args: list[str]):
    """Run `loanctl ARGS` in-process with typer's CliRunner (stdout and stderr apart)."""
    from typer.testing import CliRunner

    import loanctl.cli  # noqa: F401  registers the commands and the --book callback on `app`
    from loanctl.cli.common import app

    return CliRunner().invoke(app, args, catch_exceptions=True)


def run_validate(root: Path, *extra: str) -> tuple[int, list[dict]]:
    """`loanctl --book ROOT validate --format json`: (exit code, diagnostics).

    An unexpected exception inside the command is re-raised so that the test fails with
    its traceback instead of a puzzling exit code.
    """
    result = invoke(["--book", str(root), "validate", "--format", "json", *extra])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    out = result.stdout.strip()
    return result.exit_code, (json.loads(out) if out else [])


def run_cli_subprocess(args: list[str], cwd: Path | None = None, timeout: float = 60,
                       env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m loanctl ARGS` in a fresh interpreter (for end-to-end and traceback checks)."""
    full_env = dict(os.environ)
    full_env.pop("LOANCTL_BOOK", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "loanctl", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


def only(diags: list[dict], code: str) -> dict:
    """The single diagnostic with `code` (fails with the whole list otherwise)."""
    found = [d for d in diags if d["code"] == code]
    assert len(found) == 1, f"expected one {code}, got {json.dumps(diags, indent=1)}"
    return found[0]
