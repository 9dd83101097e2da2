"""The journal's speed paths give the journal of the plain path, byte for byte.

- Forked workers (`build_journal(workers=2)`, chunks of deals merged in deal order) render
  the same CSV, JSON and Beancount text as one process.
- The streamed journal (`stream_journal`: each chunk's process renders its entries into a
  file sorted by date, reading its own deals' payments from the ledger; the parent merges the
  files by date) writes the text the Journal object renders, in every format, serial or in
  workers — also through the command and the export's journal table, and for texts holding
  the characters its files use as separators.
- `--from`: the opening entry nets the entries before the date without building them; it
  must equal the net, recomputed here from the full journal, of each position's entries
  before the date (balance-sheet accounts as they are, income and expenses to the
  opening-balance account), and the entries from the date on are the full journal's.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookfactory import invoke

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from loanctl.ledger.db import ledger_payments
    from loanctl.validation.run import load_valid_book

    root = Path(shutil.copytree(REPO / "deals", tmp_path_factory.mktemp("demo") / "deals",
                                ignore=shutil.ignore_patterns(".loanctl", "payments")))
    files = sorted((REPO / "templates" / "demo-payments").glob("*.csv"))
    result = invoke(["--book", str(root), "post-payments", "--posting-day", "2026-11-28", *map(str, files)])
    assert result.exit_code == 0, result.stdout
    loaded, errors = load_valid_book(root)
    assert not errors
    return loaded, ledger_payments(root)


def _texts(journal) -> tuple[str, str, str]:
    from loanctl.render.journal import to_beancount, to_csv, to_json

    return to_csv(journal), to_json(journal), to_beancount(journal, "USD")


@pytest.mark.parametrize("start,fund", [(None, None), (date(2026, 1, 1), None), (date(2025, 9, 15), "fund-i")])
def test_workers_make_the_same_journal(demo, monkeypatch, start, fund):
    from loanctl.accounting import journal as J

    loaded, payments = demo
    end = date(2026, 11, 30)
    serial = J.build_journal(loaded, payments, end, start=start, fund=fund, workers=1)
    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 2)  # several chunks, so the merge order is exercised
    parallel = J.build_journal(loaded, payments, end, start=start, fund=fund, workers=2)
    assert len(serial.entries) > 100
    assert _texts(parallel) == _texts(serial)
    assert parallel.warnings == serial.warnings


def test_opening_entry_is_the_net_of_the_entries_before_from(demo):
    from loanctl.accounting.journal import build_journal

    loaded, payments = demo
    end, start = date(2026, 11, 30), date(2026, 4, 1)
    full = build_journal(loaded, payments, end, workers=1)
    part = build_journal(loaded, payments, end, start=start, workers=1)
    assert [e for e in part.entries if e.kind != "opening"] == [e for e in full.entries if e.date >= start]
    base = loaded.book.accounts.opening  # the opening-balance account, per lender: <base>:<Lender>
    expected: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for e in full.entries:
        if e.date < start:
            opening = f"{base}:{e.lender[:1].upper()}{e.lender[1:]}"  # demo lender ids: letters and dashes
            for p in e.postings:
                top = p.account.split(":")[0]
                expected[(e.deal, e.facility, e.lender)][
                    p.account if top in ("Assets", "Liabilities", "Equity") else opening] += p.amount
    openings = [e for e in part.entries if e.kind == "opening"]
    assert len(openings) > 10
    assert len(openings) == len([k for k, net in expected.items() if any(net.values())])
    for e in openings:
        assert e.date == start - timedelta(days=1)
        want = {a: x for a, x in expected[(e.deal, e.facility, e.lender)].items() if x}
        assert {p.account: p.amount for p in e.postings} == want, (e.deal, e.lender)
        assert [p.account for p in e.postings] == sorted(want)
        assert all(p.amount.as_tuple().exponent == -2 for p in e.postings)


def test_row_weights_of_unchanging_shares_are_the_exact_parts(tmp_path):
    """`engine.lenders.row_weights` answers the shares of a facility whose shares never change
    without the days-held arithmetic: they must be each lender's exact accrued part over the
    facility's (`accrued_exact`, summed here), for every row of the 60/40 book's facility."""
    from fractions import Fraction

    from bookfactory import write_book
    from loanctl.engine.lenders import accrued_exact, row_weights, timeline_of
    from loanctl.servicing.positions import allocate_facility
    from loanctl.validation.run import load_valid_book

    loaded, errors = load_valid_book(write_book(tmp_path))  # acme-tl: SOFR + 575, 60/40
    assert not errors
    (deal,) = loaded.deals
    fid = loaded.deals[deal].deal.facilities[0].id
    s = allocate_facility(loaded, deal, fid, [], date(2030, 12, 31)).schedule
    tl = timeline_of(s)
    assert len(tl.changes) == 1 and len(tl.changes[0][1]) == 2
    checked = 0
    for row in s.rows[1:]:
        cash, _, cfee, _ = accrued_exact(row, tl)
        for component, parts in (("interest", cash), ("commitment_fee", cfee)):
            total = sum(parts.values(), Fraction(0))
            got = dict(row_weights(s, row.date, component))
            if total > 0:
                assert got == {n: x / total for n, x in parts.items()}
                checked += 1
            else:
                assert got == dict(tl.changes[0][1])
    assert checked > 10


FORMATS = ("csv", "json", "beancount")


def _streamed(loaded, end, fmt, **kw) -> str:
    import io

    from loanctl.accounting.journal import stream_journal
    from loanctl.render.journal import PIECES, write

    pieces, balance = PIECES[fmt]
    buf = io.StringIO()
    with stream_journal(loaded, end, pieces, balance, **kw) as j:
        write(fmt, j, buf, "USD")
        folder = j.folder
        assert folder.is_dir()
    assert not folder.exists()  # closing the stream removes its files
    return buf.getvalue()


@pytest.mark.parametrize("start,fund", [(None, None), (date(2026, 1, 1), None), (date(2025, 9, 15), "fund-i")])
@pytest.mark.parametrize("workers", [1, 2])
def test_the_streamed_journal_is_the_journal_objects_text(demo, monkeypatch, start, fund, workers):
    from loanctl.accounting import journal as J
    from loanctl.render.journal import to_beancount, to_csv, to_json

    loaded, payments = demo
    end = date(2026, 11, 30)
    journal = J.build_journal(loaded, payments, end, start=start, fund=fund, workers=1)
    expected = {"csv": to_csv(journal), "json": to_json(journal), "beancount": to_beancount(journal, "USD")}
    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 2)  # several chunks: the merge by date is exercised
    monkeypatch.setattr(J, "PARALLEL_WRITE_FROM", 1)  # with workers, the text written by two processes
    for fmt in FORMATS:
        kw = dict(start=start, fund=fund, workers=workers)
        assert _streamed(loaded, end, fmt, root=loaded.root, **kw) == expected[fmt], fmt  # payments from the ledger
    assert _streamed(loaded, end, "csv", payments=payments, **kw) == expected["csv"]  # payments given


def test_a_journal_without_entries_streams_as_the_object_renders(demo):
    from loanctl.accounting.journal import build_journal
    from loanctl.render.journal import to_beancount, to_csv, to_json

    loaded, _ = demo
    end = date(2020, 1, 31)  # before every deal's first draw
    journal = build_journal(loaded, [], end)
    assert journal.entries == []
    for fmt, text in (("csv", to_csv(journal)), ("json", to_json(journal)), ("beancount", to_beancount(journal))):
        assert _streamed(loaded, end, fmt, root=loaded.root, workers=1) == text


@pytest.mark.parametrize("parallel_write", [False, True])
def test_texts_holding_the_separator_characters_come_back_as_they_are(demo, monkeypatch, parallel_write):
    """A chunk's file holds an entry a line: its pieces joined by NUL, line breaks as \x01; a
    piece holding NUL or \x01 itself is written as JSON. Pieces with NUL, \x01, CR, LF and
    U+2028 in them, in workers: each entry's text, marks before each piece, in journal order
    (written by this process, or by two, each a part of the year numbered where it starts)."""
    from loanctl.accounting import journal as J

    loaded, payments = demo
    end = date(2026, 11, 30)

    def pieces(e) -> list[str]:
        odd = ["\x00", "\x01", "\r", "\n", "\u2028", ""][e.date.toordinal() % 6]
        return [f"{e.date}|{e.kind}{odd}\n", f"{e.deal}\r\n{e.lender}|{e.postings[0].amount}"]

    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 2)
    monkeypatch.setattr(J, "PARALLEL_WRITE_FROM", 1 if parallel_write else 10**9)
    entries, balances = io.StringIO(), io.StringIO()
    with J.stream_journal(loaded, end, pieces, lambda b: f"{b.deal}\x01{b.amortized_cost}\n", root=loaded.root,
                          workers=2) as j:
        assert j.write_entries(entries, lambda n: f"<{n}>", "\x02", "\x03")
        assert j.write_balances(balances, "\x02", "\x03")
    got = entries.getvalue().removeprefix("\x03").split("\x02")
    balances = balances.getvalue().removeprefix("\x03").split("\x02")
    journal = J.build_journal(loaded, payments, end, workers=1)
    assert got == ["".join(f"<{n}>" + p for p in pieces(e)) for n, e in enumerate(journal.entries, start=1)]
    assert balances == [f"{b.deal}\x01{b.amortized_cost}\n" for b in journal.balances]
    assert any("\x00" in t for t in got) and any("\x01" in t for t in got)


def test_payment_files_give_the_ledgers_payments_in_its_order(demo, tmp_path):
    """Each range's file holds the ledger's payments of its deals up to the date, in the
    ledger's order, each exactly as `ledger_payments` makes it (amount at the currency's decimals)."""
    from loanctl.ledger.db import payment_files, read_payment_file

    loaded, payments = demo
    deals = sorted({p.deal for p in payments})
    assert len(deals) >= 4
    end = date(2026, 6, 30)
    ranges = [(deals[0], deals[1]), (deals[2], deals[-1])]
    files = payment_files(loaded.root, ranges, end, tmp_path)
    for (first, last), path in zip(ranges, files):
        want = [p for p in payments if first <= p.deal <= last and p.date <= end]
        got = list(read_payment_file(path))
        assert got == want and [str(p.amount) for p in got] == [str(p.amount) for p in want]
        assert len(want) > 0


def test_the_command_streams_the_journal_of_the_objects(demo, monkeypatch, tmp_path):
    """`loanctl journal` (workers, several chunks) writes, to a file and to stdout, the text of
    the Journal object."""
    from loanctl.accounting import journal as J
    from loanctl.render.journal import to_beancount, to_csv, to_json

    loaded, payments = demo
    end, start = date(2026, 11, 30), date(2026, 1, 1)
    journal = J.build_journal(loaded, payments, end, start=start, workers=1)
    expected = {"csv": to_csv(journal), "json": to_json(journal), "beancount": to_beancount(journal, "USD")}
    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 3)
    monkeypatch.setattr(J, "PARALLEL_WRITE_FROM", 1)  # two processes write the text: the file's parts by the kernel
    for fmt in FORMATS:
        out = tmp_path / f"j.{fmt}"
        args = ["--book", str(loaded.root), "journal", "--from", str(start), "--to", str(end), "--format", fmt]
        result = invoke(args + ["--out", str(out)])
        assert result.exit_code == 0, result.stderr
        assert out.read_text(encoding="utf-8") == expected[fmt]
        assert invoke(args).stdout == expected[fmt]


def test_the_exports_journal_table_is_the_journals_postings(demo, monkeypatch):
    from loanctl.accounting import journal as J
    from loanctl.export.tables import journal_table

    loaded, payments = demo
    end = date(2026, 11, 30)
    journal = J.build_journal(loaded, payments, end, workers=1)
    want = [(n, e.date, e.kind, e.narration, e.deal, e.facility, e.lender, e.currency, e.ref or None, p.account,
             p.amount) for n, e in enumerate(journal.entries, start=1) for p in e.postings]
    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 2)
    # the table's staged CSV rows (text quoted, NULL empty, money in fixed-point), read back
    got = list(csv.reader(io.StringIO("".join(journal_table(loaded, payments, end).lines))))
    assert [(int(r[0]), date.fromisoformat(r[1]), *r[2:8], r[8] or None, r[9], Decimal(r[10])) for r in got] == want
    assert [r[-1] for r in got] == [format(r[-1], "f") for r in want]  # the amounts' exact text


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(), min_size=7, max_size=7), postings=st.lists(st.tuples(st.text(), st.decimals(
    allow_nan=False, allow_infinity=False)), max_size=3), ref=st.text())
def test_json_entries_are_written_as_json_dumps_writes_them(texts, postings, ref):
    """The JSON renderer writes each entry without json.dumps's (slow) indenting encoder: the
    text must be what json.dumps(indent=2, ensure_ascii=False) nests two levels down, for any
    text (quotes, controls, line separators, non-ASCII) and any postings, none included."""
    import json
    from types import SimpleNamespace as NS

    from loanctl.render.journal import json_pieces

    kind, narration, deal, facility, lender, currency, account = texts
    e = NS(date=date(2026, 1, 31), kind=kind, narration=narration, deal=deal, facility=facility, lender=lender,
           currency=currency, ref=ref, postings=[NS(account=a, amount=x) for a, x in postings])
    data = {"date": "2026-01-31", "kind": kind, "narration": narration, "deal": deal, "facility": facility,
            "lender": lender, "currency": currency, **({"payment": ref} if ref else {}),
            "postings": [{"account": a, "amount": str(x)} for a, x in postings]}
    assert json_pieces(e) == ["    " + json.dumps(data, indent=2, ensure_ascii=False).replace("\n", "\n    ")]


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.text(), min_size=8, max_size=8), amounts=st.lists(st.decimals(
    allow_nan=False, allow_infinity=False), max_size=3), plain=st.booleans())
def test_csv_rows_are_written_as_csv_writer_writes_them(texts, amounts, plain):
    """The CSV renderer joins rows of plain fields itself: each row (behind its entry number)
    must be what `csv.writer` writes for the whole row, for any text (commas, quotes, CR, LF,
    NUL among them) and any amount's text."""
    import csv
    import io
    from types import SimpleNamespace as NS

    from loanctl.plaintext import inert
    from loanctl.render.journal import csv_pieces

    if plain:  # mostly the fast path
        texts = ["".join(c for c in t if c not in ',"\r\n\x00') for t in texts]
    kind, narration, deal, facility, lender, currency, account, ref = texts
    e = NS(date=date(2026, 1, 31), kind=kind, narration=narration, deal=deal, facility=facility, lender=lender,
           currency=currency, ref=ref, postings=[NS(account=account, amount=x) for x in amounts])
    want = []
    for x in amounts:
        buf = io.StringIO()
        try:
            csv.writer(buf, lineterminator="\n").writerow(
                (7, "2026-01-31", kind, deal, facility, lender, inert(ref, one_line=True) if ref else "", account, x,
                 currency, narration))
        except csv.Error:  # a NUL this Python's writer refuses: so must the renderer
            with pytest.raises(csv.Error):
                csv_pieces(e)
            return
        want.append(buf.getvalue())
    assert ["7," + piece for piece in csv_pieces(e)] == want


