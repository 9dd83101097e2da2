"""JSON Schema for the book's files, for editors (yaml-language-server) and other tools.

The schemas come from the pydantic model (`loanctl.model.documents`), adjusted so that an editor
accepts exactly what loanctl accepts: money and numbers as a YAML number or a string,
rates as `"5.75%"`, `"575bps"` or a fraction, shares as `"60%"` or `0.6`, dates as ISO
strings (YAML 1.2 editors read an unquoted `2026-01-15` as a string), ids with the id
pattern. Unknown keys stay forbidden (`additionalProperties: false`). Field docstrings of
the model become descriptions, shown on hover.

Output is deterministic: `render` sorts keys and indents by 2, so the generated files in
`deals/.schema/` can be compared byte for byte (tests do).
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import os
import tempfile
import textwrap
import typing
from pathlib import Path
from typing import Any

KINDS = ("book", "deal", "amendment", "financials", "trade", "event")
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Patterns in ECMA-262 syntax (what JSON Schema validators use). They mirror loanctl.model.values.
_NUM = r"(\d[\d_]*(\.\d[\d_]*)?|\.\d[\d_]*)"
_FRACTION = r"(0+(\.\d+)?|0*\.\d+|0*1(\.0+)?)"  # a bare number between 0 and 1 written as text
NUMBER_PATTERN = rf"^\s*[-+]?{_NUM}\s*$"
RATE_PATTERN = rf"^\s*[-+]?({_NUM}\s*(%|[bB][pP][sS]?)|{_FRACTION})\s*$"
SHARE_PATTERN = rf"^\s*\+?({_NUM}\s*%|{_FRACTION})\s*$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
ID_PATTERN = r"^(?!.*\.\.)[a-z0-9][a-z0-9._-]{0,63}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"

_TITLES = {
    "book": ("loanctl book.yaml", "A loanctl book: entities, calendars, policy and defaults (SPEC §2.2)."),
    "deal": ("loanctl deal.yaml", "A deal: borrower, status, origination, facilities and covenants (SPEC §2.3)."),
    "amendment": ("loanctl amendment", "An amendment file <deal>/amendments/<id>.yaml (SPEC §2.4)."),
    "financials": ("loanctl financials", "Borrower financials for one reporting period (SPEC §7)."),
    "trade": ("loanctl trade", "An assignment of a lender's position <deal>/trades/<id>.yaml (SPEC §2.6)."),
    "event": ("loanctl credit event", "A credit event <deal>/events/<id>.yaml (SPEC §2.7)."),
}


def _before_func(annotated) -> Any:
    """The function of the BeforeValidator in an `Annotated[...]` value kind of the model."""
    for meta in typing.get_args(annotated)[1:]:
        if hasattr(meta, "func"):
            return meta.func
    raise AssertionError(f"{annotated} has no before-validator")  # pragma: no cover


def _value_kinds() -> dict[Any, dict]:
    """The JSON Schema of each value kind, keyed by the model's validator function."""
    from ..model import documents as model

    before_func = _before_func
    number = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMBER_PATTERN}],
              "description": "An exact number: 4.5 or \"4.5\"."}
    return {
        before_func(model.Money): {
            "anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMBER_PATTERN}],
            "description": "An exact amount: 25000000, 25_000_000.00 or \"1250.50\" (at most the currency's "
                           "minor-unit digits).",
            "examples": [25000000, "1250.50"]},
        before_func(model.Number): number,
        before_func(model.Rate): {
            "anyOf": [{"type": "number", "minimum": -1, "maximum": 1},
                      {"type": "string", "pattern": RATE_PATTERN}],
            "description": "A rate: \"5.75%\", \"575bps\", \"575 bps\" or the fraction 0.0575.",
            "examples": ["5.75%", "575bps", 0.0575]},
        before_func(model.Share): {
            "anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                      {"type": "string", "pattern": SHARE_PATTERN}],
            "description": "A share: \"60%\" or 0.6.",
            "examples": ["60%", 0.6]},
        before_func(model.Date): {
            "type": "string", "format": "date", "pattern": DATE_PATTERN,
            "description": "An ISO date: 2026-01-15."},
        before_func(model.Id): {
            "type": "string", "pattern": ID_PATTERN,
            "description": "An id: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit."},
        before_func(model.Currency): {
            "type": "string", "pattern": CURRENCY_PATTERN,
            "description": "An ISO 4217 currency code: USD, EUR, GBP, JPY …"},
    }


