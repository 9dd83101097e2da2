"""Fault injection on the ledger (SPEC §1.4, §4.2, §4.5): killed rebuilds, full disks,
read-only books.

* SIGKILL during `loanctl ledger rebuild` of ~100k archived payment rows, at seeded random
  moments chosen from a measured full rebuild: the ledger is then exactly the old one or
  exactly the rebuilt one, never between; `ledger check` is clean on the rebuilt one and
  names only the not-yet-taken-in archive file on the old one; the temporary files the
  killed runs leave do not stop a later rebuild, check or query.
* A full disk, for real: a tiny tmpfs (`mount -t tmpfs -o size=…`, which needs root in a
  container that allows it; the tests skip otherwise) holds the book, and a filler file
  leaves a chosen number of bytes free, so a post or a rebuild runs out of space at each of
  its stages in turn (archive, staging the rows, the DuckDB commit, the checkpoint).
* The same failures injected in-process (always run): `open` in the ledger module raising
  ENOSPC for the archive or for the staging files, a DuckDB commit failing, the lock file
  refused with EROFS.
* A read-only book for real: a read-only bind mount of the book (root ignores permission
  bits, so `chmod -R a-w` proves nothing here) — writes fail with E0422, reads still work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import pytest

import bookfactory
from bookfactory import (cli_env, fixed_term_deal, loanctl_argv, run_cli_subprocess, small_book_yaml, tree_digests,
                         write_book_at)
from loanctl.bench import run as bench
from loanctl.api import load_valid_book
from loanctl.diagnostics import DiagnosticError
from loanctl.ledger import archive, db, posting
from loanctl.ledger.archive import archive_name
from loanctl.ledger.check import check
from loanctl.ledger.db import snapshot
from loanctl.ledger.posting import post
from loanctl.ledger.rebuild import rebuild

SEED = 20261128
POSTING_DAY = "2026-12-01"

BOOK_YAML = small_book_yaml("Fault Test Partners")
DEAL_YAML = fixed_term_deal("acme", name="Acme term loan")  # 1,000,000 at 3.6%, fund-a 60% / fund-b 40%


# --- helpers ---------------------------------------------------------------------------------
def write_small_book(root: Path) -> Path:
    return write_book_at(root, BOOK_YAML, {"acme": DEAL_YAML})


def payment_file(path: Path, rows: int, prefix: str, reference: str = "batch reference text") -> Path:
    dates = ("2026-01-15", "2026-03-02", "2026-04-15", "2026-06-01", "2026-07-15")
    lines = ["payment_id,deal,date,amount,reference"]
    lines += [f"{prefix}{i:06d},acme,{dates[i % len(dates)]},0.01,{reference} {i}" for i in range(rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def env() -> dict:
    return cli_env()


def cmd(root: Path, *args) -> list[str]:
    return loanctl_argv("--book", root, *args)


def cli(root: Path, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli_subprocess(["--book", root, *args], timeout=timeout)


def invoke(root: Path, *args):
    """`loanctl --book ROOT ARGS` in-process (so a monkeypatch reaches the library)."""
    return bookfactory.invoke(["--book", root, *args])


def load(root: Path):
    loaded, errors = load_valid_book(root)
    assert not errors, errors
    return loaded


def post_ok(root: Path, path: Path, day: str = POSTING_DAY) -> None:
    result = post(load(root), [(str(path), path.read_bytes())], date.fromisoformat(day))
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]


def tree(root: Path) -> dict[str, str]:
    """Every file below root → sha256 of its bytes (the book, the archive, the ledger)."""
    return tree_digests(root)


def dot_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def archive_names(root: Path) -> list[str]:
    folder = root / "payments"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def check_codes(root: Path) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in check(load(root))]


# --- real mounts (root in a container that allows it), else skip -----------------------------
def _try_mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


_MOUNT_OK: dict[str, bool] = {}


@contextlib.contextmanager
def tiny_tmpfs(size: str):
    """A size-limited tmpfs at a fresh folder, unmounted afterwards; skips if refused."""
    where = Path(tempfile.mkdtemp(prefix="loanctl-fulldisk-"))
    if _MOUNT_OK.get("tmpfs") is False or not _try_mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)):
        _MOUNT_OK["tmpfs"] = False
        where.rmdir()
        pytest.skip("cannot mount a tmpfs here (not root, or the container refuses mounts)")
    _MOUNT_OK["tmpfs"] = True
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)
        with contextlib.suppress(OSError):
            where.rmdir()


@contextlib.contextmanager
def read_only_view(src: Path):
    """`src` seen through a read-only bind mount (EROFS even for root); skips if refused."""
    where = Path(tempfile.mkdtemp(prefix="loanctl-ro-"))
    if not _try_mount("--bind", str(src), str(where)):
        where.rmdir()
        pytest.skip("cannot bind-mount here (not root, or the container refuses mounts)")
    try:
        if not _try_mount("-o", "remount,bind,ro", str(where)):
            pytest.skip("cannot remount a bind mount read-only here")
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)
        with contextlib.suppress(OSError):
            where.rmdir()


def fill(folder: Path, free: int) -> Path:
    """Fill the file system of `folder` up, then give back `free` bytes (page granular)."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    os.truncate(filler, max(0, filler.stat().st_size - free))
    return filler


