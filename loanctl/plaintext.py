"""Untrusted text made inert for terminals and Markdown: names, descriptions, references,
commit messages and anything else a book, a payment file, a query or git supplies.

* `inert` shows control characters and escape sequences (ESC, OSC, C0/C1, DEL, bidi
  overrides, lone surrogates) as visible escapes: ``\\x1b``, ``\\u202e``;
* `md` escapes Markdown's active characters as well (report and diff Markdown, CI summaries);
* `json_text` escapes what `json.dumps(ensure_ascii=False)` leaves raw (C1, bidi, surrogates).

Pure string functions with no imports beyond `re`: every layer may use them.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls; the Arabic letter mark, LRM/RLM, line and paragraph
# separators, bidi embeddings/overrides/isolates; lone surrogates (undecodable bytes).
_SPECIAL = "\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff"
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b-\x1f{_SPECIAL}]")  # keeps \t and \n
_ONE_LINE = re.compile(f"[\x00-\x1f{_SPECIAL}]")
_MD_ACTIVE = re.compile(r"([\\|<>*_`\[\]])")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def _visible(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def inert(text: object, one_line: bool = False, keep: str = "") -> str:
    """`text` with every control character shown as an escape (``\\x1b``); tab and newline
    are kept unless `one_line`; characters in `keep` are kept as they are."""
    pattern = _ONE_LINE if one_line else _MULTI_LINE
    visible = _visible if not keep else (lambda m: m.group() if m.group() in keep else _visible(m))
    return pattern.sub(visible, "" if text is None else str(text))


def md(value: object) -> str:
    """A value as inline Markdown text: line breaks folded to spaces, controls made visible,
    and \\ | < > * _ ` [ ] backslash-escaped (a pipe would split a table cell, `<` open HTML)."""
    text = inert(_NEWLINES.sub(" ", "" if value is None else str(value)), one_line=True)
    return _MD_ACTIVE.sub(r"\\\1", text)


def md_code(value: object) -> str:
    """A value as a Markdown code span (ids, terms, revisions); a value holding a backtick or a
    pipe (which would end the span or split a table cell) is written as `md` text instead."""
    text = inert(_NEWLINES.sub(" ", "" if value is None else str(value)), one_line=True)
    return md(text) if "`" in text or "|" in text else f"`{text}`"


_JSON_RAW = re.compile(f"[{_SPECIAL}]")


def json_text(dumped: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with DEL, C1, bidi controls and
    lone surrogates written as ``\\uXXXX`` escapes: the same data, nothing live on a terminal.
    (json.dumps already escapes C0 controls; these characters only occur inside strings.)"""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
