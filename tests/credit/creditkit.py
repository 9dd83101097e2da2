"""The hand-computable `acme-fixed` loan (ledgerkit) made a bullet with a 2% default rate,
and helpers to add event files.

Bullet at 3.6% (upfront fee 10,000 on 2026-01-15, no other fee) ACT/360 on 1,000,000: interest = days × 100.00. Dues:
    2026-04-15 interest  9,000.00 (90 days)
    2026-07-15 interest  9,100.00 (91 days)
    2026-10-15 interest  9,200.00 (92 days)
    2027-01-15 interest  9,200.00 (92 days) + principal 1,000,000
Default interest at 2% ACT/360 on an amount X over n days = X × 0.02 × n / 360.
"""

from __future__ import annotations

from pathlib import Path

from bookfactory import deal_with, fixed_term_deal, write_file
from ledgerkit import BOOK_YAML, FIXED_DEAL, write_book

BULLET = deal_with("type: straight", "type: bullet", fixed_term_deal(FIXED_DEAL))
"""Upfront fee 1% (10,000, paid at closing), no other fee."""
BULLET_DEFAULT = deal_with("fixed_rate: 3.6%\n", "fixed_rate: 3.6%\n      default_rate: 2%\n", BULLET)
STRAIGHT_DEFAULT = BULLET_DEFAULT.replace("type: bullet", "type: straight")
"""Straight amortization (250,000 a quarter) with the 2% default rate."""


def credit_book(root: Path, deal_yaml: str = BULLET_DEFAULT, book_yaml: str = BOOK_YAML) -> Path:
    return write_book(root, book_yaml, {FIXED_DEAL: deal_yaml})


def add_event(root: Path, name: str, text: str, deal: str = FIXED_DEAL) -> Path:
    return write_file(root, f"{deal}/events/{name}.yaml", f"id: {name}\n" + text)
