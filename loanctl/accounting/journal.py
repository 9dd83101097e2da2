"""The book's journal (SPEC §9): every lender position's entries, to the accounts of book.yaml.

Loan accounts are per position (`<account>:<Lender>:<Deal>:<Facility>`), cash, income and
opening-balance accounts per lender (`<account>:<Lender>`); an id becomes an account
component with a capital first letter and `.`/`_` as `-` (two ids meeting there is E0802).
A journal starting after the first entry (`start`) opens with one entry per position that
brings its balances forward, income to date going to the opening-balance (equity) account.

`build_journal` gives the journal as objects; `stream_journal` as text rendered by the
processes that work it (what `loanctl journal` and the export write): see `JournalStream`.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import functools
import io
import json
import os
import shutil
import tempfile
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import groupby
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator, TextIO

from ..engine.lenders import timeline_of
from ..ledger.db import payment_files, read_payment_file
from ..diagnostics import Diagnostic, DiagnosticError, UsageProblem
from ..forkmap import chunked, fork_map, without_cycle_collection, worker_count
from ..model.documents import FUNDED_OR_LATER, Accounts
from ..model.records import LoadedBook
from ..reports.build import resolve_scope
from ..reports.stored import DealIndex
from ..servicing.allocation import Payment, by_facility
from ..servicing.positions import allocate_facility, facility_inputs
from .periods import period_ends
from .projections import facility_projections
from .position import Balance, Entry, Posting, position_books

LENDER_ROLES = ("cash", "interest_income", "fee_income", "pik_income", "losses", "opening", "unrealized_gains",
                "recoveries", "realized_gains")
BALANCE_SHEET = ("Assets", "Liabilities", "Equity")


@dataclass
class Journal:
    book: str
    scope: str
    start: date | None
    end: date
    period: str
    entries: list[Entry] = field(default_factory=list)
    balances: list[Balance] = field(default_factory=list)
    """loanctl's outstanding principal and amortized cost per position at each period end."""
    warnings: list[Diagnostic] = field(default_factory=list)

    def accounts(self) -> list[str]:
        return sorted({p.account for e in self.entries for p in e.postings})

    def currencies(self) -> list[str]:
        return sorted({e.currency for e in self.entries})


def component(ident: str) -> str:
    """An id as a Beancount account component: `fund-i.b_2` → `Fund-i-b-2`."""
    text = ident.replace(".", "-").replace("_", "-")
    return text[:1].upper() + text[1:]


PARALLEL_FROM = 200
"""Deals: below this the journal is worked in this process (starting workers costs more)."""
CHUNK_MIN = 20
"""Deals: the smallest chunk a worker is given."""
_ROW_DATE = attrgetter("date")


def build_journal(loaded: LoadedBook, payments: Iterable[Payment], end: date, start: date | None = None,
                  fund: str | None = None, period: str = "month", workers: int | None = None,
                  index: DealIndex | None = None) -> Journal:
    """The journal of every funded position (of `fund` and its SPVs, or the whole book) up to
    `end`; entries before `start` are brought forward as opening balances. Raises
    `reports.build.ScopeProblem` for an unknown fund, DiagnosticError on account collisions.
    A book of `PARALLEL_FROM` funded deals or more is worked by `workers` forked processes
    (default: the CPUs, at most 4), each a chunk of deals, merged in deal order: the same
    journal as one process makes. `index`: the book's deals when not all are loaded
    (reports.stored.DealIndex): each process loads the deals it works."""
    book = loaded.book
    scope = resolve_scope(loaded, fund=fund) if fund else None
    lenders_in_scope = set(scope.lenders) if scope else None
    method = book.policy.fee_amortization if book else "effective_interest"
    mode = book.rounding if book else "half_up"
    accounts = book.accounts if book else Accounts()
    journal = Journal(book.name if book else "", scope.name if scope else "whole book", start, end, period)
    paid = by_facility(payments, end)

    deal_ids = funded_deals(loaded, index)
    job = _Job(loaded, paid, end, start, lenders_in_scope, method, mode, accounts, period,
               facility_marks(loaded, end), index)
    n = _workers(workers, deal_ids)
    results = [r for part in fork_map(job.run, chunked(deal_ids, n, 8, CHUNK_MIN), n) for r in part] \
        if n > 1 else job.run(deal_ids)
    names = _Names()
    for deal_id, fid, lender, _, _, _ in results:
        names.add(lender, deal_id, fid)
    names.check()
    for _, _, _, entries, balances, warnings in results:
        journal.warnings += warnings
        journal.entries += entries
        journal.balances += balances
    journal.entries.sort(key=lambda e: e.date)  # stable: each position's own order within a day
    journal.balances.sort(key=_balance_order)
    return journal


