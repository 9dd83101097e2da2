"""Property: payment files near every size limit are accepted or refused as the limits say,
by either posting path, and whatever is posted rebuilds into the same ledger (issue #11,
class 3; SPEC §4.1, §4.2).

Each example is one payment file of 1-4 rows whose payment_id, reference, amount and line
length sit just under, at, or just over a limit: payment_id 128 characters (E0417),
reference 1,024 characters (E0418), line 4,096 characters (E0418), amount below 10^15
(E0419) with at most the currency's 2 decimals (E0408). The expected outcome of every row is
worked out here from those numbers, not read back from loanctl. A file with no bad row posts
(exit 0) and `ledger rebuild` gives the same payments and allocations tables; a file with a
bad row is refused at exactly the bad rows' lines and changes nothing.
"""

from __future__ import annotations

import csv
import io
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledgerkit import post, run, snapshot, write_book
from loanctl.ledger import posting, staging

HEADER = ["payment_id", "deal", "date", "amount", "type", "reference"]
DAY = "2026-12-01"
PID_LIMIT, REF_LIMIT, LINE_LIMIT = 128, 1024, 4096

# amount text → the code it earns (None: fine)
AMOUNTS = {
    "0.01": None,
    "1": None,
    "+250000.5": None,
    "999999999999999.99": None,                 # the largest below 10^15 with cents
    "0000000000000000000000000000001.00": None,  # 31 leading zeros: still 1.00
    "1000000000000000": "E0419",                # 10^15
    "1000000000000000.00": "E0419",
    "99999999999999999999999999999999": "E0419",  # 32 digits: beyond the ledger column too
    "1.001": "E0408",                           # USD has 2 decimals
    "0.00": "E0407",
}
PLAIN = "ABCXYZabcxyz0189-_.:/#"
ALPHABETS = {
    "plain": PLAIN,
    "with spaces": PLAIN + " ",
    "csv-hostile": PLAIN + ',"',                 # quoted by the writer: the row-by-row reader only
    "unicode": PLAIN + "éжŁ中€",                # several bytes a character: lines longer in bytes
}


@st.composite
def rows(draw, index: int, within: bool) -> dict:
    """One row; `within`: every value at or under its limit (so most files post)."""
    over = 0 if within else 1
    kind = draw(st.sampled_from(sorted(ALPHABETS)))
    alphabet = ALPHABETS[kind]
    pid_len = draw(st.sampled_from([1, 2, PID_LIMIT - 1, PID_LIMIT, PID_LIMIT + over]))
    pid_chars = PLAIN + (',"' if kind == "csv-hostile" else "")  # ids are ASCII by rule
    pid = "ABCD"[index] + draw(st.text(pid_chars, min_size=pid_len - 1, max_size=pid_len - 1))
    ref_len = draw(st.sampled_from([0, 1, REF_LIMIT - 1, REF_LIMIT, REF_LIMIT + over]))
    reference = draw(st.text(alphabet, min_size=ref_len, max_size=ref_len))
    amount = draw(st.sampled_from(sorted(a for a, code in AMOUNTS.items() if not (within and code))))
    line_target = draw(st.sampled_from([None, LINE_LIMIT - 1, LINE_LIMIT, LINE_LIMIT + over]))
    return {"pid": pid, "reference": reference, "amount": amount, "line_target": line_target}


def _line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def build(spec: list[dict]) -> tuple[str, dict[int, set[str]], list[tuple], bool]:
    """(file text, {line: expected codes} of the bad rows, expected ledger rows, whether the
    vectorised path can take the file itself)."""
    lines = [_line(HEADER)]
    bad: dict[int, set[str]] = {}
    expected = []
    for n, r in enumerate(spec, start=2):
        cells = [r["pid"], "acme-fixed", "2026-04-15", r["amount"], "", r["reference"]]
        line = _line(cells)
        if r["line_target"] is not None and r["line_target"] > len(line):
            cells[3] = " " * (r["line_target"] - len(line)) + r["amount"]  # trimmed away: only the line grows
            line = _line(cells)
            assert len(line) == r["line_target"]
        codes = set()
        if len(r["pid"]) > PID_LIMIT:
            codes.add("E0417")
        if len(r["reference"].strip()) > REF_LIMIT or len(line) > LINE_LIMIT:
            codes.add("E0418")
        if AMOUNTS[r["amount"]]:
            codes.add(AMOUNTS[r["amount"]])
        if codes:
            bad[n] = codes
        else:
            expected.append((r["pid"], Decimal(r["amount"]), r["reference"].strip() or None))
        lines.append(line)
    text = "\n".join(lines) + "\n"
    fast_ok = '"' not in text and max(len(x.encode()) for x in lines) <= LINE_LIMIT
    return text, bad, sorted(expected), fast_ok


def book_files(root: Path) -> dict[str, bytes]:
    """Every file of the book by path, but the writers' lock file: a refused post on the
    vectorised path takes the lock (creating `.loanctl/write.lock` in a book that had no
    ledger yet) and may not remove it — another writer may be waiting on it."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root) != Path(".loanctl/write.lock")
            and Path(".loanctl/cache") not in p.relative_to(root).parents}  # the parsed-file cache (SPEC §10)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("limits")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data(), vectorised=st.booleans())
def test_files_near_every_limit_post_or_are_refused_as_computed_and_rebuild_identically(workdir, data, vectorised):
    n = data.draw(st.integers(1, 4))
    within = data.draw(st.sampled_from([True, True, False]))
    spec = [data.draw(rows(i, within)) for i in range(n)]
    text, bad, expected, fast_ok = build(spec)
    event("refused" if bad else f"posted by the {'vectorised' if vectorised and fast_ok else 'row-by-row'} path")
    calls: list[bool] = []
    original = posting._post_fast

    def spy(*args, **kwargs):
        calls.append(original(*args, **kwargs))
        return calls[-1]

    with tempfile.TemporaryDirectory(dir=workdir) as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(staging, "FAST_PATH_BYTES", 0 if vectorised else 10 ** 15)
        mp.setattr(posting, "_post_fast", spy)
        root = write_book(Path(tmp) / "book")
        f = Path(tmp) / "bank.csv"
        f.write_text(text, encoding="utf-8", newline="")
        before = book_files(root)
        result = post(root, f, day=DAY)
        if bad:
            assert result.exit_code == 1, result.stdout
            reported: dict[int, set[str]] = {}
            for x in result.stderr.splitlines():
                if x.startswith(f"{f}:"):
                    line, code = x[len(str(f)) + 1:].split(": ")[:2]
                    reported.setdefault(int(line), set()).add(code)
            assert set(reported) == set(bad), (reported, bad)
            for line, codes in bad.items():
                assert codes <= reported[line], (line, codes, reported[line])
            assert book_files(root) == before
            assert calls == ([False] if vectorised else [])
            return
        assert result.exit_code == 0, result.stderr
        assert calls == ([fast_ok] if vectorised else [])
        posted = snapshot(root)
        assert sorted((r[0], Decimal(r[4]), r[7]) for r in posted["payments"]) == expected
        rebuilt = run(root, "ledger", "rebuild")
        assert rebuilt.exit_code == 0, rebuilt.stderr
        again = snapshot(root)
        assert again["payments"] == posted["payments"]
        assert again["allocations"] == posted["allocations"]
        assert again == posted
