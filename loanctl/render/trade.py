"""The position change `loanctl trade` prints: the facility's shares before and after
settlement, par moved, price and the cash the buyer pays the seller."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ..conventions.currency import minor_units


def pct(x: Fraction) -> str:
    value = Decimal(x.numerator) * 100 / Decimal(x.denominator)
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text + "%"


def trade_text(impact: dict) -> str:
    n = minor_units(impact["currency"])
    before, after = impact["before"], impact["after"]
    lines = [f"trade {impact['trade']}: {impact['deal']} {impact['facility']}, settles {impact['settlement_date']}",
             f"  par moved {impact['par']:,.{n}f} ({pct(impact['fraction'])} of the facility) "
             f"from {impact['seller']} to {impact['buyer']}",
             f"  price {format(impact['price'].normalize(), 'f')}: {impact['buyer']} pays {impact['seller']} "
             f"{impact['cash']:,.{n}f} {impact['currency']} at settlement "
             f"({impact['cash'] - impact['par']:+,.{n}f} against par)",
             "  shares      before → after"]
    for lender in list(dict.fromkeys([*before, *after])):
        lines.append(f"    {lender:<12} {pct(before.get(lender, Fraction(0))):>10} → "
                     f"{pct(after.get(lender, Fraction(0)))}")
    return "\n".join(lines) + "\n"
