"""`loanctl validate --base REV`: a funded deal's terms change only through new amendment files;
merged amendments never change; status never moves back; funded deals are never deleted.
Also `loanctl amend`, the proper way to make the change, with its schedule impact."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal

import yaml

from test_wf_kit import (AMENDMENT_FILE, AS_OF, BOB, DAN, DEAL, DEAL_FILE, EDIT_HINT, REPRICING, START, Repo,
                         hand_interest, codes_in, loanctl, no_traceback, pos)

BEFORE = hand_interest([(START, Decimal("0.0575"))])
AFTER = hand_interest([(START, Decimal("0.0575")), (REPRICING, Decimal("0.0525"))])
E0504_MESSAGE = "facilities.tl.interest.spread of funded deal 'acme-tl' changed directly: 575bps → 525bps"


def source_block(line: int, column: int, src: str) -> str:
    """render_text's source line and caret."""
    num = str(line)
    return f" {num} | {src}\n {' ' * len(num)} | {' ' * (column - 1)}^\n"


def validate_base(*extra: str):
    run = loanctl("validate", "--base", "main", *extra)
    no_traceback(run)
    return run


def base_json():
    run = validate_base("--format", "json")
    return run.code, json.loads(run.out)


# --- E0504: the forbidden direct edit --------------------------------------------------------
def test_direct_edit_of_a_funded_spread_is_E0504_at_the_value(repo):
    repo.checkout("direct")
    text = repo.read(DEAL_FILE)
    line, col = pos(text, '"525bps"')
    run = validate_base()
    assert (run.code, codes_in(run.out)) == (1, ["E0504"])
    assert run.out == (f"acme-tl/deal.yaml:{line}:{col}: error[E0504]: {E0504_MESSAGE}\n"
                       + source_block(line, col, text.splitlines()[line - 1])
                       + f"  = hint: {EDIT_HINT}\n")
    assert run.err == "2 deals checked: 1 error, 0 warnings\n"


def test_direct_edit_as_github_annotation(repo):
    repo.checkout("direct")
    line, col = pos(repo.read(DEAL_FILE), '"525bps"')
    run = validate_base("--format", "github")
    assert (run.code, run.err) == (1, "")
    assert run.out == (f"::error file=acme-tl/deal.yaml,line={line},col={col},title=E0504::{E0504_MESSAGE} "
                       f"(hint: {EDIT_HINT})\n")


def test_direct_edit_as_json(repo):
    repo.checkout("direct")
    line, col = pos(repo.read(DEAL_FILE), '"525bps"')
    assert base_json() == (1, [{"file": "acme-tl/deal.yaml", "line": line, "column": col, "code": "E0504",
                                "severity": "error", "message": E0504_MESSAGE, "hint": EDIT_HINT}])


def test_the_direct_edit_is_a_valid_deal_without_the_base(repo):
    # plain validate cannot know the deal was funded: only --base catches the drift
    repo.checkout("direct")
    run = loanctl("validate")
    assert (run.code, run.out) == (0, "")


def test_the_same_spread_written_another_way_is_no_change(repo):
    repo.replace(DEAL_FILE, 'spread: "575bps"', "spread: 5.75%")
    assert base_json() == (0, [])


def test_removing_a_funded_term_is_E0504_at_its_block(repo):
    text = repo.replace(DEAL_FILE, '\n      floor: "1%"', "")
    line, col = pos(text, "index: SOFR-3M")  # the interest block the floor was in
    assert base_json() == (1, [{"file": "acme-tl/deal.yaml", "line": line, "column": col, "code": "E0504",
                                "severity": "error", "message": "facilities.tl.interest.floor of funded deal "
                                                                "'acme-tl' changed directly: 1% → null",
                                "hint": EDIT_HINT}])


