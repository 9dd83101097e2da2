"""The origination workflow (SPEC §6): approve, amend, fund — each checked against the book's
policy with the real pipeline before a file is written.

deal.yaml edits go through ruamel.yaml's round-trip mode so the user's comments and layout
survive; amendments are whole new files rendered from the template. Every write is atomic.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..diagnostics import UsageProblem
from ..ledger.rebuild import archive_repaid
from ..validation.run import load_valid_book
from ..audit.history import schedule_summary
from ..validation.checks import check_book
from ..diagnostics import Diagnostic
from ..model.records import DealRecord, LoadedBook
from ..source.loader import load_book
from ..model.documents import FUNDED_OR_LATER, Deal
from .scaffold import OverlayTree, render_amendment, write_atomic
from ..source.yamlsrc import parse


@dataclass
class StepResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    written: Path | None = None
    status: str | None = None
    impact: dict | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


# --- policy ------------------------------------------------------------------------------------
def required_roles(loaded: LoadedBook, deal: Deal) -> tuple[str, ...]:
    if loaded.book is None:
        return ()
    total = deal.total_commitment
    for rule in loaded.book.policy.approvals:
        if rule.up_to is None or total <= rule.up_to:
            return rule.require
    return ()


def policy_problems(loaded: LoadedBook, deal_id: str, deal: Deal, file: str) -> list[Diagnostic]:
    """Limits checked at approval and funding: leverage and borrower concentration per fund."""
    out: list[Diagnostic] = []
    book = loaded.book
    if book is None:
        return out
    limits = book.policy.limits
    uw = deal.origination.underwriting
    if limits.max_leverage is not None and uw and uw.total_debt is not None and uw.ebitda:
        leverage = uw.total_debt / uw.ebitda
        if leverage > limits.max_leverage:
            out.append(Diagnostic("E0509", f"underwriting leverage {leverage:.2f}x is above the policy limit "
                                           f"{limits.max_leverage}x", file,
                                  hint="restructure the deal or change the policy before approval"))
    if limits.max_borrower_share_of_fund is not None:
        for fund, share in borrower_shares(loaded, deal_id, deal).items():
            if share > limits.max_borrower_share_of_fund:
                out.append(Diagnostic("E0509", f"borrower '{deal.borrower}' would be {share * 100:.2f}% of "
                                               f"{fund}'s commitments to deals (limit "
                                               f"{limits.max_borrower_share_of_fund * 100:.2f}%)", file,
                                      hint="reduce the fund's share, syndicate more, or record a policy exception"))
    return out


def borrower_shares(loaded: LoadedBook, deal_id: str, deal: Deal) -> dict[str, Decimal]:
    """Per fund (SPVs roll up): the borrower's share of the fund's commitments to approved and
    funded deals, this deal included."""
    book = loaded.book
    parent = {e.id: (e.parent if e.kind == "spv" else e.id) for e in book.entities if e.kind in ("fund", "spv")}
    totals: dict[str, Decimal] = {}
    borrower: dict[str, Decimal] = {}
    deals = {i: r.deal for i, r in loaded.deals.items()
             if r.deal.status in ("approved", "funded") and i != deal_id}
    deals[deal_id] = deal
    for d in deals.values():
        for f in d.facilities:
            for p in f.participations:
                fund = parent.get(p.lender)
                if fund is None:
                    continue
                amount = f.commitment * p.share
                totals[fund] = totals.get(fund, Decimal(0)) + amount
                if d.borrower == deal.borrower:
                    borrower[fund] = borrower.get(fund, Decimal(0)) + amount
    funds_in_deal = {parent.get(p.lender) for f in deal.facilities for p in f.participations}
    return {fund: borrower.get(fund, Decimal(0)) / totals[fund] for fund in sorted(f for f in funds_in_deal if f)
            if totals.get(fund)}


# --- editing deal.yaml ---------------------------------------------------------------------------
def _round_trip():
    from ruamel.yaml import YAML
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    return y


def _edit_deal(path: Path, edit) -> str:
    """Round-trip edit through ruamel.yaml, indenting lists the way the file does."""
    text = path.read_text(encoding="utf-8")
    y = _round_trip()
    m = re.search(r"^( *)\S[^\n]*:\s*\n( *)- ", text, re.M)
    if m and len(m.group(2)) > len(m.group(1)):
        offset = len(m.group(2)) - len(m.group(1))
        y.indent(mapping=2, sequence=offset + 2, offset=offset)
    data = y.load(text)
    edit(data)
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


_PLAIN_TEXT = re.compile(r"^[A-Za-z][A-Za-z0-9 ._/()-]*[A-Za-z0-9.)]$|^[A-Za-z]$")
_STATUS_LINE = re.compile(r"^(status:[ \t]*)([A-Za-z_]+)", re.M)


def _set_status_text(text: str, status: str) -> str | None:
    """Change only the value on the top-level `status:` line (comments stay)."""
    m = _STATUS_LINE.search(text)
    return None if m is None else text[:m.start(2)] + status + text[m.end(2):]


def _append_approval_text(text: str, doc, entry: dict) -> str | None:
    """Insert one flow-style approval after the last block-style one; None when the file's
    layout is not that (the caller then edits through ruamel.yaml)."""
    from .scaffold import yaml_scalar
    orig = doc.data.get("origination") if isinstance(doc.data, dict) else None
    approvals = orig.get("approvals") if isinstance(orig, dict) else None
    if not isinstance(approvals, list) or not approvals:
        return None
    pos = doc.positions.value(("origination", "approvals", len(approvals) - 1))
    if pos is None:
        return None
    lines = text.split("\n")
    row = pos[0] - 1
    dash = lines[row].find("- ")
    if dash < 0 or lines[row][:dash].strip():
        return None  # a flow list on one line: not a block item
    end = row + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > dash):
        end += 1
    while end > row + 1 and not lines[end - 1].strip():
        end -= 1  # keep blank lines after the list where they were
    def scalar(v) -> str:
        text = v.isoformat() if isinstance(v, date) else v
        if isinstance(text, str) and _PLAIN_TEXT.match(text) and text.lower() not in ("yes", "no", "on", "off",
                                                                                     "true", "false", "null"):
            return text  # plain is safe inside a flow mapping: no , : # { } [ ] or quotes
        return yaml_scalar(text)
    item = "{" + ", ".join(f"{k}: {scalar(v)}" for k, v in entry.items()) + "}"
    lines.insert(end, " " * dash + "- " + item)
    return "\n".join(lines)


def _check_new_text(root: Path, deal_id: str, files: dict[str, str]) -> tuple[LoadedBook, list[Diagnostic]]:
    """Load the book with `files` replaced in memory and check it with the real pipeline."""
    tree = OverlayTree(root, {k: v.encode() for k, v in files.items()})
    loaded, diags = load_book(root, tree=tree)
    diags = diags + check_book(loaded, archive_repaid())
    relevant = [d for d in diags if d.is_error and (d.file or "").find(f"{deal_id}/") >= 0]
    return loaded, relevant


def _record(loaded: LoadedBook, deal_id: str):
    record = loaded.deals.get(deal_id)
    if record is None:
        raise UsageProblem(f"unknown deal '{deal_id}'", "the deal id is its folder name under the book")
    return record


def _open(root: Path, deal_id: str) -> tuple[LoadedBook, DealRecord, StepResult]:
    """The book checked for `deal_id` (UsageProblem when there is no such deal), and the step's
    result holding the deal's errors: a step stops before writing anything when there are any."""
    loaded, errors = load_valid_book(root, [deal_id], repaid=archive_repaid())
    record = _record(loaded, deal_id)
    return loaded, record, StepResult(diagnostics=errors)


