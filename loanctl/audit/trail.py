"""The git audit trail (SPEC §6): term-level diffs of deals, the no-drift rule for funded deals,
history and book diffs with schedule impact.

A deal flattens to terms keyed the way a credit professional names them —
`facilities.tl.interest.spread` — with values compared after parsing (so `575bps` and
`5.75%` are the same term) and shown as written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic
from ..source.loader import DealRecord, FsTree, LoadedBook, Tree, load_book
from ..model.documents import FUNDED_OR_LATER, STATUS_ORDER, Deal

LIST_KEYED = {"facilities": "id", "covenants": "id"}
#: terms of a funded deal that may change in deal.yaml without an amendment
FREE_TERMS = ("status", "notes", "tags")
APPEND_ONLY = ("origination.approvals",)


@dataclass(frozen=True)
class Term:
    key: str
    value: Any
    """Normalised (parsed) value, for comparison."""
    shown: str
    """As written in the file."""
    path: tuple
    """Path into the file's data, for the line and column."""


@dataclass(frozen=True)
class Change:
    key: str
    old: Term | None
    new: Term | None

    def text(self) -> str:
        return f"{self.key}: {self.old.shown if self.old else '∅'} → {self.new.shown if self.new else '∅'}"

    def as_dict(self) -> dict:
        return {"term": self.key, "old": self.old.shown if self.old else None, "new": self.new.shown if self.new else None}


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    return value


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def flatten(deal: Deal, raw: dict) -> dict[str, Term]:
    """Terms of a deal: nested mappings become dotted keys; facilities and covenants are keyed
    by id; other lists are one term each."""
    out: dict[str, Term] = {}

    def walk(m: Any, r: Any, prefix: str, path: tuple) -> None:
        for k, v in m.items():
            rv = r.get(k) if isinstance(r, dict) else None
            key = f"{prefix}.{k}" if prefix else k
            if k in LIST_KEYED and isinstance(v, (list, tuple)) and not prefix:
                raw_items = rv if isinstance(rv, list) else []
                for item in v:
                    iid = item[LIST_KEYED[k]]
                    idx = next((i for i, x in enumerate(raw_items) if isinstance(x, dict)
                                and str(x.get(LIST_KEYED[k])) == iid), None)
                    walk(item, raw_items[idx] if idx is not None else {}, f"{key}.{iid}",
                         path + (k, idx) if idx is not None else path + (k,))
            elif isinstance(v, dict) and k not in ("set", "add_facility"):
                walk(v, rv if isinstance(rv, dict) else {}, key, path + (k,))
            else:
                out[key] = Term(key, _norm(v), _show(rv if rv is not None else v), path + (k,))

    walk(deal.model_dump(), raw, "", ())
    return out


def changes(old: dict[str, Term], new: dict[str, Term]) -> list[Change]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None or b is None or a.value != b.value:
            out.append(Change(key, a, b))
    return out


def _is_prefix(old: Term | None, new: Term | None) -> bool:
    a = old.value if old else ()
    b = new.value if new else ()
    return isinstance(a, tuple) and isinstance(b, tuple) and b[: len(a)] == a


def drift_diagnostics(base: DealRecord, current: DealRecord) -> list[Diagnostic]:
    """A deal funded (or later) at the base may change in deal.yaml only its status, notes,
    tags, new approvals and new draws; everything else goes through an amendment file."""
    out: list[Diagnostic] = []
    old_status, new_status = base.deal.status, current.deal.status
    if _status_rank(new_status) < _status_rank(old_status):
        out.append(current.doc.diag("E0506", f"status moved backwards: {old_status} → {new_status}", ("status",),
                                    hint="status only moves forward: draft → submitted → approved → funded → "
                                         "repaid | written_off"))
    if old_status not in FUNDED_OR_LATER:
        return out
    for ch in changes(flatten(base.deal, base.doc.data), flatten(current.deal, current.doc.data)):
        if ch.key in FREE_TERMS:
            continue
        if ch.key in APPEND_ONLY and _is_prefix(ch.old, ch.new):
            continue
        if ch.key.startswith("facilities.") and ch.key.endswith(".draws") and _is_prefix(ch.old, ch.new):
            continue
        path = ch.new.path if ch.new else ch.old.path[:2]
        doc = current.doc
        out.append(doc.diag("E0504", f"{ch.key} of funded deal '{current.deal.id}' changed directly: "
                                     f"{ch.old.shown if ch.old else '∅'} → {ch.new.shown if ch.new else '∅'}",
                            path, hint="change terms with an amendment (loanctl amend); the deal file keeps the "
                                       "terms as funded"))
    return out


def _status_rank(status: str) -> int:
    if status == "declined":
        return 2  # declined comes from submitted; it is final
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    return {"repaid": 4, "written_off": 4}.get(status, order[status])