@pytest.mark.parametrize("parallel", [False, True])
def test_scratch_files_that_cannot_be_written_are_a_usage_error(demo, monkeypatch, tmp_path, parallel):
    """The workers' files go to the temporary folder; when it cannot take them (here: the disk
    is full as a chunk's entries are written, in this process or in a worker), the command says
    so (exit 2), no traceback, no output file, and the scratch folder is removed."""
    import tempfile

    from loanctl.accounting import journal as J

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    made = []
    real = tempfile.mkdtemp
    monkeypatch.setattr(J, "_write_days", disk_full)
    monkeypatch.setattr(J.tempfile, "mkdtemp", lambda *a, **kw: made.append(real(*a, **kw)) or made[-1])
    if parallel:
        monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    loaded, _ = demo
    out = tmp_path / "j.csv"
    result = invoke(["--book", str(loaded.root), "journal", "--to", "2026-11-30", "--out", str(out)])
    assert result.exit_code == 2, result.stderr
    assert "cannot write the journal's scratch files" in result.stderr and "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    mine = [m for m in made if Path(m).name.startswith("loanctl-journal-")]
    assert len(mine) == 1 and not Path(mine[0]).exists()


def test_payment_files_that_cannot_be_written_are_a_usage_error(demo, monkeypatch, tmp_path):
    """The chunks' payment files are written by DuckDB (`ledger.db.payment_files`): its own
    failure to write one (here the file's name is taken by a folder) says so (exit 2) as the
    other scratch files do — no internal error, no output file, the scratch folder removed."""
    import tempfile

    from loanctl.accounting import journal as J

    made = []
    real = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        folder = real(*args, **kwargs)
        if Path(folder).name.startswith("loanctl-journal-"):
            (Path(folder) / "payments-0.csv").mkdir()  # DuckDB cannot open it for writing
        made.append(folder)
        return folder

    monkeypatch.setattr(J.tempfile, "mkdtemp", mkdtemp)
    loaded, _ = demo
    out = tmp_path / "j.csv"
    result = invoke(["--book", str(loaded.root), "journal", "--to", "2026-11-30", "--out", str(out)])
    assert result.exit_code == 2, result.stderr
    assert "cannot write the journal's scratch files" in result.stderr and "payments-0.csv" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr and not out.exists()
    mine = [m for m in made if Path(m).name.startswith("loanctl-journal-")]
    assert len(mine) == 1 and not Path(mine[0]).exists()