def funded_deals(loaded: LoadedBook, index: DealIndex | None = None) -> list[str]:
    """The deals a journal covers (funded or later), in id order: of the loaded deals, or of
    every deal the `index` knows (loaded or not)."""
    if index is not None:
        return [d for d, status in sorted(index.statuses.items()) if status in FUNDED_OR_LATER]
    return [d for d, r in sorted(loaded.deals.items()) if r.deal.status in FUNDED_OR_LATER]


def _workers(workers: int | None, deal_ids: list[str]) -> int:
    """Worker processes for a journal of these deals: 1 (this process) for a small book."""
    n = workers if workers is not None else worker_count()
    return n if n > 1 and len(deal_ids) >= PARALLEL_FROM else 1


def _balance_order(b: Balance) -> tuple:
    return b.date, b.deal, b.facility, b.lender


@dataclass
class _Job:
    """What every position's books need; `run` works a list of deals in this process."""

    loaded: LoadedBook
    by_facility: dict
    end: date
    start: date | None
    lenders_in_scope: set | None
    method: str
    mode: str
    accounts: Accounts
    period: str
    marks: dict
    index: DealIndex | None = None
    """The book's deals when not all are loaded: the deals worked are loaded first, by the
    process that works them (a forked worker its own chunk's)."""
    balances: bool = True
    """Whether the positions' balances at period ends are wanted (JSON shows them; CSV and
    Beancount do not, and then none is made)."""

    def run(self, deal_ids: list[str]) -> list[tuple]:
        """(deal, facility, lender, entries, balances, warnings) of each position, in deal order."""
        with without_cycle_collection():  # as `_stream_chunk`
            return list(self.positions(deal_ids))

    def positions(self, deal_ids: list[str]) -> Iterator[tuple]:
        """`run`, one position at a time."""
        loaded, end, start = self.loaded, self.end, self.start
        bases = self.accounts.model_dump()  # the account of each role, before the position's components
        ends: dict[date, list[date]] = {}  # period ends by first date: facilities funded the same day share them
        if self.index is not None:
            self.index.load(deal_ids)
        for deal_id in deal_ids:
            terms, builder = facility_inputs(loaded, deal_id, end)
            for fid in terms:
                paid = self.by_facility.get((deal_id, fid), [])
                fa = allocate_facility(loaded, deal_id, fid, paid, end, terms=terms, builder=builder)
                s = fa.schedule
                if s.rows[0].date > end:
                    continue
                lenders: list[str] = []
                for name in timeline_of(s).order:  # every lender that held a part, trade buyers included
                    if self.lenders_in_scope is None or name in self.lenders_in_scope:
                        lenders.append(name)
                if not lenders:
                    continue
                projections = facility_projections(loaded, deal_id, fa, paid, end) \
                    if self.method == "effective_interest" else []
                own_ends = ends.get(s.rows[0].date)
                if own_ends is None:
                    own_ends = ends[s.rows[0].date] = period_ends(s.rows[0].date, end, self.period)
                own_marks = {d: p for d, p in self.marks.get((deal_id, fid), {}).items() if d >= s.rows[0].date}
                rows = s.rows[:bisect_right(s.rows, end, key=_ROW_DATE)]
                if start is None:
                    cuts = sorted({*own_ends, *(r.date for r in rows), *own_marks})
                else:  # before `start` only the cumulative state on its eve matters
                    eve = start - timedelta(days=1)
                    cuts = sorted({*own_ends[bisect_left(own_ends, start):],
                                   *(r.date for r in rows[bisect_left(rows, start, key=_ROW_DATE):]),
                                   *(d for d in own_marks if d != eve),  # a mark's adjustment depends on its own date
                                   *((eve,) if eve >= s.rows[0].date else ())})
                shown = {e for e in own_ends if start is None or e >= start} if self.balances else set()
                shared: dict = {}
                for lender in lenders:
                    acc = _position_accounts(bases, lender, deal_id, fid)
                    books = position_books(fa, deal_id, lender, acc, cuts, shown, end, self.method, self.mode,
                                           own_marks, projections, shared, fold_before=start)
                    entries = books.entries
                    if start is not None:
                        opening = _opening(books.folded, books.folded_zero, start, acc["opening"], deal_id, fid,
                                           lender, s.currency)
                        entries = ([opening] if opening else []) + entries
                    yield deal_id, fid, lender, entries, books.balances, books.warnings