def test_a_new_approval_on_a_funded_deal_is_allowed_but_rewriting_one_is_not(repo):
    line = next(x for x in repo.read(DEAL_FILE).splitlines() if x.endswith("conditions: quarterly reporting}"))
    indent = line[: len(line) - len(line.lstrip())]
    repo.replace(DEAL_FILE, "conditions: quarterly reporting}\n",
                 "conditions: quarterly reporting}\n"
                 f"{indent}- {{by: risk, role: risk_officer, date: 2030-02-01, decision: approved}}\n")
    assert base_json() == (0, [])
    text = repo.replace(DEAL_FILE, "date: 2030-01-08", "date: 2030-01-09")
    code, diags = base_json()
    assert code == 1
    assert [(d["code"], d["message"].split(":")[0]) for d in diags] == [
        ("E0504", "origination.approvals of funded deal 'acme-tl' changed directly")]
    assert "date: 2030-01-08, decision: approved}, " in diags[0]["message"].split(" → ")[0]
    assert (diags[0]["line"], diags[0]["column"]) == pos(text, "- {by: jane.doe")


# --- the same change done properly: loanctl amend ------------------------------------------------
AMENDMENT_TEXT = """\
# yaml-language-server: $schema=../../.schema/amendment.schema.json
#
# Repricing
# Amendments apply in (effective_date, id) order; `set` takes dotted paths into the
# facility (interest.spread, maturity_date, participations …). The payment frequency,
# the facility type and the currency cannot be changed by amendment.
id: "001-repricing"
effective_date: 2031-01-15
description: Repricing
approvals: []
#  - {by: ic, role: credit_committee, date: 2026-07-01, decision: approved}
changes:
  - facility: tl
    set:
      interest.spread: "525bps"
  # - {add_facility: {id: ddtl, type: delayed_draw, commitment: 5000000, start_date: …, maturity_date: …, interest: {…}}}
"""


def test_amend_writes_the_next_amendment_file_from_the_template(scenario):
    assert scenario.texts["amendment-written"] == AMENDMENT_TEXT
    assert yaml.safe_load(AMENDMENT_TEXT)["changes"] == [{"facility": "tl", "set": {"interest.spread": "525bps"}}]


def test_amend_prints_the_schedule_impact_before_writing(scenario):
    assert AFTER < BEFORE  # 50bps less on 25m for four years
    assert (BEFORE, AFTER) == (Decimal("12763624.98"), Decimal("12255986.12"))
    run = scenario.steps["amend"]
    assert run.out == ""
    assert run.err == ("schedule impact:\n"
                       f"  total interest: {BEFORE} → {AFTER}\n"
                       "  total fees: 500000.00 → 500000.00\n"
                       "  maturity: 2035-01-15 → 2035-01-15\n"
                       "  next payment: 2030-01-15 → 2030-01-15\n"
                       "  next payment amount: 500000.00 → 500000.00\n"
                       f"wrote {scenario.repo.path / AMENDMENT_FILE}\n")


def test_amend_impact_agrees_with_the_schedules_before_and_after(repo):
    repo.checkout("reprice")
    after = json.loads(loanctl("schedule", DEAL, "--format", "json").out)["facilities"][0]["rows"]
    before = json.loads(loanctl("schedule", DEAL, "--rev", "main", "--format", "json").out)["facilities"][0]["rows"]
    assert sum(Decimal(r["interest"]) for r in before) == BEFORE
    assert sum(Decimal(r["interest"]) for r in after) == AFTER
    # the new spread applies from the effective date on
    assert {(r["accrual_start"] >= "2031-01-15", r["rate"]) for r in after[1:]} == {(False, "0.1006"),
                                                                                     (True, "0.0956")}


def test_amendment_branch_passes_validate_base(repo):
    repo.checkout("reprice")
    run = validate_base()
    assert (run.code, run.out, run.err) == (0, "", "2 deals checked: 0 errors, 0 warnings\n")


