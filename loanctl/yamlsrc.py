"""A YAML reader for money: positions for every node, exact numbers, and no surprises.

PyYAML's constructor turns `5.75` into a float and silently keeps the last of two duplicate
keys. We compose the node graph instead (with the libyaml C parser when present) and build
plain Python values ourselves:

* floats become `Decimal` from their source text, never through binary floating point;
* timestamps stay strings (the model parses dates and reports impossible ones precisely);
* duplicate keys, non-standard tags, alias bombs and absurd nesting are diagnostics;
* every value's and key's (line, column) is recorded by its path, beside the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic

try:  # the C parser is an order of magnitude faster; fall back quietly without libyaml
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000  # nodes visited while expanding aliases
MAX_DEPTH = 64
_SAFE_DEPTH_BOUND = 2_000  # below this crude bound the parser's recursion is harmless

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_STD}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_ALLOWED_TAGS = _SCALAR_TAGS | {f"{_STD}map", f"{_STD}seq", f"{_STD}merge"}
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.M)
_PLAIN_INT = re.compile(r"[-+]?[0-9][0-9_]*\Z")
_BOOL = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}

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


@dataclass(slots=True)
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


class YamlInt(int):
    """An integer that remembers how it was written (`001` stays "001" where an id is meant)."""

    source: str

    def __new__(cls, value: int, source: str) -> "YamlInt":
        obj = super().__new__(cls, value)
        obj.source = source
        return obj

    def __reduce__(self):
        return (YamlInt, (int(self), self.source))

    def __deepcopy__(self, memo) -> "YamlInt":
        return self


class _Stop(Exception):
    def __init__(self, diag: Diagnostic) -> None:
        self.diag = diag


def read_text(path: Path, file: str, max_bytes: int = MAX_BYTES) -> tuple[str | None, list[Diagnostic]]:
    """Read a UTF-8 text file (BOM accepted) with size and encoding diagnostics."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, [Diagnostic("E0005", f"file is {size:,} bytes; the limit is {max_bytes:,}", file,
                                     hint="split the file, or check that it is the file you meant")]
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic("E0015", f"cannot read the file: {exc.strerror or exc}", file,
                                 hint="check that the file exists and is readable")]
    return decode(raw, file)


def decode(raw: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, [Diagnostic("E0006", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8", file, line, col,
                                 "save the file as UTF-8")]


def parse(text: str, file: str) -> tuple[Doc | None, list[Diagnostic]]:
    """Parse YAML text into a `Doc`, or return diagnostics (and None)."""
    m = _CONFLICT.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        return None, [Diagnostic("E0014", "merge-conflict marker left in the file", file, line, 1,
                                 "resolve the conflict and remove the <<<<<<< ======= >>>>>>> lines")]
    if "\x00" in text:
        i = text.index("\x00")
        line = text.count("\n", 0, i) + 1
        return None, [Diagnostic("E0001", "NUL character in the file", file, line, i - text.rfind("\n", 0, i),
                                 "YAML files are text; remove the NUL byte")]
    if _depth_bound(text) > _SAFE_DEPTH_BOUND:
        depth_diag = _check_depth_events(text, file)
        if depth_diag:
            return None, [depth_diag]
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_diag(exc, file)]
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        return None, [Diagnostic("E0001", f"YAML error: {exc}", file)]
    except RecursionError:
        return None, [Diagnostic("E0009", "nesting too deep", file, hint=f"at most {MAX_DEPTH} levels")]
    if root is None:
        return None, [Diagnostic("E0007", "the file is empty", file, 1, 1,
                                 "write the document, or delete the file")]
    builder = _Builder(file)
    try:
        data = builder.build(root, (), 0)
    except _Stop as stop:
        return None, [stop.diag]
    if builder.diags:
        return None, builder.diags
    return Doc(file, data, builder.positions), []


def load(path: Path, file: str) -> tuple[Doc | None, list[Diagnostic]]:
    text, diags = read_text(path, file)
    if text is None:
        return None, diags
    return parse(text, file)


