"""README's command table names every command `loanctl --help` lists, with every option of
each command's own `--help` (a doc that drifts from the CLI misleads newcomers first)."""

from __future__ import annotations

import re
from pathlib import Path

from bookfactory import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def commands_table() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Commands")
    return text[start:text.index("\n## ", start + 1)]


def listed(help_text: str, heading: str) -> list[str]:
    """The names in the `heading:` block of a --help page (one per line, first word)."""
    block = help_text.split(f"{heading}:", 1)[1]
    names = []
    for line in block.splitlines()[1:]:
        m = re.match(r"^[\s│]*([a-z][a-z-]*|--[a-z][a-z-]*)\b", line)
        if m is None and not line.strip("│ \n"):
            if names:
                break
            continue
        if m is not None and line.lstrip("│ ").startswith(m.group(1)):
            names.append(m.group(1))
    return names


def test_every_command_is_in_the_readme_table():
    result = cli("--help")
    assert result.exit_code == 0, result.output
    commands = listed(result.stdout, "Commands")
    assert {"validate", "trade", "event", "export", "journal", "notices", "statement", "reconcile"} <= set(commands)
    table = commands_table()
    missing = [c for c in commands if f"`loanctl {c}" not in table]
    assert missing == []


def test_every_option_of_every_command_is_in_its_readme_row():
    """Each option of `loanctl COMMAND --help` is in a row naming `loanctl COMMAND` (`--rev`
    has a row of its own; new-deal's many term options are referred to its --help)."""
    rows = commands_table().splitlines()
    missing = []
    for command in listed(cli("--help").stdout, "Commands"):
        if command in ("ledger", "new-deal"):
            continue  # ledger: subcommands only (rebuild, refresh, check); new-deal: see above
        mine = " ".join(r for r in rows if f"`loanctl {command}" in r or f"`loanctl {command} " in r)
        for option in listed(cli(command, "--help").stdout, "Options"):
            if option in ("--help", "--rev") or not option.startswith("--"):
                continue
            if option not in mine and f"--no-{option[2:]}" not in mine:
                missing.append(f"{command} {option}")
    assert missing == []
