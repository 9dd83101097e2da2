"""Terms in force: a deal's facilities after applying its amendments in (effective_date, id) order.

Each facility becomes a list of `Version`s — the terms from one effective date on — and each
version knows where every term came from (the deal file or an amendment), both for
`loanctl show` and so that a diagnostic about an amended term points at the amendment line.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError

from ..diagnostics import Diagnostic
from ..model.records import AmendmentRecord, DealRecord
from ..model.documents import SETTABLE_BLOCKED, Facility
from ..model.validate import errors_to_diags, unwrap
from ..model.origin import Doc, Positions


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a term came from: a file and the path of its value there."""

    doc: Doc
    path: tuple
    label: str
    """'deal.yaml' or 'amendment 001-repricing'."""


@dataclass(slots=True)
class Version:
    """A facility's terms from `effective` on (None: from the start)."""

    effective: date | None
    facility: Facility
    raw: dict
    origins: list[tuple[tuple, Origin]] = field(default_factory=list)
    """(facility path prefix, origin), latest first; the first matching prefix wins."""

    def origin(self, path: tuple) -> tuple[Origin, tuple]:
        for prefix, origin in self.origins:
            if path[: len(prefix)] == prefix:
                return origin, origin.path + path[len(prefix):]
        raise LookupError(path)  # pragma: no cover - the root prefix () always matches

    def diag(self, code: str, message: str, path: tuple = (), *, hint: str | None = None,
             severity: str = "error") -> Diagnostic:
        origin, full = self.origin(path)
        return origin.doc.diag(code, message, full, hint=hint, severity=severity)

    def source_label(self, path: tuple) -> str:
        return self.origin(path)[0].label


@dataclass(slots=True)
class FacilityTerms:
    id: str
    versions: list[Version]

    def at(self, on: date) -> Version | None:
        """The version in force on a date (None before an added facility exists)."""
        current = None
        for version in self.versions:
            if version.effective is None or version.effective <= on:
                current = version
        return current

    @property
    def first(self) -> Version:
        return self.versions[0]

    @property
    def last(self) -> Version:
        return self.versions[-1]


class _MappedPositions(Positions):
    """Positions of a synthetic facility dict, looked up in the amendment that set them."""

    def __init__(self, origins: list[tuple[tuple, Origin]]) -> None:
        super().__init__()
        self._origins = origins

    def _map(self, path: tuple) -> tuple[Positions, tuple]:
        for prefix, origin in self._origins:
            if tuple(path[: len(prefix)]) == prefix:
                return origin.doc.positions, origin.path + tuple(path[len(prefix):])
        return Positions(), ()

    def value(self, path: tuple):
        positions, full = self._map(path)
        return positions.value(full)

    def key(self, path: tuple):
        positions, full = self._map(path)
        return positions.key(full)


def facility_terms(record: DealRecord, amendments: list[AmendmentRecord] | None = None
                   ) -> tuple[dict[str, FacilityTerms], list[Diagnostic]]:
    """Apply the deal's amendments (or those given, e.g. a draft being simulated)."""
    diags: list[Diagnostic] = []
    terms: dict[str, FacilityTerms] = {}
    deal_label = "deal.yaml"
    for i, facility in enumerate(record.deal.facilities):
        raw = record.doc.data["facilities"][i]
        origin = Origin(record.doc, ("facilities", i), deal_label)
        terms[facility.id] = FacilityTerms(facility.id, [Version(None, facility, raw, [((), origin)])])

    ordered = sorted(amendments if amendments is not None else record.amendments,
                     key=lambda a: (a.amendment.effective_date, a.amendment.id))
    for rec in ordered:
        diags += _apply(rec, terms)
    return terms, diags


