"""Fixtures for the workflow and audit-trail tests (see test_wf_kit for the scenario)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_wf_kit import Repo, Scenario, build_scenario  # noqa: E402


@pytest.fixture(scope="session")
def scenario(tmp_path_factory) -> Scenario:
    """The team's repository, built once with the real commands (init, new-deal, approve, fund,
    amend) and real commits; tests copy it."""
    return build_scenario(tmp_path_factory.mktemp("scenario") / "book")


@pytest.fixture
def repo(scenario: Scenario, tmp_path: Path, monkeypatch) -> Repo:
    """A private copy of the scenario repository (on main, funded), as the current folder."""
    monkeypatch.delenv("LOANCTL_BOOK", raising=False)
    copy = scenario.repo.copy_to(tmp_path / "book")
    monkeypatch.chdir(copy.path)
    return copy
