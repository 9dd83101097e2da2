"""`--rev REV` on show, schedule, report and validate: the book as it was at a git revision,
read with git plumbing, while the work tree (and the index, and HEAD) stay exactly as they are."""

from __future__ import annotations

import json

from test_wf_kit import DAN, DEAL, DEAL_FILE, loanctl, no_traceback, pos


def jrun(*args: str):
    run = loanctl(*args)
    no_traceback(run)
    assert run.code == 0, run
    return json.loads(run.out)


def spread(view: dict) -> tuple[str, str]:
    term = next(t for t in view["facilities"][0]["terms"] if t["term"] == "interest.spread")
    return term["value"], term["source"]


class Untouched:
    """The work tree, the index and HEAD, before and after."""

    def __init__(self, repo) -> None:
        self.repo = repo
        self.state = self._state()

    def _state(self):
        deal = self.repo.path / DEAL_FILE
        return (self.repo.snapshot(), self.repo.status(), self.repo.rev("HEAD"),
                (self.repo.path / ".git" / "index").read_bytes(), deal.stat().st_mtime_ns)

    def check(self) -> None:
        assert self._state() == self.state


def test_show_rev_reads_the_committed_terms_while_the_work_tree_has_new_ones(repo):
    repo.replace(DEAL_FILE, 'spread: "575bps"', 'spread: "525bps"')  # uncommitted
    before = Untouched(repo)
    old = jrun("show", DEAL, "--rev", "HEAD", "--as-of", "2031-06-30", "--format", "json")
    before.check()
    new = jrun("show", DEAL, "--as-of", "2031-06-30", "--format", "json")
    assert spread(old) == ("5.75%", "deal.yaml")
    assert spread(new) == ("5.25%", "deal.yaml")
    assert repo.status() == " M acme-tl/deal.yaml\n"


def test_show_rev_main_on_the_amendment_branch(repo):
    repo.checkout("reprice")
    before = Untouched(repo)
    old = jrun("show", DEAL, "--rev", "main", "--as-of", "2031-06-30", "--format", "json")
    before.check()
    new = jrun("show", DEAL, "--as-of", "2031-06-30", "--format", "json")
    assert (spread(old), old["amendments_applied"]) == (("5.75%", "deal.yaml"), [])
    assert (spread(new), new["amendments_applied"]) == (
        ("5.25%", "amendment 001-repricing"),
        [{"id": "001-repricing", "effective_date": "2031-01-15", "description": "Repricing"}])


def test_show_rev_of_the_submitted_deal(repo):
    old = jrun("show", DEAL, "--rev", "submitted", "--as-of", "2030-06-30", "--format", "json")
    assert old["status"] == "submitted"
    assert jrun("show", DEAL, "--as-of", "2030-06-30", "--format", "json")["status"] == "funded"


def test_schedule_rev_gives_the_old_rates(repo):
    repo.checkout("reprice")
    before = Untouched(repo)
    old = jrun("schedule", DEAL, "--rev", "main", "--format", "json")["facilities"][0]["rows"]
    before.check()
    new = jrun("schedule", DEAL, "--format", "json")["facilities"][0]["rows"]
    assert [r["date"] for r in old] == [r["date"] for r in new]
    assert {r["rate"] for r in old[1:]} == {"0.1006"}
    assert [r["rate"] for r in new if r["date"] == "2031-04-15"] == ["0.0956"]


def test_schedule_rev_of_a_deal_that_did_not_exist_then_is_a_usage_error(repo):
    run = loanctl("schedule", DEAL, "--rev", "main~3", "--format", "json")
    no_traceback(run)
    assert (run.code, run.out) == (2, "")
    assert run.err.startswith(f"loanctl: error: unknown deal '{DEAL}'\n")


def test_report_rev_positions_as_of_then(repo):
    repo.checkout("reprice")
    before = Untouched(repo)
    old = jrun("report", "--deal", DEAL, "--rev", "main", "--as-of", "2031-06-30", "--format", "json")
    before.check()
    new = jrun("report", "--deal", DEAL, "--as-of", "2031-06-30", "--format", "json")
    [p_old], [p_new] = old["positions"], new["positions"]
    assert (p_old["spread"], p_old["rate"]) == ("0.0575", "0.1006")
    assert (p_new["spread"], p_new["rate"]) == ("0.0525", "0.0956")
    assert p_old["outstanding_principal"] == p_new["outstanding_principal"] == "25000000.00"


def test_report_rev_on_the_whole_book_before_acme_was_funded(repo):
    before = Untouched(repo)
    then = jrun("report", "--book", "--rev", "submitted", "--as-of", "2030-06-30", "--format", "json")
    before.check()
    now = jrun("report", "--book", "--as-of", "2030-06-30", "--format", "json")
    assert [(p["deal"], p["outstanding_principal"]) for p in then["positions"]] == [("beta-tl", "200000000.00")]
    assert [(p["deal"], p["outstanding_principal"]) for p in now["positions"]] == [
        ("acme-tl", "25000000.00"), ("beta-tl", "200000000.00")]


def _bad_commit(repo) -> str:
    """A commit where acme-tl has an unknown key (a line inserted), then main checked out again."""
    repo.checkout("-b", "bad")
    text = repo.replace(DEAL_FILE, "  sourced_by: j.smith\n", "  sourced_by: j.smith\n  sponsor_x: 1\n")
    repo.commit("Typo", DAN, "2031-02-01T09:00:00+00:00")
    repo.checkout("main")
    return text


def test_validate_rev_checks_the_book_as_it_was(repo):
    bad = _bad_commit(repo)
    assert loanctl("validate", "--rev", "submitted").code == 0
    before = Untouched(repo)
    run = loanctl("validate", "--rev", "bad", "--format", "json")
    before.check()
    no_traceback(run)
    assert run.code == 1
    assert [(d["file"], d["line"], d["column"], d["code"]) for d in json.loads(run.out)] == [
        ("acme-tl/deal.yaml", *pos(bad, "sponsor_x"), "E0101")]
    assert loanctl("validate").code == 0  # the work tree is fine


def test_validate_rev_quotes_the_source_line_of_the_revision(repo):
    bad = _bad_commit(repo)
    run = loanctl("validate", "--rev", "bad")
    line, _ = pos(bad, "sponsor_x")
    assert f" {line} |   sponsor_x: 1\n" in run.out, run.out


def test_rev_does_not_need_a_clean_work_tree_or_the_branch_checked_out(repo):
    repo.checkout("reprice")
    (repo.path / DEAL_FILE).write_text("id: [unclosed\n", encoding="utf-8")
    before = Untouched(repo)
    old = jrun("show", DEAL, "--rev", "direct", "--as-of", "2030-06-30", "--format", "json")
    before.check()
    assert spread(old) == ("5.25%", "deal.yaml")
