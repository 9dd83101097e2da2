"""Property: without a default rate, credit events change nothing that existed before them —
the allocation (every due and every allocation row) and each position's figures other than
the credit ones are exactly those of the same book with every event file removed (SPEC
§4.3: events change no due). Write-offs only move principal from outstanding to written_off."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st

from creditkit import BULLET, STRAIGHT_DEFAULT
from ledgerkit import FIXED_DEAL, write_book, BOOK_YAML
from loanctl.api import load_valid_book
from loanctl.model.documents import CreditEvent
from loanctl.model.records import EventRecord
from loanctl.servicing.allocation import Payment
from loanctl.servicing.positions import allocate_facility, facility_position

CREDIT_FIELDS = {"default_interest_due", "accrued_default_interest", "in_default", "non_accrual",
                 "non_accrual_since", "written_off", "recoveries"}
START = date(2026, 1, 15)

events_st = st.lists(st.tuples(st.sampled_from(["default", "default_cured", "non_accrual", "accrual_restored",
                                                "write_off"]),
                               st.integers(0, 360), st.sampled_from([None, 100000, 250000])), max_size=5)
payments_st = st.lists(st.tuples(st.integers(1, 420), st.sampled_from(["9000.00", "259000.00", "4500.00",
                                                                       "100000.00"]),
                                 st.sampled_from(["scheduled", "scheduled", "prepayment"])), max_size=6)


def _book(tmp_path_factory, deal_yaml):
    root = tmp_path_factory.mktemp("book")
    write_book(root, BOOK_YAML.replace("policy:\n", "policy:\n  non_accrual_dpd: 60\n", 1), {FIXED_DEAL: deal_yaml})
    loaded, errors = load_valid_book(root)
    assert not errors
    return loaded


def _figures(loaded, payments, as_of):
    fa = allocate_facility(loaded, FIXED_DEAL, "tl", [p for p in payments if p.date <= as_of])
    pos = facility_position(fa, FIXED_DEAL, as_of, (0, 30, 60, 90, 120))
    dues = [(d.date, d.component, d.amount, d.paid) for d in fa.dues]
    return fa.allocations, dues, pos


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events_st, pays=payments_st, day=st.integers(0, 450))
def test_events_without_a_default_rate_change_no_due_and_no_legacy_figure(tmp_path_factory, events, pays, day):
    loaded = _book(tmp_path_factory, BULLET.replace("type: bullet", "type: straight"))
    record = loaded.deals[FIXED_DEAL]
    payments = [Payment(f"p{i}", FIXED_DEAL, "tl", START + timedelta(days=d), Decimal(a), "USD", kind)
                for i, (d, a, kind) in enumerate(pays)]
    as_of = START + timedelta(days=day)
    record.events = []
    bare = _figures(loaded, payments, as_of)
    record.events = [EventRecord(CreditEvent(id=f"e{i}", date=START + timedelta(days=d), type=t,
                                             amount=Decimal(a) if (a and t == "write_off") else None), None, "")
                     for i, (t, d, a) in enumerate(events)]
    with_events = _figures(loaded, payments, as_of)
    assert with_events[0] == bare[0] and with_events[1] == bare[1]
    before = dataclasses.asdict(bare[2])
    after = dataclasses.asdict(with_events[2])
    skip = CREDIT_FIELDS | {"outstanding_principal"}
    assert {k: v for k, v in after.items() if k not in skip} == {k: v for k, v in before.items() if k not in skip}
    # a write-off only moves principal out of outstanding; the claim stays visible as such
    assert after["outstanding_principal"] + after["written_off"] - after["recoveries"] == \
        before["outstanding_principal"] or after["outstanding_principal"] == 0
    assert before["written_off"] == 0 and not before["in_default"]


def test_with_a_default_rate_but_no_event_and_no_late_payment_nothing_changes(tmp_path_factory):
    plain = _book(tmp_path_factory, BULLET.replace("type: bullet", "type: straight"))
    rated = _book(tmp_path_factory, STRAIGHT_DEFAULT)
    on_time = [Payment("c", FIXED_DEAL, "tl", START, Decimal("10000.00"), "USD"),
               Payment("q1", FIXED_DEAL, "tl", date(2026, 4, 15), Decimal("259000.00"), "USD")]
    a = _figures(plain, on_time, date(2026, 6, 1))
    b = _figures(rated, on_time, date(2026, 6, 1))
    # dues after the as-of date are projected as if nothing more is paid (then they would be late)
    assert a[0] == b[0] and [d for d in a[1] if d[0] <= date(2026, 6, 1)] == [d for d in b[1]
                                                                                if d[0] <= date(2026, 6, 1)]
