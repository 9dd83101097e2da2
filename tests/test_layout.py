"""The layout is true: lower packages never import higher ones, nothing imports another
module's private names, and the command line reaches the library only through public names.

Every `from … import …` in loanctl/ is read with `ast` (function-level imports included, since
heavy modules are imported lazily) and resolved to its package; the layer of each package is
the list below, lowest first (README "Layout").
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "loanctl"

LAYERS: list[set[str]] = [
    {"__init__", "__version__", "diagnostics", "conventions", "resources", "plaintext", "templating", "forkmap"},
    {"model"},
    {"source"},
    {"engine"},
    {"underwriting"},
    {"validation"},
    {"servicing"},
    {"ledger"},
    {"reports", "audit", "reconcile", "notices", "accounting", "export"},
    {"origination"},
    {"render"},
    {"api"},
    {"demo", "bench", "cli", "__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        yield path, parts


def _imports(path: Path, parts: list[str]):
    """(line, target module parts, imported names) of every import from loanctl."""
    package = parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "loanctl":
                target = node.module.split(".")
            else:
                continue
            yield node.lineno, target, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "loanctl":
                    yield node.lineno, a.name.split("."), []


def _top(parts: list[str]) -> str:
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_layer():
    tops = {_top(parts) for _, parts in _modules()}
    assert tops - set(RANK) == set()


def test_lower_layers_never_import_higher_ones():
    bad = []
    for path, parts in _modules():
        me = _top(parts)
        for line, target, names in _imports(path, parts):
            tops = [target[1]] if len(target) > 1 else [n for n in names if n in RANK]
            for top in tops:
                if top != me and RANK.get(top, 0) > RANK[me]:
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {me} imports {top}")
    assert bad == []


def test_the_engine_reads_no_files():
    """The engine and the model import neither the file-reading layer nor anything above it."""
    for path, parts in _modules():
        if _top(parts) in ("engine", "model"):
            for line, target, _ in _imports(path, parts):
                assert len(target) < 2 or target[1] not in ("source", "ledger"), f"{path}:{line}"


def test_no_module_imports_another_modules_private_names():
    bad = []
    for path, parts in _modules():
        for line, target, names in _imports(path, parts):
            if target[: len(parts)] == parts:
                continue
            bad += [f"{path.relative_to(PACKAGE.parent)}:{line}: {n}" for n in names
                    if n.startswith("_") and not n.startswith("__")]
    assert bad == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda p: p.name)
def test_the_command_line_imports_only_public_names_of_the_library(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    for line, target, names in _imports(path, parts):
        if len(target) > 1 and target[1] != "cli":
            assert not any(n.startswith("_") for n in names), f"{path.name}:{line}"
            assert not any(p.startswith("_") for p in target[1:]), f"{path.name}:{line}"


def test_no_import_cycle_between_packages():
    """Top-level imports only (function-level imports are how heavy modules load lazily):
    the package graph is acyclic."""
    graph: dict[str, set[str]] = {}
    for path, parts in _modules():
        me = _top(parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level:
                package = parts[:-1]
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
                if len(target) > 1 and target[1] != me:
                    graph.setdefault(me, set()).add(target[1])
    seen: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in graph.get(node, ()):
            assert seen.get(nxt) != 1, " -> ".join(stack + [node, nxt])
            if nxt not in seen:
                visit(nxt, stack + [node])
        seen[node] = 2

    for node in list(graph):
        if node not in seen:
            visit(node, [])


def test_the_clock_enters_only_at_the_command_line():
    """No library module reads the clock (the `today` and `now` constructors of date and
    datetime): "today" is a parameter the command line (or a test) passes in. This test reads
    the source, never the clock."""
    bad = []
    for path, parts in _modules():
        if _top(parts) in ("cli", "__main__"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("today", "now", "utcnow") and not node.args):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert bad == []
