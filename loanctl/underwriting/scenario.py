"""A what-if scenario as the command line writes it (`ScenarioSpec`: the option texts), read into
a `Scenario` for `simulate.run`: rates, dates, `DATE:AMOUNT[:FACILITY]` prepayments,
`DATE:on|off` PIK toggles, a default with its recovery and lag, index path files and a draft
amendment file. A bad option value is a `UsageProblem` (exit 2); a bad file is reported by
diagnostics at its position (exit 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Sequence

from ..diagnostics import Diagnostic, UsageProblem
from ..model.options import option_amount, option_date, option_months, option_rate, option_share
from ..model.records import AmendmentRecord, DealRecord
from .simulate import Scenario, load_index_path


@dataclass
class ScenarioSpec:
    """The scenario options as given (texts), before they are read."""

    rate_shock: str | None = None
    index_paths: Sequence[str] = ()
    """[INDEX=]FILE each."""
    prepay: Sequence[str] = ()
    """DATE:AMOUNT[:FACILITY] each."""
    default: str | None = None
    recovery: str = "60%"
    recovery_lag: str = "12m"
    amendment: Path | None = None
    pik_toggle: Sequence[str] = ()
    """DATE:on|off each."""


def parse_prepayment(item: str) -> tuple[date, Decimal, str | None]:
    """`2026-05-01:5000000[:tl]` → (date, amount, facility or None)."""
    parts = item.split(":")
    if len(parts) not in (2, 3):
        raise UsageProblem(f"--prepay {item}: write DATE:AMOUNT[:FACILITY]")
    amount = option_amount(parts[1], "--prepay", item)
    return option_date(parts[0], "--prepay"), amount, parts[2] if len(parts) == 3 else None


def parse_pik_toggle(item: str) -> tuple[date, bool]:
    """`2026-04-15:on` → (date, True)."""
    when, _, state = item.partition(":")
    if state not in ("on", "off"):
        raise UsageProblem(f"--pik-toggle {item}: write DATE:on or DATE:off")
    return option_date(when, "--pik-toggle"), state == "on"


def read_index_path(item: str, record: DealRecord) -> tuple[str, list[tuple[date, Decimal]], list[Diagnostic]]:
    """`[INDEX=]FILE` → (index, its path of (date, rate), diagnostics of the file); the index may
    be left out when the deal uses only one."""
    index, _, file = item.rpartition("=")
    if not index:
        indexes = {f.interest.index for f in record.deal.facilities if f.interest.index}
        if len(indexes) != 1:
            raise UsageProblem("--index-path: name the index as INDEX=FILE", f"indexes: {', '.join(sorted(indexes))}")
        index = next(iter(indexes))
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"--index-path: cannot read {file}: {exc}") from None
    path, diags = load_index_path(text, file)
    return index, path, diags


def read_amendment(path: Path) -> tuple[AmendmentRecord | None, list[Diagnostic]]:
    """A draft amendment file, read and checked like the book's own (positions in diagnostics)."""
    from ..model.documents import Amendment
    from ..model.validate import validate as check
    from ..source.loader import FsTree, read_yaml

    doc, diags = read_yaml(FsTree(path.parent), path.name)
    if doc is None:
        return None, diags
    amendment, more = check(Amendment, doc)
    diags += more
    return (AmendmentRecord(amendment, doc, str(path)) if amendment is not None else None), diags


def build_scenario(record: DealRecord, spec: ScenarioSpec) -> tuple[Scenario, list[Diagnostic]]:
    """The scenario the options describe, and the diagnostics of the files they name."""
    sc = Scenario()
    diags: list[Diagnostic] = []
    if spec.rate_shock:
        sc.rate_shock = option_rate(spec.rate_shock, "--rate-shock")
    for item in spec.index_paths:
        index, path, d = read_index_path(item, record)
        diags += d
        sc.index_paths[index] = path
    sc.prepayments = [parse_prepayment(item) for item in spec.prepay]
    if spec.default:
        sc.default_date = option_date(spec.default, "--default")
        sc.recovery = option_share(spec.recovery, "--recovery")
        sc.recovery_lag_months = option_months(spec.recovery_lag, "--recovery-lag")
    sc.pik_toggles = [parse_pik_toggle(item) for item in spec.pik_toggle]
    if spec.amendment is not None:
        sc.amendment, d = read_amendment(spec.amendment)
        diags += d
    return sc, diags
