"""Renderers of notices and statements: Markdown, HTML and text from the Jinja2 templates
`templates/notices/<kind>.<ext>.j2` (a book's own `templates/notices/` first, through the one
sandboxed factory `loanctl.templating`), JSON with every figure as a string, and PDF from the
HTML through WeasyPrint (the optional extra `loanctl[pdf]`) with every URL refused.

Everything is rendered to bytes before anything is written, so a failing template writes
nothing; no timestamps, so the same book and ledger give byte-identical files.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Iterable

from ..diagnostics import Diagnostic, DiagnosticError
from ..notices.build import Notice
from ..notices.statement import Statement
from ..plaintext import inert, json_text, md
from .report import amount

FORMATS = ("md", "html", "txt", "json", "pdf")
TEMPLATE_EXT = {"md": "md", "html": "html", "txt": "txt", "pdf": "html"}


def rate_pct(value) -> str:
    """A rate string as a percentage with at least two places: 0.0575 → 5.75%, 0.043125 → 4.3125%."""
    if value is None:
        return "—"
    x = (Decimal(value) * 100).normalize()
    places = max(2, -x.as_tuple().exponent)
    return f"{x:.{places}f}%"


def notice_env(book_root: Path | None, html: bool):
    """The sandboxed environment: the book's templates/ first, then loanctl's (as the report)."""
    from ..resources import resource_dir
    from ..templating import template_environment

    paths = []
    if book_root is not None and os.path.lexists(book_root / "templates"):
        paths.append(book_root / "templates")
    paths.append(resource_dir("templates"))
    return template_environment(paths, html, book_root=book_root,
                                filters={"amount": amount, "rate_pct": rate_pct, "md": md, "nonzero": lambda v: Decimal(v) != 0,
                                         "txt": lambda v: inert("" if v is None else v)})


def pdf_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):  # OSError: the Python package is there but pango is not
        return False
    return True


def pdf_missing() -> Diagnostic:
    return Diagnostic("E0702", "PDF output needs WeasyPrint, which is not installed here",
                      hint='pip install "loanctl[pdf]" (and the pango library: apt-get install '
                           'libpango-1.0-0 libpangoft2-1.0-0), or choose --format html')


def _refuse_urls(url: str, *args, **kwargs):
    raise ValueError(f"notices load nothing from outside the page ({url[:80]})")


def html_to_pdf(html: str) -> bytes:
    """The page as PDF; the page may load no URL at all (no network, no local files)."""
    import logging

    import weasyprint
    logging.getLogger("weasyprint").setLevel(logging.ERROR)  # a refused URL is expected, not news
    # fontTools stamps each embedded font subset with the time unless SOURCE_DATE_EPOCH is set
    # (reproducible builds); a fixed stamp makes the same notice the same bytes.
    saved = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "0"
    try:
        return weasyprint.HTML(string=html, url_fetcher=_refuse_urls, base_url="about:blank").write_pdf()
    finally:
        if saved is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def render_document(kind: str, data: dict, fmt: str, book_root: Path | None) -> bytes:
    """One notice or statement (`kind` billing · rate_set · payment · statement) in `fmt`."""
    if fmt == "json":
        return (json_text(json.dumps(data, indent=2, ensure_ascii=False)) + "\n").encode("utf-8")
    if fmt == "pdf" and not pdf_available():
        raise DiagnosticError([pdf_missing()])
    from ..templating import render_template
    ext = TEMPLATE_EXT[fmt]
    text = render_template(notice_env(book_root, ext == "html"), f"notices/{kind}.{ext}.j2", n=data, pdf=fmt == "pdf")
    if fmt == "pdf":
        return html_to_pdf(text)
    return text.encode("utf-8")


def notice_files(notices: Iterable[Notice], fmt: str, book_root: Path | None) -> list[tuple[str, bytes]]:
    """(`<date>/<deal>-<facility>-<kind>-<party>.<ext>`, content) of every notice."""
    return [(f"{n.date.isoformat()}/{n.stem}.{fmt}", render_document(n.kind, n.data, fmt, book_root))
            for n in notices]


def statement_bytes(statement: Statement, fmt: str, book_root: Path | None) -> bytes:
    return render_document("statement", statement.data, fmt, book_root)


def write_files(out: Path, files: list[tuple[str, bytes]]) -> list[Path]:
    """Write each file below `out` (a temporary name, then renamed); an identical file is
    left as it is. Returns the paths written or confirmed."""
    written = []
    for rel, content in files:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not (path.is_file() and path.read_bytes() == content):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(content)
            os.replace(tmp, path)
        written.append(path)
    return written