def _check_new_file(root: Path, deal_id: str, rel: str, text: str, result: StepResult,
                    draft_code: str | None = None) -> LoadedBook | None:
    """The book with the new file `rel` holding `text`, checked with the real pipeline; None,
    with the errors added to `result`, when it would not validate. `draft_code`: an error the
    new file may still have as a draft (its approvals are recorded next)."""
    new_loaded, errs = _check_new_text(root, deal_id, {rel: text})
    if draft_code is not None:
        errs = [e for e in errs if not (e.code == draft_code and (e.file or "").endswith(rel))]
    result.text = text
    if errs:
        result.diagnostics += errs
        return None
    return new_loaded


def _write_new(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, text)
    return path


def approve(root: Path, deal_id: str, by: str, role: str, decision: str = "approved",
            conditions: str | None = None, *, on: date) -> StepResult:
    """Append an approval dated `on`; a declining decision declines the deal; once the policy's
    roles have all approved, the status moves to approved (after the limits are checked)."""
    loaded, record, result = _open(root, deal_id)
    if result.diagnostics:
        return result
    deal = record.deal
    file = record.doc.file
    if deal.status not in ("draft", "submitted", "approved"):
        result.diagnostics.append(Diagnostic("E0508", f"deal is {deal.status}; approvals are recorded before funding",
                                             file, hint="change a funded deal with an amendment (loanctl amend)"))
        return result
    if decision not in ("approved", "declined"):
        raise UsageProblem(f"--decision {decision} is not approved or declined")
    approvals = list(deal.origination.approvals)
    have = {a.role for a in approvals if a.decision == "approved"} | ({role} if decision == "approved" else set())
    new_status = deal.status
    if decision == "declined":
        new_status = "declined"
    elif all(r in have for r in required_roles(loaded, deal)):
        new_status = "approved"
    entry: dict[str, Any] = {"by": by, "role": role, "date": on, "decision": decision}
    if conditions:
        entry["conditions"] = conditions

    def edit(data) -> None:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq
        orig = data.get("origination")
        if orig is None:
            orig = CommentedMap()
            data["origination"] = orig
        seq = orig.get("approvals")
        if seq is None:
            seq = CommentedSeq()
            orig["approvals"] = seq
        item = CommentedMap(entry)
        item.fa.set_flow_style()
        seq.append(item)
        data["status"] = new_status

    path = root / record.rel
    original = path.read_text(encoding="utf-8")
    text = _append_approval_text(original, record.doc, entry)
    text = _set_status_text(text, new_status) if text is not None else None
    if text is None:
        text = _edit_deal(path, edit)
    new_loaded, errs = _check_new_text(root, deal_id, {record.rel: text})
    errs = [e for e in errs if e.code != "E0225"]  # the policy check below reports it as E0509
    if errs:
        result.diagnostics += errs
        return result
    if new_status == "approved" and deal.status != "approved":
        problems = policy_problems(new_loaded, deal_id, new_loaded.deals[deal_id].deal, file)
        if problems:
            result.diagnostics += problems
            return result
    write_atomic(path, text)
    result.written, result.status = path, new_status
    return result


