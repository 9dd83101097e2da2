"""Bad input around git: not a repository, an unknown revision, a shallow clone lacking the base,
merge-conflict markers left in a deal. Each is one clear diagnostic and exit 1 or 2 — never a
traceback (checked in-process and, for each kind, in a real `loanctl` process)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bookfactory import cli_env, loanctl_argv
from test_wf_kit import BOB, DAN, DEAL, DEAL_FILE, Repo, git_env, loanctl, no_traceback

GIT_COMMANDS = [
    ("validate", "--base", "main"),
    ("validate", "--rev", "main"),
    ("show", DEAL, "--rev", "main"),
    ("schedule", DEAL, "--rev", "main"),
    ("report", "--book", "--rev", "main"),
    ("diff", "main", "HEAD"),
    ("diff",),
    ("history", DEAL),
]


def usage_error(run, code: str, message: str, hint: str) -> None:
    """Exit 2 and the one-line `loanctl: error: CODE: message` with its hint."""
    no_traceback(run)
    assert (run.code, run.out, run.err) == (2, "", f"loanctl: error: {code}: {message}\n  = hint: {hint}\n")


# --- E0501: not a git repository -------------------------------------------------------------
NOT_A_REPO = ("E0501", ". is not inside a git repository",
              "run `git init` (loanctl init does), or pass --book inside a repository")


def make_plain(repo, tmp_path, monkeypatch) -> Path:
    """The book copied without its .git, in a folder git cannot see a repository around."""
    folder = tmp_path / "plain"
    shutil.copytree(repo.path, folder, ignore=shutil.ignore_patterns(".git"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return folder


@pytest.fixture
def plain(repo, tmp_path, monkeypatch) -> Path:
    folder = make_plain(repo, tmp_path, monkeypatch)
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("args", GIT_COMMANDS, ids=lambda a: " ".join(a))
def test_git_commands_outside_a_repository_are_E0501(plain, args):
    usage_error(loanctl(*args), *NOT_A_REPO)


def test_plain_validate_needs_no_repository(plain):
    run = loanctl("validate")
    assert (run.code, run.out) == (0, "")


# --- E0502: unknown revision ----------------------------------------------------------------------
UNKNOWN = ("E0502", "unknown revision 'mian'", "check the branch, tag or commit name (git log --oneline)")


@pytest.mark.parametrize("args", [tuple("mian" if a == "main" else a for a in args)
                                  for args in GIT_COMMANDS if "main" in args], ids=lambda a: " ".join(a))
def test_an_unknown_revision_is_E0502(repo, args):
    usage_error(loanctl(*args), *UNKNOWN)


def test_an_option_given_as_revision_is_E0502(repo):
    run = loanctl("validate", "--base", "--format")
    no_traceback(run)
    assert run.code == 2
    assert run.err == "loanctl: error: {}: '--format' is not a revision\n".format("E0502")


# --- E0503: a shallow clone lacking the base -----------------------------------------------------
SHALLOW_HINT = "fetch the history: `git fetch --unshallow`, or in GitHub Actions actions/checkout with fetch-depth: 0"


def make_shallow(repo, tmp_path) -> Repo:
    """The pull request branch as CI checks it out by default: one commit deep."""
    dest = tmp_path / "ci"
    out = subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "reprice", f"file://{repo.path}",
                          str(dest)], capture_output=True, text=True, env=git_env(BOB))
    assert out.returncode == 0, out.stderr
    clone = Repo(dest)
    assert clone.git("rev-parse", "--is-shallow-repository").strip() == "true"
    return clone


@pytest.fixture
def shallow(repo, tmp_path, monkeypatch) -> Repo:
    clone = make_shallow(repo, tmp_path)
    monkeypatch.chdir(clone.path)
    return clone


def test_validate_base_missing_from_a_shallow_clone_is_E0503(repo, shallow):
    base = repo.rev("main")
    usage_error(loanctl("validate", "--base", base),
                "E0503", f"revision '{base}' is not in this shallow clone", SHALLOW_HINT)
    usage_error(loanctl("validate", "--base", "origin/main"),
                "E0503", "revision 'origin/main' is not in this shallow clone", SHALLOW_HINT)
    usage_error(loanctl("diff", base, "HEAD", "--format", "md"),
                "E0503", f"revision '{base}' is not in this shallow clone", SHALLOW_HINT)


def test_the_base_fetched_into_the_shallow_clone_works(repo, shallow):
    shallow.git("fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main")
    run = loanctl("validate", "--base", "origin/main")
    assert (run.code, run.out) == (0, ""), run


def test_history_in_a_shallow_clone_says_the_history_is_incomplete(shallow):
    run = loanctl("history", DEAL)
    assert "shallow" in run.err or "E0503" in run.err, run


# --- E0014: merge-conflict markers ------------------------------------------------------------------
def make_conflict(repo) -> Repo:
    """Two branches changed the same approval condition; the merge left markers in deal.yaml."""
    repo.checkout("-b", "monthly")
    repo.replace(DEAL_FILE, "conditions: quarterly reporting}", "conditions: monthly reporting}")
    repo.commit("Monthly reporting", DAN, "2031-02-01T09:00:00+00:00")
    repo.checkout("-b", "weekly", "main")
    repo.replace(DEAL_FILE, "conditions: quarterly reporting}", "conditions: weekly reporting}")
    repo.commit("Weekly reporting", BOB, "2031-02-01T10:00:00+00:00")
    merge = subprocess.run(["git", "merge", "monthly"], cwd=repo.path, capture_output=True, text=True,
                           env=git_env(BOB, "2031-02-02T09:00:00+00:00"))
    assert merge.returncode == 1 and "CONFLICT" in merge.stdout
    return repo


@pytest.fixture
def conflicted(repo) -> Repo:
    return make_conflict(repo)


def marker_line(repo) -> int:
    return next(i for i, line in enumerate(repo.read(DEAL_FILE).splitlines(), 1) if line.startswith("<<<<<<< "))


E0014_HINT = "resolve the conflict and remove the <<<<<<< ======= >>>>>>> lines"


def test_conflict_markers_are_E0014_at_the_marker(conflicted):
    line = marker_line(conflicted)
    run = loanctl("validate")
    no_traceback(run)
    assert run.code == 1
    assert run.out == (f"acme-tl/deal.yaml:{line}:1: error[E0014]: merge-conflict marker left in the file\n"
                       f" {line} | <<<<<<< HEAD\n"
                       f" {' ' * len(str(line))} | ^\n"
                       f"  = hint: {E0014_HINT}\n")


def test_conflict_markers_with_base_are_E0014_only(conflicted):
    # the deal folder is still there: no E0507 for a deal that merely does not parse
    run = loanctl("validate", "--base", "main", "--format", "json")
    no_traceback(run)
    assert run.code == 1
    assert [(d["file"], d["line"], d["column"], d["code"]) for d in json.loads(run.out)] == [
        ("acme-tl/deal.yaml", marker_line(conflicted), 1, "E0014")]


def test_show_on_a_conflicted_deal_is_E0014(conflicted):
    run = loanctl("show", DEAL)
    no_traceback(run)
    assert run.code == 1
    assert f"acme-tl/deal.yaml:{marker_line(conflicted)}:1: error[E0014]" in run.err


def test_diff_on_a_conflicted_work_tree_is_E0014_not_a_removed_deal(conflicted):
    run = loanctl("diff")
    assert "removed" not in run.out
    assert run.code == 1 and "E0014" in run.err + run.out


# --- the same, in real processes ------------------------------------------------------------------
def test_real_processes_show_one_diagnostic_and_no_traceback(repo, tmp_path, monkeypatch):
    """What a user sees: the command line in fresh interpreters (`python -m loanctl`, the
    interpreter running the tests, so an unactivated virtual environment works), four kinds of
    bad input (run side by side)."""
    plain = make_plain(repo, tmp_path, monkeypatch)
    shallow = make_shallow(repo, tmp_path)
    line = marker_line(make_conflict(repo))
    cases = {
        "E0501": (plain, ("validate", "--base", "main"), 2, "",
                  "loanctl: error: {}: {}\n  = hint: {}\n".format(*NOT_A_REPO)),
        "E0502": (repo.path, ("diff", "mian"), 2, "", "loanctl: error: {}: {}\n  = hint: {}\n".format(*UNKNOWN)),
        "E0503": (shallow.path, ("validate", "--base", "origin/main", "--format", "github"), 2, "",
                  "loanctl: error: E0503: revision 'origin/main' is not in this shallow clone\n"
                  f"  = hint: {SHALLOW_HINT}\n"),
        "E0014": (repo.path, ("validate", "--format", "github"), 1,
                  f"::error file=acme-tl/deal.yaml,line={line},col=1,title=E0014::merge-conflict marker left in "
                  f"the file (hint: {E0014_HINT})\n", ""),
    }
    procs = {code: subprocess.Popen(loanctl_argv(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=cli_env())
             for code, (cwd, args, *_rest) in cases.items()}
    for code, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in out + err, (code, err)
        assert (proc.returncode, out, err) == tuple(cases[code][2:]), code
