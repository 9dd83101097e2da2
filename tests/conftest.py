"""Suite-wide setup: the tests folder on sys.path (for bookfactory and friends), and in CI
(the CI environment variable set, as `.ci/run` and CI runners do) a missing test dependency
stops the run with a message instead of quietly skipping the tests that need it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cienv import in_ci  # noqa: E402

# the reference libraries the tests compare loanctl against (pyproject's `test` extra)
REFERENCE_LIBRARIES = ("QuantLib", "pyxirr", "hypothesis", "jsonschema")


def _imports(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def pytest_sessionstart(session) -> None:
    if not in_ci():
        return
    missing = [name for name in REFERENCE_LIBRARIES if not _imports(name)]
    if missing:
        pytest.exit(f"CI: the test dependencies {', '.join(missing)} are not installed, so the tests that "
                    f"need them would be skipped; install them with `python -m pip install '.[test]'`",
                    returncode=3)


@pytest.fixture(autouse=True)
def _no_cache_flag_stays_in_its_test(monkeypatch):
    """`loanctl --no-cache` sets LOANCTL_NO_CACHE for the rest of its process (its workers inherit
    it): a command run in-process by a test must not leave the cache off for the tests after it."""
    monkeypatch.setenv("LOANCTL_NO_CACHE", "")  # recorded as it was, so the undo removes a flag set later
    monkeypatch.delenv("LOANCTL_NO_CACHE")
