"""Renderers for `loanctl payoff`: a payoff quote by component, as text or JSON (money as strings)."""

from __future__ import annotations

from decimal import Decimal

from ..conventions.currency import minor_units
from ..servicing.allocation import PayoffQuote

PAST_DUE_ORDER = ("fees", "commitment_fee", "default_interest", "interest", "principal")


def payoff_components(quote: PayoffQuote) -> list[tuple[str, str, Decimal]]:
    """(key, label, amount) of each component of the total, in the order a payoff letter lists them."""
    rows = [(f"past_due.{c}", f"past due: {c.replace('_', ' ')}", quote.past_due[c])
            for c in sorted(quote.past_due, key=lambda c: (PAST_DUE_ORDER.index(c) if c in PAST_DUE_ORDER else 99, c))]
    rows += [
        ("interest", "accrued interest", quote.interest),
        ("overdue_interest", "interest on overdue principal", quote.overdue_interest),
        ("default_interest", "default interest accrued", quote.default_interest),
        ("pik", "PIK accrued", quote.pik),
        ("commitment_fee", "commitment fee accrued", quote.commitment_fee),
        ("principal", "principal", quote.principal),
        ("prepayment_fee", "prepayment fee", quote.prepayment_fee),
        ("exit_fee", "exit fee", quote.exit_fee),
        ("other_fees", "other fees", quote.other_fees),
    ]
    return rows


def _money(currency: str):
    quantum = Decimal(1).scaleb(-minor_units(currency))
    return lambda a: a.quantize(quantum)


def payoff_json(deal: str, facility: str, currency: str, quote: PayoffQuote) -> dict:
    m = _money(currency)
    past = {c: format(m(a), "f") for c, a in quote.past_due.items()}
    out = {"deal": deal, "facility": facility, "currency": currency, "date": quote.date.isoformat(), "past_due": past}
    out.update({k: format(m(a), "f") for k, _, a in payoff_components(quote) if not k.startswith("past_due.")})
    out["total"] = format(m(quote.total), "f")
    out["unapplied"] = format(m(quote.unapplied), "f")
    return out


HELD = "unapplied cash held (not deducted)"


def payoff_text(deal: str, facility: str, currency: str, quote: PayoffQuote) -> str:
    m = _money(currency)
    rows = [(label, m(a)) for _, label, a in payoff_components(quote)] + [("total", m(quote.total)),
                                                                        (HELD, m(quote.unapplied))]
    width = max(len(label) for label, _ in rows)
    w = max(len(f"{a:,}") for _, a in rows)
    lines = [f"payoff quote {deal}/{facility} on {quote.date.isoformat()} ({currency})"]
    lines += [f"  {label:<{width}}  {f'{a:,}':>{w}}" for label, a in rows]
    return "\n".join(lines) + "\n"
