"""The no-drift rule (SPEC §6, `validate --base REV`): a funded deal's terms change only through
new amendment files; merged amendment, financials and rate rows and book calendars never
change; approvals are not dated before the deal appeared in git."""


from datetime import date
from decimal import Decimal
from pathlib import Path

from ..diagnostics import Diagnostic
from ..model.records import DealRecord, LoadedBook, Tree
from ..model.documents import FUNDED_OR_LATER, STATUS_ORDER

from .terms import APPEND_ONLY, FREE_TERMS, changes, flat_doc, flatten, is_prefix, normalized, show_value


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
        if ch.key in APPEND_ONLY and is_prefix(ch.old, ch.new):
            continue
        if ch.key.startswith("facilities.") and ch.key.endswith(".draws") and is_prefix(ch.old, ch.new):
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
        out += merged_file_changes(old, new, current)
    out += fixing_changes(current, base)
    out += calendar_changes(current, base)
    out += financials_changes(current, base)
    return out


_MERGED_KINDS = (("amendments", "amendment", lambda r: r.amendment.id),
                 ("trades", "trade", lambda r: r.trade.id),
                 ("events", "credit event", lambda r: r.event.id))


def merged_file_changes(old: DealRecord, new: DealRecord, current: LoadedBook) -> list[Diagnostic]:
    """Amendment, trade and credit-event files present at the base may not change or go
    (E0505): new files are how a funded deal changes (SPEC §6)."""
    out: list[Diagnostic] = []
    for attr, kind, ident in _MERGED_KINDS:
        before = {r.rel: r for r in getattr(old, attr)}
        after = {r.rel: r for r in getattr(new, attr)}
        for rel, a in sorted(before.items()):
            b = after.get(rel)
            if b is None:
                out.append(Diagnostic("E0505", f"{kind} {ident(a)} was deleted", current.tree.display(rel),
                                      hint=f"an agreed {kind} is never removed; add a new {kind} to change it"))
            elif normalized(a.doc.data) != normalized(b.doc.data):
                first = next((c for c in changes(flat_doc(a.doc.data), flat_doc(b.doc.data))), None)
                path = first.new.path if first and first.new else ()
                out.append(b.doc.diag("E0505", f"{kind} {ident(a)} changed after it was merged"
                                               + (f": {first.text()}" if first else ""), path,
                                      hint=f"{kind} files are never edited; add a new {kind}"))
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
    from ..model import values
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
                out.append(current.doc.diag("E0512", f"calendar '{old.id}' changed: {field}: {show_value(a)} → "
                                                     f"{show_value(b)}", ("calendars", i, field), hint=hint))
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
            elif normalized(f.doc.data) != normalized(g.doc.data):
                first = next(iter(changes(flat_doc(f.doc.data), flat_doc(g.doc.data))), None)
                path = first.new.path if first and first.new else ()
                out.append(g.doc.diag("E0513", f"financials for {f.financials.period_end} changed after they were "
                                               f"merged" + (f": {first.text()}" if first else ""), path, hint=hint))
    return out


# --- approvals against the deal's creation in git --------------------------------------------
def approvals_before_creation(loaded: LoadedBook, root: Path, tree: Tree | None = None) -> list[Diagnostic]:
    """Warnings (E0514) for approvals dated before the commit that first added the deal's
    deal.yaml. Skipped silently without git or outside a repository; deals not yet committed
    have no creation date. Skipped for loanctl's own demo book in a checkout of loanctl: its
    commits are the software's history, not the audit trail of the (fictional) book."""
    from ..source.gitrev import GitProblem, created_dates, repo_root
    from ..source.loader import load_deal
    if _is_packaged_demo_book(root):
        return []
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


def _is_packaged_demo_book(root: Path) -> bool:
    """Whether `root` is the demo book loanctl ships (`deals/` beside the package in a checkout)."""
    from ..resources import resource_dir
    try:
        return Path(root).resolve() == resource_dir("deals").resolve()
    except (RuntimeError, OSError):
        return False
