"""`loanctl reconcile`: camt.053, MT940 and CSV statements matched to open dues, the payments
file it writes, idempotent re-runs through post-payments, and hostile statements refused.

The book is written here: four funded deals at fixed rates on 30/360, quarterly from
2026-01-15 (first payment 2026-04-15, unadjusted), bullet, so each quarter's due is
principal × rate × 90/360 exactly:

    acme-tl   1,000,000 × 12% × 90/360 = 30,000.00
    beta-tl   2,000,000 ×  9% × 90/360 = 45,000.00
    gamma-tl    500,000 ×  8% × 90/360 = 10,000.00
    delta-tl    800,000 × 10% × 90/360 = 20,000.00

The 2026-04-15 dues are posted; the 2026-07-15 dues are open when the July statement arrives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bookfactory import invoke, run_cli_subprocess, write_book

BOOK = """\
name: Recon Test Partners
base_currency: USD
entities:
  - {id: fund-i, kind: fund, name: Test Fund I}
  - {id: acme, kind: borrower, name: Acme Industrial Inc.}
  - {id: beta, kind: borrower, name: Beta Logistics LLC}
  - {id: gamma, kind: borrower, name: Gamma Foods Co}
  - {id: delta, kind: borrower, name: Delta Pet Care Inc.}
policy:
  approvals:
    - {require: [credit_officer]}
reconcile:
  tolerance: 0.50
  profiles:
    bankx:
      columns: {transaction_id: Txn ID, date: Value Date, amount: Amount, currency: Ccy, remittance: Details, counterparty: Payer}
      date_format: "%d/%m/%Y"
"""


def deal(deal_id: str, borrower: str, commitment: str, rate: str, currency: str = "USD") -> str:
    return f"""\
id: {deal_id}
name: {deal_id}
borrower: {borrower}
status: funded
currency: {currency}
origination:
  approvals:
    - {{by: jane.doe, role: credit_officer, date: 2026-01-10, decision: approved}}
facilities:
  - id: tl
    commitment: {commitment}
    start_date: 2026-01-15
    maturity_date: 2028-01-15
    interest: {{fixed_rate: {rate}, day_count: 30/360}}
    payments: {{frequency: quarterly, first_payment_date: 2026-04-15, business_day: unadjusted}}
    participations:
      - {{lender: fund-i, share: 100%}}
"""


DEALS = {"acme-tl": deal("acme-tl", "acme", "1000000", "12%"), "beta-tl": deal("beta-tl", "beta", "2000000", "9%"),
         "gamma-tl": deal("gamma-tl", "gamma", "500000", "8%"), "delta-tl": deal("delta-tl", "delta", "800000", "10%")}

Q1_POSTED = """\
payment_id,deal,date,amount,currency,reference
q1-acme,acme-tl,2026-04-15,30000.00,USD,Q1
q1-beta,beta-tl,2026-04-15,45000.00,USD,Q1
q1-gamma,gamma-tl,2026-04-15,10000.00,USD,Q1
q1-delta,delta-tl,2026-04-15,20000.00,USD,Q1
"""
POSTING_DAY = "2026-08-03"


def cli(*args):
    result = invoke([str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def book(tmp_path) -> Path:
    root = write_book(tmp_path, deals=DEALS, book_yaml=BOOK, rates={})
    q1 = tmp_path / "q1.csv"
    q1.write_text(Q1_POSTED)
    r = cli("--book", root, "post-payments", q1, "--posting-day", POSTING_DAY)
    assert r.exit_code == 0, r.output
    return root


# --- statements, written by hand -------------------------------------------------------------
def camt_entry(ref: str, amount: str, when: str, remittance: str = "", debtor: str = "", indicator: str = "CRDT",
               currency: str = "USD") -> str:
    parties = f"<RltdPties><Dbtr><Nm>{debtor}</Nm></Dbtr></RltdPties>" if debtor else ""
    rmt = f"<RmtInf><Ustrd>{remittance}</Ustrd></RmtInf>" if remittance else ""
    return f"""\
      <Ntry>
        <Amt Ccy="{currency}">{amount}</Amt>
        <CdtDbtInd>{indicator}</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{when}</Dt></BookgDt>
        <ValDt><Dt>{when}</Dt></ValDt>
        <AcctSvcrRef>{ref}</AcctSvcrRef>
        <NtryDtls><TxDtls>{parties}{rmt}</TxDtls></NtryDtls>
      </Ntry>
