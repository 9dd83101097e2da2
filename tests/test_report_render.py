"""`loanctl report` rendered in every format through the real command line (SPEC §5).

The book is written inline below (`acme-fixed` is bookfactory's hand-computable loan): three
lenders (fund-a with its SPV fund-a-spv, and fund-b), three borrowers — one of them called
`<script>alert(1)</script>` in the industry `=HYPERLINK("x")`, another `Bravo | Pipe GmbH` —
and three fixed-rate deals whose figures can be computed by hand (ACT/360, quarterly,
unadjusted):

* `acme-fixed` (USD) 1,000,000 at 3.6% (100.00 a day per million), straight amortization
  250,000 a quarter, 2026-01-15 → 2027-01-15, upfront fee 1%; fund-a 50%, fund-a-spv 10%,
  fund-b 40%. Dues: 01-15 fee 10,000; 04-15 interest 9,000 + principal 250,000;
  07-15 interest 6,825 (750,000 × 91 days) + principal 250,000. All paid on the day.
* `evil-tl` (USD) 2,000,000 at 7.2% (400.00 a day), bullet, from 2026-02-01; fund-a 75%,
  fund-b 25%. Due 05-01 35,600 (89 days), paid on the day; due 08-01 36,800 (92 days),
  paid late and short: 10,000 on 08-20.
* `bravo-ddtl` (EUR) delayed draw, commitment 400,000, 300,000 drawn 2026-03-01, available
  until 2026-12-31, 3.6% (30.00 a day); fund-a 50%, fund-b 50%. Due 06-01 2,760 (92 days)
  paid; due 09-01 2,760 unpaid.

As of 2026-09-15 fund-a (with its SPV) holds, in USD, acme 300,000 outstanding + 1,860
accrued (62 days × 50 × 60%) and evil 1,500,000 + 13,500 (45 days × 400 × 75%), past due
20,100 (26,800 × 75%); in EUR 150,000 + 210 accrued (14 days × 30 × 50%), 50,000 unfunded,
past due 1,380.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bookfactory import fixed_term_deal, invoke, write_book_at

AS_OF = "2026-09-15"
HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("x")'

BOOK_YAML = """\
name: Harbour Test Credit
base_currency: USD
rounding: half_up
entities:
  - {id: fund-a, kind: fund, name: Fund A}
  - {id: fund-a-spv, kind: spv, name: Fund A SPV, parent: fund-a}
  - {id: fund-b, kind: fund, name: Fund B}
  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}
  - {id: evil, kind: borrower, name: "<script>alert(1)</script>", industry: "=HYPERLINK(\\"x\\")", country: US}
  - {id: bravo, kind: borrower, name: "Bravo | Pipe GmbH", industry: chemicals, country: DE}
policy:
  approvals:
    - {require: [credit_officer]}
  limits:
    max_borrower_share_of_fund: 50%
dpd_buckets: [0, 30, 60, 90, 120]
"""

DEALS = {
    "acme-fixed": fixed_term_deal("acme-fixed", {"fund-a": "50%", "fund-a-spv": "10%", "fund-b": "40%"}),
    "evil-tl": """\
id: evil-tl
name: Hostile names term loan
borrower: evil
status: funded
currency: USD
origination:
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2026-01-20, decision: approved}
facilities:
  - id: tl
    type: term
    commitment: 2000000
    start_date: 2026-02-01
    maturity_date: 2028-02-01
    interest: {fixed_rate: 7.2%, day_count: ACT/360}
    payments: {frequency: quarterly, business_day: unadjusted}
    amortization: {type: bullet}
    participations:
      - {lender: fund-a, share: 75%}
      - {lender: fund-b, share: 25%}
""",
    "bravo-ddtl": """\
