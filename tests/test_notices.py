"""`loanctl notices` and `loanctl statement` (SPEC §5.1) through the real command line.

* A small inline book (`acme-tl`, below) whose billing, rate-set and payment notices and
  statement are computed by hand in the tests, with the arithmetic shown.
* The demo book (`deals/`) posted with the demo payment files: every figure of every notice
  equals the schedule's (`loanctl schedule --actuals/--lender --format json`), the rate
  file's and the ledger's allocations (`loanctl query`), never loanctl's notice code fed back.
* Byte-identical reruns; HTML notices in headless Chromium (skipped where none is installed;
  `.ci/run` installs it); PDF when WeasyPrint is importable (`loanctl[pdf]`).
* Bad input: exit codes and diagnostics, nothing written.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bookfactory import BOOK_YAML, invoke, tree_hash, write_book, write_file

REPO = Path(__file__).resolve().parent.parent
D = Decimal

REMITTANCE = ('remittance: {bank: "First Example Bank, N.A.", account: "000123456", aba: "021000021", '
              'reference: "ACME/{deal}/{date}"}\n')
BOOK = BOOK_YAML + REMITTANCE

# Fixings chosen so the floor binds in the second period: 4.30% from 2025-01-01, 4.20% from 2025-04-01.
RATES = "date,rate\n2025-01-01,0.0430\n2025-04-01,0.0420\n2025-07-01,0.0410\n"

DEAL = """\
id: acme-tl
name: Acme Industrial Term Loan
borrower: acme
status: funded
currency: USD
origination:
  sourced_by: j.smith
  purpose: acquisition financing
  underwriting: {ebitda: 12500000, total_debt: 45000000, cash: 2000000, collateral_value: 80000000}
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2025-01-10, decision: approved}
facilities:
  - id: tl
    type: term
    commitment: 10000000
    start_date: 2025-01-15
    maturity_date: 2026-01-15
    interest: {index: SOFR-3M, spread: 500bps, floor: 4.25%, day_count: ACT/360}
    payments: {frequency: quarterly, first_payment_date: 2025-04-15, business_day: modified_following,
               calendar: WEEKENDS}
    amortization: {type: percent, annual_rate: 4%}
    fees:
      - {type: fixed, amount: 5000, date: 2025-06-30, name: agency}
    participations:
      - {lender: fund-i, share: 60%}
      - {lender: fund-i-spv, share: 40%}
