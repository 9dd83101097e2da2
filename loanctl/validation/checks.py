"""Checks beyond types: each a small pure function returning diagnostics (SPEC §2, §6).

`check_book` runs them all over a `LoadedBook`. Checks read the model and report at the
source position of the offending value (the deal file, or the amendment that set it).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import PurePosixPath
from typing import Callable, Sequence

from ..conventions.calendars import calendar_error
from ..conventions.currency import minor_units
from ..conventions.split import shares_total
from ..underwriting.covenants import check_covenant_dates
from ..diagnostics import Diagnostic
from ..engine.periods import book_calendars, facility_calendar, payment_dates
from ..engine.terms import Version, facility_terms
from ..source.fingerprints import PROFILE_DIGEST_SUFFIX, PROFILE_SIDECAR_SUFFIX, profile_digest
from ..model.records import DealRecord, LoadedBook
from ..model.documents import APPROVED_OR_LATER, Book, Deal
from ..model.values import fmt_rate, money_digits
from .events import check_events
from .overnight import check_overnight_facility, check_overnight_files
from .trades import check_trades

_ONE = Decimal(1)


Repaid = Callable[[LoadedBook, str, str], Sequence[tuple[date, Decimal]]]
"""(book, deal id, facility id) → (date, amount) of the facility's repayments in the archive
(a revolver paid down and drawn again, SPEC §4.3); the ledger supplies it, called only when
a revolver's draws add up to more than its commitment. Its attribute `principal`, when set,
is an `events.PrincipalPaid` (the principal received per the archive, for write-offs and
the repaid / written_off status)."""


def check_book(loaded: LoadedBook, repaid: Repaid | None = None) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    if loaded.book is not None and loaded.doc is not None:
        diags += check_entities(loaded)
        diags += check_payment_profiles(loaded)
    diags += check_overnight_files(loaded)
    for record in loaded.deals.values():
        diags += check_deal(loaded, record, repaid)
    return diags


# --- book.yaml -----------------------------------------------------------------------------
def check_entities(loaded: LoadedBook) -> list[Diagnostic]:
    book, doc = loaded.book, loaded.doc
    assert book is not None and doc is not None
    out: list[Diagnostic] = []
    kinds = {e.id: e.kind for e in book.entities}
    for i, n in _duplicates([e.id for e in book.entities]):
        out.append(doc.diag("E0213", f"entity id '{n}' is used twice", ("entities", i, "id"),
                            hint="entity ids are unique across the book"))
    for i, e in enumerate(book.entities):
        if e.kind == "spv":
            if e.parent is None or kinds.get(e.parent) != "fund":
                out.append(doc.diag("E0220", f"spv '{e.id}' needs a parent fund", ("entities", i, "parent"),
                                    hint=f"set parent to one of: {_ids(kinds, 'fund')}"))
        elif e.parent is not None:
            out.append(doc.diag("E0220", f"only an spv has a parent ('{e.id}' is a {e.kind})",
                                ("entities", i, "parent"), hint="remove parent"))
        for j, c in enumerate(e.commitments):
            if kinds.get(c.fund) != "fund":
                out.append(doc.diag("E0220", f"commitment to '{c.fund}', which is not a fund",
                                    ("entities", i, "commitments", j, "fund"),
                                    hint=f"funds: {_ids(kinds, 'fund')}"))
            if money_digits(c.amount) > minor_units(book.base_currency):
                out.append(_digits_diag(doc.diag, ("entities", i, "commitments", j, "amount"), c.amount,
                                        book.base_currency))
    ids = [c.id for c in book.calendars]
    for i, n in _duplicates(ids):
        out.append(doc.diag("E0213", f"calendar id '{n}' is used twice", ("calendars", i, "id")))
    for i, c in enumerate(book.calendars):
        err = calendar_error(c.base, [x for x in ids if x != c.id])
        if err:
            out.append(doc.diag("E0206", err, ("calendars", i, "base"),
                                hint="a holidays country (US), COUNTRY-SUBDIVISION (GB-ENG), market (NYSE) or WEEKENDS"))
    buckets = book.dpd_buckets
    if list(buckets) != sorted(set(buckets)) or (buckets and buckets[0] != 0):
        out.append(doc.diag("E0208", "dpd_buckets must start at 0 and increase", ("dpd_buckets",),
                            hint="for example [0, 30, 60, 90, 120]"))
    return out


def check_payment_profiles(loaded: LoadedBook) -> list[Diagnostic]:
    """E0240: a payment profile that archived files were posted with was removed or changed.
    Each such file has a `.profile` sidecar naming the profile and (files posted since
    digests exist) a `.profile.sha256` with the digest of its definition at post time; a
    rebuild reads the archive with today's profile, so that profile must read it the same."""
    book, doc = loaded.book, loaded.doc
    assert book is not None and doc is not None
    used: dict[str, list[tuple[str, str | None]]] = {}
    for name, is_dir in loaded.tree.list_dir("payments"):
        if is_dir or name.startswith(".") or not name.endswith(".csv" + PROFILE_SIDECAR_SUFFIX):
            continue
        side = loaded.tree.read(f"payments/{name}", 4096)
        if not isinstance(side, bytes) or not side.strip():
            continue
        profile = side.decode("utf-8", "replace").split("\n")[0].strip()
        archive = name[: -len(PROFILE_SIDECAR_SUFFIX)]
        digest = loaded.tree.read(f"payments/{archive}{PROFILE_DIGEST_SUFFIX}", 4096)
        fields = digest.decode("utf-8", "replace").split() if isinstance(digest, bytes) else []
        used.setdefault(profile, []).append((archive, fields[1] if fields[:1] == [profile] and len(fields) == 2
                                             else None))
    out: list[Diagnostic] = []
    hint = "profiles used by posted files cannot change: restore it as it was and add a new profile name instead"
    for profile, files in sorted(used.items()):
        current = book.payment_profiles.get(profile)
        if current is None:
            out.append(doc.diag("E0240", f"payment profile '{profile}' was removed, but archived "
                                         f"{_file_names([a for a, _ in files])} were posted with it",
                                ("payment_profiles",), key=True, hint=hint))
            continue
        changed = [a for a, d in files if d is not None and d != profile_digest(current)]
        if changed:
            out.append(doc.diag("E0240", f"payment profile '{profile}' changed after archived "
                                         f"{_file_names(changed)} were posted with it",
                                ("payment_profiles", profile), key=True, hint=hint))
    return out


