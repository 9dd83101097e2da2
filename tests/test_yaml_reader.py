"""The positioned YAML reader (`loanctl.source.yamlsrc`) and the hostile input corpus.

Every hostile input is put where a deal file belongs in an otherwise valid book and run
through `loanctl validate`: it must give exit 1 with the one expected diagnostic at its
file, line and column, no traceback, no change to the book, and it must finish quickly.
Small hostile files live in tests/hostile/; large ones are generated in tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest

from bookfactory import deal_with, invoke, pos, run_cli_subprocess, tree_hash, write_book, write_file
from loanctl.source import yamlsrc

HOSTILE = Path(__file__).parent / "hostile"
DEAL = "acme-tl/deal.yaml"
BUDGET_S = 5.0  # a safety bound against hangs and blow-ups, not a benchmark


# --- the hostile corpus ---------------------------------------------------------------------
@dataclass
class Hostile:
    name: str
    setup: Callable[[Path], None]
    """Puts the hostile input into the (valid) book at the given root."""
    code: str | None
    file: str = DEAL
    line: int | None = None
    column: int | None = None
    exit: int = 1


_CORPUS_USED: set[str] = set()


def corpus(name: str) -> Callable[[Path], None]:
    _CORPUS_USED.add(name)

    def setup(root: Path) -> None:
        shutil.copyfile(HOSTILE / name, root / DEAL)
    return setup


def deal_text(text: str | bytes) -> Callable[[Path], None]:
    return lambda root: write_file(root, DEAL, text)


def _deep_flow(levels: int) -> str:
    return "id: acme-tl\nx: " + "[" * levels + "\n"


def _deep_block(levels: int) -> str:
    # a0:\n a1:\n  a2: … one more space of indentation per level
    return "\n".join(" " * i + f"a{i}:" for i in range(levels)) + " x\n"


def _fifty_megabytes(root: Path) -> None:
    line = b"# " + b"x" * 1021 + b"\n"  # 1 KiB
    with open(root / DEAL, "wb") as f:
        f.write(b"id: acme-tl\n")
        for _ in range(50 * 1024):
            f.write(line)


def _folder(name: str, files: dict[str, str]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / name).mkdir()
        for rel, text in files.items():
            write_file(root, f"{name}/{rel}", text)
    return setup


_ID = "id: acme-tl"

HOSTILE_CASES: list[Hostile] = [
    # tags: nothing is ever constructed from a tag
    Hostile("python_object_apply", corpus("python_object_apply.yaml"), "E0003", line=2, column=7),
    Hostile("python_object_root", corpus("python_object_root.yaml"), "E0003", line=1, column=1),
    Hostile("binary_tag", corpus("binary_tag.yaml"), "E0003", line=2, column=7),
    Hostile("custom_tag", corpus("custom_tag.yaml"), "E0003", line=2, column=7),
    Hostile("set_tag", corpus("set_tag.yaml"), "E0003", line=2, column=7),
    # size and shape bombs
    Hostile("alias_bomb", corpus("alias_bomb.yaml"), "E0004", line=6, column=8),  # at the first *e: the budget is crossed there
    Hostile("nesting_10k_flow", deal_text(_deep_flow(10_000)), "E0009", line=2, column=len("x: ") + 64),
    Hostile("nesting_200k_flow", deal_text(_deep_flow(200_000)), "E0009", line=2, column=len("x: ") + 64),
    # 100 block levels: the 65th level is the mapping under a63 (the root is the 1st), whose
    # first key a64 sits on line 65 at column 65.
    Hostile("nesting_100_block", deal_text(_deep_block(100)), "E0009", line=65, column=65),
    # an alias inside the value it names would expand forever: reported at the alias
    Hostile("recursive_alias", deal_text("id: acme-tl\nx: &a [*a]\n"), "E0004", line=2, column=8),
    Hostile("file_50mb", _fifty_megabytes, "E0005"),
    Hostile("scalar_5mb_id", deal_text(deal_with(_ID, "id: " + "a" * 5_000_000)), "E0109", line=1, column=5),
    # keys
    Hostile("duplicate_keys", corpus("duplicate_keys.yaml"), "E0002", line=4, column=1),
    Hostile("duplicate_keys_nested", corpus("duplicate_keys_nested.yaml"), "E0002", line=7, column=7),
    Hostile("duplicate_keys_flow", corpus("duplicate_keys_flow.yaml"), "E0002", line=2, column=34),
    # bytes and text
    Hostile("nul_bytes", corpus("nul_bytes.yaml"), "E0001", line=2, column=len("name: Acme") + 1),
    Hostile("latin1", corpus("latin1.yaml"), "E0006", line=2, column=len("name: Soci") + 1),
    Hostile("bom_is_accepted", corpus("bom_valid_deal.yaml"), None, exit=0),
    Hostile("mixed_tabs", corpus("mixed_tabs.yaml"), "E0008", line=4, column=1),
    Hostile("tab_after_spaces", corpus("tab_after_spaces.yaml"), "E0008", line=4, column=3),
    Hostile("merge_conflict", corpus("merge_conflict.yaml"), "E0014", line=3, column=1),
    Hostile("syntax_error_unclosed_quote", corpus("syntax_error.yaml"), "E0001", line=2, column=23),
    Hostile("multiple_documents", corpus("multiple_documents.yaml"), "E0001", line=2, column=1),
    # emptiness and the wrong shape
    Hostile("empty", corpus("empty.yaml"), "E0007", line=1, column=1),
    Hostile("only_comments", corpus("only_comments.yaml"), "E0007", line=1, column=1),
    Hostile("top_level_list", corpus("top_level_list.yaml"), "E0013", line=1, column=1),
    Hostile("top_level_scalar", corpus("top_level_scalar.yaml"), "E0013", line=1, column=1),
    # folders and ids
    Hostile("deal_folder_without_deal_yaml", _folder("bolt-tl", {"notes.md": "draft\n"}), "E0010",
            file="/bolt-tl"),
    Hostile("deal_folder_uppercase", _folder("Acme", {"deal.yaml": deal_with(_ID, "id: Acme")}), "E0012",
            file="/Acme"),
    Hostile("deal_folder_dotdot", _folder("a..b", {"deal.yaml": deal_with(_ID, "id: a..b")}), "E0012",
            file="/a..b"),
    Hostile("deal_id_parent_path", deal_text(deal_with(_ID, "id: ../evil")), "E0109", line=1, column=5),
    Hostile("deal_id_slash", deal_text(deal_with(_ID, "id: A/B")), "E0109", line=1, column=5),
    Hostile("deal_id_uppercase", deal_text(deal_with(_ID, "id: Acme")), "E0109", line=1, column=5),
    Hostile("deal_id_dotdot_inside", deal_text(deal_with(_ID, "id: acme..tl")), "E0109", line=1, column=5),
]


def _run_hostile(root: Path):
    start = time.monotonic()
    result = invoke(["--book", str(root), "validate", "--format", "json"])
    return result, time.monotonic() - start


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[c.name for c in HOSTILE_CASES])
def test_hostile_input_gives_its_diagnostic(tmp_path, case: Hostile):
    root = write_book(tmp_path)
    case.setup(root)
    before = tree_hash(root)

    result, elapsed = _run_hostile(root)

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    assert elapsed < BUDGET_S, f"took {elapsed:.1f}s"
    assert tree_hash(root) == before, "validate changed the book"
    diags = json.loads(result.stdout)
    assert result.exit_code == case.exit, diags
    if case.code is None:
        assert diags == []
        return
    assert [d["code"] for d in diags] == [case.code], diags
    d = diags[0]
    assert d["file"].endswith(case.file)
    assert (d["line"], d["column"]) == (case.line, case.column)
    assert d["severity"] == "error" and d["message"] and d["hint"]


def test_every_corpus_file_is_used():
    on_disk = {p.name for p in HOSTILE.glob("*.yaml")}
    bug_only = {"tab_indent.yaml", "tab_after_dash.yaml"}  # used by the xfail test below
    assert on_disk - bug_only == _CORPUS_USED


# --- end to end, in a fresh interpreter -------------------------------------------------------
@pytest.mark.parametrize("name, code, line, column", [
    ("python_object_apply.yaml", "E0003", 2, 7),
    ("latin1.yaml", "E0006", 2, 11),
])
def test_hostile_end_to_end_text_output(tmp_path, name, code, line, column):
    root = write_book(tmp_path)
    shutil.copyfile(HOSTILE / name, root / DEAL)
    before = tree_hash(root)
    start = time.monotonic()
    proc = run_cli_subprocess(["--book", str(root), "validate"])
    assert time.monotonic() - start < 2 * BUDGET_S
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "pwned" not in proc.stdout.replace('"echo pwned"', "")  # the tag was never executed
    assert f"acme-tl/deal.yaml:{line}:{column}: error[{code}]:" in proc.stdout
    assert "1 deal checked: 1 error, 0 warnings" in proc.stderr
    assert tree_hash(root) == before


def test_hostile_end_to_end_deep_nesting_github_format(tmp_path):
    root = write_book(tmp_path)
    write_file(root, DEAL, _deep_flow(200_000))
    before = tree_hash(root)
    start = time.monotonic()
    proc = run_cli_subprocess(["--book", str(root), "validate", "--format", "github"])
    assert time.monotonic() - start < 2 * BUDGET_S
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "line=2,col=67,title=E0009" in proc.stdout
    assert tree_hash(root) == before


# --- library bugs found with hostile input (strict xfail: they fail until fixed) -------------
@pytest.mark.parametrize("name, line, column", [("tab_indent.yaml", 3, 1), ("tab_after_dash.yaml", 3, 4)])
def test_tab_indentation_is_always_e0008(tmp_path, name, line, column):
    root = write_book(tmp_path)
    shutil.copyfile(HOSTILE / name, root / DEAL)
    result, _ = _run_hostile(root)
    diags = json.loads(result.stdout)
    assert [(d["code"], d["line"], d["column"]) for d in diags] == [("E0008", line, column)]


def test_symlink_loop_is_e0015_not_a_crash(tmp_path):
    root = write_book(tmp_path)
    (root / DEAL).unlink()
    (root / DEAL).symlink_to("deal.yaml")
    result, _ = _run_hostile(root)
    assert result.exit_code == 1
    diags = json.loads(result.stdout)
    assert [(d["code"], d["file"].endswith(DEAL)) for d in diags] == [("E0015", True)]


def test_fifo_in_the_book_does_not_hang(tmp_path):
    root = write_book(tmp_path)
    os.mkfifo(root / "rates" / "SOFR-1M.csv")
    try:
        # a hang never ends; a loaded machine may take seconds to start Python (no speed assumed)
        proc = run_cli_subprocess(["--book", str(root), "validate", "--format", "json"], timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("validate hangs on a FIFO")
    assert proc.returncode == 1 and '"E0015"' in proc.stdout


def test_invalid_utf8_column_counts_characters():
    text, diags = yamlsrc.decode("name: Açme Indus".encode() + b"\xe9trial\n", "f.yaml")
    assert text is None
    assert (diags[0].line, diags[0].column) == (1, len("name: Açme Indus") + 1)


def test_integer_with_5000_digits_is_a_diagnostic(tmp_path):
    text = deal_with("      day_count: ACT/360\n", "      day_count: ACT/360\n      fixing_lag_days: " + "1" * 5000 + "\n")
    root = write_book(tmp_path, deals={"acme-tl": text})
    result, _ = _run_hostile(root)
    assert result.exit_code == 1, repr(result.exception)
    diags = json.loads(result.stdout)
    assert len(diags) == 1 and diags[0]["code"] in {"E0103", "E0111", "E0001"}
    assert (diags[0]["line"], diags[0]["column"]) == pos(text, "1111")


def test_merge_key_keeps_the_mapping_position():
    # Found as a bug in the node-based reader (the merge overwrote the mapping's position
    # with its anchor's); the event-based reader keeps it.
    doc, diags = yamlsrc.parse("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert diags == []
    assert doc.positions.value(("d",)) == (3, 3)


def test_missing_key_in_a_merged_facility_points_at_that_facility(tmp_path):
    text = deal_with("    interest:\n", "    interest: &rate\n")
    text += ("  - id: dd\n    commitment: 1000000\n    start_date: 2025-01-15\n    maturity_date: 2030-01-15\n"
             "    draws: []\n    interest:\n      <<: *rate\n      fixed_rate: 9%\n"
             "    participations: [{lender: fund-i, share: 100%}]\n")
    root = write_book(tmp_path, deals={"acme-tl": text})
    result, _ = _run_hostile(root)
    diags = json.loads(result.stdout)
    assert [d["code"] for d in diags] == ["E0204"], diags  # both index (merged) and fixed_rate
    assert (diags[0]["line"], diags[0]["column"]) == pos(text, "<<: *rate")


# --- the reader: exact values ---------------------------------------------------------------
def _data(text: str):
    doc, diags = yamlsrc.parse(text, "f.yaml")
    assert diags == [], diags
    return doc.data


def test_floats_become_decimals_from_their_source_text():
    data = _data("a: 0.1\nb: 25_000_000.00\nc: 5.75\nd: -0.0575\n")
    assert data == {"a": Decimal("0.1"), "b": Decimal("25000000.00"), "c": Decimal("5.75"), "d": Decimal("-0.0575")}
    assert all(type(v) is Decimal for v in data.values())
    assert str(data["b"]) == "25000000.00"  # the written decimals survive (checked against the currency)


def test_integers_stay_exact_and_remember_their_text():
    data = _data("a: 25000000\nb: 25_000_000\nc: 001\nd: 12345678901234567890123\n")
    assert data == {"a": 25000000, "b": 25000000, "c": 1, "d": 12345678901234567890123}
    assert data["c"].source == "001"


def test_timestamps_stay_text_so_impossible_dates_are_reported_by_the_model():
    assert _data("a: 2026-01-15\nb: 2026-02-30\nc: 2026-01-15T10:00:00Z\n") == {
        "a": "2026-01-15", "b": "2026-02-30", "c": "2026-01-15T10:00:00Z"}


def test_infinity_and_nan_are_left_as_text_for_the_model_to_reject():
    assert _data("a: .inf\nb: -.inf\nc: .nan\n") == {"a": ".inf", "b": "-.inf", "c": ".nan"}


def test_nulls_and_booleans():
    assert _data("a: ~\nb: null\nc: true\nd: no\ne:\n") == {"a": None, "b": None, "c": True, "d": False, "e": None}


def test_byte_order_mark_is_accepted():
    text, diags = yamlsrc.decode(b"\xef\xbb\xbfid: acme-tl\n", "f.yaml")
    assert (text, diags) == ("id: acme-tl\n", [])


def test_positions_of_values_and_keys():
    doc, _ = yamlsrc.parse("a: 1\nb:\n  c: [1, 2.50]\n  d: {e: x}\n", "f.yaml")
    p = doc.positions
    assert p.value(("a",)) == (1, 4) and p.key(("a",)) == (1, 1)
    assert p.value(("b", "c", 1)) == (3, 10)
    assert p.key(("b", "d")) == (4, 3) and p.value(("b", "d", "e")) == (4, 10)
    assert p.value(("b", "d", "missing")) == (4, 6)  # falls back to the nearest ancestor


def test_crlf_line_endings_keep_positions():
    doc, _ = yamlsrc.parse("a: 1\r\nb:\r\n  c: x\r\n", "f.yaml")
    assert doc.positions.value(("b", "c")) == (3, 6)


def test_merge_keys_work_and_explicit_keys_win():
    assert _data("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n")["d"] == {"x": 1, "y": 3}


def test_every_duplicate_key_is_reported():
    doc, diags = yamlsrc.parse("a: 1\na: 2\na: 3\nb: {c: 1, c: 2}\n", "f.yaml")
    assert doc is None
    assert [(d.code, d.line, d.column) for d in diags] == [("E0002", 2, 1), ("E0002", 3, 1), ("E0002", 4, 11)]
    assert "first at line 1" in diags[0].message


def test_a_non_scalar_key_is_e0001():
    _, diags = yamlsrc.parse("[a]: 1\n", "f.yaml")
    assert [(d.code, d.line, d.column) for d in diags] == [("E0001", 1, 1)]


def test_merging_a_non_mapping_is_e0001():
    _, diags = yamlsrc.parse("a: 1\n<<: 5\n", "f.yaml")
    assert [(d.code, d.line, d.column) for d in diags] == [("E0001", 2, 5)]


def test_nul_byte_on_the_first_line():
    _, diags = yamlsrc.parse("ab\x00: 1\n", "f.yaml")
    assert [(d.code, d.line, d.column) for d in diags] == [("E0001", 1, 3)]


def test_conflict_markers_only_at_the_start_of_a_line():
    # an indented ======= underline inside a block scalar is text, not a conflict marker
    assert _data("notes: |\n  Title\n  =======\n") == {"notes": "Title\n=======\n"}
    _, diags = yamlsrc.parse("a: 1\n=======\n", "f.yaml")
    assert [(d.code, d.line, d.column) for d in diags] == [("E0014", 2, 1)]


def test_deep_nesting_prescan_stops_early_and_fast():
    start = time.monotonic()
    _, diags = yamlsrc.parse("[" * 200_000, "f.yaml")
    assert time.monotonic() - start < BUDGET_S
    assert [(d.code, d.line, d.column) for d in diags] == [("E0009", 1, 65)]


def test_alias_bomb_is_stopped_within_the_node_budget():
    text = (HOSTILE / "alias_bomb.yaml").read_text()
    start = time.monotonic()
    _, diags = yamlsrc.parse(text, "f.yaml")
    assert time.monotonic() - start < BUDGET_S
    assert [d.code for d in diags] == ["E0004"]
    assert "100,000" in diags[0].message


def test_aliases_within_the_budget_are_fine():
    data = _data("a: &a [1, 2]\nb: *a\nc: *a\n")
    assert data == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path):
    p = tmp_path / "big.yaml"
    with open(p, "wb") as f:
        f.truncate(yamlsrc.MAX_BYTES + 1)
    text, diags = yamlsrc.read_text(p, "big.yaml")
    assert text is None
    assert [(d.code, d.line) for d in diags] == [("E0005", None)]
    assert f"{yamlsrc.MAX_BYTES + 1:,} bytes" in diags[0].message
