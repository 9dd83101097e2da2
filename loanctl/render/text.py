"""Untrusted text made inert for terminals and Markdown: names, descriptions, references,
commit messages and anything else a book, a payment file or git supplies.

* `inert` shows control characters and escape sequences (ESC, OSC, C0/C1, DEL, bidi
  overrides, lone surrogates) as visible escapes: ``\\x1b``, ``\\u202e``;
* `md` escapes Markdown's active characters as well (report and diff Markdown, CI summaries);
* `json_text` escapes what `json.dumps(ensure_ascii=False)` leaves raw (C1, bidi, surrogates);
* `console` is a rich Console that never reads markup or emoji codes in the strings it is
  given and passes every string through `inert`; `text` is the same for a rich `Text`.

No rich import at module level: `loanctl --help` stays fast.
"""

from __future__ import annotations

import functools
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


def inert(text: object, one_line: bool = False) -> str:
    """`text` with every control character shown as an escape (``\\x1b``); tab and newline
    are kept unless `one_line`."""
    return (_ONE_LINE if one_line else _MULTI_LINE).sub(_visible, "" if text is None else str(text))


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


@functools.cache
def _console_class():
    from rich.console import Console

    class PlainConsole(Console):
        """Strings are text, never markup: `[/]` in a borrower name prints as `[/]`."""

        def render_str(self, text: str, **kw):
            kw["markup"] = False
            kw["emoji"] = False
            return super().render_str(inert(text), **kw)

    return PlainConsole


def console(min_width: int | None = None, **kw):
    """A rich Console for output holding user data (at least `min_width` columns wide)."""
    cls = _console_class()
    if min_width is not None and "width" not in kw:
        from rich.console import Console
        kw["width"] = max(min_width, Console().width)
    return cls(markup=False, emoji=False, highlight=False, **kw)


def text(value: object, style: str = ""):
    """A rich Text of untrusted `value` (Text is never parsed as markup; made inert here)."""
    from rich.text import Text
    return Text(inert(value), style=style)
