"""`loanctl bench`: a synthetic but realistic book, every stage timed, with reference figures.

The book mixes facility types (term, delayed draw, revolver), floating (SOFR with floors)
and fixed rates, PIK, every amortization type, amendments, several funds and SPVs, fixings,
and payment files with on-time, late, partial and prepaid payments; the allocation stage adds
repayments, payoffs and reversals (in memory: payment files do not take them yet). Each stage is timed
wall-clock with the peak resident memory; the references are DuckDB's own `read_csv` of the
same payment file and QuantLib building comparable fixed-rate legs (when installed).
"""

from __future__ import annotations

import csv
import gc
import math
import random
import resource
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable

TARGETS = {
    "validate_10k_s": 5.0,
    "schedules_vs_quantlib": 3.0,
    "post_vs_read_csv": 2.0,
    "report_s": 2.0,
    "help_s": 0.3,
    "peak_memory_mb": 1536.0,
    "allocation_s": 20.0,
    "journal_s": 30.0,
    "export_s": 10.0,
}

FUNDS = ("fund-a", "fund-b", "fund-c")
SPVS = (("fund-a-spv", "fund-a"), ("fund-b-spv", "fund-b"))
INDUSTRIES = ("software", "healthcare services", "industrials", "business services", "consumer", "logistics",
              "specialty chemicals", "insurance services", "education services", "food and beverage")


@dataclass
class Stage:
    name: str
    seconds: float
    peak_mb: float
    detail: str = ""


@dataclass
class BenchResult:
    deals: int
    payments: int
    seed: int
    stages: list[Stage] = field(default_factory=list)
    references: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float | None] = field(default_factory=dict)
    targets: dict[str, dict] = field(default_factory=dict)
    growth: dict[str, float] = field(default_factory=dict)
    events: int = 0
    """Payments of the allocation-with-events stage (the posted ones and the added events)."""

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)


