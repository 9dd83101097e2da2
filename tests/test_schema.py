"""`loanctl schema`: the JSON Schemas editors use accept what loanctl accepts, the demo book's
files validate against them, and the committed copies in deals/.schema cannot drift."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

import loanctl.cli  # noqa: F401  (registers the commands)
from loanctl.model import values
from loanctl.cli.common import app
from loanctl.validation.schema import KINDS, file_name, json_schemas, render

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "deals"
SCHEMAS = json_schemas()


def _iso(data):
    """yaml.safe_load turns 2026-01-15 into a date; editors (YAML 1.2) see the string."""
    if isinstance(data, dict):
        return {k: _iso(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_iso(v) for v in data]
    if isinstance(data, (dt.date, dt.datetime)):
        return data.isoformat()
    return data


def _validator(kind: str):
    return jsonschema.Draft202012Validator(SCHEMAS[kind], format_checker=jsonschema.FormatChecker())


def _errors(kind: str, data) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(kind).iter_errors(data)]


def _demo_files():
    files = [("book", DEMO / "book.yaml")]
    files += [("deal", p) for p in sorted(DEMO.glob("*/deal.yaml"))]
    files += [("amendment", p) for p in sorted(DEMO.glob("*/amendments/*.yaml"))]
    files += [("financials", p) for p in sorted(DEMO.glob("*/financials/*.yaml"))]
    files += [("trade", p) for p in sorted(DEMO.glob("*/trades/*.yaml"))]
    files += [("event", p) for p in sorted(DEMO.glob("*/events/*.yaml"))]
    return files


@pytest.mark.parametrize("kind", KINDS)
def test_committed_schema_equals_generated(kind):
    committed = DEMO / ".schema" / file_name(kind)
    assert committed.is_file(), "deals/.schema is missing a file: run `loanctl schema --out deals/.schema`"
    assert committed.read_text(encoding="utf-8") == render(SCHEMAS[kind]), (
        f"deals/.schema/{file_name(kind)} is out of date with the model: run `loanctl schema --out deals/.schema`")


@pytest.mark.parametrize("kind", KINDS)
def test_schemas_are_valid_draft_2020_12(kind):
    jsonschema.Draft202012Validator.check_schema(SCHEMAS[kind])


def test_render_is_deterministic_sorted_and_indented():
    first = render(json_schemas()["deal"])
    assert first == render(json_schemas()["deal"])
    assert first.startswith('{\n  "$defs": {')
    assert first.endswith("}\n")


@pytest.mark.parametrize("kind,path", _demo_files(), ids=lambda x: x if isinstance(x, str) else
                         str(x.relative_to(DEMO)))
def test_demo_file_validates_against_its_schema(kind, path):
    assert _errors(kind, _iso(yaml.safe_load(path.read_text(encoding="utf-8")))) == []


@pytest.mark.parametrize("kind,path", [f for f in _demo_files() if f[0] != "financials"],
                         ids=lambda x: x if isinstance(x, str) else str(x.relative_to(DEMO)))
def test_demo_file_references_the_schema_of_its_kind(kind, path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert m, f"{path} does not start with a yaml-language-server schema comment"
    target = (path.parent / m.group(1)).resolve()
    assert target == (DEMO / ".schema" / file_name(kind)).resolve()


# --- the schema accepts what loanctl accepts, and flags what it rejects ----------------------
def _deal(**facility_changes):
    data = _iso(yaml.safe_load((DEMO / "meridian-tl-2025" / "deal.yaml").read_text(encoding="utf-8")))
    fac = data["facilities"][0]
    for dotted, value in facility_changes.items():
        *parents, last = dotted.split("__")
        target = fac
        for p in parents:
            target = target[p]
        target[last] = value
    return data


@pytest.mark.parametrize("text", ["5.75%", "575bps", "575 bps", "575BPS", "25bp", "-25bps", "0.0575", ".05",
                                  "1", "1.00", "0", "5.75 %", "1_000bps",
                                  "5.75", "1.5", "abc", "5,75%", "%", "bps", "5.%", "", "12 percent"])
def test_rate_strings_accepted_exactly_when_loanctl_parses_them(text):
    try:
        values.parse_rate(text)
        parses = True
    except values.ValueProblem:
        parses = False
    assert (_errors("deal", _deal(interest__spread=text)) == []) is parses, text


@pytest.mark.parametrize("number,ok", [(0.0575, True), (1, True), (0, True), (5.75, False), (575, False)])
def test_rate_numbers_above_one_are_flagged(number, ok):
    assert (_errors("deal", _deal(interest__spread=number)) == []) is ok


@pytest.mark.parametrize("text", ["25000000", "25_000_000.00", "1250.50", "-5", "25,000,000", "$25", "1e6", "abc"])
def test_money_strings_accepted_exactly_when_loanctl_parses_them(text):
    try:
        values.parse_money(text)
        parses = True
    except values.ValueProblem:
        parses = False
    assert (_errors("deal", _deal(commitment=text)) == []) is parses, text


@pytest.mark.parametrize("text", ["60%", "0.6", "100%", "0", "1", "60", "abc", "-10%", "0.6%"])
def test_share_strings_accepted_exactly_when_loanctl_parses_them(text):
    # (a percentage above 100% is the one thing the pattern cannot see; validate reports it)
    try:
        values.parse_share(text)
        parses = True
    except values.ValueProblem:
        parses = False
    data = _deal(participations=[{"lender": "fund-i", "share": text}])
    assert (_errors("deal", data) == []) is parses, text


def test_money_as_yaml_number_is_accepted():
    assert _errors("deal", _deal(commitment=32000000)) == []
    assert _errors("deal", _deal(commitment=1250.5)) == []


@pytest.mark.parametrize("value,ok", [("2026-01-15", True), ("2026-1-15", False), ("15/01/2026", False),
                                      (20260115, False)])
def test_dates_are_iso_strings(value, ok):
    assert (_errors("deal", _deal(maturity_date=value)) == []) is ok


@pytest.mark.parametrize("value,ok", [("meridian-health", True), ("a.b_c-1", True), ("A/B", False),
                                      ("../x", False), ("a..b", False), ("-x", False), ("x" * 65, False)])
def test_ids_carry_the_id_pattern(value, ok):
    data = _deal()
    data["borrower"] = value
    assert (_errors("deal", data) == []) is ok
    assert bool(values.ID_RE.match(value) and ".." not in value) is ok


def test_unknown_keys_are_flagged_at_every_level():
    data = _deal(interest__spred="525bps")
    data["statuss"] = "funded"
    errors = _errors("deal", data)
    assert any("'spred' was unexpected" in e for e in errors)
    assert any("'statuss' was unexpected" in e for e in errors)


def test_covenant_bound_is_a_number_or_steps():
    data = _deal()
    data["covenants"] = [{"id": "lev", "metric": "total_leverage", "max": 4.5},
                         {"id": "lev2", "metric": "total_leverage",
                          "max": [{"until": "2027-12-31", "value": 5.0}, {"value": "4.5"}]},
                         {"id": "icr", "metric": "interest_coverage", "min": "2.0"}]
    assert _errors("deal", data) == []
    data["covenants"] = [{"id": "lev", "metric": "total_leverage", "max": "high"}]
    assert _errors("deal", data) != []


def test_amendment_set_paths_are_the_facility_terms():
    base = {"id": "002-x", "effective_date": "2026-07-15", "changes": [{"facility": "tl", "set": {}}]}
    base["changes"][0]["set"] = {"interest.spread": "525bps", "maturity_date": "2032-01-15",
                                 "participations": [{"lender": "fund-i", "share": "100%"}]}
    assert _errors("amendment", base) == []
    for bad in ({"interest.spred": "1%"}, {"payments.frequency": "monthly"}, {"type": "revolver"},
                {"interest.spread": 5.25}):
        base["changes"][0]["set"] = bad
        assert _errors("amendment", base) != [], bad


def test_amendment_add_facility_is_checked_as_a_facility():
    fac = _deal()["facilities"][0] | {"id": "ddtl"}
    change = {"id": "002-x", "effective_date": "2026-07-15", "changes": [{"add_facility": fac}]}
    assert _errors("amendment", change) == []
    change["changes"][0]["add_facility"] = fac | {"comitment": 1}
    assert _errors("amendment", change) != []


def test_field_docstrings_become_descriptions():
    facility = SCHEMAS["deal"]["$defs"]["Facility"]["properties"]
    assert "commitment fees accrue up to it" in facility["availability_end"]["description"]


# --- the command ---------------------------------------------------------------------------
def test_schema_prints_one_kind_to_stdout():
    result = CliRunner().invoke(app, ["schema", "--kind", "amendment"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(render(SCHEMAS["amendment"]))
    assert result.stdout == render(SCHEMAS["amendment"])


def test_schema_prints_the_deal_schema_by_default():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == render(SCHEMAS["deal"])


def test_schema_out_writes_all_four_files(tmp_path):
    result = CliRunner().invoke(app, ["schema", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(file_name(k) for k in KINDS)
    for kind in KINDS:
        assert (tmp_path / "s" / file_name(kind)).read_text(encoding="utf-8") == render(SCHEMAS[kind])


def test_schema_rejects_an_unknown_kind():
    assert CliRunner().invoke(app, ["schema", "--kind", "deals"]).exit_code == 2