def _file_names(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:3])
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f"file{'s' if len(names) != 1 else ''} {shown}{more}"


# --- deals ---------------------------------------------------------------------------------
def check_deal(loaded: LoadedBook, record: DealRecord, repaid: Repaid | None = None) -> list[Diagnostic]:
    deal, doc = record.deal, record.doc
    book = loaded.book
    out: list[Diagnostic] = []
    folder = PurePosixPath(record.rel).parent.name
    if deal.id != folder:
        out.append(doc.diag("E0201", f"deal id '{deal.id}' differs from its folder '{folder}'", ("id",),
                            hint=f"set id: {folder}, or rename the folder"))
    if book is not None:
        borrower = loaded.entities.get(deal.borrower)
        if borrower is None or borrower.kind != "borrower":
            kinds = loaded.kinds
            out.append(doc.diag("E0202", f"'{deal.borrower}' is not a borrower in book.yaml", ("borrower",),
                                hint=_suggest(deal.borrower, kinds, "borrower")))
    for i, n in _duplicates([f.id for f in deal.facilities]):
        out.append(doc.diag("E0213", f"facility id '{n}' is used twice", ("facilities", i, "id")))
    for i, n in _duplicates([c.id for c in deal.covenants]):
        out.append(doc.diag("E0213", f"covenant id '{n}' is used twice", ("covenants", i, "id")))
    out += check_status(book, deal, doc)
    out += check_leverage(book, deal, doc)

    for a in record.amendments:
        stem = PurePosixPath(a.rel).stem
        if a.amendment.id != stem:
            out.append(a.doc.diag("E0218", f"amendment id '{a.amendment.id}' differs from its file name '{stem}'",
                                  ("id",), hint=f"set id: {stem}, or rename the file"))
    for i, n in _duplicates([a.amendment.id for a in record.amendments]):
        out.append(record.amendments[i].doc.diag("E0213", f"amendment id '{n}' is used twice", ("id",)))

    out += check_financials(record)
    out += check_covenant_dates(record)
    terms, d = facility_terms(record)
    out += d
    out += check_approvals_and_time_order(loaded, record, terms)
    if record.trades:
        out += check_trades(loaded, record, terms)
    out += check_events(loaded, record, terms, getattr(repaid, "principal", None))
    calendars = book_calendars(book)
    seen: set[tuple] = set()
    for ft in terms.values():
        out += check_draws(ft, (lambda fid=ft.id: repaid(loaded, deal.id, fid)) if repaid is not None else None)
        out += check_commitment_cuts(ft)
        out += check_overnight_facility(loaded, ft, calendars)
        for version in ft.versions:
            for diag in check_facility(loaded, deal, version, calendars) + check_rate_terms(version):
                key = (diag.file, diag.line, diag.column, diag.code, diag.message)
                if key not in seen:
                    seen.add(key)
                    out.append(diag)
    return out


