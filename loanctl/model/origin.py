"""Where a value came from: a parsed file's data with the (line, column) of every value and key.

Like Beancount's `meta`, this travels with the data but is not a business field; a
diagnostic about a value points at its source through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import Diagnostic

Path_ = tuple  # a path into the data: keys (str) and indexes (int)
KEY = "\x00key"  # suffix marking a key's position rather than its value's


@dataclass(slots=True)
class Positions:
    """(line, column), both 1-based, of every value (and key) by its path."""

    at: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def value(self, path: tuple) -> tuple[int, int] | None:
        """Position of the value at `path`, or of its nearest recorded ancestor."""
        path = tuple(path)
        while True:
            if path in self.at:
                return self.at[path]
            if not path:
                return None
            path = path[:-1]

    def key(self, path: tuple) -> tuple[int, int] | None:
        """Position of the key naming `path` (falls back to the value's)."""
        return self.at.get(tuple(path) + (KEY,)) or self.value(path)


@dataclass(slots=True, weakref_slot=True)
class Doc:
    """A parsed YAML file: plain data, with its positions beside it."""

    file: str
    data: Any
    positions: Positions

    def diag(self, code: str, message: str, path: tuple = (), *, hint: str | None = None,
             key: bool = False, severity: str = "error") -> Diagnostic:
        pos = self.positions.key(path) if key else self.positions.value(path)
        line, col = pos if pos else (None, None)
        return Diagnostic(code, message, self.file, line, col, hint, severity)  # type: ignore[arg-type]
