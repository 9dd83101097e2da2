"""Rich output of untrusted text (the text functions themselves are `loanctl.plaintext`):

* `console` is a rich Console that never reads markup or emoji codes in the strings it is
  given and passes every string through `inert`; `text` is the same for a rich `Text`.

No rich import at module level: `loanctl --help` stays fast.
"""

from __future__ import annotations

import functools

from ..plaintext import inert, json_text, md, md_code  # noqa: F401  (the renderers' text tools)


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