def facility_marks(loaded: LoadedBook, end: date) -> dict[tuple[str, str], dict[date, Decimal]]:
    """Each facility's marks (price, % of par) by date, up to `end`."""
    out: dict[tuple[str, str], dict[date, Decimal]] = defaultdict(dict)
    for mf in loaded.marks:
        if mf.date <= end:
            for m in mf.marks:
                out[(m.deal, m.facility)][mf.date] = m.price
    return out


def _position_accounts(bases: dict[str, str], lender: str, deal: str, facility: str) -> dict[str, str]:
    """Each role's account of a position (`bases`: book.yaml's accounts by role)."""
    out = {}
    for role, base in bases.items():
        if role in LENDER_ROLES:
            out[role] = f"{base}:{component(lender)}"
        else:
            out[role] = f"{base}:{component(lender)}:{component(deal)}:{component(facility)}"
    return out


def _opening(folded: dict[str, Decimal], zero: Decimal | None, start: date, equity: str, deal: str, facility: str,
             lender: str, currency: str) -> Entry | None:
    """One entry bringing a position's balances forward to the day before `start`, from the
    net per account of its entries before `start` (`zero`: at the first posting's exponent)."""
    if zero is None:
        return None
    net: dict[str, Decimal] = defaultdict(Decimal)
    for account, x in folded.items():
        net[account if account.split(":")[0] in BALANCE_SHEET else equity] += x
    postings = tuple(Posting(a, x + zero) for a, x in sorted(net.items()) if x)
    if not postings:
        return None
    return Entry(start - timedelta(days=1), "opening", "balances brought forward", deal, facility, lender, currency,
                 postings)


class _Names:
    """Every id's account component, checked for two ids meeting on one (E0802)."""

    def __init__(self) -> None:
        self.seen: dict[tuple, set[str]] = defaultdict(set)

    def add(self, lender: str, deal: str, facility: str) -> None:
        self.seen[("lender", component(lender))].add(lender)
        self.seen[("deal", component(deal))].add(deal)
        self.seen[("facility", deal, component(facility))].add(facility)

    def check(self) -> None:
        clashes = [(key, sorted(ids)) for key, ids in sorted(self.seen.items()) if len(ids) > 1]
        if clashes:
            raise DiagnosticError([Diagnostic(
                "E0802", f"{key[0]} ids {' and '.join(repr(i) for i in ids)} give the same journal account "
                         f"component '{key[-1]}'",
                hint="rename one of them: account names keep letters, digits and dashes only ('.' and '_' become '-')")
                for key, ids in clashes])


# --- the journal as text, rendered by its workers -----------------------------------------------
EntryPieces = Callable[[Entry], list[str]]
"""An entry's text, in pieces (CSV: one a posting); the writer puts a mark (the CSV's entry
number) before each piece — what only the whole journal knows."""


