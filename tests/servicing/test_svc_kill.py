"""A post killed at any moment leaves the ledger untouched or complete (SPEC §1.4, §4.2).

A large payment file (N rows of 0.01 on `acme-fixed`) is posted by `loanctl post-payments`
in a subprocess, which is SIGKILLed after a delay: early (parsing), mid (allocating), late
(archiving and the DuckDB transaction) — chosen with a seeded random from the duration of
a full post measured first — and once more the moment the archived file appears (the
window between archive and commit) and the moment its staging files appear. Afterwards the
ledger equals, snapshot for snapshot, either the ledger before the post or the ledger of the
completed post; `ledger check` is clean or reports only the archived file missing from the
ledger, which `ledger rebuild` then takes in. Kept well under a minute.

A kill that only hits a finished process proves nothing, so the test also proves that kills
landed mid-post: the process died by SIGKILL while it held the writer lock with its rows
staged — its staging files (`.loanctl/.stage-PID-…`, `.alloc-PID.csv`, `.pay-PID.csv`, which
the post removes itself once it has committed or failed) are still there after the kill, or
its file is archived but not in the ledger. At least one such kill must happen (extra kills
at growing delays after the staging files appear are tried until one does), and the next
post sweeps the killed process's staging files away.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ledgerkit import (loanctl_cmd, post_ok, row, run, snapshot, subprocess_env, write_book, write_payments)

N = 15_000
SEED = 20260415
DAY = "2026-12-01"


def big_file(path: Path) -> Path:
    """N scheduled payments of 0.01, dated across the loan's life (fast to generate)."""
    dates = ["2026-01-15", "2026-03-02", "2026-04-15", "2026-06-01", "2026-07-15", "2026-09-01", "2026-10-15"]
    lines = ["payment_id,deal,date,amount,reference"]
    lines += [f"k{i:06d},acme-fixed,{dates[i % len(dates)]},0.01,batch {i // 1000}" for i in range(N)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def start_post(root: Path, f: Path) -> subprocess.Popen:
    return subprocess.Popen(loanctl_cmd(root, "post-payments", f, "--posting-day", DAY),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=subprocess_env())


def staging_of(root: Path, pid: int) -> list[str]:
    """Staging files process `pid` left in .loanctl (it removes them itself when it ends)."""
    state = root / ".loanctl"
    mine = re.compile(rf"^\.(?:stage|alloc|pay)-{pid}[-.]")
    return sorted(p.name for p in state.iterdir() if mine.match(p.name)) if state.is_dir() else []


def archived(root: Path) -> list[str]:
    folder = root / "payments"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def test_a_killed_post_leaves_the_ledger_before_or_after(tmp_path):
    base = write_book(tmp_path / "base")
    post_ok(base, write_payments(tmp_path / "bank", "closing.csv", [row("c-1", "2026-01-15", "10000.00")]))
    before, archive_before = snapshot(base), archived(base)
    big = big_file(tmp_path / "bank" / "big.csv")

    # the completed post, timed: total duration and when its archive file appears
    ref = Path(shutil.copytree(base, tmp_path / "ref"))
    t0 = time.monotonic()
    proc = start_post(ref, big)
    t_archive = None
    while proc.poll() is None:
        if t_archive is None and len(archived(ref)) > len(archive_before):
            t_archive = time.monotonic() - t0
        time.sleep(0.002)
    total = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr.read().decode()
    after = snapshot(ref)
    assert len(after["payments"]) == N + 1
    assert t_archive is not None and t_archive < total

    # early and mid: a share of the time before the archive appears (parsing, allocating);
    # late: a share of the time from the archive to the end (the DuckDB transaction), counted
    # from the moment the archive appears in that run, so a slower or faster run still lands there
    rng = random.Random(SEED)
    plan = {"early": ("start", rng.uniform(0.05, 0.4) * t_archive),
            "mid": ("start", rng.uniform(0.5, 0.95) * t_archive),
            "the moment the archive appears": ("archive", 0.0),
            "late": ("archive", rng.uniform(0.1, 0.5) * (total - t_archive)),
            "very late": ("archive", rng.uniform(0.5, 0.95) * (total - t_archive)),
            "the moment the rows are staged": ("staging", 0.0)}
    # should none of those land mid-post (a much faster or slower machine), kills after the
    # staging files appear, at growing delays, until one does
    retries = {f"staged + {ms} ms": ("staging", ms / 1000) for ms in (1, 5, 20, 50, 100, 200, 400, 800)}
    outcomes, mid_post = {}, []
    for label, (anchor, delay) in [*plan.items(), *retries.items()]:
        if label in retries and mid_post:
            break
        root = Path(shutil.copytree(base, tmp_path / label.replace(" ", "-")))
        proc = start_post(root, big)
        t0 = time.monotonic()
        if anchor == "archive":
            while len(archived(root)) == len(archive_before) and proc.poll() is None:
                time.sleep(0.001)
            t0 = time.monotonic()
        elif anchor == "staging":
            while not staging_of(root, proc.pid) and proc.poll() is None:
                time.sleep(0.001)
            t0 = time.monotonic()
        time.sleep(max(0.0, delay - (time.monotonic() - t0)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        finished = proc.returncode == 0
        killed = proc.returncode == -signal.SIGKILL
        left = staging_of(root, proc.pid)  # a process that ended by itself removed them
        assert finished or killed, (label, proc.returncode, proc.stderr.read().decode())
        assert not left or killed, (label, left)

        state = snapshot(root)
        assert state in (before, after), label
        check = run(root, "ledger", "check")
        if state == after:
            assert check.exit_code == 0, (label, check.stdout)
            outcomes[label] = "complete" if not finished else "finished before the kill"
        else:
            outcomes[label] = "untouched"
            if check.exit_code != 0:  # killed after archiving, before the commit
                problems = [line for line in check.stdout.splitlines() if "error[" in line]
                assert problems and all("E0423" in p and "is not in the ledger" in p for p in problems), \
                    (label, check.stdout)
                assert archived(root) == archived(ref)
                outcomes[label] = "untouched, archived"
                assert run(root, "ledger", "rebuild").exit_code == 0
                assert snapshot(root) == after, label
                assert run(root, "ledger", "check").exit_code == 0, label
            else:
                assert archived(root) == archive_before, label
        if killed and (left or outcomes[label] == "untouched, archived"):
            mid_post.append(label)  # died inside the post: rows staged, or archived but not committed
            outcomes[label] += f", killed mid-post ({len(left)} staging files left)"
        # the lock died with the process: the next post goes through, and sweeps its staging files
        post_ok(root, write_payments(tmp_path / "bank", "next.csv", [row("n-1", "2026-10-15", "1.00")]))
        assert staging_of(root, proc.pid) == [], label
    print(f"full post {total:.1f}s, archive at {t_archive:.1f}s; kills "
          f"{ {k: (a, round(d, 2)) for k, (a, d) in plan.items()} }; outcomes {outcomes}")
    assert mid_post, f"no kill landed inside the post: {outcomes}"