def _generator():
    from pydantic.json_schema import GenerateJsonSchema

    from ..model import documents as model

    kinds = _value_kinds()
    number = kinds[_before_func(model.Number)]

    class LoanctlJsonSchema(GenerateJsonSchema):
        def function_before_schema(self, schema):
            func = schema.get("function", {}).get("function")
            if func is model.bound_steps:  # a covenant bound: one number, or steps over time
                return {"anyOf": copy.deepcopy(number["anyOf"]) + [self.generate_inner(schema["schema"])],
                        "description": "A bound: 4.5, or steps [{until: 2027-12-31, value: 5.0}, {value: 4.5}]."}
            if func in kinds:
                return copy.deepcopy(kinds[func])
            return super().function_before_schema(schema)

    return LoanctlJsonSchema


def _field_docstrings(cls: type) -> dict[str, str]:
    """`field: type` followed by a string literal: the attribute docstrings of a model class."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):  # pragma: no cover - source not shipped
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    out: dict[str, str] = {}
    for stmt, nxt in zip(body, body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            out[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return out


def _describe(schema: dict, root_cls: type) -> None:
    """Attach field docstrings as descriptions, for every model class in the schema."""
    from pydantic import BaseModel

    from ..model import documents as model

    classes = {name: obj for name, obj in vars(model).items()
               if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == model.__name__}
    targets = [(root_cls, schema)] + [(classes[name], d) for name, d in schema.get("$defs", {}).items()
                                      if name in classes]
    for cls, node in targets:
        for field, doc in _field_docstrings(cls).items():
            prop = node.get("properties", {}).get(field)
            if prop is not None:
                prop["description"] = doc


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            out |= _refs(value)
        return out
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _with_defs(schema: dict, source_defs: dict, names: set[str]) -> None:
    """Copy the definitions `names` (and what they refer to) from `source_defs` into `schema`."""
    defs = schema.setdefault("$defs", {})
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in defs or name not in source_defs:
            continue
        defs[name] = copy.deepcopy(source_defs[name])
        todo += sorted(_refs(defs[name]))


def json_schemas() -> dict[str, dict]:
    """The JSON Schema of each kind of book file: book, deal, amendment, financials, trade, event."""
    from ..model import documents as model

    gen = _generator()
    roots = {"book": model.Book, "deal": model.Deal, "amendment": model.Amendment, "financials": model.Financials,
             "trade": model.Trade, "event": model.CreditEvent}
    out: dict[str, dict] = {}
    for kind, cls in roots.items():
        schema = cls.model_json_schema(mode="validation", schema_generator=gen)
        _describe(schema, cls)
        title, description = _TITLES[kind]
        schema.update({"$schema": DRAFT, "title": title, "description": description})
        out[kind] = schema

    # An added facility is a whole facility: give editors its schema, not a free mapping.
    amendment = out["amendment"]
    change = amendment["$defs"]["Change"]["properties"]
    change["add_facility"]["anyOf"] = [{"$ref": "#/$defs/Facility"}, {"type": "null"}]
    _with_defs(amendment, out["deal"]["$defs"], {"Facility"})
    # `set` takes dotted paths into the facility: list them, so editors complete and check them.
    change["set"]["anyOf"][0] = {"type": "object", "additionalProperties": False,
                                 "properties": _settable_terms(amendment["$defs"])}
    return out


def _settable_terms(defs: dict) -> dict[str, dict]:
    """Every dotted path an amendment may `set`, with the schema of its value."""
    from ..model.documents import SETTABLE_BLOCKED

    out: dict[str, dict] = {}

    def walk(def_name: str, prefix: str) -> None:
        for name, prop in defs[def_name]["properties"].items():
            path = prefix + name
            if path in SETTABLE_BLOCKED:
                continue
            out[path] = {k: v for k, v in copy.deepcopy(prop).items() if k != "default"}
            ref = prop.get("$ref", "")
            if ref.startswith("#/$defs/") and "properties" in defs.get(ref.rsplit("/", 1)[-1], {}):
                walk(ref.rsplit("/", 1)[-1], path + ".")

    walk("Facility", "")
    return out


def render(schema: dict) -> str:
    """The schema as deterministic JSON text (sorted keys, indent 2, final newline)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_name(kind: str) -> str:
    return f"{kind}.schema.json"


def write_schemas(folder: Path, kinds: tuple[str, ...] = KINDS) -> list[Path]:
    """Write `<kind>.schema.json` for each kind into `folder` (created if needed); each file
    is written to a temporary name and renamed, so a reader never sees half a file."""
    schemas = json_schemas()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in kinds:
        path = folder / file_name(kind)
        write_atomic(path, render(schemas[kind]))
        written.append(path)
    return written


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path` and rename it over `path`. The file gets
    the mode of the file it replaces, else the usual mode for new files (mkstemp's is 0600)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
