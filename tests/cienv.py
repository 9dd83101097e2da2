"""Whether the tests run in CI: there a missing test dependency or browser is a failure,
not a skip (`.ci/run` installs them all)."""

from __future__ import annotations

import os


def in_ci() -> bool:
    """True where the CI variable is set to anything but an explicit no (CI runners and
    `.ci/run` set CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
