"""A minimal valid book written into a temporary folder, for tests that break one file of it.

`write_book(tmp_path)` writes book.yaml (a fund, an spv, a borrower, the demo policy),
rates/SOFR-3M.csv (every weekday from 2025-01-01 to 2026-11-27) and one funded deal
`acme-tl` whose approvals satisfy the policy. Each argument replaces one file's text, so a
test states exactly the input it is about. `run_validate(root)` runs the real command line
(`loanctl --book ROOT validate --format json`) and returns the exit code and diagnostics.

`pos(text, needle)` gives the 1-based (line, column) where `needle` starts in `text`, so a
test can state the expected position by pointing at the source rather than counting lines.

The small servicing book (the servicing, hardening and report tests): `small_book_yaml()`
(fund-a, fund-b, acme, one approval tier) and `fixed_term_deal()`, the loan whose every due is
computed by hand — one term facility `tl`, 1,000,000 at a fixed 3.6% ACT/360 (100.00 a day
per million), quarterly, unadjusted, straight amortization (250,000 a quarter), 2026-01-15 →
2027-01-15. `write_book_at(root, ...)` writes any such book where the test wants it.

Running the command line: `invoke`/`cli` in-process, `loanctl_argv`/`cli_env`/
`run_cli_subprocess` in a fresh interpreter (always `sys.executable -m loanctl`, so the tests
pass in a virtual environment that is not activated).
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
    return write_book_at(tmp_path / "book", BOOK_YAML if book_yaml is None else book_yaml,
                         {DEAL_ID: DEAL_YAML} if deals is None else deals,
                         {"SOFR-3M": sofr_csv()} if rates is None else rates)


def write_book_at(root: Path, book_yaml: str, deals: dict[str, str | bytes],
                  rates: dict[str, str | bytes] | None = None) -> Path:
    """book.yaml, rates/INDEX.csv for each of `rates` and the `deals` (as in `write_book`)
    under `root` (created); returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "book.yaml", book_yaml)
    for index, text in (rates or {}).items():
        _write(root / "rates" / f"{index}.csv", text)
    for rel, text in deals.items():
        path = root / rel
        if not rel.endswith((".yaml", ".yml", ".csv")) and "/" not in rel.rstrip("/"):
            path = path / "deal.yaml"
        _write(path, text)
    return root


# --- the small servicing book ------------------------------------------------------------------
def small_book_yaml(name: str = "Servicing Test Partners", extra: str = "") -> str:
    """book.yaml with two funds (fund-a, fund-b), the borrower acme and one approval tier
    (credit_officer at any size); `extra` is appended (payment profiles, say)."""
    return (f"name: {name}\nbase_currency: USD\nrounding: half_up\nentities:\n"
            "  - {id: fund-a, kind: fund, name: Fund A}\n"
            "  - {id: fund-b, kind: fund, name: Fund B}\n"
            "  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}\n"
            "policy:\n  approvals:\n    - {require: [credit_officer]}\n"
            "dpd_buckets: [0, 30, 60, 90, 120]\n" + extra)


UPFRONT_FEE = "{type: upfront, rate: 1%, netted: false}"  # 10,000 on the start date, paid in cash at closing (tests post it)


def fixed_term_deal(deal_id: str = "acme-fixed", lenders: dict[str, str] | None = None,
                    fees: tuple[str, ...] = (UPFRONT_FEE,), name: str = "Acme fixed-rate term loan") -> str:
    """deal.yaml of the hand-computable loan (module docstring) to borrower acme, approved by
    a credit officer on 2026-01-10; `lenders` maps lender → share (default fund-a 60%,
    fund-b 40%), `fees` are YAML flow mappings. Its dues: 2026-01-15 the fees dated then;
    04-15 interest 9,000 (1,000,000 × 90 days) + principal 250,000; 07-15 interest 6,825
    (750,000 × 91 days) + 250,000; 10-15 4,600 (500,000 × 92) + 250,000; 2027-01-15 2,300
    (250,000 × 92) + 250,000."""
    lenders = {"fund-a": "60%", "fund-b": "40%"} if lenders is None else lenders
    return acme_deal(deal_id, name, facility_yaml("tl", "term", "1000000", "2026-01-15", "2027-01-15",
                                                  {"fixed_rate": "3.6%", "day_count": "ACT/360"}, lenders,
                                                  amortization="straight", fees=fees))


def acme_deal(deal_id: str, name: str, *facilities: str) -> str:
    """deal.yaml of a funded USD deal to borrower acme, approved by a credit officer on
    2026-01-10 (small_book_yaml's policy), holding `facilities` (facility_yaml's texts)."""
    return (f"id: {deal_id}\nname: {name}\nborrower: acme\nstatus: funded\ncurrency: USD\n"
            "origination:\n  approvals:\n    - {by: jane.doe, role: credit_officer, date: 2026-01-10, "
            "decision: approved}\n"
            "facilities:\n" + "".join(facilities))