@pytest.mark.parametrize("sendfile", ["works", "refused", "fails part way"])
def test_the_two_halves_reach_a_file_whole_or_the_write_fails(demo, monkeypatch, tmp_path, sendfile):
    """A large journal's halves are copied into the output by the kernel (`os.sendfile`); where
    it refuses the file before copying anything, they are read and written instead (the same
    bytes); where it fails after part of a half, that is the error (exit 2), never a half
    written twice."""
    import errno
    import os

    from loanctl.accounting import journal as J
    from loanctl.render.journal import to_csv

    loaded, payments = demo
    end = date(2026, 11, 30)
    expected = to_csv(J.build_journal(loaded, payments, end, workers=1))
    _two_writers(monkeypatch)
    real = os.sendfile

    def partial(out_fd, in_fd, offset, count):
        if offset:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(out_fd, in_fd, offset, min(count, 100))

    def refused(*args):
        raise OSError(errno.EINVAL, "Invalid argument")

    if sendfile != "works":
        monkeypatch.setattr(J.os, "sendfile", refused if sendfile == "refused" else partial)
    out = tmp_path / "j.csv"
    result = invoke(["--book", str(loaded.root), "journal", "--to", str(end), "--format", "csv", "--out", str(out)])
    if sendfile == "fails part way":
        assert result.exit_code == 2 and "No space left on device" in result.stderr, result.stderr
        assert not out.exists() and "Traceback" not in result.stderr
    else:
        assert result.exit_code == 0, result.stderr
        assert out.read_text(encoding="utf-8") == expected