def check_against_base(current: LoadedBook, base: LoadedBook) -> list[Diagnostic]:
    """validate --base: drift of funded deals, changed or deleted amendment files, deleted deals."""
    out: list[Diagnostic] = []
    for deal_id, old in sorted(base.deals.items()):
        new = current.deals.get(deal_id)
        if new is None:
            if old.deal.status in FUNDED_OR_LATER and deal_id not in current.deal_folders:
                out.append(Diagnostic("E0507", f"funded deal '{deal_id}' was deleted or renamed",
                                      current.tree.display(f"{deal_id}/deal.yaml"),
                                      hint="a funded deal stays in the book; mark it repaid or written_off instead"))
            continue
        out += drift_diagnostics(old, new)
        old_amendments = {a.rel: a for a in old.amendments}
        new_amendments = {a.rel: a for a in new.amendments}
        for rel, a in sorted(old_amendments.items()):
            b = new_amendments.get(rel)
            if b is None:
                out.append(Diagnostic("E0505", f"amendment {a.amendment.id} was deleted", current.tree.display(rel),
                                      hint="an agreed amendment is never removed; add a new amendment to change it"))
            elif _norm(a.doc.data) != _norm(b.doc.data):
                first = next((c for c in changes(_flat_doc(a.doc.data), _flat_doc(b.doc.data))), None)
                path = first.new.path if first and first.new else ()
                out.append(b.doc.diag("E0505", f"amendment {a.amendment.id} changed after it was merged"
                                               + (f": {first.text()}" if first else ""), path,
                                      hint="amendment files are never edited; add a new amendment"))
    out += fixing_changes(current, base)
    out += calendar_changes(current, base)
    out += financials_changes(current, base)
    return out


# --- the past that changes economics without an amendment (validate --base) ------------------
_FIXING_HINT = "past fixings are never edited: append new rows after the last date instead"


def fixing_changes(current: LoadedBook, base: LoadedBook) -> list[Diagnostic]:
    """A fixing present at the base may not change or go, and no row may be inserted on or
    before the base's last date: appending later fixings is how a rate file grows (E0511)."""
    from ..source.loader import RATES_MAX_BYTES
    out: list[Diagnostic] = []
    for name, is_dir in base.tree.list_dir("rates"):
        if is_dir or not name.endswith(".csv"):
            continue
        rel = f"rates/{name}"
        file = current.tree.display(rel)
        old = _fixing_rows(base.tree.read(rel, RATES_MAX_BYTES))
        if not old:
            continue
        raw = current.tree.read(rel, RATES_MAX_BYTES)
        if raw is None:
            out.append(Diagnostic("E0511", f"{rel} was deleted; it held {len(old)} fixings at the base", file,
                                  hint="restore the file: fixings used by schedules are never removed"))
            continue
        new = _fixing_rows(raw)
        last = max(old)
        for day, (line, text, rate) in sorted(old.items()):
            if day not in new:
                later = [n[0] for d, n in new.items() if d > day]
                out.append(Diagnostic("E0511", f"the {day} fixing ({text}, line {line} at the base) was removed",
                                      file, min(later) if later else None, hint=_FIXING_HINT))
            elif new[day][2] != rate:
                nline, ntext, _ = new[day]
                out.append(Diagnostic("E0511", f"the {day} fixing changed: {text} → {ntext}", file, nline,
                                      len(day.isoformat()) + 2, hint=_FIXING_HINT))
        for day, (line, text, _) in sorted(new.items()):
            if day not in old and day <= last:
                out.append(Diagnostic("E0511", f"a {day} fixing ({text}) was inserted before the base's last "
                                               f"fixing ({last})", file, line, 1, hint=_FIXING_HINT))
    return out


def _fixing_rows(raw) -> dict[date, tuple[int, str, Decimal]]:
    """date → (line, rate as written, rate) of each readable row of a rate file (rows that do
    not parse have diagnostics of their own)."""
    import csv
    import io
    from . import values
    if not isinstance(raw, bytes):
        return {}
    reader = csv.reader(io.StringIO(raw.decode("utf-8", "replace"), newline=""))
    next(reader, None)
    rows: dict[date, tuple[int, str, Decimal]] = {}
    for row in reader:
        if len(row) != 2:
            continue
        try:
            day, rate = values.parse_date(row[0].strip()), values.parse_rate(row[1].strip())
        except values.ValueProblem:
            continue
        rows.setdefault(day, (reader.line_num, row[1].strip(), rate))
    return rows