def test_amend_dry_run_prints_the_file_and_writes_nothing(repo):
    before = repo.snapshot()
    run = loanctl("amend", DEAL, "--effective", "2031-01-15", "--set", "tl.interest.spread=525bps",
                  "--description", "Repricing", "--dry-run", "--as-of", AS_OF)
    assert (run.code, run.out) == (0, AMENDMENT_TEXT)
    assert run.err.startswith("schedule impact:\n")
    assert repo.snapshot() == before


# --- E0505: merged amendments never change -------------------------------------------------------
def _merge_reprice(repo):
    repo.git("merge", "-q", "--no-ff", "reprice", "-m", "Merge branch 'reprice'", who=BOB,
             when="2031-01-21T09:00:00+00:00")
    repo.checkout("-b", "fix-amendment")


def test_editing_a_merged_amendment_is_E0505(repo):
    _merge_reprice(repo)
    text = repo.replace(AMENDMENT_FILE, 'interest.spread: "525bps"', 'interest.spread: "500bps"')
    repo.commit("Fix the repricing", DAN, "2031-02-01T09:00:00+00:00")
    line, col = pos(text, '"500bps"')
    run = validate_base()
    assert (run.code, codes_in(run.out)) == (1, ["E0505"])
    assert run.out == (f"acme-tl/amendments/001-repricing.yaml:{line}:{col}: error[E0505]: amendment 001-repricing "
                       "changed after it was merged: changes[0].set.interest.spread: 525bps → 500bps\n"
                       + source_block(line, col, text.splitlines()[line - 1])
                       + "  = hint: amendment files are never edited; add a new amendment\n")


def test_deleting_a_merged_amendment_is_E0505(repo):
    _merge_reprice(repo)
    repo.git("rm", "-q", AMENDMENT_FILE)
    run = validate_base()
    assert (run.code, codes_in(run.out)) == (1, ["E0505"])
    assert run.out == ("acme-tl/amendments/001-repricing.yaml: error[E0505]: amendment 001-repricing was deleted\n"
                       "  = hint: an agreed amendment is never removed; add a new amendment to change it\n")


def test_a_second_amendment_after_the_merge_is_fine(repo):
    _merge_reprice(repo)
    run = loanctl("amend", DEAL, "--effective", "2032-01-15", "--set", "tl.maturity_date=2036-01-15",
                  "--description", "One-year extension", "--as-of", AS_OF)
    assert run.code == 0, run
    written = f"{DEAL}/amendments/002-one-year-extension.yaml"
    assert (repo.path / written).is_file()
    # written as a draft: the policy's approvals (25m: credit officer and committee) come next
    code, diags = base_json()
    assert (code, [(d["code"], d["file"]) for d in diags]) == (1, [("E0230", written)])
    repo.replace(written, "approvals: []\n",
                 "approvals:\n  - {by: jane.doe, role: credit_officer, date: 2032-01-05, decision: approved}\n"
                 "  - {by: ic, role: credit_committee, date: 2032-01-06, decision: approved}\n")
    assert base_json() == (0, [])


# --- E0506, E0507 ------------------------------------------------------------------------------
def test_status_moved_back_from_funded_to_approved_is_E0506(repo):
    text = repo.read(DEAL_FILE)
    status_line = next(x for x in text.splitlines() if x.startswith("status: funded"))
    text = repo.replace(DEAL_FILE, status_line, status_line.replace("status: funded", "status: approved"))
    line, col = pos(text, "approved", 1)
    assert text.splitlines()[line - 1].startswith("status: approved")
    run = validate_base()
    assert (run.code, codes_in(run.out)) == (1, ["E0506"])
    assert run.out == (f"acme-tl/deal.yaml:{line}:{col}: error[E0506]: status moved backwards: funded → approved\n"
                       + source_block(line, col, text.splitlines()[line - 1])
                       + "  = hint: status only moves forward: draft → submitted → approved → funded → repaid "
                         "| written_off\n")