def _depth_bound(text: str) -> int:
    # Nesting needs either an opening bracket or one more column of indentation per level,
    # so this is an upper bound on the depth; only beyond it do we pay for an event scan.
    return text.count("[") + text.count("{") + max((len(s) for s in text.split("\n")), default=0)


def _check_depth_events(text: str, file: str) -> Diagnostic | None:
    depth = 0
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    return Diagnostic("E0009", f"nesting deeper than {MAX_DEPTH} levels", file,
                                      ev.start_mark.line + 1, ev.start_mark.column + 1,
                                      "a book file never needs this much nesting")
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        return _syntax_diag(exc, file)
    return None


def _syntax_diag(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    problem = (exc.problem or str(exc)).strip()
    if "\\t" in problem or "'\t'" in problem or "tab" in problem:
        return Diagnostic("E0008", "tab character where YAML expects spaces", file, line, col,
                          "indent with spaces, never tabs")
    ctx = f" {exc.context}" if exc.context else ""
    return Diagnostic("E0001", f"YAML syntax error: {problem}{ctx}".strip(), file, line, col,
                      "check indentation, colons and quotes on this line and the one above")


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.positions = Positions()
        self.diags: list[Diagnostic] = []
        self.visited = 0

    def _stop(self, code: str, message: str, node: yaml.Node, hint: str) -> _Stop:
        m = node.start_mark
        return _Stop(Diagnostic(code, message, self.file, m.line + 1, m.column + 1, hint))

    def build(self, node: yaml.Node, path: tuple, depth: int) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self._stop("E0004", f"alias expansion exceeds {MAX_NODES:,} nodes", node,
                             "anchors and aliases may be used, but not to multiply the document")
        if depth > MAX_DEPTH:
            raise self._stop("E0009", f"nesting deeper than {MAX_DEPTH} levels", node,
                             "a book file never needs this much nesting")
        if node.tag not in _ALLOWED_TAGS:
            raise self._stop("E0003", f"YAML tag {node.tag.replace(_STD, '!!')} is not allowed", node,
                             "use plain values; only the standard scalar types are accepted")
        self.positions.at[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self._mapping(node, path, depth)

    def _mapping(self, node: yaml.MappingNode, path: tuple, depth: int) -> dict:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_STD}merge":
                merged.update(self._merge(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                raise self._stop("E0001", "mapping keys must be plain words", key_node, "write the key as text")
            key = key_node.value
            if key in out:
                first = self.positions.at.get(path + (key, KEY), (0, 0))[0]
                m = key_node.start_mark
                self.diags.append(Diagnostic(
                    "E0002", f"duplicate key '{key}' (first at line {first})", self.file, m.line + 1,
                    m.column + 1, "keep one of them; YAML would silently use the last"))
                continue
            self.positions.at[path + (key, KEY)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self.build(value_node, path + (key,), depth + 1)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge(self, node: yaml.Node, path: tuple, depth: int) -> dict:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict = {}
        for src in sources:
            value = self.build(src, path, depth + 1)
            if not isinstance(value, dict):
                raise self._stop("E0001", "'<<' merges only mappings", src, "merge a mapping alias")
            for k, v in value.items():
                merged.setdefault(k, v)
        return merged


def _scalar(node: yaml.ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == f"{_STD}str" or tag == f"{_STD}timestamp":
        return text
    if tag == f"{_STD}null":
        return None
    if tag == f"{_STD}bool":
        return _BOOL.get(text.lower(), text)
    if tag == f"{_STD}int":
        if _PLAIN_INT.match(text):
            return YamlInt(int(text.replace("_", "")), text)
        return yaml.SafeLoader.construct_yaml_int(yaml.SafeLoader(""), node)  # 0x.., 0o.., 1:30
    if tag == f"{_STD}float":
        try:
            value = Decimal(text.replace("_", ""))
        except InvalidOperation:
            return text  # .inf, .nan: left as text for the model to reject
        return value if value.is_finite() else text
    return text  # pragma: no cover - guarded by _ALLOWED_TAGS
