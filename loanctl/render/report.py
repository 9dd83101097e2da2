"""Renderers of the portfolio report: JSON (SPEC §5), CSV, text (rich), Markdown and HTML
(Jinja2 templates, overridable by a book's own templates/ folder)."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

from ..conventions.currency import minor_units
from ..reports.build import Report
from .text import json_text, md

RATE_KEYS = {"price", "rate", "spread", "pik_rate", "share", "weighted_average_rate", "weighted_average_spread",
             "pik_share_of_outstanding", "xirr", "moic", "mark_price", "share_decimal", "non_accrual_share"}
CSV_COLUMNS = ("deal", "facility", "borrower", "borrower_name", "industry", "lenders", "share", "currency", "status",
               "commitment", "drawn", "unfunded", "outstanding_principal", "accrued_interest", "pik_capitalised",
               "interest_received", "fees_received", "principal_received", "unapplied", "past_due", "dpd",
               "dpd_bucket", "rate", "spread", "pik_rate", "maturity_date", "availability_end",
               "accrued_pik", "accrued_commitment_fee", "unapplied_since", "unapplied_age_days",
               "amortized_cost", "mark_price", "mark_date", "mark_source", "fair_value", "unrealized_gain",
               "default_interest_due", "accrued_default_interest", "in_default", "non_accrual", "non_accrual_since",
               "written_off", "recoveries")


def _plain(value, key: str = "", digits: int = 2):
    """JSON-ready: money as strings with the currency's digits, rates as decimal strings."""
    if isinstance(value, Decimal):
        if key in RATE_KEYS:
            return format(value.normalize(), "f") if value else "0"
        return f"{value:.{digits}f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v, k, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, key, digits) for v in value]
    return value


def report_dict(r: Report) -> dict:
    positions = [_plain(p, "", minor_units(p["currency"])) for p in r.positions]
    return {
        "scope": {"kind": r.scope.kind, "id": r.scope.id, "name": r.scope.name, "lenders": list(r.scope.lenders)},
        "as_of": r.as_of.isoformat(),
        "positions": positions,
        "totals": {c: _plain(t, "", minor_units(c)) for c, t in r.totals.items()},
        "metrics": {c: _plain(m, "", minor_units(c)) for c, m in r.metrics.items()},
        "covenants": _plain(r.covenants),
        **_valuation_dict(r),
        "trades": [_plain(t, "", minor_units(t["currency"])) for t in r.trades],
    }


def _valuation_dict(r: Report) -> dict:
    """`translation` (--currency) and `look_through` (--investor), when the report has them."""
    out: dict = {}
    if r.translation is not None:
        t = r.translation
        n = minor_units(t["currency"])
        out["translation"] = {"currency": t["currency"], "as_of": t["as_of"].isoformat(),
                              "rates": [{**_plain(x, "", n), "rate": format(x["rate"], "f")} for x in t["rates"]],
                              "totals": _plain(t["totals"], "", n)}
    if r.look_through:
        out["look_through"] = [{**_plain(x), "commitment": format(x["commitment"], "f"),
                                "fund_commitments": format(x["fund_commitments"], "f")} for x in r.look_through]
    return out


def to_json(r: Report) -> str:
    return json_text(json.dumps(report_dict(r), indent=2, ensure_ascii=False)) + "\n"  # borrower names: inert


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(cell: str) -> str:
    """Neutralise spreadsheet formula injection: a text cell starting with = + - @ is quoted."""
    if cell and cell.startswith(_FORMULA):
        try:
            Decimal(cell)
            return cell  # a negative number stays a number
        except ArithmeticError:  # decimal.InvalidOperation: not a number
            return "'" + cell
    return cell


def to_csv(r: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in report_dict(r)["positions"]:
        w.writerow([csv_safe(";".join(p[c]) if isinstance(p.get(c), list) else ("" if p.get(c) is None else
                                                                              str(p[c]).lower() if isinstance(p[c], bool)
                                                                              else str(p[c])))
                    for c in CSV_COLUMNS])
    return buf.getvalue()


def _nonzero(value, digits: int) -> str:
    return amount(value, digits) if value else ""


def pct(value, places: int = 2) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value) * 100:.{places}f}%"


