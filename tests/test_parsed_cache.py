"""The parsed-file cache in .loanctl/cache (SPEC §10, issue #19): a book where one deal changed
parses only that deal; diagnostics and source positions are the same with and without it;
a corrupted, foreign or forged entry is never trusted; deleting .loanctl/ changes no output."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from bookfactory import DEAL_YAML, deal_with, invoke, pos, run_validate, write_book

from loanctl.source import loader
from loanctl.source.cache import CACHE_DIR, ParsedCache

# a deal with a model error (an unknown key) and one with a bad value: both parse cleanly, so
# they are cached, and their diagnostics come from the cached positions on the second run
BAD_KEY = deal_with("    type: term\n", "    type: term\n    comitment_typo: 5\n")
BAD_VALUE = deal_with("id: acme-tl", "id: acme-two").replace("commitment: 25000000", "commitment: lots")


def three_deal_book(tmp_path: Path) -> Path:
    second = deal_with("id: acme-tl", "id: acme-ok")
    return write_book(tmp_path, {"acme-tl": BAD_KEY, "acme-ok": second, "acme-two": BAD_VALUE})


def spy(monkeypatch, module, name: str) -> list:
    """Replace `module.name` by a wrapper that records each call's second argument (then calls the real one)."""
    seen: list = []
    real = getattr(module, name)

    def wrapper(first, second):
        seen.append(second)
        return real(first, second)
    monkeypatch.setattr(module, name, wrapper)
    return seen


def counting_parse(monkeypatch) -> list[str]:
    """Every file the loader parses from its text (a cache hit parses nothing)."""
    return spy(monkeypatch, loader, "parse")


def entries(root: Path) -> list[Path]:
    return sorted((root / CACHE_DIR / "parsed").glob("*/*.json"))


def test_diagnostics_and_positions_are_the_same_cold_warm_and_without_the_cache(tmp_path, monkeypatch):
    assert "commitment: 25000000" in DEAL_YAML  # BAD_VALUE really changed the value
    root = three_deal_book(tmp_path)
    monkeypatch.setenv("LOANCTL_NO_CACHE", "1")
    plain = run_validate(root)
    assert not (root / ".loanctl").exists()  # bypassed: nothing written
    monkeypatch.delenv("LOANCTL_NO_CACHE")
    cold = run_validate(root)
    assert len(entries(root)) == 5  # book.yaml, the three deals and the rate file
    warm = run_validate(root)
    assert plain == cold == warm
    code, diags = warm
    assert code == 1
    # the positions point at the source text, computed from it here
    typo = next(d for d in diags if d["code"] == "E0101")
    assert (typo["line"], typo["column"]) == pos(BAD_KEY, "comitment_typo")
    lots = next(d for d in diags if d["file"].endswith("acme-two/deal.yaml"))
    assert (lots["line"], lots["column"]) == pos(BAD_VALUE, "lots")


def test_the_no_cache_flag_bypasses_it(tmp_path):
    root = three_deal_book(tmp_path)
    result = invoke(["--no-cache", "--book", str(root), "validate", "--format", "json"])
    assert result.exit_code == 1
    assert not (root / ".loanctl").exists()
    os.environ.pop("LOANCTL_NO_CACHE", None)  # the flag sets it for the process; leave the suite as it was


def test_after_one_deal_changed_only_that_deal_is_parsed(tmp_path, monkeypatch):
    deals = {f"deal-{i}": deal_with("id: acme-tl", f"id: deal-{i}") for i in range(6)}
    root = write_book(tmp_path, deals)
    seen = counting_parse(monkeypatch)
    loader.load_book(root)
    assert len(seen) == 7  # book.yaml and six deals, cold
    seen.clear()
    loader.load_book(root)
    assert seen == []  # warm: nothing parsed
    path = root / "deal-3" / "deal.yaml"
    path.write_text(path.read_text().replace("name: Acme", "name: Renamed Acme"))
    book, diags = loader.load_book(root)
    assert seen == [f"{root}/deal-3/deal.yaml"] and not [d for d in diags if d.is_error]
    assert book.deals["deal-3"].deal.name.startswith("Renamed Acme")


def test_cached_data_equals_the_parse_exactly(tmp_path, monkeypatch):
    root = write_book(tmp_path, {"acme-tl": DEAL_YAML.replace("id: acme-tl", "id: acme-tl  # 001")})
    fresh, _ = loader.load_book(root, tree=loader.FsTree(root))
    loader.load_book(root)
    seen = counting_parse(monkeypatch)
    cached, _ = loader.load_book(root)
    assert seen == []  # really from the cache
    a, b = fresh.deals["acme-tl"].doc, cached.deals["acme-tl"].doc
    assert a.data == b.data and a.positions.at == b.positions.at
    assert fresh.deals["acme-tl"].deal == cached.deals["acme-tl"].deal