def check_financials(record: DealRecord) -> list[Diagnostic]:
    """Each financials file gives the figures its deal's covenants need (E0229)."""
    from ..underwriting.covenants import METRIC_NEEDS
    out: list[Diagnostic] = []
    uw = record.deal.origination.underwriting
    for fin in record.financials:
        for cov in record.deal.covenants:
            missing = [n for n in METRIC_NEEDS[cov.metric] if getattr(fin.financials, n, None) is None
                       and not (n == "collateral_value" and uw is not None and uw.collateral_value is not None)]
            if missing:
                out.append(fin.doc.diag("E0229", f"covenant {cov.id} ({cov.metric}) needs {', '.join(missing)}, "
                                                 f"which these financials do not give", (),
                                        hint=f"add {', '.join(missing)} to the file"))
    return out


def check_status(book: Book | None, deal: Deal, doc) -> list[Diagnostic]:
    """Approvals the policy requires for the total commitment, for approved and later."""
    out: list[Diagnostic] = []
    approvals = deal.origination.approvals
    declined = [i for i, a in enumerate(approvals) if a.decision == "declined"]
    if deal.status in APPROVED_OR_LATER and declined:
        out.append(doc.diag("E0226", f"status is {deal.status} but an approval declined the deal",
                            ("origination", "approvals", declined[0], "decision"),
                            hint="a declined deal moves to status: declined"))
    if deal.status == "declined" and not declined:
        out.append(doc.diag("E0226", "status is declined but no approval declined the deal", ("status",),
                            hint="record the declining decision under origination.approvals"))
    if book is None or deal.status not in APPROVED_OR_LATER:
        return out
    total = deal.total_commitment
    rule = next((r for r in book.policy.approvals if r.up_to is None or total <= r.up_to), None)
    if rule is None:
        return out
    have = {a.role for a in approvals if a.decision == "approved"}
    missing = [r for r in rule.require if r not in have]
    if missing:
        out.append(doc.diag("E0219", f"status {deal.status} needs approval by {', '.join(missing)} "
                                     f"(total commitment {total:,})", ("status",),
                            hint="add the approvals under origination.approvals (loanctl approve)"))
    return out


def check_leverage(book: Book | None, deal: Deal, doc) -> list[Diagnostic]:
    """Underwriting leverage against the policy limit: a warning before approval, an error
    for approved and funded deals (funding needed the limit to hold)."""
    if book is None or book.policy.limits.max_leverage is None:
        return []
    uw = deal.origination.underwriting
    if uw is None or uw.total_debt is None or uw.ebitda is None:
        return []
    if uw.ebitda <= 0:
        if deal.status in ("repaid", "written_off", "declined") or uw.total_debt <= 0:
            return []
        severity = "error" if deal.status in APPROVED_OR_LATER else "warning"
        return [doc.diag("E0225", f"underwriting EBITDA is {uw.ebitda}: leverage has no finite value, above any "
                                  f"policy limit", ("origination", "underwriting", "ebitda"), severity=severity,
                         hint="a deal with zero or negative EBITDA needs a policy exception")]
    leverage = uw.total_debt / uw.ebitda
    limit = book.policy.limits.max_leverage
    if leverage <= limit or deal.status in ("repaid", "written_off", "declined"):
        return []
    severity = "error" if deal.status in APPROVED_OR_LATER else "warning"
    return [doc.diag("E0225", f"underwriting leverage {leverage:.2f}x is above the policy limit {limit}x",
                     ("origination", "underwriting", "total_debt"), severity=severity,
                     hint="restructure the deal, or record a policy exception before approval")]


