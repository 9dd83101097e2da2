"""Whole-pipeline properties of servicing (SPEC §1.1, §4.2–§4.5), over generated books.

Hypothesis writes a small book as YAML text (1–3 funded deals of one facility each: term,
delayed draw or revolver; fixed or floating with a floor; every amortization type; fees;
1–3 lenders whose shares sum to exactly 100%; sometimes a participation transfer by
amendment) and a stream of payments (scheduled, prepayment, fee; value dates inside the
facility's life; 0.01 to 2,000,000.00) split over 2–3 CSV files. The files go through the
library API (`load_valid_book`, `posting.post`, `rebuild.rebuild`, `db.snapshot`,
`positions.*`) and these must hold:

* every payment's allocations sum exactly to its amount (in the ledger);
* a facility's position on any date reconciles: drawn + PIK capitalised − principal
  received = outstanding principal (and is never negative), and the cash received
  (interest + fees + principal + unapplied) is exactly the payments dated up to then plus
  the upfront fee netted from the closing draw;
* the lenders' positions sum exactly to the facility's, field by field (positions.MONEY);
* posting the same files again posts nothing and leaves the ledger and archive unchanged;
* the order in which the files are posted does not change the ledger, nor does posting
  them all at once through the bulk (vectorised DuckDB) path;
* `ledger rebuild` gives exactly the incrementally built ledger.

Each example gets its own folder from `tempfile.mkdtemp` (hypothesis and function-scoped
fixtures do not mix) and removes it afterwards.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from loanctl.api import load_valid_book
from loanctl.conventions.dates import add_months
from loanctl.ledger import check, db, posting, rebuild, staging
from loanctl.servicing.positions import (MONEY, allocate_facility, facility_inputs, facility_position,
                                         lender_position)

POSTING_DAY = date(2034, 12, 1)  # after every generated value date (maturities reach 2034-03): a post
# refuses value dates more than 366 days after its posting day (E0432)
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # fsync-free when available: DuckDB syncs a lot
LENDERS = ("fund-a", "fund-b", "fund-b-spv", "fund-c")
MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}

BOOK_YAML = """\
name: Property Test Partners
base_currency: USD
rounding: {rounding}
entities:
  - {{id: fund-a, kind: fund, name: Fund A}}
  - {{id: fund-b, kind: fund, name: Fund B}}
  - {{id: fund-b-spv, kind: spv, name: Fund B SPV, parent: fund-b}}
  - {{id: fund-c, kind: fund, name: Fund C}}
  - {{id: acme, kind: borrower, name: Acme Inc., industry: industrials, country: US}}
policy:
  approvals:
    - {{require: [credit_officer]}}
