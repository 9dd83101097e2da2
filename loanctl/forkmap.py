"""One way to work a large job in forked worker processes: chunks of it, in order.

`fork_map(work, chunks, workers)` calls `work(chunk)` for every chunk in forked worker
processes that inherit everything the parent holds (the book, the job: nothing is sent to a
worker but the chunk's number) and yields the results in the order of `chunks` — so a merge
of them is the same, byte for byte, as one process working the chunks in turn (which it does
for one worker). The collector is frozen meanwhile: what the workers inherit is
never collected there (no copying of its pages, no scans).

A worker's exception is raised again in the parent. One that cannot travel back (it cannot
be pickled, or unpickled) would stall a plain pool; here the worker sends a description
instead, and the parent either works that chunk itself, to meet the exception as it is
(`rerun`), or raises `WorkerFailed` with the description. A worker that dies without a
result (killed by the kernel when memory runs out) is `WorkerFailed` too, never a wait
without end (as a `multiprocessing.Pool` would wait for its lost task). Never fork while a DuckDB
connection is open (its state does not survive a fork).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 4


def worker_count() -> int:
    """Worker processes for a large job: the machine's cores, at most MAX_WORKERS."""
    return min(os.cpu_count() or 1, MAX_WORKERS)


def chunked(items: Sequence[T], workers: int, per_worker: int, least: int = 1) -> list[Sequence[T]]:
    """`items` in chunks of about len / (workers × per_worker), at least `least` each (small
    enough that no worker is left alone at the end, large enough to be worth sending)."""
    size = max(least, len(items) // max(1, workers * per_worker), 1)
    return [items[i:i + size] for i in range(0, len(items), size)]


class WorkerFailed(RuntimeError):
    """A worker raised an exception that could not be sent back: its type, text and traceback."""


_WORK: list[tuple[Callable, Sequence]] = []
"""The jobs forked workers inherit (work, chunks); the last one is the pool's."""


def fork_map(work: Callable[[T], R], chunks: Sequence[T], workers: int, rerun: bool = False) -> Iterator[R]:
    """`work(chunk)` of every chunk, in the order of `chunks`: in forked processes (`workers`
    of them, at most one a chunk) when `workers` > 1 — even for one chunk, since `work` may
    change what it inherits — else here, in turn. Consume the results before starting
    another map; closing the iterator early stops the workers."""
    if workers <= 1 or not chunks:
        for chunk in chunks:
            yield work(chunk)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    _WORK.append((work, chunks))
    gc.freeze()
    pool = ProcessPoolExecutor(min(workers, len(chunks)), mp_context=multiprocessing.get_context("fork"),
                               initializer=_follow_parent, initargs=(os.getpid(),))
    done = False
    try:
        results = pool.map(_call, range(len(chunks)))
        for i in range(len(chunks)):
            try:
                ok, value = next(results)
            except BrokenProcessPool:
                raise WorkerFailed(f"chunk {i + 1} of {len(chunks)}: a worker process ended without a result "
                                   "(killed — out of memory?)") from None
            if ok:
                yield value
            elif isinstance(value, BaseException):
                raise value
            elif rerun:
                yield work(chunks[i])  # meets the worker's exception as it is
            else:
                raise WorkerFailed(value)
        done = True
    finally:
        if not done:  # closed early, or failed: the other chunks are not wanted
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()
        _WORK.pop()


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector off meanwhile (reference counting still frees everything
    not in a cycle). For a worker's chunk whose objects hold no cycles: the journal's workers
    allocate millions of short-lived objects, and the collections they set off cost ~10% of
    their CPU while finding nothing (their peak memory is the same without them)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _follow_parent(parent: int) -> None:
    """In a worker, first: end with the parent (Linux's PR_SET_PDEATHSIG). A worker outliving
    a parent that was killed would work for no one and keep what it inherited open — the
    ledger's write lock among them, so that no loanctl could write the ledger until it ended."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: a worker ends when its work is done
        pass
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os._exit(1)


def _call(i: int) -> tuple[bool, object]:
    """In a worker: (True, the result) of chunk `i`, or (False, the exception — or, when it
    cannot make the way back, its description)."""
    work, chunks = _WORK[-1]
    try:
        return True, work(chunks[i])
    except Exception as exc:  # noqa: BLE001 — every exception goes back to the parent
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001
            described = "".join(traceback.format_exception(exc)).rstrip()
            return False, f"chunk {i + 1} of {len(chunks)}: {described}"
        return False, exc
