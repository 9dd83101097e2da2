"""Renderers for `loanctl payoff`: a payoff quote by component, as text or JSON (money as strings)."""

from __future__ import annotations

from decimal import Decimal

from ..servicing.allocation import PayoffQuote

PAST_DUE_ORDER = ("fees", "commitment_fee", "interest", "principal")


def payoff_components(quote: PayoffQuote) -> list[tuple[str, str, Decimal]]:
    """(key, label, amount) of each component of the total, in the order a payoff letter lists them."""
    rows = [(f"past_due.{c}", f"past due: {c.replace('_', ' ')}", quote.past_due[c])
            for c in sorted(quote.past_due, key=lambda c: (PAST_DUE_ORDER.index(c) if c in PAST_DUE_ORDER else 99, c))]
    rows += [
        ("interest", "accrued interest", quote.interest),
        ("overdue_interest", "interest on overdue principal", quote.overdue_interest),
        ("pik", "PIK accrued", quote.pik),
        ("commitment_fee", "commitment fee accrued", quote.commitment_fee),
        ("principal", "principal", quote.principal),
        ("prepayment_fee", "prepayment fee", quote.prepayment_fee),
        ("exit_fee", "exit fee", quote.exit_fee),
        ("other_fees", "other fees", quote.other_fees),
    ]
    return rows


def payoff_json(deal: str, facility: str, currency: str, quote: PayoffQuote) -> dict:
    past = {c: format(a, "f") for c, a in quote.past_due.items()}
    out = {"deal": deal, "facility": facility, "currency": currency, "date": quote.date.isoformat(), "past_due": past}
    out.update({k: format(a, "f") for k, _, a in payoff_components(quote) if not k.startswith("past_due.")})
    out["total"] = format(quote.total, "f")
    out["unapplied"] = format(quote.unapplied, "f")
    return out


def payoff_text(deal: str, facility: str, currency: str, quote: PayoffQuote) -> str:
    rows = [(label, a) for _, label, a in payoff_components(quote)]
    width = max(len(label) for label, _ in rows + [("unapplied cash held (not deducted)", 0)])
    amounts = [f"{a:,}" for _, a in rows] + [f"{quote.total:,}", f"{quote.unapplied:,}"]
    w = max(len(x) for x in amounts)
    lines = [f"payoff quote {deal}/{facility} on {quote.date.isoformat()} ({currency})"]
    lines += [f"  {label:<{width}}  {f'{a:,}':>{w}}" for label, a in rows]
    lines.append(f"  {'total':<{width}}  {f'{quote.total:,}':>{w}}")
    lines.append(f"  {'unapplied cash held (not deducted)':<{width}}  {f'{quote.unapplied:,}':>{w}}")
    return "\n".join(lines) + "\n"
