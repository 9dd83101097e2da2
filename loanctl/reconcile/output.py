"""A reconciliation built once, written three ways: the payments CSV for `post-payments`
(SPEC §4.1 columns), a JSON report (money as strings) and a text report."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from .match import Reconciliation

HEADER = ("payment_id", "deal", "facility", "date", "amount", "currency", "type", "reference")


def payments_csv(result: Reconciliation) -> str:
    """Every matched, partial or overpaid credit as `scheduled` payment rows, LF line ends."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for p in result.payment_rows():
        w.writerow((p.payment_id, p.deal, p.facility, p.date.isoformat(), str(p.amount), p.currency, "scheduled",
                    p.reference))
    return out.getvalue()


def report_dict(result: Reconciliation) -> dict:
    s = result.statement
    credits = []
    for c in result.credits:
        e = c.entry
        credits.append({
            "entry": e.ref, "line": e.line, "date": e.date.isoformat(), "amount": str(e.amount), "currency": e.currency,
            "status": c.status, "rule": c.rule or None, "deal": c.deal or None,
            "due_date": c.due_date.isoformat() if c.due_date else None,
            "due": str(c.due) if c.status != "unexpected" else None,
            "difference": str(c.difference) if c.status != "unexpected" else None,
            "payments": [{"payment_id": p.payment_id, "facility": p.facility, "amount": str(p.amount)}
                         for p in c.payments],
            "already_posted": c.already_posted, "note": c.note or None,
            "remittance": e.remittance, "counterparty": e.counterparty})
    counts = {k: sum(1 for c in result.credits if c.status == k) for k in ("matched", "partial", "overpaid", "unexpected")}
    counts["ignored"] = len(result.ignored)
    counts["missing"] = len(result.missing)
    return {
        "statement": {"file": s.file, "format": s.format, "reference": s.reference, "account": s.account,
                      "from": s.start.isoformat() if s.start else None, "to": s.end.isoformat() if s.end else None},
        "tolerance": str(result.tolerance),
        "credits": credits,
        "ignored": [{"entry": e.ref, "line": e.line, "date": e.date.isoformat(), "amount": str(e.amount),
                     "currency": e.currency, "reason": why} for e, why in result.ignored],
        "missing": [{"deal": m.deal, "facility": m.facility, "date": m.date.isoformat(), "amount": str(m.amount),
                     "currency": m.currency} for m in result.missing],
        "totals": counts,
    }


def report_json(result: Reconciliation) -> str:
    from ..plaintext import json_text
    return json_text(json.dumps(report_dict(result), indent=2, ensure_ascii=False)) + "\n"


def report_text(result: Reconciliation) -> str:
    """One line per credit, ignored entry and missing due; the statement's text is made inert."""
    from ..plaintext import inert
    d = report_dict(result)
    s = d["statement"]
    lines = [f"statement {s['reference']} ({s['format']}) {s['from']} to {s['to']}: "
             + ", ".join(f"{n} {k}" for k, n in d["totals"].items())]
    for c in d["credits"]:
        head = f"{c['status']:<10} {c['entry']:<24} {c['date']} {c['currency']} {c['amount']:>15}"
        if c["status"] == "unexpected":
            lines.append(f"{head}  nobody billed: {c['note']}")
            continue
        tail = f"  {c['deal']} due {c['due_date']} {c['due']} by {c['rule']}"
        if Decimal(c["difference"]) != 0:
            tail += f" (difference {c['difference']})"
        if c["already_posted"]:
            tail += " [already posted]"
        if c["note"]:
            tail += f"; {c['note']}"
        lines.append(head + tail)
    for i in d["ignored"]:
        lines.append(f"{'ignored':<10} {i['entry']:<24} {i['date']} {i['currency']} {i['amount']:>15}  {i['reason']}")
    for m in d["missing"]:
        lines.append(f"{'missing':<10} {m['deal'] + '/' + m['facility']:<24} {m['date']} {m['currency']} "
                     f"{m['amount']:>15}  due, not paid in this statement")
    return "\n".join(inert(line, one_line=True) for line in lines) + "\n"
