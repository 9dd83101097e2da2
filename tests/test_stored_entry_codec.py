"""The text of a stored report entry (loanctl/ledger/stored_positions.py) reads back exactly:
every Decimal with its digits and exponent, dates, strings; a malformed entry is an error
(ledger check's E0920), never a guess."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from loanctl.ledger.stored_positions import decode_entry, encode_entry


def test_values_read_back_exactly_and_repeated_texts_keep_their_exponent():
    row = {"deal": "d1", "share": Decimal("1"), "zero": Decimal("0.00"), "zero2": Decimal("0"),
           "rate": Decimal("0.0849362637"), "maturity": date(2027, 9, 8), "flag": False, "none": None,
           "lenders": ["fund-a", "fund-b"], "dpd": 3}
    flows = [(date(2022, 9, 8), "draw", Decimal("19600000.00")), (date(2022, 9, 8), "fees", Decimal("392000.00")),
             (date(2023, 2, 11), "interest", Decimal("-45661.1700"))]
    trades = [{"id": "t1", "amount": Decimal("150000"), "price": Decimal("98.5")}]
    for _ in range(2):  # the second time the decoded texts are shared ones
        t, r, f = decode_entry(encode_entry(trades, row, flows))
        assert (t, r, f) == (trades, row, flows)
        assert [str(v) for v in (r["share"], r["zero"], r["zero2"], r["rate"])] == ["1", "0.00", "0", "0.0849362637"]
        assert [str(a) for _, _, a in f] == ["19600000.00", "392000.00", "-45661.1700"]
        assert str(t[0]["price"]) == "98.5"
    assert decode_entry(encode_entry([], None, [])) == ([], None, [])


@pytest.mark.parametrize("flows", ["2022-09-08,draw", "2022-09-08,draw,1.00|", "2022-09-08,draw,1.00,2",
                                   "2022-09-08,draw,1.00|2022-09-09,fees"])
def test_malformed_flows_are_an_error(flows):
    with pytest.raises(ValueError):
        decode_entry(f'[[],null,"{flows}"]')