"""


CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def camt(*entries: str, stmt_id: str = "STMT-2026-07") -> str:
    return f"""\
<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{CAMT_NS}">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-08-01T06:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{stmt_id}</Id>
      <CreDtTm>2026-08-01T06:00:00</CreDtTm>
      <FrToDt><FrDtTm>2026-07-01T00:00:00</FrDtTm><ToDtTm>2026-07-31T23:59:59</ToDtTm></FrToDt>
      <Acct><Id><Othr><Id>000123456</Id></Othr></Id><Ccy>USD</Ccy></Acct>
{''.join(entries)}    </Stmt>
  </BkToCstmrStmt>
</Document>
"""


JULY_CAMT = camt(
    camt_entry("BK-0001", "30000.00", "2026-07-15", "INTEREST ACME-TL-2026-07-15", "ACME INDUSTRIAL INC"),
    camt_entry("BK-0002", "45000.00", "2026-07-16", "Q2 INTEREST", "Beta Logistics LLC"),
    camt_entry("BK-0003", "6000.00", "2026-07-17", "gamma-tl-2026-07-15 part payment"),
    camt_entry("BK-0004", "1234.56", "2026-07-20", "INVOICE 99812", "Harbor Marine Supply"),
    camt_entry("BK-0005", "25.00", "2026-07-31", "ACCOUNT FEE", indicator="DBIT"),
)

JULY_MT940 = """\
:20:STMT-2026-07
:25:021000021/000123456
:28C:00007/001
:60F:C260701USD0,00
:61:2607150715C30000,00NTRFNONREF//BK-0001
:86:ACME-TL-2026-07-15 INTEREST
:61:2607160716C44999,60NTRFNONREF//BK-0002
:86:Q2 INTEREST
:61:2607170717C6000,00NTRFNONREF//BK-0003
:86:GAMMA FOODS CO PART PAYMENT
:61:2607200720C1234,56NTRFNONREF//BK-0004
:86:HARBOR MARINE SUPPLY INVOICE 99812
:61:2607310731D25,00NCHGNONREF//BK-0005
:86:ACCOUNT FEE
:62F:C260731USD82209,16
"""
# closing balance: 30,000.00 + 44,999.60 + 6,000.00 + 1,234.56 − 25.00 = 82,209.16

JULY_CSV = """\
Txn ID,Value Date,Amount,Ccy,Details,Payer
BK-0001,15/07/2026,30000.00,USD,ACME-TL-2026-07-15,ACME INDUSTRIAL INC
BK-0002,16/07/2026,45000.00,USD,Q2 INTEREST,Beta Logistics LLC
BK-0003,17/07/2026,6000.00,USD,gamma-tl-2026-07-15,
BK-0004,20/07/2026,1234.56,USD,INVOICE 99812,Harbor Marine Supply
BK-0005,31/07/2026,-25.00,USD,ACCOUNT FEE,
"""

HEADER = "payment_id,deal,facility,date,amount,currency,type,reference\n"


def reconcile(root: Path, statement: Path, *extra):
    out = statement.parent / "payments.csv"
    result = cli("--book", root, "reconcile", statement, "--out", out, "--format", "json", *extra)
    return result, out


def summary(report: dict) -> list[tuple]:
    return [(c["entry"], c["status"], c["rule"], c["deal"], c["due_date"], c["due"], c["difference"])
            for c in report["credits"]]


# --- matching --------------------------------------------------------------------------------
def test_camt053_matches_by_reference_borrower_partial_unknown_and_missing(book, tmp_path):
    statement = tmp_path / "july.xml"
    statement.write_text(JULY_CAMT)
    result, out = reconcile(book, statement)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert summary(report) == [
        # quotes acme-tl-2026-07-15 (any case): the acme-tl dues of 2026-07-15, 30,000.00, exactly
        ("BK-0001", "matched", "reference", "acme-tl", "2026-07-15", "30000.00", "0.00"),
        # no reference; the payer is beta's name and 45,000.00 is beta-tl's 2026-07-15 due (the oldest
        # of its open dates 2026-07-15 and 2026-10-15, which both owe 45,000.00)
        ("BK-0002", "matched", "borrower", "beta-tl", "2026-07-15", "45000.00", "0.00"),
        # quotes gamma-tl-2026-07-15: 6,000.00 of 10,000.00, short by 4,000.00
        ("BK-0003", "partial", "reference", "gamma-tl", "2026-07-15", "10000.00", "-4000.00"),
        # names nobody and owes no one's dues: 1,234.56 is not within 0.50 of 30,000/45,000/10,000/20,000
        ("BK-0004", "unexpected", None, None, None, None, None),
    ]
    assert [c["line"] for c in report["credits"]] == [10, 19, 28, 37]  # each <Ntry> is 9 lines, the first at 10
    assert report["ignored"] == [{"entry": "BK-0005", "line": 46, "date": "2026-07-31", "amount": "25.00",
                                  "currency": "USD", "reason": "debit"}]
    # delta-tl's 2026-07-15 due (800,000 × 10% × 90/360) falls in the statement's July and nobody paid it
    assert report["missing"] == [{"deal": "delta-tl", "facility": "tl", "date": "2026-07-15", "amount": "20000.00",
                                  "currency": "USD"}]
    assert report["statement"]["from"] == "2026-07-01" and report["statement"]["to"] == "2026-07-31"
    assert report["totals"] == {"matched": 2, "partial": 1, "overpaid": 0, "unexpected": 1, "ignored": 1, "missing": 1}
    assert out.read_text() == HEADER + (
        "BK-0001,acme-tl,tl,2026-07-15,30000.00,USD,scheduled,STMT-2026-07\n"
        "BK-0002,beta-tl,tl,2026-07-16,45000.00,USD,scheduled,STMT-2026-07\n"
        "BK-0003,gamma-tl,tl,2026-07-17,6000.00,USD,scheduled,STMT-2026-07\n")


def test_mt940_matches_within_the_tolerance_and_by_borrower_name(book, tmp_path):
    statement = tmp_path / "july.sta"
    statement.write_text(JULY_MT940)
    result, out = reconcile(book, statement)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert summary(report) == [
        ("BK-0001", "matched", "reference", "acme-tl", "2026-07-15", "30000.00", "0.00"),
        # no reference, no name: |45,000.00 − 44,999.60| = 0.40 ≤ tolerance 0.50, and beta-tl is the only
        # deal with a due that near (its oldest such date, 2026-07-15)
        ("BK-0002", "matched", "tolerance", "beta-tl", "2026-07-15", "45000.00", "-0.40"),
        # "GAMMA FOODS CO" names the borrower gamma; no due equals 6,000.00 and gamma-tl is its only deal
        # with dues open: its oldest open date, 2026-07-15, owes 10,000.00
        ("BK-0003", "partial", "borrower", "gamma-tl", "2026-07-15", "10000.00", "-4000.00"),
        ("BK-0004", "unexpected", None, None, None, None, None),
    ]
    assert [c["line"] for c in report["credits"]] == [5, 7, 9, 11]
    assert [i["entry"] for i in report["ignored"]] == ["BK-0005"]
    assert [(m["deal"], m["date"], m["amount"]) for m in report["missing"]] == [("delta-tl", "2026-07-15", "20000.00")]
    assert out.read_text() == HEADER + (
        "BK-0001,acme-tl,tl,2026-07-15,30000.00,USD,scheduled,STMT-2026-07\n"
        "BK-0002,beta-tl,tl,2026-07-16,44999.60,USD,scheduled,STMT-2026-07\n"
        "BK-0003,gamma-tl,tl,2026-07-17,6000.00,USD,scheduled,STMT-2026-07\n")


def test_csv_statement_through_a_book_profile(book, tmp_path):
    statement = tmp_path / "july.csv"
    statement.write_text(JULY_CSV)
    result, out = reconcile(book, statement, "--profile", "bankx")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(c["entry"], c["status"], c["rule"], c["deal"]) for c in report["credits"]] == [
        ("BK-0001", "matched", "reference", "acme-tl"), ("BK-0002", "matched", "borrower", "beta-tl"),
        ("BK-0003", "partial", "reference", "gamma-tl"), ("BK-0004", "unexpected", None, None)]
    assert [c["line"] for c in report["credits"]] == [2, 3, 4, 5]
    # a CSV has no statement id: the reference is the file's name; its period is its first to last date
    assert (report["statement"]["from"], report["statement"]["to"]) == ("2026-07-15", "2026-07-31")
    assert out.read_text() == HEADER + (
        "BK-0001,acme-tl,tl,2026-07-15,30000.00,USD,scheduled,july.csv\n"
        "BK-0002,beta-tl,tl,2026-07-16,45000.00,USD,scheduled,july.csv\n"
        "BK-0003,gamma-tl,tl,2026-07-17,6000.00,USD,scheduled,july.csv\n")


def test_the_text_report_names_each_credit_and_the_missing_due(book, tmp_path):
    statement = tmp_path / "july.xml"
    statement.write_text(JULY_CAMT)
    result = cli("--book", book, "reconcile", statement)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ("statement STMT-2026-07 (camt.053) 2026-07-01 to 2026-07-31: 2 matched, 1 partial, "
                        "0 overpaid, 1 unexpected, 1 ignored, 1 missing")
    assert lines[3].startswith("partial    BK-0003") and lines[3].endswith(
        "gamma-tl due 2026-07-15 10000.00 by reference (difference -4000.00)")
    assert lines[-1].startswith("missing    delta-tl/tl") and "20000.00" in lines[-1]
    assert not (tmp_path / "payments.csv").exists()  # no --out: the report only


@pytest.mark.parametrize("name,text", [("july.xml", JULY_CAMT), ("july.sta", JULY_MT940)])
def test_reconcile_post_reconcile_posts_nothing_twice(book, tmp_path, name, text):
    """The second run leaves this statement's own payments (its transaction references) out of
    the open dues, so it matches the same dues and writes the same file; post-payments then
    skips every row as a duplicate (SPEC §4.2)."""
    statement = tmp_path / name
    statement.write_text(text)
    first, out = reconcile(book, statement)
    first_csv = out.read_text()
    posted = cli("--book", book, "post-payments", out, "--posting-day", POSTING_DAY, "--format", "json")
    assert posted.exit_code == 0, posted.output
    assert json.loads(posted.stdout)["posted"] == 3
    second, out = reconcile(book, statement)
    assert second.exit_code == 0
    assert out.read_text() == first_csv
    report = json.loads(second.stdout)
    assert [c["already_posted"] for c in report["credits"]] == [True, True, True, False]
    assert summary(report) == summary(json.loads(first.stdout))
    archive = sorted(p.name for p in (book / "payments").iterdir())
    again = cli("--book", book, "post-payments", out, "--posting-day", POSTING_DAY, "--format", "json")
    assert again.exit_code == 0, again.output
    assert (json.loads(again.stdout)["posted"], json.loads(again.stdout)["duplicates"]) == (0, 3)
    assert sorted(p.name for p in (book / "payments").iterdir()) == archive
    count = cli("--book", book, "query", "SELECT count(*) AS n FROM payments", "--format", "csv")
    assert count.stdout.splitlines() == ["n", "7"]  # 4 posted in Q1 + the statement's 3, once


def test_a_credit_split_over_two_facilities_by_the_deal_reference(tmp_path):
    """A deal with two facilities: a credit quoting `{deal}-{date}` pays each facility's dues of
    the date in the deal's order; the payment ids are `<bank ref>:<facility>`. tl owes
    1,000,000 × 12% × 90/360 = 30,000.00 and rcf 400,000 × 6% × 90/360 = 6,000.00: 36,000.00 in all."""
    two = deal("two-tl", "acme", "1000000", "12%") + """\
  - id: rcf
    commitment: 400000
    start_date: 2026-01-15
    maturity_date: 2028-01-15
    interest: {fixed_rate: 6%, day_count: 30/360}
    payments: {frequency: quarterly, first_payment_date: 2026-04-15, business_day: unadjusted}
    participations:
      - {lender: fund-i, share: 100%}
