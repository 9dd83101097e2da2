"""The one Jinja2 environment every loanctl template is rendered in, and the diagnostics for
templates that fail.

A book's `templates/` folder is data, not code: `template_environment` is Jinja2's
immutable sandbox (no attribute starting with `_`, no Python internals, no mutation of the
values passed in, ranges capped), its loader reads only files whose real path stays inside
their boundary (the book for a book's templates, the packaged folder for loanctl's), and
`render_template` turns any failure of a book template — syntax, undefined value, sandbox
violation, missing include, a file outside the book — into a Diagnostic (exit 1), never a
traceback. Reports, scaffolds and (later) notices all come through here.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from .diagnostics import Diagnostic, DiagnosticError

MAX_SEQUENCE = 1_000_000
"""Longest string or list a template may build with `*` (a memory bomb otherwise)."""
MAX_POWER_BITS = 100_000
"""Largest integer (in bits) a template may build with `**`."""


class TemplateOutsideBook(jinja2.TemplateError):
    """A template (or its folder) is reached through a symlink that leaves its boundary."""

    def __init__(self, path: str) -> None:
        super().__init__(f"template {path} leaves its folder")
        self.path = path


class TemplateUnreadable(jinja2.TemplateError):
    """A template file that cannot be read or is not UTF-8."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"cannot read template {path}: {why}")
        self.path, self.why = path, why


class ContainedLoader(jinja2.BaseLoader):
    """Like FileSystemLoader, but a template whose real path (symlinks resolved) is not inside
    its search path's boundary is refused, not read. Symlinks that stay inside are followed."""

    def __init__(self, search_paths: Iterable[tuple[Path, Path]]) -> None:
        self.search_paths = [(Path(p), Path(b).resolve()) for p, b in search_paths]

    def get_source(self, environment, template: str):
        pieces = jinja2.loaders.split_template_path(template)  # refuses '..'; '/etc/x' is 'etc/x' here
        for folder, boundary in self.search_paths:
            candidate = folder.joinpath(*pieces)
            if not os.path.lexists(candidate):
                continue
            real = Path(os.path.realpath(candidate))
            if not real.is_relative_to(boundary):
                raise TemplateOutsideBook(str(candidate))
            if not real.is_file():
                continue
            try:
                fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                with os.fdopen(fd, "rb") as f:
                    source = f.read().decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise TemplateUnreadable(str(candidate), getattr(exc, "strerror", None) or "not valid UTF-8") from None
            mtime = os.path.getmtime(real)
            return source, str(candidate), lambda: os.path.exists(real) and os.path.getmtime(real) == mtime
        raise jinja2.TemplateNotFound(template)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with `*` and `**` unable to build giant values."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 \
                and abs(left) > 1 and right * left.bit_length() > MAX_POWER_BITS:
            raise SecurityError("the sandbox refuses a power this large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                    raise SecurityError("the sandbox refuses to build a string or list this long")
        return super().call_binop(context, operator, left, right)


def template_environment(search_paths: Iterable[Path], autoescape_html: bool, *, book_root: Path | None = None,
                         filters: dict[str, Callable] | None = None) -> jinja2.Environment:
    """The sandboxed environment over `search_paths`, searched in order. A path under
    `book_root` may reach anything inside the book and nothing outside it (a templates
    folder that is itself a symlink out of the book is refused here, E0016); any other path
    only itself. `autoescape_html` escapes every `{{ }}` for HTML outputs. StrictUndefined:
    a missing value is an error, never an empty string."""
    pairs = []
    book = book_root.resolve() if book_root is not None else None
    for path in map(Path, search_paths):
        inside = book_root is not None and Path(os.path.abspath(path)).is_relative_to(os.path.abspath(book_root))
        if inside and not path.resolve().is_relative_to(book):
            raise DiagnosticError([_outside(str(path))])
        pairs.append((path, book if inside else path))
    env = _Sandbox(loader=ContainedLoader(pairs), autoescape=autoescape_html, undefined=jinja2.StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(filters or {})
    env.loanctl_book = book  # for render_template: which failures are the book's
    return env


def render_template(env: jinja2.Environment, name: str, **values: Any) -> str:
    """Render `name`; a failure in a book's template is a DiagnosticError (E0016–E0019).
    A failure inside loanctl's own templates is a bug and propagates."""
    try:
        return env.get_template(name).render(**values)
    except TemplateOutsideBook as exc:
        raise DiagnosticError([_outside(exc.path)]) from None
    except TemplateUnreadable as exc:
        raise DiagnosticError([Diagnostic("E0015", f"template cannot be read: {exc.why}", file=_shown(exc.path),
                                          hint="save the template as UTF-8 text")]) from None
    except Exception as exc:  # noqa: BLE001 - sorted below: the book's fault or loanctl's
        diag = _book_failure(env, exc)
        if diag is None:
            raise
        raise DiagnosticError([diag]) from None


def _outside(path: str) -> Diagnostic:
    # No line: the text renderer would print that line of the file, which lies outside the book.
    return Diagnostic("E0016", "template is reached through a symlink that leaves the book; it is not read",
                      file=_shown(path),
                      hint="copy the template into the book's templates/ folder instead of linking to it")


def _book_failure(env, exc: Exception) -> Diagnostic | None:
    book = getattr(env, "loanctl_book", None)
    if book is None:
        return None
    syntax = isinstance(exc, jinja2.TemplateSyntaxError) and bool(exc.filename) and _in(exc.filename, book)
    file, line = (exc.filename, exc.lineno) if syntax else _book_frame(exc, book)
    if file is None:
        return None
    where = dict(file=_shown(file), line=line)
    if syntax:
        return Diagnostic("E0017", f"template syntax error: {exc.message}", **where,
                          hint="fix the template (see the Jinja2 template documentation)")
    if isinstance(exc, SecurityError) or (isinstance(exc, OverflowError) and "sandbox" in str(exc)):
        return Diagnostic("E0018", f"template refused by the sandbox: {_first_line(exc)}", **where,
                          hint="book templates may only format the values loanctl passes in: no attributes "
                               "starting with '_', no Python internals, no files, ranges of at most "
                               f"{jinja2.sandbox.MAX_RANGE:,} items")
    if isinstance(exc, jinja2.TemplateNotFound):
        return Diagnostic("E0019", f"template includes {exc.name!r}, which is not in the book's templates/ "
                                   "or loanctl's", **where,
                          hint="include only templates by their name inside templates/ (no '..', no absolute paths)")
    return Diagnostic("E0019", f"template failed: {_first_line(exc)}", **where,
                      hint="a value the template uses is missing or of another kind; compare with loanctl's "
                           "packaged template of the same name")


def _book_frame(exc: Exception, book: Path) -> tuple[str | None, int | None]:
    """The innermost traceback frame that is a book template (Jinja2 rewrites template frames
    to the template's file and line): a packaged template that fails because a book template
    included it with the wrong values is still the book's error, reported where it included."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".py") or frame.filename.startswith("<"):
            continue
        if _in(frame.filename, book):
            return frame.filename, frame.lineno
    return None, None


def _in(file: str, book: Path) -> bool:
    return Path(os.path.realpath(file)).is_relative_to(book)


def _shown(path: str) -> str:
    """The path as reached (the link's name, not its target), relative to the current folder
    when below it."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
