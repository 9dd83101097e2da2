"""The bench's issue #19 stages: validate warm and after one deal changed, ledger rebuild and
export each in a process of their own (their own peak memory), with their targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from loanctl.bench import run as bench


def test_the_bench_times_kept_results_rebuild_and_export(tmp_path):
    result = bench.run_bench(4, 40, 7, workdir=tmp_path, growth=False)
    names = [s.name for s in result.stages]
    for stage in ("validate (warm)", "validate after one deal changed", "validate cold (own process)",
                  "post-payments (own process)", "report (own process)", "journal (own process)",
                  "ledger rebuild (own process)", "export parquet (own process)"):
        assert stage in names, names
        assert result.stage(stage).seconds > 0 and result.stage(stage).peak_mb > 0
    assert result.targets["validate after one deal changed ≤ 1 s"]["target"] == 1.0
    assert result.targets["export ≤ 10 s"]["target"] == 10.0
    assert result.targets["peak memory ≤ 1.5 GB in every command (own processes)"]["target"] == 1536.0
    assert result.targets["allocation ≤ 20 s for 1,000,000 payments"]["target"] == 20.0
    # the rebuild's limit is the time of posting the same file into an empty ledger
    post = result.stage("post-payments (own process)").seconds
    assert result.targets["ledger rebuild ≤ the original post (own processes)"]["target"] == post


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="the peak reset is Linux's")
def test_a_stage_peak_is_its_own(tmp_path):
    """The high-water mark restarts at each stage (Linux), so a stage that allocates little
    does not inherit an earlier stage's peak: 300 MB touched and freed before the stage do
    not show in it (the process may already hold hundreds of MB from earlier tests)."""
    before = rss_mb()
    big = bytearray(300 * 1024 * 1024)
    big[::4096] = b"x" * len(big[::4096])  # touch every page
    del big
    result = bench.BenchResult(1, 1, 7)
    with bench.timed(result, "small"):
        pass
    assert result.stage("small").peak_mb < before + 150
