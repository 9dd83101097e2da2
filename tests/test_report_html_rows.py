"""The HTML report's two long tables (positions, covenant tests) are written by
`loanctl.render.report.position_rows` / `covenant_rows`, which the packaged template calls
instead of looping cell by cell through the sandbox. The page must be byte-identical to what
the loops wrote: the reference below is the packaged template with its two loops put back
(as they were, verbatim), used as a book's own template — so the same sandbox, escaping and
whitespace rules render it.

The report is test_report_render's book (a borrower named `<script>…`, an industry
`=HYPERLINK("x")`, two currencies), with positions and covenant rows edited to reach every
branch of the loops: several credit marks on one row, missing rates and ages, a DPD bucket
the book does not name, covenant rows without value, bound or headroom, hostile names.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from test_report_render import AS_OF, write_report_book

POSITION_LOOP = """\
    {% for p in rows %}
      {% set marks = [] %}{% if p.in_default %}{% set marks = marks + ["default"] %}{% endif %}{% if p.non_accrual %}{% set marks = marks + ["non-accrual"] %}{% endif %}{% if p.written_off > 0 %}{% set marks = marks + ["written off"] %}{% endif %}
      <tr{% if marks %} class="{{ marks|join(' ')|replace('written off', 'written-off') }}"{% endif %}>
      {% for k, label, kind in columns %}
        {% set v = p[k] %}
        {% if kind == "money" %}
        <td class="num" data-v="{{ v }}">{{ v|amount(n) }}</td>
        {% elif kind == "pct" %}
        <td class="num" data-v="{{ v if v is not none else '' }}">{{ opt_pct(v) }}</td>
        {% elif kind == "dpd" %}
        <td class="num{{ ' dpd-late' if v > 0 else '' }}" data-v="{{ v }}">{{ v }}</td>
        {% elif kind == "days" %}
        <td class="num" data-v="{{ v if v is not none else '' }}">{{ "—" if v is none else v }}</td>
        {% elif kind == "bucket" %}
        <td data-v="{{ r.dpd_bucket_names.index(v) if v in r.dpd_bucket_names else p.dpd }}">{{ v }}</td>
        {% elif kind == "borrower" %}
        <td class="col-borrower" data-v="{{ v }}">{{ v }}<span class="id">{{ p.borrower }}</span></td>
        {% elif kind == "lenders" %}
        <td class="col-lenders">{{ v|join(", ") }}</td>
        {% elif kind == "date" %}
        <td>{{ opt_date(v) }}</td>
        {% elif kind == "credit" %}
        <td class="col-credit">{% for mark in marks %}<span class="mark {{ mark|replace(' ', '-') }}">{{ mark }}</span>{% else %}current{% endfor %}</td>
        {% else %}
        <td{{ ' class="sticky"'|safe if loop.first else '' }}>{{ v }}</td>
        {% endif %}
      {% endfor %}
      </tr>
    {% endfor %}
"""
COVENANT_LOOP = """\
    {% for c in r.covenants %}
      <tr class="covenant-{{ c.status }}"><td>{{ c.deal }}</td><td>{{ c.covenant }}</td><td class="nowrap">{{ c.period_end }}</td><td>{{ c.get("metric", "") }}</td><td class="num">{{ c.get("value") if c.get("value") is not none else "—" }}</td><td class="num nowrap">{{ {"max": "≤ ", "min": "≥ "}.get(c.get("bound_kind"), "") }}{{ c.get("bound") if c.get("bound") is not none else "—" }}</td><td class="num">{{ c.get("headroom") if c.get("headroom") is not none else "—" }}</td><td class="status status-{{ c.status }}">{{ c.status }}</td></tr>
    {% endfor %}
"""


def reference_template() -> str:
    from loanctl.resources import resource_dir
    text = (resource_dir("templates") / "report.html.j2").read_text(encoding="utf-8")
    for call, loop in (("{{ position_rows(r, rows, columns, n) }}", POSITION_LOOP),
                       ("{{ covenant_rows(r.covenants) }}", COVENANT_LOOP)):
        assert text.count(call) == 1
        text = text.replace(call, loop)
    return text


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    return write_report_book(tmp_path_factory.mktemp("rows") / "book")


def edited_report(book: Path):
    from loanctl.api import load_valid_book
    from loanctl.reports.build import build_report, resolve_scope
    from loanctl.servicing.allocation import Payment  # noqa: F401 - the report reads no payment here

    loaded, errors = load_valid_book(book)
    assert not errors
    r = build_report(loaded, resolve_scope(loaded, book=True), date.fromisoformat(AS_OF), [])
    assert len(r.positions) >= 3
    a, b, c = r.positions[:3]
    a.update(in_default=True, non_accrual=True, written_off=Decimal("12.50"), rate=None, spread=None,
             unapplied_age_days=7, non_accrual_since=date(2026, 5, 1), dpd=45)
    b.update(in_default=True, dpd_bucket="<odd & bucket>", dpd=3, unapplied_age_days=None,
             borrower_name='Quote "me" & <you>', lenders=["fund-a", "<b>x</b>"])
    c.update(written_off=Decimal("0.00"), pik_rate=Decimal("0.0125"), maturity_date=None)  # current
    r.positions.append(dict(c, facility="<tl&2>", non_accrual=True, dpd_bucket="90+"))
    r.covenants = [
        {"deal": "evil-tl", "covenant": "<b>lev|erage</b>", "period_end": date(2025, 12, 31),
         "metric": "total_leverage", "value": Decimal("6.2"), "bound": Decimal("6.0"), "bound_kind": "max",
         "headroom": Decimal("-0.2"), "status": "breached"},
        {"deal": "acme-fixed", "covenant": "icr", "period_end": date(2026, 3, 31), "metric": "interest_cover",
         "value": None, "bound": Decimal("2.0"), "bound_kind": "min", "headroom": None, "status": "missing"},
        {"deal": "acme-fixed", "covenant": "x&y", "period_end": date(2026, 6, 30), "status": "overdue"},
    ]
    return replace(r)


def test_packaged_html_equals_the_template_loops_it_replaces(book, tmp_path):
    from loanctl.render.report import to_html

    r = edited_report(book)
    packaged = to_html(r, book)
    assert "position_rows" not in packaged and 'class="default non-accrual written-off"' in packaged
    assert "&lt;b&gt;lev|erage&lt;/b&gt;" in packaged and "<b>lev" not in packaged
    (book / "templates").mkdir()
    try:
        (book / "templates" / "report.html.j2").write_text(reference_template(), encoding="utf-8")
        reference = to_html(r, book)
    finally:
        (book / "templates" / "report.html.j2").unlink()
        (book / "templates").rmdir()
    assert packaged == reference


def test_packaged_html_gets_only_as_of_and_a_book_template_the_whole_report(book):
    """loanctl's own template reads `report.as_of` only; a book's template may read any of it."""
    from loanctl.render.report import to_html

    r = edited_report(book)
    (book / "templates").mkdir()
    try:
        (book / "templates" / "report.html.j2").write_text(
            "{{ report.as_of }} {{ report.positions|length }} {{ report.scope.kind }}\n", encoding="utf-8")
        assert to_html(r, book) == f"{AS_OF} {len(r.positions)} book\n"
    finally:
        (book / "templates" / "report.html.j2").unlink()
        (book / "templates").rmdir()
