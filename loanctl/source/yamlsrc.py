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
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from ..diagnostics import Diagnostic
from ..model.origin import KEY, Doc, Path_, Positions  # noqa: F401  (re-exported for the reader's callers)
from .bookpath import inside_book, outside_diagnostic

try:  # the C parser is an order of magnitude faster; fall back quietly without libyaml
    _Loader = yaml.CBaseLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.BaseLoader
# The base loaders leave implicit typing to us (PyYAML's Python resolver is the slow part of
# a load): a plain scalar is typed by the regexes below, a quoted one is always text.

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 100_000  # nodes visited while expanding aliases
MAX_DEPTH = 64

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_STD}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}
_ALLOWED_TAGS = _SCALAR_TAGS | {f"{_STD}map", f"{_STD}seq", f"{_STD}merge"}
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.M)
_PLAIN_INT = re.compile(r"[-+]?[0-9][0-9_]*\Z")
_PLAIN_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*)?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?\Z|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+\Z|[-+]?[0-9][0-9_]*\.\Z")
_PLAIN_BOOL = {"yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On",
               "ON", "off", "Off", "OFF"}
_PLAIN_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}



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


def read_text(path: Path, file: str, max_bytes: int = MAX_BYTES, root: Path | None = None
              ) -> tuple[str | None, list[Diagnostic]]:
    """Read a UTF-8 text file (BOM accepted) with size and encoding diagnostics; with the
    book's `root`, a file reached through a link leading outside it is not read (E0020)."""
    if root is not None and not inside_book(root, path):
        return None, [outside_diagnostic(file)]
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
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1  # characters, not bytes
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
    try:
        doc, diags = _EventBuilder(file, track=False).run(text)
        if diags:  # E0002 names the line of the first key: build again with the positions
            doc, diags = _EventBuilder(file).run(text)
        return doc, diags
    except _Stop as stop:
        return None, [stop.diag]
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem or ""):
            # libyaml builds (0.2.5 and later) stop flow nesting at 1000 levels while scanning
            # ahead, before we see the events; report our own limit at the same place every build would
            return None, [_flow_depth_diag(text, file)]
        return None, [_syntax_diag(exc, file, text)]
    except yaml.reader.ReaderError as exc:  # a control character (ESC, BEL, C1 …) the YAML reader refuses
        return None, [_control_char_diag(exc, file, text)]
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        return None, [Diagnostic("E0001", f"YAML error: {exc}", file)]


def _control_char_diag(exc: yaml.reader.ReaderError, file: str, text: str) -> Diagnostic:
    """E0001 at the character (the reader gives its offset), named by its code point only."""
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
    at = exc.position
    if _Loader is getattr(yaml, "CBaseLoader", None):  # libyaml counts UTF-8 bytes, not characters
        at = len(text.encode("utf-8")[:at].decode("utf-8", "ignore"))
    at = min(max(at, 0), len(text))
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return Diagnostic("E0001", f"control character U+{code:04X} is not allowed in YAML", file, line, col,
                      "remove it; in a double-quoted string write it as an escape (\\e, \\x1f)")


def _flow_depth_diag(text: str, file: str) -> Diagnostic:
    """E0009 at the first `[` or `{` that opens level MAX_DEPTH + 1 (quotes and comments skipped)."""
    depth = base = 0
    line, col = 1, 0
    quote = ""
    comment = False
    lines = text.split("\n")
    for ch in text:
        col += 1
        if ch == "\n":
            line, col, comment = line + 1, 0, False
            continue
        if comment:
            continue
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "#":
            comment = True
        elif ch in "[{":
            if depth == 0:  # block containers around this flow collection count as levels too
                this = lines[line - 1]
                indent = len(this) - len(this.lstrip())
                root_flow = not text[: sum(len(x) + 1 for x in lines[: line - 1]) + col - 1].strip()
                base = 0 if root_flow else 1 + indent // 2
            depth += 1
            if base + depth > MAX_DEPTH:
                return Diagnostic("E0009", f"nesting deeper than {MAX_DEPTH} levels", file, line, col,
                                  "a book file never needs this much nesting")
        elif ch in "]}":
            depth -= 1
    return Diagnostic("E0009", f"nesting deeper than {MAX_DEPTH} levels", file, hint="a book file never needs this much nesting")


class SourcePositions(Positions):
    """The positions of a document that parsed cleanly, found by parsing its text again only
    when a diagnostic first asks (most files of a book never need them); `source` is the text,
    or the file's bytes."""

    __slots__ = ("_at", "_source", "_file")

    def __init__(self, source: str | bytes, file: str) -> None:
        self._source = source
        self._file = file
        self._at: dict | None = None

    @property  # type: ignore[override]
    def at(self) -> dict[tuple, tuple[int, int]]:
        if self._at is None:
            text = self._source if isinstance(self._source, str) else decode(self._source, self._file)[0]
            try:
                doc = _EventBuilder(self._file).run(text)[0] if text is not None else None
            except (_Stop, yaml.YAMLError):  # pragma: no cover - the same text parsed cleanly before
                doc = None
            self._at, self._source = (doc.positions.at if doc is not None else {}), ""
        return self._at


