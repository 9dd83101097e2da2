"""Renderers of the journal (`accounting.journal.Journal`): Beancount, CSV and JSON.

Beancount: the accounts opened on the first entry's date, one transaction per entry with its
deal, facility, lender, kind (and payment id) as metadata, amounts in the deal's currency.
CSV: one row per posting. JSON: entries with their postings, and loanctl's balances per
position at each period end (outstanding principal, deferred fees, accreted exit fees and
amortized cost); money as strings.
"""

from __future__ import annotations

import csv
import io
import json

from ..plaintext import inert

FORMATS = ("beancount", "csv", "json")


def _bean_string(value: object) -> str:
    text = inert(value, one_line=True)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_beancount(journal, base_currency: str = "USD") -> str:
    out = [f"; loanctl journal — {inert(journal.book, one_line=True)} — {inert(journal.scope, one_line=True)}",
           f"; from {journal.start or 'the first entry'} to {journal.end}, period ends: {journal.period}",
           f"option \"title\" {_bean_string(journal.book or 'loanctl journal')}",
           f"option \"operating_currency\" \"{base_currency}\"", ""]
    if journal.entries:
        opened = min(e.date for e in journal.entries)
        out += [f"{opened} open {account}" for account in journal.accounts()]
        out.append("")
    for e in journal.entries:
        out.append(f"{e.date} * {_bean_string(e.narration)}")
        out.append(f"  kind: {_bean_string(e.kind)}")
        out.append(f"  deal: {_bean_string(e.deal)}")
        out.append(f"  facility: {_bean_string(e.facility)}")
        out.append(f"  lender: {_bean_string(e.lender)}")
        if e.ref:
            out.append(f"  payment: {_bean_string(e.ref)}")
        for p in e.postings:
            out.append(f"  {p.account}  {p.amount} {e.currency}")
        out.append("")
    return "\n".join(out)


def to_csv(journal) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["entry", "date", "kind", "deal", "facility", "lender", "payment", "account", "amount", "currency",
                "narration"])
    rows = w.writerows
    for i, e in enumerate(journal.entries, start=1):
        day, ref, currency, narration = e.date.isoformat(), inert(e.ref, one_line=True) if e.ref else "", \
            e.currency, e.narration
        rows([(i, day, e.kind, e.deal, e.facility, e.lender, ref, p.account, p.amount, currency, narration)
              for p in e.postings])
    return buf.getvalue()


def to_json(journal) -> str:
    data = {
        "book": journal.book, "scope": journal.scope,
        "from": journal.start.isoformat() if journal.start else None, "to": journal.end.isoformat(),
        "period": journal.period,
        "entries": [{"date": e.date.isoformat(), "kind": e.kind, "narration": e.narration, "deal": e.deal,
                     "facility": e.facility, "lender": e.lender, "currency": e.currency,
                     **({"payment": e.ref} if e.ref else {}),
                     "postings": [{"account": p.account, "amount": str(p.amount)} for p in e.postings]}
                    for e in journal.entries],
        "balances": [{"date": b.date.isoformat(), "deal": b.deal, "facility": b.facility, "lender": b.lender,
                      "currency": b.currency, "outstanding_principal": str(b.outstanding_principal),
                      "unamortized_fees": str(b.unamortized_fees), "accreted_exit_fees": str(b.accreted_exit_fees),
                      "cost_recovery": str(b.cost_recovery), "amortized_cost": str(b.amortized_cost)} for b in journal.balances],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
