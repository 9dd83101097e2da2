"""Rounding a money figure to the currency's minor unit, with the book's rounding mode.

SPEC §3: figures are summed unrounded and rounded once at the end, ``half_up`` (the
default) or ``half_even`` (banker's rounding). The result always carries exactly
``digits`` decimal places (``Decimal("2.30")``, not ``Decimal("2.3")``; ``digits`` = 0 for
JPY), and a zero is never negative, so its text is stable (``"0.00"``, never ``"-0.00"``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from functools import lru_cache
from typing import Callable

__all__ = ["ROUNDING_MODES", "money_rounder", "round_money"]

ROUNDING_MODES: tuple[str, ...] = ("half_up", "half_even")

_DECIMAL_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}

# A private, wide context so that quantizing never fails on a large figure, whatever
# precision the caller's thread context has. Its status flags are written but never read.
_CTX = Context(prec=100)


@lru_cache(maxsize=64)
def _quantum(digits: int) -> Decimal:
    """``10 ** -digits`` as the exponent template for ``quantize``."""
    if digits < 0:
        raise ValueError(f"minor-unit digits must be 0 or more, got {digits}")
    return Decimal(1).scaleb(-digits)


def round_money(x: Decimal, digits: int, mode: str = "half_up") -> Decimal:
    """``x`` rounded to ``digits`` decimal places by ``mode`` (one of ``ROUNDING_MODES``)."""
    rounding = _DECIMAL_ROUNDING.get(mode)
    if rounding is None:
        raise ValueError(
            f"unknown rounding mode {mode!r}; expected one of {', '.join(ROUNDING_MODES)}"
        )
    if type(x) is not Decimal:
        if isinstance(x, float) or not isinstance(x, (int, Decimal)):
            raise TypeError(f"round_money takes a Decimal or int, not {type(x).__name__}")
        x = Decimal(x)
    result = x.quantize(_quantum(digits), rounding=rounding, context=_CTX)
    if not result and result.is_signed():
        result = result.copy_abs()
    return result


def money_rounder(digits: int, mode: str = "half_up") -> Callable[[Decimal], Decimal]:
    """``round_money`` with ``digits`` and ``mode`` fixed, for a Decimal argument: the same
    figure without the per-call checks (the schedule engine rounds tens of thousands)."""
    rounding = _DECIMAL_ROUNDING.get(mode)
    if rounding is None:
        round_money(Decimal(0), digits, mode)  # raises the same error
    quantum, ctx = _quantum(digits), _CTX
    zero = Decimal(0).quantize(quantum, context=ctx)

    def rounder(x: Decimal) -> Decimal:
        if not x:  # any zero (0, -0, 0E-50) rounds to the positive zero with `digits` places
            return zero
        result = x.quantize(quantum, rounding=rounding, context=ctx)
        if not result and result.is_signed():
            return result.copy_abs()
        return result

    return rounder