def check_draws(ft, repaid: Callable[[], Sequence[tuple[date, Decimal]]] | None = None) -> list[Diagnostic]:
    """Each draw against the terms in force on its date: inside the availability period,
    and cumulative draws within the commitment then in force — for a revolver with
    repayments (`repaid()`), within the commitment less the principal outstanding then."""
    out: list[Diagnostic] = []
    last = ft.last
    draws = sorted(enumerate(last.facility.effective_draws if last.facility.draws is not None else ()),
                   key=lambda x: x[1].date)
    total = Decimal(0)
    for i, draw in draws:
        v = ft.at(draw.date) or ft.first
        f = v.facility
        path = ("draws", i)
        end = f.maturity_date if f.type == "term" else (f.availability_end or f.maturity_date)
        window = "maturity_date" if f.type == "term" else "availability_end"
        if draw.date < f.start_date or draw.date >= end:
            out.append(last.diag("E0209", f"draw dated {draw.date} is outside {f.start_date} … {window} {end}",
                                 path + ("date",),
                                 hint=f"draws are dated on or after start_date and before {window}"))
        total += draw.amount
        if total > f.commitment:
            paid = sorted(repaid()) if f.type == "revolver" and repaid is not None else []
            if paid:
                return out + check_revolver_availability(ft, draws, paid)
            out.append(last.diag("E0210", f"draws up to {draw.date} total {total:,}, more than the commitment "
                                          f"{f.commitment:,} in force then", path + ("amount",),
                                 hint="reduce the draws or increase the commitment by amendment first"))
            break
    return out


def check_revolver_availability(ft, draws: list, paid: list[tuple[date, Decimal]]) -> list[Diagnostic]:
    """A revolver's draws, in date order, each within the commitment less the principal
    drawn and not repaid before it (repayments dated on a draw's date come first)."""
    outstanding = Decimal(0)
    j = 0
    for i, draw in draws:
        while j < len(paid) and paid[j][0] <= draw.date:
            outstanding = max(Decimal(0), outstanding - paid[j][1])
            j += 1
        f = (ft.at(draw.date) or ft.first).facility
        available = f.commitment - outstanding
        if draw.amount > available:
            return [ft.last.diag("E0275", f"draw of {draw.amount:,} on {draw.date} is more than the {available:,} "
                                          f"available then: commitment {f.commitment:,} less {outstanding:,} "
                                          "outstanding after the repayments posted", ("draws", i, "amount"),
                                 hint="reduce the draw, date it after a repayment, or post the repayment first")]
        outstanding += draw.amount
    return []