class _EventBuilder:
    """Builds plain data from the parser's event stream: no resolver, no recursion, every
    value's and key's position recorded (unless `track` is False: `parse` then leaves them to
    `SourcePositions`), aliases counted against the node budget."""

    def __init__(self, file: str, track: bool = True) -> None:
        self.file = file
        self.track = track
        self.positions = Positions()
        self.diags: list[Diagnostic] = []

    def _stop(self, code: str, message: str, mark, hint: str) -> _Stop:
        return _Stop(Diagnostic(code, message, self.file, mark.line + 1, mark.column + 1, hint))

    def run(self, text: str) -> tuple[Doc | None, list[Diagnostic]]:
        track = self.track
        at = self.positions.at
        anchors: dict[str, tuple[Any, int]] = {}  # anchor → (value, expanded size)
        # stack frames: [container, path, size, anchor, is_mapping, pending_key, key_mark, merges, keys_seen]
        stack: list[list] = []
        root: Any = None
        have_root = False
        documents = 0
        total = 0

        def place(value: Any, size: int, mark, anchor: str | None, alias: bool = False) -> None:
            nonlocal root, have_root, total
            total += size if alias else 1
            if total > MAX_NODES:
                raise self._stop("E0004", f"alias expansion exceeds {MAX_NODES:,} nodes", mark,
                                 "anchors and aliases may be used, but not to multiply the document")
            if anchor:
                anchors[anchor] = (value, size)
            if not stack:
                root, have_root = value, True
                if track:
                    at.setdefault((), (mark.line + 1, mark.column + 1))
                return
            frame = stack[-1]
            frame[2] += size
            if frame[4]:  # mapping: a key, then its value
                if frame[5] is _NO_KEY:
                    if type(value) is str:
                        frame[5] = value
                    else:
                        if not isinstance(value, (str, int)) or isinstance(value, bool):
                            if value is None or isinstance(value, (Decimal, bool)):
                                value = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
                            else:
                                raise self._stop("E0001", "mapping keys must be plain words", mark, "write the key as text")
                        frame[5] = getattr(value, "source", None) or str(value) if not isinstance(value, str) else value
                    frame[6] = mark
                else:
                    key = frame[5]
                    frame[5] = _NO_KEY
                    if key == "<<" and frame[9]:
                        sources = value if isinstance(value, list) else [value]
                        for src in sources:
                            if not isinstance(src, dict):
                                raise self._stop("E0001", "'<<' merges only mappings", mark, "merge a mapping alias")
                            frame[7].append(src)
                        return
                    container = frame[0]
                    km = frame[6]
                    if key in container:
                        first = at.get(frame[1] + (key, KEY), (0, 0))[0] if track else 0
                        self.diags.append(Diagnostic("E0002", f"duplicate key '{key}' (first at line {first})",
                                                     self.file, km.line + 1, km.column + 1,
                                                     "keep one of them; YAML would silently use the last"))
                        return
                    if track:
                        path = frame[1]
                        at[path + (key, KEY)] = (km.line + 1, km.column + 1)
                        at[path + (key,)] = (mark.line + 1, mark.column + 1)
                    container[key] = value
            else:
                lst = frame[0]
                if track:
                    at[frame[1] + (len(lst),)] = (mark.line + 1, mark.column + 1)
                lst.append(value)

        scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
        mapping_end, sequence_end, alias_event = yaml.MappingEndEvent, yaml.SequenceEndEvent, yaml.AliasEvent
        document_start, stream_end = yaml.DocumentStartEvent, yaml.StreamEndEvent
        plain_seen = _PLAIN_SEEN
        loader = _Loader(text)
        try:
            get_event = loader.get_event
            while True:
                ev = get_event()
                kind = type(ev)
                if kind is scalar_event:
                    tag = ev.tag
                    if tag is not None and tag not in _ALLOWED_SHORT:
                        if tag not in _ALLOWED_TAGS:
                            raise self._stop("E0003", f"YAML tag {tag.replace(_STD, '!!')} is not allowed",
                                             ev.start_mark,
                                             "use plain values; only the standard scalar types are accepted")
                    written, style = ev.value, ev.style
                    if tag is None and not style and (ev.implicit[0] if ev.implicit else True):
                        value = plain_seen.get(written, _NO_KEY)  # plain and untagged: most scalars
                        if value is _NO_KEY:
                            value = _plain_scalar(written)
                            if len(plain_seen) < _PLAIN_SEEN_MAX:
                                plain_seen[written] = value
                    else:
                        value = _event_scalar(ev)
                    if written == "<<" and not style and stack and stack[-1][4] and stack[-1][5] is _NO_KEY:
                        stack[-1][9] = True  # a merge key
                    place(value, 1, ev.start_mark, ev.anchor)
                elif kind is mapping_start or kind is sequence_start:
                    if ev.tag is not None and ev.tag not in _ALLOWED_TAGS:
                        raise self._stop("E0003", f"YAML tag {ev.tag.replace(_STD, '!!')} is not allowed", ev.start_mark,
                                         "use plain values; only the standard scalar types are accepted")
                    if len(stack) >= MAX_DEPTH:
                        raise self._stop("E0009", f"nesting deeper than {MAX_DEPTH} levels", ev.start_mark,
                                         "a book file never needs this much nesting")
                    is_map = kind is mapping_start
                    container: Any = {} if is_map else []
                    path = self._path_for(stack) if track else ()
                    stack.append([container, path, 1, ev.anchor, is_map, _NO_KEY, None, [], None, False, ev.start_mark])
                elif kind is mapping_end or kind is sequence_end:
                    frame = stack.pop()
                    container = frame[0]
                    for src in frame[7]:
                        for k, v in src.items():
                            container.setdefault(k, v)
                    if not stack and track:
                        at[()] = (frame[10].line + 1, frame[10].column + 1)
                    place(container, frame[2], frame[10], frame[3])
                elif kind is alias_event:
                    found = anchors.get(ev.anchor)
                    if found is None:  # the parser rejects unknown aliases, so this one is still open
                        raise self._stop("E0004", f"alias *{ev.anchor} refers to the mapping or list that contains it "
                                                  "(it would expand forever)", ev.start_mark,
                                         "an alias may only refer to a finished value")
                    place(found[0], found[1], ev.start_mark, None, alias=True)
                elif kind is document_start:
                    documents += 1
                    if documents > 1:
                        raise self._stop("E0001", "more than one YAML document in the file", ev.start_mark,
                                         "remove the second '---' document")
                elif ev is None or kind is stream_end:
                    break
        finally:
            loader.dispose()
        if self.diags:
            return None, self.diags
        if not have_root or root is None:
            return None, [Diagnostic("E0007", "the file is empty", self.file, 1, 1,
                                     "write the document, or delete the file")]
        return Doc(self.file, root, self.positions if track else SourcePositions(text, self.file)), []

    def _path_for(self, stack: list[list]) -> tuple:
        if not stack:
            return ()
        frame = stack[-1]
        if frame[4]:
            key = frame[5]
            return frame[1] + ((key,) if key is not _NO_KEY else ("<key>",))
        return frame[1] + (len(frame[0]),)


