"""Renderers of the book diff: text and Markdown (for a pull request's job summary)."""

from __future__ import annotations

from .text import inert, md, md_code

IMPACT = (("total_interest", "total interest"), ("total_fees", "total fees"), ("maturity", "maturity"),
          ("next_payment_date", "next payment"), ("next_payment_amount", "next payment amount"))


def _cell(text) -> str:
    return md(text if text is not None else "—")


def _amendment_lines(am: dict, indent: str) -> list[str]:
    out = []
    for c in am.get("changes", []):
        if "set" in c:
            out += [f"{indent}facilities.{c['facility']}.{k} → {v}" for k, v in c["set"].items()]
        else:
            out.append(f"{indent}adds facility {c['add_facility']}")
    return out


def diff_text(entries: list[dict], a: str, b: str) -> str:
    if not entries:
        return f"no deal changed between {a} and {b}\n"
    out = [f"deals changed between {a} and {b}:"]
    for e in entries:
        out.append(f"{e['deal']} ({e['status']})")
        for ch in e["changes"]:
            out.append(f"  {ch['term']}: {ch['old'] if ch['old'] is not None else '∅'} → "
                       f"{ch['new'] if ch['new'] is not None else '∅'}")
        for am in e["amendments_added"]:
            out.append(f"  + amendment {am['id']} effective {am['effective_date']}: {am['description'] or ''}")
            out += _amendment_lines(am, "      ")
        for am in e["amendments_changed"]:
            out.append(f"  ! amendment {am} changed")
        before, after = (e.get("impact") or {}).get("before"), (e.get("impact") or {}).get("after")
        for key, label in IMPACT:
            x = before.get(key) if before else None
            y = after.get(key) if after else None
            if x != y:
                out.append(f"  {label}: {x or '—'} → {y or '—'}")
    return "\n".join(inert(line, one_line=True) for line in out) + "\n"


def diff_markdown(entries: list[dict], a: str, b: str) -> str:
    out = [f"### loanctl: deal changes {md_code(a)} → {md_code(b)}", ""]
    if not entries:
        out.append("No deal changed.")
        return "\n".join(out) + "\n"
    for e in entries:
        out += [f"#### {md_code(e['deal'])} ({e['status']})", ""]
        if e["changes"]:
            out += ["| term | before | after |", "|---|---|---|"]
            out += [f"| {md_code(ch['term'])} | {_cell(ch['old'])} | {_cell(ch['new'])} |" for ch in e["changes"]]
            out.append("")
        for am in e["amendments_added"]:
            out.append(f"- new amendment **{_cell(am['id'])}**, effective {_cell(am['effective_date'])}: "
                       f"{_cell(am['description'])}")
            out += [f"  - {md_code(line.strip())}" for line in _amendment_lines(am, "")]
        for am in e["amendments_changed"]:
            out.append(f"- amendment **{_cell(am)}** changed")
        before, after = (e.get("impact") or {}).get("before"), (e.get("impact") or {}).get("after")
        out += ["", "| schedule | before | after |", "|---|---|---|"]
        for key, label in IMPACT:
            out.append(f"| {label} | {_cell(before.get(key) if before else None)} | "
                       f"{_cell(after.get(key) if after else None)} |")
        out.append("")
    return "\n".join(out) + "\n"
