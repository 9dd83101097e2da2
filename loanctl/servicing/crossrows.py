"""The rules of payment types that look beyond one row (SPEC §4.1): a reversal against the
payment it names (in the ledger or among the rows being posted), and no payment after the
payoff that ended a facility (against its allocation).

One implementation for both ways of posting: `loanctl.ledger.posting`'s plan step applies
them to the staged rows, whichever reader staged them, and reports each problem at its
row's FILE:LINE. The rules one row obeys alone live in `rowrules`.
"""

from __future__ import annotations

from .allocation import FacilityAllocation, Payment, live_payments

Problem = tuple[Payment, str, str, "str | None"]
"""(the row, code, message, hint): the caller reports it at the row's FILE:LINE."""


def reversal_problems(new: list[Payment], existing: dict[str, Payment]) -> list[Problem]:
    """The reversals among `new` (in the order of their files) against the ledger's payments
    (`existing`: at least those the reversals name, and the ledger's reversals of them) and all
    the rows being posted: each names a known payment, not a reversal, not reversed already (by
    the ledger or an earlier row), of the same deal, facility and amount, dated on or before
    the reversal."""
    known = dict(existing)
    for p in new:
        known.setdefault(p.payment_id, p)
    reversed_by = {p.reverses: p.payment_id for p in existing.values() if p.type == "reversal"}
    out: list[Problem] = []
    for p in new:
        if p.type != "reversal":
            continue
        target = known.get(p.reverses)
        if target is None:
            out.append((p, "E0437", f"reverses {p.reverses!r}, which is neither in the ledger nor in the files "
                                    "being posted", "check the payment_id; post the original payment first"))
        elif target.type == "reversal":
            out.append((p, "E0438", f"reverses {p.reverses!r}, itself a reversal: a reversal cannot be reversed",
                        "post the payment again under a new payment_id"))
        elif p.reverses in reversed_by:
            out.append((p, "E0438", f"payment {p.reverses!r} is already reversed by {reversed_by[p.reverses]!r}",
                        "a payment is reversed once"))
        elif (target.deal, target.facility, target.amount) != (p.deal, p.facility, p.amount):
            out.append((p, "E0438", f"reverses {p.reverses!r} ({target.deal} {target.facility} {target.amount}) "
                                    f"but is {p.deal} {p.facility} {p.amount}",
                        "a reversal has the deal, facility and amount of the payment it reverses"))
        elif p.date < target.date:
            out.append((p, "E0438", f"dated {p.date}, before the payment {p.reverses!r} it reverses ({target.date})",
                        "date the reversal on or after the payment"))
        else:
            reversed_by[p.reverses] = p.payment_id
    return out


def paid_off_problems(fa: FacilityAllocation, payments: list[Payment], new_ids: set[str]) -> list[Problem]:
    """A facility ended by a payoff (`fa.payoff`) takes no payment dated after the payoff's
    date (a reversal excepted: reversing the payoff reopens the facility). A new payment
    dated after it is refused at its row; a new payoff dated before a payment already
    posted is refused at the payoff's row."""
    if fa.payoff is None:
        return []
    live = live_payments(payments)
    off = next(p for p in live if p.payment_id == fa.payoff)
    later = [p for p in live if p.date > off.date]
    out: list[Problem] = []
    for p in later:
        if p.payment_id in new_ids:
            out.append((p, "E0439", f"facility {p.deal}/{p.facility} was paid off on {off.date} by "
                                    f"{off.payment_id!r}; a payment dated {p.date} is after it",
                        "reverse the payoff first (type reversal), or check the deal, facility and date"))
        elif off.payment_id in new_ids:
            out.append((off, "E0439", f"this payoff ends facility {p.deal}/{p.facility} on {off.date}, before "
                                      f"payment {p.payment_id!r} ({p.date}) already posted",
                        "date the payoff after the last payment, or reverse that payment first"))
    return out