def amount(value, digits: int = 2) -> str:
    return f"{Decimal(value):,.{digits}f}"


def to_text(r: Report, console) -> None:
    from rich.table import Table
    from rich.text import Text

    from .text import print_side_by_side, print_table, text as inert_text
    console.print(inert_text(f"{r.book_name} — {r.scope.kind} {r.scope.name} — as of {r.as_of.isoformat()}", "bold"))
    if not r.positions:
        console.print("no funded positions in this scope")
    for ccy, tot in r.totals.items():
        n = minor_units(ccy)
        rows = [(p, received) for p, received in zip(r.positions, r.received) if p["currency"] == ccy]
        t = Table(title=f"positions ({ccy})", title_justify="left", header_style="bold", pad_edge=False)
        for name in ("Deal", "Fac", "Outstanding", "Accrued", "Accr. PIK", "Accr. fee", "Unfunded", "Rate",
                     "Past due", "DPD", "Received"):
            t.add_column(name, justify="left" if name in ("Deal", "Fac") else "right", no_wrap=name != "Deal")
        for p, received in rows:
            t.add_row(p["deal"] + credit_marks(p), p["facility"], amount(p["outstanding_principal"], n), amount(p["accrued_interest"], n),
                      _nonzero(p["accrued_pik"], n), _nonzero(p["accrued_commitment_fee"], n),
                      amount(p["unfunded"], n), pct(p["rate"]), amount(p["past_due"], n) if p["past_due"] else "",
                      str(p["dpd"]) if p["dpd"] else "", amount(received, n))
        t.add_section()
        t.add_row("Total", "", amount(tot["outstanding_principal"], n), amount(tot["accrued_interest"], n),
                  amount(tot["accrued_pik"], n), amount(tot["accrued_commitment_fee"], n),
                  amount(tot["unfunded"], n), "", amount(tot["past_due"], n), "",
                  amount(r.received_totals[ccy], n), style="bold")
        print_table(console, t)
        _credit_text(console, rows, tot, n)
        held = [p for p, _ in rows if p["unapplied"]]
        if held:
            u = Table(title=f"unapplied cash ({ccy})", title_justify="left", header_style="bold", pad_edge=False)
            for name in ("Deal", "Fac", "Unapplied", "Oldest payment", "Age (days)"):
                u.add_column(name, justify="left" if name in ("Deal", "Fac", "Oldest payment") else "right")
            for p in held:
                since = p["unapplied_since"]
                u.add_row(p["deal"], p["facility"], amount(p["unapplied"], n), since.isoformat() if since else "—",
                          str(p["unapplied_age_days"]) if since else "—")
            print_table(console, u)
        m = r.metrics[ccy]
        console.print(f"weighted average rate {pct(m['weighted_average_rate'])} · spread "
                      f"{pct(m['weighted_average_spread'])} · PIK share {pct(m['pik_share_of_outstanding'])} · "
                      f"gross XIRR {pct(m['xirr'])} · MOIC {m['moic'] if m['moic'] is not None else '—'}x")
        b = Table(title="days past due", title_justify="left", header_style="bold")
        for name in ("Bucket", "Outstanding", "Positions"):
            b.add_column(name, justify="left" if name == "Bucket" else "right")
        for row in m["dpd_buckets"]:
            b.add_row(row["bucket"], amount(row["amount"], n), str(row["count"]))
        c = Table(title="concentration by borrower", title_justify="left", header_style="bold")
        for name in ("Borrower", "Outstanding", "Share", ""):
            c.add_column(name, justify="left" if name in ("Borrower", "") else "right")
        for row in m["concentration_borrower"]:
            c.add_row(row["name"], amount(row["outstanding"], n), pct(row["share"]),
                      Text("above limit", style="bold red") if row["above_limit"] else "")
        print_side_by_side(console, [b, c])
    valuation_text(r, console)
    if r.trades:
        t = Table(title="trades (settled by the as-of date)", title_justify="left", header_style="bold")
        for name in ("Deal", "Facility", "Trade", "Settled", "Side", "Counterparty", "Par", "Price", "Cash",
                     "Gain/loss", "Premium/discount"):
            t.add_column(name, justify="right" if name in ("Par", "Price", "Cash", "Gain/loss", "Premium/discount")
                         else "left")
        for row in r.trades:
            n = minor_units(row["currency"])
            t.add_row(row["deal"], row["facility"], row["trade"], str(row["settlement_date"]), row["side"],
                      row["counterparty"], amount(row["par"], n), format(row["price"].normalize(), "f"),
                      amount(row["cash"], n),
                      "" if row["gain_loss"] is None else amount(row["gain_loss"], n),
                      "" if row["premium_discount"] is None else amount(row["premium_discount"], n))
        print_table(console, t)
    if r.latest_covenants:
        t = Table(title="covenants (latest test of each; overdue financials)", title_justify="left",
                  header_style="bold")
        for name in ("Deal", "Covenant", "Period", "Value", "Bound", "Headroom", "Status"):
            t.add_column(name)
        for row in r.latest_covenants:
            style = {"breached": "bold red", "at_risk": "yellow", "overdue": "magenta"}.get(row["status"])
            t.add_row(row["deal"], row["covenant"], str(row["period_end"]), str(row.get("value") or "—"),
                      str(row.get("bound") or "—"), str(row.get("headroom") or "—"), Text(row["status"], style=style or ""))
        print_table(console, t)


