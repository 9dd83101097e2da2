"""`validate` of a whole book with each deal's results kept (SPEC §10): a deal whose files, and
whose book context (book.yaml, the rate files, the archive's file names, loanctl's own code),
are unchanged since the last validate is not read again — its diagnostics are taken from
`.loanctl/cache/checks.json` (signed like every cache entry: see `loanctl.source.cache`).

A deal's checks read only the deal, book.yaml, the rates, the marks and the archive (that is why
`validate` can check deals in separate processes), so those are the whole key. A deal folder
holding a symbolic link or anything but files and folders is always read again.

Like `git status`, a folder whose entries have the names, sizes, modification times and
inodes they had when it was summed is not read again to be summed; one modified within
RACY_NS before the results were written always is.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from ..diagnostics import Diagnostic
from ..model.records import LoadedBook
from ..source.bookpath import read_regular
from ..source.cache import ParsedCache, package_fingerprint
from ..source.loader import RATES_MAX_BYTES, check_marks, load_deal
from ..source.yamlsrc import MAX_BYTES
from .checks import Repaid, check_deal
from .overnight import overnight_indices

RESULTS = "checks"
MAX_DEPTH = 3
RACY_NS = 3_000_000_000
"""A file modified less than this before the results were written is summed again, whatever
its stat says (a coarse file-system clock could hide a change, as `git status` guards against)."""
_FIELDS = ("code", "message", "file", "line", "column", "hint", "severity")


def _walk(root: str, rel: str, depth: int, out: list) -> bool:
    """Append (name, entry, is_dir) for every entry below `rel`, depth-first in name order;
    False when the folder holds a link, anything but files and folders, folders nested deeper
    than MAX_DEPTH, or cannot be listed (then it is never summed, always read)."""
    try:
        with os.scandir(os.path.join(root, rel)) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return False
    for e in entries:
        name = f"{rel}/{e.name}"
        try:
            if e.is_symlink():
                return False
            is_dir = e.is_dir(follow_symlinks=False)
            if not is_dir and not e.is_file(follow_symlinks=False):
                return False
        except OSError:
            return False
        out.append((name, e, is_dir))
        if is_dir and (depth >= MAX_DEPTH or not _walk(root, name, depth + 1, out)):
            return False
    return True


def _digest_entries(h, root: str, entries: list) -> bool:
    for name, e, is_dir in entries:
        if is_dir:
            h.update(b"d\0" + name.encode("utf-8", "surrogateescape") + b"\0")
            continue
        try:
            size = e.stat(follow_symlinks=False).st_size
            if size > MAX_BYTES:  # the loader reads no file this large (E0005 names its size)
                h.update(b"F\0" + name.encode("utf-8", "surrogateescape") + b"\0" + str(size).encode())
                continue
        except OSError:
            return False
        data = read_regular(e.path, MAX_BYTES)
        if not isinstance(data, bytes):  # gone, or grown past the limit since it was listed
            return False
        h.update(b"f\0" + name.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(data).digest())
    return True


def _signature(entries: list) -> list | None:
    out: list = []
    for name, e, _ in entries:
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            return None
        out.append([name, st.st_size, st.st_mtime_ns, st.st_ino])
    return out


def _entries(root: Path, folder: str) -> list | None:
    if os.path.islink(os.path.join(root, folder)):
        return None
    entries: list = []
    return entries if _walk(str(root), folder, 0, entries) else None


def folder_signature(root: Path, folder: str) -> list | None:
    """(name, size, mtime ns, inode) of every entry below `folder` — what `git status` compares
    before it reads a file; None when the folder holds anything `deal_digest` refuses."""
    entries = _entries(root, folder)
    return None if entries is None else _signature(entries)


def deal_digest(root: Path, folder: str, context: str) -> str | None:
    """sha256 of the book context and every file of the deal folder (names and bytes); None:
    the folder cannot be summed safely (a link, a device, unreadable) and is always read."""
    return folder_state(root, folder, context)[0]


def folder_state(root: Path, folder: str, context: str) -> tuple[str | None, list | None]:
    """(`deal_digest`, `folder_signature`) of the folder, from one walk of it."""
    entries = _entries(root, folder)
    if entries is None:
        return None, None
    signature = _signature(entries)  # before the files are read: a change after it is a change next time
    h = hashlib.sha256(context.encode() + b"\0" + folder.encode("utf-8", "surrogateescape"))
    return (h.hexdigest() if _digest_entries(h, str(root), entries) else None), signature


def book_context(loaded: LoadedBook) -> str:
    """What every deal's checks may read besides the deal: book.yaml, the rates and marks
    files, the archive's names and profile sidecars, how files are shown, and loanctl's code."""
    tree = loaded.tree
    h = hashlib.sha256(package_fingerprint().encode() + b"\0" + tree.display("").encode())
    book = tree.read("book.yaml", MAX_BYTES)  # a larger file is hashed by its size: the load reports it
    h.update(b"book\0" + (book if isinstance(book, bytes) else repr(book).encode()))
    for sub in ("rates", "payments", "marks"):
        for name, is_dir in tree.list_dir(sub):
            h.update(f"{sub}/{name}:{is_dir}\0".encode("utf-8", "surrogateescape"))
            if not is_dir and (sub != "payments" or not name.endswith(".csv")):  # the archive is named by content
                raw = tree.read(f"{sub}/{name}", RATES_MAX_BYTES)
                h.update(hashlib.sha256(raw if isinstance(raw, bytes) else repr(raw).encode()).digest())
    return h.hexdigest()


def _to_json(d: Diagnostic) -> list:
    return [getattr(d, f) for f in _FIELDS]


def _from_json(row) -> Diagnostic | None:
    if type(row) is not list or len(row) != len(_FIELDS):
        return None
    code, message, file, line, column, hint, severity = row
    if (type(code) is not str or type(message) is not str or severity not in ("error", "warning")
            or any(v is not None and type(v) is not str for v in (file, hint))
            or any(v is not None and type(v) is not int for v in (line, column))):
        return None
    return Diagnostic(code, message, file, line, column, hint, severity)


def check_deal_folder(loaded: LoadedBook, folder: str, repaid: Repaid | None) -> tuple[list[Diagnostic], list[str]]:
    """Read and check one deal, its marks included (E0647): (its diagnostics, the indices it
    uses with an overnight method)."""
    record, diags = load_deal(loaded.tree, folder)
    if record is None:
        return diags, []
    loaded.deals[folder] = record  # held while it is checked (the archive's replay reads it)
    try:
        return diags + check_deal(loaded, record, repaid) + check_marks(loaded, only={folder}), \
            sorted(overnight_indices([record]))
    finally:
        loaded.deals.pop(folder, None)


Job = tuple[str, "str | None"]
"""(a deal folder, the book context when it is still to be summed — None: summed already)."""
Done = tuple[str, list[Diagnostic], list[str], "str | None", "list | None"]
"""(the folder, its diagnostics, its overnight indices, its digest and signature if it was summed here)."""


def check_job(loaded: LoadedBook, job: Job, repaid: Repaid | None) -> Done:
    """Check a deal folder; one never kept before is first summed (`folder_state`) — in the
    worker that reads it, so a cold validate sums the book in parallel too."""
    folder, context = job
    digest, signature = folder_state(loaded.root, folder, context) if context is not None else (None, None)
    return (folder, *check_deal_folder(loaded, folder, repaid), digest, signature)


def cached_results(loaded: LoadedBook, folders: list[str], repaid: Repaid | None,
                   check_many: Callable[[list[Job]], list[Done]], digests_out: dict | None = None
                   ) -> tuple[list[Diagnostic], set[str]]:
    """Every deal's diagnostics (taken from the cache where the deal is unchanged; `check_many`
    checks the others, see `check_job`) and the overnight indices used; the cache is brought up to date.
    `digests_out` receives each folder's `deal_digest` as this run found it (None: not summable)."""
    store = ParsedCache(loaded.root)
    context = book_context(loaded)
    try:  # files changed within RACY_NS of the last write are summed again (their stat may not show it)
        trusted_before = os.stat(store.dir / f"{RESULTS}.json").st_mtime_ns - RACY_NS
    except OSError:
        trusted_before = 0
    prior = store.get_json(RESULTS)
    known = prior.get("deals") if isinstance(prior, dict) and prior.get("context") == context else None
    known = known if isinstance(known, dict) else {}
    diags: list[Diagnostic] = []
    used: set[str] = set()
    kept: dict[str, list] = {}
    todo: list[Job] = []
    digests: dict[str, str | None] = {}
    signatures: dict[str, list | None] = {}
    dirty = False
    for folder in folders:
        hit = known.get(folder)
        if type(hit) is not list or len(hit) != 4:  # nothing kept: summed where it is read
            todo.append((folder, context))
            continue
        sig = signatures[folder] = folder_signature(loaded.root, folder)
        if (sig is not None and hit[3] == sig and all(m < trusted_before for _, _, m, _ in sig)):
            digest = hit[0]  # same names, sizes, times and inodes as when it was summed
        else:
            digest = deal_digest(loaded.root, folder, context)
            dirty = True
        digests[folder] = digest
        found = _hit(hit, digest)
        if found is None:
            todo.append((folder, None))
            continue
        diags += found[0]
        used |= found[1]
        kept[folder] = [digest, hit[1], hit[2], sig]
    for folder, found, indices, digest, sig in check_many(todo) if todo else []:
        diags += found
        used |= set(indices)
        if folder not in digests:
            digests[folder], signatures[folder] = digest, sig
        if digests[folder] is not None:
            kept[folder] = [digests[folder], [_to_json(d) for d in found], indices, signatures.get(folder)]
    if dirty or todo or set(known) != set(kept):
        store.put_json(RESULTS, {"context": context, "deals": kept})
    if digests_out is not None:
        digests_out.update(digests)
    return diags, used


def _hit(entry, digest: str | None) -> tuple[list[Diagnostic], set[str]] | None:
    if digest is None or type(entry) is not list or len(entry) != 4 or entry[0] != digest:
        return None
    rows, indices = entry[1], entry[2]
    if type(rows) is not list or type(indices) is not list or any(type(i) is not str for i in indices):
        return None
    out = [_from_json(r) for r in rows]
    if any(d is None for d in out):
        return None
    return out, set(indices)  # type: ignore[return-value]
