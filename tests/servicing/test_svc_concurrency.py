"""Two concurrent posts never corrupt the ledger (SPEC §4.2): two `loanctl post-payments`
subprocesses of different files for the same facility, started together. Each either
succeeds (the second waits for the writer lock) or fails cleanly with E0421 and exit 1;
the final ledger equals the one built by posting the successful files one after the other,
and `ledger check` is clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ledgerkit import loanctl_cmd, post_ok, run, snapshot, subprocess_env, write_book

ROWS = 4_000


def payments(path: Path, prefix: str, dates: list[str]) -> Path:
    lines = ["payment_id,deal,date,amount"]
    lines += [f"{prefix}{i:05d},acme-fixed,{dates[i % len(dates)]},1.00" for i in range(ROWS)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_concurrent_posts_serialise_or_fail_cleanly(tmp_path):
    a = payments(tmp_path / "bank" / "a.csv", "a", ["2026-01-15", "2026-04-15"])
    b = payments(tmp_path / "bank" / "b.csv", "b", ["2026-02-01", "2026-07-15"])
    root = write_book(tmp_path / "book")
    procs = {f: subprocess.Popen(loanctl_cmd(root, "post-payments", f, "--posting-day", "2026-12-01"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
             for f in (a, b)}
    results = {f: (p.wait(timeout=120), p.stderr.read()) for f, p in procs.items()}
    for p in procs.values():
        p.stdout.close()
        p.stderr.close()

    succeeded = [f for f, (code, _) in results.items() if code == 0]
    for f, (code, err) in results.items():
        if code != 0:
            assert code == 1, err
            assert "E0421" in err, err
        assert "Traceback" not in err
    assert succeeded, results
    print(f"exit codes: {[code for code, _ in results.values()]}")

    reference = write_book(tmp_path / "reference")
    for f in succeeded:
        post_ok(reference, f)
    assert snapshot(root) == snapshot(reference)
    check = run(root, "ledger", "check")
    assert check.exit_code == 0, check.stdout
    assert len(snapshot(root)["payments"]) == ROWS * len(succeeded)
