"""Book templates are data, not code (issue #11, class 1, and the templates/ part of class 6).

Each hostile template below is put in a valid book's `templates/` folder and rendered
through the real command line, `loanctl report --fund fund-i --format html|md --out FILE`,
with the current folder inside the test's tmp folder (so a `touch PWNED` that ran would land
there). Every attack must end with exit 1, its diagnostic code at the template's file and
line, no traceback, no PWNED file anywhere under tmp, nothing written to FILE, and none of
the content of a file outside the book echoed.

Expected lines are stated by pointing at the template text (`pos`), not read back from
loanctl.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bookfactory import book_with, invoke, pos, write_book

AS_OF = "2025-06-30"  # acme-tl (fund-i 60%, fund-i-spv 40%) is funded since 2025-01-15
SECRET = "TOPSECRET-7f3a"  # the content of files outside the book: never printed
HOSTILE = "<script>alert(1)</script>"
PREAMBLE = "<p>report</p>\n"  # so the attack sits on line 2

ATTACKS = [
    # (id, template text, code, the text on the line the diagnostic points at)
    ("mro-subclasses", PREAMBLE + "{{ ''.__class__.__mro__[1].__subclasses__() }}\n", "E0018", "__class__"),
    ("cycler-globals-os", PREAMBLE + "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}\n", "E0018",
     "cycler"),
    ("template-reference-context", PREAMBLE + "{{ self._TemplateReference__context }}\n", "E0018", "self."),
    ("lipsum-globals", PREAMBLE + "{{ lipsum.__globals__['os'].system('touch PWNED') }}\n", "E0018", "lipsum"),
    ("range-limit", PREAMBLE + "{% for x in range(10**9) %}{{ x }}{% endfor %}\n", "E0018", "range"),
    ("mutate-passed-value", PREAMBLE + "{{ r.positions.append(1) }}\n", "E0018", "append"),
    ("string-bomb", PREAMBLE + "{{ 'a' * 2000000 }}\n", "E0018", "'a'"),  # 2,000,000 > 1,000,000 items
    ("power-bomb", PREAMBLE + "{{ 2 ** 10000000 }}\n", "E0018", "**"),  # 10,000,001 bits > 100,000
    ("include-etc-passwd", PREAMBLE + "{% include '/etc/passwd' %}\n", "E0019", "/etc/passwd"),
    ("include-dotdot", PREAMBLE + "{% include '../../x' %}\n", "E0019", "../../x"),
    ("syntax-error", PREAMBLE + "{% for %}\n", "E0017", "{% for %}"),
    ("undefined-value", PREAMBLE + "{{ nothing.here }}\n", "E0019", "nothing"),
    # a packaged scaffold included without its filters fails inside loanctl's file: still the book's error
    ("include-packaged-scaffold", PREAMBLE + "{% include 'deal.yaml.j2' %}\n", "E0019", "deal.yaml.j2"),
]


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A valid book, the current folder inside tmp, and secrets outside the book where the
    attacks look for them (`../../x` from templates/ is tmp_path/x)."""
    monkeypatch.chdir(tmp_path)
    root = write_book(tmp_path)
    (tmp_path / "x").write_text(SECRET + " x\n", encoding="utf-8")
    (tmp_path / "secret.j2").write_text(SECRET + " {{ 1 }}\n", encoding="utf-8")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "report.html.j2").write_text(SECRET + " dir\n", encoding="utf-8")
    (tmp_path / "outside" / "report.md.j2").write_text(SECRET + " dir\n", encoding="utf-8")
    (root / "templates").mkdir()
    return root