def check_facility(loaded: LoadedBook, deal: Deal, v: Version, calendars) -> list[Diagnostic]:
    f = v.facility
    out: list[Diagnostic] = []
    digits = minor_units(deal.currency)

    def money(amount: Decimal, path: tuple, what: str, positive: bool = True) -> None:
        if money_digits(amount) > digits:
            out.append(_digits_diag(v.diag, path, amount, deal.currency))
        if positive and amount <= 0:
            out.append(v.diag("E0228", f"{what} must be positive, found {amount}", path))

    money(f.commitment, ("commitment",), "the commitment")
    # dates
    if f.start_date >= f.maturity_date:
        out.append(v.diag("E0208", f"maturity_date {f.maturity_date} is not after start_date {f.start_date}",
                          ("maturity_date",), hint="the maturity date comes after the start date"))
        return out  # nothing below makes sense without a life
    fp = f.payments.first_payment_date
    if fp is not None and not f.start_date < fp <= f.maturity_date:
        out.append(v.diag("E0208", f"first_payment_date {fp} is not between start_date {f.start_date} "
                                   f"and maturity_date {f.maturity_date}", ("payments", "first_payment_date")))
    if f.availability_end is not None and not f.start_date < f.availability_end <= f.maturity_date:
        out.append(v.diag("E0208", f"availability_end {f.availability_end} is not after start_date and on or "
                                   f"before maturity_date", ("availability_end",)))
    for i, draw in enumerate(f.draws or ()):
        money(draw.amount, ("draws", i, "amount"), "a draw")
    # interest
    it = f.interest
    if (it.index is None) == (it.fixed_rate is None):
        out.append(v.diag("E0204", "interest needs exactly one of index (floating) or fixed_rate", ("interest",),
                          hint="write index: SOFR-3M with a spread, or fixed_rate: 9.5%"))
    elif it.index is not None:
        series = loaded.rates.get(it.index)
        if series is None and loaded.tree.read(f"rates/{it.index}.csv", 1) is not None:
            pass  # the rate file exists but has errors of its own, reported where they are
        elif series is None:
            close = _suggest(it.index, {k: "index" for k in loaded.rates}, "index")
            out.append(v.diag("E0205", f"no rate file rates/{it.index}.csv for index '{it.index}'",
                              ("interest", "index"), hint=close))
        elif it.method == "term":  # overnight methods: E0307 (loanctl.validation.overnight)
            fixing_date = f.start_date - timedelta(days=it.fixing_lag_days)
            if series.fixing(fixing_date) is None:
                out.append(v.diag("E0222", f"no {it.index} fixing on or before {fixing_date} "
                                           f"(first row: {series.dates[0]})", ("interest", "index"),
                                  hint=f"add fixings to {series.file} back to {fixing_date}"))
    if it.floor is not None and it.cap is not None and it.floor > it.cap:
        out.append(v.diag("E0208", f"floor {fmt_rate(it.floor)} is above cap {fmt_rate(it.cap)}", ("interest", "floor")))
    # calendar and payment dates
    cal_err = calendar_error(f.payments.calendar, list(calendars))
    cal = None
    if cal_err:
        out.append(v.diag("E0206", cal_err, ("payments", "calendar"),
                          hint="WEEKENDS, a holidays country (US), COUNTRY-SUBDIVISION (GB-ENG), a market (NYSE), "
                               "a book calendar id, or several joined with '+'"))
    else:
        try:
            cal = facility_calendar(f, calendars)
        except ValueError as exc:
            out.append(v.diag("E0206", str(exc), ("payments", "calendar")))
    # amortization
    am = f.amortization
    if am.type == "percent" and am.annual_rate is None:
        out.append(v.diag("E0221", "percent amortization needs annual_rate", ("amortization",),
                          hint="add annual_rate: 1%"))
    if am.type == "custom":
        if not am.schedule:
            out.append(v.diag("E0221", "custom amortization needs a schedule", ("amortization",),
                              hint="add schedule: [{date: …, amount: …}] on payment dates"))
        adjusted = {a for _, a in payment_dates(f, cal)} if cal is not None else None
        custom_total = Decimal(0)
        for i, inst in enumerate(am.schedule):
            money(inst.amount, ("amortization", "schedule", i, "amount"), "an installment")
            custom_total += inst.amount
            if adjusted is not None and inst.date not in adjusted:
                near = min(adjusted, key=lambda d: abs((d - inst.date).days))
                out.append(v.diag("E0211", f"{inst.date} is not a payment date of facility '{f.id}'",
                                  ("amortization", "schedule", i, "date"),
                                  hint=f"the nearest payment date is {near}"))
        drawn = sum((d.amount for d in f.effective_draws), Decimal(0))
        if custom_total > drawn and drawn > 0:
            out.append(v.diag("E0223", f"custom installments total {custom_total:,}, more than the "
                                       f"{drawn:,} drawn", ("amortization", "schedule")))
    elif am.schedule:
        out.append(v.diag("E0221", f"a schedule is only used by custom amortization (type is {am.type})",
                          ("amortization", "schedule"), hint="remove schedule or set type: custom"))
    # fees
    for i, fee in enumerate(f.fees):
        if fee.type == "fixed":
            money(fee.amount, ("fees", i, "amount"), "a fixed fee")
            if not f.start_date <= fee.date <= f.maturity_date:
                out.append(v.diag("E0208", f"fee date {fee.date} is outside the facility's life", ("fees", i, "date")))
        elif fee.type == "prepayment":
            untils = [s.until for s in fee.schedule]
            if untils != sorted(set(untils)):
                out.append(v.diag("E0208", "prepayment fee steps must be in increasing until order",
                                  ("fees", i, "schedule")))
    # participations
    book = loaded.book
    entities = loaded.entities
    lenders = Counter(p.lender for p in f.participations)
    for i, p in enumerate(f.participations):
        lender = entities.get(p.lender)
        if book is not None and (lender is None or lender.kind not in ("fund", "spv")):
            out.append(v.diag("E0203", f"lender '{p.lender}' is not a fund or spv in book.yaml",
                              ("participations", i, "lender"), hint=_suggest(p.lender, loaded.kinds, "fund", "spv")))
        if lenders[p.lender] > 1:
            out.append(v.diag("E0227", f"lender '{p.lender}' appears more than once", ("participations", i, "lender"),
                              hint="merge the rows into one share"))
    shares = shares_total([p.share for p in f.participations])  # exact: the split's own test
    if shares != 1:
        shown = fmt_rate(_exact_decimal(shares))
        out.append(v.diag("E0207", f"participation shares sum to {shown}, not 100%", ("participations",),
                          hint="the shares of one facility sum to exactly 100%"))
    return out


