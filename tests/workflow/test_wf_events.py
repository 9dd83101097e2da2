"""`loanctl event` on a funded deal under `validate --base`: a new event file is accepted like
an amendment; a merged event file may not change (E0505)."""

from __future__ import annotations

from test_wf_kit import DEAL, codes_in, loanctl, no_traceback


def test_new_event_file_on_a_funded_deal_passes_validate_base_and_a_merged_one_may_not_change(repo):
    repo.git("checkout", "-q", "-b", "default")
    run = loanctl("event", DEAL, "--type", "default", "--date", "2031-03-20", "--note", "payment default")
    no_traceback(run)
    assert run.code == 0, run.err
    rel = f"{DEAL}/events/2031-03-20-default.yaml"
    assert (repo.path / rel).is_file()
    base = loanctl("validate", "--base", "main")
    assert base.code == 0, base.out + base.err
    repo.commit("Record acme-tl's payment default")
    repo.replace(rel, "payment default", "payment default under 8.1(a)")
    changed = loanctl("validate", "--base", "default")
    assert (changed.code, codes_in(changed.out)) == (1, ["E0505"])
