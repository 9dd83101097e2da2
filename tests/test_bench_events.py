"""The bench's allocation stage with servicing events (issue #13, Speed): repayments on
revolvers only, payoffs, reversals of posted payments — and every payment fully accounted
for by its allocation rows."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal

from loanctl.api import load_valid_book
from loanctl.bench.run import allocate_all, event_payments, write_book, write_payments
from loanctl.servicing.allocation import Payment
from loanctl.servicing.positions import allocate_facility


def test_the_event_mix_is_well_formed_and_fully_allocated(tmp_path):
    facilities = write_book(tmp_path / "book", 60, 7)
    write_payments(tmp_path / "p.csv", facilities, 1200, 7)
    loaded, errors = load_valid_book(tmp_path / "book")
    assert not [d for d in errors if d.is_error]
    with open(tmp_path / "p.csv") as fh:
        pays = [Payment(r["payment_id"], r["deal"], r["facility"], date.fromisoformat(r["date"]), Decimal(r["amount"]),
                        "USD", r["type"] or "scheduled") for r in csv.DictReader(fh)]
    events = event_payments(loaded, pays, 7)
    added = events[len(pays):]
    types = {(d, f.id): f.type for d, r in loaded.deals.items() for f in r.deal.facilities}
    by_id = {p.payment_id: p for p in pays}
    assert {p.type for p in added} == {"repayment", "payoff", "reversal"}
    assert all(types[p.deal, p.facility] == "revolver" for p in added if p.type == "repayment")
    reversals = [p for p in added if p.type == "reversal"]
    assert len(reversals) == len(pays) // 100                       # every 100th payment
    for p in reversals:
        target = by_id[p.reverses]
        assert target.date < p.date and (target.deal, target.facility) == (p.deal, p.facility)
    assert len({p.payment_id for p in events}) == len(events)
    assert allocate_all(loaded, events) > 0
    # each payment in force is allocated in full: its rows (unapplied ones included, the negative
    # unapplied rows that apply held cash included) sum to its amount
    by_facility = defaultdict(list)
    for p in events:
        by_facility[(p.deal, p.facility)].append(p)
    reversed_ids = {p.reverses for p in reversals}
    for (deal, fid), ps in sorted(by_facility.items())[:25]:
        fa = allocate_facility(loaded, deal, fid, ps)
        sums = defaultdict(Decimal)
        for a in fa.allocations:
            if a.component not in ("reversed", "reversal"):
                sums[a.payment_id] += a.amount
        for p in ps:
            if p.type != "reversal" and p.payment_id not in reversed_ids:
                assert sums[p.payment_id] == p.amount, (deal, p.payment_id)
