"""The folders loanctl ships: its templates and the demo book."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent  # the loanctl package


# --- packaged resources --------------------------------------------------------------------
def resource_dir(name: str) -> Path:
    """The packaged folder `name` ("templates" or "deals").

    An installed wheel carries it as `loanctl/_data/<name>` (pyproject's hatch force-include);
    a checkout (or an editable install) has it at the repository root, next to the package.
    """
    installed = _PKG / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PKG.parent / name
    if checkout.is_dir() and (_PKG.parent / "pyproject.toml").is_file():
        return checkout
    raise RuntimeError(f"loanctl's packaged '{name}' folder is missing (looked in {installed} and {checkout}); "
                       "reinstall loanctl")
