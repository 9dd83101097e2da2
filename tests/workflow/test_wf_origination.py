"""new-deal → approve → fund, as a team does it in a git repository: the approvals the policy
requires, the status moving forward, the user's comments kept, and every refusal leaving the
files exactly as they were."""

from __future__ import annotations

import re
from datetime import date

import yaml

from test_wf_kit import DEAL, DEAL_FILE, FEE_COMMENT, SPONSOR_COMMENT, changed_lines, codes_in, loanctl, no_traceback

OFFICER = {"by": "jane.doe", "role": "credit_officer", "date": date(2030, 1, 8), "decision": "approved"}
COMMITTEE = {"by": "ic", "role": "credit_committee", "date": date(2030, 1, 10), "decision": "approved",
             "conditions": "quarterly reporting"}


def refused(run, code: str, stderr: str, repo, before: dict) -> None:
    """Exit 1, exactly this one diagnostic, and not one byte written."""
    no_traceback(run)
    assert codes_in(run.err) == [code]
    assert (run.code, run.out, run.err) == (1, "", stderr + "nothing was written\n")
    assert repo.snapshot() == before


# --- the happy path (recorded while the scenario was built) ------------------------------------
def test_new_deal_writes_a_submitted_deal(scenario):
    assert scenario.steps["new-deal"].out == ("created acme-tl/deal.yaml\n"
                                              "next: edit it, then loanctl validate acme-tl and loanctl schedule "
                                              "acme-tl\n")
    data = yaml.safe_load(scenario.texts["created"])
    assert (data["id"], data["status"], data["origination"]["approvals"]) == (DEAL, "submitted", [])


def test_first_approval_is_recorded_but_the_committee_is_still_needed_above_10m(scenario):
    assert scenario.steps["approve-officer"].err == \
        "recorded approved by jane.doe (credit_officer); acme-tl is submitted\n"
    data = yaml.safe_load(scenario.texts["approved-officer"])
    assert data["status"] == "submitted"
    assert data["origination"]["approvals"] == [OFFICER]


def test_committee_approval_completes_the_policy_and_moves_the_deal_to_approved(scenario):
    assert scenario.steps["approve-ic"].err == "recorded approved by ic (credit_committee); acme-tl is approved\n"
    data = yaml.safe_load(scenario.texts["approved"])
    assert data["status"] == "approved"
    assert data["origination"]["approvals"] == [OFFICER, COMMITTEE]


def test_approve_keeps_the_users_comments(scenario):
    lines = scenario.texts["approved"].splitlines()
    purpose = next(i for i, line in enumerate(lines) if line.lstrip().startswith("purpose:"))
    assert lines[purpose].endswith("# per the IC memo")
    assert lines[purpose + 1] == SPONSOR_COMMENT
    fee = next(line for line in lines if "type: upfront" in line and not line.lstrip().startswith("#"))
    assert fee.endswith("# OID, paid at closing")
    # the file's header comments, untouched
    header = scenario.texts["submitted"].split("id: acme-tl", 1)[0]
    assert scenario.texts["approved"].startswith(header)


def test_approve_changes_only_the_status_and_the_approvals_lines(scenario):
    removed, added = changed_lines(scenario.texts["submitted"], scenario.texts["approved"])
    assert removed == ["status: submitted  # draft | submitted | approved | funded | repaid | written_off | declined",
                       "  approvals: []"]
    assert len(added) == 4
    assert re.fullmatch(r"status: approved\s+# draft \| submitted .*", added[0])
    assert added[1] == "  approvals:"
    assert all(re.fullmatch(r"\s+- \{by: .*\}", line) for line in added[2:])
    assert FEE_COMMENT in scenario.texts["approved"]


def test_fund_moves_the_approved_deal_to_funded_changing_only_the_status_line(scenario):
    assert scenario.steps["fund"].err == "acme-tl is funded; from now on its terms change only by amendment\n"
    assert yaml.safe_load(scenario.texts["funded"])["status"] == "funded"
    removed, added = changed_lines(scenario.texts["approved"], scenario.texts["funded"])
    assert [line.split("#")[0].rstrip() for line in removed + added] == ["status: approved", "status: funded"]


def test_the_funded_book_validates(repo):
    run = loanctl("validate")
    assert (run.code, run.out, run.err) == (0, "", "2 deals checked: 0 errors, 0 warnings\n")


def test_a_declining_decision_declines_a_submitted_deal(repo):
    repo.checkout("submitted")
    run = loanctl("approve", DEAL, "--by", "ic", "--role", "credit_committee", "--decision", "declined",
                  "--date", "2030-01-10")
    assert (run.code, run.err) == (0, "recorded declined by ic (credit_committee); acme-tl is declined\n")
    data = yaml.safe_load(repo.read(DEAL_FILE))
    assert data["status"] == "declined"
    assert data["origination"]["approvals"][-1]["decision"] == "declined"


# --- refusals: E0508 (status) and E0509 (policy limits), nothing written --------------------------
def test_approving_a_funded_deal_is_E0508(repo):
    before = repo.snapshot()
    run = loanctl("approve", DEAL, "--by", "ic", "--role", "credit_committee", "--date", "2031-01-10")
    refused(run, "E0508",
            "acme-tl/deal.yaml: error[E0508]: deal is funded; approvals are recorded before funding\n"
            "  = hint: change a funded deal with an amendment (loanctl amend)\n", repo, before)


