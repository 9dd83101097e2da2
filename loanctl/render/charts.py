"""Inline SVG charts for the HTML report: outstanding principal over time, cash received per
month by component, and outstanding by days-past-due bucket.

Pure functions from the report's series to SVG text: no libraries, no clock. Amounts stay
`Decimal` down to the coordinates, which are written with two decimals, so the same report
always gives the same bytes. Every piece of text that comes from the data is escaped; the
result is `Markup` so that Jinja's autoescape leaves the SVG itself alone.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from markupsafe import Markup, escape

from ..conventions.currency import minor_units

WIDTH, HEIGHT = 480, 270
LEFT, RIGHT, TOP, BOTTOM = 58, 26, 44, 36
PLOT_W = Decimal(WIDTH - LEFT - RIGHT)
PLOT_H = Decimal(HEIGHT - TOP - BOTTOM)
ZERO = Decimal(0)
CENT = Decimal("0.01")

COMPONENTS = (("interest", "Interest", "#2f6fb0"), ("fees", "Fees", "#e0a030"), ("principal", "Principal", "#4c9a6a"))
BUCKET_COLOURS = ("#4c9a6a", "#c9b037", "#e0a030", "#e07a30", "#d0502e", "#a32a2a")


def all_charts(report) -> dict[str, dict[str, Markup]]:
    """Per currency (as in report.totals): {"outstanding", "cash", "dpd"} → SVG markup."""
    out: dict[str, dict[str, Markup]] = {}
    for ccy in report.totals:
        series = report.series.get(ccy, {"outstanding": [], "cash": []})
        buckets = report.metrics.get(ccy, {}).get("dpd_buckets", [])
        out[ccy] = {"outstanding": outstanding_chart(series.get("outstanding", []), ccy),
                    "cash": cash_chart(series.get("cash", []), ccy),
                    "dpd": dpd_chart(buckets, ccy)}
    return out


# --- the three charts ---------------------------------------------------------------------------
def outstanding_chart(series: list[dict], currency: str = "") -> Markup:
    """Outstanding principal at each month end: an area under a line, a dot per month."""
    title = f"Outstanding principal at month ends{_in(currency)}"
    if not series:
        return no_data("outstanding", title, currency)
    values = [Decimal(p["outstanding"]) for p in series]
    lo, hi, ticks = _scale(values)
    n = len(series)

    def x(i: int) -> Decimal:
        return Decimal(LEFT) + (PLOT_W * i / (n - 1) if n > 1 else PLOT_W / 2)

    def y(v: Decimal) -> Decimal:
        return _y(v, lo, hi)

    parts = [_open("outstanding", title, currency), _y_axis(ticks, lo, hi, currency)]
    points = [(x(i), y(v)) for i, v in enumerate(values)]
    line = " ".join(f"{'M' if i == 0 else 'L'}{_c(px)},{_c(py)}" for i, (px, py) in enumerate(points))
    base = _c(y(max(lo, ZERO)))
    parts.append(f'<path class="area" d="{line} L{_c(points[-1][0])},{base} L{_c(points[0][0])},{base} Z" '
                 f'fill="#2f6fb0" fill-opacity="0.15" stroke="none"/>')
    parts.append(f'<path class="line" d="{line}" fill="none" stroke="#2f6fb0" stroke-width="2"/>')
    for (px, py), p, v in zip(points, series, values):
        parts.append(f'<circle class="point" cx="{_c(px)}" cy="{_c(py)}" r="3" fill="#2f6fb0">'
                     f'<title>{escape(_day(p["date"]))}: {escape(_amount(v, currency))}</title></circle>')
    for i in _label_indexes(n):
        parts.append(_x_label(x(i), escape(_month(series[i]["date"]))))
    parts.append("</svg>")
    return Markup("".join(parts))


def cash_chart(series: list[dict], currency: str = "") -> Markup:
    """Cash received per month, stacked interest / fees / principal, with a legend. Months
    without cash between the first and the last are drawn empty so the time axis is even."""
    title = f"Cash received per month by component{_in(currency)}"
    if not series:
        return no_data("cash", title, currency)
    months = _fill_months(series)
    totals = [sum((Decimal(m[k]) for k, _, _ in COMPONENTS), ZERO) for m in months]
    lo, hi, ticks = _scale(totals + [ZERO])
    n = len(months)
    slot = PLOT_W / n
    bar = min(slot * Decimal("0.7"), Decimal(48))
    parts = [_open("cash", title, currency), _y_axis(ticks, lo, hi, currency)]
    for i, m in enumerate(months):
        left = Decimal(LEFT) + slot * i + (slot - bar) / 2
        running = ZERO
        for key, label, colour in COMPONENTS:
            v = Decimal(m[key])
            if not v:
                continue
            top, bottom = _y(running + v, lo, hi), _y(running, lo, hi)
            running += v
            parts.append(f'<rect class="bar bar-{key}" x="{_c(left)}" y="{_c(min(top, bottom))}" width="{_c(bar)}" '
                         f'height="{_c(abs(bottom - top))}" fill="{colour}"><title>{escape(m["month"])} '
                         f'{label.lower()}: {escape(_amount(v, currency))}</title></rect>')
    for i in _label_indexes(n):
        parts.append(_x_label(Decimal(LEFT) + slot * i + slot / 2, escape(months[i]["month"])))
    legend_x = Decimal(LEFT)
    for key, label, colour in COMPONENTS:
        parts.append(f'<g class="legend legend-{key}"><rect x="{_c(legend_x)}" y="27" width="10" height="10" '
                     f'fill="{colour}"/><text x="{_c(legend_x + 14)}" y="36" font-size="12">{label}</text></g>')
        legend_x += 14 + 7 * len(label) + 16
    parts.append("</svg>")
    return Markup("".join(parts))


def dpd_chart(buckets: list[dict], currency: str = "") -> Markup:
    """Outstanding principal per days-past-due bucket, the number of positions above each bar."""
    title = f"Outstanding principal by days past due{_in(currency)}"
    if not buckets or not any(Decimal(b["amount"]) or b.get("count") for b in buckets):
        return no_data("dpd", title, currency)
    values = [Decimal(b["amount"]) for b in buckets]
    lo, hi, ticks = _scale(values + [ZERO])
    n = len(buckets)
    slot = PLOT_W / n
    bar = min(slot * Decimal("0.6"), Decimal(56))
    parts = [_open("dpd", title, currency), _y_axis(ticks, lo, hi, currency)]
    for i, (b, v) in enumerate(zip(buckets, values)):
        left = Decimal(LEFT) + slot * i + (slot - bar) / 2
        top, bottom = _y(max(v, ZERO), lo, hi), _y(min(v, ZERO), lo, hi)
        colour = BUCKET_COLOURS[min(i, len(BUCKET_COLOURS) - 1)]
        name = escape(b["bucket"])
        count = int(b.get("count") or 0)
        parts.append(f'<rect class="bar bucket-{i}" x="{_c(left)}" y="{_c(top)}" width="{_c(bar)}" '
                     f'height="{_c(bottom - top)}" fill="{colour}"><title>{name}: {escape(_amount(v, currency))} '
                     f'({count} position{"" if count == 1 else "s"})</title></rect>')
        if count:
            parts.append(f'<text class="count" x="{_c(left + bar / 2)}" y="{_c(top - 4)}" font-size="12" '
                         f'text-anchor="middle">{count}</text>')
        parts.append(_x_label(left + bar / 2, name))
    parts.append("</svg>")
    return Markup("".join(parts))


def no_data(name: str, title: str, currency: str = "") -> Markup:
    """A small placeholder with the chart's title, so the page keeps its shape."""
    return Markup(f'{_open(name, title, currency, height=90)}'
                  f'<text class="no-data" x="{WIDTH // 2}" y="62" font-size="13" text-anchor="middle" '
                  f'fill="#777">no data</text></svg>')