# --- SIGKILL during a large rebuild ----------------------------------------------------------
ROWS = 100_000


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory):
    """A bench book whose ledger holds a small posted file, and whose payments/ also holds
    ~100k rows archived but not yet in the ledger (as an interrupted post leaves them): a
    rebuild takes them in, so the old and the rebuilt ledgers differ."""
    base = tmp_path_factory.mktemp("killed-rebuild")
    root = base / "book"
    facilities = bench.write_book(root, 40, SEED)
    big = base / "bank-big.csv"
    assert bench.write_payments(big, facilities, ROWS, SEED) == ROWS
    deal, fid, start, *_ = facilities[0]
    small = base / "bank-small.csv"
    small.write_text("payment_id,deal,facility,date,amount\n" + "".join(
        f"s{i},{deal},{fid},{start.isoformat()},{100 + i}.00\n" for i in range(5)))
    post_ok(root, small, "2026-11-27")
    raw = big.read_bytes()
    name, _ = archive_name(raw, date(2026, 11, 28))
    (root / "payments" / name).write_bytes(raw)
    return root, name


def wait_for(predicate, proc: subprocess.Popen, timeout: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        if predicate():
            return time.monotonic()
        time.sleep(0.002)
    return None


def rebuild_temp(root: Path, pid: int) -> Path:
    return root / ".loanctl" / f".rebuild-{pid}.duckdb"


def test_rebuild_killed_at_random_moments_leaves_the_old_or_the_new_ledger(big_archive, tmp_path):
    base, big_name = big_archive
    before = snapshot(base)
    assert len(before["payments"]) == 5
    assert check_codes(base) == [("E0423", f"archived file {big_name} is not in the ledger")]

    # a full rebuild, timed: its length and when it starts writing the new ledger file
    ref = Path(shutil.copytree(base, tmp_path / "ref"))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd(ref, "ledger", "rebuild"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env())
    seen = wait_for(lambda: rebuild_temp(ref, proc.pid).exists(), proc, 300)
    err = proc.communicate(timeout=300)[1].decode()
    total = time.monotonic() - t0
    assert proc.returncode == 0, err
    assert seen is not None, "the rebuild never wrote its temporary ledger"
    t_write = seen - t0
    after = snapshot(ref)
    assert len(after["payments"]) == ROWS + 5
    after_fingerprint = (len(after["payments"]), len(after["allocations"]))

    # early: reading, parsing and allocating; then inside the write of the new file, from the
    # moment it appears (a slower or faster run still lands in the same phase)
    rng = random.Random(SEED)
    plan = {"parsing or allocating": ("start", rng.uniform(0.05, 0.95) * t_write),
            "the temporary ledger just created": ("temp", rng.uniform(0.0, 0.15) * (total - t_write)),
            "writing and checkpointing it": ("temp", rng.uniform(0.3, 0.8) * (total - t_write))}
    work = Path(shutil.copytree(base, tmp_path / "work"))
    old_ledger = (work / ".loanctl" / "ledger.duckdb").read_bytes()
    outcomes, kills, mid_write = {}, 0, []
    for label, (anchor, delay) in plan.items():
        proc = subprocess.Popen(cmd(work, "ledger", "rebuild"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env())
        if anchor == "temp":
            wait_for(lambda: rebuild_temp(work, proc.pid).exists(), proc, 300)
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        kills += killed
        if proc.returncode == -signal.SIGKILL and rebuild_temp(work, proc.pid).exists():
            mid_write.append(label)  # died while writing its new ledger (it renames or removes it itself)

        snap = snapshot(work)
        fingerprint = (len(snap["payments"]), len(snap["allocations"]))
        if fingerprint == after_fingerprint and snap == after:
            outcomes[label] = "after"
            assert check_codes(work) == [], label
            # put the old ledger back so the next kill has something to lose
            (work / ".loanctl" / "ledger.duckdb").write_bytes(old_ledger)
            (work / ".loanctl" / "ledger.duckdb.wal").unlink(missing_ok=True)
        else:
            assert snap == before, f"killed {label}: the ledger is neither the old nor the rebuilt one"
            outcomes[label] = "before"
            assert check_codes(work) == [("E0423", f"archived file {big_name} is not in the ledger")], label
        assert archive_names(work) == archive_names(base), label
        assert dot_files(work / "payments") == [], label
    print(f"rebuild {total:.1f}s, new file from {t_write:.1f}s; {kills} killed: {outcomes}; "
          f"mid-write: {mid_write}")
    assert kills >= 2 and "before" in outcomes.values(), outcomes  # the kills did land inside the rebuild
    assert mid_write, outcomes  # at least one while its temporary ledger was being written

    # the killed runs' temporary files break nothing: a rebuild completes over them
    leftovers = dot_files(work / ".loanctl")
    print(f"left in .loanctl by the killed runs: {leftovers}")
    done = cli(work, "ledger", "rebuild", timeout=300)
    assert done.returncode == 0, done.stderr
    assert snapshot(work) == after
    assert check_codes(work) == []
    q = invoke(work, "query", "SELECT count(*) AS n FROM payments", "--format", "csv")
    assert q.exit_code == 0 and q.stdout == f"n\n{ROWS + 5}\n", (q.stdout, q.stderr, leftovers)


# --- full disk: a real tiny tmpfs ------------------------------------------------------------
@pytest.fixture(scope="module")
def small_base(tmp_path_factory):
    """The small book with one posted file (so the ledger exists), and two payment files
    outside it: 3,000 rows (~160 kB, the row-by-row path) and 45,000 rows (~2.5 MB, large
    enough for a bulk path)."""
    base = tmp_path_factory.mktemp("fulldisk")
    root = write_small_book(base / "book")
    post_ok(root, payment_file(base / "bank" / "first.csv", 3, "c"), "2026-11-30")
    return root, payment_file(base / "bank" / "mid.csv", 3000, "m"), payment_file(base / "bank" / "big.csv",
                                                                                  45_000, "b")


def post_on_full_disk(root: Path, payments: Path, free: int, size: str) -> dict:
    """Post `payments` into a copy of `root` on a tmpfs with `free` bytes left; then free the
    space, and post again. What happened, for the caller to judge."""
    with tiny_tmpfs(size) as mnt:
        book = Path(shutil.copytree(root, mnt / "book"))
        before_tree, before = tree(book), snapshot(book)
        filler = fill(mnt, free)
        run = cli(book, "post-payments", payments, "--posting-day", POSTING_DAY)
        filler.unlink()
        out = {"free": free, "exit": run.returncode, "stderr": run.stderr,
               "ledger unchanged": snapshot(book) == before,
               "payments/ temp files": dot_files(book / "payments"),
               ".loanctl temp files": [n for n in dot_files(book / ".loanctl")],
               "archive": archive_names(book), "tree unchanged": tree(book) == before_tree}
        if run.returncode != 0:
            # whatever was archived is complete (byte for byte); ledger check names it at most
            name, _ = archive_name(payments.read_bytes(), date.fromisoformat(POSTING_DAY))
            out["complete archive"] = all((book / "payments" / n).read_bytes() == payments.read_bytes()
                                          for n in out["archive"] if n == name)
            out["check before retry"] = check_codes(book)
            try:
                again = post(load(book), [(str(payments), payments.read_bytes())],
                                    date.fromisoformat(POSTING_DAY))
                out["retry exit"] = 0 if again.ok else [d.code for d in again.diagnostics]
            except DiagnosticError as exc:
                out["retry exit"] = [f"{d.code} {d.message}" for d in exc.diagnostics]
        out["check after"] = check_codes(book)
        out["payments after"] = len(snapshot(book)["payments"])
    return out


def judge_clean_failure(o: dict) -> list[str]:
    """The contract of a failed write: exit 1, E0422 with the cause, no traceback."""
    if o["exit"] == 0:
        return []
    problems = []
    if o["exit"] != 1:
        problems.append(f"exit {o['exit']}")
    if "E0422" not in o["stderr"] or "No space left on device" not in o["stderr"]:
        problems.append(f"no E0422 naming the full disk: {o['stderr'].strip()[:300]!r}")
    if "Traceback" in o["stderr"]:
        problems.append("a traceback")
    return [f"free={o['free']}: {p}" for p in problems]


def judge_nothing_lost(o: dict, rows: int) -> list[str]:
    """Whatever the error: the ledger as before, no partial file, and the retry completes."""
    problems = []
    if o["exit"] != 0:
        if not o["ledger unchanged"]:
            problems.append("the ledger changed")
        if o["payments/ temp files"]:
            problems.append(f"temporary files left in payments/: {o['payments/ temp files']}")
        if not o["complete archive"]:
            problems.append("a partial archive file")
        if any(code != "E0423" or "is not in the ledger" not in msg for code, msg in o["check before retry"]):
            problems.append(f"ledger check: {o['check before retry']}")
        if o["retry exit"] != 0:
            problems.append(f"the retry after freeing space exits {o['retry exit']}")
    if o["check after"] != [] or o["payments after"] != rows + 3:
        problems.append(f"after the retry: check {o['check after']}, {o['payments after']} payments")
    return [f"free={o['free']}: {p}" for p in problems]


def test_post_on_a_full_disk_reports_e0422_and_changes_nothing(small_base):
    root, mid, _ = small_base
    o = post_on_full_disk(root, mid, 0, "6m")
    assert o["exit"] == 1, o
    # the rows are staged in the ledger before anything is archived: that is the first write to fail
    assert "error[E0422]: cannot stage the ledger rows: No space left on device" in o["stderr"], o["stderr"]
    assert "Traceback" not in o["stderr"]
    assert o["tree unchanged"] and o["archive"] == archive_names(root), o
    assert judge_nothing_lost(o, 3000) == []


@pytest.fixture(scope="module")
def nearly_full_posts(small_base):
    """The 3,000-row post with room for the archive but not for the staging files, and with
    room for those but not for the WAL at commit (sizes from the file's own size)."""
    root, mid, _ = small_base
    size = mid.stat().st_size
    return [post_on_full_disk(root, mid, free, "6m") for free in (size + 16384, 5 * size)]


def test_a_post_running_out_of_space_at_any_stage_loses_nothing(nearly_full_posts):
    assert any(o["exit"] != 0 for o in nearly_full_posts)
    problems = [p for o in nearly_full_posts for p in judge_nothing_lost(o, 3000)]
    assert not problems, "\n".join(problems)


def test_a_post_running_out_of_space_at_any_stage_says_so_with_e0422(nearly_full_posts):
    problems = [p for o in nearly_full_posts for p in judge_clean_failure(o)]
    assert not problems, "\n".join(problems)


def test_a_large_post_running_out_of_space_says_so_and_leaves_no_temp_files(small_base):
    root, _, big = small_base
    outcomes = [post_on_full_disk(root, big, 0, "32m")]
    problems = [p for o in outcomes for p in judge_clean_failure(o) + judge_nothing_lost(o, 45_000)]
    problems += [f"free={o['free']}: temporary files left in .loanctl: {o['.loanctl temp files']}"
                 for o in outcomes if o[".loanctl temp files"]]
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def nearly_full_rebuilds(small_base, tmp_path_factory):
    """`ledger rebuild` of the book with the 3,000-row file posted, with 0 bytes free and more:
    creating the new file, staging, commit and checkpoint run out of space in turn."""
    root, mid, _ = small_base
    posted = Path(shutil.copytree(root, tmp_path_factory.mktemp("rebuild-full") / "book"))
    post_ok(posted, mid)
    before = snapshot(posted)
    outcomes = []
    for free in (0, 300_000, 1_000_000, 2_000_000):
        with tiny_tmpfs("12m") as mnt:
            book = Path(shutil.copytree(posted, mnt / "book"))
            filler = fill(mnt, free)
            run = cli(book, "ledger", "rebuild")
            leftovers = dot_files(book / ".loanctl")
            filler.unlink()
            o = {"free": free, "exit": run.returncode, "stderr": run.stderr, "leftovers": leftovers,
                 "ledger kept": snapshot(book) == before, "check": check_codes(book)}
            files, rows, diags = rebuild(load(book), date.fromisoformat(POSTING_DAY))
            o["retry"], o["after retry"] = (files, rows, diags), snapshot(book) == before
            outcomes.append(o)
    return outcomes


def test_a_rebuild_running_out_of_space_keeps_the_old_ledger(nearly_full_rebuilds):
    assert any(o["exit"] != 0 for o in nearly_full_rebuilds)
    for o in nearly_full_rebuilds:
        assert o["ledger kept"] and o["check"] == [], o
        assert o["retry"] == (2, 3003, []) and o["after retry"], o


def test_a_rebuild_running_out_of_space_says_so_and_cleans_up(nearly_full_rebuilds):
    problems = []
    for o in nearly_full_rebuilds:
        problems += judge_clean_failure(o)
        if o["exit"] != 0 and [n for n in o["leftovers"] if n.startswith(".rebuild-")]:
            problems.append(f"free={o['free']}: left {o['leftovers']}")
    assert not problems, "\n".join(problems)


# --- the same failures injected in-process (no mount needed) ---------------------------------
@pytest.fixture
def small_book(tmp_path):
    root = write_small_book(tmp_path / "book")
    post_ok(root, payment_file(tmp_path / "bank" / "first.csv", 3, "c"), "2026-11-30")
    return root, payment_file(tmp_path / "bank" / "pay.csv", 50, "p")


def enospc_open(monkeypatch, module, where):
    """`open` in a ledger module raises ENOSPC for paths `where(path)` selects."""
    real = open

    def fake(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and where(Path(file)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return real(file, mode, *args, **kwargs)
    monkeypatch.setattr(module, "open", fake, raising=False)


def test_injected_enospc_writing_the_archive_is_e0422_and_changes_nothing(small_book, monkeypatch):
    root, pay = small_book
    before_tree = tree(root)
    enospc_open(monkeypatch, archive, lambda p: p.parent.name == "payments")
    result = invoke(root, "post-payments", pay, "--posting-day", POSTING_DAY)
    assert result.exit_code == 1, (result.exception, result.stderr)
    assert "error[E0422]: cannot archive the payment file: No space left on device" in result.stderr
    assert "nothing was posted" in result.stderr
    assert tree(root) == before_tree


def test_injected_failure_renaming_the_archive_removes_the_temporary_file(small_book, monkeypatch):
    root, pay = small_book
    before_tree = tree(root)
    real = os.replace

    def fake(src, dst, *a, **k):
        if Path(dst).parent.name == "payments":
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(src))
        return real(src, dst, *a, **k)
    monkeypatch.setattr(os, "replace", fake)
    result = invoke(root, "post-payments", pay, "--posting-day", POSTING_DAY)
    assert result.exit_code == 1, (result.exception, result.stderr)
    assert "error[E0422]: cannot archive the payment file: Input/output error" in result.stderr
    assert tree(root) == before_tree  # the .tmp file written before the rename is gone


def test_injected_enospc_staging_the_ledger_rows_is_e0422(small_book, monkeypatch):
    root, pay = small_book
    before = snapshot(root)
    enospc_open(monkeypatch, db, lambda p: p.parent.name == ".loanctl" and p.name.startswith(".pay-"))
    result = invoke(root, "post-payments", pay, "--posting-day", POSTING_DAY)
    assert snapshot(root) == before
    assert result.exit_code == 1 and "error[E0422]" in result.stderr, (result.exception, result.stderr)


def test_injected_commit_failure_is_e0422_keeps_the_ledger_and_the_retry_completes(small_book, monkeypatch):
    import duckdb
    root, pay = small_book
    before = snapshot(root)
    real_connect = db.connect

    class FailingCommit:
        def __init__(self, con):
            self._con = con

        def execute(self, sql, *args):
            if sql.strip().upper() == "COMMIT":
                raise duckdb.IOException('Could not write file "ledger.duckdb.wal": No space left on device')
            return self._con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self._con, name)

    monkeypatch.setattr(posting, "connect", lambda path, read_only=False: FailingCommit(real_connect(path, read_only)))
    result = invoke(root, "post-payments", pay, "--posting-day", POSTING_DAY)
    assert result.exit_code == 1, (result.exception, result.stderr)
    assert "error[E0422]: the ledger could not be written" in result.stderr
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(root) == before
    assert dot_files(root / "payments") == [] and dot_files(root / ".loanctl") == []
    name, _ = archive_name(pay.read_bytes(), date.fromisoformat(POSTING_DAY))
    assert check_codes(root) == [("E0423", f"archived file {name} is not in the ledger")]
    monkeypatch.undo()
    again = invoke(root, "post-payments", pay, "--posting-day", POSTING_DAY)
    assert again.exit_code == 0, again.stderr
    assert len(snapshot(root)["payments"]) == 53 and check_codes(root) == []


def test_injected_read_only_lock_file_is_e0422_and_changes_nothing(small_book, monkeypatch):
    root, pay = small_book
    before_tree = tree(root)
    real = os.open

    def fake(path, flags, *a, **k):
        if Path(path).name == "write.lock":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, flags, *a, **k)
    monkeypatch.setattr(os, "open", fake)
    for args in (("post-payments", pay, "--posting-day", POSTING_DAY), ("ledger", "rebuild")):
        result = invoke(root, *args)
        assert result.exit_code == 1, (args, result.exception, result.stderr)
        assert "error[E0422]" in result.stderr and "Read-only file system" in result.stderr, result.stderr
        assert "check that the book folder is writable" in result.stderr
    assert tree(root) == before_tree


# --- a read-only book, for real --------------------------------------------------------------
def no_crash(result) -> bool:
    return result.exception is None or isinstance(result.exception, SystemExit)


def test_a_read_only_book_refuses_writes_with_e0422_and_still_answers_reads(small_base, tmp_path):
    root, mid, big = small_base
    src = Path(shutil.copytree(root, tmp_path / "book"))
    bare = write_small_book(tmp_path / "bare")  # never posted to: no .loanctl folder at all
    before = tree(src)
    for book in (src, bare):
        with read_only_view(book) as ro:
            run = cli(ro, "post-payments", mid, "--posting-day", POSTING_DAY)  # the real exit code and stderr
            assert run.returncode == 1, (book.name, run.stderr)
            assert f"{ro / '.loanctl'}: error[E0422]: cannot create" in run.stderr, run.stderr
            assert "Read-only file system" in run.stderr and "check that the book folder is writable" in run.stderr
            assert "Traceback" not in run.stderr and "internal error" not in run.stderr
            for args in (("post-payments", big, "--posting-day", POSTING_DAY), ("ledger", "rebuild")):
                result = invoke(ro, *args)
                assert no_crash(result) and result.exit_code == 1, (book.name, args, result.exception)
                assert "error[E0422]: cannot create" in result.stderr, result.stderr
            if book is src:
                checked = invoke(ro, "ledger", "check")
                assert checked.exit_code == 0 and "clean" in checked.stderr, checked.stderr
                q = invoke(ro, "query", "SELECT count(*) AS n FROM payments", "--format", "csv")
                assert (q.exit_code, q.stdout) == (0, "n\n3\n"), (q.exception, q.stderr)
                rep = invoke(ro, "report", "--book", "--as-of", "2026-06-01", "--format", "csv")
                assert rep.exit_code == 0 and rep.stdout.startswith("deal,facility,"), (rep.exception, rep.stderr)
    assert tree(src) == before
    assert not (bare / ".loanctl").exists() and not (bare / "payments").exists()
