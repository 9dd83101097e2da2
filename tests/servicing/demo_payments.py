"""Generate the demo payment files `templates/demo-payments/*.csv` from the demo book.

    python tests/servicing/demo_payments.py [--book deals] [--out templates/demo-payments]

Amounts come from the schedules the engine computes for the demo deals (with the meridian
prepayment applied), so the files tell the story below exactly; re-run this script when the
demo deals' terms or rate fixings change (test_svc_demo_payments.py then fails).

The story, as of 2026-11-28 (every funded deal's dues up to that date are paid on time
except where noted):

* Upfront fees are netted from the closing draws (the lenders fund par less the fee), so no
  payment settles them — except on a revolver undrawn at closing (juniper's rcf), whose
  upfront fee is paid on its start date with the scheduled payments.
* 02 / 03 / 07 scheduled — every payment date up to 2026-11-28, paid on the day.
* 04 late — northwind-tl-2025's 2026-01-15 payment arrives 20 days late, on 2026-02-04; its
  principal bore interest those 20 days, paid with the 2026-04-15 payment.
* 05 overpayment — keystone-holdco-2025 pays 12,500.00 more than due on 2026-04-15: unapplied
  cash, applied to the next dues as they fall due (so each later payment, paid in full, leaves
  12,500.00 over again).
* 06 prepayment — meridian-tl-2025 prepays 4,000,000.00 on 2026-06-15 with the 1% fee (40,000.00).
* 08 partial — pinecrest-tl-2026 pays 400,000.00 of the 2026-09-14 payment and nothing since:
  the rest is past due, 75 days (bucket 61-90) on 2026-11-28.
* 09 revolver paydown — juniper-tl-rcf-2025's revolver is repaid 3,000,000.00 on 2026-02-24
  (type repayment: no fee, the amount can be drawn again); the deal's draws of 2026-08-18 and
  2026-10-20 (the redraw) draw it up again. Later dues follow the real drawn balance.
* 10 payoff — ironbridge-tl-2025 is paid off on 2026-09-30 with `loanctl payoff`'s quote
  (principal, interest accrued since 2026-08-20, the 2% prepayment fee): nothing after it.
* 11 reversal — cobalt-unitranche-2025's term loan payment of 2026-10-15 is returned on
  2026-10-19 (type reversal): its dues reopen, 44 days past due (bucket 31-60) on 2026-11-28.
* Credit events (SPEC §2.7, the files in the deals' events/ folders):
  - sable-tl-2025 pays nothing from its 2026-09-21 payment on; a default is declared on
    2026-10-05; its amendment 001 set a 2% default rate from 2026-07-01, so default interest
    runs on the overdue amounts and, from 2026-10-05, on all principal.
  - pinecrest-tl-2026 (the partial payer above) is put on non-accrual by event on 2026-11-02.
  - keystone-holdco-2025 pays nothing from its 2026-10-15 payment on (the unapplied 12,500.00
    settles part of it), is written off in full on 2026-10-30 (status written_off), and
    12 recovery — 2,000,000.00 of principal arrives on 2026-11-20 (type prepayment; the 2%
    prepayment fee it creates stays unpaid): a recovery of written-off principal.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 28)

LATE = ("northwind-tl-2025", "tl", date(2026, 1, 15), 20)            # deal, facility, due date, days late
OVERPAID = ("keystone-holdco-2025", "tl", date(2026, 4, 15), Decimal("12500.00"))
PREPAID = ("meridian-tl-2025", "tl", date(2026, 6, 15), Decimal("4000000.00"))
PARTIAL = ("pinecrest-tl-2026", "tl", date(2026, 9, 14), Decimal("400000.00"))
REPAID = ("juniper-tl-rcf-2025", "rcf", date(2026, 2, 24), Decimal("3000000.00"))
PAID_OFF = ("ironbridge-tl-2025", "tl", date(2026, 9, 30))
REVERSED = ("cobalt-unitranche-2025", "tl", date(2026, 10, 15), date(2026, 10, 19))  # due date, returned on
DEFAULTED = ("sable-tl-2025", "tl", date(2026, 9, 1))       # nothing paid from the first due on or after this
WRITTEN_OFF = ("keystone-holdco-2025", "tl", date(2026, 10, 15))  # nothing paid from this due on
RECOVERY = ("keystone-holdco-2025", "tl", date(2026, 11, 20), Decimal("2000000.00"))

FILES = {
    "2025h1": "02-scheduled-2025-h1.csv",
    "q3q2": "03-scheduled-2025q3-2026q2.csv",
    "late": "04-late-northwind-2026-q1.csv",
    "over": "05-overpayment-keystone-2026-q2.csv",
    "prepay": "06-prepayment-meridian-2026-q2.csv",
    "2026h2": "07-scheduled-2026-h2.csv",
    "partial": "08-partial-pinecrest-2026-q3.csv",
    "repay": "09-revolver-paydown-juniper-2026-q1.csv",
    "payoff": "10-payoff-ironbridge-2026-q3.csv",
    "reversal": "11-reversal-cobalt-2026-q4.csv",
    "recovery": "12-recovery-keystone-2026-q4.csv",
}
HEADER = ["payment_id", "deal", "facility", "date", "amount", "currency", "type", "reference"]
"""The columns of every file; a file with a reversal adds `reverses`."""


@dataclass
class Out:
    file: str
    deal: str
    facility: str
    when: date
    amount: Decimal
    currency: str
    type: str
    note: str
    reverses: "Out | None" = None
    missed: bool = False
    """A payment the story has the borrower miss: not written, but it keeps its id and
    reference number, so every other payment's stays as it was before the credit events."""
    added: bool = False
    """A payment added with the credit events: it takes no reference number from the others."""