"""
    root = write_book(tmp_path, deals={"two-tl": two}, book_yaml=BOOK, rates={})
    statement = tmp_path / "april.xml"
    statement.write_text(camt(camt_entry("BK-0100", "36000.00", "2026-04-15", "TWO-TL-2026-04-15")))
    result, out = reconcile(root, statement)
    assert result.exit_code == 0, result.output
    assert out.read_text() == HEADER + (
        "BK-0100:tl,two-tl,tl,2026-04-15,30000.00,USD,scheduled,STMT-2026-07\n"
        "BK-0100:rcf,two-tl,rcf,2026-04-15,6000.00,USD,scheduled,STMT-2026-07\n")


# --- hostile and bad statements: a diagnostic naming the file and entry, nothing written -------------
def refused(root: Path, tmp_path: Path, name: str, content: str | bytes, *extra) -> list[dict]:
    statement = tmp_path / name
    if isinstance(content, bytes):
        statement.write_bytes(content)
    else:
        statement.write_text(content)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "payments.csv"
    result = cli("--book", root, "reconcile", statement, "--out", out, "--format", "json", *extra)
    assert result.exit_code == 1, result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == before
    assert "nothing was written" in result.stderr
    diags = json.loads(result.stderr[:result.stderr.rindex("]") + 1])
    assert all(d["file"] == str(statement) for d in diags)
    return diags


def codes(diags) -> list[tuple]:
    return [(d["code"], d["line"]) for d in diags]


def camt_with_dtd(doctype: str, stmt_id: str) -> str:
    """A camt.053 document whose <!DOCTYPE> (from line 2) declares entities its statement id uses."""
    return (f'<?xml version="1.0"?>\n{doctype}\n<Document xmlns="{CAMT_NS}"><BkToCstmrStmt><Stmt>'
            f'<Id>{stmt_id}</Id></Stmt></BkToCstmrStmt></Document>\n')


BILLION_LAUGHS = camt_with_dtd("""\
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>""", "&lol9;")


def test_an_xml_bomb_is_refused_without_expansion(book, tmp_path):
    diags = refused(book, tmp_path, "bomb.xml", BILLION_LAUGHS)
    assert codes(diags) == [("E0712", 2)]  # at the <!DOCTYPE>, before any entity is declared or used
    assert "lollol" not in json.dumps(diags)


def test_an_external_entity_is_refused_and_never_read(book, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = camt_with_dtd(f'<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>', "&x;")
    diags = refused(book, tmp_path, "xxe.xml", xxe)
    assert codes(diags) == [("E0712", 2)]
    assert "TOP-SECRET" not in json.dumps(diags)


def test_the_xml_parser_refuses_a_dtd_in_the_library_too():
    """Direct call: the parser itself (no CLI) refuses an internal entity declaration."""
    from loanctl.reconcile.camt import parse_xml
    built, diags = parse_xml("x.xml", b'<!DOCTYPE a [<!ENTITY e "v">]><a>&e;</a>')
    assert built is None and [d.code for d in diags] == ["E0712"]


def test_e0710_unknown_format(book, tmp_path):
    assert codes(refused(book, tmp_path, "july.txt", "Date;Amount\n15.07.2026;30000,00\n")) == [("E0710", 1)]


def test_e0710_xml_that_is_not_camt053(book, tmp_path):
    text = JULY_CAMT.replace("camt.053.001.02", "camt.054.001.02")
    assert codes(refused(book, tmp_path, "notif.xml", text)) == [("E0710", 1)]


def test_e0711_malformed_xml(book, tmp_path):
    text = JULY_CAMT.replace("</Stmt>", "")  # the </BkToCstmrStmt> on line 56 closes the wrong element
    assert codes(refused(book, tmp_path, "july.xml", text)) == [("E0711", 56)]


def test_e0711_an_entry_with_a_wrong_credit_debit_mark(book, tmp_path):
    text = camt(camt_entry("BK-0001", "30000.00", "2026-07-15", indicator="CREDIT"))
    assert codes(refused(book, tmp_path, "july.xml", text)) == [("E0711", 10)]


def test_e0713_malformed_mt940_statement_line(book, tmp_path):
    text = JULY_MT940.replace(":61:2607160716C44999,60", ":61:X607160716C44999,60")
    assert codes(refused(book, tmp_path, "july.sta", text)) == [("E0713", 7)]


def test_e0713_mt940_without_an_opening_balance(book, tmp_path):
    text = JULY_MT940.replace(":60F:C260701USD0,00\n", "")
    assert codes(refused(book, tmp_path, "july.sta", text)) == [("E0713", 1)]


def test_e0714_a_credit_in_another_currency_than_the_deal(book, tmp_path):
    text = camt(camt_entry("BK-0001", "30000.00", "2026-07-15", "ACME-TL-2026-07-15", currency="EUR"))
    diags = refused(book, tmp_path, "july.xml", text)
    assert codes(diags) == [("E0714", 10)]
    assert "EUR 30000.00 quotes the reference of acme-tl, which is billed in USD" in diags[0]["message"]


def test_e0714_a_credit_in_a_currency_nobody_is_billed_in(book, tmp_path):
    text = camt(camt_entry("BK-0001", "500.00", "2026-07-15", "REFUND", currency="GBP"))
    assert codes(refused(book, tmp_path, "july.xml", text)) == [("E0714", 10)]


def test_e0715_a_duplicated_transaction_reference(book, tmp_path):
    text = camt(camt_entry("BK-0001", "30000.00", "2026-07-15", "ACME-TL-2026-07-15"),
                camt_entry("BK-0001", "45000.00", "2026-07-16", "", "Beta Logistics LLC"))
    diags = refused(book, tmp_path, "july.xml", text)
    assert codes(diags) == [("E0715", 19)]
    assert "first at line 10" in diags[0]["message"]


def test_e0715_in_mt940_too(book, tmp_path):
    text = JULY_MT940.replace("//BK-0002", "//BK-0001")
    assert codes(refused(book, tmp_path, "july.sta", text)) == [("E0715", 7)]


def test_e0716_an_entry_without_a_transaction_reference(book, tmp_path):
    text = camt(camt_entry("", "30000.00", "2026-07-15", "ACME-TL-2026-07-15"))
    assert codes(refused(book, tmp_path, "july.xml", text)) == [("E0716", 10)]


def test_e0716_mt940_nonref_without_a_bank_reference(book, tmp_path):
    text = JULY_MT940.replace("NTRFNONREF//BK-0001", "NTRFNONREF")
    assert codes(refused(book, tmp_path, "july.sta", text)) == [("E0716", 5)]


def test_e0717_a_csv_without_the_profiles_column(book, tmp_path):
    text = JULY_CSV.replace("Txn ID,", "Reference,")
    diags = refused(book, tmp_path, "july.csv", text, "--profile", "bankx")
    assert codes(diags) == [("E0717", 1)]


def test_e0718_an_amount_with_a_thousands_separator(book, tmp_path):
    text = JULY_CSV.replace("30000.00", '"30,000.00"')
    assert codes(refused(book, tmp_path, "july.csv", text, "--profile", "bankx")) == [("E0718", 2)]


def test_e0718_more_decimals_than_the_currency_allows(book, tmp_path):
    text = camt(camt_entry("BK-0001", "30000.001", "2026-07-15", "ACME-TL-2026-07-15"))
    assert codes(refused(book, tmp_path, "july.xml", text)) == [("E0718", 11)]  # the <Amt> line


def test_e0005_a_statement_above_the_size_limit_is_not_parsed(monkeypatch):
    """Direct call with the limit lowered (a 50 MB file in a test would only be slow)."""
    from loanctl.reconcile import statement
    monkeypatch.setattr(statement, "MAX_STATEMENT_BYTES", 1000)
    result, diags = statement.read_statement("big.xml", JULY_CAMT.encode())
    assert result is None and [(d.code, d.file) for d in diags] == [("E0005", "big.xml")]


def test_an_unknown_profile_is_a_usage_error(book, tmp_path):
    statement = tmp_path / "july.csv"
    statement.write_text(JULY_CSV)
    result = cli("--book", book, "reconcile", statement, "--profile", "nope")
    assert result.exit_code == 2
    assert "unknown statement profile 'nope'" in result.stderr


def test_bad_input_from_a_real_process_exits_1_without_a_traceback(book, tmp_path):
    statement = tmp_path / "bomb.xml"
    statement.write_text(BILLION_LAUGHS)
    proc = run_cli_subprocess(["--book", str(book), "reconcile", str(statement), "--out", str(tmp_path / "p.csv")])
    assert proc.returncode == 1
    assert "error[E0712]" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "p.csv").exists()


# --- the demo --------------------------------------------------------------------------------
def test_the_demo_reconciles_its_december_statement_and_posts_it(tmp_path):
    """The demo's step on a copy of the demo book: the statement's credits (their amounts are the
    statement's own) become four payments; the wire fee and the unknown 15,000.00 do not."""
    import datetime as dt
    from rich.console import Console
    from loanctl import demo
    dest = demo.copy_demo_book(tmp_path / "d")
    steps = [s for s in demo.DEMO_STEPS if s.heading.startswith(("loanctl post-payments", "loanctl reconcile"))]
    assert len(steps) == 2
    console = Console(file=open(tmp_path / "out.txt", "w"), width=200)
    assert demo.run_demo(dest, console, dt.date(2027, 1, 4), steps) is True
    console.file.close()
    assert (dest / "reports" / "2026-12-payments.csv").read_text() == HEADER + (
        "FW2612150000417,arcadia-tl-2026,tl,2026-12-15,508185.00,USD,scheduled,HPC-COLL-2026-12\n"
        "FW2612140000388,pinecrest-tl-2026,tl,2026-12-14,250000.00,USD,scheduled,HPC-COLL-2026-12\n"
        "FW2612210000512,sable-tl-2025,tl,2026-12-21,537907.23,USD,scheduled,HPC-COLL-2026-12\n"
        "FW2612280000601,juniper-tl-rcf-2025,rcf,2026-12-28,41805.40,USD,scheduled,HPC-COLL-2026-12\n")
    out = (tmp_path / "out.txt").read_text()
    # three dues of December are missing: pinecrest's 2026-12-14 (the 250,000.00 it sent went to its
    # September arrears, oldest first), sable's 2026-12-21 (in payment default since September — issue
    # 14's demo — its 537,907.23 likewise goes to the unpaid 2026-09-21 interest: a partial) and the
    # SOFR revolver larkspur-rcf-2026's monthly 2026-12-02 interest, which the statement does not pay
    assert "2 matched, 2 partial, 0 overpaid, 1 unexpected, 1 ignored, 3 missing" in out
    missing = [line.split()[1:3] for line in out.splitlines() if line.startswith("missing ")]
    assert missing == [["larkspur-rcf-2026/rcf", "2026-12-02"], ["pinecrest-tl-2026/tl", "2026-12-14"],
                       ["sable-tl-2025/tl", "2026-12-21"]]
    assert "posted 4 payments, 0 duplicates skipped" in out


def test_a_credit_above_the_referenced_dues_is_overpaid_and_posted_whole(book, tmp_path):
    """31,000.00 quoting acme-tl-2026-07-15 (30,000.00 due): overpaid by 1,000.00; the whole credit
    is written, the ledger keeps the 1,000.00 as unapplied cash."""
    statement = tmp_path / "july.xml"
    statement.write_text(camt(camt_entry("BK-0001", "31000.00", "2026-07-15", "ACME-TL-2026-07-15")))
    result, out = reconcile(book, statement)
    assert summary(json.loads(result.stdout)) == [
        ("BK-0001", "overpaid", "reference", "acme-tl", "2026-07-15", "30000.00", "1000.00")]
    assert out.read_text() == HEADER + "BK-0001,acme-tl,tl,2026-07-15,31000.00,USD,scheduled,STMT-2026-07\n"
