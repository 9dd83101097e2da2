"""The bench's issue #19 stages: validate warm and after one deal changed, ledger rebuild and
export each in a process of their own (their own peak memory), with their targets."""

from __future__ import annotations

from loanctl.bench import run as bench


def test_the_bench_times_kept_results_rebuild_and_export(tmp_path):
    result = bench.run_bench(4, 40, 7, workdir=tmp_path, growth=False)
    names = [s.name for s in result.stages]
    for stage in ("validate (warm)", "validate after one deal changed", "ledger rebuild (own process)",
                  "export parquet (own process)"):
        assert stage in names, names
        assert result.stage(stage).seconds > 0 and result.stage(stage).peak_mb > 0
    assert result.targets["validate after one deal changed ≤ 1 s"]["target"] == 1.0
    assert result.targets["export ≤ 10 s"]["target"] == 10.0