E0507 = ("acme-tl/deal.yaml: error[E0507]: funded deal 'acme-tl' was deleted or renamed\n"
         "  = hint: a funded deal stays in the book; mark it repaid or written_off instead\n")


def test_deleting_a_funded_deal_is_E0507(repo):
    repo.checkout("-b", "cleanup")
    repo.git("rm", "-rq", DEAL)
    repo.commit("Remove acme-tl", DAN, "2031-02-01T09:00:00+00:00")
    run = validate_base()
    assert codes_in(run.out) == ["E0507"]
    assert (run.code, run.out, run.err) == (1, E0507, "1 deal checked: 1 error, 0 warnings\n")


def test_renaming_a_funded_deal_folder_is_E0507(repo):
    repo.checkout("-b", "rename")
    repo.git("mv", DEAL, "acme-tl-2030")
    repo.replace("acme-tl-2030/deal.yaml", "id: acme-tl\n", "id: acme-tl-2030\n")
    repo.commit("Rename acme-tl", DAN, "2031-02-01T09:00:00+00:00")
    run = validate_base()
    assert codes_in(run.out) == ["E0507"]
    assert (run.code, run.out, run.err) == (1, E0507, "2 deals checked: 1 error, 0 warnings\n")
    diff = json.loads(loanctl("diff", "main", "HEAD", "--as-of", AS_OF, "--format", "json").out)
    assert [(d["deal"], d["status"]) for d in diff["deals"]] == [("acme-tl", "removed"), ("acme-tl-2030", "added")]


def test_deleting_a_deal_that_was_never_funded_is_allowed(repo):
    repo.checkout("approved")
    repo.checkout("-b", "drop")
    repo.git("rm", "-rq", DEAL)
    run = loanctl("validate", "--base", "approved", "--format", "json")
    assert (run.code, json.loads(run.out)) == (0, [])


def test_status_moving_forward_from_submitted_to_funded_passes(repo):
    # main (funded) against its own past: submitted → approved → funded, approvals added
    run = loanctl("validate", "--base", "submitted", "--format", "json")
    assert (run.code, json.loads(run.out)) == (0, [])


def test_a_book_in_a_subfolder_of_the_repository(repo, tmp_path, monkeypatch):
    """The common layout: the repository root holds .github/ and the book lives in deals/."""
    outer = Repo(tmp_path / "outer")
    outer.path.mkdir()
    outer.git("init", "-q", "-b", "main")
    monkeypatch.chdir(outer.path)
    assert loanctl("init", "deals").code == 0
    for item in ("book.yaml", "acme-tl", "beta-tl"):
        src, dst = repo.path / item, outer.path / "deals" / item
        shutil.copytree(src, dst) if src.is_dir() else shutil.copyfile(src, dst)
    # dated before the copied deals' approvals (else E0514 warnings: approvals before creation)
    outer.commit("The book in deals/", DAN, "2029-05-25T09:00:00+00:00")
    text = outer.replace("deals/" + DEAL_FILE, 'spread: "575bps"', 'spread: "525bps"')
    line, col = pos(text, '"525bps"')
    run = loanctl("--book", "deals", "validate", "--base", "HEAD", "--format", "github")
    assert (run.code, run.out.split("::")[1]) == (1, f"error file=deals/acme-tl/deal.yaml,line={line},col={col},"
                                                     "title=E0504")
    monkeypatch.chdir(outer.path / "deals")
    run = loanctl("validate", "--base", "HEAD", "--format", "json")
    assert [(d["file"], d["code"]) for d in json.loads(run.out)] == [("acme-tl/deal.yaml", "E0504")]
    view = json.loads(loanctl("show", DEAL, "--rev", "HEAD", "--as-of", "2030-06-30", "--format", "json").out)
    assert [t["value"] for t in view["facilities"][0]["terms"] if t["term"] == "interest.spread"] == ["5.75%"]
    history = loanctl("history", DEAL).out
    assert history.splitlines()[1:3] == ["    The book in deals/", "    deal created"]