def check_rate_terms(v: Version) -> list[Diagnostic]:
    """Spreads, fixed and PIK rates, fee rates and amortization rates are never negative (E0245).

    A negative margin or fee would pay the borrower; a negative amortization rate would lend
    more. Floors and caps apply to the index fixing, which can be negative (EUR, CHF and JPY
    fixed below zero for years), so they may be negative; so may fixings (E0306 warns)."""
    f = v.facility
    it = f.interest
    terms: list[tuple[str, Decimal | None, tuple]] = [
        ("spread", it.spread, ("interest", "spread")),
        ("fixed_rate", it.fixed_rate, ("interest", "fixed_rate")),
        ("pik_rate", it.pik_rate, ("interest", "pik_rate")),
        ("amortization annual_rate", f.amortization.annual_rate, ("amortization", "annual_rate")),
    ]
    for i, fee in enumerate(f.fees):
        if fee.type == "prepayment":
            terms += [("prepayment fee rate", s.rate, ("fees", i, "schedule", j, "rate"))
                      for j, s in enumerate(fee.schedule)]
        elif fee.type != "fixed":
            terms.append((f"{fee.type} fee rate", fee.rate, ("fees", i, "rate")))
    return [v.diag("E0245", f"{what} {fmt_rate(rate)} is negative", path,
                   hint="write the rate as a positive number; a negative margin or fee would pay the borrower")
            for what, rate, path in terms if rate is not None and rate < 0]


def check_commitment_cuts(ft) -> list[Diagnostic]:
    """An amendment may not cut the commitment below what is already drawn (E0246): draws
    dated before its effective date (the drawn amount of SPEC §3's undrawn commitment; a
    draw on or after it is checked against the new commitment by `check_draws`)."""
    out: list[Diagnostic] = []
    for before, v in zip(ft.versions, ft.versions[1:]):
        f = v.facility
        if v.effective is None or f.commitment >= before.facility.commitment:
            continue
        # the draws as the terms before the cut had them (a term loan's implicit draw of its
        # whole commitment must not shrink with the cut)
        drawn = sum((d.amount for d in before.facility.effective_draws if d.date < v.effective), Decimal(0))
        if f.commitment < drawn:
            out.append(v.diag("E0246", f"commitment {f.commitment:,} from {v.effective} is below the {drawn:,} "
                                       f"drawn before then", ("commitment",),
                              hint=f"a commitment can be cut to {drawn:,} at most; repayments reduce the "
                                   f"outstanding, not the amount drawn"))
    return out


