"""Approvals and time order (issue #11, class 5), end to end in real git repositories.

Each test writes the small valid book of `bookfactory` (a funded 25,000,000 term loan
`acme-tl`, 2025-01-15 → 2030-01-15, approved by the credit officer on 2025-01-10 and the
committee on 2025-01-12; the policy asks for the credit officer up to 10,000,000 and for both
above), commits it with fixed author and committer dates, changes one thing and runs
`python -m loanctl --book . validate [--base REV] --format json` in a fresh interpreter.
Positions are computed from the source text with `pos`, never read back from loanctl.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

from bookfactory import BOOK_YAML, DEAL_YAML, deal_with, pos, run_cli_subprocess, sofr_csv, write_book  # noqa: E402
from test_wf_kit import ANN, BOB, Repo  # noqa: E402

AMENDMENT = "acme-tl/amendments/001-repricing.yaml"
OFFICER = "  - {by: jane.doe, role: credit_officer, date: 2026-07-01, decision: approved}\n"
COMMITTEE = "  - {by: ic, role: credit_committee, date: 2026-07-08, decision: approved}\n"
AMENDMENT_YAML = ("id: 001-repricing\n"
                  "effective_date: 2026-07-15\n"
                  "description: Repricing by 50 bps\n"
                  "approvals:\n" + OFFICER + COMMITTEE +
                  "changes:\n"
                  "  - {facility: tl, set: {interest.spread: 525bps}}\n")
FINANCIALS = "acme-tl/financials/2025-q1.yaml"
FINANCIALS_YAML = "period_end: 2025-03-31\nbasis: ltm\nebitda: 12600000\ntotal_debt: 45000000\n"
BASE_DAY = "2025-01-08T09:00:00+00:00"  # before the deal's approvals (2025-01-10 and -12)


def make_repo(tmp_path: Path, deal: str = DEAL_YAML, files: dict[str, str] | None = None,
              when: str = BASE_DAY) -> Repo:
    """The book at the root of a new repository, committed once on `when` (author and committer)."""
    root = write_book(tmp_path, deals={"acme-tl": deal})
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8", newline="")
    repo = Repo(root)
    repo.git("init", "-q", "-b", "main")
    repo.commit("The book", ANN, when)
    return repo


def validate(root: Path, *extra: str) -> tuple[int, list[dict]]:
    proc = run_cli_subprocess(["--book", ".", "validate", "--format", "json", *extra], cwd=root)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else [])


def at(d: dict, file: str, text: str, needle: str, nth: int = 1, column: bool = True) -> None:
    assert d["file"] == file, d
    line, col = pos(text, needle, nth)
    assert (d["line"], d["column"]) == ((line, col) if column else (line, None)), d


# --- amendments need the policy's approvals, given before they take effect --------------------
def test_amendment_of_a_funded_deal_with_both_approvals_in_time_is_valid(tmp_path):
    repo = make_repo(tmp_path, files={AMENDMENT: AMENDMENT_YAML})
    assert validate(repo.path) == (0, [])


def test_amendment_without_the_committee_is_E0230(tmp_path):
    text = AMENDMENT_YAML.replace(COMMITTEE, "")
    repo = make_repo(tmp_path, files={AMENDMENT: text})
    code, diags = validate(repo.path)
    [d] = diags
    assert (code, d["code"], d["severity"]) == (1, "E0230", "error")
    at(d, AMENDMENT, text, "- {by: jane.doe")  # the approvals list
    # 25,000,000 is above the 10,000,000 rule: credit officer and committee
    assert d["message"] == "amendment 001-repricing needs approval by credit_committee (total commitment after it " \
                           "25,000,000)"
    assert d["hint"] == "add credit_committee under approvals, dated on or before 2026-07-15"


def test_the_rule_follows_the_commitment_after_the_amendment(tmp_path):
    """A 10,000,000 loan needs the credit officer only; upsized by amendment to 12,000,000 it
    needs the committee too (the first rule whose up_to covers 12,000,000 is the second)."""
    deal = (DEAL_YAML.replace("commitment: 25000000", "commitment: 10000000")
            .replace("amount: 25000000", "amount: 10000000")
            .replace("    - {by: ic, role: credit_committee, date: 2025-01-12, decision: approved}\n", ""))
    small = AMENDMENT_YAML.replace(COMMITTEE, "")
    repo = make_repo(tmp_path, deal=deal, files={AMENDMENT: small})
    assert validate(repo.path) == (0, [])  # 10,000,000 ≤ 10,000,000: the officer suffices
    upsize = small.replace("interest.spread: 525bps", "commitment: 12000000")
    repo.write(AMENDMENT, upsize)
    code, diags = validate(repo.path)
    assert (code, [d["code"] for d in diags]) == (1, ["E0230"])
    assert "total commitment after it 12,000,000" in diags[0]["message"]
    at(diags[0], AMENDMENT, upsize, "- {by: jane.doe")


def test_approval_dated_after_the_effective_date_is_E0231(tmp_path):
    text = AMENDMENT_YAML.replace("date: 2026-07-08", "date: 2026-07-16")
    repo = make_repo(tmp_path, files={AMENDMENT: text})
    code, diags = validate(repo.path)
    assert (code, [d["code"] for d in diags]) == (1, ["E0231"])
    at(diags[0], AMENDMENT, text, "2026-07-16")
    assert diags[0]["message"] == ("approval by ic (credit_committee) is dated 2026-07-16, after the amendment's "
                                   "effective date 2026-07-15")


def test_approval_on_the_effective_date_is_in_time(tmp_path):
    text = AMENDMENT_YAML.replace("date: 2026-07-08", "date: 2026-07-15")
    assert validate(make_repo(tmp_path, files={AMENDMENT: text}).path) == (0, [])


def test_amendments_of_a_submitted_deal_need_no_approvals_yet(tmp_path):
    deal = deal_with("status: funded", "status: submitted")
    text = AMENDMENT_YAML.replace(OFFICER + COMMITTEE, "").replace("approvals:\n", "approvals: []\n")
    assert validate(make_repo(tmp_path, deal=deal, files={AMENDMENT: text}).path) == (0, [])


# --- an amendment does not reach into the past ---------------------------------------------------
def test_amendment_rewriting_a_past_draw_is_E0232(tmp_path):
    text = AMENDMENT_YAML.replace("interest.spread: 525bps", "draws: [{date: 2025-01-15, amount: 24000000}]")
    repo = make_repo(tmp_path, files={AMENDMENT: text})
    code, diags = validate(repo.path)
    assert (code, [d["code"] for d in diags]) == (1, ["E0232"])
    at(diags[0], AMENDMENT, text, "{date: 2025-01-15")
    assert diags[0]["message"] == ("amendment 001-repricing changes draws dated before its effective date "
                                   "2026-07-15: 2025-01-15, 25,000,000 → 2025-01-15, 24,000,000")


def test_amendment_adding_a_later_draw_keeps_the_past(tmp_path):
    # commitment 25m → 26m, the 2025 draw unchanged, a new 1m draw after the effective date
    text = AMENDMENT_YAML.replace("interest.spread: 525bps", "commitment: 26000000, draws: [{date: 2025-01-15, "
                                  "amount: 25000000}, {date: 2026-08-03, amount: 1000000}]")
    assert validate(make_repo(tmp_path, files={AMENDMENT: text}).path) == (0, [])


def test_amendment_adding_a_fee_dated_before_it_is_E0232(tmp_path):
    text = AMENDMENT_YAML.replace("interest.spread: 525bps", "fees: [{type: upfront, rate: 2%}, "
                                  "{type: fixed, amount: 25000, date: 2026-06-30}]")
    repo = make_repo(tmp_path, files={AMENDMENT: text})
    code, diags = validate(repo.path)
    assert (code, [d["code"] for d in diags]) == (1, ["E0232"])
    at(diags[0], AMENDMENT, text, "{type: fixed")
    assert diags[0]["message"].endswith(": ∅ → 2026-06-30, 25,000")


@pytest.mark.parametrize("maturity", ["2026-07-15", "2026-03-31"], ids=["on", "before"])
def test_maturity_cut_to_the_effective_date_or_before_is_E0233(tmp_path, maturity):
    """E0217 is about the effective date against the life before the amendment (2026-07-15
    lies inside it); the new maturity on or before the effective date is E0233, at its value."""
    text = AMENDMENT_YAML.replace("interest.spread: 525bps", f"maturity_date: {maturity}")
    repo = make_repo(tmp_path, files={AMENDMENT: text})
    code, diags = validate(repo.path)
    assert (code, [d["code"] for d in diags]) == (1, ["E0233"])
    at(diags[0], AMENDMENT, text, maturity, nth=2 if maturity == "2026-07-15" else 1)
    assert diags[0]["message"] == (f"maturity_date {maturity} is not after the amendment 001-repricing's effective "
                                   "date 2026-07-15")


def test_maturity_cut_to_a_later_date_is_fine(tmp_path):
    text = AMENDMENT_YAML.replace("interest.spread: 525bps", "maturity_date: 2028-01-18")
    assert validate(make_repo(tmp_path, files={AMENDMENT: text}).path) == (0, [])


# --- one person, one role --------------------------------------------------------------------------
def test_one_person_signing_the_deal_for_two_roles_is_E0234(tmp_path):
    deal = deal_with("{by: ic, role: credit_committee", "{by: jane.doe, role: credit_committee")
    code, diags = validate(make_repo(tmp_path, deal=deal).path)
    assert (code, [d["code"] for d in diags]) == (1, ["E0234"])
    at(diags[0], "acme-tl/deal.yaml", deal, "jane.doe", nth=2)
    assert diags[0]["message"] == "jane.doe signs as credit_committee and also as credit_officer"


def test_one_person_signing_an_amendment_for_two_roles_is_E0234(tmp_path):
    # the same person however the name is capitalised
    text = AMENDMENT_YAML.replace("{by: ic, role: credit_committee", "{by: Jane.Doe, role: credit_committee")
    code, diags = validate(make_repo(tmp_path, files={AMENDMENT: text}).path)
    assert (code, [d["code"] for d in diags]) == (1, ["E0234"])
    at(diags[0], AMENDMENT, text, "Jane.Doe")
    assert diags[0]["message"] == "Jane.Doe signs as credit_committee and also as credit_officer"


# --- warnings: approvals on a draft, approvals older than the deal in git ------------------------
def test_approvals_on_a_draft_deal_warn_E0235(tmp_path):
    deal = deal_with("status: funded", "status: draft")
    repo = make_repo(tmp_path, deal=deal)
    code, diags = validate(repo.path)
    assert (code, [(d["code"], d["severity"]) for d in diags]) == (0, [("E0235", "warning")])
    at(diags[0], "acme-tl/deal.yaml", deal, "{by: jane.doe")
    assert validate(repo.path, "--strict")[0] == 1


def test_approvals_dated_before_the_deal_was_committed_warn_E0514(tmp_path):
    # first committed 2025-02-01: both approvals (2025-01-10 and -12) are older
    repo = make_repo(tmp_path, when="2025-02-01T09:00:00+00:00")
    commit = repo.rev("HEAD")
    code, diags = validate(repo.path)
    assert (code, [(d["code"], d["severity"]) for d in diags]) == (0, [("E0514", "warning")])
    at(diags[0], "acme-tl/deal.yaml", DEAL_YAML, "2025-01-10")  # the earliest of the two
    assert diags[0]["message"] == ("approval by jane.doe (credit_officer) is dated 2025-01-10 (and 1 more), before "
                                   f"the deal was created in git on 2025-02-01 (commit {commit[:10]})")


def test_loanctls_own_demo_book_is_exempt_but_the_same_book_in_a_repository_of_its_own_warns(tmp_path):
    """The demo book in a checkout of loanctl was committed with the software (its deals on
    2026-11-28 and 2026-12-01) although its story starts in 2025: its git history is not the
    book's audit trail, so E0514 does not apply to it. The same files as a book repository of
    their own, committed on 2026-11-28, do warn: sable-tl-2025's approvals are dated
    2025-06-05 and -11, both before."""
    from loanctl.demo import copy_demo_book
    from loanctl.resources import resource_dir
    proc = run_cli_subprocess(["--book", str(resource_dir("deals")), "validate", "--format", "json"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [d["code"] for d in json.loads(proc.stdout or "[]") if d["code"] == "E0514"] == []
    repo = Repo(copy_demo_book(tmp_path / "book"))
    repo.git("init", "-q", "-b", "main")
    repo.commit("The book", ANN, "2026-11-28T09:00:00+00:00")
    code, diags = validate(repo.path)
    sable = [d for d in diags if d["code"] == "E0514" and d["file"] == "sable-tl-2025/deal.yaml"]
    assert code == 0 and len(sable) == 1
    assert sable[0]["message"].startswith("approval by a.brennan (credit_officer) is dated 2025-06-05 (and 1 more), "
                                          "before the deal was created in git on 2026-11-28")


def test_the_creation_date_is_the_first_commit_of_the_deal_file(tmp_path):
    """A later commit that edits deal.yaml does not move the creation date."""
    repo = make_repo(tmp_path)  # 2025-01-08, before the approvals
    repo.write("acme-tl/deal.yaml", DEAL_YAML + "notes: closed on time\n")
    repo.commit("Notes", BOB, "2025-03-01T09:00:00+00:00")
    assert validate(repo.path) == (0, [])


def test_without_git_the_creation_check_is_skipped(tmp_path):
    root = write_book(tmp_path)  # not a repository (the temporary folder is outside any)
    assert validate(root) == (0, [])
    # nor is a book whose deal is not committed yet
    repo = Repo(root)
    repo.git("init", "-q", "-b", "main")
    assert validate(root) == (0, [])


# --- validate --base: fixings, calendars and financials of the past --------------------------------
SOFR = sofr_csv()
ROW = "2025-01-03,0.04300"  # line 4 of the file (header, 01-01, 01-02, 01-03)


def test_changed_past_fixing_is_E0511_at_the_rate(tmp_path):
    repo = make_repo(tmp_path)
    text = SOFR.replace(ROW, "2025-01-03,0.04400")
    repo.write("rates/SOFR-3M.csv", text)
    code, diags = validate(repo.path, "--base", "main")
    assert (code, [d["code"] for d in diags]) == (1, ["E0511"])
    d = diags[0]
    line = pos(text, "2025-01-03,")[0]
    assert (d["file"], d["line"], d["column"]) == ("rates/SOFR-3M.csv", line, len("2025-01-03,") + 1)
    assert line == 4
    assert d["message"] == "the 2025-01-03 fixing changed: 0.04300 → 0.04400" and d["hint"]


def test_removed_past_fixing_is_E0511_where_it_was(tmp_path):
    repo = make_repo(tmp_path)
    text = SOFR.replace(ROW + "\n", "")
    repo.write("rates/SOFR-3M.csv", text)
    code, diags = validate(repo.path, "--base", "main")
    assert (code, [d["code"] for d in diags]) == (1, ["E0511"])
    # reported at the row that now follows the gap: 2025-01-06 (a Monday), line 4
    assert (diags[0]["line"], pos(text, "2025-01-06,")[0]) == (4, 4)
    assert diags[0]["message"] == "the 2025-01-03 fixing (0.04300, line 4 at the base) was removed"


def test_inserted_past_fixing_is_E0511_and_appended_fixings_are_fine(tmp_path):
    repo = make_repo(tmp_path)
    appended = SOFR + "2026-11-30,0.03600\n"
    repo.write("rates/SOFR-3M.csv", appended)
    assert validate(repo.path, "--base", "main") == (0, [])
    inserted = SOFR.replace(ROW + "\n", ROW + "\n2025-01-04,0.04300\n")  # a Saturday, inside the file
    repo.write("rates/SOFR-3M.csv", inserted)
    code, diags = validate(repo.path, "--base", "main")
    assert (code, [d["code"] for d in diags]) == (1, ["E0511"])
    assert (diags[0]["line"], diags[0]["column"]) == (pos(inserted, "2025-01-04,")[0], 1)


def test_deleted_rate_file_is_E0511(tmp_path):
    repo = make_repo(tmp_path)
    repo.write("rates/SOFR-1M.csv", "date,rate\n2025-01-02,0.04300\n")
    repo.commit("A second index", ANN, BASE_DAY)
    os.remove(repo.path / "rates" / "SOFR-1M.csv")
    code, diags = validate(repo.path, "--base", "main")
    assert (code, [(d["code"], d["file"], d["line"]) for d in diags]) == (1, [("E0511", "rates/SOFR-1M.csv", None)])


def test_changed_book_calendar_is_E0512_and_a_new_calendar_is_fine(tmp_path):
    repo = make_repo(tmp_path)
    added = BOOK_YAML.replace("calendars:\n", "calendars:\n  - {id: ldn-bank, base: GB-ENG}\n")
    repo.write("book.yaml", added)
    assert validate(repo.path, "--base", "main") == (0, [])
    changed = BOOK_YAML.replace("add: [2026-12-24]", "add: [2026-12-24, 2026-12-31]")
    repo.write("book.yaml", changed)
    code, diags = validate(repo.path, "--base", "main")
    assert (code, [d["code"] for d in diags]) == (1, ["E0512"])
    at(diags[0], "book.yaml", changed, "[2026-12-24, 2026-12-31]")
    assert diags[0]["message"] == "calendar 'nyc-bank' changed: add: [2026-12-24] → [2026-12-24, 2026-12-31]"


def test_removed_book_calendar_is_E0512(tmp_path):
    repo = make_repo(tmp_path)
    removed = BOOK_YAML.replace("calendars:\n  - {id: nyc-bank, base: US, add: [2026-12-24], remove: []}\n",
                                "calendars: []\n")
    repo.write("book.yaml", removed)
    code, diags = validate(repo.path, "--base", "main")
    assert (code, [d["code"] for d in diags]) == (1, ["E0512"])
    at(diags[0], "book.yaml", removed, "calendars:")
    assert diags[0]["message"] == "calendar 'nyc-bank' was removed (base: US)"


def test_changed_financials_are_E0513_at_the_value(tmp_path):
    repo = make_repo(tmp_path, files={FINANCIALS: FINANCIALS_YAML})
    text = FINANCIALS_YAML.replace("ebitda: 12600000", "ebitda: 13000000")
    repo.write(FINANCIALS, text)
    code, diags = validate(repo.path, "--base", "main")
    assert (code, [d["code"] for d in diags]) == (1, ["E0513"])
    at(diags[0], FINANCIALS, text, "13000000")
    assert diags[0]["message"] == ("financials for 2025-03-31 changed after they were merged: "
                                   "ebitda: 12600000 → 13000000")


def test_deleted_financials_are_E0513_and_new_ones_are_fine(tmp_path):
    repo = make_repo(tmp_path, files={FINANCIALS: FINANCIALS_YAML})
    repo.write("acme-tl/financials/2025-q2.yaml", FINANCIALS_YAML.replace("2025-03-31", "2025-06-30"))
    assert validate(repo.path, "--base", "main") == (0, [])
    os.remove(repo.path / FINANCIALS)
    code, diags = validate(repo.path, "--base", "main")
    assert (code, [(d["code"], d["file"], d["line"]) for d in diags]) == (1, [("E0513", FINANCIALS, None)])
    assert diags[0]["message"] == "financials 2025-q1.yaml was deleted"
