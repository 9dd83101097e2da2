"""Turn pydantic validation errors into loanctl diagnostics at the right line and column."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..diagnostics import CODES, Diagnostic
from .origin import Doc

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], doc: Doc, data: Any = None, base_path: tuple = ()) -> tuple[M | None, list[Diagnostic]]:
    """Validate `data` (default: the whole document) as `model`; positions are looked up
    under `base_path` in the document."""
    data = doc.data if data is None else data
    if not isinstance(data, dict):
        return None, [doc.diag("E0013", f"expected a mapping of keys for {_model_word(model)}, found {_kind(data)}",
                               base_path, hint="see `loanctl schema` for the expected keys")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, errors_to_diags(exc, model, doc, data, base_path)


def errors_to_diags(exc: ValidationError, model: type[BaseModel], doc: Doc, data: Any,
                    base_path: tuple = ()) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = base_path + _loc_path(data, loc)
        kind = err["type"]
        ctx = err.get("ctx") or {}
        if kind in CODES:
            d = doc.diag(kind, err["msg"], path, hint=ctx.get("hint") or None)
        elif kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"allowed keys here: {', '.join(sorted(allowed))}" if allowed else None)
            d = doc.diag("E0101", f"unknown key '{key}'", path, hint=hint, key=True)
        elif kind in ("missing", "union_tag_not_found"):
            key = str(loc[-1]) if kind == "missing" else str(ctx.get("discriminator", "type")).strip("'")
            d = doc.diag("E0102", f"required key '{key}' is missing", path,
                         hint=f"add {key}: … here (see `loanctl schema`)")
        elif kind in ("literal_error", "union_tag_invalid", "enum"):
            given = err.get("input") if kind != "union_tag_invalid" else ctx.get("tag")
            expected = str(ctx.get("expected") or ctx.get("expected_tags") or "")
            choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
            close = difflib.get_close_matches(str(given), choices, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else f"one of: {', '.join(choices)}"
            d = doc.diag("E0110", f"{given!r} is not one of {', '.join(choices)}", path, hint=hint)
        else:
            d = doc.diag("E0103", _plain(err["msg"], err.get("input")), path,
                         hint=_type_hint(kind))
        marker = (d.line, d.column, d.code)
        if marker in seen:
            continue
        seen.add(marker)
        out.append(d)
    return out


def _plain(msg: str, given: Any) -> str:
    msg = msg[0].lower() + msg[1:] if msg else msg
    return f"{msg} (found {_kind(given)})"


def _type_hint(kind: str) -> str | None:
    if kind.startswith(("int_", "decimal_")):
        return "write a whole number" if kind.startswith("int_") else "write a plain number"
    if kind in ("tuple_type", "list_type"):
        return "write a list: - item, or [a, b]"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "write a mapping of keys: {key: value}"
    if kind == "string_type":
        return "write text"
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    return repr(value) if len(repr(value)) < 40 else "a long value"


def _model_word(model: type[BaseModel]) -> str:
    return {"Book": "book.yaml", "Deal": "a deal", "Amendment": "an amendment",
            "Financials": "financials"}.get(model.__name__, model.__name__)


def _loc_path(data: Any, loc: tuple) -> tuple:
    """Map pydantic's loc onto a path into the data (dropping union tags)."""
    path: list = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and isinstance(part, str) and part in cur:
            path.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            path.append(part)
            cur = cur[part]
        # else: a union tag or a missing key; positions fall back to the parent
    return tuple(path)


def unwrap(tp: Any) -> list[Any]:
    """The concrete types a field annotation may hold."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out = []
        for arg in typing.get_args(tp):
            if arg is not type(None):
                out.extend(unwrap(arg))
        return out
    return [tp]


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    current: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            origin = typing.get_origin(tp)
            if isinstance(part, int) and origin in (tuple, list):
                nxt.extend(unwrap(typing.get_args(tp)[0]))
            elif isinstance(part, str) and origin is dict:
                nxt.extend(unwrap(typing.get_args(tp)[1]))
            elif isinstance(part, str) and isinstance(tp, type) and issubclass(tp, BaseModel):
                if part in tp.model_fields:
                    nxt.extend(unwrap(tp.model_fields[part].annotation))
                else:  # a discriminated-union tag: keep the member whose type literal matches
                    f = tp.model_fields.get("type")
                    if f is not None and part in typing.get_args(f.annotation):
                        nxt.append(tp)
        current = nxt
    names: list[str] = []
    for tp in current:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            names.extend(n for n in tp.model_fields if n not in names)
    return names