# --- pieces -------------------------------------------------------------------------------------
def _open(name: str, title: str, currency: str, height: int = HEIGHT) -> str:
    ident = f"chart-{name}-{currency.lower()}" if currency else f"chart-{name}"
    t = escape(title)
    return (f'<svg class="chart chart-{name}" id="{escape(ident)}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{t}" font-family="system-ui, sans-serif">'
            f'<title>{t}</title>'
            f'<text class="chart-title" x="8" y="18" font-size="14" font-weight="600">{t}</text>')


def _y_axis(ticks: list[Decimal], lo: Decimal, hi: Decimal, currency: str) -> str:
    parts = ['<g class="axis axis-y">']
    for t in ticks:
        yy = _c(_y(t, lo, hi))
        parts.append(f'<line x1="{LEFT}" y1="{yy}" x2="{WIDTH - RIGHT}" y2="{yy}" stroke="#ddd" stroke-width="1"/>'
                     f'<text x="{LEFT - 6}" y="{yy}" dy="4" font-size="12" text-anchor="end">{escape(_compact(t))}'
                     f'</text>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>'
                 f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>')
    if currency:
        parts.append(f'<text class="axis-label" x="12" y="{TOP + int(PLOT_H) // 2}" font-size="12" '
                     f'text-anchor="middle" transform="rotate(-90 12 {TOP + int(PLOT_H) // 2})">'
                     f'{escape(currency)}</text>')
    parts.append("</g>")
    return "".join(parts)


def _x_label(x: Decimal, text) -> str:
    return (f'<text class="axis-x" x="{_c(x)}" y="{HEIGHT - BOTTOM + 17}" font-size="12" '
            f'text-anchor="middle">{text}</text>')


def _scale(values: list[Decimal]) -> tuple[Decimal, Decimal, list[Decimal]]:
    """A range from a round number to a round number covering the values and zero, and its ticks."""
    lo, hi = min(min(values), ZERO), max(max(values), ZERO)
    if lo == hi:
        hi = lo + 1
    step = _nice((hi - lo) / 4)
    lo = (lo / step).to_integral_value(ROUND_FLOOR) * step
    hi = (hi / step).to_integral_value(ROUND_CEILING) * step
    ticks, t = [], lo
    while t <= hi:
        ticks.append(t)
        t += step
    return lo, hi, ticks


def _nice(raw: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at least `raw`."""
    exp = raw.adjusted()
    for m in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        step = m.scaleb(exp)
        if step >= raw:
            return step
    return Decimal(10).scaleb(exp)  # pragma: no cover


def _y(v: Decimal, lo: Decimal, hi: Decimal) -> Decimal:
    return Decimal(TOP) + PLOT_H * (hi - v) / (hi - lo)


def _c(v: Decimal) -> str:
    return str(v.quantize(CENT, ROUND_HALF_UP))


def _label_indexes(n: int, most: int = 7) -> list[int]:
    """Which of n evenly spaced points get a label: the first, the last, and evenly between."""
    if n <= most:
        return list(range(n))
    every = -(-(n - 1) // (most - 1))
    picks = list(range(0, n, every))
    picks[-1] = n - 1  # the last point always gets its label; the gap before it stays ≥ every
    return picks


def _fill_months(series: list[dict]) -> list[dict]:
    by_month = {m["month"]: m for m in series}
    first, last = min(by_month), max(by_month)
    out = []
    y, mo = int(first[:4]), int(first[5:7])
    while True:
        key = f"{y:04d}-{mo:02d}"
        out.append(by_month.get(key) or {"month": key, **{k: ZERO for k, _, _ in COMPONENTS}})
        if key >= last:
            return out
        y, mo = (y + 1, 1) if mo == 12 else (y, mo + 1)


def _compact(v: Decimal) -> str:
    """Axis numbers: 0, 250k, 1.5M, 2B."""
    a = abs(v)
    for size, suffix in ((Decimal("1e9"), "B"), (Decimal("1e6"), "M"), (Decimal("1e3"), "k")):
        if a >= size:
            q = (v / size).quantize(CENT, ROUND_HALF_UP).normalize()
            return f"{q:f}{suffix}"
    return f"{v.normalize():f}" if v else "0"


def _amount(v: Decimal, currency: str) -> str:
    digits = minor_units(currency) if currency else 2
    return f"{v:,.{digits}f}"


def _day(d) -> str:
    return d.isoformat() if isinstance(d, date) else str(d)


def _month(d) -> str:
    return d.strftime("%Y-%m") if isinstance(d, date) else str(d)[:7]


def _in(currency: str) -> str:
    return f" ({currency})" if currency else ""