def valuation_text(r: Report, console) -> None:
    """Amortized cost, fair value, unrealized gain and loan NAV per currency; the look-through
    shares; the translated totals with the rates used."""
    from rich.table import Table

    from .text import print_table
    if any("fair_value" in t for t in r.totals.values()):
        t = Table(title="valuation (marks: latest on or before the as-of date)", title_justify="left",
                  header_style="bold", pad_edge=False)
        for name in ("Currency", "Amortized cost", "Fair value", "Unrealized gain", "Loan NAV"):
            t.add_column(name, justify="left" if name == "Currency" else "right")
        for ccy, tot in r.totals.items():
            n = minor_units(ccy)
            t.add_row(ccy, *(amount(tot[k], n) for k in ("amortized_cost", "fair_value", "unrealized_gain",
                                                          "loan_nav")))
        print_table(console, t)
    if r.look_through:
        t = Table(title=f"look-through of {r.scope.name}", title_justify="left", header_style="bold", pad_edge=False)
        for name in ("Fund", "Commitment", "Fund commitments", "Share"):
            t.add_column(name, justify="left" if name == "Fund" else "right")
        for x in r.look_through:
            t.add_row(x["fund"], amount(x["commitment"]), amount(x["fund_commitments"]),
                      f"{x['share']} = {pct(x['share_decimal'], 4)}")
        print_table(console, t)
    if r.translation is not None:
        tr = r.translation
        n = minor_units(tr["currency"])
        rates = "; ".join(f"{x['currency']} at {x['pair']} {x['rate']} of {x['date'].isoformat()}"
                          + (" (inverted)" if x["inverse"] else "") for x in tr["rates"]) or "none needed"
        t = Table(title=f"totals in {tr['currency']} (rates: {rates})", title_justify="left", header_style="bold",
                  pad_edge=False)
        t.add_column("Figure")
        t.add_column(tr["currency"], justify="right")
        for k, x in tr["totals"].items():
            t.add_row(k.replace("_", " "), amount(x, n))
        print_table(console, t)


def credit_marks(p: dict) -> str:
    """The markers after a position's deal: [default] [non-accrual] [written off]."""
    marks = [m for m, on in (("default", p["in_default"]), ("non-accrual", p["non_accrual"]),
                             ("written off", p["written_off"] > 0)) if on]
    return "".join(f" [{m}]" for m in marks)