def _one_entry_for(root: Path, rel: str) -> Path:
    name = ParsedCache.entry_name((root / rel).read_bytes())
    return root / CACHE_DIR / "parsed" / name[:2] / f"{name}.json"


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "no mac", "forged with another key", "a directory",
                                    "a link"])
def test_a_corrupted_or_forged_entry_is_ignored(tmp_path, monkeypatch, damage):
    root = three_deal_book(tmp_path)
    expected = run_validate(root)
    entry = _one_entry_for(root, "acme-ok/deal.yaml")
    blob = entry.read_bytes()
    mac, _, body = blob.partition(b"\n")
    if damage == "flip a byte":
        i = body.index(b"ok")
        entry.write_bytes(mac + b"\n" + body[:i] + b"OK" + body[i + 2:])
    elif damage == "truncate":
        entry.write_bytes(blob[: len(blob) // 2])
    elif damage == "no mac":
        entry.write_bytes(body)
    elif damage == "forged with another key":
        # a hostile entry: the deal's commitment changed to 1, signed with a key of its own
        forged = body.replace(b'"25000000"', b'"1"')
        assert forged != body
        entry.write_bytes(hmac.new(b"k" * 32, forged, hashlib.sha256).hexdigest().encode() + b"\n" + forged)
    elif damage == "a directory":
        entry.unlink()
        entry.mkdir()
    else:
        outside = tmp_path / "elsewhere.json"
        outside.write_bytes(blob)
        entry.unlink()
        entry.symlink_to(outside)
    (root / CACHE_DIR / "checks.json").unlink()  # validate's kept results would not even read the deal
    seen = counting_parse(monkeypatch)
    assert run_validate(root) == expected
    assert f"{root}/acme-ok/deal.yaml" in seen  # parsed again, not taken from the entry


def test_a_key_file_not_made_by_loanctl_is_replaced_and_its_entries_are_not_trusted(tmp_path, monkeypatch):
    root = three_deal_book(tmp_path)
    expected = run_validate(root)
    key = root / CACHE_DIR / "key"
    assert oct(key.stat().st_mode & 0o777) == oct(0o600)
    # what a checkout of a forced-in .loanctl/ would hold: a known key, mode 0644, and entries signed with it
    known = b"x" * 32
    key.write_bytes(known)
    key.chmod(0o644)
    entry = _one_entry_for(root, "acme-ok/deal.yaml")
    body = entry.read_bytes().partition(b"\n")[2].replace(b'"25000000"', b'"1"')
    entry.write_bytes(hmac.new(known, body, hashlib.sha256).hexdigest().encode() + b"\n" + body)
    seen = counting_parse(monkeypatch)
    assert run_validate(root) == expected
    assert f"{root}/acme-ok/deal.yaml" in seen
    assert key.read_bytes() != known and oct(key.stat().st_mode & 0o777) == oct(0o600)


def test_a_linked_cache_folder_is_not_followed(tmp_path, monkeypatch):
    root = three_deal_book(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / ".loanctl").mkdir()
    (root / CACHE_DIR).symlink_to(elsewhere)
    expected = run_validate(root)
    assert list(elsewhere.iterdir()) == []
    monkeypatch.setenv("LOANCTL_NO_CACHE", "1")
    assert run_validate(root) == expected


def test_deleting_the_state_folder_changes_no_output(tmp_path):
    root = three_deal_book(tmp_path)
    good = write_book(tmp_path / "good")

    def outputs():
        v = run_validate(root)
        s = invoke(["--book", str(good), "schedule", "acme-tl", "--format", "json"])
        assert s.exit_code == 0, s.stderr
        return v, json.loads(s.stdout)

    first = outputs()
    warm = outputs()
    for book in (root, good):
        shutil.rmtree(book / ".loanctl")
    assert first == warm == outputs()


# --- validate's kept results (loanctl.validation.cached) -----------------------------------------
def counting_deal_loads(monkeypatch) -> list[str]:
    """Every deal folder validate reads (a folder whose kept results still hold is not read)."""
    from loanctl.validation import cached
    return spy(monkeypatch, cached, "load_deal")


def test_validate_reads_only_the_deal_that_changed_and_reports_the_same(tmp_path, monkeypatch):
    deals = {f"deal-{i}": deal_with("id: acme-tl", f"id: deal-{i}") for i in range(5)}
    deals["deal-2"] = deal_with("id: acme-tl", "id: deal-2", BAD_KEY)  # an error kept with its position
    root = write_book(tmp_path, deals)
    seen = counting_deal_loads(monkeypatch)
    cold = run_validate(root)
    assert sorted(seen) == sorted(deals)
    seen.clear()
    warm = run_validate(root)
    assert seen == [] and warm == cold
    assert (warm[1][0]["code"], warm[1][0]["line"]) == ("E0101", pos(BAD_KEY, "comitment_typo")[0])
    path = root / "deal-4" / "deal.yaml"
    path.write_text(path.read_text().replace("commitment: 25000000", "commitment: 25000000.123"))  # USD has 2 minor digits
    changed = run_validate(root)
    assert seen == ["deal-4"]
    monkeypatch.setenv("LOANCTL_NO_CACHE", "1")
    assert changed == run_validate(root) and changed != cold  # the new error shows, as without the cache
    monkeypatch.delenv("LOANCTL_NO_CACHE")
    seen.clear()
    (root / "book.yaml").write_text((root / "book.yaml").read_text() + "\n# a comment\n")
    assert run_validate(root) == changed and sorted(seen) == sorted(deals)  # book.yaml is every deal's context


def test_kept_results_are_signed_like_every_entry(tmp_path, monkeypatch):
    root = three_deal_book(tmp_path)
    expected = run_validate(root)
    results = root / CACHE_DIR / "checks.json"
    mac, _, body = results.read_bytes().partition(b"\n")
    forged = body.replace(b"E0101", b"E0999")
    assert forged != body
    results.write_bytes(mac + b"\n" + forged)
    seen = counting_deal_loads(monkeypatch)
    assert run_validate(root) == expected and len(seen) == 3


def test_rate_files_are_kept_as_parsed_and_read_back_equal(tmp_path, monkeypatch):
    root = write_book(tmp_path)
    fresh, _ = loader.load_book(root, deal_ids=[], tree=loader.FsTree(root))
    loader.load_book(root, deal_ids=[])
    parsed: list[str] = []
    real = loader.parse_rates

    def spy(raw, index, file):
        parsed.append(index)
        return real(raw, index, file)
    monkeypatch.setattr(loader, "parse_rates", spy)
    cached, _ = loader.load_book(root, deal_ids=[])
    assert parsed == [] and cached.rates == fresh.rates and len(fresh.rates["SOFR-3M"].dates) > 400
    # a rate file edited: read again
    path = root / "rates" / "SOFR-3M.csv"
    path.write_text(path.read_text().replace("2026-11-27,", "2026-11-27,0.05\n#", 1).split("\n#")[0] + "\n")
    changed, _ = loader.load_book(root, deal_ids=[])
    assert parsed == ["SOFR-3M"] and changed.rates["SOFR-3M"].rates[-1] == Decimal("0.05")


def test_kept_results_follow_the_marks_files(tmp_path):
    """A deal's marks are checked with the deal (E0647) and a marks file is part of what the kept
    results depend on: editing it after a clean validate reports the bad row (line 2: header
    first); a mark naming no deal of the book is E0646 whether or not results were kept."""
    root = write_book(tmp_path)
    marks = root / "marks" / "2025-06-30.csv"
    marks.parent.mkdir()
    marks.write_text("deal,facility,price,source\nacme-tl,tl,99.5,desk\n")
    assert run_validate(root) == (0, [])
    assert run_validate(root) == (0, [])  # kept
    marks.write_text("deal,facility,price,source\nacme-tl,rcf,99.5,desk\n")
    code, diags = run_validate(root)
    assert code == 1 and [(d["code"], d["line"]) for d in diags] == [("E0647", 2)]
    marks.write_text("deal,facility,price,source\nacme-tl,tl,99.5,desk\nnope,tl,98,desk\n")
    code, diags = run_validate(root)
    assert code == 1 and [(d["code"], d["line"]) for d in diags] == [("E0646", 3)]
    code, diags = run_validate(root)  # the deal's results kept, the book-level marks check run again
    assert code == 1 and [(d["code"], d["line"]) for d in diags] == [("E0646", 3)]


# --- packs: entries made together are written as one file -----------------------------------------
def packed_book(tmp_path: Path, monkeypatch, n: int = 5) -> Path:
    """A book of `n` deals whose cold load writes one pack (PACK_MIN lowered to 3 for a small book)."""
    from loanctl.source import cache
    monkeypatch.setattr(cache, "PACK_MIN", 3)
    deals = {f"deal-{i}": deal_with("id: acme-tl", f"id: deal-{i}") for i in range(n)}
    deals["deal-2"] = deal_with("id: acme-tl", "id: deal-2", BAD_KEY)  # an error, its position found when asked
    return write_book(tmp_path, deals)


def packs(root: Path) -> list[Path]:
    return sorted((root / CACHE_DIR / "parsed").glob("pack-*.pack"))


def test_a_cold_load_writes_one_pack_and_reads_it_back_exactly(tmp_path, monkeypatch):
    root = packed_book(tmp_path, monkeypatch)
    fresh, fresh_diags = loader.load_book(root, tree=loader.FsTree(root))
    loader.load_book(root)
    assert len(packs(root)) == 1 and len(entries(root)) == 2  # the deals packed; book.yaml and the rates alone
    seen = counting_parse(monkeypatch)
    cached, cached_diags = loader.load_book(root)
    assert seen == []  # every deal from the pack
    assert [d for d in cached_diags] == fresh_diags
    for name, record in fresh.deals.items():
        doc = cached.deals[name].doc
        assert doc.data == record.doc.data and doc.positions.at == record.doc.positions.at
    assert run_validate(root) == run_validate(root)


@pytest.mark.parametrize("damage", ["flip a byte of an entry", "header points elsewhere", "truncated", "a link"])
def test_a_damaged_pack_is_not_trusted(tmp_path, monkeypatch, damage):
    root = packed_book(tmp_path, monkeypatch)
    monkeypatch.setenv("LOANCTL_NO_CACHE", "1")
    expected = run_validate(root)
    monkeypatch.delenv("LOANCTL_NO_CACHE")
    loader.load_book(root)
    pack = packs(root)[0]
    blob = pack.read_bytes()
    header, _, rest = blob.partition(b"\n")
    if damage == "flip a byte of an entry":
        i = rest.index(b"deal-1")
        pack.write_bytes(header + b"\n" + rest[:i] + b"DEAL-1" + rest[i + 6:])
    elif damage == "header points elsewhere":  # each name at the place of the next entry
        head = json.loads(header)
        spots = [e[1:] for e in head["entries"]]
        head["entries"] = [[e[0], *spots[(i + 1) % len(spots)]] for i, e in enumerate(head["entries"])]
        new = json.dumps(head, separators=(",", ":")).encode()
        shift = len(new) - len(header)
        assert shift == 0  # same digits, rearranged: the offsets still count from the end of the header
        pack.write_bytes(new + b"\n" + rest)
    elif damage == "truncated":
        pack.write_bytes(blob[: len(blob) * 2 // 3])
    else:
        outside = tmp_path / "elsewhere.pack"
        outside.write_bytes(blob)
        pack.unlink()
        pack.symlink_to(outside)
    seen = counting_parse(monkeypatch)
    assert run_validate(root) == expected
    hurt = "deal-4" if damage == "truncated" else "deal-1"  # the cut falls in the last entries
    assert f"{root}/{hurt}/deal.yaml" in seen  # parsed again, not taken from the pack


def test_a_pack_made_by_other_code_is_deleted_when_the_next_is_written(tmp_path, monkeypatch):
    root = packed_book(tmp_path, monkeypatch)
    loader.load_book(root)
    old = packs(root)[0]
    header, _, rest = old.read_bytes().partition(b"\n")
    head = json.loads(header)
    head["code"] = "an older loanctl"
    stale = old.with_name("pack-" + "0" * 40 + ".pack")
    stale.write_bytes(json.dumps(head, separators=(",", ":")).encode() + b"\n" + rest)
    old.unlink()
    seen = counting_parse(monkeypatch)
    loader.load_book(root)
    assert len(seen) == 5  # its entries are not used
    assert not stale.exists() and len(packs(root)) == 1


def test_positions_found_again_equal_the_composers_marks():
    """A clean parse finds positions again only when asked: they equal the marks of PyYAML's own
    composer (an independent reader) for every key and value of every file of the demo book."""
    import yaml
    from loanctl.model.origin import KEY
    from loanctl.source.yamlsrc import parse

    def expected(node, path, at):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                at[path + (k.value, KEY)] = (k.start_mark.line + 1, k.start_mark.column + 1)
                at[path + (k.value,)] = (v.start_mark.line + 1, v.start_mark.column + 1)
                expected(v, path + (k.value,), at)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                at[path + (i,)] = (v.start_mark.line + 1, v.start_mark.column + 1)
                expected(v, path + (i,), at)
        return at

    demo = Path(__file__).resolve().parent.parent / "deals"
    files = sorted(demo.rglob("*.yaml"))
    assert len(files) > 20
    for f in files:
        text = f.read_text()
        doc, diags = parse(text, str(f))
        assert doc is not None and not diags
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        at = expected(node, (), {(): (node.start_mark.line + 1, node.start_mark.column + 1)})
        assert doc.positions.at == at, f