id: bravo-ddtl
name: Bravo delayed-draw term loan
borrower: bravo
status: funded
currency: EUR
origination:
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2026-02-20, decision: approved}
facilities:
  - id: ddtl
    type: delayed_draw
    commitment: 400000
    start_date: 2026-03-01
    availability_end: 2026-12-31
    maturity_date: 2028-03-01
    draws: [{date: 2026-03-01, amount: 300000}]
    interest: {fixed_rate: 3.6%, day_count: ACT/360}
    payments: {frequency: quarterly, business_day: unadjusted}
    amortization: {type: bullet}
    participations:
      - {lender: fund-a, share: 50%}
      - {lender: fund-b, share: 50%}
""",
}

PAYMENTS_CSV = """\
payment_id,deal,facility,date,amount,type,reference
acme-1,acme-fixed,tl,2026-01-15,10000.00,fee,upfront fee
acme-2,acme-fixed,tl,2026-04-15,259000.00,scheduled,Q1
acme-3,acme-fixed,tl,2026-07-15,256825.00,scheduled,Q2
evil-1,evil-tl,tl,2026-05-01,35600.00,scheduled,Q1
evil-2,evil-tl,tl,2026-08-20,10000.00,scheduled,Q2 late and short
bravo-1,bravo-ddtl,ddtl,2026-06-01,2760.00,scheduled,Q1
"""

MONEY = ("commitment", "drawn", "unfunded", "outstanding_principal", "accrued_interest", "pik_capitalised",
         "interest_received", "fees_received", "principal_received", "unapplied", "past_due")


# --- the book and the command line ----------------------------------------------------------------
def write_report_book(root: Path) -> Path:
    """The book above under `root`, with its payments posted through `loanctl post-payments`."""
    write_book_at(root, BOOK_YAML, DEALS, {"SOFR-3M": "date,rate\n2025-12-31,4.00%\n"})
    bank = root.parent / "bank-export.csv"
    bank.write_text(PAYMENTS_CSV, encoding="utf-8")
    result = loanctl(root, "post-payments", bank, "--posting-day", "2026-09-15")
    assert result.exit_code == 0, result.stdout + result.stderr
    return root


def loanctl(root: Path, *args):
    """`loanctl --book ROOT ARGS` in-process; an unexpected exception fails the test with its traceback."""
    result = invoke(["--book", root, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def report(root: Path, *scope: str, fmt: str = "json", as_of: str = AS_OF) -> str:
    result = loanctl(root, "report", *scope, "--as-of", as_of, "--format", fmt)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result.stdout


def report_json(root: Path, *scope: str, as_of: str = AS_OF) -> dict:
    return json.loads(report(root, *scope, as_of=as_of))


def by_facility(doc: dict) -> dict[tuple[str, str], dict]:
    return {(p["deal"], p["facility"]): p for p in doc["positions"]}


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    return write_report_book(tmp_path_factory.mktemp("report") / "book")


# --- JSON -------------------------------------------------------------------------------------------
def test_json_has_the_spec_shape_with_money_as_strings(book):
    doc = report_json(book, "--fund", "fund-a")
    assert {"scope", "as_of", "positions", "totals", "metrics"} <= set(doc)
    assert doc["as_of"] == AS_OF
    assert doc["scope"] == {"kind": "fund", "id": "fund-a", "name": "Fund A", "lenders": ["fund-a", "fund-a-spv"]}
    assert sorted(doc["totals"]) == ["EUR", "USD"]
    for p in doc["positions"]:
        for k in MONEY:
            assert isinstance(p[k], str) and re.fullmatch(r"-?\d+\.\d{2}", p[k]), (k, p[k])
    usd, eur = doc["totals"]["USD"], doc["totals"]["EUR"]
    assert {k: usd[k] for k in ("outstanding_principal", "accrued_interest", "past_due", "interest_received",
                                "fees_received", "principal_received", "unfunded")} == {
        "outstanding_principal": "1800000.00", "accrued_interest": "15360.00", "past_due": "20100.00",
        "interest_received": "43695.00", "fees_received": "6000.00", "principal_received": "300000.00",
        "unfunded": "0.00"}
    assert {k: eur[k] for k in ("outstanding_principal", "accrued_interest", "past_due", "unfunded")} == {
        "outstanding_principal": "150000.00", "accrued_interest": "210.00", "past_due": "1380.00",
        "unfunded": "50000.00"}
    assert doc["metrics"]["EUR"]["unfunded_commitments"] == [
        {"deal": "bravo-ddtl", "facility": "ddtl", "unfunded": "50000.00", "availability_end": "2026-12-31"}]


def test_fund_totals_are_the_sums_of_its_positions(book):
    doc = report_json(book, "--fund", "fund-a")
    for ccy, totals in doc["totals"].items():
        rows = [p for p in doc["positions"] if p["currency"] == ccy]
        assert totals["positions"] == len(rows)
        for k in MONEY:
            assert Decimal(totals[k]) == sum((Decimal(p[k]) for p in rows), Decimal(0)), (ccy, k)


def test_currencies_are_never_summed_together(book):
    doc = report_json(book, "--book")
    assert doc["totals"]["USD"]["outstanding_principal"] == "2500000.00"  # 500,000 acme + 2,000,000 evil
    assert doc["totals"]["EUR"]["outstanding_principal"] == "300000.00"


@pytest.mark.parametrize("deal", sorted(DEALS))
def test_fund_plus_other_lender_is_the_facility_exactly(book, deal):
    whole = by_facility(report_json(book, "--deal", deal))
    fund = by_facility(report_json(book, "--fund", "fund-a"))
    lenders = {name: by_facility(report_json(book, "--lender", name)) for name in ("fund-a", "fund-a-spv", "fund-b")}
    for key, facility in whole.items():
        for k in MONEY:
            expected = Decimal(facility[k])
            other = Decimal(lenders["fund-b"][key][k])
            assert Decimal(fund[key][k]) + other == expected, (key, k)
            assert sum((Decimal(lenders[n][key][k]) for n in lenders if key in lenders[n]), Decimal(0)) == expected


# --- CSV --------------------------------------------------------------------------------------------
def test_csv_neutralises_formula_cells(book):
    rows = list(csv.DictReader(io.StringIO(report(book, "--book", fmt="csv"))))
    evil = next(r for r in rows if r["deal"] == "evil-tl")
    assert evil["industry"] == "'" + FORMULA
    assert evil["borrower_name"] == HOSTILE  # CSV is not HTML: the name is kept as written
    for row in rows:
        for column, cell in row.items():
            if cell[:1] in ("=", "+", "-", "@"):  # only a number may start with one of these
                assert re.fullmatch(r"[-+]\d+(\.\d+)?", cell), (column, cell)


def test_csv_keeps_negative_numbers_as_numbers():
    from loanctl.render.report import csv_safe

    assert csv_safe("-1250.50") == "-1250.50"
    assert csv_safe("-x") == "'-x"
    assert csv_safe("+1") == "+1"
    assert csv_safe("@SUM(A1)") == "'@SUM(A1)"


# --- Markdown ---------------------------------------------------------------------------------------
def _cells(line: str) -> list[str]:
    """A GFM table row's cells: split on pipes not escaped by a backslash."""
    assert line.startswith("|") and line.endswith("|"), line
    return re.split(r"(?<!\\)\|", line[1:-1])