def calendar_changes(current: LoadedBook, base: LoadedBook) -> list[Diagnostic]:
    """A book calendar present at the base may not change or go (E0512): its holidays move
    payment dates of deals already agreed. New calendars are fine."""
    out: list[Diagnostic] = []
    if base.book is None or current.book is None or current.doc is None:
        return out
    now = {c.id: (i, c) for i, c in enumerate(current.book.calendars)}
    hint = "a calendar in use is never edited: add a calendar with a new id and move deals to it by amendment"
    for old in base.book.calendars:
        if old.id not in now:
            out.append(current.doc.diag("E0512", f"calendar '{old.id}' was removed (base: {old.base})",
                                        ("calendars",), key=True, hint=hint))
            continue
        i, new = now[old.id]
        for field in ("base", "add", "remove"):
            a, b = getattr(old, field), getattr(new, field)
            if (sorted(a) if field != "base" else a) != (sorted(b) if field != "base" else b):
                out.append(current.doc.diag("E0512", f"calendar '{old.id}' changed: {field}: {_show(a)} → "
                                                     f"{_show(b)}", ("calendars", i, field), hint=hint))
    return out


def financials_changes(current: LoadedBook, base: LoadedBook) -> list[Diagnostic]:
    """A financials file present at the base may not change or go (E0513): covenant results
    already reported rest on it. A restatement is a new file."""
    out: list[Diagnostic] = []
    hint = "reported financials are never edited; a restatement is a new financials file"
    for deal_id, old in sorted(base.deals.items()):
        new = current.deals.get(deal_id)
        if new is None:
            continue
        now = {f.rel: f for f in new.financials}
        for f in old.financials:
            g = now.get(f.rel)
            if g is None:
                gone = current.tree.read(f.rel, 1) is None
                out.append(Diagnostic("E0513", f"financials {f.rel.rsplit('/', 1)[-1]} "
                                               f"{'was deleted' if gone else 'no longer loads'}",
                                      current.tree.display(f.rel), hint=hint))
            elif _norm(f.doc.data) != _norm(g.doc.data):
                first = next(iter(changes(_flat_doc(f.doc.data), _flat_doc(g.doc.data))), None)
                path = first.new.path if first and first.new else ()
                out.append(g.doc.diag("E0513", f"financials for {f.financials.period_end} changed after they were "
                                               f"merged" + (f": {first.text()}" if first else ""), path, hint=hint))
    return out


# --- approvals against the deal's creation in git --------------------------------------------
def approvals_before_creation(loaded: LoadedBook, root: Path, tree: Tree | None = None) -> list[Diagnostic]:
    """Warnings (E0514) for approvals dated before the commit that first added the deal's
    deal.yaml. Skipped silently without git or outside a repository; deals not yet committed
    have no creation date."""
    from ..source.gitrev import GitProblem, created_dates, repo_root
    from ..source.loader import load_deal
    try:
        repo = getattr(tree, "repo", None) or repo_root(root)
        created = created_dates(repo, root, getattr(tree, "commit", None) or "HEAD")
    except (GitProblem, OSError, ValueError):
        return []
    out: list[Diagnostic] = []
    for deal_id in sorted(set(loaded.deal_folders) & set(created)):
        record = loaded.deals.get(deal_id)
        if record is None:  # checked in worker processes (a large book): read just this deal
            record, _ = load_deal(loaded.tree, deal_id)
            if record is None:
                continue
        day, commit = created[deal_id]
        lists = [(record.doc, ("origination", "approvals"), record.deal.origination.approvals)]
        lists += [(a.doc, ("approvals",), a.amendment.approvals) for a in record.amendments]
        for doc, path, approvals in lists:  # one warning per approval list, at its earliest date
            early = sorted((ap.date, i) for i, ap in enumerate(approvals) if ap.date < day)
            if early:
                ap = approvals[early[0][1]]
                more = f" (and {len(early) - 1} more)" if len(early) > 1 else ""
                out.append(doc.diag("E0514", f"approval by {ap.by} ({ap.role}) is dated {ap.date}{more}, before "
                                             f"the deal was created in git on {day} (commit {commit[:10]})",
                                    path + (early[0][1], "date"), severity="warning",
                                    hint="check the dates; a deal migrated from another system was approved "
                                         "before its first commit (expected there)"))
    return out


def _flat_doc(data: Any, prefix: str = "", path: tuple = ()) -> dict[str, Term]:
    out: dict[str, Term] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flat_doc(v, f"{prefix}.{k}" if prefix else k, path + (k,)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.update(_flat_doc(v, f"{prefix}[{i}]", path + (i,)))
    else:
        out[prefix] = Term(prefix, _norm(data), _show(data), path)
    return out


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
            "changes": [{"facility": c.facility, "set": {k: _show(v) for k, v in (c.set or {}).items()}}
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
    from ..source.gitrev import _git
    if out and _git(repo, "rev-parse", "--is-shallow-repository").stdout.decode().strip() == "true" \
            and parent(repo, out[-1]["commit"]) is None:
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
                elif _norm(old[x.amendment.id].doc.data) != _norm(x.doc.data):
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
    return {k: (_show(v) if v is not None else None) for k, v in s.items()}
