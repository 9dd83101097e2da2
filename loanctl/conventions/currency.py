"""ISO 4217 currencies and their minor units, from CLDR data via babel (not a hand list).

``minor_units("USD") == 2``, ``minor_units("JPY") == 0``, ``minor_units("KWD") == 3``.
Codes are upper case as ISO 4217 writes them; an unknown code is not a currency.
"""

from __future__ import annotations

from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

__all__ = ["is_currency", "minor_units"]


@lru_cache(maxsize=1)
def _known_codes() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache(maxsize=512)
def is_currency(code: str) -> bool:
    """True when ``code`` is an ISO 4217 code babel knows (e.g. ``USD``; not ``usd``)."""
    return isinstance(code, str) and code in _known_codes()


@lru_cache(maxsize=512)
def minor_units(code: str) -> int:
    """The number of decimal places of ``code``'s minor unit; ``ValueError`` if unknown."""
    if not is_currency(code):
        raise ValueError(f"unknown currency {code!r}: not an ISO 4217 code")
    return int(get_currency_precision(code))
