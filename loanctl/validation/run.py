"""Loading and checking a book (or some of its deals), in parallel worker processes for a
large book: what `validate` and every computing command start with."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..diagnostics import Diagnostic, UsageProblem, sort_key
from ..forkmap import chunked, fork_map, worker_count
from ..model.records import LoadedBook, Tree
from ..source.cache import cache_disabled
from ..source.loader import load_book
from .checks import Repaid, check_book


def deals_for_paths(root: Path, paths: Iterable[str]) -> set[str] | None:
    """The deal ids that PATHS name (deal folders or files in them); None: the whole book."""
    wanted: set[str] = set()
    root_abs = root.resolve()
    for p in paths:
        path = Path(p).resolve()
        if path == root_abs:
            return None
        try:
            rel = path.relative_to(root_abs)
        except ValueError:
            raise UsageProblem(f"{p} is not inside the book {root}", "pass paths inside the book, or --book") from None
        first = rel.parts[0]
        if first in ("book.yaml", "rates"):
            return None
        wanted.add(first)
    return wanted


@dataclass
class ValidationResult:
    loaded: LoadedBook
    diagnostics: list[Diagnostic]
    digests: dict[str, str | None] = field(default_factory=dict)
    """`kept` only: each deal folder's digest (`validation.cached.deal_digest`) as this run found
    it, None for a folder that cannot be summed — what a deal's kept results are kept under."""

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if not d.is_error)


PARALLEL_FROM = 1500  # deals; below this, starting workers costs more than it saves


def validate(root: Path, paths: Iterable[str] = (), tree: Tree | None = None, workers: int | None = None,
             repaid: Repaid | None = None, kept: bool = False) -> ValidationResult:
    """The book's own checks. A large book on disk is checked in parallel processes (each
    loads and checks a share of the deals; the book-level checks run once); `loaded.deals`
    is then left empty. `repaid`: the archived repayments (see checks.Repaid). `kept`: the
    whole book's deals' results may come from the cache (`validation.cached`, unless
    $LOANCTL_NO_CACHE); `loaded.deals` is then left empty too — for `loanctl validate`,
    which reports diagnostics only."""
    wanted = deals_for_paths(root, paths) if paths else None
    if tree is None and wanted is None:
        folders = _deal_folder_names(root)
        n = workers if workers is not None else worker_count()
        if kept and not cache_disabled():
            return _validate_cached(root, folders, n, repaid)
        if n > 1 and len(folders) >= PARALLEL_FROM:
            return _validate_parallel(root, folders, n, repaid)
    loaded, diags = load_book(root, tree=tree, deal_ids=wanted)
    diags = diags + check_book(loaded, repaid)
    return ValidationResult(loaded, sorted(diags, key=sort_key))


def _deal_folder_names(root: Path) -> list[str]:
    from ..source.loader import NOT_DEALS
    try:
        return sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name not in NOT_DEALS
                      and not e.name.startswith((".", "_")))
    except OSError:
        return []


_WORKER_BOOK: LoadedBook | None = None  # what forked workers inherit: book.yaml, the rates, the marks
_WORKER_REPAID: Repaid | None = None


def _check_chunk(chunk: list[str]) -> tuple[list[Diagnostic], list[str], list[str]]:
    """A worker's share of the deals: (diagnostics, the folders, the indices they use overnight)."""
    from .checks import check_deal
    from .overnight import overnight_indices
    from ..source.loader import batched_writes, check_marks, load_deal
    base = _WORKER_BOOK
    assert base is not None
    diags: list[Diagnostic] = []
    base.deals.clear()
    base.deal_folders = list(chunk)
    with batched_writes(base.tree):
        for name in chunk:
            record, d = load_deal(base.tree, name)
            diags += d
            if record is not None:
                base.deals[name] = record
                diags += check_deal(base, record, _WORKER_REPAID)
    diags += check_marks(base, only=set(chunk))  # marks of this chunk's deals (E0647)
    used = sorted(overnight_indices(base.deals.values()))
    base.deals.clear()
    return diags, list(chunk), used


def _validate_parallel(root: Path, folders: list[str], workers: int, repaid: Repaid | None = None
                       ) -> ValidationResult:
    from .overnight import check_overnight_files
    from ..source.loader import check_marks

    loaded, diags = load_book(root, deal_ids=[])
    diags += check_book(loaded, repaid)  # book.yaml, payment profiles: no deal is loaded yet
    used: set[str] = set()
    for chunk_diags, chunk_folders, chunk_used in _in_workers(loaded, repaid, workers, _check_chunk, folders):
        diags += chunk_diags
        loaded.deal_folders += chunk_folders
        used |= set(chunk_used)
    diags += check_overnight_files(loaded, used)  # the rate files of the indices the deals use overnight
    diags += check_marks(loaded)  # marks of deals no folder holds (E0646)
    return ValidationResult(loaded, sorted(diags, key=sort_key))


def _validate_cached(root: Path, folders: list[str], workers: int, repaid: Repaid | None) -> ValidationResult:
    """The whole book, each unchanged deal's results from the cache (`validation.cached`); the
    others checked here, or in worker processes when there are many. `loaded.deals` is left empty."""
    from .cached import Done, Job, cached_results, check_job
    from .overnight import check_overnight_files
    from ..source.loader import batched_writes, check_marks

    loaded, diags = load_book(root, deal_ids=[])
    diags += check_book(loaded, repaid)  # book.yaml, profiles: no deal is loaded yet

    def check_many(todo: list[Job]) -> list[Done]:
        if workers > 1 and len(todo) >= PARALLEL_FROM:
            return [done for part in _in_workers(loaded, repaid, workers, _check_jobs, todo) for done in part]
        with batched_writes(loaded.tree):
            return [check_job(loaded, job, repaid) for job in todo]

    digests: dict[str, str | None] = {}
    deal_diags, used = cached_results(loaded, folders, repaid, check_many, digests)
    diags += deal_diags + check_overnight_files(loaded, used)
    loaded.deal_folders = list(folders)
    diags += check_marks(loaded)  # marks of deals no folder holds (E0646); each deal's own with the deal
    return ValidationResult(loaded, sorted(diags, key=sort_key), digests)


def _in_workers(loaded: LoadedBook, repaid: Repaid | None, workers: int, work, todo: list) -> list:
    """`work` over chunks of `todo` in forked worker processes that inherit `loaded` (book.yaml,
    the rates, the marks: read once, here); the chunks' results in the order of `todo`."""
    global _WORKER_BOOK, _WORKER_REPAID
    chunks = chunked(todo, workers, 24, least=50)  # small enough that no worker is left alone at the end
    _WORKER_BOOK, _WORKER_REPAID = loaded, repaid
    try:
        return list(fork_map(work, chunks, workers))
    finally:
        _WORKER_BOOK = _WORKER_REPAID = None


def _check_jobs(chunk: list) -> list:
    from .cached import check_job
    from ..source.loader import batched_writes
    base = _WORKER_BOOK
    assert base is not None
    with batched_writes(base.tree):
        return [check_job(base, job, _WORKER_REPAID) for job in chunk]


def load_valid_book(root: Path, deal_ids: Iterable[str] | None = None, tree: Tree | None = None,
                    repaid: Repaid | None = None) -> tuple[LoadedBook, list[Diagnostic]]:
    """Load (a part of) the book for commands that compute: errors only, sorted."""
    loaded, diags = load_book(root, tree=tree, deal_ids=deal_ids)
    diags = diags + check_book(loaded, repaid)
    return loaded, sorted((d for d in diags if d.is_error), key=sort_key)
