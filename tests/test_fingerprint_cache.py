"""Deal fingerprints kept beside the parsed-file cache (SPEC §10, issue #19): an unchanged deal's
fingerprint is read back, not canonicalised and hashed again; editing a deal file, adding a
trade or an event file, or changing a fixing of an index the deal names gives the fingerprint
the cache-less computation gives; a forged entry is never trusted; --no-cache bypasses it."""

from __future__ import annotations

import json
from pathlib import Path

from bookfactory import DEAL_ID, DEAL_YAML, sofr_csv, trade_yaml, write_book, write_file

from loanctl.source.cache import CACHE_DIR
from loanctl.source.fingerprints import FINGERPRINTS_ENTRY, DealFingerprints
from loanctl.source.loader import book_tree, load_book


def fingerprint(root: Path) -> tuple[str, int, int]:
    """(fingerprint of the deal, how many fingerprints were hashed, trades + events loaded)."""
    loaded, _ = load_book(root, book_tree(root))
    fps = DealFingerprints(loaded)
    fp = fps.of(DEAL_ID)
    fps.flush()
    record = loaded.deals[DEAL_ID]
    return fp, fps.computed, len(record.trades) + len(record.events)


def uncached(root: Path, monkeypatch) -> str:
    """The fingerprint computed from the parsed data, without any cache."""
    monkeypatch.setenv("LOANCTL_NO_CACHE", "1")
    try:
        fp, computed, _ = fingerprint(root)
    finally:
        monkeypatch.delenv("LOANCTL_NO_CACHE")
    assert computed == 1
    return fp


def entry(root: Path) -> Path:
    return root / CACHE_DIR / f"{FINGERPRINTS_ENTRY}.json"


def test_unchanged_is_read_back_and_a_changed_or_added_file_is_seen(tmp_path, monkeypatch):
    monkeypatch.delenv("LOANCTL_NO_CACHE", raising=False)
    root = write_book(tmp_path)
    first, computed, _ = fingerprint(root)
    assert computed == 1 and entry(root).exists()
    assert first == uncached(root, monkeypatch)
    assert fingerprint(root)[:2] == (first, 0)  # unchanged: read back, hashed once in all

    # a comment changes nothing in the parsed data: a new key (other bytes), the same fingerprint
    write_file(root, f"{DEAL_ID}/deal.yaml", "# reviewed\n" + DEAL_YAML)
    assert fingerprint(root)[:2] == (first, 1)
    assert fingerprint(root)[:2] == (first, 0)

    seen = {first}
    changes = [
        (f"{DEAL_ID}/deal.yaml", DEAL_YAML.replace("spread: 575bps", "spread: 600bps")),
        (f"{DEAL_ID}/trades/t1.yaml", trade_yaml("t1", "fund-i", "fund-i-spv", "2026-05-15", amount="1000000")),
        (f"{DEAL_ID}/events/na.yaml", "id: na\ndate: 2026-08-01\ntype: non_accrual\nfacility: tl\n"),
    ]
    for rel, text in changes:
        write_file(root, rel, text)
        fp, computed, _ = fingerprint(root)
        assert computed == 1, rel                # a miss: hashed again
        assert fp == uncached(root, monkeypatch), rel
        assert fp not in seen, rel               # and it is a new fingerprint
        seen.add(fp)
        assert fingerprint(root)[:2] == (fp, 0), rel
    assert fingerprint(root)[2] == 2  # the trade and the event were loaded


def test_a_changed_fixing_is_seen(tmp_path, monkeypatch):
    monkeypatch.delenv("LOANCTL_NO_CACHE", raising=False)
    root = write_book(tmp_path)
    first, _, _ = fingerprint(root)
    csv = sofr_csv()
    last = csv.rstrip("\n").rsplit("\n", 1)[1]           # "2026-11-27,0.0xxxx"
    write_file(root, "rates/SOFR-3M.csv", csv.replace(last, last.split(",")[0] + ",0.0111"))
    fp, computed, _ = fingerprint(root)
    assert computed == 1 and fp != first and fp == uncached(root, monkeypatch)
    write_file(root, "rates/SOFR-3M.csv", csv)           # back as it was: the first fingerprint again
    assert fingerprint(root)[:2] == (first, 1)


def test_a_forged_entry_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.delenv("LOANCTL_NO_CACHE", raising=False)
    root = write_book(tmp_path)
    first, _, _ = fingerprint(root)
    path = entry(root)
    mac, body = path.read_bytes().split(b"\n", 1)
    value = json.loads(body)
    for key in value["value"]:
        value["value"][key][0] = "0" * 64
    path.write_bytes(mac + b"\n" + json.dumps(value).encode())  # the MAC no longer verifies
    assert fingerprint(root)[:2] == (first, 1)
    path.write_bytes(b"garbage")
    assert fingerprint(root)[:2] == (first, 1)


def test_no_cache_bypasses_it(tmp_path, monkeypatch):
    root = write_book(tmp_path)
    monkeypatch.setenv("LOANCTL_NO_CACHE", "1")
    first, computed, _ = fingerprint(root)
    assert computed == 1 and not (root / ".loanctl").exists()
    assert fingerprint(root)[:2] == (first, 1)  # hashed again every time
