"""Tables never cut a money figure: a schedule, a report, a post summary and a query printed into
a 60-column console show every amount whole (the table grows wider than the console instead of
ending an amount with "…"), and a table that fits prints exactly as rich prints it.

The book (inline): `big-tl`, a 123,456,789,012.34 USD bullet at a fixed 3.6% ACT/360, quarterly,
unadjusted, 2026-01-15 → 2027-01-15, all fund-i's. 3.6% / 360 = 0.01% a day, so a quarter of
d days costs 123,456,789,012.34 × 0.0001 × d:

    90 days (01-15 → 04-15)  1,111,111,101.11106  → 1,111,111,101.11
    91 days (04-15 → 07-15)  1,123,456,780.01229… → 1,123,456,780.01
    92 days (07-15 → 10-15)  1,135,802,458.91352… → 1,135,802,458.91   (and 10-15 → 01-15 again)
    total interest 1,111,111,101.11 + 1,123,456,780.01 + 2 × 1,135,802,458.91 = 4,506,172,798.94
    at maturity 123,456,789,012.34 + 1,135,802,458.91 = 124,592,591,471.25 due
    as of 2026-05-20 (nothing paid): accrued 35 days = 432,098,761.54(319); past due 1,111,111,101.11
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from rich.console import Console
from rich.table import Table

BOOK_YAML = """\
name: Wide Figures Credit
base_currency: USD
entities:
  - {id: fund-i, kind: fund, name: Fund I}
  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}
policy:
  approvals:
    - {require: [credit_officer]}
"""
DEAL_YAML = """\
id: big-tl
name: Big Term Loan
borrower: acme
status: funded
currency: USD
origination:
  approvals:
    - {by: jane.doe, role: credit_officer, date: 2026-01-10, decision: approved}
facilities:
  - id: tl
    type: term
    commitment: 123456789012.34
    start_date: 2026-01-15
    maturity_date: 2027-01-15
    draws: [{date: 2026-01-15, amount: 123456789012.34}]
    interest: {fixed_rate: 3.6%, day_count: ACT/360}
    payments: {frequency: quarterly, business_day: unadjusted, calendar: WEEKENDS}
    amortization: {type: bullet}
    participations: [{lender: fund-i, share: 100%}]
"""

COMMITMENT = "123,456,789,012.34"
INTEREST = ["1,111,111,101.11", "1,123,456,780.01", "1,135,802,458.91"]
TOTAL_INTEREST = "4,506,172,798.94"
DUE_AT_MATURITY = "124,592,591,471.25"
ACCRUED = "432,098,761.54"


@pytest.fixture
def loaded(tmp_path):
    from loanctl.api import load_valid_book
    root = tmp_path / "book"
    (root / "big-tl").mkdir(parents=True)
    (root / "book.yaml").write_text(BOOK_YAML, encoding="utf-8")
    (root / "big-tl" / "deal.yaml").write_text(DEAL_YAML, encoding="utf-8")
    book, errors = load_valid_book(root)
    assert errors == []
    return book


def narrow() -> Console:
    return Console(width=60, file=io.StringIO(), color_system=None)


def whole(out: str, *amounts: str) -> None:
    assert "…" not in out
    for a in amounts:
        assert a in out, a


def test_a_schedule_in_60_columns_shows_every_amount_whole(loaded):
    from loanctl.engine.deal import schedule_deal
    from loanctl.render.schedule import to_table
    from loanctl.reports.schedule import schedule_view
    result, diags = schedule_deal(loaded, "big-tl")
    assert diags == []
    console = narrow()
    to_table(schedule_view(result), console)
    out = console.file.getvalue()
    whole(out, COMMITMENT, *INTEREST, TOTAL_INTEREST, DUE_AT_MATURITY)
    assert max(len(line) for line in out.splitlines()) > 60  # widened, not cut


def test_a_report_in_60_columns_shows_every_amount_whole(loaded):
    from loanctl.render.report import to_text
    from loanctl.reports.build import build_report, resolve_scope
    report = build_report(loaded, resolve_scope(loaded, fund="fund-i"), date(2026, 5, 20), [])
    console = narrow()
    to_text(report, console)
    out = console.file.getvalue()
    # positions (outstanding, accrued, past due), the DPD bucket and the borrower concentration
    whole(out, COMMITMENT, ACCRUED, INTEREST[0])
    assert out.count(COMMITMENT) >= 4  # the position, its total, the 31-60 bucket, acme's concentration


def test_a_post_summary_in_60_columns_shows_every_amount_whole(loaded):
    from loanctl.ledger.posting import post
    from loanctl.render.servicing import post_table
    from loanctl.reports.posting import post_summary
    csv_text = ("payment_id,deal,date,amount,type,reference\n"
                "q1,big-tl,2026-04-15,1111111101.11,,first quarter's interest\n")
    result = post(loaded, [("p.csv", csv_text.encode())], date(2026, 5, 20), dry_run=True)
    assert result.ok, result.diagnostics
    console = narrow()
    post_table(post_summary(result), console)
    out = console.file.getvalue()
    # the deal's total and the allocation row (interest due 2026-04-15), as "1,111,111,101.11"
    assert out.count(INTEREST[0]) == 2
    whole(out, INTEREST[0])
    assert not (loaded.root / "payments").exists() or not any((loaded.root / "payments").iterdir())


def test_a_query_table_shows_every_number_whole():
    from loanctl.render.servicing import query_output
    columns = [f"amount_{i}" for i in range(12)] + ["reference"]
    rows = [tuple(Decimal("123456789012.3400") + i for i in range(12)) + ("a reference with words " * 3,)]
    out = query_output(columns, rows, "table")
    whole(out, *(f"{Decimal('123456789012.3400') + i}" for i in range(12)))
    assert "123456789012.3400" in out and "123456789023.3400" in out


def test_a_table_that_fits_prints_as_rich_prints_it():
    from loanctl.render.text import print_table

    def table() -> Table:
        t = Table(title="fits", header_style="bold")
        t.add_column("Deal")
        t.add_column("Amount", justify="right")
        t.add_row("acme-tl with a long name", "25,000,000.00")
        return t

    plain, ours = Console(width=80, file=io.StringIO()), Console(width=80, file=io.StringIO())
    plain.print(table())
    print_table(ours, table())
    assert ours.file.getvalue() == plain.file.getvalue()


def test_a_text_column_wraps_between_words_and_the_figure_stays_whole():
    from loanctl.render.text import print_table
    t = Table()
    t.add_column("Note")
    t.add_column("Amount", justify="right")
    t.add_row("late payment settled the oldest due first " * 2, "123,456,789,012.34")
    console = Console(width=40, file=io.StringIO())
    print_table(console, t)
    out = console.file.getvalue()
    whole(out, COMMITMENT)
    assert max(len(line) for line in out.splitlines()) <= 40  # the note wrapped: no need to widen
    assert "settled" in out and "oldest" in out  # words are not broken
