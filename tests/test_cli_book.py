"""`loanctl init`, `new-deal` and `demo`, and the templates behind them, through the real
command line on books written in a temporary folder."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import loanctl.cli  # noqa: F401  (registers the commands)
import loanctl.cli.book as book_cli
from loanctl.origination import scaffold
from loanctl import demo, resources
from loanctl.cli.common import app
from loanctl.model.validate import validate as validate_model
from loanctl.source.yamlsrc import parse

HAS_GIT = shutil.which("git") is not None

BOOK_YAML = """\
name: Test Credit Partners
base_currency: USD
entities:
  - {id: fund-i, kind: fund, name: Test Credit Fund I}
  - {id: fund-i-spv, kind: spv, name: TCF I Holdings LLC, parent: fund-i}
  - {id: acme, kind: borrower, name: Acme Industrial Inc., industry: industrials, country: US}
policy:
  approvals:
    - {up_to: 10000000, require: [credit_officer]}
    - {require: [credit_officer, credit_committee]}
"""
RATES = "date,rate\n2025-01-02,0.0431\n2026-01-02,0.0390\n"
FULL_OPTIONS = ["--borrower", "acme", "--commitment", "25000000", "--start", "2026-01-15",
                "--maturity", "2031-01-15", "--index", "SOFR-3M", "--spread", "575bps", "--floor", "1%"]


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


@pytest.fixture
def book(tmp_path) -> Path:
    root = tmp_path / "book"
    (root / "rates").mkdir(parents=True)
    (root / "book.yaml").write_text(BOOK_YAML, encoding="utf-8")
    (root / "rates" / "SOFR-3M.csv").write_text(RATES, encoding="utf-8")
    return root


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- init ----------------------------------------------------------------------------------
def test_init_creates_a_book_that_validates(tmp_path):
    root = tmp_path / "new-book"
    result = run("init", root)
    assert result.exit_code == 0, result.output
    for rel in ("book.yaml", "rates/SOFR-3M.csv", ".gitignore", ".github/workflows/loanctl.yml",
                ".pre-commit-config.yaml", ".schema/deal.schema.json", ".schema/book.schema.json",
                ".schema/amendment.schema.json", ".schema/financials.schema.json"):
        assert (root / rel).is_file(), rel
    check = run("--book", root, "validate")
    assert check.exit_code == 0, check.output
    assert "0 errors, 0 warnings" in check.output


def test_init_starter_book_has_the_documented_sections(tmp_path):
    assert run("init", tmp_path / "b", "--name", "Harbor: Credit", "--no-git").exit_code == 0
    text = (tmp_path / "b" / "book.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=.schema/book.schema.json\n")
    data = load_yaml(tmp_path / "b" / "book.yaml")
    assert data["name"] == "Harbor: Credit"
    assert data["base_currency"] == "USD" and data["rounding"] == "half_up"
    assert {e["kind"] for e in data["entities"]} == {"fund", "borrower"}
    assert data["policy"]["approvals"][-1] == {"require": ["credit_officer", "credit_committee"]}
    assert data["policy"]["limits"] == {"max_borrower_share_of_fund": "15%", "max_leverage": 6.0}
    assert data["dpd_buckets"] == [0, 30, 60, 90, 120]
    assert (tmp_path / "b" / "rates" / "SOFR-3M.csv").read_text().splitlines() == ["date,rate", "2025-01-02,0.0431"]
    assert ".loanctl/" in (tmp_path / "b" / ".gitignore").read_text().splitlines()


def test_init_writes_the_ci_workflow_and_pre_commit_hook(tmp_path):
    assert run("init", tmp_path / "b", "--no-git").exit_code == 0
    wf_text = (tmp_path / "b" / ".github" / "workflows" / "loanctl.yml").read_text()
    wf = yaml.safe_load(wf_text)
    assert "pull_request" in wf[True]  # YAML 1.1 reads the key `on` as true
    steps = wf["jobs"]["validate"]["steps"]
    assert steps[0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}
    assert steps[1]["uses"].startswith("actions/setup-python@")
    runs = [s.get("run", "") for s in steps]
    assert any(r.startswith("pip install") and "loanctl" in r for r in runs)
    assert "loanctl --book . validate --format github" in runs
    assert "loanctl --book . validate --base origin/${{ github.base_ref }} --format github" in runs
    assert ("loanctl --book . diff origin/${{ github.base_ref }} HEAD --format md >> $GITHUB_STEP_SUMMARY || true"
            in runs)
    hooks = load_yaml(tmp_path / "b" / ".pre-commit-config.yaml")["repos"][0]
    assert hooks["repo"] == "local"
    assert hooks["hooks"][0]["entry"] == "loanctl --book . validate"
    assert hooks["hooks"][0]["language"] == "system"
    assert hooks["hooks"][0]["pass_filenames"] is False


@pytest.mark.skipif(not HAS_GIT, reason="git is not installed")
def test_init_runs_git_init_where_there_is_no_repository(tmp_path):
    result = run("init", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "b" / ".git").is_dir()
    assert "initialised a git repository" in result.output
    top = subprocess.run(["git", "-C", str(tmp_path / "b"), "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert Path(top).resolve() == (tmp_path / "b").resolve()


@pytest.mark.skipif(not HAS_GIT, reason="git is not installed")
def test_init_inside_a_repository_puts_ci_files_at_its_root(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = run("init", tmp_path / "deals")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "deals" / ".git").exists()
    assert (tmp_path / "deals" / "book.yaml").is_file()
    assert (tmp_path / "deals" / ".gitignore").is_file()
    runs = [s.get("run", "") for s in load_yaml(tmp_path / ".github" / "workflows" / "loanctl.yml")
            ["jobs"]["validate"]["steps"]]
    assert "loanctl --book deals validate --format github" in runs
    hook = load_yaml(tmp_path / ".pre-commit-config.yaml")["repos"][0]["hooks"][0]
    assert hook["entry"] == "loanctl --book deals validate"
    assert hook["files"] == "^deals/"


def test_init_keeps_an_existing_pre_commit_config_and_gitignore(tmp_path):
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    (tmp_path / ".gitignore").write_text("*.pyc")
    result = run("init", tmp_path, "--no-git")
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".pre-commit-config.yaml").read_text() == "repos: []\n"
    assert (tmp_path / ".gitignore").read_text().splitlines()[0] == "*.pyc"
    assert ".loanctl/" in (tmp_path / ".gitignore").read_text().splitlines()


def test_init_without_git_says_so_and_continues(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    result = run("init", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "git is not installed" in result.output
    assert (tmp_path / "b" / "book.yaml").is_file()


def test_init_refuses_a_folder_with_a_book(book):
    before = (book / "book.yaml").read_text()
    result = run("init", book, "--no-git")
    assert result.exit_code == 2
    assert "already has a book.yaml" in result.output
    assert "--force" in result.output
    assert (book / "book.yaml").read_text() == before
    assert not (book / ".gitignore").exists()


def test_init_force_replaces_book_yaml_but_keeps_rate_data(book):
    result = run("init", book, "--no-git", "--force")
    assert result.exit_code == 0, result.output
    assert "Example Credit Fund I" in (book / "book.yaml").read_text()
    assert (book / "rates" / "SOFR-3M.csv").read_text() == RATES


def test_init_with_an_invalid_currency_writes_nothing(tmp_path):
    result = run("init", tmp_path / "b", "--currency", "XXY", "--no-git")
    assert result.exit_code == 1
    assert "E0108" in result.output
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


# --- new-deal ------------------------------------------------------------------------------
def test_new_deal_writes_a_deal_that_validates(book):
    result = run("--book", book, "new-deal", "acme-tl-2026", *FULL_OPTIONS, "--sourced-by", "j.smith")
    assert result.exit_code == 0, result.output
    path = book / "acme-tl-2026" / "deal.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../.schema/deal.schema.json\n")
    deal = yaml.safe_load(text)
    assert {k: deal[k] for k in ("id", "name", "borrower", "status", "currency")} == {
        "id": "acme-tl-2026", "name": "Acme Industrial Inc. — Term Loan", "borrower": "acme",
        "status": "draft", "currency": "USD"}
    assert deal["origination"] == {"sourced_by": "j.smith", "purpose": None, "approvals": []}
    assert deal["covenants"] == []
    [fac] = deal["facilities"]
    assert fac == {
        "id": "tl", "type": "term", "commitment": 25000000,
        "start_date": dt.date(2026, 1, 15), "maturity_date": dt.date(2031, 1, 15),
        "draws": [{"date": dt.date(2026, 1, 15), "amount": 25000000}],
        "interest": {"index": "SOFR-3M", "spread": "575bps", "floor": "1%", "fixing_lag_days": 0,
                     "day_count": "ACT/360"},
        "payments": {"frequency": "quarterly", "business_day": "modified_following", "calendar": "US",
                     "accrual": "adjusted"},
        "amortization": {"type": "percent", "annual_rate": "1%", "interest_only_periods": 0},
        "fees": [],
        "participations": [{"lender": "fund-i", "share": "100%"}],
    }
    assert run("--book", book, "validate").exit_code == 0
    assert run("--book", book, "schedule", "acme-tl-2026", "--format", "json").exit_code == 0


def test_new_deal_fixed_rate_revolver_with_lenders(book):
    result = run("--book", book, "new-deal", "acme-rcf", "--borrower", "acme", "--name", "Acme: RCF",
                 "--commitment", "5000000", "--start", "2026-02-27", "--maturity", "2029-02-27",
                 "--type", "revolver", "--fixed-rate", "11%", "--frequency", "monthly",
                 "--availability-end", "2028-02-27", "--lender", "fund-i=60%", "--lender", "fund-i-spv=40%",
                 "--status", "submitted")
    assert result.exit_code == 0, result.output
    deal = load_yaml(book / "acme-rcf" / "deal.yaml")
    assert deal["name"] == "Acme: RCF" and deal["status"] == "submitted"
    [fac] = deal["facilities"]
    assert (fac["id"], fac["type"], fac["commitment"]) == ("rcf", "revolver", 5000000)
    assert fac["availability_end"] == dt.date(2028, 2, 27) and fac["draws"] == []
    assert fac["interest"] == {"fixed_rate": "11%", "day_count": "ACT/360"}
    assert fac["payments"]["frequency"] == "monthly"
    assert fac["amortization"] == {"type": "bullet", "interest_only_periods": 0}
    assert fac["participations"] == [{"lender": "fund-i", "share": "60%"}, {"lender": "fund-i-spv", "share": "40%"}]
    assert run("--book", book, "validate").exit_code == 0


def test_new_deal_amortization_option(book):
    result = run("--book", book, "new-deal", "acme-tl", *FULL_OPTIONS, "--amortization", "straight")
    assert result.exit_code == 0, result.output
    assert load_yaml(book / "acme-tl" / "deal.yaml")["facilities"][0]["amortization"] == {
        "type": "straight", "interest_only_periods": 0}


def test_new_deal_with_a_bad_spread_reports_e0104_and_writes_nothing(book):
    options = [x if x != "575bps" else "5.75" for x in FULL_OPTIONS]
    result = run("--book", book, "new-deal", "acme-tl-2026", *options)
    assert result.exit_code == 1
    assert "--spread: error[E0104]" in result.output
    assert "5.75% or 0.0575" in result.output
    assert not (book / "acme-tl-2026").exists()


def test_new_deal_errors_name_the_option(book):
    options = FULL_OPTIONS[:]
    options[options.index("acme")] = "acme-inc"
    result = run("--book", book, "new-deal", "x-1", *options)
    assert result.exit_code == 1
    assert "--borrower: error[E0202]" in result.output
    assert not (book / "x-1").exists()


def test_new_deal_refuses_an_existing_deal(book):
    assert run("--book", book, "new-deal", "acme-tl-2026", *FULL_OPTIONS).exit_code == 0
    before = (book / "acme-tl-2026" / "deal.yaml").read_text()
    result = run("--book", book, "new-deal", "acme-tl-2026", *FULL_OPTIONS)
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert (book / "acme-tl-2026" / "deal.yaml").read_text() == before


@pytest.mark.parametrize("deal_id", ["../x", "A/B", "a..b", "acme tl", "rates", ".hidden"])
def test_new_deal_refuses_an_invalid_id(book, deal_id):
    result = run("--book", book, "new-deal", deal_id, *FULL_OPTIONS)
    assert result.exit_code == 2
    assert "deal id" in result.output or "reserved" in result.output
    assert sorted(p.name for p in book.parent.iterdir()) == ["book"]
    assert sorted(p.name for p in book.iterdir()) == ["book.yaml", "rates"]


def test_new_deal_names_missing_options_when_not_interactive(book):
    result = run("--book", book, "new-deal", "acme-tl-2026", "--borrower", "acme", "--start", "2026-01-15")
    assert result.exit_code == 2
    assert "missing --commitment, --maturity, --index and --spread (or --fixed-rate)" in result.output
    assert not (book / "acme-tl-2026").exists()


def test_new_deal_rejects_fixed_rate_with_an_index(book):
    result = run("--book", book, "new-deal", "x", *FULL_OPTIONS, "--fixed-rate", "11%")
    assert result.exit_code == 2
    assert "--fixed-rate cannot be combined" in result.output


def test_new_deal_prompts_for_missing_options_on_a_terminal(book, monkeypatch):
    monkeypatch.setattr(book_cli, "_interactive", lambda: True)
    answers = "acme\n25000000\n2026-01-15\n2031-01-15\nSOFR-3M\n575bps\n"
    result = run("--book", book, "new-deal", "acme-tl-2026", input=answers)
    assert result.exit_code == 0, result.output
    fac = load_yaml(book / "acme-tl-2026" / "deal.yaml")["facilities"][0]
    assert (fac["commitment"], fac["interest"]["index"], fac["interest"]["spread"]) == (25000000, "SOFR-3M", "575bps")


def test_new_deal_prompt_accepts_a_fixed_rate(book, monkeypatch):
    monkeypatch.setattr(book_cli, "_interactive", lambda: True)
    answers = "fixed\n11%\n"
    result = run("--book", book, "new-deal", "acme-fx", "--borrower", "acme", "--commitment", "1000000",
                 "--start", "2026-01-15", "--maturity", "2029-01-15", input=answers)
    assert result.exit_code == 0, result.output
    assert load_yaml(book / "acme-fx" / "deal.yaml")["facilities"][0]["interest"]["fixed_rate"] == "11%"


# --- templates -----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["a: b", "yes", "No", "null", "#x", "multi\nline", '"quoted"', "O'Brien",
                                  "-x", "[x]", "5.75%", "SOFR-3M", "ACT/360", "Acme — Term Loan", "~", "@x",
                                  "2026-01-15", "25000000", "  padded ", "{a: 1}", "*alias", "!tag", "x #y"])
def test_yaml_scalar_reads_back_as_written(text):
    doc, diags = parse(f"k: {scaffold.yaml_scalar(text)}\n", "t.yaml")
    assert diags == []
    assert str(doc.data["k"]) == text


def test_amendment_template_renders_a_valid_amendment(book):
    assert run("--book", book, "new-deal", "acme-tl-2026", *FULL_OPTIONS).exit_code == 0
    text = scaffold.render_amendment(
        amendment_id="001-repricing", effective_date="2026-07-15",
        description="Repricing by 50 bps: S+575 to S+525\nand a one-year extension",
        facility="tl", set_terms={"interest.spread": "525bps", "maturity_date": "2032-01-15"},
        approvals=[{"by": "ic", "role": "credit_committee", "date": "2026-07-01"}])
    assert text.startswith("# yaml-language-server: $schema=../../.schema/amendment.schema.json\n")
    doc, diags = parse(text, "001-repricing.yaml")
    assert diags == []
    from loanctl.model.documents import Amendment
    amendment, diags = validate_model(Amendment, doc)
    assert diags == []
    assert amendment.id == "001-repricing" and amendment.effective_date == dt.date(2026, 7, 15)
    assert amendment.approvals[0].role == "credit_committee"
    assert amendment.changes[0].facility == "tl"
    assert amendment.changes[0].set == {"interest.spread": "525bps", "maturity_date": "2032-01-15"}
    (book / "acme-tl-2026" / "amendments").mkdir()
    (book / "acme-tl-2026" / "amendments" / "001-repricing.yaml").write_text(text, encoding="utf-8")
    check = run("--book", book, "validate")
    assert check.exit_code == 0, check.output
    show = run("--book", book, "show", "acme-tl-2026", "--as-of", "2026-08-01", "--format", "json")
    assert '"amendment 001-repricing"' in show.output


def test_amendment_template_without_approvals():
    text = scaffold.render_amendment(amendment_id="002-x", effective_date="2027-01-15", description="x",
                                     facility="tl", set_terms={"interest.floor": "0.5%"})
    data = yaml.safe_load(text)
    assert data["approvals"] == [] and data["changes"] == [{"facility": "tl", "set": {"interest.floor": "0.5%"}}]


def test_resources_are_found_from_a_checkout():
    assert (resources.resource_dir("templates") / "deal.yaml.j2").is_file()
    assert (resources.resource_dir("deals") / "book.yaml").is_file()


# --- demo ----------------------------------------------------------------------------------
def test_demo_runs_the_tour_on_a_copy(tmp_path):
    dest = tmp_path / "demo"
    result = run("demo", "--dir", dest)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Demo book copied to {dest}" in out
    for heading in ("$ loanctl validate", "$ loanctl schedule meridian-tl-2025",
                    "$ loanctl schedule cobalt-unitranche-2025", "$ loanctl schedule keystone-holdco-2025",
                    "$ loanctl show meridian-tl-2025"):
        assert heading in out
    assert "0 errors, 0 warnings" in out
    assert "meridian-tl-2025 · tl · USD" in out and "cobalt-unitranche-2025 · ddtl · USD" in out
    assert (dest / "book.yaml").is_file() and (dest / ".schema" / "deal.schema.json").is_file()
    assert run("--book", dest, "validate").exit_code == 0


def test_demo_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("mine")
    result = run("demo", "--dir", tmp_path)
    assert result.exit_code == 2
    assert "not an empty folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_demo_copy_leaves_out_the_ledger_and_posted_payments(tmp_path, monkeypatch):
    src = tmp_path / "src"
    for rel in ("book.yaml", "acme/deal.yaml", ".loanctl/ledger.duckdb", "payments/2026-01-01-abc.csv",
                "acme/.loanctl/x", ".schema/deal.schema.json"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel)
    monkeypatch.setattr(demo, "resource_dir", lambda name: src)
    dest = demo.copy_demo_book(tmp_path / "dest")
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert copied == [".schema/deal.schema.json", "acme/deal.yaml", "book.yaml"]


def test_demo_is_a_list_of_steps_that_report_failure(tmp_path):
    from rich.console import Console
    dest = demo.copy_demo_book(tmp_path / "d")
    console = Console(file=open(tmp_path / "out.txt", "w"), width=200)
    steps = [demo.DemoStep("loanctl nothing", "a step that fails", lambda ctx: False),
             demo.DemoStep("loanctl boom", "a step that raises", lambda ctx: 1 / 0),
             demo.DEMO_STEPS[0]]
    assert demo.run_demo(dest, console, dt.date(2026, 11, 28), steps) is False
    console.file.close()
    out = (tmp_path / "out.txt").read_text()
    assert "$ loanctl boom" in out and "ZeroDivisionError" in out and "0 errors" in out


# --- start-up cost -------------------------------------------------------------------------
def test_help_does_not_import_heavy_modules():
    code = ("import sys, loanctl.cli; heavy = [m for m in ('jinja2', 'pydantic', 'rich.console', 'duckdb', "
            "'loanctl.origination.scaffold', 'loanctl.validation.schema') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_new_deal_in_a_book_without_funds_asks_for_lenders(tmp_path):
    root = tmp_path / "b"
    (root / "rates").mkdir(parents=True)
    (root / "book.yaml").write_text("name: B\nentities:\n  - {id: acme, kind: borrower, name: Acme}\n")
    (root / "rates" / "SOFR-3M.csv").write_text(RATES)
    result = run("--book", root, "new-deal", "acme-tl", *FULL_OPTIONS)
    assert result.exit_code == 1
    assert "--lender: error[E0207]" in result.output
    assert not (root / "acme-tl").exists()


def test_pre_commit_hooks_file_offers_loanctl_validate():
    hooks = yaml.safe_load((Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text())
    [hook] = hooks
    assert (hook["id"], hook["entry"], hook["args"], hook["language"]) == (
        "loanctl-validate", "loanctl", ["validate"], "python")
    assert hook["pass_filenames"] is False