def dues_by_date(loaded, deal_id: str, facility_id: str, payments=()) -> dict[date, Decimal]:
    """Total contractual due per date of a facility (fees, commitment fee, interest,
    principal), the prepayment fee of any prepayment in `payments` included, less what was
    netted at closing; interest on overdue principal is left out (see `overdue_interest`), and
    so is default interest (on time, none is due)."""
    from loanctl.servicing.allocation import OVERDUE_INTEREST
    from loanctl.servicing.positions import allocate_facility
    fa = allocate_facility(loaded, deal_id, facility_id, payments)
    out: dict[date, Decimal] = defaultdict(Decimal)
    for due in fa.dues:
        if due.kind != OVERDUE_INTEREST and due.component != "default_interest":
            out[due.date] += due.amount - sum((n.amount for n in fa.netted if n.date == due.date
                                               and due.component == n.component), Decimal(0))
    return dict(sorted(out.items()))


def overdue_interest(loaded, deal_id: str, facility_id: str, payments) -> dict[date, Decimal]:
    """Interest on principal paid after its due date, per date it falls due, given `payments`."""
    from loanctl.servicing.allocation import OVERDUE_INTEREST
    from loanctl.servicing.positions import allocate_facility
    fa = allocate_facility(loaded, deal_id, facility_id, payments)
    out: dict[date, Decimal] = defaultdict(Decimal)
    for due in fa.dues:
        if due.kind == OVERDUE_INTEREST:
            out[due.date] += due.amount
    return dict(out)