"""


def sofr_csv() -> str:
    """Month-start fixings from 2023-11 to 2026-11 (later periods project the last one)."""
    rows = ["date,rate"]
    rate = Decimal("0.0530")
    for k in range(37):
        rows.append(f"{add_months(date(2023, 11, 1), k)},{rate}")
        rate -= Decimal("0.0005") if k % 3 else Decimal("-0.0002")
    return "\n".join(rows) + "\n"


# --- strategies ------------------------------------------------------------------------------
@st.composite
def share_split(draw, n: int) -> list[Decimal]:
    """n shares in hundredths of a percent, each ≥ 0.01%, summing to exactly 100%."""
    if n == 1:
        return [Decimal(100)]
    cuts = sorted(draw(st.lists(st.integers(1, 9999), min_size=n - 1, max_size=n - 1, unique=True)))
    edges = [0, *cuts, 10000]
    return [Decimal(b - a) / 100 for a, b in zip(edges, edges[1:])]


@st.composite
def deals(draw, index: int) -> dict:
    deal_id = f"deal-{index}"
    start = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 800)))
    start = start.replace(day=min(start.day, 28))
    frequency = draw(st.sampled_from(sorted(MONTHS)))
    periods = draw(st.integers(2, 8))
    maturity = add_months(start, MONTHS[frequency] * periods)
    ftype = draw(st.sampled_from(["term", "delayed_draw", "revolver"]))
    commitment = Decimal(draw(st.integers(10_000_000, 500_000_000))) / 100  # 100k-5M: payments reach principal
    amort = draw(st.sampled_from(["bullet", "percent", "straight", "level", "custom"]))
    business_day = "unadjusted" if amort == "custom" else draw(
        st.sampled_from(["following", "modified_following", "preceding", "unadjusted"]))
    lines = [f"  - id: f{index}", f"    type: {ftype}", f"    commitment: {commitment}",
             f"    start_date: {start}", f"    maturity_date: {maturity}"]
    drawn = commitment
    if ftype != "term":
        avail = start + timedelta(days=draw(st.integers(31, (maturity - start).days)))
        lines.append(f"    availability_end: {avail}")
        n = draw(st.integers(1, 3))
        weights = [draw(st.integers(1, 100)) for _ in range(n)]
        total = sum(weights) + draw(st.integers(0, 100))
        items, drawn = [], Decimal(0)
        for i, w in enumerate(weights):
            when = start if i == 0 else start + timedelta(days=draw(st.integers(1, (avail - start).days - 1)))
            amount = (commitment * w / total).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
            if amount > 0:
                items.append(f"{{date: {when}, amount: {amount}}}")
                drawn += amount
        lines.append(f"    draws: [{', '.join(items)}]")
    if draw(st.booleans()):
        interest = (f"index: SOFR-3M, spread: {draw(st.integers(200, 800))}bps, "
                    f"floor: {draw(st.sampled_from(['0%', '1%', '4.5%']))}")
    else:
        interest = f"fixed_rate: {draw(st.integers(300, 1400))}bps"
    interest += f", pik_rate: {draw(st.sampled_from(['0%', '0%', '2%']))}"
    interest += f", day_count: {draw(st.sampled_from(['ACT/360', 'ACT/365F', '30/360', '30E/360', 'ACT/ACT']))}"
    lines.append(f"    interest: {{{interest}}}")
    lines.append(f"    payments: {{frequency: {frequency}, business_day: {business_day}, calendar: WEEKENDS}}")
    io_periods = draw(st.integers(0, 2))
    if amort == "custom":
        k = draw(st.integers(1, periods))
        each = (drawn / (2 * k)).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        sched = ", ".join(f"{{date: {add_months(start, MONTHS[frequency] * j)}, amount: {each}}}"
                          for j in range(1, k + 1))
        lines.append(f"    amortization: {{type: custom, schedule: [{sched}]}}")
    elif amort == "percent":
        lines.append(f"    amortization: {{type: percent, annual_rate: {draw(st.integers(1, 20))}%, "
                     f"interest_only_periods: {io_periods}}}")
    else:
        lines.append(f"    amortization: {{type: {amort}, interest_only_periods: {io_periods}}}")
    fees = []
    if draw(st.booleans()):
        fees.append("{type: upfront, rate: 2%}")
    if ftype != "term" and draw(st.booleans()):
        fees.append("{type: commitment, rate: 50bps}")
    if draw(st.booleans()):
        fees.append("{type: exit, rate: 1%}")
    if draw(st.booleans()):
        first = add_months(start, MONTHS[frequency])  # before maturity: there are at least 2 periods
        fees.append(f"{{type: prepayment, schedule: [{{until: {first}, rate: 2%}}, {{until: {maturity}, rate: 1%}}]}}")
    if draw(st.booleans()):
        fees.append(f"{{type: fixed, amount: {draw(st.integers(1, 5_000_000)) / 100:.2f}, "
                    f"date: {start + timedelta(days=draw(st.integers(0, (maturity - start).days)))}, name: agency}}")
    if fees:
        lines.append(f"    fees: [{', '.join(fees)}]")
    lenders = draw(st.lists(st.sampled_from(LENDERS[:3]), min_size=1, max_size=3, unique=True))
    shares = draw(share_split(len(lenders)))
    lines.append("    participations: [" + ", ".join(f"{{lender: {lender}, share: {s}%}}"
                                                     for lender, s in zip(lenders, shares)) + "]")
    text = (f"id: {deal_id}\nname: Deal {index}\nborrower: acme\nstatus: funded\ncurrency: USD\n"
            f"origination:\n  approvals:\n    - {{by: co, role: credit_officer, date: {start - timedelta(days=5)}}}\n"
            f"facilities:\n" + "\n".join(lines) + "\n")
    amendment = None
    if draw(st.integers(0, 3)) == 0:  # a participation transfer: fund-c buys into the facility
        eff = start + timedelta(days=draw(st.integers(1, (maturity - start).days - 1)))
        new = draw(share_split(2))
        amendment = (f"id: 001-transfer\neffective_date: {eff}\ndescription: participation transfer\n"
                     f"approvals: [{{by: co, role: credit_officer, date: {eff}}}]\n"
                     f"changes:\n  - {{facility: f{index}, set: {{participations: [{{lender: {lenders[0]}, "
                     f"share: {new[0]}%}}, {{lender: fund-c, share: {new[1]}%}}]}}}}\n")
    return {"id": deal_id, "facility": f"f{index}", "start": start, "maturity": maturity, "yaml": text,
            "amendment": amendment}


@st.composite
def cases(draw) -> dict:
    book_deals = [draw(deals(i)) for i in range(draw(st.integers(1, 3)))]
    n_files = draw(st.integers(2, 3))
    n_payments = draw(st.integers(n_files, 14))
    payments = []
    for k in range(n_payments):
        d = draw(st.sampled_from(book_deals))
        when = d["start"] + timedelta(days=draw(st.integers(0, (d["maturity"] - d["start"]).days)))
        kind = draw(st.sampled_from(["scheduled", "scheduled", "scheduled", "prepayment", "fee"]))
        cents = draw(st.one_of(st.integers(1, 200_000_000), st.integers(1, 2_000_000)))
        payments.append((f"p{k:03d}", d["id"], d["facility"], when.isoformat(), f"{Decimal(cents) / 100:.2f}",
                         kind, f"ref {k}"))
    # every file gets at least one row; the rest land anywhere
    where = list(range(n_files)) + [draw(st.integers(0, n_files - 1)) for _ in range(n_payments - n_files)]
    where = draw(st.permutations(where))
    files = [[p for p, w in zip(payments, where) if w == i] for i in range(n_files)]
    return {"deals": book_deals, "files": files, "rounding": draw(st.sampled_from(["half_up", "half_even"])),
            "as_of": [date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 2000))) for _ in range(3)]}


# --- the book on disk ------------------------------------------------------------------------
def write_case(root: Path, case: dict) -> Path:
    root.mkdir(parents=True)
    (root / "book.yaml").write_text(BOOK_YAML.format(rounding=case["rounding"]), encoding="utf-8")
    (root / "rates").mkdir()
    (root / "rates" / "SOFR-3M.csv").write_text(sofr_csv(), encoding="utf-8")
    for d in case["deals"]:
        (root / d["id"]).mkdir()
        (root / d["id"] / "deal.yaml").write_text(d["yaml"], encoding="utf-8")
        if d["amendment"]:
            (root / d["id"] / "amendments").mkdir()
            (root / d["id"] / "amendments" / "001-transfer.yaml").write_text(d["amendment"], encoding="utf-8")
    return root


def file_bytes(rows: list[tuple]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("payment_id", "deal", "facility", "date", "amount", "type", "reference"))
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def load(root: Path):
    loaded, errors = load_valid_book(root)
    assert not errors, "the generated book is invalid: " + "; ".join(f"{e.location()} {e.code} {e.message}"
                                                                     for e in errors)
    return loaded


def post_all(loaded, files: list[tuple[str, bytes]], order: list[int]) -> None:
    for i in order:
        result = posting.post(loaded, [files[i]], POSTING_DAY)
        assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
        assert len(result.posted) == files[i][1].count(b"\n") - 1


def archive(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "payments").iterdir())}


def positions_hold(loaded, case: dict) -> None:
    payments = db.ledger_payments(loaded.root)
    by_facility = defaultdict(list)
    for p in payments:
        by_facility[(p.deal, p.facility)].append(p)
    buckets = loaded.book.dpd_buckets
    mode = loaded.book.rounding
    for d in case["deals"]:
        key = (d["id"], d["facility"])
        terms, builder = facility_inputs(loaded, d["id"])
        dates = {d["start"], d["maturity"], d["maturity"] + timedelta(days=1), *case["as_of"],
                 *(p.date for p in by_facility[key])}
        for as_of in sorted(dates):
            pays = [p for p in by_facility[key] if p.date <= as_of]
            fa = allocate_facility(loaded, d["id"], d["facility"], pays, terms=terms, builder=builder)
            whole = facility_position(fa, d["id"], as_of, buckets, mode)
            where = f"{key} as of {as_of}"
            assert whole.drawn + whole.pik_capitalised - whole.principal_received == whole.outstanding_principal, where
            assert whole.outstanding_principal >= 0, where
            cash = sum((p.amount for p in pays), Decimal(0))
            # an upfront fee netted from the closing draw is received without a payment (SPEC §4.3)
            netted = sum((n.amount for n in fa.netted if n.date <= as_of), Decimal(0))
            assert (whole.interest_received + whole.fees_received + whole.principal_received
                    + whole.unapplied) == cash + netted, where
            lenders = list(dict.fromkeys(n for r in fa.schedule.rows for n, _ in r.shares))
            parts = [lp for lender in lenders if (lp := lender_position(fa, whole, lender)) is not None]
            assert parts, where
            for name in MONEY:
                total = sum((getattr(lp, name) for lp in parts), Decimal(0))
                assert total == getattr(whole, name), (f"{where}: lenders' {name} sum to {total}, "
                                                       f"the facility's is {getattr(whole, name)}")


# --- the property ----------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases())
def test_the_pipeline_allocates_reconciles_splits_and_rebuilds_exactly(case):
    base = Path(tempfile.mkdtemp(prefix="loanctl-prop-", dir=SCRATCH))
    try:
        files = [(f"bank-{i}.csv", file_bytes(rows)) for i, rows in enumerate(case["files"])]

        # incremental, in file order
        one = load(write_case(base / "one", case))
        post_all(one, files, list(range(len(files))))
        incremental = db.snapshot(one.root)

        # Σ allocations per payment == the payment, exactly
        alloc = defaultdict(Decimal)
        for a in incremental["allocations"]:
            alloc[a[0]] += a[6]
        amounts = {p[0]: p[4] for p in incremental["payments"]}
        assert len(amounts) == sum(len(rows) for rows in case["files"])
        assert dict(alloc) == amounts
        for component in sorted({a[5] for a in incremental["allocations"]}):
            event(f"allocated to {component}")
        for d in case["deals"]:
            event("a participation transfer" if d["amendment"] else "no transfer")
        assert check.check(one) == []

        positions_hold(one, case)

        # posting the files again, one and all together, posts nothing and changes nothing
        archived = archive(one.root)
        again = posting.post(one, [files[-1]], POSTING_DAY)
        assert again.ok and again.posted == [] and again.duplicates == len(case["files"][-1])
        again = posting.post(one, files, POSTING_DAY)
        assert again.ok and again.posted == [] and again.duplicates == len(amounts)
        assert db.snapshot(one.root) == incremental
        assert archive(one.root) == archived

        # the other order, in a second copy of the same book
        two = load(write_case(base / "two", case))
        post_all(two, files, list(reversed(range(len(files)))))
        assert db.snapshot(two.root) == incremental

        # all files in one post through the bulk (vectorised) path
        three = load(write_case(base / "three", case))
        took = []
        fast = posting._post_fast

        def spy(*args, **kwargs):
            took.append(fast(*args, **kwargs))
            return took[-1]
        with mock.patch.object(staging, "FAST_PATH_BYTES", 0), mock.patch.object(posting, "_post_fast", spy):
            result = posting.post(three, files, POSTING_DAY)
        assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
        event("bulk path posted" if took == [True] else "bulk path fell back")
        assert db.snapshot(three.root) == incremental

        # rebuild from the archive == the incrementally built ledger
        n_files, n_payments, diags = rebuild.rebuild(one, POSTING_DAY)
        assert diags == [] and (n_files, n_payments) == (len(files), len(amounts))
        assert db.snapshot(one.root) == incremental
        assert check.check(one) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
