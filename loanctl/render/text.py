"""Rich output of untrusted text (the text functions themselves are `loanctl.plaintext`):

* `console` is a rich Console that never reads markup or emoji codes in the strings it is
  given and passes every string through `inert`; `text` is the same for a rich `Text`;
* `print_table` prints a rich Table without ever cutting a figure (`print_side_by_side`
  for tables shown next to each other).

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


FOLD_WORDS_LONGER_THAN = 40
"""In a text column a word this long is no figure (a reference, a path): it may fold."""
_UNLIMITED = 1 << 20


def print_table(console, table) -> None:
    """Print `table` so that no figure is ever cut (a truncated amount reads as another amount).

    Figure columns (no_wrap or right-aligned: amounts, rates, counts) keep every cell whole on
    one line; text columns wrap between words and never break a word of up to
    FOLD_WORDS_LONGER_THAN characters. Where the table cannot fit the console that way it is
    printed wider than the console (not cropped: a terminal wraps the long lines, a file or a
    pager keeps them). A table that fits prints exactly as rich would print it."""
    _keep_figures_whole(console, table)
    console.print(table, crop=False)


def print_side_by_side(console, tables: list) -> None:
    """Tables next to each other where they fit at their full width, else one after another."""
    from rich.columns import Columns
    from rich.measure import Measurement

    wide = console.options.update_width(_UNLIMITED)
    for t in tables:
        _keep_figures_whole(console, t)
    natural = sum(Measurement.get(console, wide, t).maximum for t in tables) + 2 * (len(tables) - 1)
    if natural <= console.options.max_width:
        console.print(Columns(tables))
        return
    for t in tables:
        console.print(t, crop=False)


def _keep_figures_whole(console, table) -> None:
    """Give every column of `table` a minimum width (a figure column its widest cell, and no
    wrapping; a text column its longest word up to FOLD_WORDS_LONGER_THAN, longer words fold)
    and, where the columns at those widths are wider than the console, the table that width:
    rich then narrows only text columns (left alone, it would narrow every column, figures too)."""
    from rich.measure import Measurement

    wide = console.options.update_width(_UNLIMITED)
    for column in table.columns:
        measured = [Measurement.get(console, wide, cell) for cell in (column.header, *column.cells)]
        if column.no_wrap or column.justify == "right":
            column.no_wrap = True
            least = max(m.maximum for m in measured)
        else:
            column.overflow = "fold"
            least = min(max(m.minimum for m in measured), FOLD_WORDS_LONGER_THAN)
        column.min_width = max(column.min_width or 0, least)
    need = Measurement.get(console, wide, table).minimum
    if table.width is None and need > console.options.max_width:
        table.width = need