_NO_KEY = object()


_ALLOWED_SHORT = {"!", None}


_PLAIN_SEEN: dict[str, Any] = {}
"""Plain scalars typed before (keys and common words, by the text): the values are immutable."""
_PLAIN_SEEN_MAX = 4096


def _plain_scalar(text: str) -> Any:
    """A plain (unquoted, untagged) scalar, typed: null, an integer as written, a Decimal, a bool, or text."""
    if text in _PLAIN_NULL:
        return None
    first = text[0]
    if first.isdigit() or first in "+-.":
        if _PLAIN_INT.match(text):
            if len(text) > 40:
                return text  # no book value is this long; the model rejects it with its position
            return YamlInt(int(text.replace("_", "")), text)
        if _PLAIN_FLOAT.match(text):
            try:
                return Decimal(text.replace("_", ""))
            except InvalidOperation:  # pragma: no cover
                return text
        return text
    if text in _PLAIN_BOOL:
        return _BOOL[text.lower()]
    return text


def _event_scalar(ev) -> Any:
    text = ev.value
    tag = ev.tag
    plain = not ev.style and (ev.implicit[0] if ev.implicit else True)
    if tag is None or tag == "!":
        if not plain or tag == "!":
            return text
        return _plain_scalar(text)
    # explicitly tagged standard scalars
    if tag == f"{_STD}str" or tag == f"{_STD}timestamp":
        return text
    if tag == f"{_STD}null":
        return None
    if tag == f"{_STD}bool":
        return _BOOL.get(text.lower(), text)
    if tag == f"{_STD}int":
        if _PLAIN_INT.match(text):
            return YamlInt(int(text.replace("_", "")), text)
        return text
    if tag == f"{_STD}float":
        try:
            value = Decimal(text.replace("_", ""))
        except InvalidOperation:
            return text
        return value if value.is_finite() else text
    return text  # pragma: no cover - other tags were rejected


def load(path: Path, file: str, root: Path | None = None) -> tuple[Doc | None, list[Diagnostic]]:
    text, diags = read_text(path, file, root=root)
    if text is None:
        return None, diags
    return parse(text, file)


def _syntax_diag(exc: yaml.MarkedYAMLError, file: str, text: str = "") -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    problem = (exc.problem or str(exc)).strip()
    lines = text.splitlines()
    if line is not None and lines and line > len(lines):  # an error at end of file: point at the last line
        line, col = len(lines), len(lines[-1]) + 1
    source = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
    tab = source.find("\t")
    if "\\t" in problem or "'\t'" in problem or "tab" in problem or 0 <= tab < (col or 0) + 1:
        if tab >= 0:
            col = tab + 1
        return Diagnostic("E0008", "tab character where YAML expects spaces", file, line, col,
                          "indent with spaces, never tabs")
    ctx = f" {exc.context}" if exc.context else ""
    return Diagnostic("E0001", f"YAML syntax error: {problem}{ctx}".strip(), file, line, col,
                      "check indentation, colons and quotes on this line and the one above")
