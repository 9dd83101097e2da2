"""Splitting a money figure among lenders by share: the largest-remainder method.

SPEC §3 (Participations): each part is ``amount × share`` floored to the minor unit; the
minor units left over go one each to the parts with the largest remainders, ties going to
the earlier share in the list. The parts therefore always sum exactly to the amount, and
each part is within one minor unit of ``amount × share``. A negative amount is split as
its absolute value and each part negated, so splitting is symmetric in sign.

The arithmetic is on exact integers (shares as exact ratios), never on rounded decimals.
`shares_total` is the one test of "sums to exactly 100%": validate and every split use it,
so a book that validates always splits (no context precision in between).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Context, Decimal
from fractions import Fraction
from functools import lru_cache
from math import lcm

__all__ = ["shares_total", "share_weights", "split_by_shares", "split_by_weights"]

_ONE = Decimal(1)
# Private and wide, so rebuilding a part never rounds whatever the thread's precision.
_CTX = Context(prec=100)


def split_by_shares(
    amount: Decimal, shares: Sequence[Decimal | Fraction], digits: int
) -> list[Decimal]:
    """``amount`` split by ``shares`` (which sum to exactly 1) into parts of ``digits`` places.

    ``amount`` must be a whole number of minor units. Raises ``ValueError`` when the shares
    are empty, negative or do not sum to 1, or when ``amount`` has more than ``digits``
    decimal places.
    """
    if digits < 0:
        raise ValueError(f"minor-unit digits must be 0 or more, got {digits}")
    if len(shares) == 1 and shares[0] == _ONE:
        return [_from_units(_to_units(amount, digits), digits)]
    weights, denominator = share_weights(shares)
    return split_by_weights(amount, weights, denominator, digits)


def share_weights(shares: Sequence[Decimal | Fraction]) -> tuple[tuple[int, ...], int]:
    """``shares`` (which sum to exactly 1) as integer weights over a common denominator, for
    `split_by_weights` (a caller splitting many amounts by the same shares converts them once).
    Raises as `split_by_shares` does for bad shares."""
    shares = tuple(shares)
    if any(isinstance(share, float) for share in shares):
        # Checked before the cache: 0.5 == Decimal("0.5") would share its cache entry.
        raise TypeError("a share must be a Decimal or Fraction, not float")
    return _weights(shares)


def split_by_weights(amount: Decimal, weights: Sequence[int], denominator: int, digits: int) -> list[Decimal]:
    """``amount`` split by the shares `share_weights` turned into (``weights``, ``denominator``):
    exactly `split_by_shares` on those shares."""
    if digits < 0:
        raise ValueError(f"minor-unit digits must be 0 or more, got {digits}")
    units = _to_units(amount, digits)
    sign = -1 if units < 0 else 1
    units = abs(units)
    parts: list[int] = []
    remainders: list[int] = []
    for weight in weights:
        part, remainder = divmod(units * weight, denominator)
        parts.append(part)
        remainders.append(remainder)
    left_over = units - sum(parts)
    if left_over == 1:  # the commonest: the first of the largest remainders
        parts[remainders.index(max(remainders))] += 1
    elif left_over:
        # sorted() is stable: equal remainders keep their order in the list (reverse=True too).
        order = sorted(range(len(parts)), key=remainders.__getitem__, reverse=True)
        for i in order[:left_over]:
            parts[i] += 1
    ctx = _CTX
    return [Decimal(sign * part).scaleb(-digits, ctx) for part in parts]


def shares_total(shares: Sequence[Decimal | Fraction]) -> Fraction:
    """The exact sum of `shares` (a Decimal sum would round past the context's 28 digits:
    three shares of 0.3333333333333333333333333333333333 would 'sum' to 1)."""
    return sum((Fraction(*_ratio(share)) for share in shares), Fraction(0))


@lru_cache(maxsize=1024)
def _weights(shares: tuple[Decimal | Fraction, ...]) -> tuple[tuple[int, ...], int]:
    """The shares as integer weights over a common denominator (cached: lenders repeat)."""
    ratios = [_ratio(share) for share in shares]
    if not ratios:
        raise ValueError("cannot split among no shares")
    denominator = lcm(*(den for _, den in ratios))
    weights = tuple(num * (denominator // den) for num, den in ratios)
    total = shares_total(shares)
    if total != 1:
        shown = Decimal(total.numerator) / Decimal(total.denominator)
        raise ValueError(f"shares must sum to exactly 1, they sum to {shown}")
    return weights, denominator


def _ratio(share: Decimal | Fraction) -> tuple[int, int]:
    if isinstance(share, float) or not isinstance(share, (Decimal, Fraction, int)):
        raise TypeError(f"a share must be a Decimal or Fraction, not {type(share).__name__}")
    if isinstance(share, Decimal) and not share.is_finite():
        raise ValueError(f"a share must be finite, got {share}")
    num, den = share.as_integer_ratio()
    if num < 0:
        raise ValueError(f"a share cannot be negative, got {share}")
    return num, den


def _to_units(amount: Decimal, digits: int) -> int:
    """``amount`` as a whole number of minor units (``ValueError`` if it has finer digits)."""
    if type(amount) is not Decimal and (isinstance(amount, float) or not isinstance(amount, (Decimal, int))):
        raise TypeError(f"an amount must be a Decimal, not {type(amount).__name__}")
    num, den = amount.as_integer_ratio()
    units, rest = divmod(num * _TEN[digits] if digits < len(_TEN) else num * 10**digits, den)
    if rest:
        raise ValueError(f"amount {amount} has more than {digits} decimal places")
    return units


_TEN = tuple(10**d for d in range(10))


def _from_units(units: int, digits: int) -> Decimal:
    return Decimal(units).scaleb(-digits, _CTX)