def report(root: Path, fmt: str, out: Path):
    result = invoke(["--book", str(root), "report", "--fund", "fund-i", "--as-of", AS_OF, "--format", fmt,
                     "--out", str(out)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def assert_refused(tmp_path: Path, result, out: Path, code: str, file: str, line: int | None):
    """Exit 1 with `code` at file[:line], nothing written, nothing run, no secret echoed."""
    output = result.stdout + result.stderr
    assert result.exit_code == 1, output
    where = f"{file}:{line}" if line is not None else file
    assert re.search(rf"(^|/){re.escape(where)}: error\[{code}\]", result.stderr, re.M), result.stderr
    assert "Traceback" not in output
    assert not out.exists()
    assert not [p for p in tmp_path.rglob("*") if p.name == "PWNED"]
    assert SECRET not in output
    assert "root:x:0:0" not in output


@pytest.mark.parametrize("fmt", ["html", "md"])
@pytest.mark.parametrize("name, text, code, needle", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_hostile_book_template_is_refused(book, tmp_path, fmt, name, text, code, needle):
    template = f"report.{fmt}.j2"
    (book / "templates" / template).write_text(text, encoding="utf-8")
    out = tmp_path / f"out.{fmt}"
    result = report(book, fmt, out)
    line, _ = pos(text, needle)
    assert line == 2
    assert_refused(tmp_path, result, out, code, f"templates/{template}", line)


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_template_symlinked_to_a_file_outside_the_book_is_not_read(book, tmp_path, fmt):
    (book / "templates" / f"report.{fmt}.j2").symlink_to(tmp_path / "secret.j2")
    out = tmp_path / f"out.{fmt}"
    result = report(book, fmt, out)
    # no line: the diagnostic names the link; printing a line would print the target's text
    assert_refused(tmp_path, result, out, "E0016", f"templates/report.{fmt}.j2", None)


def test_templates_folder_symlinked_out_of_the_book_is_refused(book, tmp_path):
    (book / "templates").rmdir()
    (book / "templates").symlink_to(tmp_path / "outside", target_is_directory=True)
    out = tmp_path / "out.html"
    assert_refused(tmp_path, report(book, "html", out), out, "E0016", "book/templates", None)


def test_include_through_a_folder_symlinked_out_of_the_book_is_refused(book, tmp_path):
    (book / "templates" / "parts").symlink_to(tmp_path / "outside", target_is_directory=True)
    (book / "templates" / "report.html.j2").write_text("{% include 'parts/report.html.j2' %}\n", encoding="utf-8")
    out = tmp_path / "out.html"
    assert_refused(tmp_path, report(book, "html", out), out, "E0016", "templates/parts/report.html.j2", None)


def test_include_of_an_absolute_path_to_a_file_outside_the_book_is_not_found(book, tmp_path):
    text = PREAMBLE + "{% include '" + str(tmp_path / "secret.j2") + "' %}\n"
    (book / "templates" / "report.html.j2").write_text(text, encoding="utf-8")
    out = tmp_path / "out.html"
    assert_refused(tmp_path, report(book, "html", out), out, "E0019", "templates/report.html.j2", 2)


def test_template_extending_itself_is_a_diagnostic_not_a_recursion_crash(book, tmp_path):
    (book / "templates" / "report.html.j2").write_text("{% extends 'report.html.j2' %}\n", encoding="utf-8")
    out = tmp_path / "out.html"
    assert_refused(tmp_path, report(book, "html", out), out, "E0019", "templates/report.html.j2", 1)


def test_template_that_is_not_utf8_is_unreadable(book, tmp_path):
    (book / "templates" / "report.html.j2").write_bytes(b"caf\xe9 {{ 1 }}\n")
    out = tmp_path / "out.html"
    assert_refused(tmp_path, report(book, "html", out), out, "E0015", "templates/report.html.j2", None)


def test_symlink_that_stays_inside_the_book_is_followed(book, tmp_path):
    (book / "templates" / "shared").mkdir()
    (book / "templates" / "shared" / "page.j2").write_text("<h1>{{ r.book_name }}</h1>\n", encoding="utf-8")
    (book / "templates" / "report.html.j2").symlink_to("shared/page.j2")
    out = tmp_path / "out.html"
    result = report(book, "html", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8") == "<h1>Test Credit Partners</h1>\n"


# --- autoescape ------------------------------------------------------------------------------
def hostile_book(tmp_path) -> Path:
    return write_book(tmp_path, book_yaml=book_with("name: Acme Industrial Inc.", 'name: "' + HOSTILE + '"'))


def test_book_html_template_autoescapes_a_hostile_borrower_name(tmp_path):
    root = hostile_book(tmp_path)
    (root / "templates").mkdir()
    (root / "templates" / "report.html.j2").write_text(
        "{% for p in r.positions %}<li>{{ p.borrower_name }}</li>\n{% endfor %}", encoding="utf-8")
    out = tmp_path / "out.html"
    result = report(root, "html", out)
    assert result.exit_code == 0, result.stderr
    # one line per position: acme-tl's single facility, held by fund-i and its SPV in one row
    assert out.read_text(encoding="utf-8") == "<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>\n"


def test_packaged_html_template_autoescapes_a_hostile_borrower_name(tmp_path):
    root = hostile_book(tmp_path)
    out = tmp_path / "out.html"
    result = report(root, "html", out)
    assert result.exit_code == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html


# --- every environment is the sandbox ----------------------------------------------------------
def test_every_loanctl_environment_is_the_immutable_sandbox(tmp_path):
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    from loanctl.origination import scaffold as scaffold
    from loanctl.render import report as render_report

    for env in (scaffold.template_env(), render_report.template_env(None), render_report.template_env(tmp_path)):
        assert isinstance(env, ImmutableSandboxedEnvironment)
        with pytest.raises(SecurityError):
            env.from_string("{{ ''.__class__ }}").render()
    assert scaffold.template_env().autoescape is False  # YAML and shell scaffolds
    assert render_report.template_env(None).autoescape is True
    assert render_report.template_env(None, autoescape_html=False).autoescape is False