def _credit_text(console, rows, tot: dict, n: int) -> None:
    """Credit events (SPEC §5): non-accrual principal and its share; defaults, write-offs, recoveries."""
    from rich.table import Table

    from .text import print_table
    flagged = [p for p, _ in rows if p["in_default"] or p["non_accrual"] or p["written_off"]
               or p["default_interest_due"] or p["accrued_default_interest"]]
    if not flagged:
        return
    console.print(f"non-accrual principal {amount(tot['non_accrual_principal'], n)} "
                  f"({pct(tot['non_accrual_share'])} of outstanding) · written off {amount(tot['written_off'], n)} · "
                  f"recoveries {amount(tot['recoveries'], n)} · default interest due "
                  f"{amount(tot['default_interest_due'], n)}", highlight=False)
    t = Table(title="credit events", title_justify="left", header_style="bold", pad_edge=False)
    for name in ("Deal", "Fac", "Status", "Non-accrual since", "Default int. due", "Default int. accrued",
                 "Written off", "Recoveries"):
        t.add_column(name, justify="left" if name in ("Deal", "Fac", "Status", "Non-accrual since") else "right")
    for p in flagged:
        since = p["non_accrual_since"]
        t.add_row(p["deal"], p["facility"], credit_marks(p).strip().replace("] [", ", ").strip("[]") or "current",
                  since.isoformat() if since else "", amount(p["default_interest_due"], n),
                  amount(p["accrued_default_interest"], n), amount(p["written_off"], n), amount(p["recoveries"], n))
    print_table(console, t)


def template_env(book_root: Path | None, autoescape_html: bool = True):
    """The sandboxed Jinja2 environment: the book's own templates/ first, then loanctl's."""
    from ..resources import resource_dir
    from ..templating import template_environment

    paths = []
    if book_root is not None and os.path.lexists(book_root / "templates"):
        paths.append(book_root / "templates")
    paths.append(resource_dir("templates"))
    return template_environment(paths, autoescape_html, book_root=book_root, filters={"amount": amount, "pct": pct, "md": md})


def to_markdown(r: Report, book_root: Path | None = None) -> str:
    from ..templating import render_template
    return render_template(template_env(book_root, autoescape_html=False), "report.md.j2",
                           report=report_dict(r), r=r, minor_units=minor_units)


def to_html(r: Report, book_root: Path | None = None) -> str:
    from . import charts
    from ..templating import render_template
    return render_template(template_env(book_root), "report.html.j2", report=_report_values(r, book_root, "html"),
                           r=r, minor_units=minor_units, charts=charts.all_charts(r), position_rows=position_rows,
                           covenant_rows=covenant_rows)


def _report_values(r: Report, book_root: Path | None, ext: str) -> dict:
    """The template's `report` (the JSON-ready dict): whole for a book's own template, which may
    read any of it; loanctl's packaged template reads only `report.as_of`, so it gets only that
    (building the dict of thousands of positions costs more than the rest of the page)."""
    if book_root is not None and os.path.lexists(book_root / "templates" / f"report.{ext}.j2"):
        return report_dict(r)
    return {"as_of": r.as_of.isoformat()}


# --- the HTML report's two long tables, row by row ----------------------------------------------
# What the packaged template's loops over positions and covenant tests wrote (escaped as the
# autoescaping template escapes: markupsafe), as one string per table: the template calls these
# instead of running the loops itself, cell by cell through the sandbox (most of the page's time).
def _opt_date(d) -> str:
    return d.isoformat() if d else "—"


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def escape(value) -> str:
    """markupsafe.escape's text (the autoescaping template's): `&<>"'` as entities, a value with
    `__html__` as its markup — in one str.translate, cheaper for thousands of short cells."""
    t = type(value)
    if t is Decimal or t is int:  # digits, sign, point, exponent: nothing to escape
        return str(value)
    if t is not str:
        html = getattr(value, "__html__", None)
        if html is not None:
            return html()
        value = str(value)
    return value.translate(_ESCAPES)


