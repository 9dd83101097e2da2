"""A deal's history and a book's diff across git revisions (SPEC §6), with the schedule impact of
each change (total interest, maturity, next payment)."""


from datetime import date
from decimal import Decimal
from pathlib import Path

from ..model.records import LoadedBook, Tree
from ..source.loader import FsTree, load_book

from .terms import changes, flatten, normalized, show_value


# --- schedule impact -------------------------------------------------------------------------
def schedule_summary(loaded: LoadedBook, deal_id: str, today: date) -> dict | None:
    from ..engine.deal import schedule_deal
    sched, diags = schedule_deal(loaded, deal_id)
    if sched is None:
        return None
    interest = fees = Decimal(0)
    maturity = None
    next_payment = None
    for fs in sched.facilities:
        for r in fs.rows:
            interest += r.interest
            fees += r.fees + r.commitment_fee
            if r.date > today and r.total_due > 0 and (next_payment is None or r.date < next_payment[0]):
                next_payment = (r.date, r.total_due)
        maturity = max(maturity, fs.maturity_date) if maturity else fs.maturity_date
    return {"total_interest": interest, "total_fees": fees, "maturity": maturity,
            "next_payment_date": next_payment[0] if next_payment else None,
            "next_payment_amount": next_payment[1] if next_payment else None}


def load_side(root: Path, tree: Tree | None) -> LoadedBook:
    loaded, _ = load_book(root, tree=tree or FsTree(root))
    return loaded


# --- history and diff ------------------------------------------------------------------------
def _deal_at(root: Path, repo: Path, commit: str | None, deal_id: str):
    from ..source.gitrev import GitTree
    from ..source.loader import load_deal
    if commit is None:
        return None
    tree = GitTree(root, commit, only=deal_id, repo=repo, commit=commit)
    try:
        record, _ = load_deal(tree, deal_id)
        return record
    finally:
        tree.close()


def _amendment_view(a) -> dict:
    am = a.amendment
    return {"id": am.id, "effective_date": am.effective_date.isoformat(), "description": am.description,
            "approvals": [{"by": x.by, "role": x.role, "date": x.date.isoformat(), "decision": x.decision}
                          for x in am.approvals],
            "changes": [{"facility": c.facility, "set": {k: show_value(v) for k, v in (c.set or {}).items()}}
                        if c.add_facility is None else {"add_facility": c.add_facility.get("id")}
                        for c in am.changes]}


def history(root: Path, deal_id: str) -> list[dict]:
    """Every commit touching the deal, newest first, with its term changes and new amendments."""
    from ..source.gitrev import log, parent, repo_root
    repo = repo_root(root)
    prefix = Path(root).resolve().relative_to(repo.resolve()).as_posix()
    folder = deal_id if prefix == "." else f"{prefix}/{deal_id}"
    out = []
    for c in log(repo, [folder]):
        before = _deal_at(root, repo, parent(repo, c.id), deal_id)
        after = _deal_at(root, repo, c.id, deal_id)
        entry = {"commit": c.id, "author": c.author, "email": c.email, "date": c.date, "message": c.message,
                 "changes": [], "amendments": []}
        if after is None and before is None:
            entry["note"] = "the deal file did not parse at this commit"
        elif before is None:
            entry["note"] = "deal created"
        elif after is None:
            entry["note"] = "deal deleted (or invalid at this commit)"
        else:
            entry["changes"] = [ch.as_dict() for ch in changes(flatten(before.deal, before.doc.data),
                                                                flatten(after.deal, after.doc.data))]
        old_ids = {a.amendment.id for a in before.amendments} if before else set()
        for a in (after.sorted_amendments() if after else []):
            if a.amendment.id not in old_ids:
                entry["amendments"].append(_amendment_view(a))
        out.append(entry)
    from ..source.gitrev import is_shallow
    if out and is_shallow(repo) and parent(repo, out[-1]["commit"]) is None:
        out[-1]["note"] = ("history stops here: this is a shallow clone (git fetch --unshallow for the rest)"
                           + (f"; {out[-1]['note']}" if out[-1].get("note") else ""))
        out[-1]["truncated"] = True
    return out


def book_diff(root: Path, side_a, side_b, today: date) -> list[dict]:
    """Changed deals between two sides (trees; None = the work tree), with schedule impact.
    A deal folder that does not load on a side is an error, not a removal."""
    from ..diagnostics import DiagnosticError
    a = load_side(root, side_a)
    b, b_diags = load_book(root, tree=side_b or FsTree(root))
    broken = [d for d in b_diags if d.is_error and any(f"{x}/" in (d.file or "") for x in b.deal_folders
                                                       if x not in b.deals)]
    if broken:
        raise DiagnosticError(broken)
    out = []
    for deal_id in sorted(set(a.deals) | set(b.deals) | set(a.deal_folders) | set(b.deal_folders)):
        ra, rb = a.deals.get(deal_id), b.deals.get(deal_id)
        entry: dict = {"deal": deal_id, "changes": [], "amendments_added": [], "amendments_changed": []}
        if ra is None and rb is None:
            continue
        if ra is None:
            entry["status"] = "added"
        elif rb is None:
            entry["status"] = "removed"
        else:
            entry["status"] = "changed"
            entry["changes"] = [ch.as_dict() for ch in changes(flatten(ra.deal, ra.doc.data),
                                                                flatten(rb.deal, rb.doc.data))]
            old = {x.amendment.id: x for x in ra.amendments}
            for x in rb.sorted_amendments():
                if x.amendment.id not in old:
                    entry["amendments_added"].append(_amendment_view(x))
                elif normalized(old[x.amendment.id].doc.data) != normalized(x.doc.data):
                    entry["amendments_changed"].append(x.amendment.id)
            same_fin = [f.financials for f in ra.financials] == [f.financials for f in rb.financials]
            if not (entry["changes"] or entry["amendments_added"] or entry["amendments_changed"]) and same_fin:
                continue
        entry["impact"] = {"before": _summary(a, deal_id, today) if ra else None,
                           "after": _summary(b, deal_id, today) if rb else None}
        out.append(entry)
    return out


def _summary(loaded: LoadedBook, deal_id: str, today: date) -> dict | None:
    s = schedule_summary(loaded, deal_id, today)
    if s is None:
        return None
    return {k: (show_value(v) if v is not None else None) for k, v in s.items()}