# --- approvals and time order (SPEC §2.4, §6) -------------------------------------------------
def check_approvals_and_time_order(loaded: LoadedBook, record: DealRecord, terms: dict) -> list[Diagnostic]:
    """Who signed, and when: one person per role on each approval list, no approvals on a
    draft, each amendment approved as the policy requires before it takes effect, and no
    amendment reaching back before its effective date."""
    deal = record.deal
    out = check_one_person_one_role(record.doc, deal.origination.approvals, ("origination", "approvals"))
    if deal.status == "draft" and deal.origination.approvals:
        n = len(deal.origination.approvals)
        out.append(record.doc.diag("E0235", f"deal is draft but has {n} approval{'s' if n != 1 else ''}",
                                   ("origination", "approvals", 0), severity="warning",
                                   hint="set status: submitted when the deal goes to credit, or remove the "
                                        "approvals recorded too early"))
    for a in record.amendments:
        out += check_one_person_one_role(a.doc, a.amendment.approvals, ("approvals",))
    if deal.status in APPROVED_OR_LATER:
        out += check_amendment_approvals(loaded.book, record)
    out += check_amendments_keep_the_past(terms)
    return out


def check_one_person_one_role(doc, approvals, path: tuple) -> list[Diagnostic]:
    """The same `by` may not sign one approval list for two roles (E0234); names compare after
    NFKC and case folding, so `Jane.Doe` and `jane.doe` are one person."""
    import unicodedata
    out: list[Diagnostic] = []
    roles: dict[str, str] = {}
    for i, a in enumerate(approvals):
        first = roles.setdefault(unicodedata.normalize("NFKC", a.by).casefold(), a.role)
        if first != a.role:
            out.append(doc.diag("E0234", f"{a.by} signs as {a.role} and also as {first}", path + (i, "by"),
                                hint="each role is a different person: the second role needs its own approver"))
    return out


def check_amendment_approvals(book: Book | None, record: DealRecord) -> list[Diagnostic]:
    """Each amendment of an approved or funded deal carries the approvals the policy requires
    for the total commitment after it (E0230), none dated after its effective date (E0231)."""
    out: list[Diagnostic] = []
    if book is None or not book.policy.approvals:
        return out
    ordered = record.sorted_amendments()
    for k, a in enumerate(ordered):
        am, doc = a.amendment, a.doc
        for i, ap in enumerate(am.approvals):
            if ap.decision == "approved" and ap.date > am.effective_date:
                out.append(doc.diag("E0231", f"approval by {ap.by} ({ap.role}) is dated {ap.date}, after the "
                                             f"amendment's effective date {am.effective_date}",
                                    ("approvals", i, "date"),
                                    hint="an amendment is approved before it takes effect: move effective_date "
                                         "after the last approval"))
        terms, _ = facility_terms(record, ordered[: k + 1])
        total = sum((ft.last.facility.commitment for ft in terms.values()), Decimal(0))
        rule = next((r for r in book.policy.approvals if r.up_to is None or total <= r.up_to), None)
        have = {ap.role for ap in am.approvals if ap.decision == "approved"}
        missing = [r for r in (rule.require if rule else ()) if r not in have]
        if missing:
            out.append(doc.diag("E0230", f"amendment {am.id} needs approval by {', '.join(missing)} (total "
                                         f"commitment after it {total:,})", ("approvals",),
                                hint=f"add {', '.join(missing)} under approvals, dated on or before "
                                     f"{am.effective_date}"))
    return out


