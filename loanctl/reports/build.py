"""The portfolio report (SPEC §5), built once as plain data, then rendered by format.

Scopes: a fund (its own participations plus its SPVs'), a lender, a deal, or the whole book.
Figures are the positions of SPEC §4.4 for the selected share (with the age of the unapplied
cash: days since the oldest payment still holding some), totals and metrics per currency
(never summed across currencies), and the series the HTML charts draw.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Callable, Iterable

from ..conventions.currency import minor_units
from ..conventions.dates import add_months
from ..model.records import LoadedBook
from ..underwriting.metrics import moic, xirr
from ..model.documents import FUNDED_OR_LATER
from ..engine.lenders import lender_part, timeline_of
from ..servicing.allocation import FacilityAllocation, Payment, by_facility
from ..servicing.credit import principal_history
from ..servicing.positions import (MONEY, Flow, Position, allocate_facility, bucket_names, facility_flows,
                                   facility_inputs, facility_position, lender_position)
from ..ledger.stored_positions import PositionStore, context_digest, decode_entry, encode_entry, open_store

ZERO = Decimal(0)
SUMMED = [m for m in MONEY]


@dataclass
class Scope:
    kind: str
    """fund · lender · deal · book"""
    id: str | None
    name: str
    lenders: tuple[str, ...] = ()
    """The lender ids whose shares are selected (fund: the fund and its SPVs); () = whole facilities."""
    weights: dict = field(default_factory=dict)
    """An investor's look-through: lender id → (investor, [(investor, share), …] of the lender's
    fund); each lender's figures become the investor's largest-remainder part of them."""


@dataclass
class Report:
    scope: Scope
    as_of: date
    book_name: str
    positions: list[dict] = field(default_factory=list)
    totals: dict[str, dict] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)
    covenants: list[dict] = field(default_factory=list)
    series: dict[str, dict] = field(default_factory=dict)
    """Per currency: outstanding by month end, cash received by month and component."""
    dpd_bucket_names: list[str] = field(default_factory=list)
    received: list[Decimal] = field(default_factory=list)
    """Per position (same order): interest, fees and principal received."""
    received_totals: dict[str, Decimal] = field(default_factory=dict)
    """Per currency: the same, summed."""
    latest_covenants: list[dict] = field(default_factory=list)
    """The latest test of each covenant, and every overdue one (the text report's table)."""
    translation: dict | None = None
    """`--currency`: totals translated at the as-of FX rates, with the rates used (accounting.valuation)."""
    look_through: list[dict] = field(default_factory=list)
    """`--investor`: the investor's share of each fund it committed to."""
    warnings: list = field(default_factory=list)
    """Diagnostics to show beside the report (a base-currency rate missing: no translation)."""
    trades: list[dict] = field(default_factory=list)
    """Trades settled by the as-of date with a lender of the scope on one side (SPEC §2.6):
    par, price, cash, and the seller's realised gain or loss (cash − par sold) or the
    buyer's premium (+) or discount (−) (cash − par bought)."""


class ScopeProblem(ValueError):
    pass


def resolve_scope(loaded: LoadedBook, fund: str | None = None, lender: str | None = None,
                  deal: str | None = None, book: bool = False) -> Scope:
    chosen = [x for x in (fund, lender, deal) if x] + (["book"] if book else [])
    if len(chosen) != 1:
        raise ScopeProblem("choose one scope: --fund F, --lender L, --deal D or --book")
    entities = loaded.entities
    if fund:
        e = entities.get(fund)
        if e is None or e.kind != "fund":
            raise ScopeProblem(f"'{fund}' is not a fund in book.yaml")
        spvs = tuple(x.id for x in entities.values() if x.kind == "spv" and x.parent == fund)
        return Scope("fund", fund, e.name, (fund, *spvs))
    if lender:
        e = entities.get(lender)
        if e is None or e.kind not in ("fund", "spv"):
            raise ScopeProblem(f"'{lender}' is not a lender (fund or spv) in book.yaml")
        return Scope("lender", lender, e.name, (lender,))
    if deal:
        if deal not in loaded.deals:
            raise ScopeProblem(f"unknown deal '{deal}'")
        return Scope("deal", deal, loaded.deals[deal].deal.name)
    return Scope("book", None, loaded.book.name if loaded.book else "book")


PositionHook = Callable[[FacilityAllocation, dict, list[str], Callable[[str, Decimal], Decimal]], None]


def build_report(loaded: LoadedBook, scope: Scope, as_of: date, payments: Iterable[Payment],
                 covenant_rows: list[dict] | None = None, position_hook: PositionHook | None = None,
                 store: PositionStore | None = None, statuses: dict[str, str] | None = None) -> Report:
    """`position_hook(fa, row, lenders, weigh)`, when given, adds figures to each position's row
    (accounting.valuation: amortized cost, fair value); `weigh(lender, amount)` is the scope's
    part of a lender's amount (the amount itself but for an investor's look-through).

    With a `store` (`open_report_store`, opened for this scope, date and hook), facilities whose
    stored entry is up to date are read from it, not re-allocated; the others are computed (from
    `payments`, which must then hold at least theirs: `facilities_to_compute`) and put in it —
    `store.save()` keeps them. The report is the same with or without it. `statuses`: every
    deal's status when not all deals are loaded (reports.stored.DealIndex; the deals without
    current stored entries are, see `deals_to_compute`)."""
    book = loaded.book
    buckets, mode = _position_rules(loaded)
    report = Report(scope, as_of, book.name if book else "", dpd_bucket_names=bucket_names(buckets))
    paid = by_facility(payments, as_of)
    flows_by_ccy: dict[str, list[tuple[date, str, Decimal]]] = defaultdict(list)
    terminal: dict[str, Decimal] = defaultdict(Decimal)

    rolled: list[tuple[str, str, str, str]] = []
    """Stored entries whose flows DuckDB sums (PositionStore.summed_flows), and their texts."""
    texts: list[str] = []

    def stored(deal_id: str, fid: str) -> tuple:
        text = store.fresh(deal_id, fid)
        trades, row, flows = decode_entry(text or "", with_flows=False)
        if row is not None:
            rolled.append((deal_id, fid, row["currency"], store.checksum_of(deal_id, fid)))
            texts.append(text)
        return trades, row, ()

    for deal_id in scope_deals(loaded, scope, statuses):
        order = store.deal_facilities(deal_id) if store is not None else None
        if order is not None:  # every facility of the deal stored and up to date
            entries = [stored(deal_id, fid) for fid in order]
        else:
            entries = _deal_entries(loaded, deal_id, scope, as_of, buckets, mode, paid, position_hook, store,
                                    stored)
        for trades, row, flows in entries:
            report.trades += trades
            if row is None:
                continue
            report.positions.append(row)
            flows_by_ccy[row["currency"]] += flows
            # carrying figures: written-off principal is out of outstanding; a position on
            # non-accrual counts no accrued income in its terminal value
            terminal[row["currency"]] += row["outstanding_principal"] + (
                ZERO if row["non_accrual"] else
                row["accrued_interest"] + row["accrued_pik"] + row["accrued_commitment_fee"])
    if rolled:  # the stored entries' flows, summed in SQL (exact: the report only sums them)
        assert store is not None
        summed = store.summed_flows(rolled)
        if summed is None:
            summed = defaultdict(list)
            for (_, _, ccy, _), text in zip(rolled, texts):
                summed[ccy] += decode_entry(text)[2]
        for ccy, flows in summed.items():
            flows_by_ccy[ccy] += flows

    for ccy in sorted({p["currency"] for p in report.positions}):
        rows = [p for p in report.positions if p["currency"] == ccy]
        digits = minor_units(ccy)
        report.totals[ccy] = {k: sum((p[k] for p in rows), Decimal(0).quantize(Decimal(1).scaleb(-digits)))
                              for k in SUMMED}
        report.totals[ccy]["positions"] = len(rows)
        report.totals[ccy].update(credit_totals(rows, digits))
        report.metrics[ccy] = _metrics(rows, flows_by_ccy[ccy], terminal[ccy], as_of, report, loaded, digits)
        report.series[ccy] = _series(flows_by_ccy[ccy], as_of)
    report.covenants = covenant_rows or []
    report.received = [_received(p) for p in report.positions]
    report.received_totals = {ccy: _received(t) for ccy, t in report.totals.items()}
    report.latest_covenants = latest_covenant_tests(report.covenants)
    return report


def _position_rules(loaded: LoadedBook) -> tuple[tuple[int, ...], str]:
    """The book's days-past-due buckets and rounding mode, which every position is computed with."""
    book = loaded.book
    return (book.dpd_buckets if book else (0, 30, 60, 90, 120)), (book.rounding if book else "half_up")


def _deal_entries(loaded: LoadedBook, deal_id: str, scope: Scope, as_of: date, buckets, mode: str,
                  by_facility: dict[tuple[str, str], list[Payment]], position_hook: PositionHook | None,
                  store: PositionStore | None, stored: Callable[[str, str], tuple] | None) -> list[tuple]:
    """The entries (trades, row, summed flows) of a deal's facilities in report order: each one
    with a fresh stored entry as `stored(deal, facility)` gives it, the others computed (and put
    in `store`). `stored=None`: only the computed ones."""
    d = loaded.deals[deal_id].deal
    borrower = loaded.entities.get(d.borrower)
    terms, builder = facility_inputs(loaded, deal_id, as_of)
    entries = []
    for seq, fid in enumerate(terms):
        text = store.fresh(deal_id, fid) if store is not None else None
        if text is not None:
            if stored is not None:
                entries.append(stored(deal_id, fid))
            continue
        fa = allocate_facility(loaded, deal_id, fid, by_facility.get((deal_id, fid), []), as_of,
                               terms=terms, builder=builder)
        trades, row, flows = _facility_entry(fa, deal_id, fid, scope, as_of, buckets, mode, d, borrower,
                                             position_hook)
        entry = (trades, row, _summed_flows(flows))
        if store is not None:
            store.put(deal_id, fid, seq, len(terms), encode_entry(*entry))
        entries.append(entry)
    return entries


def scope_deals(loaded: LoadedBook, scope: Scope, statuses: dict[str, str] | None = None) -> list[str]:
    """The deals a report of `scope` looks at, in report order (`statuses`: see build_report)."""
    if statuses is None:
        statuses = {deal_id: record.deal.status for deal_id, record in loaded.deals.items()}
    return [deal_id for deal_id in sorted(statuses)
            if (scope.kind != "deal" or deal_id == scope.id) and statuses[deal_id] in FUNDED_OR_LATER]


def deals_to_compute(loaded: LoadedBook, scope: Scope, store: PositionStore, statuses: dict[str, str] | None = None
                     ) -> list[str]:
    """The deals of a report of `scope` without current stored entries for every facility."""
    return [d for d in scope_deals(loaded, scope, statuses) if store.deal_facilities(d) is None]


def _facility_entry(fa: FacilityAllocation, deal_id: str, fid: str, scope: Scope, as_of: date, buckets, mode: str,
                    d, borrower, position_hook: PositionHook | None) -> tuple[list[dict], dict | None, list[Flow]]:
    """What one facility adds to the report of `scope`: (its trades, its position row or None
    when it shows none, its flows)."""
    whole = facility_position(fa, deal_id, as_of, buckets, mode)
    trades: list[dict] = []
    if scope.lenders:
        parts = [(lender, lender_position(fa, whole, lender)) for lender in scope.lenders]
        parts = [(lender, p) for lender, p in parts if p is not None]
        if not parts:
            return trades, None, []
        lenders = [lender for lender, _ in parts]
        own = [(lender, facility_flows(fa, as_of, lender) + carrying_flows(fa, as_of, lender)) for lender in lenders]
        if scope.weights:
            parts = [(lender, weigh_position(p, scope.weights[lender])) for lender, p in parts]
            own = [(lender, weigh_flows(fl, scope.weights[lender], fa)) for lender, fl in own]
        flows = [f for _, fl in own for f in fl]
        pos = _combine([p for _, p in parts], whole)
        trades = scope_trades(fa, deal_id, fid, scope.lenders, as_of)
    else:
        pos, lenders = whole, sorted({n for r in fa.schedule.rows for n, _ in r.shares})
        flows = facility_flows(fa, as_of) + carrying_flows(fa, as_of)
    if not (pos.drawn or pos.commitment or flows):
        return trades, None, []
    row = _position_dict(pos, d.borrower, borrower, lenders, d.status)
    if position_hook is not None:
        position_hook(fa, row, lenders, _weigher(scope, fa.schedule.digits))
    since = unapplied_since(fa, as_of)
    row["unapplied_since"] = since
    row["unapplied_age_days"] = (as_of - since).days if since is not None else None
    return trades, row, flows


def carrying_flows(fa: FacilityAllocation, as_of: date, lender: str | None = None) -> list[Flow]:
    """The chart's write-off adjustments (SPEC §4.3, §5): `written_off` (principal leaving the
    carrying balance on the write-off date, PIK written off as it comes after a full one) and
    `recovery` (principal cash on written-off principal, which the principal flow took off the
    balance and must not), the lender's part by the shares on their date. They move only the
    outstanding series; no cash (XIRR, MOIC and the cash chart never read them)."""
    if not fa.credit.events.write_offs:
        return []
    c = principal_history(fa, as_of)
    s = fa.schedule
    tl = timeline_of(s)

    def part(d: date, amount: Decimal) -> Decimal:
        return amount if lender is None else lender_part(amount, tl.shares_on(d), lender, s.digits)
    out = [Flow(d, "written_off", part(d, a)) for d, a in c.write_offs] + \
        [Flow(d, "recovery", part(d, a)) for d, a in c.recovered]
    return [f for f in out if f.amount]


def _summed_flows(flows: list[Flow]) -> list[tuple[date, str, Decimal]]:
    """A facility's flows as (date, kind, amount) summed by date, kind and sign — what the
    report keeps and stores: it only ever sums them (by month and kind for the series, by
    date for XIRR, by sign for MOIC), and Decimal sums of money are exact."""
    summed: dict[tuple[date, str, bool], Decimal] = {}
    for f in flows:
        key = (f.date, f.kind, f.amount > 0)
        summed[key] = summed[key] + f.amount if key in summed else f.amount
    return [(d, k, a) for (d, k, _), a in summed.items()]


def open_report_store(loaded: LoadedBook, scope: Scope, as_of: date, variant: str,
                      known: dict[str, str] | None = None) -> PositionStore | None:
    """The stored report entries of `scope` on `as_of` for a report `variant` (naming the
    position hook used, e.g. "valued"); None without a ledger. Besides each deal's own inputs
    and payments, an entry depends on the scope, book.yaml as a whole (entities, policy, DPD
    buckets) and the marks up to `as_of`. `known`: the fingerprints of deals not loaded
    (reports.stored.DealIndex)."""
    book = loaded.book.model_dump(mode="json") if loaded.book else None
    marks = [[mf.date, [[m.deal, m.facility, m.price, m.source] for m in mf.marks]]
             for mf in loaded.marks if mf.date <= as_of]
    weights = sorted((k, repr(v)) for k, v in scope.weights.items())
    context = context_digest(variant, scope.kind, scope.id, list(scope.lenders), weights, book, marks)
    return open_store(loaded, as_of, context, known=known)


def facilities_to_compute(loaded: LoadedBook, scope: Scope, as_of: date, store: PositionStore,
                          statuses: dict[str, str] | None = None, deals: list[str] | None = None
                          ) -> list[tuple[str, str]]:
    """The facilities of a report of `scope` without an up-to-date stored entry (whose
    payments `build_report` needs; their deals must be loaded: `deals_to_compute`, or `deals`
    when the caller has them)."""
    out: list[tuple[str, str]] = []
    for deal_id in deals if deals is not None else deals_to_compute(loaded, scope, store, statuses):
        terms, _ = facility_inputs(loaded, deal_id, as_of)
        out += [(deal_id, fid) for fid in terms if store.fresh(deal_id, fid) is None]
    return out


PARALLEL_FROM = 64
"""Deals to compute from which a report computes them in worker processes (`compute_in_workers`)."""
CHUNKS_PER_WORKER = 4


def compute_in_workers(loaded: LoadedBook, scope: Scope, as_of: date, store: PositionStore, deal_ids: list[str],
                       hook_of: Callable[[list[Payment]], PositionHook | None],
                       load: Callable[[list[str]], None] | None = None, statuses: dict[str, str] | None = None,
                       workers: int | None = None) -> int:
    """Compute the entries of the facilities of `deal_ids` (deals of the report of `scope`)
    without a fresh one, in forked worker processes (`forkmap.fork_map`, chunks of deals), and
    put them in `store` as entries it holds (`PositionStore.adopt`; `store.save()` keeps them):
    each worker loads its deals (`load`: reports.stored.DealIndex.load, when not all deals are
    loaded), reads their payments from the ledger and allocates them, so that neither the deals
    nor the payments are held by this process — then `build_report` reads every entry as
    stored, the same figures as computed. `hook_of(payments)`: the position hook for those
    payments. Returns the number of deals computed so; 0 (nothing done) for fewer than
    PARALLEL_FROM deals or one worker: `build_report` computes them itself."""
    from ..forkmap import chunked, fork_map, worker_count
    n = worker_count() if workers is None else workers
    if n <= 1 or len(deal_ids) < PARALLEL_FROM:
        return 0
    buckets, mode = _position_rules(loaded)

    def work(chunk: list[str]) -> list[tuple]:
        had = set(loaded.deals)
        kept, store.new = store.new, []
        try:
            if load is not None:
                load(chunk)
            mine = {d: statuses[d] if statuses is not None else loaded.deals[d].deal.status for d in chunk}
            payments = store.payments(facilities_to_compute(loaded, scope, as_of, store, mine))
            hook = hook_of(payments)
            paid = by_facility(payments, as_of)
            for deal_id in chunk:
                _deal_entries(loaded, deal_id, scope, as_of, buckets, mode, paid, hook, store, None)
            return store.new
        finally:
            store.new = kept
            store.release_reads()
            for d in [d for d in chunk if d not in had]:  # a worker works several chunks: hold one at a time
                loaded.deals.pop(d, None)

    store.release_reads()  # no DuckDB connection may be open across a fork
    for rows in fork_map(work, chunked(deal_ids, n, CHUNKS_PER_WORKER), n, rerun=True):
        store.adopt(rows)
    return len(deal_ids)


def look_through_part(amount: Decimal, weight, digits: int) -> Decimal:
    """The investor's largest-remainder part of a fund's amount: `weight` is (investor,
    [(investor, share), …]), the shares exact and summing to 1, so the investors' parts of
    any amount sum to it exactly."""
    investor, shares = weight
    return lender_part(amount, shares, investor, digits)


def weigh_position(p: Position, weight) -> Position:
    from dataclasses import replace
    digits = minor_units(p.currency)
    return replace(p, **{k: look_through_part(getattr(p, k), weight, digits) for k in MONEY})


def weigh_flows(flows: list[Flow], weight, fa: FacilityAllocation) -> list[Flow]:
    digits = fa.schedule.digits
    out = [Flow(f.date, f.kind, look_through_part(f.amount, weight, digits)) for f in flows]
    return [f for f in out if f.amount]


def _weigher(scope: Scope, digits: int) -> Callable[[str, Decimal], Decimal]:
    if not scope.weights:
        return lambda lender, amount: amount
    return lambda lender, amount: look_through_part(amount, scope.weights[lender], digits)


def scope_trades(fa: FacilityAllocation, deal_id: str, facility_id: str, lenders: tuple[str, ...],
                 as_of: date) -> list[dict]:
    """The trades of a facility settled by `as_of` with one of `lenders` on a side (a trade
    inside the scope, e.g. an SPV to its fund, shows both sides)."""
    out = []
    for t in timeline_of(fa.schedule).trades:
        if t.settlement_date > as_of:
            continue
        for side, who, other in (("sold", t.seller, t.buyer), ("bought", t.buyer, t.seller)):
            if who in lenders:
                out.append({"deal": deal_id, "facility": facility_id, "trade": t.id, "side": side, "lender": who,
                            "counterparty": other, "trade_date": t.trade_date, "settlement_date": t.settlement_date,
                            "currency": fa.schedule.currency, "par": t.par, "price": t.price, "cash": t.cash,
                            "gain_loss": t.cash - t.par if side == "sold" else None,
                            "premium_discount": t.cash - t.par if side == "bought" else None})
    return out


def credit_totals(rows: list[dict], digits: int) -> dict:
    """Non-accrual principal and its share of the total outstanding (SPEC §5), and how many
    positions are in default, on non-accrual and written off."""
    zero = Decimal(0).quantize(Decimal(1).scaleb(-digits))
    total = sum((r["outstanding_principal"] for r in rows), zero)
    non_accrual = sum((r["outstanding_principal"] for r in rows if r["non_accrual"]), zero)
    return {"non_accrual_principal": non_accrual,
            "non_accrual_share": (non_accrual / total).quantize(Decimal("1e-6")) if total else Decimal(0),
            "in_default_positions": sum(1 for r in rows if r["in_default"]),
            "non_accrual_positions": sum(1 for r in rows if r["non_accrual"]),
            "written_off_positions": sum(1 for r in rows if r["written_off"] > 0)}


def unapplied_since(fa: FacilityAllocation, as_of: date) -> date | None:
    """The date of the oldest payment still holding unapplied cash on `as_of` (its unapplied
    row less the negative rows that applied it to dues as they fell due, on or before
    `as_of`); None when no cash is held."""
    held: dict[str, Decimal] = defaultdict(Decimal)
    paid_on: dict[str, date] = {}
    for a in fa.allocations:
        if a.component == "unapplied" and a.on <= as_of:
            held[a.payment_id] += a.amount
            paid_on[a.payment_id] = a.payment_date
    dates = [paid_on[pid] for pid, amount in held.items() if amount > 0]
    return min(dates) if dates else None


def _received(figures: dict) -> Decimal:
    return figures["interest_received"] + figures["fees_received"] + figures["principal_received"]


def latest_covenant_tests(rows: list[dict]) -> list[dict]:
    """The latest test of each covenant (rows come in period order), and every overdue one."""
    latest: dict = {}
    for row in rows:
        key = (row["deal"], row["covenant"]) if row["status"] != "overdue" else (row["deal"], row["covenant"],
                                                                                  row["period_end"])
        latest[key] = row
    return list(latest.values())


def _combine(parts: list[Position], whole: Position) -> Position:
    """The sum of several lenders' parts of one facility (a fund and its SPVs)."""
    if len(parts) == 1:
        return parts[0]
    from dataclasses import replace
    summed = {k: sum((getattr(p, k) for p in parts), ZERO) for k in MONEY}
    return replace(parts[0], lender="+".join(p.lender or "" for p in parts), share=sum((p.share for p in parts), ZERO),
                   **summed)


def _position_dict(p: Position, borrower_id: str, borrower, lenders: list[str], status: str) -> dict:
    out = {
        "deal": p.deal, "facility": p.facility, "borrower": borrower_id,
        "borrower_name": borrower.name if borrower else borrower_id,
        "industry": (borrower.industry if borrower else None) or "unclassified",
        "lenders": lenders, "share": p.share, "currency": p.currency, "status": status,
    }
    for k in MONEY:
        out[k] = getattr(p, k)
    out.update({"in_default": p.in_default, "non_accrual": p.non_accrual, "non_accrual_since": p.non_accrual_since})
    out.update({"dpd": p.dpd, "dpd_bucket": p.dpd_bucket, "rate": p.rate, "spread": p.spread,
                "pik_rate": p.pik_rate, "maturity_date": p.maturity_date, "availability_end": p.availability_end})
    return out


def _weighted(rows: list[dict], key: str) -> Decimal | None:
    pairs = [(r[key], r["outstanding_principal"]) for r in rows if r[key] is not None and r["outstanding_principal"] > 0]
    weight = sum((w for _, w in pairs), ZERO)
    if not weight:
        return None
    return (sum((v * w for v, w in pairs), ZERO) / weight).quantize(Decimal("1e-6"))


def _metrics(rows, flows: list[Flow], terminal: Decimal, as_of: date, report: Report, loaded: LoadedBook,
             digits: int) -> dict:
    outstanding = sum((r["outstanding_principal"] for r in rows), ZERO)
    pik = sum((r["pik_capitalised"] for r in rows), ZERO)
    buckets = {name: {"bucket": name, "amount": Decimal(0).quantize(Decimal(1).scaleb(-digits)), "count": 0}
               for name in report.dpd_bucket_names}
    for r in rows:
        if r["outstanding_principal"] > 0 or r["past_due"] > 0:
            b = buckets.setdefault(r["dpd_bucket"], {"bucket": r["dpd_bucket"], "amount": ZERO, "count": 0})
            b["amount"] += r["outstanding_principal"]
            b["count"] += 1
    limit = loaded.book.policy.limits.max_borrower_share_of_fund if loaded.book else None
    cash = [(d, -a if k == "draw" else a) for d, k, a in flows if k in ("draw", "interest", "fees", "principal",
                                                                         "settlement")]
    if terminal:
        cash.append((as_of, terminal))
    return {
        "weighted_average_rate": _weighted(rows, "rate"),
        "weighted_average_spread": _weighted(rows, "spread"),
        "pik_share_of_outstanding": (pik / outstanding).quantize(Decimal("1e-6")) if outstanding else None,
        "dpd_buckets": list(buckets.values()),
        "concentration_borrower": _concentration(rows, "borrower_name", outstanding, limit),
        "concentration_industry": _concentration(rows, "industry", outstanding, None),
        "xirr": xirr(cash),
        "moic": moic(cash),
        "unfunded_commitments": [{"deal": r["deal"], "facility": r["facility"], "unfunded": r["unfunded"],
                                  "availability_end": r["availability_end"] or r["maturity_date"]}
                                 for r in rows if r["unfunded"] > 0],
    }


def _concentration(rows, key: str, total: Decimal, limit: Decimal | None) -> list[dict]:
    agg: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        agg[r[key]] += r["outstanding_principal"]
    out = []
    for name, amount in sorted(agg.items(), key=lambda x: (-x[1], x[0])):
        share = (amount / total).quantize(Decimal("1e-6")) if total else Decimal(0)
        out.append({"name": name, "outstanding": amount, "share": share,
                    "above_limit": bool(limit is not None and share > limit)})
    return out


_BALANCE_SIGN = {"draw": 1, "pik": 1, "principal": -1, "transfer": 1, "written_off": -1, "recovery": 1}


def _series(flows: list[tuple[date, str, Decimal]], as_of: date) -> dict:
    """Outstanding (carrying) principal at each month end, and cash received per month by component
    (from (date, kind, amount) flows; summed per date first: exact, so the same figures)."""
    if not flows:
        return {"outstanding": [], "cash": []}
    deltas: dict[date, Decimal] = {}
    cash: dict[str, dict] = {}
    months: dict[date, str] = {}
    for d, kind, amount in flows:
        x = _BALANCE_SIGN.get(kind, 0) * amount
        deltas[d] = deltas[d] + x if d in deltas else x
        if kind in ("interest", "fees", "principal"):
            key = months.get(d)
            if key is None:
                key = months[d] = f"{d.year:04d}-{d.month:02d}"
            month = cash.get(key)
            if month is None:
                month = cash[key] = {"month": key, "interest": ZERO, "fees": ZERO, "principal": ZERO}
            month[kind] += amount
    dates = sorted(deltas)
    first = dates[0]
    points = []
    balance = ZERO
    i = 0
    cursor = date(first.year, first.month, 1)
    while True:
        end = add_months(cursor, 1)
        last_day = date.fromordinal(end.toordinal() - 1)
        cut = min(last_day, as_of)
        while i < len(dates) and dates[i] <= cut:
            balance += deltas[dates[i]]
            i += 1
        points.append({"date": cut, "outstanding": balance})
        if last_day >= as_of:
            break
        cursor = end
    return {"outstanding": points, "cash": [cash[k] for k in sorted(cash)]}
