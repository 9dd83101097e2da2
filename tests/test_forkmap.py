"""`loanctl.forkmap.fork_map`: results in the order of the chunks, from forked workers that
inherit the job; a worker's exception is raised again in the parent — also one that cannot
be pickled (or unpickled), which would stall a plain pool: the parent then re-runs the chunk
(`rerun`) to meet it as it is, or raises WorkerFailed with its description."""

from __future__ import annotations

import os

import pytest

from loanctl.forkmap import WorkerFailed, chunked, fork_map


def _pid_and_sum(chunk: list[int]) -> tuple[int, int]:
    return os.getpid(), sum(chunk)


def test_results_come_in_chunk_order_from_other_processes():
    chunks = chunked(list(range(100)), 2, 5)  # 100 // (2 × 5) = 10 items a chunk
    assert [list(c) for c in chunks] == [list(range(i, i + 10)) for i in range(0, 100, 10)]
    got = list(fork_map(_pid_and_sum, chunks, 2))
    # chunk k holds 10k … 10k+9: its sum is 100k + 45
    assert [s for _, s in got] == [100 * k + 45 for k in range(10)]
    assert os.getpid() not in {pid for pid, _ in got}
    assert list(fork_map(_pid_and_sum, chunks, 1)) == [(os.getpid(), 100 * k + 45) for k in range(10)]


def test_workers_inherit_the_job_unpickled():
    """A closure over a lock (which cannot be pickled) works: only chunk numbers travel."""
    import threading
    lock = threading.Lock()
    assert list(fork_map(lambda c: (lock.locked(), c * 2), [1, 2, 3], 2)) == [(False, 2), (False, 4), (False, 6)]


class Picklable(ValueError):
    pass


def _raise_on_three(c: int) -> int:
    if c == 3:
        raise Picklable(f"bad chunk {c}")
    return c


def test_a_worker_exception_is_raised_in_the_parent():
    with pytest.raises(Picklable, match="bad chunk 3"):
        list(fork_map(_raise_on_three, [1, 2, 3, 4], 2))


class Unpicklable(Exception):
    """Pickles, but cannot be unpickled (its __init__ wants two arguments, args holds one):
    the classic exception that hangs multiprocessing.Pool's result thread."""

    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


class HoldsALock(Exception):
    def __init__(self):
        import threading
        super().__init__("holds a lock")
        self.lock = threading.Lock()  # cannot be pickled at all


@pytest.mark.parametrize("exc", [lambda: Unpicklable(1, 2), HoldsALock])
def test_an_exception_that_cannot_travel_back_does_not_stall_the_pool(exc):
    in_parent = os.getpid()

    def work(c: int) -> int:
        if c == 2 and os.getpid() != in_parent:
            raise exc()
        return c

    # the chunk is worked again here (where it succeeds: this work fails only in a worker)
    assert list(fork_map(work, [1, 2, 3], 2, rerun=True)) == [1, 2, 3]
    with pytest.raises(WorkerFailed) as info:
        list(fork_map(work, [1, 2, 3], 2))
    text = str(info.value)
    assert text.startswith("chunk 2 of 3:")
    assert type(exc()).__name__ in text and "Traceback" in text

    def always(c: int) -> int:
        if c == 2:
            raise exc()
        return c

    with pytest.raises(type(exc())):  # rerun here meets the exception as it is
        list(fork_map(always, [1, 2, 3], 2, rerun=True))


def test_a_worker_that_dies_is_an_error_not_a_wait_without_end():
    in_parent = os.getpid()

    def work(c: int) -> int:
        if c == 2 and os.getpid() != in_parent:
            os.kill(os.getpid(), 9)  # as the kernel's out-of-memory killer ends a process
        return c

    with pytest.raises(WorkerFailed) as info:
        list(fork_map(work, [1, 2, 3], 2))
    assert "ended without a result" in str(info.value)


def test_closing_the_results_early_stops_the_workers(tmp_path):
    import time

    def slow(c: int) -> int:
        if c > 1:
            (tmp_path / f"{c}.pid").write_text(str(os.getpid()))
            time.sleep(600)
        return c

    results = fork_map(slow, [1, 2, 3, 4], 2)
    assert next(results) == 1
    while not list(tmp_path.glob("*.pid")):  # a worker is asleep in a chunk
        time.sleep(0.05)
    results.close()  # the sleeping workers are ended, not waited for
    for pid_file in tmp_path.glob("*.pid"):
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid_file.read_text()), 0)


def test_workers_end_with_a_parent_that_is_killed(tmp_path):
    """A worker must not outlive its parent: it would keep the ledger's write lock (inherited)."""
    import signal
    import subprocess
    import sys
    import time
    script = f"""
import os, time
from pathlib import Path
from loanctl.forkmap import fork_map
def work(c):
    Path({str(tmp_path)!r}, f"{{c}}.pid").write_text(str(os.getpid()))
    time.sleep(600)
list(fork_map(work, [1, 2], 2))
"""
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
    assert len(pids) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in pids if _alive(p)]
    assert alive == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_without_cycle_collection_restores_the_collector_as_it_was():
    import gc

    from loanctl.forkmap import without_cycle_collection
    assert gc.isenabled()
    with without_cycle_collection():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with without_cycle_collection():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off: left off
    finally:
        gc.enable()
    with pytest.raises(ValueError):
        with without_cycle_collection():
            raise ValueError("the collector comes back on an exception too")
    assert gc.isenabled()