class JournalStream:
    """A journal whose entries (and balances) were rendered to text by the processes that
    worked them, each chunk of deals into a file of its own sorted by date; read back merged by
    date (ties in deal order: the order `build_journal` sorts them in), so that no process ever
    holds the whole journal. What the whole journal's header needs comes from the chunks:
    `accounts` (every posting's account) and `first` (the first entry's date). A context
    manager: closing it removes the files."""

    def __init__(self, book: str, scope: str, start: date | None, end: date, period: str, folder: Path) -> None:
        self.book, self.scope, self.start, self.end, self.period = book, scope, start, end, period
        self.folder = folder
        self.warnings: list[Diagnostic] = []
        self.accounts: set[str] = set()
        self.first: date | None = None
        self.entry_files: list[Path] = []
        self.balance_files: list[Path] = []
        self.entry_days: list[list[tuple[str, int, int]]] = []
        """Per entry file, its days in order: (date, entries, byte offset of the first)."""
        self.workers = 1
        """Processes that may write the journal's text (`write_entries`)."""

    def entry_runs(self, mark: Callable[[int], str] | None = None, sep: str = "") -> Iterator[str]:
        """Each entry's text in journal order, `mark(n)` (n from 1) before each of its pieces,
        joined by `sep` a run at a time (a day's entries of one chunk): a writer writes a run
        (with `sep` between runs) where it would write an entry."""
        return self._runs(self.entry_files, mark, sep)

    def write_entries(self, out: TextIO, mark: Callable[[int], str] | None = None, sep: str = "",
                      before: str = "") -> bool:
        """`entry_runs(mark, sep)` written to `out`, `before` first; whether there was any.
        A large journal is written by two processes at once, each the entries of a part of the
        year to a file of its own (numbered from where its part starts), then put together."""
        total = sum(count for days in self.entry_days for _, count, _ in days)
        if self.workers < 2 or total < PARALLEL_WRITE_FROM:
            return write_runs(out, self._runs(self.entry_files, mark, sep), sep, before)
        half, before_half = _halfway(self.entry_days, total)
        parts = [(self.folder / "part-0.txt", None, half, 0), (self.folder / "part-1.txt", half, None, before_half)]
        try:
            wrote = list(fork_map(functools.partial(self._write_part, mark, sep), parts, 2))
        except OSError as exc:  # the parts are scratch files, as the chunks' are
            raise scratch_problem(exc) from None
        out.write(before)
        for k, (path, *_) in enumerate(parts):
            if wrote[k]:
                if k and wrote[0]:
                    out.write(sep)
                _append(out, path)
        return True

    def _write_part(self, mark: Callable[[int], str] | None, sep: str,
                    part: tuple[Path, str | None, str | None, int]) -> bool:
        """One part of `write_entries`: the entries dated from `since` (None: the first) to
        before `until` (None: the last), numbered after `skipped`, to `path`; whether any."""
        path, since, until, skipped = part
        starts = None if since is None else [
            next((offset for day, _, offset in days if day >= since), None) for days in self.entry_days]
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            return write_runs(fh, self._runs(self.entry_files, mark, sep, skipped, starts, until), sep)

    def write_balances(self, out: TextIO, sep: str = "", before: str = "") -> bool:
        """Each balance's text in journal order (date, deal, facility, lender), joined as
        `entry_runs`', written to `out` after `before`; whether there was any."""
        return write_runs(out, self._runs(self.balance_files, None, sep), sep, before)

    def _runs(self, paths: list[Path], mark: Callable[[int], str] | None, sep: str, skipped: int = 0,
              starts: list[int | None] | None = None, until: str | None = None) -> Iterator[str]:
        """The runs of `paths`' lines (from `starts`' byte offsets, None: none of that file; up
        to the date `until`), the first numbered `skipped` + 1."""
        n = skipped
        for lines in self._merged(paths, starts, until):
            run: list[str] = []
            plain: list[str] = []  # texts with their line breaks still \x01: turned back a run at a time
            for line in lines:
                n += 1
                m = mark(n) if mark is not None else ""
                if line[10] == " ":
                    plain.append(m + line[11:-1].replace("\x00", m))
                    continue
                if plain:
                    run.append(sep.join(plain).replace("\x01", "\n"))
                    plain = []
                run.append("".join(m + piece for piece in json.loads(line[11:])))
            if plain:
                run.append(sep.join(plain).replace("\x01", "\n"))
            yield sep.join(run)

    @staticmethod
    def _merged(paths: list[Path], starts: list[int | None] | None = None,
                until: str | None = None) -> Iterator[Iterator[str]]:
        """The files' lines merged by date (their first 10 characters), a date's lines file by
        file in the order of `paths` — what a stable merge gives — as runs: a day's lines of a
        file (each file is sorted by date), each to be read before the next is asked for.
        `starts`: where in each file to begin (a byte offset at a line's start; None: nothing
        of it); `until`: the first date not wanted."""
        with contextlib.ExitStack() as stack:
            days = []
            for k, p in enumerate(paths):
                start = 0 if starts is None else starts[k]
                if start is None:
                    continue
                raw = stack.enter_context(open(p, "rb"))
                raw.seek(start)
                days.append(groupby(io.TextIOWrapper(raw, encoding="utf-8", newline="\n"), itemgetter(slice(0, 10))))
            heads = [next(g, None) for g in days]  # each file's (date, its lines) next
            while True:
                due = min((h[0] for h in heads if h is not None), default=None)
                if due is None or until is not None and due >= until:
                    return
                for k, head in enumerate(heads):
                    if head is not None and head[0] == due:
                        yield head[1]
                        heads[k] = next(days[k], None)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> JournalStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


