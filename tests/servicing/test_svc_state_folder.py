""".loanctl/ holds only what can be made again (SPEC §10, issue #19): the parsed-file cache,
kept validate results, deal fingerprints, stored allocations and stored report positions.

On the demo book with its demo payments posted, every command that reads the book or the
ledger prints byte-for-byte the same output (a) the first time (filling the caches), (b) the
second time (reading them), and (c) after `.loanctl/` is deleted and the ledger rebuilt from
the archived payment files — and (d) with the caches bypassed (`--no-cache`). A command
whose output differed would be showing a cached figure a fresh computation does not give.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ledgerkit import posted_demo_book, run


COMMANDS = [
    ("validate", "--format", "json"),
    ("schedule", "alder-tl-2026", "--format", "csv"),
    ("schedule", "alder-tl-2026", "--lender", "fund-ii", "--format", "csv"),
    ("schedule", "sable-tl-2025", "--actuals", "--as-of", "2026-11-28", "--format", "json"),
    ("report", "--book", "--as-of", "2026-11-28", "--format", "json"),
    ("report", "--fund", "fund-i", "--as-of", "2026-06-30", "--format", "csv"),
    ("report", "--deal", "keystone-holdco-2025", "--as-of", "2026-11-28", "--format", "md"),
    ("covenants", "--fund", "fund-i", "--as-of", "2026-11-28", "--format", "json"),
    ("journal", "--from", "2026-01-01", "--to", "2026-11-30", "--format", "csv"),
    ("journal", "--fund", "fund-ii", "--to", "2026-11-30", "--format", "beancount"),
    ("query", "SELECT deal, facility, component, sum(amount) AS total FROM allocations "
              "GROUP BY ALL ORDER BY ALL", "--as-of", "2026-11-28"),
    ("statement", "sable-tl-2025", "--from", "2026-01-01", "--to", "2026-11-28", "--format", "json"),
    ("payoff", "alder-tl-2026", "--date", "2026-11-30", "--format", "json"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("state")
    return posted_demo_book(base)


def outputs(book: Path, *pre: str) -> list[tuple[int, str]]:
    out = []
    for args in COMMANDS:
        result = run(book, *pre, *args)
        out.append((result.exit_code, result.stdout))
    return out


def test_every_command_prints_the_same_from_caches_from_scratch_and_without_them(demo):
    first = outputs(demo)
    assert all(code == 0 for code, _ in first), [(c, args) for (c, _), args in zip(first, COMMANDS) if c]
    assert all(text.strip() for _, text in first)
    assert outputs(demo) == first  # the caches filled by the first run, read
    assert outputs(demo, "--no-cache") == first
    shutil.rmtree(demo / ".loanctl")
    assert run(demo, "ledger", "rebuild").exit_code == 0
    assert outputs(demo) == first  # everything made again from the book and its archived files