def _apply(rec: AmendmentRecord, terms: dict[str, FacilityTerms]) -> list[Diagnostic]:
    am, doc = rec.amendment, rec.doc
    label = f"amendment {am.id}"
    diags: list[Diagnostic] = []
    for ci, change in enumerate(am.changes):
        cpath = ("changes", ci)
        if change.add_facility is not None and change.facility is None and change.set is None:
            origin = Origin(doc, cpath + ("add_facility",), label)
            origins = [((), origin)]
            fdoc = Doc(doc.file, change.add_facility, _MappedPositions(origins))
            facility, d = _validate_facility(change.add_facility, fdoc)
            diags += d
            if facility is None:
                continue
            if facility.id in terms:
                diags.append(doc.diag("E0213", f"facility '{facility.id}' already exists",
                                      cpath + ("add_facility", "id"), hint="choose a new facility id, or use set"))
                continue
            terms[facility.id] = FacilityTerms(facility.id, [Version(am.effective_date, facility,
                                                                     change.add_facility, origins)])
            continue
        if change.facility is None or change.set is None or change.add_facility is not None:
            diags.append(doc.diag("E0224", "a change names a facility with set, or adds one with add_facility",
                                  cpath, hint="write {facility: tl, set: {interest.spread: 525bps}} "
                                              "or {add_facility: {...}}"))
            continue
        ft = terms.get(change.facility)
        if ft is None:
            diags.append(doc.diag("E0214", f"no facility '{change.facility}' in this deal", cpath + ("facility",),
                                  hint=f"facilities: {', '.join(terms) or 'none'}"))
            continue
        base = ft.last
        if base.effective is not None and am.effective_date < base.effective:  # pragma: no cover - ordered
            continue
        f = base.facility
        if am.effective_date <= f.start_date or am.effective_date >= f.maturity_date:
            diags.append(doc.diag("E0217", f"effective date {am.effective_date} is outside facility "
                                  f"'{f.id}' ({f.start_date} to {f.maturity_date})", ("effective_date",),
                                  hint="amendments take effect after the start date and before maturity"))
            continue
        raw = copy.deepcopy(base.raw)
        origins = list(base.origins)
        bad = False
        for key, value in change.set.items():
            kpath = cpath + ("set", key)
            parts = tuple(key.split("."))
            if key in SETTABLE_BLOCKED:
                diags.append(doc.diag("E0215", f"{SETTABLE_BLOCKED[key]} cannot be changed by amendment", kpath,
                                      hint="add a new facility instead (add_facility)", key=True))
                bad = True
                continue
            if not _is_term_path(parts):
                diags.append(doc.diag("E0216", f"'{key}' is not a facility term", kpath, key=True,
                                      hint="use a dotted path such as interest.spread or maturity_date"))
                bad = True
                continue
            target = raw
            for part in parts[:-1]:
                nxt = target.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    target[part] = nxt
                target = nxt
            target[parts[-1]] = value
            origins.insert(0, (parts, Origin(doc, kpath, label)))
        if bad:
            continue
        fdoc = Doc(doc.file, raw, _MappedPositions(origins))
        facility, d = _validate_facility(raw, fdoc)
        diags += d
        if facility is None:
            continue
        for name, old, new in (("type", f.type, facility.type), ("payments.frequency", f.payments.frequency,
                                                                   facility.payments.frequency),
                               ("id", f.id, facility.id)):
            if old != new:  # also when set through a parent mapping ({payments: {frequency: …}})
                key = next((k for k in change.set if name.startswith(k) or k.startswith(name.split(".")[0])), name)
                diags.append(doc.diag("E0215", f"{SETTABLE_BLOCKED[name]} cannot be changed by amendment "
                                               f"({old} → {new})", cpath + ("set", key), key=True,
                                      hint="add a new facility instead (add_facility)"))
                bad = True
        if bad:
            continue
        ft.versions.append(Version(am.effective_date, facility, raw, origins))
    return diags


def _validate_facility(raw: Any, doc: Doc) -> tuple[Facility | None, list[Diagnostic]]:
    if not isinstance(raw, dict):
        return None, [doc.diag("E0103", "a facility is a mapping of keys", ())]
    try:
        return Facility.model_validate(raw), []
    except ValidationError as exc:
        return None, errors_to_diags(exc, Facility, doc, raw)


def _is_term_path(parts: tuple[str, ...]) -> bool:
    """Whether a dotted path names a field of the facility model."""
    current: list[Any] = [Facility]
    for part in parts:
        nxt: list[Any] = []
        for tp in current:
            if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
                nxt.extend(unwrap(tp.model_fields[part].annotation))
        if not nxt:
            return False
        current = nxt
    return True