def facility_yaml(facility_id: str, type: str, commitment: str, start: str, maturity: str, interest: dict[str, str],
                  lenders: dict[str, str], *, amortization: str = "bullet", fees: tuple[str, ...] = (),
                  draws: str | None = None, extra: str = "") -> str:
    """One facility of a deal.yaml (under `facilities:`), paid quarterly on unadjusted dates:
    `interest` maps its keys to values, `lenders` lender → share, `fees` are YAML flow
    mappings, `draws` a YAML flow list, `extra` more `key: value` lines of the facility."""
    text = (f"  - id: {facility_id}\n    type: {type}\n    commitment: {commitment}\n"
            f"    start_date: {start}\n    maturity_date: {maturity}\n")
    text += "".join(f"    {line}\n" for line in extra.splitlines())
    if draws is not None:
        text += f"    draws: {draws}\n"
    text += ("    interest:\n" + "".join(f"      {k}: {v}\n" for k, v in interest.items())
             + "    payments:\n      frequency: quarterly\n      business_day: unadjusted\n"
             f"    amortization:\n      type: {amortization}\n")
    if fees:
        text += "    fees:\n" + "".join(f"      - {fee}\n" for fee in fees)
    return text + "    participations:\n" + "".join(f"      - {{lender: {lender}, share: {share}}}\n"
                                                     for lender, share in lenders.items())


def trade_yaml(trade_id: str, seller: str, buyer: str, settle: str, *, trade_date: str | None = None,
               amount: str | None = None, share: str | None = None, price: str = "100", facility: str = "tl",
               approvals: tuple[str, ...] = ()) -> str:
    """A trade file (SPEC §2.6): `seller` moves `amount` par or `share` of `facility` to `buyer`
    at `price` (% of par), settling at the start of `settle` (traded on `trade_date`, default
    `settle`); `approvals` are YAML flow mappings."""
    text = (f"id: {trade_id}\nfacility: {facility}\nseller: {seller}\nbuyer: {buyer}\n"
            f"trade_date: {trade_date or settle}\nsettlement_date: {settle}\n"
            + (f"amount: {amount}\n" if amount is not None else "") + (f"share: {share}\n" if share is not None else "")
            + f"price: {price}\n")
    return text + (f"approvals: [{', '.join(approvals)}]\n" if approvals else "")


def fund_a_sale(trade_id: str) -> str:
    """fixed_term_deal's fund-a sells 150,000 par of tl to fund-b at 98, traded 2026-05-11,
    settling at the start of 2026-05-15 (750,000 outstanding then: 20% of the facility, so
    fund-a 40% and fund-b 60% from then), approved by a credit officer on 2026-05-08."""
    return trade_yaml(trade_id, "fund-a", "fund-b", "2026-05-15", trade_date="2026-05-11", amount="150000",
                      price="98", approvals=("{by: jane.doe, role: credit_officer, date: 2026-05-08, decision: approved}",))


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


def tree_digests(root: Path) -> dict[str, str]:
    """Every file below `root` → sha256 of its bytes (to name what changed, where a single
    `tree_hash` would only say that something did)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        skip_cache(root, dirpath, dirnames)
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def skip_cache(root: Path, dirpath: str, dirnames: list[str]) -> None:
    """Leave out `.loanctl/cache` (the parsed-file cache, SPEC §10): a command that reads the
    book may fill it, and it is no part of the book or the ledger."""
    if Path(dirpath).name == ".loanctl" and "cache" in dirnames:
        dirnames.remove("cache")


def tree_hash(root: Path) -> str:
    """A digest of every file's path, bytes and mode below `root` (but the parsed-file cache)."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        skip_cache(root, dirpath, dirnames)
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            h.update(str(p.relative_to(root)).encode("utf-8", "surrogateescape") + b"\0")
            h.update(oct(p.stat().st_mode).encode())
            h.update(p.read_bytes())
        for name in dirnames:
            if name == ".loanctl" and Path(dirpath) == root:
                continue  # made by the cache when nothing else is in it; its files are hashed as any
            h.update(b"dir:" + str((Path(dirpath) / name).relative_to(root)).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# --- running the command line ----------------------------------------------------------------
def invoke(args: list):
    """Run `loanctl ARGS` in-process with typer's CliRunner (stdout and stderr apart); each
    argument is passed as str (paths too)."""
    from typer.testing import CliRunner

    import loanctl.cli  # noqa: F401  registers the commands and the --book callback on `app`
    from loanctl.cli.common import app

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)


def cli(*args):
    """`loanctl ARGS` in-process; an exception escaping the command (a traceback for the
    user) fails the test with it, instead of a puzzling exit code."""
    result = invoke(list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"internal error (a traceback): {result.exception!r}") from result.exception
    return result


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


def loanctl_argv(*args) -> list[str]:
    """The argv of `loanctl ARGS` in a fresh interpreter: the one running the tests, so no
    `loanctl` on PATH (an activated virtual environment) is needed."""
    return [sys.executable, "-m", "loanctl", *map(str, args)]


def cli_env(extra: dict | None = None) -> dict:
    """The environment for a child loanctl: this one without LOANCTL_BOOK, plus `extra`."""
    env = dict(os.environ)
    env.pop("LOANCTL_BOOK", None)
    env.update(extra or {})
    return env


def run_cli_subprocess(args: list, cwd: Path | None = None, timeout: float = 60,
                       env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m loanctl ARGS` in a fresh interpreter (for end-to-end and traceback checks)."""
    return subprocess.run(loanctl_argv(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=cli_env(env))


def only(diags: list[dict], code: str) -> dict:
    """The single diagnostic with `code` (fails with the whole list otherwise)."""
    found = [d for d in diags if d["code"] == code]
    assert len(found) == 1, f"expected one {code}, got {json.dumps(diags, indent=1)}"
    return found[0]
