"""Helpers for the workflow and audit-trail tests (no tests here: a module of this folder so it is
owned with them): real git repositories in temporary folders,
commits made the way a team makes them (fixed authors and dates, so history is reproducible),
and `loanctl` run in-process with typer's CliRunner (stdout and stderr apart).

The scenario (built once per session by `build_scenario`, copied per test):

    main:     Start the book (seeded portfolio: beta-tl, funded)   Ann  2029-05-25
              Submit acme-tl (new-deal + the team's edits)          Ann  2030-01-05   tag submitted
              Approve acme-tl (credit officer and IC)               Carol 2030-01-10  tag approved
              Fund acme-tl                                          Carol 2030-01-15  tag funded
    direct:   Reprice acme-tl to 525bps (the forbidden direct edit) Dan  2031-01-12
    reprice:  Amendment 001: reprice acme-tl to 525bps (loanctl amend) Bob 2031-01-20

acme-tl: 25,000,000 term loan, bullet, SOFR-3M + 575bps (floor 1%), quarterly on the 15th,
ACT/360, modified following on the US calendar, 2% upfront fee; 2030-01-15 → 2035-01-15.
The book's only SOFR fixing is 4.31%, so every period is projected at 4.31% + spread.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from bookfactory import skip_cache

DEAL = "acme-tl"
DEAL_FILE = f"{DEAL}/deal.yaml"
AMENDMENT_FILE = f"{DEAL}/amendments/001-repricing.yaml"

START, MATURITY, REPRICING = date(2030, 1, 15), date(2035, 1, 15), date(2031, 1, 15)
# "Next payment" in a schedule impact is the first row after the day given as --as-of (default
# today): the tests pass this fixed day, before both deals' first payment dates, so that they
# never depend on the clock.
TODAY = date(2029, 9, 1)
AS_OF = TODAY.isoformat()
COMMITMENT = Decimal(25_000_000)
SOFR = Decimal("0.0431")

ANN = ("Ann Analyst", "ann@fund.example")
BOB = ("Bob Banker", "bob@fund.example")
CAROL = ("Carol Closer", "carol@fund.example")
DAN = ("Dan Direct", "dan@fund.example")

EDIT_HINT = "change terms with an amendment (loanctl amend); the deal file keeps the terms as funded"


# --- running loanctl ---------------------------------------------------------------------------
@dataclass
class Run:
    code: int
    out: str
    err: str
    exception: BaseException | None = None

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"Run(code={self.code}, out={self.out!r}, err={self.err!r}, exception={self.exception!r})"


def loanctl(*args: str) -> Run:
    """`loanctl ARGS` in-process, in the current folder (the book is found as ./book.yaml)."""
    from typer.testing import CliRunner

    import loanctl.cli  # noqa: F401  registers the commands on `app`
    from loanctl.cli.common import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    exc = result.exception if result.exception is not None and not isinstance(result.exception, SystemExit) else None
    return Run(result.exit_code, result.stdout, result.stderr, exc)


def codes_in(text: str) -> list[str]:
    """The diagnostic codes in rendered text (`…: error[E0504]: …`), in order."""
    return re.findall(r"(?:error|warning)\[(E\d{4})\]", text)


def no_traceback(run: Run) -> None:
    assert run.exception is None, f"unexpected exception: {run.exception!r}"
    assert "Traceback" not in run.out + run.err, run


# --- git -----------------------------------------------------------------------------------------
def git_env(who: tuple[str, str] = ANN, when: str = "2030-01-02T09:00:00+00:00") -> dict:
    env = dict(os.environ)
    env.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1], "GIT_AUTHOR_DATE": when,
                "GIT_COMMITTER_NAME": who[0], "GIT_COMMITTER_EMAIL": who[1], "GIT_COMMITTER_DATE": when,
                "GIT_ALLOW_PROTOCOL": "file"})
    env.pop("LOANCTL_BOOK", None)
    return env


class Repo:
    """A git work tree holding a loanctl book at its root."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def git(self, *args: str, who=ANN, when="2030-01-02T09:00:00+00:00", check: bool = True) -> str:
        out = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True, env=git_env(who, when))
        if check and out.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def commit(self, message: str, who=ANN, when="2030-01-02T09:00:00+00:00") -> str:
        self.git("add", "-A", who=who, when=when)
        self.git("commit", "-q", "-m", message, who=who, when=when)
        return self.rev("HEAD")

    def rev(self, name: str) -> str:
        return self.git("rev-parse", name).strip()

    def checkout(self, *args: str) -> None:
        self.git("checkout", "-q", *args)

    def status(self) -> str:
        return self.git("status", "--porcelain", "--untracked-files=all")

    def read(self, rel: str) -> str:
        return (self.path / rel).read_text(encoding="utf-8")

    def write(self, rel: str, text: str) -> None:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8", newline="")

    def replace(self, rel: str, old: str, new: str) -> str:
        text = self.read(rel)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
        self.write(rel, text.replace(old, new))
        return self.read(rel)

    def snapshot(self) -> dict[str, str]:
        """sha256 of every file of the work tree (not .git): 'nothing was written' checks."""
        out = {}
        for here, dirs, files in os.walk(self.path):
            dirs[:] = [d for d in dirs if d != ".git"]
            skip_cache(self.path, here, dirs)  # the parsed-file cache is no part of the book (SPEC §10)
            for f in files:
                p = Path(here) / f
                out[p.relative_to(self.path).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out

    def copy_to(self, dest: Path) -> "Repo":
        shutil.copytree(self.path, dest, symlinks=True)
        return Repo(dest)


def pos(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) where the nth `needle` starts in `text`."""
    i = -1
    for _ in range(nth):
        i = text.index(needle, i + 1)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """Lines removed from `before` and lines added in `after` (a line diff)."""
    removed, added = [], []
    a, b = before.splitlines(), after.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return removed, added


# --- an independent schedule for acme-tl -----------------------------------------------------------
def _us_business_day(d: date) -> bool:
    """Weekends and the only US federal holiday that can fall on the 15th–18th of January, April,
    July or October: Martin Luther King Jr. Day, the third Monday of January."""
    if d.weekday() >= 5:
        return False
    if d.month == 1 and d.weekday() == 0 and 15 <= d.day <= 21:
        return False
    return True


def _modified_following(d: date) -> date:
    x = d
    while not _us_business_day(x):
        x += timedelta(days=1)
    if x.month != d.month:
        x = d
        while not _us_business_day(x):
            x -= timedelta(days=1)
    return x


def payment_dates(start: date = START, maturity: date = MATURITY) -> list[date]:
    """Quarterly on the start date's day, adjusted modified following (US)."""
    out, y, m = [], start.year, start.month
    while True:
        m += 3
        if m > 12:
            y, m = y + 1, m - 12
        d = date(y, m, start.day)
        if d > maturity:
            break
        out.append(_modified_following(d))
    return out


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def hand_interest(spreads: list[tuple[date, Decimal]]) -> Decimal:
    """Total interest of acme-tl: 25m outstanding (bullet) × (4.31% + spread) × days/360, each
    period rounded to the cent; `spreads`: (effective from, spread), ascending."""
    total = Decimal(0)
    prev = START
    for d in payment_dates():
        spread = [s for eff, s in spreads if eff <= prev][-1]
        total += cents(COMMITMENT * (SOFR + spread) * Decimal((d - prev).days) / Decimal(360))
        prev = d
    return total


# --- the scenario ------------------------------------------------------------------------------
SPONSOR_COMMENT = "  # Sponsor: Example Partners; IC memo of 2029-12-20, p.4"
FEE_COMMENT = '      - {type: upfront, rate: "2%"}   # OID, paid at closing'


@dataclass
class Scenario:
    repo: Repo
    """The template repository (never modified by tests: copy it)."""
    steps: dict[str, Run] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    """deal.yaml (or amendment) text at each step."""
    hashes: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def inside(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def ok(run: Run) -> Run:
    assert run.code == 0 and run.exception is None, run
    return run


def build_scenario(path: Path) -> Scenario:
    repo = Repo(path)
    path.mkdir(parents=True)
    repo.git("init", "-q", "-b", "main")
    sc = Scenario(repo)
    with inside(path):
        ok(loanctl("init", "."))
        # The team's book: add the borrower and seed the fund's existing portfolio (migrated
        # from the old system, so written by hand as funded with its approvals).
        repo.replace("book.yaml", "industry: industrials, country: US}\n",
                     "industry: industrials, country: US}\n"
                     '  - {id: acme, kind: borrower, name: "Acme Industrial Inc.", industry: industrials, '
                     "country: US}\n")
        ok(loanctl("new-deal", "beta-tl", "--borrower", "example-borrower", "--commitment", "200000000",
                   "--start", "2029-06-15", "--maturity", "2034-06-15", "--index", "SOFR-3M", "--spread", "600bps",
                   "--amortization", "bullet", "--status", "submitted"))
        repo.replace("beta-tl/deal.yaml", "status: submitted ", "status: funded ")
        repo.replace("beta-tl/deal.yaml", "  approvals: []\n",
                     "  approvals:\n"
                     "    - {by: jane.doe, role: credit_officer, date: 2029-06-01, decision: approved}\n"
                     "    - {by: ic, role: credit_committee, date: 2029-06-03, decision: approved}\n")
        ok(loanctl("validate"))
        # dated before beta-tl's approvals (2029-06-01 and -03): approvals dated before a deal's
        # first commit warn (E0514; see test_time_order for that case)
        sc.hashes["seed"] = repo.commit("Start the book", ANN, "2029-05-25T09:00:00+00:00")

        sc.steps["new-deal"] = ok(loanctl(
            "new-deal", DEAL, "--borrower", "acme", "--commitment", "25000000", "--start", "2030-01-15",
            "--maturity", "2035-01-15", "--index", "SOFR-3M", "--spread", "575bps", "--floor", "1%",
            "--amortization", "bullet", "--sourced-by", "j.smith", "--status", "submitted"))
        sc.texts["created"] = repo.read(DEAL_FILE)
        # The analyst fills in what new-deal leaves open, with comments of their own.
        repo.replace(DEAL_FILE, "  purpose: null                     # e.g. acquisition financing\n",
                     "  purpose: acquisition financing    # per the IC memo\n" + SPONSOR_COMMENT + "\n")
        repo.replace(DEAL_FILE, "    fees: []\n", "    fees:\n" + FEE_COMMENT + "\n")
        ok(loanctl("validate"))
        sc.texts["submitted"] = repo.read(DEAL_FILE)
        sc.hashes["submitted"] = repo.commit("Submit acme-tl", ANN, "2030-01-05T09:00:00+00:00")
        repo.git("tag", "submitted")

        sc.steps["approve-officer"] = ok(loanctl("approve", DEAL, "--by", "jane.doe", "--role", "credit_officer",
                                                 "--date", "2030-01-08"))
        sc.texts["approved-officer"] = repo.read(DEAL_FILE)
        sc.steps["approve-ic"] = ok(loanctl("approve", DEAL, "--by", "ic", "--role", "credit_committee",
                                            "--date", "2030-01-10", "--conditions", "quarterly reporting"))
        sc.texts["approved"] = repo.read(DEAL_FILE)
        sc.hashes["approved"] = repo.commit("Approve acme-tl", CAROL, "2030-01-10T17:00:00+00:00")
        repo.git("tag", "approved")

        sc.steps["fund"] = ok(loanctl("fund", DEAL, "--date", "2030-01-15"))
        sc.texts["funded"] = repo.read(DEAL_FILE)
        sc.hashes["funded"] = repo.commit("Fund acme-tl", CAROL, "2030-01-15T12:00:00+00:00")
        repo.git("tag", "funded")

        # A branch that reprices by editing the funded deal directly (forbidden).
        repo.checkout("-b", "direct")
        repo.replace(DEAL_FILE, 'spread: "575bps"', 'spread: "525bps"')
        sc.texts["direct"] = repo.read(DEAL_FILE)
        sc.hashes["direct"] = repo.commit("Reprice acme-tl to 525bps", DAN, "2031-01-12T10:00:00+00:00")

        # The same change done properly, as an amendment.
        repo.checkout("main")
        repo.checkout("-b", "reprice")
        sc.steps["amend"] = ok(loanctl("amend", DEAL, "--effective", "2031-01-15", "--set",
                                       "tl.interest.spread=525bps", "--description", "Repricing",
                                       "--as-of", AS_OF))
        sc.texts["amendment-written"] = repo.read(AMENDMENT_FILE)
        repo.replace(AMENDMENT_FILE, "approvals: []\n",
                     "approvals:\n  - {by: jane.doe, role: credit_officer, date: 2031-01-08, decision: approved}\n"
                     "  - {by: ic, role: credit_committee, date: 2031-01-10, decision: approved}\n")
        ok(loanctl("validate", "--base", "main"))
        sc.hashes["reprice"] = repo.commit("Amendment 001: reprice acme-tl to 525bps", BOB,
                                           "2031-01-20T09:00:00+00:00")
        repo.checkout("main")
    assert repo.status() == ""
    return sc
