"""Return metrics in Decimal: XIRR (actual/365, as Excel and pyxirr) and MOIC."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Context, Decimal, localcontext
from typing import Iterable

_CTX = Context(prec=34)
_DAYS = Decimal(365)
_TOL = Decimal("1e-12")


def xirr(flows: Iterable[tuple[date, Decimal]]) -> Decimal | None:
    """The annual rate r with Σ cf / (1+r)^(days/365) = 0, or None when there is none
    (all flows of one sign, or no convergence). Rounded to 10 decimal places."""
    by_date: dict[date, Decimal] = defaultdict(Decimal)
    for d, amount in flows:
        by_date[d] += amount
    items = sorted((d, a) for d, a in by_date.items() if a)
    if not items or not any(a < 0 for _, a in items) or not any(a > 0 for _, a in items):
        return None
    d0 = items[0][0]
    with localcontext(_CTX):
        times = [Decimal((d - d0).days) / _DAYS for d, _ in items]
        amounts = [a for _, a in items]

        def npv(rate: Decimal) -> tuple[Decimal, Decimal]:
            base = 1 + rate
            ln = base.ln()
            value = deriv = Decimal(0)
            for t, a in zip(times, amounts):
                disc = (-t * ln).exp()
                value += a * disc
                deriv -= t * a * disc / base
            return value, deriv

        rate = Decimal("0.1")
        for _ in range(60):  # Newton, guarded
            value, deriv = npv(rate)
            if abs(value) < _TOL * max(abs(a) for a in amounts):
                return rate.quantize(Decimal("1e-10"))
            if deriv == 0:
                break
            step = value / deriv
            nxt = rate - step
            if nxt <= -1:
                nxt = (rate - 1) / 2
            if abs(nxt - rate) < Decimal("1e-14"):
                return nxt.quantize(Decimal("1e-10"))
            rate = nxt
        lo, hi = Decimal("-0.9999"), Decimal(100)  # bisection fallback
        f_lo, f_hi = npv(lo)[0], npv(hi)[0]
        if f_lo * f_hi > 0:
            return None
        for _ in range(200):
            mid = (lo + hi) / 2
            f_mid = npv(mid)[0]
            if abs(f_mid) < _TOL or hi - lo < Decimal("1e-13"):
                return mid.quantize(Decimal("1e-10"))
            if (f_mid < 0) == (f_lo < 0):
                lo, f_lo = mid, f_mid
            else:
                hi = mid
        return None


def moic(flows: Iterable[tuple[date, Decimal]]) -> Decimal | None:
    """Total money in (positive flows, terminal value included) over money out."""
    invested = returned = Decimal(0)
    for _, a in flows:
        if a < 0:
            invested -= a
        else:
            returned += a
    if not invested:
        return None
    with localcontext(_CTX):
        return (returned / invested).quantize(Decimal("1e-4"))