def peak_mb() -> float:
    """The process's resident high-water mark in MB: since the last `reset_peak()` where Linux
    lets a process reset it (/proc/self/clear_refs), else since the process started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Start a new resident high-water mark (Linux ≥ 4.0); elsewhere the mark keeps growing."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


@contextmanager
def timed(result: BenchResult, name: str, detail: str = ""):
    gc.collect()
    reset_peak()
    start = time.perf_counter()
    yield
    result.stages.append(Stage(name, time.perf_counter() - start, peak_mb(), detail))


# --- the synthetic book ------------------------------------------------------------------------
def write_book(root: Path, deals: int, seed: int) -> list[tuple[str, str, date, date, Decimal, bool]]:
    """Write book.yaml, rates and `deals` deals; returns (deal, facility, start, maturity, commitment,
    overnight)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    borrowers = max(10, deals // 2)
    lines = ["name: Bench Credit Partners", "base_currency: USD", "entities:"]
    for f in FUNDS:
        lines.append(f"  - {{id: {f}, kind: fund, name: Bench {f}}}")
    for s, parent in SPVS:
        lines.append(f"  - {{id: {s}, kind: spv, name: Bench {s}, parent: {parent}}}")
    for b in range(borrowers):
        lines.append(f"  - {{id: b{b:05d}, kind: borrower, name: Borrower {b:05d}, "
                     f"industry: {INDUSTRIES[b % len(INDUSTRIES)]}, country: US}}")
    lines += ["policy:", "  approvals:", "    - {up_to: 10000000, require: [credit_officer]}",
              "    - {require: [credit_officer, credit_committee]}", "  limits: {max_leverage: 7.0}"]
    (root / "book.yaml").write_text("\n".join(lines) + "\n")
    (root / "rates").mkdir(exist_ok=True)
    rows = ["date,rate"]
    d = date(2022, 1, 3)
    rate = Decimal("0.0450")
    while d <= date(2026, 11, 27):
        if d.weekday() < 5:
            rows.append(f"{d.isoformat()},{rate}")
            rate = max(Decimal("0.02"), rate + Decimal(rng.randint(-3, 3)) / 10000)
        d += timedelta(days=1)
    (root / "rates" / "SOFR-3M.csv").write_text("\n".join(rows) + "\n")
    # daily SOFR for the overnight facilities: every weekday for five years, value-dated
    (root / "rates" / "SOFR.csv").write_text("\n".join(_daily_fixings(rng)) + "\n")
    out = []
    amort = ("bullet", "percent", "straight", "level", "custom")
    for i in range(deals):
        deal_id = f"deal-{i:05d}"
        start = date(2022, 1, 15) + timedelta(days=rng.randint(0, 1400))
        start = start.replace(day=min(start.day, 27))
        years = rng.choice((3, 4, 5, 6))
        maturity = start.replace(year=start.year + years)
        commitment = Decimal(rng.randint(50, 600)) * 100000
        ftype = rng.choices(("term", "delayed_draw", "revolver"), (8, 1, 1))[0]
        kind = amort[i % len(amort)] if ftype == "term" else "bullet"
        floating = rng.random() < 0.8
        overnight = floating and i % 3 == 0  # a third of the floating facilities: SOFR in arrears
        interest = (f"{{index: SOFR-3M, spread: {rng.randint(450, 750)}bps, floor: 1%"
                    if floating else f"{{fixed_rate: {rng.randint(900, 1300) / 100}%")
        if overnight:
            interest = (f"{{index: SOFR, method: {'compounded' if i % 2 else 'simple'}, lookback_days: 5, "
                        f"spread: {rng.randint(450, 750)}bps, floor: 1%")
        interest += ", pik_rate: 2%" if rng.random() < 0.1 else ""
        interest += "}"
        lender_a = FUNDS[i % 3]
        lender_b = (SPVS[i % 2][0])
        parts = (f"[{{lender: {lender_a}, share: 100%}}]" if i % 4 == 0 else
                 f"[{{lender: {lender_a}, share: 60%}}, {{lender: {lender_b}, share: 40%}}]")
        draws = ""
        avail = ""
        if ftype != "term":
            avail_end = start + timedelta(days=540)
            avail = f"    availability_end: {avail_end}\n"
            first = (commitment * Decimal("0.4")).quantize(Decimal(1))
            second = (commitment * Decimal("0.3")).quantize(Decimal(1))
            draws = (f"    draws: [{{date: {start}, amount: {first}}}, "
                     f"{{date: {start + timedelta(days=200)}, amount: {second}}}]\n")
        amortization = f"{{type: {kind}, annual_rate: 1%}}" if kind == "percent" else f"{{type: {kind}}}"
        if kind == "custom":
            from ..conventions.dates import add_months
            d1, d2 = add_months(start, 6), add_months(start, 12)
            amortization = (f"{{type: custom, schedule: [{{date: {d1}, amount: {commitment / 20}}}, "
                            f"{{date: {d2}, amount: {commitment / 20}}}]}}")
        fees = "[{type: upfront, rate: 2%}, {type: prepayment, schedule: [{until: " + \
               f"{start.replace(year=start.year + 1)}, rate: 2%}}]}}]"
        if ftype != "term":
            fees = "[{type: upfront, rate: 1%}, {type: commitment, rate: 50bps}]"
        uw_debt = int(commitment * 2)
        text = (f"id: {deal_id}\nname: Bench deal {i}\nborrower: b{i % borrowers:05d}\nstatus: funded\ncurrency: USD\n"
                f"origination:\n  underwriting: {{ebitda: {int(commitment)}, total_debt: {uw_debt}, cash: 1000000}}\n"
                f"  approvals:\n    - {{by: co, role: credit_officer, date: {start - timedelta(days=10)}}}\n"
                f"    - {{by: ic, role: credit_committee, date: {start - timedelta(days=5)}}}\n"
                f"facilities:\n  - id: f1\n    type: {ftype}\n    commitment: {commitment}\n"
                f"    start_date: {start}\n    maturity_date: {maturity}\n{avail}{draws}"
                f"    interest: {interest}\n"
                f"    payments: {{frequency: quarterly, business_day: unadjusted, calendar: WEEKENDS}}\n"
                f"    amortization: {amortization}\n    fees: {fees}\n    participations: {parts}\n"
                f"covenants:\n  - {{id: lev, metric: total_leverage, max: [{{until: 2027-12-31, value: 5.0}}, "
                f"{{value: 4.5}}]}}\n")
        folder = root / deal_id
        folder.mkdir(exist_ok=True)
        (folder / "deal.yaml").write_text(text)
        if i % 10 == 0 and ftype == "term":
            eff = start + timedelta(days=400)
            if eff < maturity - timedelta(days=30):
                (folder / "amendments").mkdir(exist_ok=True)
                approvals = (f"approvals: [{{by: co, role: credit_officer, date: {eff - timedelta(days=10)}}}, "
                             f"{{by: ic, role: credit_committee, date: {eff - timedelta(days=5)}}}]\n")
                (folder / "amendments" / "001-repricing.yaml").write_text(
                    f"id: 001-repricing\neffective_date: {eff}\ndescription: repricing\n{approvals}"
                    f"changes: [{{facility: f1, set: {{interest.spread: 500bps}}}}]\n" if floating else
                    f"id: 001-repricing\neffective_date: {eff}\ndescription: repricing\n{approvals}"
                    f"changes: [{{facility: f1, set: {{interest.fixed_rate: 9%}}}}]\n")
        out.append((deal_id, "f1", start, maturity, commitment, overnight))
    return out


OVERNIGHT_FROM, OVERNIGHT_TO = date(2021, 11, 1), date(2026, 11, 27)


def _daily_fixings(rng: random.Random) -> list[str]:
    rows = ["date,rate"]
    d, rate = OVERNIGHT_FROM, Decimal("0.0430")
    while d <= OVERNIGHT_TO:
        if d.weekday() < 5:
            rows.append(f"{d.isoformat()},{rate}")
            rate = max(Decimal("0.0150"), rate + Decimal(rng.randint(-2, 2)) / 10000)
        d += timedelta(days=1)
    return rows


def write_payments(path: Path, facilities, payments: int, seed: int, cutoff: date = date(2026, 11, 27)) -> int:
    """A payment file of `payments` rows: mostly scheduled, some late, partial, prepaid, fee."""
    rng = random.Random(seed + 1)
    n = 0
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("payment_id", "deal", "facility", "date", "amount", "type", "reference"))
        per = max(1, payments // max(1, len(facilities)))
        for deal_id, fid, start, maturity, commitment, _ in facilities:
            last = min(cutoff, maturity)
            span = (last - start).days
            if span <= 0:
                continue
            for k in range(per):
                if n >= payments:
                    break
                day = start + timedelta(days=1 + (span * k) // per + rng.randint(0, 3))
                if day > last:
                    day = last
                r = rng.random()
                if r < 0.01 and day < maturity - timedelta(days=30):
                    kind, amount = "prepayment", (commitment / 200).quantize(Decimal("0.01"))
                elif r < 0.03:
                    kind, amount = "fee", Decimal(rng.randint(100, 5000))
                else:
                    kind, amount = "scheduled", Decimal(rng.randint(1000, 400000)) + Decimal(rng.randint(0, 99)) / 100
                w.writerow((f"p{n:08d}", deal_id, fid, day.isoformat(), str(amount), kind, f"ref-{n}"))
                n += 1
    return n


def event_payments(loaded, payments: list, seed: int) -> list:
    """Servicing events added to posted payments (`Payment` objects: payment files do not take
    these types yet): per revolver two repayments of 5% of the commitment (100 and 300 days
    after its start); a payoff on every 50th facility (110% of the commitment, 60 days before
    its last payment, so most cover the quote and end the facility); a reversal of every
    100th payment, five days after it."""
    from dataclasses import replace

    from ..servicing.allocation import Payment

    rng = random.Random(seed + 2)
    out = list(payments)
    last: dict[tuple[str, str], date] = {}
    for p in payments:
        key = (p.deal, p.facility)
        last[key] = max(last.get(key, p.date), p.date)
    n = 0
    for i, (deal_id, record) in enumerate(sorted(loaded.deals.items())):
        for f in record.deal.facilities:
            commitment = Decimal(f.commitment)
            if f.type == "revolver":
                for k, days in enumerate((100, 300)):
                    on = f.start_date + timedelta(days=days)
                    if on < f.maturity_date:
                        out.append(Payment(f"ev{n:08d}", deal_id, f.id, on, (commitment / 20).quantize(Decimal("0.01")),
                                           "USD", "repayment"))
                        n += 1
            end = last.get((deal_id, f.id))
            if i % 50 == 7 and end is not None and end - timedelta(days=60) > f.start_date:
                out.append(Payment(f"ev{n:08d}", deal_id, f.id, end - timedelta(days=60),
                                   (commitment * Decimal("1.1")).quantize(Decimal("0.01")), "USD", "payoff"))
                n += 1
    for k, p in enumerate(payments):
        if k % 100 == 50:
            out.append(replace(p, payment_id=f"ev{n:08d}", date=p.date + timedelta(days=5 + rng.randint(0, 2)),
                               type="reversal", reverses=p.payment_id, reference=""))
            n += 1
    return out


def allocate_all(loaded, payments: list) -> int:
    """Allocate every facility that has payments (the allocation stage) as the
    ledger allocates a post — in worker processes from `ledger.allocating.PARALLEL_FROM`
    payments — into scratch allocation files; returns the number of allocation rows."""
    from ..ledger.allocating import allocate_groups

    groups: dict[tuple[str, str], tuple[list, list]] = {}  # as a post groups them: the facilities paid
    for p in payments:
        groups.setdefault((p.deal, p.facility), ([], []))[0].append(p)
    with tempfile.TemporaryDirectory(prefix="loanctl-bench-alloc-") as scratch:
        out = allocate_groups(loaded, groups, Path(scratch))
        try:
            rows = 0
            for path in out.files:
                with open(path, "rb") as fh:
                    rows += sum(1 for _ in fh)
        finally:
            out.cleanup()
    return rows


def stored_report(loaded, scope, on: date):
    """The report as `loanctl report` builds it from the ledger: stored positions read, the
    other facilities' payments loaded and allocated, what was computed stored."""
    from ..reports.build import build_report, facilities_to_compute, open_report_store
    store = open_report_store(loaded, scope, on, "bench")
    if store is None:
        return build_report(loaded, scope, on, [])
    report = build_report(loaded, scope, on, store.payments(facilities_to_compute(loaded, scope, on, store)),
                          store=store)
    store.save()
    return report


# --- the run -------------------------------------------------------------------------------
def run_bench(deals: int, payments: int, seed: int, workdir: Path | None = None, growth: bool = True,
              progress: Callable[[str], None] = lambda s: None) -> BenchResult:
    from ..api import validate_book
    from ..engine.deal import schedule_deal
    from ..render import report as render
    from ..reports.build import resolve_scope
    from ..ledger.db import ledger_payments
    from ..ledger.posting import post

    result = BenchResult(deals, payments, seed)
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)  # --workdir may name a folder still to make
    base = Path(tempfile.mkdtemp(prefix="loanctl-bench-", dir=workdir))
    try:
        root = base / "book"
        progress(f"writing a book of {deals:,} deals")
        facilities = write_book(root, deals, seed)
        pay_file = base / "payments.csv"
        progress(f"writing {payments:,} payments")
        rows = write_payments(pay_file, facilities, payments, seed)
        result.payments = rows

        progress("validate")
        with timed(result, "validate", f"{deals:,} deals"):
            v = validate_book(root, kept=True)  # as `loanctl validate` runs it: cold, filling .loanctl/cache
        errors = [d for d in v.diagnostics if d.is_error]
        if errors:
            raise RuntimeError(f"the synthetic book does not validate: {errors[0].location()} {errors[0].message}")
        from ..api import load_valid_book
        loaded, _ = load_valid_book(root)  # validate may have checked in worker processes

        progress("schedules")
        with timed(result, "schedules", f"{deals:,} facilities"):
            n_rows = 0
            for deal_id in loaded.deals:
                s, _ = schedule_deal(loaded, deal_id)
                n_rows += sum(len(f.rows) for f in s.facilities)
        result.stages[-1].detail += f", {n_rows:,} rows"

        progress("DuckDB read_csv reference")
        result.references["duckdb_read_csv"] = _duckdb_reference(pay_file, base)
        ql = _quantlib_reference(facilities, root / "rates" / "SOFR.csv")
        if ql is not None:
            result.references["quantlib_legs"] = ql

        progress("post-payments")
        raw = pay_file.read_bytes()
        with timed(result, "post-payments (all)", f"{rows:,} rows"):
            res = post(loaded, [(str(pay_file), raw)], date(2026, 11, 28))
        if not res.ok:
            d = res.diagnostics[0]
            raise RuntimeError(f"bench payments rejected: {d.file}:{d.line} {d.code} {d.message}")
        t = res.timings
        peak = result.stages[-1].peak_mb
        checked = sum(t.get(k, 0) for k in ("parse_check", "check_ledger", "insert"))
        result.stages.append(Stage("post: parse, check, insert", checked, peak, f"{rows:,} rows"))
        result.stages.append(Stage("post: allocation", t.get("allocate", 0), peak,
                                   f"{len(res.facilities or res.allocations):,} facilities"))
        result.stages.append(Stage("post: store allocations", t.get("store_allocations", 0), peak,
                                   "the allocation rows written to the ledger"))

        pays = ledger_payments(root)
        progress("allocation with repayments, payoffs and reversals")
        events = event_payments(loaded, pays, seed)
        kinds = {t: sum(1 for p in events if p.type == t) for t in ("repayment", "payoff", "reversal")}
        with timed(result, "allocation with events",
                   f"{len(events):,} payments ({kinds['repayment']:,} repayments, {kinds['payoff']:,} payoffs, "
                   f"{kinds['reversal']:,} reversals, in memory, worker processes as a post)"):
            allocate_all(loaded, events)
        result.events = len(events)

        progress("reports")
        scope = resolve_scope(loaded, fund="fund-a")
        with timed(result, "report build, first (computes and stores positions)", "fund-a with its SPV"):
            stored_report(loaded, scope, date(2026, 11, 28))
        with timed(result, "report build", "fund-a with its SPV, from stored positions"):
            report = stored_report(loaded, scope, date(2026, 11, 28))
        for fmt, fn in (("json", render.to_json), ("csv", render.to_csv),
                        ("md", lambda r: render.to_markdown(r, root)), ("html", lambda r: render.to_html(r, root))):
            try:
                with timed(result, f"report {fmt}"):
                    fn(report)
            except Exception as exc:  # a renderer still being built should not hide the other figures
                result.stages.append(Stage(f"report {fmt}", math.nan, peak_mb(), f"failed: {exc}"))

        progress("validate after one deal changed")
        validate_after_change(result, root)
        progress("validate, post, report, journal, rebuild and export, each in its own process")
        own_process_stages(result, root, base)

        _ratios(result)
        if growth and deals >= 20:
            progress("growth run at N/10")
            small = run_bench(max(2, deals // 10), max(10, payments // 10), seed, workdir, growth=False)
            for s in result.stages:
                t = small.stage(s.name)
                if t and t.seconds > 0:
                    result.growth[s.name] = s.seconds / t.seconds
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return result


# --- issue #19: kept results, bulk rebuild, export (separate from the reference stages) ------------
def validate_after_change(result: BenchResult, root: Path) -> None:
    """Stages "validate (warm)" — nothing changed since the first validate — and "validate
    after one deal changed" (one deal's name edited): unchanged deals come from .loanctl/cache."""
    from ..api import validate_book

    with timed(result, "validate (warm)", "nothing changed"):
        validate_book(root, kept=True)
    deal = root / "deal-00000" / "deal.yaml"
    deal.write_text(deal.read_text().replace("name: Bench deal 0\n", "name: Bench deal zero\n"))
    with timed(result, "validate after one deal changed", "deal-00000 renamed"):
        v = validate_book(root, kept=True)
    errors = [d for d in v.diagnostics if d.is_error]
    if errors:
        raise RuntimeError(f"the changed bench book does not validate: {errors[0].location()} {errors[0].message}")


REPORT_ARGS = ["report", "--fund", "fund-a", "--as-of", "2026-11-28", "--format", "html"]


def own_process_stages(result: BenchResult, root: Path, base: Path) -> None:
    """Each command as the command line runs it, in a fresh process, so that each stage's time
    and peak memory are its own (not the bench process's): validate cold (its cache removed),
    posting the whole payment file into a copy of the book, the fund report from stored
    positions, the journal, `ledger rebuild` and `export`."""
    shutil.rmtree(root / ".loanctl" / "cache", ignore_errors=True)
    copy = base / "book-copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".loanctl", "payments"))  # an empty ledger
    out = base / "out"
    out.mkdir(exist_ok=True)
    for name, book, args, detail in (
            ("validate cold (own process)", root, ["validate"], "no .loanctl/cache"),
            ("post-payments (own process)", copy, ["post-payments", str(base / "payments.csv")],
             "the whole payment file into an empty ledger: parse, check, insert, allocate"),
            ("report, first (own process)", root, REPORT_ARGS + ["--out", str(out / "fund-a.html")],
             "fund-a html: computes and stores its positions"),
            ("report (own process)", root, REPORT_ARGS + ["--out", str(out / "fund-a.html")],
             "fund-a html, from stored positions"),
            ("journal (own process)", root, ["journal", "--from", "2025-12-01", "--to", "2026-11-30",
                                             "--format", "csv", "--out", str(out / "journal.csv")],
             "a year of month ends, whole book, csv"),
            ("ledger rebuild (own process)", root, ["ledger", "rebuild"],
             "the archive re-read with DuckDB, streamed, re-allocated"),
            ("export parquet (own process)", root, ["export", "--out", str(base / "export"), "--as-of", "2026-11-28"],
             "7 tables, as of 2026-11-28")):
        seconds, peak, code = _run_child(["--book", str(book), *args])
        if code != 0:
            raise RuntimeError(f"loanctl {' '.join(args)} failed in the bench (exit {code})")
        result.stages.append(Stage(name, seconds, peak, detail))


CHILD_RUNNER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps([time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)]))
"""
"""Runs and measures the command from a small process: a child forked from the large bench
process would count the bench's resident pages in its own high-water mark."""


def _run_child(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, the command's own peak MB, exit code) of `python -m loanctl ARGS`."""
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", CHILD_RUNNER, sys.executable, "-m", "loanctl", *args],
                         capture_output=True, text=True, check=True)
    seconds, peak, code = json.loads(out.stdout)
    return seconds, peak, code


def _ratios(result: BenchResult) -> None:
    def sec(name):
        s = result.stage(name)
        return s.seconds if s else None

    post = sec("post: parse, check, insert")
    read = result.references.get("duckdb_read_csv")
    legs = result.references.get("quantlib_legs")
    sched = sec("schedules")
    result.ratios["post_vs_read_csv"] = post / read if post and read else None
    result.ratios["schedules_vs_quantlib"] = sched / legs if sched and legs else None
    report = (sec("report build") or 0) + max((sec(f"report {f}") or 0) for f in ("json", "csv", "md", "html"))
    scale = 10_000 / max(1, result.deals)
    result.targets = {
        "validate ≤ 5 s for 10,000 deals": {"value": (sec("validate") or 0) * scale, "target": 5.0},
        "schedules ≤ 3× QuantLib legs": {"value": result.ratios["schedules_vs_quantlib"], "target": 3.0},
        "post ≤ 2× DuckDB read_csv": {"value": result.ratios["post_vs_read_csv"], "target": 2.0},
        "allocation ≤ 20 s for 1,000,000 payments": {"value": (sec("post: allocation") or 0) * 1_000_000 /
                                                    max(1, result.payments), "target": TARGETS["allocation_s"]},
        "allocation with events ≤ 20 s for 1,000,000 payments": {
            "value": (sec("allocation with events") or 0) * 1_000_000 / max(1, result.events),
            "target": TARGETS["allocation_s"]},
        "fund report ≤ 2 s with stored positions (build + slowest format, in process)": {
            "value": report, "target": TARGETS["report_s"]},
        "fund report ≤ 2 s with stored positions (`loanctl report` as a command)": {
            "value": sec("report (own process)"), "target": TARGETS["report_s"]},
        "journal ≤ 30 s for 10,000 deals (a year of month ends, own process)": {
            "value": (sec("journal (own process)") or 0) * scale, "target": TARGETS["journal_s"]},
        "ledger rebuild ≤ the original post (own processes)": {
            "value": sec("ledger rebuild (own process)"), "target": sec("post-payments (own process)") or 0.0},
        "peak memory ≤ 1.5 GB in every command (own processes)": {
            "value": max((s.peak_mb for s in result.stages if s.name.endswith("(own process)")), default=0),
            "target": TARGETS["peak_memory_mb"]},
        "validate after one deal changed ≤ 1 s": {"value": sec("validate after one deal changed"), "target": 1.0},
        "export ≤ 10 s": {"value": sec("export parquet (own process)"), "target": TARGETS["export_s"]},
    }
    for v in result.targets.values():
        v["met"] = v["value"] is not None and v["value"] <= v["target"]


def _duckdb_reference(pay_file: Path, base: Path) -> float:
    import duckdb
    db = base / "reference.duckdb"
    con = duckdb.connect(str(db))
    try:
        start = time.perf_counter()
        con.execute(f"CREATE TABLE p AS SELECT * FROM read_csv('{pay_file}', header=true)")
        return time.perf_counter() - start
    finally:
        con.close()


REFERENCE_FIXING = 0.04
"""The QuantLib reference's overnight fixing (a QuantLib double; loanctl's figures never meet it)."""


def _quantlib_reference(facilities, sofr_file: Path | None = None) -> float | None:
    """QuantLib building comparable legs: fixed-rate legs, and for the overnight facilities
    overnight-indexed legs (5-day lookback) on the same daily fixings, their amounts computed."""
    try:
        import QuantLib as ql
    except ImportError:
        return None
    dc = ql.Actual360()
    cal = ql.WeekendsOnly()
    sofr = None
    if sofr_file is not None and any(f[5] for f in facilities):
        sofr = ql.OvernightIndex("BENCH-SOFR", 0, ql.USDCurrency(), cal, dc)
        sofr.clearFixings()
        with open(sofr_file) as fh:
            next(fh)
            for line in fh:
                y, mo, dd = map(int, line.split(",", 1)[0].split("-"))
                # a fixing on every date the book has one: this leg times QuantLib, its amounts are
                # never compared, so the rate is QuantLib's own double like the legs' coupons below
                sofr.addFixing(ql.Date(dd, mo, y), REFERENCE_FIXING, True)
        ql.Settings.instance().evaluationDate = ql.Date(28, 11, 2026)
        curve = ql.YieldTermStructureHandle(ql.FlatForward(ql.Date(28, 11, 2026), 0.04, dc))
        sofr = sofr.clone(curve)  # forecasts after the last fixing (loanctl: the last rate)
    start = time.perf_counter()
    for _, _, s, m, commitment, overnight in facilities:
        sched = ql.Schedule(ql.Date(s.day, s.month, s.year), ql.Date(m.day, m.month, m.year), ql.Period(ql.Quarterly),
                            cal, ql.Unadjusted, ql.Unadjusted, ql.DateGeneration.Forward, False)
        if overnight and sofr is not None:
            leg = ql.OvernightLeg([int(commitment)], sched, sofr, dc, ql.Unadjusted, [1.0], [0.05],
                                  lookbackDays=5)
        else:
            leg = ql.FixedRateLeg(sched, dc, [int(commitment)], [0.09])  # QuantLib's own doubles: reference only
        for cf in leg:
            cf.amount()
    return time.perf_counter() - start


def help_seconds() -> float:
    import subprocess
    import sys
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "loanctl", "--help"], capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best