def plan(book: Path) -> list[Out]:
    from loanctl.api import load_valid_book
    from loanctl.servicing.allocation import Payment

    loaded, errors = load_valid_book(book)
    if errors:
        raise SystemExit(f"the demo book is invalid: {errors[0]}")
    out: list[Out] = []
    for deal_id, record in sorted(loaded.deals.items()):
        deal = record.deal
        if deal.status not in ("funded", "repaid", "written_off"):
            continue
        ccy = deal.currency
        for facility in deal.facilities:
            fid = facility.id
            pre = []
            if (deal_id, fid) == PREPAID[:2]:
                pre = [Payment("prepay", deal_id, fid, PREPAID[2], PREPAID[3], ccy, "prepayment")]
            if (deal_id, fid) == REPAID[:2]:
                pre = [Payment("repay", deal_id, fid, REPAID[2], REPAID[3], ccy, "repayment")]
            dues = dues_by_date(loaded, deal_id, fid, pre)
            start = facility.start_date
            for when, amount in dues.items():
                if when > AS_OF or amount <= 0:
                    continue
                key = (deal_id, fid, when)
                if when == start:  # an upfront fee not netted: nothing was drawn at closing
                    out.append(Out(FILES["2025h1"] if when < date(2025, 7, 1) else
                                   FILES["q3q2"] if when < date(2026, 7, 1) else FILES["2026h2"],
                                   deal_id, fid, when, amount, ccy, "fee", "upfront fee"))
                elif (deal_id, fid) == PAID_OFF[:2] and when >= PAID_OFF[2]:
                    continue  # the facility ended with its payoff
                elif pre and pre[0].type == "prepayment" and when == PREPAID[2]:
                    out.append(Out(FILES["prepay"], deal_id, fid, when, amount, ccy, "fee", "prepayment fee 1%"))
                elif key == LATE[:3]:
                    late = date.fromordinal(when.toordinal() + LATE[3])
                    out.append(Out(FILES["late"], deal_id, fid, late, amount, ccy, "scheduled",
                                   f"{when} payment, {LATE[3]} days late"))
                elif key == OVERPAID[:3]:
                    out.append(Out(FILES["over"], deal_id, fid, when, amount + OVERPAID[3], ccy, "scheduled",
                                   "overpaid"))
                elif key == PARTIAL[:3]:
                    assert PARTIAL[3] < amount
                    out.append(Out(FILES["partial"], deal_id, fid, when, PARTIAL[3], ccy, "scheduled", "partial"))
                elif key[:2] == PARTIAL[:2] and when > PARTIAL[2]:
                    continue  # nothing more from the borrower in arrears
                elif key[:2] == REVERSED[:2] and when > REVERSED[2]:
                    continue  # nothing more after the returned wire
                elif key[:2] in (DEFAULTED[:2], WRITTEN_OFF[:2]) and when >= (DEFAULTED[2] if key[:2] == DEFAULTED[:2]
                                                                           else WRITTEN_OFF[2]):
                    out.append(Out(FILES["2026h2"], deal_id, fid, when, amount, ccy, "scheduled", "", missed=True))
                    continue  # in payment default: nothing paid from here
                elif when < date(2025, 7, 1):
                    out.append(Out(FILES["2025h1"], deal_id, fid, when, amount, ccy, "scheduled", ""))
                elif when < date(2026, 7, 1):
                    out.append(Out(FILES["q3q2"], deal_id, fid, when, amount, ccy, "scheduled", ""))
                else:
                    out.append(Out(FILES["2026h2"], deal_id, fid, when, amount, ccy, "scheduled", ""))
            if pre and pre[0].type == "prepayment":
                out.append(Out(FILES["prepay"], deal_id, fid, PREPAID[2], PREPAID[3], ccy, "prepayment",
                               "voluntary prepayment"))
            if pre and pre[0].type == "repayment":
                out.append(Out(FILES["repay"], deal_id, fid, REPAID[2], REPAID[3], ccy, "repayment",
                               "revolver paydown"))
            if (deal_id, fid) == REVERSED[:2]:
                (paid,) = [o for o in out if (o.deal, o.facility, o.when) == REVERSED[:3]]
                out.append(Out(FILES["reversal"], deal_id, fid, REVERSED[3], paid.amount, ccy, "reversal",
                               f"returned wire R01 of the {REVERSED[2]} payment", reverses=paid))
            if (deal_id, fid) == PAID_OFF[:2]:
                out.append(_payoff(loaded, deal_id, fid, ccy, [o for o in out if (o.deal, o.facility) == PAID_OFF[:2]]))
            if (deal_id, fid) == RECOVERY[:2]:
                out.append(Out(FILES["recovery"], deal_id, fid, RECOVERY[2], RECOVERY[3], ccy, "prepayment",
                               "recovery: proceeds of the Clearwater asset sale", added=True))
            if (deal_id, fid) not in (PARTIAL[:2], REVERSED[:2], DEFAULTED[:2], WRITTEN_OFF[:2]):
                # the borrowers in arrears pay no more
                _add_overdue_interest(loaded, deal_id, fid, [o for o in out if (o.deal, o.facility) == (deal_id, fid)
                                                             and not o.missed])
    return out


