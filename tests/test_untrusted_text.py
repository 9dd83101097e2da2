"""Untrusted text is inert (issue #11, class 7): names, descriptions, references, commit
messages and command-line text are printed as plain text.

* rich markup in a name (`Acme [/] [bold red]x` crashed commands) prints as written;
* control characters and escape sequences (ESC, OSC `\\x1b]0;…\\x07`, C0/C1 such as `\\x1f`,
  `\\x9b`, DEL, the bidi override U+202E) are shown as visible escapes (`\\x1b`, `\\u202e`),
  never written raw to a terminal or a text/Markdown file;
* Markdown outputs (`report --format md`, `diff --format md`) escape the text the same way
  (one function, `loanctl.render.text.md`);
* `history` survives any commit message or author (markup, controls, \\x1e/\\x1f, invalid
  UTF-8, one megabyte, empty);
* a command-line argument that is not valid UTF-8 is a usage error (exit 2, E0021).

Every case runs the real command line in a fresh interpreter (`python -m loanctl`). The
expected visible forms are written out by hand below.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bookfactory import BOOK_YAML, DEAL_YAML, pos, run_cli_subprocess, write_book, write_file
from loanctl.render.text import inert, md

# The hostile name, as a YAML double-quoted scalar (\e is ESC, \a is BEL)...
HOSTILE_YAML = r'"Acme [/] [bold red]x \e]0;OSC\a \e[31mRED \x9b2J \x1f \x7f \u202eRLO"'
# ...the text it stands for...
HOSTILE = "Acme [/] [bold red]x \x1b]0;OSC\x07 \x1b[31mRED \x9b2J \x1f \x7f \u202eRLO"
# ...and how it must be shown: every control character as a backslash escape, markup as is.
SHOWN = r"Acme [/] [bold red]x \x1b]0;OSC\x07 \x1b[31mRED \x9b2J \x1f \x7f \u202eRLO"
# In Markdown: also \ | < > * _ ` [ ] backslash-escaped (so a shown "\x1b" becomes "\\x1b").
SHOWN_MD = r"Acme \[/\] \[bold red\]x \\x1b\]0;OSC\\x07 \\x1b\[31mRED \\x9b2J \\x1f \\x7f \\u202eRLO"

RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\x1f", "\x7f", "\u202e", "\x1e")


def assert_inert(text: str) -> None:
    raw = [c for c in RAW_CONTROLS if c in text]
    assert not raw, f"raw control characters {raw!r} in output:\n{text!r}"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    result = run_cli_subprocess(list(args), cwd=cwd, env={"COLUMNS": "400"})
    out = result.stdout + result.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert_inert(out)
    return result


@pytest.fixture
def hostile_book(tmp_path: Path) -> Path:
    """The borrower's and the deal's names are HOSTILE; the deal is funded (report shows it)."""
    book = BOOK_YAML.replace("name: Acme Industrial Inc.,", f"name: {HOSTILE_YAML},")
    deal = DEAL_YAML.replace("name: Acme Industrial Senior Secured Term Loan", f"name: {HOSTILE_YAML}")
    assert book != BOOK_YAML and deal != DEAL_YAML
    return write_book(tmp_path, book_yaml=book, deals={"acme-tl": deal})


# --- the text functions --------------------------------------------------------------------------
def test_inert_shows_every_control_character_as_an_escape():
    assert inert(HOSTILE) == SHOWN
    assert inert("tab\tand\nnewline stay; \r does not") == "tab\tand\nnewline stay; \\x0d does not"
    assert inert("one\nline\t", one_line=True) == "one\\x0aline\\x09"
    assert inert("\u2028\u2066x\u2069\u200f") == "\\u2028\\u2066x\\u2069\\u200f"
    assert inert("\udcff") == "\\udcff"  # an undecodable byte kept by Python as a lone surrogate
    assert inert("Crème brûlée — 5.75% · ✓") == "Crème brûlée — 5.75% · ✓"  # ordinary text is untouched
    assert inert(None) == ""


def test_md_escapes_like_the_reports_markdown():
    assert md(HOSTILE) == SHOWN_MD
    assert md("a|b <i>x</i> *y* _z_ `c` [l](u) \\") == r"a\|b \<i\>x\</i\> \*y\* \_z\_ \`c\` \[l\](u) \\"
    assert md("two\r\nlines\nand\rthree") == "two lines and three"
    assert md(None) == ""


# --- rich markup and escapes in names: show, schedule, report, validate ---------------------------
def test_show_prints_a_hostile_name_as_plain_text(hostile_book):
    r = cli("--book", str(hostile_book), "show", "acme-tl", "--as-of", "2026-01-31")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].rstrip() == f"{SHOWN} (acme-tl)"


def test_show_and_report_json_escape_c1_and_bidi_characters(hostile_book):
    for args in (["show", "acme-tl", "--as-of", "2026-01-31", "--format", "json"],
                 ["report", "--book", "--as-of", "2026-01-31", "--format", "json"]):
        r = cli("--book", str(hostile_book), *args)
        assert r.returncode == 0, r.stderr
        assert "\\u001b]0;OSC\\u0007 \\u001b[31mRED \\u009b2J \\u001f \\u007f \\u202eRLO" in r.stdout
    assert json.loads(r.stdout)["positions"][0]["borrower_name"] == HOSTILE  # the same data


def test_schedule_table_with_a_hostile_name(hostile_book):
    r = cli("--book", str(hostile_book), "schedule", "acme-tl", "--format", "table")
    assert r.returncode == 0, r.stderr
    assert "acme-tl · tl · USD" in r.stdout


def test_report_text_prints_a_hostile_borrower_name_as_plain_text(hostile_book):
    r = cli("--book", str(hostile_book), "report", "--book", "--as-of", "2026-01-31")
    assert r.returncode == 0, r.stderr
    assert SHOWN in r.stdout  # the concentration table's borrower row


def test_report_text_to_a_file_is_inert(hostile_book, tmp_path):
    out = tmp_path / "report.txt"
    r = cli("--book", str(hostile_book), "report", "--book", "--as-of", "2026-01-31", "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert_inert(text)
    assert SHOWN in text


def test_report_markdown_escapes_a_hostile_name(hostile_book):
    r = cli("--book", str(hostile_book), "report", "--book", "--as-of", "2026-01-31", "--format", "md")
    assert r.returncode == 0, r.stderr
    assert f"| {SHOWN_MD} | 25,000,000.00 | 100.00% | **above limit** |" in r.stdout  # borrower concentration


def test_validate_quotes_hostile_text_inertly(tmp_path):
    """A key holding markup and ESC (E0101 quotes it in the message); a raw ESC in a YAML
    comment (libyaml refuses it: E0001) and in a rate file row (E0302, the line quoted)."""
    deal = DEAL_YAML.replace("  sourced_by: j.smith\n", '  "[/] [bold]\\e[31mx": 1\n  sourced_by: j.smith\n')
    root = write_book(tmp_path / "a", deals={"acme-tl": deal})
    r = cli("--book", str(root), "validate")
    assert r.returncode == 1
    assert "error[E0101]: unknown key '[/] [bold]\\x1b[31mx'" in r.stdout, r.stdout

    text = DEAL_YAML + "# é \x1b]0;pwned\x07 \x1b[2J\n"
    root = write_book(tmp_path / "b", deals={"acme-tl": text})
    r = cli("--book", str(root), "validate")
    line, column = pos(text, "\x1b")  # the first ESC, counted in characters (é is one)
    assert r.returncode == 1
    assert f"acme-tl/deal.yaml:{line}:{column}: error[E0001]: control character U+001B is not allowed in YAML" \
        in r.stdout, r.stdout
    assert f" {line} | # é \\x1b]0;pwned\\x07 \\x1b[2J" in r.stdout, r.stdout  # the source line, made visible
    for fmt in ("json", "github"):
        r = cli("--book", str(root), "validate", "--format", fmt)
        assert r.returncode == 1 and "E0001" in r.stdout

    rates = "date,rate\n2025-01-02,0.043\n2025-01-03\x1b]0;pwned\x07\x1b[2J,0.043\n"
    root = write_book(tmp_path / "c", rates={"SOFR-3M": rates})
    r = cli("--book", str(root), "validate")
    assert r.returncode == 1 and "SOFR-3M.csv:3:1: error[E0302]" in r.stdout, r.stdout
    assert " 3 | 2025-01-03\\x1b]0;pwned\\x07\\x1b[2J,0.043" in r.stdout  # the quoted line, made visible
    for fmt in ("json", "github"):
        r = cli("--book", str(root), "validate", "--format", fmt)
        assert r.returncode == 1 and "E0302" in r.stdout


def test_validate_json_escapes_c1_and_bidi_characters(tmp_path):
    deal = DEAL_YAML.replace("  sourced_by: j.smith\n", '  "k\\x9b\\u202e\\e": 1\n  sourced_by: j.smith\n')
    root = write_book(tmp_path, deals={"acme-tl": deal})
    r = cli("--book", str(root), "validate", "--format", "json")
    assert r.returncode == 1
    assert "unknown key 'k\\u009b\\u202e\\u001b'" in r.stdout  # JSON escapes, not raw characters
    assert json.loads(r.stdout)[0]["message"] == "unknown key 'k\x9b\u202e\x1b'"  # the same data


# --- payment files and command-line text --------------------------------------------------------
def test_post_payments_reports_a_hostile_deal_and_reference_inertly(tmp_path):
    root = write_book(tmp_path)
    bank = write_file(tmp_path, "bank.csv", "payment_id,deal,date,amount,type,reference\n"
                                            "p-1,\x1b]0;pwn\x07[/]x,2025-04-15,100.00,,\x1b[31m[bold]ref\n")
    r = cli("--book", str(root), "post-payments", str(bank), "--posting-day", "2026-12-01")
    assert r.returncode == 1
    assert "E0404" in r.stderr and "'\\x1b]0;pwn\\x07[/]x'" in r.stderr, r.stderr
    assert not (root / "payments").exists()


def test_argument_that_is_not_utf8_is_a_usage_error(tmp_path):
    """E0021: a deal id passed as the bytes b'ab\\xffc' (Python keeps the byte as a lone
    surrogate); every command answers with a usage error, exit 2, never exit 3."""
    root = write_book(tmp_path)
    bad = os.fsdecode(b"ab\xffc")
    for args in (["show", bad], ["schedule", bad], ["validate", bad], ["history", bad],
                 ["amend", "acme-tl", "--effective", "2026-07-15", "--set", "tl.interest.spread=525bps",
                  "--description", bad]):
        r = cli("--book", str(root), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("loanctl: error[E0021]: argument "), r.stderr
        assert "is not valid UTF-8: ab\\xffc" in r.stderr, r.stderr
    assert not (root / "acme-tl" / "amendments").exists()


def test_escape_sequences_in_an_argument_are_shown_not_played(tmp_path):
    root = write_book(tmp_path)
    r = cli("--book", str(root), "show", "\x1b]0;pwned\x07\x1b[2J")
    assert r.returncode == 2
    assert "unknown deal '\\x1b]0;pwned\\x07\\x1b[2J'" in r.stderr, r.stderr


# --- git: history and diff -------------------------------------------------------------------------
def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, input=input, capture_output=True,
                          check=True).stdout.decode("utf-8", "replace").strip()


def raw_commit(repo: Path, message: bytes, author: bytes = b"t") -> None:
    """Commit the work tree with exactly these message and author bytes (git commit would
    re-encode a message that is not UTF-8; a hand-written commit object keeps the bytes)."""
    git(repo, "add", "-A")
    tree = git(repo, "write-tree")
    parent = git(repo, "rev-parse", "HEAD")
    ident = author + b" <t@example.com> 1767225600 +0000"
    body = (b"tree " + tree.encode() + b"\nparent " + parent.encode() + b"\nauthor " + ident
            + b"\ncommitter " + ident + b"\n\n" + message)
    commit = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", "--literally", input=body)
    git(repo, "update-ref", "HEAD", commit)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = write_book(tmp_path)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the book")
    return root


MESSAGES = [
    ("markup and controls", "Reprice [/] [bold red]x \x1b]0;pwn\x07 \x1f\x1e \u009b2J \u202eevil".encode(),
     r"Reprice [/] [bold red]x \x1b]0;pwn\x07 \x1f\x1e \x9b2J \u202eevil"),
    ("invalid UTF-8", b"caf\xe9 \xff\xfe", "caf\ufffd \ufffd\ufffd"),
    ("one megabyte", b"m" * 1_000_000, "m" * 1_000_000),
    ("empty", b"", ""),
]


def test_history_survives_any_commit_message_and_author(repo):
    for i, (_, message, _) in enumerate(MESSAGES):
        with (repo / "acme-tl" / "deal.yaml").open("a", encoding="utf-8") as fh:
            fh.write(f"# edit {i}\n")
        raw_commit(repo, message, author=b"Eve [/] \x1b[31mred\x07 \x1f" if i == 0 else b"t")

    r = cli("history", "acme-tl", cwd=repo)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    messages = [lines[i + 1][4:] for i, line in enumerate(lines) if line[:10].isalnum() and "  " in line]
    # newest first: the four hostile commits, then the first commit
    assert messages == [shown for _, _, shown in reversed(MESSAGES)] + ["the book"]
    assert any(r"Eve [/] \x1b[31mred\x07 \x1f <t@example.com>" in line for line in lines), r.stdout

    r = cli("history", "acme-tl", "--format", "json", cwd=repo)
    assert r.returncode == 0, r.stderr
    entries = json.loads(r.stdout)
    expected = ["Reprice [/] [bold red]x \x1b]0;pwn\x07 \x1f\x1e \u009b2J \u202eevil", "caf\ufffd \ufffd\ufffd",
                "m" * 1_000_000, ""]
    assert [e["message"] for e in entries] == list(reversed(expected)) + ["the book"]
    assert entries[-2]["author"] == "Eve [/] \x1b[31mred\x07 \x1f"


def test_diff_markdown_and_text_escape_a_hostile_amendment(repo):
    description = "a|b <img src=x> [x](http://e) *y* \x1b[31m`c`"
    write_file(repo, "acme-tl/amendments/001-x.yaml",
               "id: 001-x\neffective_date: 2026-07-15\n"
               f"description: {json.dumps(description)}\n"
               "approvals: [{by: ic, role: credit_committee, date: 2026-07-01, decision: approved}]\n"
               "changes:\n  - {facility: tl, set: {interest.spread: 525bps}}\n")
    r = cli("diff", "--as-of", "2026-08-01", "--format", "md", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert ("- new amendment **001-x**, effective 2026-07-15: "
            r"a\|b \<img src=x\> \[x\](http://e) \*y\* \\x1b\[31m\`c\`") in r.stdout.splitlines(), r.stdout
    assert "  - `facilities.tl.interest.spread → 525bps`" in r.stdout.splitlines()

    r = cli("diff", "--as-of", "2026-08-01", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "  + amendment 001-x effective 2026-07-15: a|b <img src=x> [x](http://e) *y* \\x1b[31m`c`" \
        in r.stdout.splitlines(), r.stdout


def test_diff_markdown_revision_names_cannot_break_out_of_their_code_span(repo):
    git(repo, "branch", "x`|y")
    r = cli("diff", "x`|y", "HEAD", "--as-of", "2026-08-01", "--format", "md", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == r"### loanctl: deal changes x\`\|y → `HEAD`"
