"""Valuation in reports (SPEC §5, §9): amortized cost, fair value from marks, unrealized gain
and loan NAV per position; totals translated into one currency at the as-of FX rates; an
investor's look-through scope.

- `amortized_cost` is the journal's own figure: outstanding principal − unamortized upfront
  fee/OID + accreted exit fee, the fees from the same curve (`position.deferred_fees_on`);
  for a facility with credit events (non-accrual, write-offs) the journal's balances on the
  date (`position.credit_carrying`), cost recovery included; the same for a traded facility
  (a buyer's premium or discount, a seller's fees sold with its part).
- `fair_value` = the latest mark's price (% of par, on or before the as-of date) ×
  outstanding principal / 100, rounded once per position; a position never marked is
  carried at amortized cost (`mark_price` None). `unrealized_gain` = fair value − amortized
  cost. The loan NAV = Σ fair value + accrued interest, PIK and commitment fee.
- Translation (`--currency`): each position's money × the as-of rate (the latest row on or
  before it of rates/FX-<CCY><TARGET>.csv, or ÷ that of FX-<TARGET><CCY>.csv), rounded once
  per position, then summed. A missing rate is E0654, never 1.
- An investor's look-through: its commitment / all investors' commitments to each fund
  (exact Fractions), applied to the fund's and its SPVs' figures by largest remainder, so
  the investors' parts sum to the fund's exactly.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Iterable

from ..conventions.currency import minor_units
from ..conventions.rounding import round_money
from ..diagnostics import Diagnostic, DiagnosticError
from ..model.records import LoadedBook
from ..reports.build import Report, Scope, ScopeProblem
from ..servicing.allocation import FacilityAllocation, Payment, by_facility
from .position import credit_carrying, deferred_fees_on, fair_value, needs_run
from .projections import facility_projections

ZERO = Decimal(0)
VALUATION = ("amortized_cost", "fair_value", "unrealized_gain")
TRANSLATED = ("commitment", "unfunded", "outstanding_principal", "accrued_interest", "accrued_pik",
              "accrued_commitment_fee", "interest_received", "fees_received", "principal_received", "past_due",
              "amortized_cost", "fair_value", "unrealized_gain", "loan_nav")


def latest_marks(loaded: LoadedBook, as_of: date) -> dict[tuple[str, str], tuple[Decimal, date, str]]:
    """(deal, facility) → (price, mark date, source) of the latest mark on or before `as_of`."""
    out: dict[tuple[str, str], tuple[Decimal, date, str]] = {}
    for mf in loaded.marks:  # in date order: a later file overrides
        if mf.date <= as_of:
            for m in mf.marks:
                out[(m.deal, m.facility)] = (m.price, mf.date, m.source)
    return out


def valuation_hook(loaded: LoadedBook, as_of: date, payments: Iterable[Payment] = ()):
    """The `position_hook` of `reports.build.build_report` adding amortized cost, the mark, fair
    value and unrealized gain to each position (`payments`: the report's, for the projections
    the effective rate was re-solved on)."""
    paid = by_facility(payments, as_of)
    book = loaded.book
    method = book.policy.fee_amortization if book else "effective_interest"
    mode = book.rounding if book else "half_up"
    marks = latest_marks(loaded, as_of)

    def hook(fa: FacilityAllocation, row: dict, lenders: list[str], weigh) -> None:
        digits = fa.schedule.digits
        cost = row["outstanding_principal"]
        credit = needs_run(fa, as_of)
        if fa.schedule.rows[0].date <= as_of and (credit or any(k in ("upfront", "exit")
                                                               for _, k, _ in fa.schedule.fee_details)):
            projections = facility_projections(loaded, row["deal"], fa, paid[(row["deal"], row["facility"])],
                                               as_of) if method == "effective_interest" else []
            for lender in lenders:
                if credit:  # non-accrual, write-offs, trades: the journal's own balances on the date
                    b = credit_carrying(fa, row["deal"], lender, as_of, method, mode, projections)
                    cost += weigh(lender, b.accreted_exit_fees - b.unamortized_fees + b.cost_recovery)
                else:
                    unamortized, accreted = deferred_fees_on(fa, row["deal"], lender, as_of, method, mode,
                                                             projections)
                    cost += weigh(lender, accreted - unamortized)
        mark = marks.get((row["deal"], row["facility"]))
        row["amortized_cost"] = cost
        row["mark_price"] = mark[0] if mark else None
        row["mark_date"] = mark[1] if mark else None
        row["mark_source"] = mark[2] if mark else None
        row["fair_value"] = fair_value(mark[0], row["outstanding_principal"], digits, mode) if mark else cost
        row["unrealized_gain"] = row["fair_value"] - cost

    return hook


def add_valuation_totals(report: Report) -> None:
    """Totals per currency of amortized cost, fair value, unrealized gain and the loan NAV."""
    for ccy, tot in report.totals.items():
        zero = round_money(ZERO, minor_units(ccy))
        rows = [p for p in report.positions if p["currency"] == ccy]
        for k in VALUATION:
            tot[k] = sum((p[k] for p in rows), zero)
        tot["loan_nav"] = tot["fair_value"] + tot["accrued_interest"] + tot["accrued_pik"] + \
            tot["accrued_commitment_fee"]


def fx_rate(loaded: LoadedBook, source: str, target: str, on: date) -> dict | None:
    """How to translate `source` into `target` on `on`: {pair, rate, date, file, inverse}
    from the latest row on or before `on` of FX-<source><target> (multiply) or else
    FX-<target><source> (divide); None when neither has such a row."""
    for pair, inverse in ((source + target, False), (target + source, True)):
        series = loaded.fx.get(pair)
        if series is None:
            continue
        i = bisect_right(series.dates, on)
        if i:
            return {"pair": pair, "rate": series.rates[i - 1], "date": series.dates[i - 1], "file": series.file,
                    "inverse": inverse}
    return None


def translate(report: Report, loaded: LoadedBook, target: str) -> None:
    """`report.translation`: the positions' money in `target`, converted per position at the
    as-of rates and rounded once per position, summed; the rates used. Raises
    DiagnosticError (E0654) naming every missing rate."""
    digits = minor_units(target)
    zero = round_money(ZERO, digits)
    mode = loaded.book.rounding if loaded.book else "half_up"
    rates: dict[str, dict] = {}
    missing = []
    for ccy in sorted(report.totals):
        if ccy == target:
            continue
        found = fx_rate(loaded, ccy, target, report.as_of)
        if found is None:
            missing.append(ccy)
        else:
            rates[ccy] = found
    if missing:
        raise DiagnosticError([Diagnostic(
            "E0654", f"no {ccy}/{target} rate on or before {report.as_of.isoformat()} to translate the {ccy} "
                     f"positions into {target}", "rates",
            hint=f"add rates/FX-{ccy}{target}.csv (or FX-{target}{ccy}.csv) with a row dated on or before "
                 f"{report.as_of.isoformat()}; a missing rate is never taken as 1") for ccy in missing])
    totals = {k: zero for k in TRANSLATED}
    for p in report.positions:
        for k in TRANSLATED:
            value = p.get(k)
            if k == "loan_nav" and "fair_value" in p:
                value = p["fair_value"] + p["accrued_interest"] + p["accrued_pik"] + p["accrued_commitment_fee"]
            if value is None:
                continue
            totals[k] += convert(value, rates.get(p["currency"]), digits, mode)
    if "fair_value" not in (report.positions[0] if report.positions else {}):
        for k in VALUATION + ("loan_nav",):
            totals.pop(k)
    report.translation = {
        "currency": target, "as_of": report.as_of,
        "rates": [{"currency": ccy, **r} for ccy, r in sorted(rates.items())],
        "totals": totals,
    }


def convert(amount: Decimal, rate: dict | None, digits: int, mode: str = "half_up") -> Decimal:
    """One amount in the target currency, rounded once (`rate` None: already in it)."""
    if rate is None:
        return round_money(amount, digits, mode)
    value = amount / rate["rate"] if rate["inverse"] else amount * rate["rate"]
    return round_money(value, digits, mode)


def investor_scope(loaded: LoadedBook, investor: str) -> tuple[Scope, list[dict]]:
    """The investor's look-through scope (every fund it committed to, with the funds' SPVs) and
    its share of each fund. Raises ScopeProblem for an id that is not an investor."""
    entities = loaded.entities
    e = entities.get(investor)
    if e is None or e.kind != "investor":
        raise ScopeProblem(f"'{investor}' is not an investor in book.yaml")
    committed: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for x in entities.values():
        if x.kind == "investor":
            for c in x.commitments:
                committed[c.fund][x.id] += c.amount
    weights: dict[str, tuple] = {}
    shares = []
    lenders: list[str] = []
    for fund in sorted({c.fund for c in e.commitments}):
        by_investor = committed[fund]
        total = sum(by_investor.values(), ZERO)
        split = [(inv, Fraction(amount) / Fraction(total)) for inv, amount in sorted(by_investor.items())]
        mine = dict(split)[investor]
        fund_entity = entities.get(fund)
        spvs = [x.id for x in entities.values() if x.kind == "spv" and x.parent == fund]
        for lender in (fund, *spvs):
            weights[lender] = (investor, split)
            lenders.append(lender)
        shares.append({"fund": fund, "fund_name": fund_entity.name if fund_entity else fund,
                       "commitment": by_investor[investor], "fund_commitments": total,
                       "share": f"{mine.numerator}/{mine.denominator}",
                       "share_decimal": (Decimal(mine.numerator) / Decimal(mine.denominator)).quantize(Decimal("1e-10")),
                       "lenders": [fund, *spvs]})
    return Scope("investor", investor, e.name, tuple(lenders), weights), shares