def _position_cells(columns) -> list:
    """A writer of one position's cells per column (`columns`: the template's (key, label, kind))."""
    def cell(i: int, k: str, kind: str):
        # `amount` and `pct` write only digits, separators, signs, "%" and "—": nothing to escape
        if kind == "money":
            def money(p, n, r, marks):
                v = p[k]
                return f'        <td class="num" data-v="{str(v) if type(v) is Decimal else escape(v)}">{amount(v, n)}</td>\n'
            return money
        if kind == "pct":
            return lambda p, n, r, marks: (f'        <td class="num" data-v="{"" if p[k] is None else escape(p[k])}">'
                                           f'{pct(p[k])}</td>\n')
        if kind == "dpd":
            return lambda p, n, r, marks: (f'        <td class="num{" dpd-late" if p[k] > 0 else ""}" '
                                           f'data-v="{escape(p[k])}">{escape(p[k])}</td>\n')
        if kind == "days":
            return lambda p, n, r, marks: (f'        <td class="num" data-v="{"" if p[k] is None else escape(p[k])}">'
                                           f'{"—" if p[k] is None else escape(p[k])}</td>\n')
        if kind == "bucket":
            def bucket(p, n, r, marks):
                v = p[k]
                names = r.dpd_bucket_names
                return f'        <td data-v="{escape(names.index(v) if v in names else p["dpd"])}">{escape(v)}</td>\n'
            return bucket
        if kind == "borrower":
            return lambda p, n, r, marks: (f'        <td class="col-borrower" data-v="{escape(p[k])}">{escape(p[k])}'
                                           f'<span class="id">{escape(p["borrower"])}</span></td>\n')
        if kind == "lenders":
            return lambda p, n, r, marks: f'        <td class="col-lenders">{escape(", ".join(map(str, p[k])))}</td>\n'
        if kind == "date":
            return lambda p, n, r, marks: f'        <td>{escape(_opt_date(p[k]))}</td>\n'
        if kind == "credit":
            return lambda p, n, r, marks: ('        <td class="col-credit">' + (
                "".join(f'<span class="mark {m.replace(" ", "-")}">{m}</span>' for m in marks) if marks else
                "current") + "</td>\n")
        sticky = ' class="sticky"' if i == 0 else ""
        return lambda p, n, r, marks: f"        <td{sticky}>{escape(p[k])}</td>\n"
    return [cell(i, k, kind) for i, (k, _, kind) in enumerate(columns)]


def position_rows(r: Report, rows: list[dict], columns, n: int) -> str:
    """The `<tr>` rows of the positions table (`columns` as the template lists them), as the
    packaged template's loop wrote them: each row and cell on its own line."""
    from markupsafe import Markup
    cells = _position_cells(columns)
    out: list[str] = []
    for p in rows:
        marks = [m for m, on in (("default", p["in_default"]), ("non-accrual", p["non_accrual"]),
                                 ("written off", p["written_off"] > 0)) if on]
        out.append(f'      <tr class="{" ".join(marks).replace("written off", "written-off")}">\n' if marks
                   else "      <tr>\n")
        out += [c(p, n, r, marks) for c in cells]
        out.append("      </tr>\n")
    return Markup("".join(out))


def covenant_rows(tests: list[dict]) -> str:
    """The `<tr>` rows of the covenants table, one line each, as the packaged template's loop
    wrote them (each distinct text or date escaped once: a book's tests repeat their deals,
    covenants, dates and statuses)."""
    from markupsafe import Markup
    seen: dict = {}

    def e(v) -> str:
        t = type(v)
        if t is Decimal:
            return str(v)
        if t is str or t is date:
            s = seen.get(v)
            if s is None:
                s = seen[v] = escape(v)
            return s
        return escape(v)

    def opt(v) -> str:
        return "—" if v is None else e(v)
    bounds = {"max": "≤ ", "min": "≥ "}
    out = []
    for c in tests:
        status = e(c["status"])
        out.append(f'      <tr class="covenant-{status}"><td>{e(c["deal"])}</td><td>{e(c["covenant"])}</td>'
                   f'<td class="nowrap">{e(c["period_end"])}</td><td>{e(c.get("metric", ""))}</td>'
                   f'<td class="num">{opt(c.get("value"))}</td><td class="num nowrap">'
                   f'{bounds.get(c.get("bound_kind"), "")}{opt(c.get("bound"))}</td>'
                   f'<td class="num">{opt(c.get("headroom"))}</td><td class="status status-{status}">'
                   f'{status}</td></tr>\n')
    return Markup("".join(out))