def test_markdown_tables_have_the_same_column_count_on_every_line(book):
    text = report(book, "--fund", "fund-a", fmt="md")
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 10  # per currency: summary, positions, DPD, two concentrations (+ unfunded)
    for table in tables:
        width = len(_cells(table[0]))
        assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1]), table[1]
        for line in table:
            assert len(_cells(line)) == width, line


def test_markdown_escapes_pipes_and_html(book):
    text = report(book, "--fund", "fund-a", fmt="md")
    assert text.startswith("# Harbour Test Credit — fund Fund A (fund-a)\n")
    assert "| Bravo \\| Pipe GmbH |" in text
    assert "\\<script\\>alert(1)\\</script\\>" in text
    assert HOSTILE not in text
    assert "## EUR" in text and "## USD" in text


# --- HTML -------------------------------------------------------------------------------------------
def test_hostile_names_are_text_in_html(book):
    html = report(book, "--fund", "fund-a", fmt="html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert html.count("<script") == 1  # the page's own script, nothing from the book
    assert "=HYPERLINK(&#34;x&#34;)" in html


def test_html_is_self_contained(book):
    html = report(book, "--book", fmt="html")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # the browser refuses any fetch the page might attempt


def test_html_has_three_charts_and_a_positions_table_per_currency(book):
    html = report(book, "--fund", "fund-a", fmt="html")
    for ccy in ("usd", "eur"):
        for chart in ("outstanding", "cash", "dpd"):
            assert f'class="chart chart-{chart}" id="chart-{chart}-{ccy}"' in html
        assert f'<table class="positions sortable" id="positions-{ccy}">' in html
    assert html.count('role="img"') == 6
    assert '<td class="num" data-v="1500000.00">1,500,000.00</td>' in html  # thousands separators
    assert '<span class="flag">above limit</span>' in html


def test_out_file_extension_picks_the_format(book, tmp_path):
    for name, check in (("r.html", lambda t: t.startswith("<!DOCTYPE html>")),
                        ("r.md", lambda t: t.startswith("# Harbour Test Credit")),
                        ("r.json", lambda t: json.loads(t)["scope"]["id"] == "fund-a"),
                        ("r.csv", lambda t: t.startswith("deal,facility,borrower,"))):
        out = tmp_path / name
        result = loanctl(book, "report", "--fund", "fund-a", "--as-of", AS_OF, "--out", out)
        assert result.exit_code == 0, result.stderr
        assert check(out.read_text(encoding="utf-8")), name


def test_covenants_and_no_data_render_escaped(book):
    from loanctl.api import load_valid_book
    from loanctl.render.report import to_html, to_markdown
    from loanctl.reports.build import build_report, resolve_scope

    loaded, errors = load_valid_book(book)
    assert not errors
    r = build_report(loaded, resolve_scope(loaded, deal="evil-tl"), date(2026, 1, 1), [], [
        {"deal": "evil-tl", "covenant": "<b>lev|erage</b>", "period_end": date(2025, 12, 31),
         "metric": "total_leverage", "value": Decimal("6.2"), "bound": Decimal("6.0"),
         "headroom": Decimal("-0.2"), "status": "breached"}])
    html = to_html(r, book)
    assert '<section class="covenants" id="covenants">' in html
    assert "&lt;b&gt;lev|erage&lt;/b&gt;" in html and "<b>lev" not in html
    assert 'class="status status-breached">breached<' in html
    assert html.count('class="no-data"') == 3  # nothing drawn yet: no balance, no cash, nothing past due
    md = to_markdown(r, book)
    line = next(x for x in md.splitlines() if x.startswith("| evil-tl | \\<b"))
    assert len(_cells(line)) == 8
    assert "| total\\_leverage | 6.2 | 6.0 | -0.2 | **breached** |" in line


# --- determinism ------------------------------------------------------------------------------------
def test_same_book_and_options_give_byte_identical_output(book, tmp_path):
    """Two fresh interpreters with different hash seeds write the same bytes (each runs the
    command line once per format, in-process, to keep the test quick)."""
    script = ("import sys\n"
              "from typer.testing import CliRunner\n"
              "import loanctl.cli\n"
              "from loanctl.cli.common import app\n"
              "book, folder = sys.argv[1:3]\n"
              "for ext in ('json', 'csv', 'md', 'html'):\n"
              "    r = CliRunner().invoke(app, ['--book', book, 'report', '--fund', 'fund-a', '--as-of', '%s',\n"
              "                                 '--out', f'{folder}/report.{ext}'])\n"
              "    assert r.exit_code == 0, r.output\n" % AS_OF)
    outputs = {}
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env.pop("LOANCTL_BOOK", None)
        folder = tmp_path / seed
        folder.mkdir()
        subprocess.run([sys.executable, "-c", script, str(book), str(folder)], check=True, env=env, timeout=300)
        for ext in ("json", "csv", "md", "html"):
            outputs[seed, ext] = (folder / f"report.{ext}").read_bytes()
    for ext in ("json", "csv", "md", "html"):
        assert outputs["1", ext] == outputs["2", ext], ext
        assert len(outputs["1", ext]) > 500


# --- metrics against independent references ---------------------------------------------------------
def test_xirr_and_moic_match_pyxirr_on_the_hand_built_flows(book):
    pyxirr = pytest.importorskip("pyxirr")
    doc = report_json(book, "--fund", "fund-a")
    # fund-a + fund-a-spv: acme 60%, evil 75%; draws out, fees, interest and principal in,
    # outstanding + accrued on the as-of date as terminal value.
    usd = [(date(2026, 1, 15), -600_000), (date(2026, 1, 15), 6_000),
           (date(2026, 2, 1), -1_500_000),
           (date(2026, 4, 15), 5_400 + 150_000), (date(2026, 5, 1), 26_700),
           (date(2026, 7, 15), 4_095 + 150_000), (date(2026, 8, 20), 7_500),
           (date(2026, 9, 15), 300_000 + 1_860 + 1_500_000 + 13_500)]
    eur = [(date(2026, 3, 1), -150_000), (date(2026, 6, 1), 1_380), (date(2026, 9, 15), 150_000 + 210)]
    for ccy, flows in (("USD", usd), ("EUR", eur)):
        expected = pyxirr.xirr([d for d, _ in flows], [a for _, a in flows])
        got = Decimal(doc["metrics"][ccy]["xirr"])
        assert abs(float(got) - expected) < 1e-6, (ccy, got, expected)
        paid_in = sum(a for _, a in flows if a > 0)
        paid_out = -sum(a for _, a in flows if a < 0)
        assert Decimal(doc["metrics"][ccy]["moic"]) == (Decimal(paid_in) / Decimal(paid_out)).quantize(Decimal("1e-4"))


@pytest.mark.parametrize("as_of, past_due, dpd, bucket", [
    ("2026-08-01", "0.00", 0, "current"),       # due today is not yet past due
    ("2026-08-10", "36800.00", 9, "1-30"),      # 92 days × 400, unpaid for 9 days
    ("2026-08-20", "26800.00", 19, "1-30"),     # 10,000 paid late: the rest is still due since 08-01
    ("2026-09-15", "26800.00", 45, "31-60"),
])
def test_days_past_due_of_a_late_short_payment(book, as_of, past_due, dpd, bucket):
    doc = report_json(book, "--deal", "evil-tl", as_of=as_of)
    (p,) = doc["positions"]
    assert (p["past_due"], p["dpd"], p["dpd_bucket"]) == (past_due, dpd, bucket)
    buckets = {b["bucket"]: b for b in doc["metrics"]["USD"]["dpd_buckets"]}
    assert buckets[bucket] == {"bucket": bucket, "amount": "2000000.00", "count": 1}


# --- the charts on their own -------------------------------------------------------------------------
def test_charts_escape_data_text_and_write_two_decimal_coordinates():
    from loanctl.render.charts import cash_chart, dpd_chart, outstanding_chart

    svg = dpd_chart([{"bucket": "<b>x</b>", "amount": Decimal("10"), "count": 1}], "USD")
    assert "&lt;b&gt;x&lt;/b&gt;" in svg and "<b>" not in svg
    assert 'role="img"' in svg and 'aria-label="Outstanding principal by days past due (USD)"' in svg
    line = outstanding_chart([{"date": date(2026, 1, 31), "outstanding": Decimal("100")},
                              {"date": date(2026, 2, 28), "outstanding": Decimal("50.5")}], "USD")
    cash = cash_chart([{"month": "2026-01", "interest": Decimal(1), "fees": Decimal(0), "principal": Decimal(2)},
                       {"month": "2026-03", "interest": Decimal(1), "fees": Decimal(1), "principal": Decimal(0)}], "EUR")
    assert cash.count('class="axis-x"') == 3  # the empty February keeps the time axis even
    for text in (svg, line, cash):
        for value in re.findall(r'\s(?:x|y|cx|cy|width|height)="([^"]+)"', text):
            assert re.fullmatch(r"\d+(\.\d{2})?", value), value
    assert outstanding_chart([], "USD") == outstanding_chart([], "USD")
    assert 'class="no-data"' in outstanding_chart([], "USD")


# --- accrued PIK and commitment fee, unapplied cash and its age (issue #13 items 4 and 7) -----------
PIK_DEAL = (DEALS["bravo-ddtl"]  # the bravo delayed draw, with PIK, a commitment fee and one lender
            .replace("id: bravo-ddtl", "id: pik-ddtl")
            .replace("name: Bravo delayed-draw term loan", "name: Bravo PIK delayed-draw term loan")
            .replace("fixed_rate: 3.6%, day_count", "fixed_rate: 3.6%, pik_rate: 1.8%, day_count")
            .replace("    participations:\n      - {lender: fund-a, share: 50%}\n      - {lender: fund-b, share: 50%}\n",
                     "    fees:\n      - {type: commitment, rate: 90bps}\n    participations:\n"
                     "      - {lender: fund-a, share: 100%}\n"))

EVENTS_PAYMENTS_CSV = """\
payment_id,deal,facility,date,amount,type,reference
acme-1,acme-fixed,tl,2026-01-15,10000.00,fee,upfront fee
acme-2,acme-fixed,tl,2026-04-15,264000.00,scheduled,Q1 and 5000 more
acme-3,acme-fixed,tl,2026-07-15,256825.00,scheduled,Q2
"""


@pytest.fixture(scope="module")
def events_book(tmp_path_factory) -> Path:
    """acme-fixed (above) overpaid by 5,000 on 04-15, and a EUR PIK delayed-draw loan with a
    commitment fee, nothing paid."""
    root = tmp_path_factory.mktemp("events") / "book"
    root.mkdir(parents=True)
    (root / "book.yaml").write_text(BOOK_YAML, encoding="utf-8")
    (root / "rates").mkdir()
    (root / "rates" / "SOFR-3M.csv").write_text("date,rate\n2025-12-31,4.00%\n", encoding="utf-8")
    for deal_id, text in (("acme-fixed", DEALS["acme-fixed"]), ("pik-ddtl", PIK_DEAL)):
        (root / deal_id).mkdir()
        (root / deal_id / "deal.yaml").write_text(text, encoding="utf-8")
    bank = root.parent / "bank.csv"
    bank.write_text(EVENTS_PAYMENTS_CSV, encoding="utf-8")
    result = loanctl(root, "post-payments", bank, "--posting-day", "2026-09-15")
    assert result.exit_code == 0, result.stdout + result.stderr
    return root


def test_accrued_pik_and_commitment_fee_in_every_format(events_book):
    """pik-ddtl on 2026-09-15, 14 days into the period from 09-01. Balance: 300,000 + PIK
    06-01 300,000 × 1.8% × 92 / 360 = 1,380 + PIK 09-01 301,380 × 1.8% × 92 / 360 =
    1,386.348 → 1,386.35 = 302,766.35. Accrued: cash 302,766.35 × 3.6% × 14 / 360 =
    423.8729 → 423.87; PIK 302,766.35 × 1.8% × 14 / 360 = 211.9364 → 211.94; commitment fee
    on the undrawn 100,000 × 0.9% × 14 / 360 = 35.00."""
    (p,) = [p for p in report_json(events_book, "--book")["positions"] if p["deal"] == "pik-ddtl"]
    assert (p["outstanding_principal"], p["accrued_interest"], p["accrued_pik"], p["accrued_commitment_fee"]) == (
        "302766.35", "423.87", "211.94", "35.00")
    rows = {r["deal"]: r for r in csv.DictReader(io.StringIO(report(events_book, "--book", fmt="csv")))}
    assert (rows["pik-ddtl"]["accrued_pik"], rows["pik-ddtl"]["accrued_commitment_fee"]) == ("211.94", "35.00")
    md_text = report(events_book, "--book", fmt="md")
    assert "| Accrued PIK | 211.94 |" in md_text and "| Accrued commitment fee | 35.00 |" in md_text
    assert "| 302,766.35 | 423.87 | 211.94 | 35.00 |" in md_text                 # the position's row
    html = report(events_book, "--book", fmt="html")
    assert ">Accrued PIK</th>" in html and ">Accrued commitment fee</th>" in html
    assert '<td class="num" data-v="211.94">211.94</td>' in html and '<td class="num" data-v="35.00">35.00</td>' in html
    text = report(events_book, "--book", fmt="text")
    assert "Accr. PIK" in text and "211.94" in text and "35.00" in text


def test_xirr_terminal_value_includes_accrued_interest_pik_and_commitment_fee(events_book):
    """EUR on 2026-04-01, 31 days after the 300,000 draw, nothing paid: the terminal value is
    300,000 + cash 300,000 × 3.6% × 31 / 360 = 930.00 + PIK 300,000 × 1.8% × 31 / 360 = 465.00
    + commitment fee 100,000 × 0.9% × 31 / 360 = 77.50 = 301,472.50 (without the last two:
    300,930.00, MOIC 1.0031)."""
    doc = report_json(events_book, "--book", as_of="2026-04-01")
    (p,) = [p for p in doc["positions"] if p["deal"] == "pik-ddtl"]
    assert (p["accrued_interest"], p["accrued_pik"], p["accrued_commitment_fee"]) == ("930.00", "465.00", "77.50")
    eur = doc["metrics"]["EUR"]
    assert eur["moic"] == "1.0049"                                   # 301,472.50 / 300,000 = 1.004908…
    expected = ((Decimal("301472.50") / Decimal(300000)).ln() * 365 / 31).exp() - 1   # = 0.0593444…
    assert abs(Decimal(eur["xirr"]) - expected) < Decimal("1e-9")


@pytest.mark.parametrize("as_of, since, age", [
    # 04-15: 264,000 paid against 259,000 due (interest 9,000 + principal 250,000): 5,000 held
    ("2026-06-01", "2026-04-15", 47),                               # 04-15 → 06-01: 15 + 31 + 1 = 47 days
    # 07-15: the held 5,000 settles 5,000 of the 07-15 interest (6,825) as it falls due; the
    # 07-15 payment 256,825 then pays 1,825 + 250,000 and 5,000 of it is held: since 07-15
    ("2026-09-15", "2026-07-15", 62),                               # 16 + 31 + 15 = 62 days
])
def test_unapplied_cash_per_facility_with_its_age(events_book, as_of, since, age):
    (p,) = [p for p in report_json(events_book, "--deal", "acme-fixed", as_of=as_of)["positions"]]
    assert (p["unapplied"], p["unapplied_since"], p["unapplied_age_days"]) == ("5000.00", since, age)
    rows = list(csv.DictReader(io.StringIO(report(events_book, "--deal", "acme-fixed", fmt="csv", as_of=as_of))))
    assert (rows[0]["unapplied"], rows[0]["unapplied_since"], rows[0]["unapplied_age_days"]) == (
        "5000.00", since, str(age))
    md_text = report(events_book, "--deal", "acme-fixed", fmt="md", as_of=as_of)
    assert f"| acme-fixed | tl | 5,000.00 | {since} | {age} |" in md_text
    html = report(events_book, "--deal", "acme-fixed", fmt="html", as_of=as_of)
    assert ">Unapplied age (days)</th>" in html and f'<td class="num" data-v="{age}">{age}</td>' in html
    text = report(events_book, "--deal", "acme-fixed", fmt="text", as_of=as_of)
    assert "unapplied cash (USD)" in text and since in text and f"{age}" in text


def test_no_unapplied_cash_has_no_age(events_book):
    (p,) = [p for p in report_json(events_book, "--deal", "pik-ddtl")["positions"]]
    assert (p["unapplied"], p["unapplied_since"], p["unapplied_age_days"]) == ("0.00", None, None)
    assert "Unapplied cash (EUR)" not in report(events_book, "--deal", "pik-ddtl", fmt="md")