def _payoff(loaded, deal_id: str, fid: str, ccy: str, mine: list[Out]) -> Out:
    """The payoff on PAID_OFF's date of `loanctl payoff`'s quote, after the payments before it."""
    from loanctl.servicing.allocation import Payment
    from loanctl.servicing.positions import quote_payoff
    before = [Payment(f"x{i}", deal_id, fid, o.when, o.amount, o.currency, o.type) for i, o in enumerate(mine)]
    quote = quote_payoff(loaded, deal_id, fid, before, PAID_OFF[2])
    return Out(FILES["payoff"], deal_id, fid, PAID_OFF[2], quote.total, ccy, "payoff", "payoff per quote")


def _add_overdue_interest(loaded, deal_id: str, fid: str, mine: list[Out]) -> None:
    """Add to each scheduled payment the interest on principal paid late that falls due on
    its date, earliest first (paying it in full leaves nothing overdue after it)."""
    from loanctl.servicing.allocation import Payment
    added: dict[date, Decimal] = {}
    while True:
        pays = [Payment(f"x{i}", deal_id, fid, o.when, o.amount, o.currency, o.type) for i, o in enumerate(mine)]
        extra = {d: x for d, x in overdue_interest(loaded, deal_id, fid, pays).items()
                 if d <= AS_OF and added.get(d) != x}
        if not extra:
            return
        when = min(extra)
        (o,) = [o for o in mine if o.when == when and o.type == "scheduled"]
        o.amount += extra[when] - added.get(when, Decimal(0))
        o.note = "with interest on principal paid late"
        added[when] = extra[when]


def short(deal_id: str) -> str:
    return deal_id.split("-")[0]


def render(rows: list[Out]) -> dict[str, str]:
    """CSV text per file; ids `<year>-q<quarter>-<borrower>-<nnn>` and IMAD-like references."""
    rows = sorted(rows, key=lambda r: (r.when, r.deal, r.facility, r.type not in ("prepayment", "repayment")))
    seq: dict[tuple, int] = defaultdict(int)
    ids: dict[int, str] = {}
    texts: dict[str, list[list[str]]] = defaultdict(list)
    n = 0
    for r in rows:
        q = (r.when.month - 1) // 3 + 1
        k = (r.when.year, q, short(r.deal))
        seq[k] += 1
        pid = ids[id(r)] = f"{r.when.year}-q{q}-{short(r.deal)}-{seq[k]:03d}"
        if r.added:
            imad = f"{r.when:%Y%m%d}B1QGC07R{seq[k]:06d}"
        else:
            n += 1
            imad = f"{r.when:%Y%m%d}B1QGC07C{n:06d}"
        if r.missed:
            continue
        ref = f"FEDWIRE IMAD {imad}" + (f" {r.note}" if r.note else "")
        texts[r.file].append([pid, r.deal, r.facility, r.when.isoformat(), f"{r.amount:.2f}", r.currency, r.type, ref,
                              ids[id(r.reverses)] if r.reverses is not None else ""])
    out = {}
    for name in FILES.values():
        reversal = any(row[-1] for row in texts[name])
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER + ["reverses"] if reversal else HEADER)
        w.writerows(row if reversal else row[:-1] for row in texts[name])
        out[name] = buf.getvalue()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book", type=Path, default=REPO / "deals")
    ap.add_argument("--out", type=Path, default=REPO / "templates" / "demo-payments")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render(plan(args.book)).items():
        (args.out / name).write_text(text, encoding="utf-8", newline="")
        print(f"{args.out / name}: {text.count(chr(10)) - 1} payments", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
