"""Fee rules that servicing and simulation both apply to a prepayment: the prepayment fee's
rate on a date, from the facility's fee schedule (one rule, called by allocation and by the
what-if simulation alike)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ..model.documents import Facility, PrepaymentFee


def prepayment_fee_rate(facility: Facility, when: date) -> Decimal | None:
    """Rate of the first step whose `until` is on or after the prepayment date."""
    for fee in facility.fees:
        if isinstance(fee, PrepaymentFee):
            for step in fee.schedule:
                if when <= step.until:
                    return step.rate
    return None
