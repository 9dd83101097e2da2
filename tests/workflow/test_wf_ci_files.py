"""The CI and pre-commit files: the GitHub workflow `loanctl init` writes (parsed, and its steps run
against a full clone of a pull request branch), the book's local pre-commit hook, and the
`loanctl-validate` hook loanctl's own repository offers."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from test_wf_kit import BOB, DEAL_FILE, EDIT_HINT, Repo, git_env, loanctl, no_traceback, pos

REPO_ROOT = Path(__file__).resolve().parents[2]
SUMMARY = " >> $GITHUB_STEP_SUMMARY || true"


def workflow(repo) -> dict:
    return yaml.safe_load(repo.read(".github/workflows/loanctl.yml"))


def steps(repo) -> list[dict]:
    return workflow(repo)["jobs"]["validate"]["steps"]


def run_step(line: str, base_ref: str):
    """A step's `run:` as CI would run it, on this machine: the base branch substituted, the
    job-summary redirection dropped (the Markdown comes back as stdout)."""
    line = line.replace("${{ github.base_ref }}", base_ref)
    if line.endswith(SUMMARY):
        line = line[: -len(SUMMARY)]
    argv = shlex.split(line)
    assert argv[0] == "loanctl"
    run = loanctl(*argv[1:])
    no_traceback(run)
    return run


def test_the_workflow_runs_on_pull_requests_with_the_full_history(repo):
    wf = workflow(repo)
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in on
    checkout = steps(repo)[0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0  # else --base meets E0503 in the shallow clone


def test_the_workflow_steps_validate_check_the_base_and_summarise_the_diff(repo):
    runs = [s["run"] for s in steps(repo) if "run" in s and s["run"].startswith("loanctl")]
    assert runs == [
        "loanctl --book . validate --format github",
        "loanctl --book . validate --base origin/${{ github.base_ref }} --format github",
        "loanctl --book . diff origin/${{ github.base_ref }} HEAD --format md >> $GITHUB_STEP_SUMMARY || true",
    ]
    later = [s for s in steps(repo) if "run" in s and ("--base" in s["run"] or " diff " in s["run"])]
    assert all(s.get("if") == "${{ !cancelled() }}" for s in later)


@pytest.fixture
def ci_clone(repo, tmp_path, monkeypatch):
    """actions/checkout with fetch-depth 0 of a pull request branch: origin/main is there."""
    def clone(branch: str) -> Repo:
        dest = tmp_path / f"ci-{branch}"
        out = subprocess.run(["git", "clone", "-q", "--branch", branch, f"file://{repo.path}", str(dest)],
                             capture_output=True, text=True, env=git_env(BOB))
        assert out.returncode == 0, out.stderr
        monkeypatch.chdir(dest)
        return Repo(dest)
    return clone


def test_the_workflow_fails_the_direct_edit_pull_request(repo, ci_clone):
    clone = ci_clone("direct")
    validate, base, summary = [s["run"] for s in steps(clone) if s.get("run", "").startswith("loanctl")]
    assert run_step(validate, "main").code == 0
    line, col = pos(clone.read(DEAL_FILE), '"525bps"')
    run = run_step(base, "main")
    assert (run.code, run.out) == (1, f"::error file=acme-tl/deal.yaml,line={line},col={col},title=E0504::"
                                      "facilities.tl.interest.spread of funded deal 'acme-tl' changed directly: "
                                      f"575bps → 525bps (hint: {EDIT_HINT})\n")
    run = run_step(summary, "main")
    assert run.code == 0
    assert run.out.startswith("### loanctl: deal changes `origin/main` → `HEAD`\n")
    assert "| `facilities.tl.interest.spread` | 575bps | 525bps |\n" in run.out


def test_the_workflow_passes_the_amendment_pull_request(repo, ci_clone):
    clone = ci_clone("reprice")
    validate, base, summary = [s["run"] for s in steps(clone) if s.get("run", "").startswith("loanctl")]
    assert [(r.code, r.out) for r in (run_step(validate, "main"), run_step(base, "main"))] == [(0, ""), (0, "")]
    run = run_step(summary, "main")
    assert run.code == 0
    assert "- new amendment **001-repricing**, effective 2031-01-15: Repricing\n" in run.out


def test_the_books_pre_commit_hook_runs_loanctl_validate(repo):
    config = yaml.safe_load(repo.read(".pre-commit-config.yaml"))
    [local] = config["repos"]
    [hook] = local["hooks"]
    assert (local["repo"], hook["id"], hook["language"], hook["pass_filenames"]) == \
        ("local", "loanctl-validate", "system", False)
    argv = shlex.split(hook["entry"])
    assert argv == ["loanctl", "--book", ".", "validate"]
    assert loanctl(*argv[1:]).code == 0
    repo.replace(DEAL_FILE, 'spread: "575bps"', 'spread: "575bpz"')
    assert loanctl(*argv[1:]).code == 1


def test_loanctl_offers_a_pre_commit_hook_that_runs_validate():
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [hook] = [h for h in hooks if h["id"] == "loanctl-validate"]
    command = shlex.split(hook["entry"]) + list(hook.get("args", []))
    assert command[0] == "loanctl" and "validate" in command[1:]
    assert command == ["loanctl", "validate"]
    assert hook["pass_filenames"] is False
    assert hook["language"] == "python"