def check_amendments_keep_the_past(terms: dict) -> list[Diagnostic]:
    """An amendment changes terms from its effective date on: rows dated before it (draws,
    installments, fixed fees, prepayment fee steps), the start date and a past first payment
    date stay as they were (E0232); a new maturity falls after the effective date (E0233)."""
    out: list[Diagnostic] = []
    for ft in terms.values():
        for prev, cur in zip(ft.versions, ft.versions[1:]):
            eff = cur.effective
            label = cur.origins[0][1].label
            old, new = prev.facility, cur.facility
            if new.maturity_date != old.maturity_date and new.start_date < new.maturity_date <= eff:
                out.append(cur.diag("E0233", f"maturity_date {new.maturity_date} is not after the {label}'s "
                                             f"effective date {eff}", ("maturity_date",),
                                    hint="a maturity is moved to a date after the effective date; to end the "
                                         "loan early record the repayment instead"))
            for name in ("start_date", "payments.first_payment_date"):
                path = tuple(name.split("."))
                a, b = _attr(old, path), _attr(new, path)
                if a != b and (name == "start_date" or min(x for x in (a, b) if x is not None) < eff):
                    out.append(cur.diag("E0232", f"{label} changes {name} ({a} → {b}), which is before its "
                                                 f"effective date {eff}", path,
                                        hint="an amendment changes terms from its effective date on; the past "
                                             "stays as it was"))
            for path, rows_old, rows_new in _dated_rows(old, new):
                past_old = [r for _, r in rows_old if r[0] < eff]
                past_new = [(i, r) for i, r in rows_new if r[0] < eff]
                if past_old == [r for _, r in past_new]:
                    continue
                k = next((k for k, (x, (_, y)) in enumerate(zip(past_old, past_new)) if x != y),
                         min(len(past_old), len(past_new)))
                was = _row_text(past_old[k]) if k < len(past_old) else "∅"
                now = _row_text(past_new[k][1]) if k < len(past_new) else "∅"
                where = path + (past_new[k][0],) if k < len(past_new) else path
                out.append(cur.diag("E0232", f"{label} changes {'.'.join(path)} dated before its effective date "
                                             f"{eff}: {was} → {now}", where,
                                    hint="rows dated before the effective date stay as they were; change only "
                                         "later rows"))
    return out


def _attr(obj, path: tuple):
    for part in path:
        obj = getattr(obj, part)
    return obj


def _dated_rows(old, new):
    """(facility path, [(index, row)] before, [(index, row)] after) of each dated list the
    amendment changed; a row is a tuple whose first item is its date."""
    def draws(f):
        return list(enumerate((d.date, d.amount) for d in f.effective_draws))

    def schedule(f):
        return list(enumerate((s.date, s.amount) for s in f.amortization.schedule))

    def fees(f):
        rows = []
        for i, fee in enumerate(f.fees):
            if fee.type == "fixed":
                rows.append((i, (fee.date, fee.amount, fee.name)))
            elif fee.type == "prepayment":
                rows += [(i, (s.until, s.rate)) for s in fee.schedule]
        return rows

    if old.draws != new.draws:
        yield ("draws",), draws(old), draws(new)
    if old.amortization.schedule != new.amortization.schedule:
        yield ("amortization", "schedule"), schedule(old), schedule(new)
    if old.fees != new.fees:
        yield ("fees",), fees(old), fees(new)


def _row_text(row: tuple) -> str:
    return ", ".join(x.isoformat() if hasattr(x, "isoformat") else format(x, ",") if isinstance(x, Decimal)
                     else str(x) for x in row if x is not None)


# --- helpers -------------------------------------------------------------------------------
def _digits_diag(diag, path: tuple, amount: Decimal, currency: str) -> Diagnostic:
    digits = minor_units(currency)
    return diag("E0212", f"{amount} has {money_digits(amount)} decimals; {currency} has {digits}", path,
                hint=f"round to {digits} decimal{'s' if digits != 1 else ''}")


def _exact_decimal(value: Fraction) -> Decimal:
    """A sum of decimals (denominator 2^a·5^b) as the exact Decimal it is."""
    for k in range(200):  # shares have at most 40 places: k stops there
        if (value * 10**k).denominator == 1:
            return Decimal(f"{value * 10**k}E-{k}")
    return Decimal(value.numerator) / Decimal(value.denominator)  # pragma: no cover - not a decimal sum


def _duplicates(ids: list[str]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    out = []
    for i, n in enumerate(ids):
        if n in seen:
            out.append((i, n))
        seen.add(n)
    return out


def _ids(kinds: dict[str, str], *wanted: str) -> str:
    return ", ".join(k for k, v in kinds.items() if v in wanted) or "none"


def _suggest(name: str, kinds: dict[str, str], *wanted: str) -> str:
    import difflib
    candidates = [k for k, v in kinds.items() if v in wanted]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known: {', '.join(candidates[:12]) or 'none'}"