"""

# 300,000.00 of the 2025-04-15 payment: interest 232,500.00 first, then 67,500.00 of principal.
PAYMENTS = "payment_id,deal,facility,date,amount,currency,type,reference\np1,acme-tl,tl,2025-04-15,300000.00,USD,scheduled,wire\n"


def run(root: Path, *args):
    result = invoke(["--book", str(root), *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = write_book(tmp_path_factory.mktemp("small"), deals={"acme-tl": DEAL}, book_yaml=BOOK,
                      rates={"SOFR-3M": RATES})
    pay = write_file(root.parent, "p.csv", PAYMENTS)
    result = run(root, "post-payments", pay, "--posting-day", "2025-04-15")
    assert result.exit_code == 0, result.stderr
    return root


def notices_json(root: Path, out: Path, *args) -> dict[str, dict]:
    result = run(root, "notices", "--format", "json", "--out", out, *args)
    assert result.exit_code == 0, result.stderr
    return {str(p.relative_to(out)): json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.rglob("*.json"))}


# --- the hand-computed example ----------------------------------------------------------------
def test_billing_notice_matches_the_hand_computed_example(small, tmp_path):
    got = notices_json(small, tmp_path / "out", "--date", "2025-07-01", "--days", "20", "--kind", "billing")
    assert list(got) == ["2025-07-15/acme-tl-tl-billing-acme.json"]
    n = got["2025-07-15/acme-tl-tl-billing-acme.json"]
    # Period 2: 2025-04-15 (Tue) to 2025-07-15 (Tue) = 15 + 31 + 30 + 15 = 91 days.
    assert n["period"] == {"start": "2025-04-15", "end": "2025-07-15", "days": 91, "payment_date": "2025-07-15"}
    # Fixing on 2025-04-15 (lag 0): the latest row on or before it is 2025-04-01, 4.20%;
    # the 4.25% floor binds, so the base rate is 4.25% and the all-in 4.25% + 5.00% = 9.25%.
    assert n["rate"] == {"index": "SOFR-3M", "method": "term", "fixed_rate": None, "fixing_date": "2025-04-15",
                         "fixing": "0.042", "index_adjustment": "0", "floor": "0.0425", "cap": None, "base_rate": "0.0425", "spread": "0.05",
                         "all_in": "0.0925", "day_count": "ACT/360", "projected": False}
    # Balance: 10,000,000 less the first quarter's 1% (4% a year / 4 of funded) = 9,900,000.
    # Interest: 9,900,000 × 0.0925 × 91 / 360 = 83,333,250 / 360 = 231,481.25.
    # Fees: the 5,000 agency fee dated 2025-06-30 falls in the period. Principal 100,000.
    assert (n["balance"], n["interest"], n["pik"], n["commitment_fee"], n["fees"], n["principal"]) == (
        "9900000.00", "231481.25", "0.00", "0.00", "5000.00", "100000.00")
    assert n["fee_details"] == [{"kind": "agency", "amount": "5000.00"}]
    # Scheduled: 231,481.25 + 5,000 + 100,000 = 336,481.25; closing 9,900,000 − 100,000.
    assert (n["scheduled_total"], n["closing_balance"], n["received"]) == ("336481.25", "9800000.00", "0.00")
    # Period 1 owed 10,000,000 × 0.093 × 90 / 360 = 232,500 interest + 100,000 principal; the
    # 300,000 paid settles the interest and 67,500 of principal: 32,500 principal is past due.
    assert n["past_due"] == [{"date": "2025-04-15", "component": "principal", "kind": "", "amount": "32500.00"}]
    assert n["past_due_total"] == "32500.00"
    # The 32,500 principal overdue since 2025-04-15 bears the contractual 9.25% for the 91 days
    # of the period (SPEC §4.3), a due of its own on 2025-07-15:
    # 32,500 × 0.0925 × 91 / 360 = 273,568.75 / 360 = 759.9131… → 759.91.
    assert n["overdue_interest"] == "759.91"
    assert n["total_due"] == "369741.16"  # 336,481.25 + 759.91 + 32,500.00
    assert n["reference"] == "ACME/acme-tl/2025-07-15"
    assert n["remittance"] == {"bank": "First Example Bank, N.A.", "account": "000123456", "aba": "021000021"}
    assert (n["to"], n["currency"]) == ({"id": "acme", "name": "Acme Industrial Inc."}, "USD")


def test_rate_set_notices_split_the_interest_by_participation(small, tmp_path):
    got = notices_json(small, tmp_path / "out", "--date", "2025-04-15", "--days", "0", "--kind", "rate_set")
    assert sorted(got) == ["2025-04-15/acme-tl-tl-rate_set-fund-i-spv.json", "2025-04-15/acme-tl-tl-rate_set-fund-i.json"]
    a, b = got["2025-04-15/acme-tl-tl-rate_set-fund-i.json"], got["2025-04-15/acme-tl-tl-rate_set-fund-i-spv.json"]
    # The period from 2025-04-15: 231,481.25 of interest on 9,900,000 (as above);
    # fund-i 60%: 5,940,000.00 and 138,888.75; fund-i-spv 40%: 3,960,000.00 and 92,592.50.
    assert a["whole"] == {"balance": "9900000.00", "draws": "0.00", "interest": "231481.25", "pik": "0.00"}
    assert a["participation"] == {"share": "0.6", "balance": "5940000.00", "draws": "0.00", "interest": "138888.75",
                                  "pik": "0.00"}
    assert b["participation"]["interest"] == "92592.50" and b["participation"]["balance"] == "3960000.00"
    assert (a["rate"]["base_rate"], a["rate"]["spread"], a["rate"]["all_in"]) == ("0.0425", "0.05", "0.0925")


def test_payment_notices_show_what_was_received_and_each_lenders_part(small, tmp_path):
    got = notices_json(small, tmp_path / "out", "--date", "2025-04-10", "--days", "10", "--kind", "payment")
    assert sorted(got) == ["2025-04-15/acme-tl-tl-payment-fund-i-spv.json", "2025-04-15/acme-tl-tl-payment-fund-i.json"]
    a, b = got["2025-04-15/acme-tl-tl-payment-fund-i.json"], got["2025-04-15/acme-tl-tl-payment-fund-i-spv.json"]
    assert a["due"] == {"principal": "100000.00", "interest": "232500.00", "default_interest": "0.00",
                        "commitment_fee": "0.00", "fees": "0.00", "total": "332500.00"}
    assert a["received"] == {"principal": "67500.00", "interest": "232500.00", "default_interest": "0.00",
                             "commitment_fee": "0.00", "fees": "0.00", "total": "300000.00"}
    # 60% of 67,500 = 40,500 and of 232,500 = 139,500; 40%: 27,000 and 93,000.
    assert a["lender_part"] == {"principal": "40500.00", "interest": "139500.00", "default_interest": "0.00",
                                "commitment_fee": "0.00", "fees": "0.00", "total": "180000.00"}
    assert b["lender_part"]["total"] == "120000.00"
    assert a["paid_in_full"] is False and a["payments"] == ["p1"] and a["value_dates"] == ["2025-04-15"]


def test_no_payment_notice_before_the_dues_are_posted(small, tmp_path):
    got = notices_json(small, tmp_path / "out", "--date", "2025-07-15", "--days", "0", "--kind", "payment")
    assert got == {}


def test_statement_has_a_hand_computed_running_balance(small):
    result = run(small, "statement", "acme-tl", "--from", "2025-01-15", "--to", "2025-07-15", "--format", "json")
    assert result.exit_code == 0, result.stderr
    s = json.loads(result.stdout)
    lines = [(x["date"], x["description"], x["debit"], x["credit"], x["balance"]) for x in s["lines"]]
    assert s["opening_balance"] == "0.00"
    assert lines == [
        ("2025-01-15", "draw", "10000000.00", "0.00", "10000000.00"),
        ("2025-04-15", "interest due", "232500.00", "0.00", "10232500.00"),    # + 232,500 interest
        ("2025-04-15", "principal due", "0.00", "0.00", "10232500.00"),        # principal already owed
        ("2025-04-15", "payment p1", "0.00", "300000.00", "9932500.00"),       # − 300,000 cash
        ("2025-07-15", "fees (agency) due", "5000.00", "0.00", "9937500.00"),   # + 5,000 agency fee
        ("2025-07-15", "interest due", "231481.25", "0.00", "10168981.25"),    # + 231,481.25
        # + 759.91 interest on the 32,500 principal overdue (32,500 × 0.0925 × 91 / 360, see above)
        ("2025-07-15", "interest (interest on overdue principal) due", "759.91", "0.00", "10169741.16"),
        ("2025-07-15", "principal due", "0.00", "0.00", "10169741.16"),
    ]
    assert [x["due"] for x in s["lines"] if x["description"] == "principal due"] == ["100000.00", "100000.00"]
    assert s["lines"][3]["allocation"] == [{"component": "interest", "due_date": "2025-04-15", "amount": "232500.00"},
                                           {"component": "principal", "due_date": "2025-04-15", "amount": "67500.00"}]
    # closing = opening + debits − credits: 0 + 10,469,741.16 − 300,000 = 10,169,741.16, which is
    # principal 9,932,500 (10,000,000 − 67,500) + unpaid interest 231,481.25 + 759.91 + unpaid fee 5,000.
    assert (s["total_debits"], s["total_credits"], s["closing_balance"]) == ("10469741.16", "300000.00",
                                                                          "10169741.16")
    later = run(small, "statement", "acme-tl", "--from", "2025-07-01", "--to", "2025-07-31", "--format", "json")
    assert json.loads(later.stdout)["opening_balance"] == "9932500.00"


def test_statement_credits_the_upfront_fee_netted_at_closing(tmp_path):
    """An upfront fee is netted from the closing draw (SPEC §4.3): a due and a credit the same day."""
    deal = DEAL.replace("      - {type: fixed, amount: 5000", "      - {type: upfront, rate: 1%}\n"
                                                          "      - {type: fixed, amount: 5000")
    root = write_book(tmp_path, deals={"acme-tl": deal}, book_yaml=BOOK, rates={"SOFR-3M": RATES})
    result = run(root, "statement", "acme-tl", "--from", "2025-01-15", "--to", "2025-01-31", "--format", "json")
    assert result.exit_code == 0, result.stderr
    s = json.loads(result.stdout)
    # 1% of the 10,000,000 drawn at closing = 100,000.00, owed and settled out of the proceeds
    assert [(x["description"], x["debit"], x["credit"], x["balance"]) for x in s["lines"]] == [
        ("draw", "10000000.00", "0.00", "10000000.00"),
        ("fees (upfront) due", "100000.00", "0.00", "10100000.00"),
        ("upfront fee netted from the draw", "0.00", "100000.00", "10000000.00"),
    ]


@pytest.mark.parametrize("fmt", ["md", "html", "txt"])
def test_statement_renders_in_every_text_format(small, fmt):
    result = run(small, "statement", "acme-tl", "--from", "2025-01-15", "--to", "2025-07-15", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert "10,169,741.16" in result.stdout and "Acme Industrial Inc." in result.stdout


def test_every_format_renders_the_figures_and_reruns_are_byte_identical(small, tmp_path):
    for fmt in ("md", "html", "txt", "json"):
        out = tmp_path / fmt
        for _ in range(2):
            assert run(small, "notices", "--date", "2025-04-15", "--days", "91", "--format", fmt, "--out", out
                       ).exit_code == 0
            if _ == 0:
                first = tree_hash(out)
        assert tree_hash(out) == first
        billing = (out / "2025-07-15" / f"acme-tl-tl-billing-acme.{fmt}").read_text(encoding="utf-8")
        assert ("369,741.16" if fmt != "json" else "369741.16") in billing  # see the hand example
        assert "ACME/acme-tl/2025-07-15" in billing
    html = (tmp_path / "html" / "2025-07-15" / "acme-tl-tl-billing-acme.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html and "@media print" in html and "<script" not in html


def test_book_template_overrides_the_packaged_one(small, tmp_path):
    book = Path(shutil.copytree(small, tmp_path / "book"))
    write_file(book, "templates/notices/billing.md.j2", "Pay {{ n.total_due|amount }} quoting {{ n.reference }}\n")
    out = tmp_path / "out"
    assert run(book, "notices", "--date", "2025-07-15", "--days", "0", "--kind", "billing", "--out", out).exit_code == 0
    assert (out / "2025-07-15" / "acme-tl-tl-billing-acme.md").read_text() == \
        "Pay 369,741.16 quoting ACME/acme-tl/2025-07-15\n"  # 336,481.25 + 759.91 + 32,500.00


def test_notice_days_default_comes_from_the_policy(tmp_path):
    book = BOOK.replace("  limits:", "  notice_days: 0\n  limits:")
    root = write_book(tmp_path, deals={"acme-tl": DEAL}, book_yaml=book, rates={"SOFR-3M": RATES})
    out = tmp_path / "out"
    assert run(root, "notices", "--date", "2025-07-14", "--kind", "billing", "--out", out).exit_code == 0
    assert not out.exists() or list(out.rglob("*.md")) == []  # 2025-07-15 is one day beyond 0 days
    assert run(root, "notices", "--date", "2025-07-15", "--kind", "billing", "--out", out).exit_code == 0
    assert [p.name for p in out.rglob("*.md")] == ["acme-tl-tl-billing-acme.md"]


# --- bad input ----------------------------------------------------------------------------------
def test_unknown_deal_is_a_usage_error_and_writes_nothing(small, tmp_path):
    out = tmp_path / "out"
    result = run(small, "notices", "--deal", "nope", "--out", out)
    assert result.exit_code == 2 and "unknown deal 'nope'" in result.stderr
    result = run(small, "statement", "nope", "--from", "2025-01-01", "--to", "2025-12-31")
    assert result.exit_code == 2 and "unknown deal 'nope'" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["statement", "acme-tl", "--from", "2025-07-01", "--to", "2025-06-30"], "--from 2025-07-01 is after --to"),
    (["statement", "acme-tl", "--from", "2025-02-30", "--to", "2025-06-30"], "--from"),
    (["statement", "acme-tl", "--from", "2025-01-01", "--to", "2025-06-30", "--format", "docx"], "--format docx"),
    (["notices", "--kind", "invoice"], "--kind invoice is not one of billing, rate_set, payment"),
    (["notices", "--format", "xml"], "--format xml"),
    (["notices", "--days", "-1"], "--days -1"),
    (["notices", "--date", "2025-13-01"], "--date"),
])
def test_bad_options_are_usage_errors(small, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = run(small, *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_e0700_reference_with_an_unknown_field_is_refused_by_validate(tmp_path):
    text = BOOK.replace("ACME/{deal}/{date}", "ACME/{deal}/{amount}")
    root = write_book(tmp_path, deals={"acme-tl": DEAL}, book_yaml=text, rates={"SOFR-3M": RATES})
    result = run(root, "validate", "--format", "json")
    assert result.exit_code == 1
    [d] = [d for d in json.loads(result.stdout) if d["code"] == "E0700"]
    line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("remittance:"))) + 1
    assert (d["file"].endswith("book.yaml"), d["line"]) == (True, line)
    assert "'{amount}'" in d["message"]
    out = tmp_path / "out"
    assert run(root, "notices", "--out", out).exit_code == 1 and not out.exists()


def test_e0701_billing_without_remittance_writes_nothing(tmp_path):
    root = write_book(tmp_path, deals={"acme-tl": DEAL}, rates={"SOFR-3M": RATES})  # book.yaml has no remittance
    out = tmp_path / "out"
    result = run(root, "notices", "--date", "2025-07-01", "--days", "20", "--out", out)
    assert result.exit_code == 1
    code = "E0701"
    assert f"error[{code}]: billing notices need remittance instructions" in result.stderr
    assert not out.exists()
    # rate-set notices need no remittance
    assert run(root, "notices", "--date", "2025-04-15", "--days", "0", "--kind", "rate_set", "--out", out
               ).exit_code == 0


def test_e0702_pdf_without_weasyprint_is_a_usage_error(small, tmp_path, monkeypatch):
    from loanctl.render import notices as render_notices
    monkeypatch.setattr(render_notices, "pdf_available", lambda: False)
    out = tmp_path / "out"
    result = run(small, "notices", "--date", "2025-07-15", "--days", "0", "--format", "pdf", "--out", out)
    assert result.exit_code == 2
    code = "E0702"
    assert f"error[{code}]: PDF output needs WeasyPrint" in result.stderr
    assert not out.exists()


def test_a_failing_book_template_writes_no_notice(small, tmp_path):
    book = Path(shutil.copytree(small, tmp_path / "book"))
    write_file(book, "templates/notices/rate_set.md.j2", "{{ n.no_such_field }}\n")
    out = tmp_path / "out"
    result = run(book, "notices", "--date", "2025-04-15", "--days", "91", "--out", out)
    assert result.exit_code == 1 and "error[E0019]" in result.stderr
    assert not out.exists()


# --- PDF --------------------------------------------------------------------------------------
def test_pdf_is_generated_non_empty_and_reproducible(small, tmp_path):
    pytest.importorskip("weasyprint", reason="WeasyPrint not installed (pip install 'loanctl[pdf]')")
    out = tmp_path / "pdf"
    for _ in range(2):
        assert run(small, "notices", "--date", "2025-07-15", "--days", "0", "--format", "pdf", "--out", out
                   ).exit_code == 0
        data = (out / "2025-07-15" / "acme-tl-tl-billing-acme.pdf").read_bytes()
        if _ == 0:
            first = data
    assert data.startswith(b"%PDF-") and len(data) > 2000 and data == first
    st = tmp_path / "statement.pdf"
    assert run(small, "statement", "acme-tl", "--from", "2025-01-15", "--to", "2025-07-15", "--out", st).exit_code == 0
    assert st.read_bytes().startswith(b"%PDF-")


# --- the demo book, by property ---------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = Path(shutil.copytree(REPO / "deals", tmp_path_factory.mktemp("demo") / "deals",
                                ignore=shutil.ignore_patterns(".loanctl", "payments")))
    files = sorted((REPO / "templates" / "demo-payments").glob("*.csv"))
    result = run(root, "post-payments", *files, "--posting-day", "2026-11-28")
    assert result.exit_code == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def demo_notices(demo, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("demo-notices")
    got = {}
    for start, days in (("2025-01-01", 366), ("2026-01-02", 366)):
        got.update(notices_json(demo, out, "--date", start, "--days", str(days)))
    return got


def _cli_json(root: Path, *args) -> dict | list:
    result = run(root, *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_demo_notices_equal_the_schedule_the_rates_and_the_ledger(demo, demo_notices):
    kinds = defaultdict(int)
    for n in demo_notices.values():
        kinds[n["kind"]] += 1
    assert kinds["billing"] > 20 and kinds["rate_set"] > 40 and kinds["payment"] > 40, dict(kinds)

    paid = defaultdict(lambda: D(0))  # (deal, facility, due date, component) → allocated, from the ledger
    on_time = defaultdict(lambda: D(0))  # … → allocated with a value date on or before the due date
    for a in _cli_json(demo, "query", "select * from allocations"):
        paid[(a["deal"], a["facility"], a["due_date"], a["component"])] += D(a["amount"])
        if a["due_date"] is not None and a["value_date"] <= a["due_date"]:
            on_time[(a["deal"], a["facility"], a["due_date"], a["component"])] += D(a["amount"])
    rates = {}
    for path in (demo / "rates").glob("*.csv"):
        with open(path, newline="") as fh:
            rates[path.stem] = [(r["date"], D(r["rate"])) for r in csv.DictReader(fh)]
    schedules: dict = {}
    lender_rows: dict = {}

    def rows_of(deal, facility):
        if deal not in schedules:
            schedules[deal] = {f["facility"]: f["rows"] for f in _cli_json(demo, "schedule", deal, "--actuals")["facilities"]}
        return schedules[deal][facility]

    def lender_row(deal, facility, lender, on):
        key = (deal, lender)
        if key not in lender_rows:
            lender_rows[key] = {f["facility"]: {r["date"]: r for r in f["rows"]}
                                for f in _cli_json(demo, "schedule", deal, "--lender", lender)["facilities"]}
        return lender_rows[key][facility][on]

    checked = 0
    for name, n in demo_notices.items():
        rows = rows_of(n["deal"], n["facility"])
        by_date = {r["date"]: r for r in rows}
        if n["kind"] in ("billing", "rate_set"):
            row = by_date[n["period"]["payment_date"]]
            assert (row["accrual_start"], row["accrual_end"], row["days"]) == (
                n["period"]["start"], n["period"]["end"], n["period"]["days"]), name
            assert D(n["rate"]["all_in"]) == D(row["rate"]), name
            if n["rate"]["index"] and n["rate"]["method"] == "term":
                series = rates[n["rate"]["index"]]
                fixing = [r for d, r in series if d <= n["rate"]["fixing_date"]][-1]
                base = fixing + D(n["rate"]["index_adjustment"])
                base = max(base, D(n["rate"]["floor"])) if n["rate"]["floor"] else base
                assert D(n["rate"]["fixing"]) == fixing and D(n["rate"]["base_rate"]) == base, name
                assert base + D(n["rate"]["spread"]) == D(row["rate"]), name
            elif n["rate"]["index"]:  # overnight in arrears: no single fixing; the period's equivalent rate
                assert n["rate"]["fixing"] is None and n["rate"]["fixing_date"] is None, name
                assert D(n["rate"]["base_rate"]) + D(n["rate"]["spread"]) == D(row["rate"]), name
        if n["kind"] == "billing" and (n["deal"], row["date"]) == ("ironbridge-tl-2025", "2026-09-30"):
            # paid off on its quote that day: everything, the payoff's prepayment fee (a due the
            # allocation creates, not a schedule figure) included, is paid
            assert D(n["total_due"]) == 0, name
        elif n["kind"] == "billing":
            for key in ("interest", "pik", "commitment_fee", "fees", "principal"):
                assert n[key] == row[key], (name, key)
            assert (n["scheduled_total"], n["balance"], n["closing_balance"]) == (
                row["total_due"], row["opening_balance"], row["closing_balance"]), name
            received = sum((paid[(n["deal"], n["facility"], row["date"], c)]
                            for c in ("fees", "commitment_fee", "interest", "principal")), D(0))
            assert D(n["received"]) == received, name
            past = {}
            for r in rows:
                if r["date"] < row["date"]:
                    for c in ("fees", "commitment_fee", "interest", "principal"):
                        left = D(r[c]) - paid[(n["deal"], n["facility"], r["date"], c)]
                        if c == "fees" and r is rows[0] and D(r["draws"]) > 0:
                            left = D(0)  # every demo fee at closing is upfront, netted from the draw (SPEC §4.3)
                        if left > 0:
                            past[(r["date"], c)] = left
            assert {(p["date"], p["component"]): D(p["amount"]) for p in n["past_due"]} == past, name
            # interest on overdue principal (hand-checked in the small example and for pinecrest) is
            # owed only after some principal was not paid by its due date
            late = any(D(r["principal"]) > on_time[(n["deal"], n["facility"], r["date"], "principal")]
                       for r in rows if r["date"] < row["date"])
            assert D(n["overdue_interest"]) == 0 or late, name
            # default interest (SPEC §3.3) only on sable, the demo's one loan with a default rate
            assert D(n["default_interest"]) == 0 or n["deal"] == "sable-tl-2025", name
            assert D(n["total_due"]) == (D(row["total_due"]) + D(n["overdue_interest"]) + D(n["default_interest"])
                                         - received + sum(past.values(), D(0))), name
            assert n["reference"] == f"{n['deal']}-{row['date']}"
        elif n["kind"] == "rate_set":
            assert (n["whole"]["interest"], n["whole"]["balance"]) == (row["interest"], row["opening_balance"]), name
            # --lender is the contractual schedule: a facility whose balance the ledger reduced
            # (meridian prepaid 2026-06-15, juniper's revolver paid down 2026-02-24) differs after it
            # and ironbridge was paid off on 2026-09-30, ending its schedule there
            reduced = {("meridian-tl-2025", "tl"): "2026-06-15", ("juniper-tl-rcf-2025", "rcf"): "2026-02-24",
                       ("ironbridge-tl-2025", "tl"): "2026-09-29"}
            if not n["period"]["end"] > reduced.get((n["deal"], n["facility"]), "9999-12-31"):
                mine = lender_row(n["deal"], n["facility"], n["to"]["id"], row["date"])
                assert (n["participation"]["interest"], n["participation"]["balance"]) == (
                    mine["interest"], mine["opening_balance"]), name
        else:
            row = by_date[n["date"]]
            for c in ("principal", "interest", "commitment_fee", "fees"):
                assert D(n["received"][c]) == paid[(n["deal"], n["facility"], n["date"], c)], (name, c)
        checked += 1
    assert checked == len(demo_notices)


def test_demo_lender_parts_sum_to_the_whole(demo_notices):
    totals: dict = defaultdict(lambda: defaultdict(lambda: D(0)))
    wholes: dict = {}
    for n in demo_notices.values():
        key = (n["kind"], n["deal"], n["facility"], n["date"])
        if n["kind"] == "rate_set":
            totals[key]["interest"] += D(n["participation"]["interest"])
            totals[key]["share"] += D(n["participation"]["share"])
            wholes[key] = {"interest": D(n["whole"]["interest"]), "share": D(1)}
        elif n["kind"] == "payment":
            for c, v in n["lender_part"].items():
                totals[key][c] += D(v)
            wholes[key] = {c: D(v) for c, v in n["received"].items()}
    assert wholes
    for key, whole in wholes.items():
        assert dict(totals[key]) == whole, key


def test_demo_pinecrest_billing_shows_the_partial_payment_past_due(demo_notices):
    n = demo_notices["2026-12-14/pinecrest-tl-2026-tl-billing-pinecrest-foods.json"]
    # 2026-09-14 owed 628,044.84 interest + 65,000 principal; 400,000 paid the interest first:
    # 228,044.84 interest and 65,000.00 principal remain.
    assert [(p["component"], p["amount"]) for p in n["past_due"]] == [("interest", "228044.84"),
                                                                        ("principal", "65000.00")]
    # The 65,000.00 principal overdue bears the period's 9.56% (SOFR 3.81% + 5.75%) for its 91 days:
    # 65,000 × 0.0956 × 91 / 360 = 565,474 / 360 = 1,570.7611… → 1,570.76, due on 2026-12-14.
    assert n["rate"]["all_in"] == "0.0956" and n["period"]["days"] == 91
    assert n["overdue_interest"] == "1570.76"
    assert D(n["total_due"]) == D(n["scheduled_total"]) + D("1570.76") + D("293044.84")


# --- HTML in a real browser ---------------------------------------------------------------------
def test_html_notices_render_in_headless_chromium_without_console_errors(small, tmp_path):
    from test_report_browser import find_browser, page_messages, run_browser
    browser = find_browser()
    if browser is None:
        pytest.skip("no headless browser installed (apt-get install chromium)")
    out = tmp_path / "html"
    assert run(small, "notices", "--date", "2025-04-15", "--days", "91", "--format", "html", "--out", out).exit_code == 0
    pages = sorted(out.rglob("*.html"))
    kinds = ("billing", "rate_set", "payment")  # names are <deal>-<facility>-<kind>-<party>.html
    assert {k for p in pages for k in kinds if f"-{k}-" in p.name} == set(kinds)
    st = tmp_path / "statement.html"
    assert run(small, "statement", "acme-tl", "--from", "2025-01-15", "--to", "2025-07-15", "--out", st).exit_code == 0
    for page in pages + [st]:
        done = run_browser(browser, tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        assert page_messages(done.stderr) == [], (page.name, page_messages(done.stderr))
        assert '<main class="notice"' in done.stdout, page.name


def test_notices_date_is_a_window_and_payment_dates_outside_it_are_left_out(small, tmp_path):
    got = notices_json(small, tmp_path / "o", "--date", "2025-04-16", "--days", "89")
    assert got == {}  # next payment date 2025-07-15 is 90 days after 2025-04-16
    assert date(2025, 4, 16).toordinal() + 90 == date(2025, 7, 15).toordinal()


def test_demo_rate_set_after_a_prepayment_carries_the_lenders_lower_balance(demo_notices):
    """meridian-tl-2025 prepaid 4,000,000 on 2026-06-15: the facility owes 27,440,000.00 from
    2026-11-16 and fund-i's 30% is 8,232,000.00 (the lender's schedule subtracts its part of
    the prepayment, not only of scheduled principal)."""
    n = demo_notices["2026-11-16/meridian-tl-2025-tl-rate_set-fund-i.json"]
    assert n["whole"]["balance"] == "27440000.00"
    assert (n["participation"]["share"], n["participation"]["balance"]) == ("0.3", "8232000.00")