def fund(root: Path, deal_id: str, on: date | None = None) -> StepResult:
    """approved → funded, after the approvals and limits hold (and the funding date is the start)."""
    loaded, errors = load_valid_book(root, None, repaid=archive_repaid())
    record = _record(loaded, deal_id)
    result = StepResult(diagnostics=[e for e in errors if f"{deal_id}/" in (e.file or "")])
    if result.diagnostics:
        return result
    deal = record.deal
    file = record.doc.file
    if deal.status != "approved":
        hint = ("approve it first (loanctl approve)" if deal.status in ("draft", "submitted")
                else "it was funded already" if deal.status in FUNDED_OR_LATER else "a declined deal is not funded")
        result.diagnostics.append(Diagnostic("E0508", f"deal is {deal.status}; only an approved deal is funded",
                                             file, hint=hint))
        return result
    missing = [r for r in required_roles(loaded, deal)
               if r not in {a.role for a in deal.origination.approvals if a.decision == "approved"}]
    if missing:
        result.diagnostics.append(Diagnostic("E0219", f"approvals missing: {', '.join(missing)}", file,
                                             hint="loanctl approve DEAL --by NAME --role ROLE"))
        return result
    start = min(f.start_date for f in deal.facilities)
    if on is not None and on != start:
        result.diagnostics.append(Diagnostic("E0508", f"funding date {on} differs from the start date {start}",
                                             file, hint="fund on the closing date, or correct start_date first "
                                                        "(the deal is not funded yet, so edit deal.yaml)"))
        return result
    result.diagnostics += policy_problems(loaded, deal_id, deal, file)
    if result.diagnostics:
        return result
    path = root / record.rel
    text = _set_status_text(path.read_text(encoding="utf-8"), "funded")
    if text is None:
        text = _edit_deal(path, lambda data: data.__setitem__("status", "funded"))
    _, errs = _check_new_text(root, deal_id, {record.rel: text})
    if errs:
        result.diagnostics += errs
        return result
    write_atomic(path, text)
    result.written, result.status = path, "funded"
    return result