PARALLEL_WRITE_FROM = 200_000
"""Entries: a journal this long is written by two processes (`JournalStream.write_entries`)."""


def write_runs(out: TextIO, runs: Iterable[str], sep: str, before: str = "") -> bool:
    """Texts to `out`, `before` the first and `sep` between them; whether there was any (every
    journal writer's one way of joining its entries or balances)."""
    wrote = False
    for run in runs:
        out.write((sep if wrote else before) + run)
        wrote = True
    return wrote


def scratch_problem(exc: OSError) -> UsageProblem:
    """A journal's scratch file (in the system's temporary folder) that could not be written."""
    return UsageProblem(f"cannot write the journal's scratch files in {tempfile.gettempdir()}: {exc.strerror or exc}",
                        "free space there, or set TMPDIR to a folder with room")


def _halfway(entry_days: list[list[tuple[str, int, int]]], total: int) -> tuple[str, int]:
    """(the date splitting the entries into two parts of about half each — the first date
    after which at least half of them are —, the entries dated before it)."""
    per_day: dict[str, int] = defaultdict(int)
    for days in entry_days:
        for day, count, _ in days:
            per_day[day] += count
    seen = 0
    for day in sorted(per_day):
        if seen * 2 >= total:
            return day, seen
        seen += per_day[day]
    last = max(per_day)
    return last, total - per_day[last]


def _append(out: TextIO, path: Path) -> None:
    """`path`'s text (UTF-8) written to `out`: copied by the kernel when `out` is a UTF-8 file
    writing line breaks as they are, else read and written."""
    fd = None
    if os.linesep == "\n" and _utf8(getattr(out, "encoding", None)):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            fd = out.fileno()
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        if fd is not None:
            out.flush()
            sent = 0
            try:
                while sent < size:
                    got = os.sendfile(fd, src.fileno(), sent, size - sent)
                    if not got:
                        raise OSError(errno.EIO, f"{path.name} ended after {sent} of its {size} bytes")
                    sent += got
                return
            except OSError:
                if sent:  # part of it was written: not to be written twice
                    raise
            # else `out` is not a file sendfile writes to (a terminal on some systems): copied below
        src.seek(0)
        with io.TextIOWrapper(src, encoding="utf-8", newline="\n") as text:
            shutil.copyfileobj(text, out)


def _utf8(encoding: str | None) -> bool:
    """Whether an encoding's name is UTF-8's (any of its spellings: "UTF-8", "utf8", "utf_8")."""
    try:
        return encoding is not None and codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def stream_journal(loaded: LoadedBook, end: date, pieces: EntryPieces,
                   balance: Callable[[Balance], str] | None = None, *, payments: Iterable[Payment] | None = None,
                   root: Path | None = None, start: date | None = None, fund: str | None = None,
                   period: str = "month", workers: int | None = None,
                   index: DealIndex | None = None) -> JournalStream:
    """`build_journal` rendered as it is worked: each entry as `pieces(entry)`, each balance as
    `balance(b)` (None: balances are not wanted). The payments are `payments`, or the ledger's
    of the book at `root`, read by each chunk's process for its own deals (the whole ledger is
    never in one process). `index`: as for `build_journal`. The same errors as `build_journal`,
    raised before any text is read."""
    book = loaded.book
    folder = Path(tempfile.mkdtemp(prefix="loanctl-journal-"))
    try:
        deal_ids = funded_deals(loaded, index)
        n = _workers(workers, deal_ids)
        chunks = chunked(deal_ids, n, 8, CHUNK_MIN)
        paid: dict[tuple[str, str], list[Payment]] = {}
        files: list[Path | None] = [None] * len(chunks)
        if payments is not None:
            paid = by_facility(payments, end)
        elif root is not None:  # the ledger's problems first, as when its payments are read before the journal
            files = list(payment_files(root, [(c[0], c[-1]) for c in chunks], end, folder))
        scope = resolve_scope(loaded, fund=fund) if fund else None
        out = JournalStream(book.name if book else "", scope.name if scope else "whole book", start, end, period,
                            folder)
        job = _Job(loaded, paid, end, start, set(scope.lenders) if scope else None,
                   book.policy.fee_amortization if book else "effective_interest",
                   book.rounding if book else "half_up", book.accounts if book else Accounts(), period,
                   facility_marks(loaded, end), index, balances=balance is not None)
        work = functools.partial(_stream_chunk, job, pieces, balance, out.folder)
        names = _Names()
        for k, facts in enumerate(fork_map(work, [(k, c, files[k]) for k, c in enumerate(chunks)], n)):
            for lender, deal_id, fid in facts.names:
                names.add(lender, deal_id, fid)
            out.warnings += facts.warnings
            out.accounts |= facts.accounts
            if facts.first is not None and (out.first is None or facts.first < out.first):
                out.first = facts.first
            out.entry_files.append(out.folder / f"entries-{k}.txt")
            out.entry_days.append(facts.days)
            if balance is not None:
                out.balance_files.append(out.folder / f"balances-{k}.txt")
        names.check()
        out.workers = n
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return out


