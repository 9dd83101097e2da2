"""Fixtures for the servicing tests: a fresh copy of the small book per test, a bank folder,
and a spy on the vectorised posting path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ledgerkit import spy_on, write_book  # noqa: E402
from loanctl.ledger import posting  # noqa: E402


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """The inline test book (see ledgerkit) under tmp_path/book, with no ledger yet."""
    return write_book(tmp_path / "book")


@pytest.fixture
def bank(tmp_path: Path) -> Path:
    """A folder outside the book for payment files, as a bank export would land."""
    folder = tmp_path / "bank"
    folder.mkdir()
    return folder


@pytest.fixture
def fast_calls(monkeypatch) -> list[bool]:
    """What each call of the vectorised path returned (True: it posted the files)."""
    return spy_on(monkeypatch, posting, "_post_fast")