# --- amendments ----------------------------------------------------------------------------------
_SLUG = re.compile(r"[^a-z0-9]+")


_SET_HINT = ("a list is [a, b] and a mapping {key: value} (YAML flow syntax), e.g. "
             "--set 'tl.participations=[{lender: fund-i, share: 50%}, {lender: fund-i-spv, share: 50%}]'; "
             "quote the whole --set for the shell")
_LINE_BREAKS = "\r\n\x85\u2028\u2029"


def parse_set(items: list[str]) -> dict[str, dict[str, Any]]:
    """`tl.interest.spread=525bps` → {"tl": {"interest.spread": "525bps"}}; a value is read by
    loanctl's YAML reader (exact decimals), so a list or a mapping is written in YAML flow
    syntax: `tl.participations=[{lender: fund-i, share: 50%}, …]`."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise UsageProblem(f"E0510: --set {item!r} is not FACILITY.PATH=VALUE",
                               "for example --set tl.interest.spread=525bps")
        facility, path = key.strip().split(".", 1)
        if any(c in value for c in _LINE_BREAKS):
            raise UsageProblem(f"E0510: --set {item!r}: the value must be on one line", _SET_HINT)
        text = value.strip()
        doc, diags = parse(f"v: {text}\n", "--set")
        if doc is None or not isinstance(doc.data, dict) or list(doc.data) != ["v"]:
            d = diags[0] if diags else None
            where = f" at column {d.column - 3} of the value" if d and d.line == 1 and d.column and d.column > 3 else ""
            why = f": {d.message}" if d else ""
            raise UsageProblem(f"E0510: --set {item!r}: the value does not parse{where}{why}", _SET_HINT)
        out.setdefault(facility, {})[path] = doc.data["v"]
    return out


def amend(root: Path, deal_id: str, effective: date, sets: list[str], description: str | None = None,
          *, as_of: date, dry_run: bool = False) -> StepResult:
    """Write amendments/NNN-<slug>.yaml after checking it and measuring its schedule impact."""
    loaded, record, result = _open(root, deal_id)
    if result.diagnostics:
        return result
    changes = parse_set(sets)
    if not changes:
        raise UsageProblem("nothing to change", "give at least one --set FACILITY.PATH=VALUE")
    if len(changes) > 1:
        raise UsageProblem("one facility per amendment command", "run loanctl amend once per facility")
    (facility, set_terms), = changes.items()
    numbers = [int(m.group(1)) for a in record.amendments if (m := re.match(r"^(\d+)", a.amendment.id))]
    slug = _SLUG.sub("-", (description or "amendment").lower()).strip("-")[:40] or "amendment"
    amendment_id = f"{(max(numbers) + 1) if numbers else 1:03d}-{slug}"
    text = render_amendment(amendment_id=amendment_id, effective_date=effective.isoformat(),
                            description=description or "amendment", facility=facility, set_terms=set_terms)
    rel = f"{deal_id}/amendments/{amendment_id}.yaml"
    # the new file is a draft: its approvals are recorded next, and validate requires them (E0230)
    new_loaded = _check_new_file(root, deal_id, rel, text, result, draft_code="E0230")
    if new_loaded is None:
        return result
    result.impact = {"before": schedule_summary(loaded, deal_id, as_of),
                     "after": schedule_summary(new_loaded, deal_id, as_of)}
    if not dry_run:
        result.written = _write_new(root, rel, text)
    return result



# --- trades (SPEC §2.6, §6) ----------------------------------------------------------------------
def trade(root: Path, deal_id: str, facility: str, seller: str, buyer: str, *, settle: date,
          amount: str | None = None, share: str | None = None, price: str = "100", trade_date: date | None = None,
          approvals: list[dict] | None = None, trade_id: str | None = None, dry_run: bool = False) -> StepResult:
    """Write `<deal>/trades/<id>.yaml` after checking it with the real pipeline (refused, and
    nothing written, when the book would not validate). `impact` is the position change:
    the facility's shares before and after settlement, par moved, price and cash.
    Without `approvals` the file is a draft whose approvals are recorded next (E0613 then)."""
    from ..engine.deal import deal_terms, facility_timeline
    from .scaffold import render_trade

    if (amount is None) == (share is None):
        raise UsageProblem("give --amount (par) or --share (of the facility), one of them",
                           "e.g. --amount 5000000 or --share 25%")
    loaded, record, result = _open(root, deal_id)
    if result.diagnostics:
        return result
    trade_date = trade_date or settle
    tid = trade_id or _SLUG.sub("-", f"{settle.isoformat()}-{seller}-to-{buyer}".lower()).strip("-")[:64]
    rel = f"{deal_id}/trades/{tid}.yaml"
    if any(t.trade.id == tid for t in record.trades) or (root / rel).exists():
        result.diagnostics.append(Diagnostic("E0617", f"trade '{tid}' already exists in {deal_id}/trades",
                                             file=str(root / rel),
                                             hint="name the new trade with --id; a merged trade file may not change"))
        return result
    text = render_trade(trade_id=tid, facility=facility, seller=seller, buyer=buyer,
                        trade_date=trade_date.isoformat(), settlement_date=settle.isoformat(), amount=amount,
                        share=share, price=price,
                        description=f"{seller} sells {amount or share} of {deal_id} {facility} to {buyer} at {price}",
                        approvals=approvals or [])
    new_loaded = _check_new_file(root, deal_id, rel, text, result, draft_code=None if approvals else "E0613")
    if new_loaded is None:
        return result
    new_record = new_loaded.deals[deal_id]
    ft_old = deal_terms(record)[0][facility]
    ft_new = deal_terms(new_record)[0][facility]
    before, _ = facility_timeline(loaded, record, ft_old)
    after, _ = facility_timeline(new_loaded, new_record, ft_new)
    move = next(m for m in after.trades if m.id == tid)
    result.impact = {"deal": deal_id, "facility": facility, "trade": tid, "settlement_date": settle,
                     "seller": seller, "buyer": buyer, "par": move.par, "price": move.price, "cash": move.cash,
                     "fraction": move.fraction, "currency": record.deal.currency,
                     "before": dict(before.shares_on(settle)), "after": dict(after.shares_on(settle))}
    if not dry_run:
        result.written = _write_new(root, rel, text)
    return result


EVENT_TYPES = ("default", "default_cured", "non_accrual", "accrual_restored", "write_off")


def record_event(root: Path, deal_id: str, event_type: str, on: date, *, amount: Decimal | None = None,
                 facility: str | None = None, note: str | None = None, dry_run: bool = False) -> StepResult:
    """Write events/<date>-<type>.yaml (SPEC §2.7) from the template after checking the book
    with it in place (dates, facility, a cure needs a default, a write-off no larger than the
    outstanding, the deal's status); refused, with the diagnostics, if anything is wrong."""
    from .scaffold import render
    if event_type not in EVENT_TYPES:
        raise UsageProblem(f"unknown event type '{event_type}'", f"use one of: {', '.join(EVENT_TYPES)}")
    loaded, record, result = _open(root, deal_id)
    if result.diagnostics:
        return result
    taken = {e.event.id for e in record.events}
    base = f"{on.isoformat()}-{event_type.replace('_', '-')}" + (f"-{facility}" if facility else "")
    event_id, n = base, 2
    while event_id in taken or (root / deal_id / "events" / f"{event_id}.yaml").exists():
        event_id, n = f"{base}-{n}", n + 1
    text = render("event.yaml.j2", event_id=event_id, date=on.isoformat(), type=event_type, facility=facility,
                  amount=None if amount is None else format(amount, "f"), note=note)
    rel = f"{deal_id}/events/{event_id}.yaml"
    if _check_new_file(root, deal_id, rel, text, result) is None:
        return result
    if not dry_run:
        result.written = _write_new(root, rel, text)
    return result
