"""The journal's speed paths give the journal of the plain path, byte for byte.

- Forked workers (`build_journal(workers=2)`, chunks of deals merged in deal order) render
  the same CSV, JSON and Beancount text as one process.
- `--from`: the opening entry nets the entries before the date without building them; it
  must equal the net, recomputed here from the full journal, of each position's entries
  before the date (balance-sheet accounts as they are, income and expenses to the
  opening-balance account), and the entries from the date on are the full journal's.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bookfactory import invoke

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from loanctl.ledger.db import ledger_payments
    from loanctl.validation.run import load_valid_book

    root = Path(shutil.copytree(REPO / "deals", tmp_path_factory.mktemp("demo") / "deals",
                                ignore=shutil.ignore_patterns(".loanctl", "payments")))
    files = sorted((REPO / "templates" / "demo-payments").glob("*.csv"))
    result = invoke(["--book", str(root), "post-payments", "--posting-day", "2026-11-28", *map(str, files)])
    assert result.exit_code == 0, result.stdout
    loaded, errors = load_valid_book(root)
    assert not errors
    return loaded, ledger_payments(root)


def _texts(journal) -> tuple[str, str, str]:
    from loanctl.render.journal import to_beancount, to_csv, to_json

    return to_csv(journal), to_json(journal), to_beancount(journal, "USD")


@pytest.mark.parametrize("start,fund", [(None, None), (date(2026, 1, 1), None), (date(2025, 9, 15), "fund-i")])
def test_workers_make_the_same_journal(demo, monkeypatch, start, fund):
    from loanctl.accounting import journal as J

    loaded, payments = demo
    end = date(2026, 11, 30)
    serial = J.build_journal(loaded, payments, end, start=start, fund=fund, workers=1)
    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 2)  # several chunks, so the merge order is exercised
    parallel = J.build_journal(loaded, payments, end, start=start, fund=fund, workers=2)
    assert len(serial.entries) > 100
    assert _texts(parallel) == _texts(serial)
    assert parallel.warnings == serial.warnings


def test_opening_entry_is_the_net_of_the_entries_before_from(demo):
    from loanctl.accounting.journal import build_journal

    loaded, payments = demo
    end, start = date(2026, 11, 30), date(2026, 4, 1)
    full = build_journal(loaded, payments, end, workers=1)
    part = build_journal(loaded, payments, end, start=start, workers=1)
    assert [e for e in part.entries if e.kind != "opening"] == [e for e in full.entries if e.date >= start]
    base = loaded.book.accounts.opening  # the opening-balance account, per lender: <base>:<Lender>
    expected: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for e in full.entries:
        if e.date < start:
            opening = f"{base}:{e.lender[:1].upper()}{e.lender[1:]}"  # demo lender ids: letters and dashes
            for p in e.postings:
                top = p.account.split(":")[0]
                expected[(e.deal, e.facility, e.lender)][
                    p.account if top in ("Assets", "Liabilities", "Equity") else opening] += p.amount
    openings = [e for e in part.entries if e.kind == "opening"]
    assert len(openings) > 10
    assert len(openings) == len([k for k, net in expected.items() if any(net.values())])
    for e in openings:
        assert e.date == start - timedelta(days=1)
        want = {a: x for a, x in expected[(e.deal, e.facility, e.lender)].items() if x}
        assert {p.account: p.amount for p in e.postings} == want, (e.deal, e.lender)
        assert [p.account for p in e.postings] == sorted(want)
        assert all(p.amount.as_tuple().exponent == -2 for p in e.postings)


def test_row_weights_of_unchanging_shares_are_the_exact_parts(tmp_path):
    """`engine.lenders.row_weights` answers the shares of a facility whose shares never change
    without the days-held arithmetic: they must be each lender's exact accrued part over the
    facility's (`accrued_exact`, summed here), for every row of the 60/40 book's facility."""
    from fractions import Fraction

    from bookfactory import write_book
    from loanctl.engine.lenders import accrued_exact, row_weights, timeline_of
    from loanctl.servicing.positions import allocate_facility
    from loanctl.validation.run import load_valid_book

    loaded, errors = load_valid_book(write_book(tmp_path))  # acme-tl: SOFR + 575, 60/40
    assert not errors
    (deal,) = loaded.deals
    fid = loaded.deals[deal].deal.facilities[0].id
    s = allocate_facility(loaded, deal, fid, [], date(2030, 12, 31)).schedule
    tl = timeline_of(s)
    assert len(tl.changes) == 1 and len(tl.changes[0][1]) == 2
    checked = 0
    for row in s.rows[1:]:
        cash, _, cfee, _ = accrued_exact(row, tl)
        for component, parts in (("interest", cash), ("commitment_fee", cfee)):
            total = sum(parts.values(), Fraction(0))
            got = dict(row_weights(s, row.date, component))
            if total > 0:
                assert got == {n: x / total for n, x in parts.items()}
                checked += 1
            else:
                assert got == dict(tl.changes[0][1])
    assert checked > 10
