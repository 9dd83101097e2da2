"""A deal as terms a credit professional names — `facilities.tl.interest.spread` — and the
changes between two versions, compared after parsing (so `575bps` and `5.75%` are the same
term) and shown as written."""


from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ..model.documents import Deal



LIST_KEYED = {"facilities": "id", "covenants": "id"}
#: terms of a funded deal that may change in deal.yaml without an amendment
FREE_TERMS = ("status", "notes", "tags")
APPEND_ONLY = ("origination.approvals",)


@dataclass(frozen=True)
class Term:
    key: str
    value: Any
    """Normalised (parsed) value, for comparison."""
    shown: str
    """As written in the file."""
    path: tuple
    """Path into the file's data, for the line and column."""


@dataclass(frozen=True)
class Change:
    key: str
    old: Term | None
    new: Term | None

    def text(self) -> str:
        return f"{self.key}: {self.old.shown if self.old else '∅'} → {self.new.shown if self.new else '∅'}"

    def as_dict(self) -> dict:
        return {"term": self.key, "old": self.old.shown if self.old else None, "new": self.new.shown if self.new else None}


def normalized(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, normalized(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(normalized(v) for v in value)
    return value


def show_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


def flatten(deal: Deal, raw: dict) -> dict[str, Term]:
    """Terms of a deal: nested mappings become dotted keys; facilities and covenants are keyed
    by id; other lists are one term each."""
    out: dict[str, Term] = {}

    def walk(m: Any, r: Any, prefix: str, path: tuple) -> None:
        for k, v in m.items():
            rv = r.get(k) if isinstance(r, dict) else None
            key = f"{prefix}.{k}" if prefix else k
            if k in LIST_KEYED and isinstance(v, (list, tuple)) and not prefix:
                raw_items = rv if isinstance(rv, list) else []
                for item in v:
                    iid = item[LIST_KEYED[k]]
                    idx = next((i for i, x in enumerate(raw_items) if isinstance(x, dict)
                                and str(x.get(LIST_KEYED[k])) == iid), None)
                    walk(item, raw_items[idx] if idx is not None else {}, f"{key}.{iid}",
                         path + (k, idx) if idx is not None else path + (k,))
            elif isinstance(v, dict) and k not in ("set", "add_facility"):
                walk(v, rv if isinstance(rv, dict) else {}, key, path + (k,))
            else:
                out[key] = Term(key, normalized(v), show_value(rv if rv is not None else v), path + (k,))

    walk(deal.model_dump(), raw, "", ())
    return out


def changes(old: dict[str, Term], new: dict[str, Term]) -> list[Change]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None or b is None or a.value != b.value:
            out.append(Change(key, a, b))
    return out


def is_prefix(old: Term | None, new: Term | None) -> bool:
    a = old.value if old else ()
    b = new.value if new else ()
    return isinstance(a, tuple) and isinstance(b, tuple) and b[: len(a)] == a


def flat_doc(data: Any, prefix: str = "", path: tuple = ()) -> dict[str, Term]:
    out: dict[str, Term] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flat_doc(v, f"{prefix}.{k}" if prefix else k, path + (k,)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.update(flat_doc(v, f"{prefix}[{i}]", path + (i,)))
    else:
        out[prefix] = Term(prefix, normalized(data), show_value(data), path)
    return out