@dataclass
class _ChunkFacts:
    """What a chunk's process tells the parent besides its files."""

    names: list[tuple[str, str, str]]
    warnings: list[Diagnostic]
    accounts: set[str]
    first: date | None
    days: list[tuple[str, int, int]]
    """Its entry file's days: (date, entries, byte offset of the first)."""


def _stream_chunk(job: _Job, pieces: EntryPieces, balance: Callable[[Balance], str] | None, folder: Path,
                  chunk: tuple[int, list[str], Path | None]) -> _ChunkFacts:
    """One chunk of deals: its entries (and balances) as text files sorted by date (a
    position's own order kept within a day), and its facts."""
    with without_cycle_collection():  # nothing it makes is in a cycle: collections would find nothing
        return _work_chunk(job, pieces, balance, folder, chunk)


def _work_chunk(job: _Job, pieces: EntryPieces, balance: Callable[[Balance], str] | None, folder: Path,
                chunk: tuple[int, list[str], Path | None]) -> _ChunkFacts:
    k, deal_ids, paid = chunk
    if paid is not None:  # this chunk's payments, read here from the file the parent wrote
        job.by_facility = by_facility(read_payment_file(paid), job.end)
    facts = _ChunkFacts([], [], set(), None, [])
    entries: list[tuple[str, str]] = []
    balances: list[tuple[tuple, str]] = []
    accounts = facts.accounts
    for deal_id, fid, lender, es, bs, warnings in job.positions(deal_ids):
        facts.names.append((lender, deal_id, fid))
        facts.warnings += warnings
        for e in es:
            accounts.update([p.account for p in e.postings])
            day = e.date.isoformat()
            entries.append((day, _record(day, pieces(e))))
        if balance is not None:
            balances += [(_balance_order(b), _record(b.date.isoformat(), [balance(b)])) for b in bs]
    entries.sort(key=itemgetter(0))  # stable: each position's order within a day, positions in deal order
    facts.first = date.fromisoformat(entries[0][0]) if entries else None
    facts.days = _write_days(folder / f"entries-{k}.txt", entries)
    if balance is not None:
        balances.sort(key=itemgetter(0))
        _write_days(folder / f"balances-{k}.txt", [(day[0].isoformat(), text) for day, text in balances])
    if paid is not None:
        job.by_facility = {}
    return facts


def _record(day: str, pieces: list[str]) -> str:
    """One line of a chunk's file: the ISO date (10 characters), then ' ' and the pieces joined
    by NUL with their line breaks as \\x01 — or, when a piece holds either character itself,
    'j' and the pieces as JSON."""
    body = "\x00".join(pieces)
    if "\x01" in body or body.count("\x00") != len(pieces) - 1:
        return f"{day}j{json.dumps(pieces)}\n"
    return f"{day} {body.replace(chr(10), chr(1))}\n"


def _write_days(path: Path, lines: list[tuple[str, str]]) -> list[tuple[str, int, int]]:
    """The (date, line) pairs' lines, sorted by date, to `path` (UTF-8) a day at a time; each
    day's (date, lines, byte offset of its first)."""
    days = []
    offset = 0
    with open(path, "wb") as fh:
        for day, group in groupby(lines, key=itemgetter(0)):
            texts = [text for _, text in group]
            data = "".join(texts).encode("utf-8")
            days.append((day, len(texts), offset))
            fh.write(data)
            offset += len(data)
    return days