def test_funding_a_submitted_deal_is_E0508(repo):
    repo.checkout("submitted")
    before = repo.snapshot()
    run = loanctl("fund", DEAL, "--date", "2030-01-15")
    refused(run, "E0508",
            "acme-tl/deal.yaml: error[E0508]: deal is submitted; only an approved deal is funded\n"
            "  = hint: approve it first (loanctl approve)\n", repo, before)


def test_funding_on_another_date_than_the_start_is_E0508(repo):
    repo.checkout("approved")
    before = repo.snapshot()
    run = loanctl("fund", DEAL, "--date", "2030-01-16")
    refused(run, "E0508",
            "acme-tl/deal.yaml: error[E0508]: funding date 2030-01-16 differs from the start date 2030-01-15\n"
            "  = hint: fund on the closing date, or correct start_date first (the deal is not funded yet, "
            "so edit deal.yaml)\n", repo, before)


def test_funding_a_funded_deal_again_is_E0508(repo):
    before = repo.snapshot()
    run = loanctl("fund", DEAL)
    refused(run, "E0508",
            "acme-tl/deal.yaml: error[E0508]: deal is funded; only an approved deal is funded\n"
            "  = hint: it was funded already\n", repo, before)


def _leveraged(repo):
    """acme-tl at `submitted`, underwritten at 64m debt on 10m EBITDA (6.40x, policy 6.0x),
    with the credit officer's approval recorded (the committee's would make it approved)."""
    repo.checkout("submitted")
    repo.replace(DEAL_FILE, "  # underwriting: {ebitda: 12500000, total_debt: 45000000, cash: 2000000, "
                            "collateral_value: 80000000}\n",
                 "  underwriting: {ebitda: 10000000, total_debt: 64000000}\n")
    run = loanctl("approve", DEAL, "--by", "jane.doe", "--role", "credit_officer", "--date", "2030-01-08")
    assert run.code == 0, run


def test_leverage_above_policy_refuses_the_approval_and_writes_nothing(repo):
    _leveraged(repo)
    before = repo.snapshot()
    run = loanctl("approve", DEAL, "--by", "ic", "--role", "credit_committee", "--date", "2030-01-10")
    no_traceback(run)
    assert run.code == 1
    assert "underwriting leverage 6.40x is above the policy limit 6.0x" in run.err
    assert run.err.endswith("nothing was written\n")
    assert repo.snapshot() == before
    assert yaml.safe_load(repo.read(DEAL_FILE))["status"] == "submitted"


def test_leverage_above_policy_at_approval_is_E0509(repo):
    _leveraged(repo)
    run = loanctl("approve", DEAL, "--by", "ic", "--role", "credit_committee", "--date", "2030-01-10")
    assert run.code == 1
    assert codes_in(run.err) == ["E0509"]
    assert "error[E0509]: underwriting leverage 6.40x is above the policy limit 6.0x" in run.err


def test_borrower_concentration_above_policy_at_funding_is_E0509(repo):
    # Approved under a 15% limit (acme 25m of fund-i's 225m = 11.11%); the policy is tightened
    # to 10% before closing, so funding is refused.
    repo.checkout("approved")
    repo.replace("book.yaml", 'max_borrower_share_of_fund: "15%"', 'max_borrower_share_of_fund: "10%"')
    before = repo.snapshot()
    run = loanctl("fund", DEAL, "--date", "2030-01-15")
    refused(run, "E0509",
            "acme-tl/deal.yaml: error[E0509]: borrower 'acme' would be 11.11% of fund-i's commitments to deals "
            "(limit 10.00%)\n"
            "  = hint: reduce the fund's share, syndicate more, or record a policy exception\n", repo, before)


# --- amend: bad --set and terms that cannot be amended -------------------------------------------
def test_a_malformed_set_is_a_usage_error(repo):
    before = repo.snapshot()
    run = loanctl("amend", DEAL, "--effective", "2031-06-15", "--set", "spread=5")
    no_traceback(run)
    assert (run.code, run.out) == (2, "")
    assert run.err.startswith("loanctl: error: ")
    assert "--set 'spread=5' is not FACILITY.PATH=VALUE" in run.err
    assert run.err.endswith("  = hint: for example --set tl.interest.spread=525bps\n")
    assert repo.snapshot() == before


def test_a_malformed_set_names_E0510(repo):
    run = loanctl("amend", DEAL, "--effective", "2031-06-15", "--set", "spread=5")
    assert run.code == 2
    assert "E0510" in run.err


def test_amending_the_payment_frequency_is_E0215_in_the_would_be_file(repo):
    before = repo.snapshot()
    run = loanctl("amend", DEAL, "--effective", "2031-06-15", "--set", "tl.payments.frequency=monthly")
    # the would-be file: line 15 is `      payments.frequency: monthly` (see the template)
    refused(run, "E0215",
            "acme-tl/amendments/001-amendment.yaml:15:7: error[E0215]: the payment frequency cannot be "
            "changed by amendment\n"
            "  = hint: add a new facility instead (add_facility)\n", repo, before)
    assert not (repo.path / DEAL / "amendments").exists()
