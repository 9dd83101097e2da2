"""What a post (or a dry run) did, as shown: payments posted and skipped, the files archived,
per deal the payments, their amount and what stayed unapplied, and the new allocations."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from ..ledger.posting import PostResult


def _s(x: Decimal) -> str:
    return format(x, "f")


def post_summary(result: PostResult) -> dict:
    per_deal: dict[str, dict] = defaultdict(lambda: {"payments": 0, "amount": Decimal(0), "unapplied": Decimal(0)})
    currency: dict[str, str] = {}
    new_ids = {p.payment_id for p in result.posted}
    for p in result.posted:
        per_deal[p.deal]["payments"] += 1
        per_deal[p.deal]["amount"] += p.amount
        currency[p.deal] = p.currency
    for t in result.totals or []:  # streamed: the ledger summed them
        per_deal[t.deal].update(payments=t.payments, amount=t.amount, unapplied=t.unapplied)
        currency[t.deal] = t.currency
    allocation_rows = []
    for (deal, facility), fa in sorted(result.allocations.items()):
        for a in fa.allocations:
            if a.payment_id in new_ids:
                if a.component == "unapplied":
                    per_deal[deal]["unapplied"] += a.amount
                allocation_rows.append({"payment_id": a.payment_id, "deal": deal, "facility": facility,
                                        "date": a.payment_date.isoformat(),
                                        "due_date": a.due_date.isoformat() if a.due_date else None,
                                        "component": a.component, "amount": _s(a.amount)})
    return {
        "dry_run": result.dry_run,
        "posted": result.count,
        "duplicates": result.duplicates,
        "archived": result.archived,
        "deals": [{"deal": d, "currency": currency[d], "payments": v["payments"], "amount": _s(v["amount"]),
                   "unapplied": _s(v["unapplied"])} for d, v in sorted(per_deal.items())],
        "allocations": allocation_rows,
    }