def test_a_journal_of_one_day_is_written_whole_by_the_second_half():
    """The day splitting the entries in half — the first after which at least half of them are
    dated — and the entries before it (the second half's numbers start after them); with every
    entry on one day the first half is empty and the second has them all."""
    from loanctl.accounting.journal import _halfway

    days = [[("2026-01-31", 3, 0), ("2026-02-28", 1, 90)], [("2026-01-31", 1, 0), ("2026-03-31", 5, 40)]]
    assert _halfway(days, 10) == ("2026-03-31", 5)  # 4 entries on Jan 31 and 1 on Feb 28 come first: 5 of 10
    assert _halfway([[("2026-01-31", 2, 0), ("2026-02-28", 2, 50)]], 4) == ("2026-02-28", 2)
    assert _halfway([[("2026-01-31", 7, 0)], [("2026-01-31", 2, 0)]], 9) == ("2026-01-31", 0)
    # 1 on Jan 31, then 9 on Feb 28: the second half starts on the last day, after 1 entry
    assert _halfway([[("2026-01-31", 1, 0), ("2026-02-28", 9, 30)]], 10) == ("2026-02-28", 1)


@pytest.mark.parametrize("to_file", [True, False])
def test_halves_that_cannot_be_written_are_the_scratch_files_usage_error(demo, monkeypatch, tmp_path, to_file):
    """The halves of a large journal are scratch files as the chunks' are: a disk full there
    is the same usage error (exit 2, the temporary folder named), to a file or to stdout —
    not an error of --out, nor an internal error — and no output file or .tmp is left."""
    import errno

    from loanctl.accounting import journal as J

    def disk_full(self, mark, sep, part):
        raise OSError(errno.ENOSPC, "No space left on device")

    loaded, _ = demo
    _two_writers(monkeypatch)
    monkeypatch.setattr(J.JournalStream, "_write_part", disk_full)  # in the forked writers
    out = tmp_path / "j.csv"
    args = ["--book", str(loaded.root), "journal", "--to", "2026-11-30", "--format", "csv"]
    result = invoke(args + (["--out", str(out)] if to_file else []))
    assert result.exit_code == 2, result.stderr
    assert "cannot write the journal's scratch files" in result.stderr and "No space left" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_halves_go_by_the_kernel_only_into_a_utf8_file(demo, monkeypatch, tmp_path):
    """The kernel copies a half's UTF-8 bytes as they are: only into a file written as UTF-8
    (any spelling of its name); into one of another encoding the text is read and written."""
    from loanctl.accounting import journal as J
    from loanctl.render.journal import PIECES, to_csv, write

    loaded, payments = demo
    end = date(2026, 11, 30)
    expected = to_csv(J.build_journal(loaded, payments, end, workers=1))
    _two_writers(monkeypatch)
    used = []
    real = J.os.sendfile
    monkeypatch.setattr(J.os, "sendfile", lambda *a: used.append(a) or real(*a))
    for encoding, kernel in (("utf_8", True), ("U8", True), ("utf-16", False)):
        used.clear()
        path = tmp_path / f"{encoding}.csv"
        with J.stream_journal(loaded, end, PIECES["csv"][0], root=loaded.root, workers=2) as j:
            with open(path, "w", encoding=encoding, newline="\n") as fh:
                write("csv", j, fh)
        assert path.read_text(encoding=encoding) == expected
        assert bool(used) == kernel, encoding


def _two_writers(monkeypatch) -> None:
    """The demo book worked in workers, several chunks, its text written by two processes."""
    from loanctl.accounting import journal as J

    monkeypatch.setattr(J, "PARALLEL_FROM", 1)
    monkeypatch.setattr(J, "CHUNK_MIN", 3)
    monkeypatch.setattr(J, "PARALLEL_WRITE_FROM", 1)
