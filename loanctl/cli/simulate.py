"""`loanctl simulate`: a deal under a scenario beside its base."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .common import EXIT_INVALID, app, book_root, fail_usage, guarded, print_diagnostics


def _rate(text: str, option: str):
    from ..model.values import ValueProblem, parse_rate
    try:
        return parse_rate(text)
    except ValueProblem as p:
        raise fail_usage(f"{option} {text}: {p.message}", p.hint) from None


def _date(text: str, option: str):
    from .schedule import parse_date_option
    return parse_date_option(text, option)


MAX_RECOVERY_LAG_MONTHS = 1200  # a century: the recovery date stays far inside date arithmetic's range


def _months(text: str) -> int:
    t = text.strip().lower()
    try:
        if not t.isascii():  # int() reads other scripts' digits too
            raise ValueError(t)
        if t.endswith("m"):
            months = int(t[:-1])
        elif t.endswith("y"):
            months = 12 * int(t[:-1])
        else:
            months = int(t)
    except ValueError:
        raise fail_usage(f"--recovery-lag {text}: write months like 12m or years like 1y") from None
    if not 0 <= months <= MAX_RECOVERY_LAG_MONTHS:
        raise fail_usage(f"--recovery-lag {text}: the lag must be between 0 and {MAX_RECOVERY_LAG_MONTHS} months")
    return months


@app.command()
@guarded
def simulate(
    ctx: typer.Context,
    deal: str = typer.Argument(..., help="Deal id (a draft deal works too)."),
    rate_shock: Optional[str] = typer.Option(None, "--rate-shock", help="Shift every index fixing, e.g. +200bps."),
    index_path: Optional[List[str]] = typer.Option(None, "--index-path", help="[INDEX=]FILE of date,rate rows "
                                                                            "replacing the projected fixings."),
    prepay: Optional[List[str]] = typer.Option(None, "--prepay", help="DATE:AMOUNT[:FACILITY] (repeatable)."),
    default: Optional[str] = typer.Option(None, "--default", help="Default date: payments stop."),
    recovery: str = typer.Option("60%", "--recovery", help="Recovery on the outstanding at default."),
    recovery_lag: str = typer.Option("12m", "--recovery-lag", help="When the recovery is received (e.g. 12m)."),
    amendment: Optional[Path] = typer.Option(None, "--amendment", help="A draft amendment file to apply."),
    pik_toggle: Optional[List[str]] = typer.Option(None, "--pik-toggle", help="DATE:on|off (repeatable)."),
    grid: bool = typer.Option(False, "--grid", help="A grid of rate shocks × prepayment dates."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Coverage windows after DATE (default today)."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
) -> None:
    """Run a deal under a scenario: totals, XIRR and MOIC (book and lenders), interest coverage."""
    import datetime as _dt
    from ..api import load_valid_book
    from ..conventions.currency import minor_units
    from ..underwriting.simulate import Scenario, difference, load_index_path, result_dict, run
    from ..model.values import ValueProblem, parse_money, parse_share

    root = book_root(ctx)
    loaded, errors = load_valid_book(root, [deal])
    if deal not in loaded.deals and not errors:
        raise fail_usage(f"unknown deal '{deal}'")
    if errors:
        print_diagnostics(errors, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    on = _date(as_of, "--as-of") if as_of else _dt.date.today()
    sc = Scenario()
    diags = []
    if rate_shock:
        sc.rate_shock = _rate(rate_shock, "--rate-shock")
    for item in index_path or []:
        index, _, file = item.rpartition("=")
        indexes = {f.interest.index for f in loaded.deals[deal].deal.facilities if f.interest.index}
        if not index:
            if len(indexes) != 1:
                raise fail_usage("--index-path: name the index as INDEX=FILE", f"indexes: {', '.join(sorted(indexes))}")
            index = next(iter(indexes))
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail_usage(f"--index-path: cannot read {file}: {exc}") from None
        path, d = load_index_path(text, file)
        diags += d
        sc.index_paths[index] = path
    for item in prepay or []:
        parts = item.split(":")
        if len(parts) not in (2, 3):
            raise fail_usage(f"--prepay {item}: write DATE:AMOUNT[:FACILITY]")
        try:
            amount = parse_money(parts[1])
        except ValueProblem as p:
            raise fail_usage(f"--prepay {item}: {p.message}") from None
        if amount <= 0:
            raise fail_usage(f"--prepay {item}: the amount must be positive")
        sc.prepayments.append((_date(parts[0], "--prepay"), amount, parts[2] if len(parts) == 3 else None))
    if default:
        sc.default_date = _date(default, "--default")
        try:
            sc.recovery = parse_share(recovery)
        except ValueProblem as p:
            raise fail_usage(f"--recovery {recovery}: {p.message}", p.hint) from None
        sc.recovery_lag_months = _months(recovery_lag)
    for item in pik_toggle or []:
        when, _, state = item.partition(":")
        if state not in ("on", "off"):
            raise fail_usage(f"--pik-toggle {item}: write DATE:on or DATE:off")
        sc.pik_toggles.append((_date(when, "--pik-toggle"), state == "on"))
    if amendment is not None:
        from ..model.records import AmendmentRecord
        from ..source.loader import read_yaml
        from ..model.documents import Amendment
        from ..model.validate import validate as check
        from ..source.loader import FsTree
        tree = FsTree(amendment.parent)
        doc, d = read_yaml(tree, amendment.name)
        diags += d
        if doc is not None:
            am, d = check(Amendment, doc)
            diags += d
            if am is not None:
                sc.amendment = AmendmentRecord(am, doc, str(amendment))
    if any(x.is_error for x in diags):
        print_diagnostics(diags, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    digits = minor_units(loaded.deals[deal].deal.currency)

    if grid:
        rows = _grid(loaded, deal, sc, on, run, result_dict)
        if fmt == "json":
            sys.stdout.write(json.dumps({"deal": deal, "grid": rows}, indent=2) + "\n")
        else:
            from rich.table import Table
            from ..render.text import console
            t = Table(title=f"{deal}: gross XIRR / MOIC by rate shock and full prepayment date", header_style="bold")
            cols = list(dict.fromkeys(r["prepay"] for r in rows))
            t.add_column("shock")
            for c in cols:
                t.add_column(c, justify="right")
            for shock in dict.fromkeys(r["shock"] for r in rows):
                cells = []
                for c in cols:
                    x = next(r for r in rows if r["shock"] == shock and r["prepay"] == c)
                    cells.append(f"{_pct(x['xirr'])} / {x['moic'] or '—'}x" if not x.get("error") else x["error"])
                t.add_row(shock, *cells)
            console(min_width=120).print(t)
        return

    base, d1 = run(loaded, deal, Scenario(), on)
    result, d2 = run(loaded, deal, sc, on)
    problems = [x for x in d1 + d2 if x.is_error]
    if problems or base is None or result is None:
        print_diagnostics(problems, stream=sys.stderr)
        raise typer.Exit(EXIT_INVALID)
    b, r = result_dict(base, digits), result_dict(result, digits)
    out = {"deal": deal, "scenario": sc.describe(), "base": b, "result": r, "difference": difference(b, r),
           "notes": result.notes}
    if fmt == "json":
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    from rich.table import Table
    from ..render.text import console as plain_console, text as inert_text
    console = plain_console(min_width=120)
    console.print(inert_text(deal, "bold") + f" scenario: {json.dumps(out['scenario']) if out['scenario'] else 'none (base)'}")
    t = Table(header_style="bold")
    for c in ("", "base", "scenario", "difference"):
        t.add_column(c, justify="left" if not c else "right")
    for k in out["difference"]["totals"]:
        t.add_row(k.replace("_", " "), _amt(b["totals"].get(k)), _amt(r["totals"].get(k)),
                  _amt(out["difference"]["totals"][k]))
    t.add_row("gross XIRR", _pct(b["xirr"]), _pct(r["xirr"]), _pct(out["difference"]["xirr"]))
    t.add_row("MOIC", f"{b['moic'] or '—'}x", f"{r['moic'] or '—'}x", out["difference"]["moic"] or "—")
    bi, ri = b["min_interest_coverage"], r["min_interest_coverage"]
    t.add_row("min interest coverage", f"{bi['value']}x ({bi['date']})" if bi else "—",
              f"{ri['value']}x ({ri['date']})" if ri else "—", out["difference"]["min_interest_coverage"] or "—")
    for lender, x in r["lenders"].items():
        t.add_row(f"{lender} XIRR / MOIC", f"{_pct(b['lenders'].get(lender, {}).get('xirr'))} / "
                  f"{b['lenders'].get(lender, {}).get('moic') or '—'}x",
                  f"{_pct(x['xirr'])} / {x['moic'] or '—'}x", "")
    console.print(t)
    for note in result.notes:
        console.print(f"note: {note}", style="yellow")


def _amt(x) -> str:
    from decimal import Decimal
    return "—" if x is None else f"{Decimal(x):,.2f}"


def _pct(x) -> str:
    from decimal import Decimal
    return "—" if x is None else f"{Decimal(x) * 100:.2f}%"


def _grid(loaded, deal, sc, on, run, result_dict):
    """Rate shocks −200…+200 bps × full prepayment at each anniversary (and none)."""
    from copy import deepcopy
    from decimal import Decimal
    from ..conventions.dates import add_months
    record = loaded.deals[deal]
    start = min(f.start_date for f in record.deal.facilities)
    maturity = max(f.maturity_date for f in record.deal.facilities)
    dates = [add_months(start, 12 * k) for k in range(1, 4) if add_months(start, 12 * k) < maturity]
    rows = []
    for bps in (-200, -100, 0, 100, 200):
        for when in [None, *dates]:
            s = deepcopy(sc)
            s.rate_shock = sc.rate_shock + Decimal(bps) / 10000
            label = "hold" if when is None else f"prepay {when}"
            if when is not None:
                s.prepayments = [(when, Decimal(10) ** 15, None)]
            result, diags = run(loaded, deal, s, on)
            if result is None and when is not None and diags and diags[0].code == "E0601":
                # prepay exactly what is outstanding then
                amount = Decimal(diags[0].hint.split()[3].replace(",", "")) if diags[0].hint else None
                s.prepayments = [(when, amount, None)] if amount else []
                result, diags = run(loaded, deal, s, on)
            cell = {"shock": f"{bps:+d}bps", "prepay": label}
            if result is None:
                cell["error"] = diags[0].code if diags else "error"
            else:
                d = result_dict(result, 2)
                cell.update(xirr=d["xirr"], moic=d["moic"])
            rows.append(cell)
    return rows
