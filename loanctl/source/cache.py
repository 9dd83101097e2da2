"""The parsed-file cache (SPEC §10): a YAML file's parsed data (and a rate
file's clean parse: dates, rates, lines), kept in `.loanctl/cache/parsed/` under the hash of its
bytes, so a book where one deal changed parses only that deal.

What is cached is the parser's output only (plain data; the (line, column) of the values and
keys are found again from the file's bytes, which the entry is named by, when a diagnostic
needs them), never a validated model: the model is validated again from the data on every load,
so a model change needs no invalidation and every diagnostic is produced as without the cache.
A file that does not parse cleanly is not cached (its diagnostics come from the parser each time).

Safety. `.loanctl/` is git-ignored, but a pull request could still force-add files there, and
any local process could write into it. So nothing is taken on trust:

* the format is JSON (no pickle, nothing executable), decoded into plain values only;
* every entry carries an HMAC-SHA256 over its bytes with a key that loanctl created on this
  machine (`.loanctl/cache/key`, mode 0600, owned by this user); a key file with any other mode
  or owner (a git checkout writes 0644) is replaced, which invalidates every entry;
* the entry's name and its content both name the key of the file it stands for: sha256 of the
  file's bytes + loanctl's version + the fingerprint of the parser and model sources;
* a symbolic link anywhere on the way (`.loanctl`, `cache`, `parsed`, an entry) is not followed;
* anything unexpected — a bad MAC, bad JSON, a wrong shape — is a miss: the file is parsed.

Storage. An entry is one file, `parsed/<2 hex>/<entry>.json` (MAC line, then the body). Many
entries made together — a whole book read cold, a validate worker's share of the deals — are
written as one pack instead, `parsed/pack-<hex>.pack`: a header line (JSON: format, the code
fingerprint, and each entry's name, offset and length), then the entries, each exactly as it
would be in its own file (its own MAC line and body). A pack's header is not trusted either:
it only says where to look, and what is found there must pass the same checks as a file. A
pack made by other code (an older loanctl) is deleted when the next pack is written.

`LOANCTL_NO_CACHE=1` (or `loanctl --no-cache`) bypasses it; deleting `.loanctl/` loses nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
import weakref
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import __version__
from ..model.origin import Doc
from .yamlsrc import SourcePositions, YamlInt

FORMAT = 2
CACHE_DIR = ".loanctl/cache"
KEY_FILE = "key"
PARSED_DIR = "parsed"
NO_CACHE_ENV = "LOANCTL_NO_CACHE"
MAX_ENTRY_BYTES = 32 * 1024 * 1024
PACK_PREFIX, PACK_SUFFIX = "pack-", ".pack"
PACK_MIN = 32
"""Entries written together are packed from this many; fewer are written one file each."""
MAX_PACK_BYTES = 1024 * 1024 * 1024
MAX_PACK_HEADER = 64 * 1024 * 1024
_DEC = "\x00d"  # a Decimal, from its exact text
_INT = "\x00i"  # an integer as written (YamlInt: "001" stays "001" where an id is meant)


def cache_disabled(env: dict | None = None) -> bool:
    value = (os.environ if env is None else env).get(NO_CACHE_ENV, "")
    return value.strip().lower() not in ("", "0", "false", "no")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """loanctl's version and the sha256 of the sources that decide what a parse yields and what
    the models accept: an upgrade or a model change starts a fresh cache."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(f"{FORMAT}:{__version__}".encode())
    files = [here / "yamlsrc.py", here / "cache.py"] + sorted((here.parent / "model").glob("*.py"))
    for f in files:
        with contextlib.suppress(OSError):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """The sha256 of every loanctl source file: results computed by any part of loanctl (the
    validation results) are kept only for the exact code that computed them."""
    pkg = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(code_fingerprint().encode())
    for f in sorted(pkg.rglob("*.py")):
        with contextlib.suppress(OSError):
            h.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


class ParsedCache:
    """The cache of one book. Every method fails quietly: the cache only ever saves work."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / CACHE_DIR
        self._key: bytes | None = None
        self._usable: bool | None = None
        self.hits = 0
        self.misses = 0
        self._read: dict[str, tuple[str, weakref.ref]] = {}
        """file → (sha256 of the bytes it was read from, the Doc read): `content_digest`. The Doc
        is not kept alive here (a validate worker reads thousands and drops each once checked)."""
        self._pending: list[tuple[str, bytes]] | None = None
        """Entries `put` inside `batch()`, written when it ends; None: outside a batch."""
        self._packs: dict[str, tuple[str, int, int]] | None = None
        """entry → (pack file, offset, length): the packs' headers, read on first use."""
        self._pack_bytes: dict[str, bytes | None] = {}
        self._stale_packs: list[str] = []
        self._new_key = False

    # --- the key and the folders --------------------------------------------------------
    def _safe_dirs(self, create: bool) -> bool:
        """`.loanctl`, `.loanctl/cache` and `parsed` are real folders (not links), made if asked."""
        for d in (self.dir.parent, self.dir, self.dir / PARSED_DIR):
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                if not create:
                    return False
                try:
                    os.mkdir(d, 0o700)
                except FileExistsError:
                    pass
                except OSError:
                    return False
                try:
                    st = os.lstat(d)
                except OSError:
                    return False
            except OSError:
                return False
            if not stat.S_ISDIR(st.st_mode):
                return False
        return True

    def _hmac_key(self, create: bool) -> bytes | None:
        if self._key is not None:
            return self._key
        if not self._safe_dirs(create):
            return None
        path = self.dir / KEY_FILE
        key = _read_private(path)
        if key is None and create:
            key = os.urandom(32)
            tmp = self.dir / f".key-{os.getpid()}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key)
                if os.path.lexists(path):
                    os.unlink(path)  # a foreign key file goes: every entry made with it stops verifying
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)  # create-if-absent: a loanctl running beside us may have won
            except OSError:
                return None
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            made = key
            key = _read_private(path)  # ours, or the one that won the race
            self._new_key = key == made  # no entry made before can verify with it: `get` need not look
        self._key = key
        return key

    @staticmethod
    def entry_name(raw: bytes, kind: str = "yaml") -> str:
        """The entry of these bytes read as `kind` (yaml, or a CSV kind such as rates)."""
        return _entry_name(hashlib.sha256(raw).digest(), kind)

    def _entry_path(self, name: str) -> Path:
        return self.dir / PARSED_DIR / name[:2] / f"{name}.json"

    # --- any signed JSON document (the validation results, say) --------------------------
    def get_json(self, name: str) -> object | None:
        """The JSON value stored as `name` by `put_json`, or None (missing, or not trusted)."""
        key = self._hmac_key(create=False)
        body = _signed_body(_read_entry(self.dir / f"{name}.json"), key) if key is not None else None
        if body is None:
            return None
        try:
            value = json.loads(body, parse_float=_no_float, parse_constant=_no_float)
        except (ValueError, RecursionError):
            return None
        if type(value) is not dict or value.get("format") != FORMAT or value.get("name") != name:
            return None
        return value.get("value")

    def put_json(self, name: str, value: object) -> None:
        key = self._hmac_key(create=True)
        if key is None:
            return
        body = json.dumps({"format": FORMAT, "name": name, "value": value}, separators=(",", ":"),
                          ensure_ascii=False, sort_keys=True).encode("utf-8")
        _write_signed(self.dir / f"{name}.json", hmac.new(key, body, hashlib.sha256).hexdigest().encode(), body)

    # --- the clean parse of a CSV file (rate fixings), as plain JSON columns -----------------
    def get_columns(self, kind: str, raw: bytes) -> dict | None:
        """The columns `put_columns` kept for these bytes read as `kind`, or None."""
        name = self.entry_name(raw, kind)
        value = self.get_json(f"{PARSED_DIR}/{name[:2]}/{name}")
        return value if isinstance(value, dict) else None

    def put_columns(self, kind: str, raw: bytes, columns: dict) -> None:
        name = self.entry_name(raw, kind)
        if self._safe_dirs(create=True):
            self.put_json(f"{PARSED_DIR}/{name[:2]}/{name}", columns)

    # --- reading and writing ----------------------------------------------------------------
    def get(self, raw: bytes, file: str) -> Doc | None:
        """The parsed document of these bytes (shown as `file`), or None: not cached, or not trusted."""
        digest = hashlib.sha256(raw).digest()
        name = _entry_name(digest, "yaml")
        key = self._hmac_key(create=False)
        doc = None
        if key is not None and not self._new_key:  # a file of its own, else a pack (whose index is read once)
            doc = _decode(_read_entry(self._entry_path(name)), key, name, raw, file)
            if doc is None:
                packed = self._packed(name)
                doc = _decode(packed, key, name, raw, file) if packed is not None else None
        if doc is None:
            self.misses += 1
        else:
            self.hits += 1
            self._read[file] = (digest.hex(), weakref.ref(doc))
        return doc

    def content_digest(self, doc: Doc) -> str | None:
        """The sha256 of the bytes this very Doc was parsed from (by `get` or kept by `put` in this
        process), or None when this cache did not see it: what a result computed from the
        document's data may be kept under (`source.fingerprints`)."""
        seen = self._read.get(doc.file)
        return seen[0] if seen is not None and seen[1]() is doc else None

    def put(self, raw: bytes, doc: Doc) -> None:
        """Keep `doc`, the clean parse of `raw` (documents whose data cannot be told apart from the
        cache's own markers are not kept)."""
        self._read[doc.file] = (hashlib.sha256(raw).hexdigest(), weakref.ref(doc))
        try:
            data = _encode(doc.data)
        except _NotCacheable:
            return
        key = self._hmac_key(create=True)
        if key is None:
            return
        name = self.entry_name(raw)
        body = json.dumps({"format": FORMAT, "entry": name, "data": data},
                          separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        mac = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if self._pending is not None:
            self._pending.append((name, mac + b"\n" + body))
        else:
            _write_signed(self._entry_path(name), mac, body)

    # --- packs: many entries in one file ------------------------------------------------------
    @contextlib.contextmanager
    def batch(self):
        """Entries `put` inside are written when it ends: one pack if there are PACK_MIN or
        more (creating thousands of small files costs more than parsing them), else one file each."""
        if self._pending is not None:  # already inside one: the outer batch writes them
            yield
            return
        self._pending = []
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            self._write_entries(pending)

    def _write_entries(self, pending: list[tuple[str, bytes]]) -> None:
        if len(pending) < PACK_MIN:
            for name, blob in pending:
                mac, _, body = blob.partition(b"\n")
                _write_signed(self._entry_path(name), mac, body)
            return
        if not self._safe_dirs(create=True):
            return
        index, offset = [], 0
        for name, blob in pending:
            index.append([name, offset, len(blob)])
            offset += len(blob)
        header = json.dumps({"format": FORMAT, "code": code_fingerprint(), "entries": index},
                            separators=(",", ":")).encode()
        data = b"".join([header, b"\n"] + [blob for _, blob in pending])
        folder = self.dir / PARSED_DIR
        _write_file(folder / f"{PACK_PREFIX}{hashlib.sha256(data).hexdigest()[:40]}{PACK_SUFFIX}", data)
        self._pack_index()
        for stale in self._stale_packs:  # made by other code: no entry of theirs can be asked for again
            with contextlib.suppress(OSError):
                os.unlink(folder / stale)
        self._stale_packs = []

    def _pack_index(self) -> dict[str, tuple[str, int, int]]:
        if self._packs is not None:
            return self._packs
        self._packs = {}
        folder = self.dir / PARSED_DIR
        try:
            if not self._safe_dirs(create=False):
                return self._packs
            names = sorted(n for n in os.listdir(folder) if n.startswith(PACK_PREFIX) and n.endswith(PACK_SUFFIX))
        except OSError:
            names = []
        code = code_fingerprint()
        for pack in names:
            header = _read_pack_header(folder / pack)
            if header is None:
                continue
            try:
                head = json.loads(header, parse_float=_no_float, parse_constant=_no_float)
            except (ValueError, RecursionError):
                continue
            if type(head) is not dict or head.get("format") != FORMAT or type(head.get("entries")) is not list:
                continue
            if head.get("code") != code:
                self._stale_packs.append(pack)
                continue
            start = len(header) + 1
            for item in head["entries"]:
                if (type(item) is list and len(item) == 3 and type(item[0]) is str
                        and type(item[1]) is int and type(item[2]) is int and item[1] >= 0 and item[2] >= 0):
                    self._packs.setdefault(item[0], (pack, start + item[1], item[2]))
        return self._packs

    def _packed(self, name: str) -> bytes | None:
        """The bytes a pack's header places entry `name` at (still to be verified), or None."""
        where = self._pack_index().get(name)
        if where is None:
            return None
        pack, offset, length = where
        if pack not in self._pack_bytes:
            self._pack_bytes[pack] = _read_regular(self.dir / PARSED_DIR / pack, MAX_PACK_BYTES,
                                                   lambda st: st.st_size <= MAX_PACK_BYTES)
        data = self._pack_bytes[pack]
        if data is None or offset + length > len(data):
            return None
        return data[offset:offset + length]


def _entry_name(digest: bytes, kind: str) -> str:
    salt = code_fingerprint() if kind == "yaml" else f"{kind}:{code_fingerprint()}"
    return hashlib.sha256(digest + salt.encode()).hexdigest()


def _write_signed(path: Path, mac: bytes, body: bytes) -> None:
    """MAC line, then the body: written to a private temporary name and renamed into place."""
    _write_file(path, mac + b"\n" + body)


def _write_file(path: Path, data: bytes) -> None:
    """`data` written to a private temporary name and renamed into place (its folder made if missing)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        d = path.parent
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
        if not stat.S_ISDIR(os.lstat(d).st_mode):
            return
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _read_regular(path: Path, limit: int, accept=lambda st: True) -> bytes | None:
    """Up to `limit` + 1 bytes of `path` if it is a regular file, not reached through a link,
    whose stat `accept` takes; None otherwise or on any error."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not accept(st):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_pack_header(path: Path) -> bytes | None:
    """The first line of a pack (without its newline) if it is a regular file reached through no
    link; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            line = fh.readline(MAX_PACK_HEADER + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return line[:-1] if line.endswith(b"\n") else None


def _read_private(path: Path) -> bytes | None:
    """The key file's 32 bytes if it is a regular file of ours that only we can read or write."""
    key = _read_regular(path, 32, lambda st: (stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
                                              and not (hasattr(os, "geteuid") and st.st_uid != os.geteuid())))
    return key if key is not None and len(key) == 32 else None


def _read_entry(path: Path) -> bytes | None:
    return _read_regular(path, MAX_ENTRY_BYTES, lambda st: st.st_size <= MAX_ENTRY_BYTES)


class _NotCacheable(Exception):
    pass


def _encode(value: Any) -> Any:
    """Parsed YAML data as JSON values: Decimals and written integers become one-key marker
    mappings (a key beginning with NUL, which a clean parse yields only through an escape —
    such a document is simply not cached)."""
    t = type(value)
    if t is str or value is None or t is bool:
        return value
    if t is Decimal:
        return {_DEC: str(value)}  # str() of a Decimal reads back to the same digits and exponent
    if t is YamlInt:
        return {_INT: value.source}
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str or k.startswith("\x00"):
                raise _NotCacheable
            out[k] = v if type(v) is str else _encode(v)  # most values are text: no call for them
        return out
    if t is list:
        return [v if type(v) is str else _encode(v) for v in value]
    raise _NotCacheable  # anything else (a plain int, a float) is not what the parser yields


def _hook(obj: dict) -> Any:
    if len(obj) == 1:
        if _DEC in obj:
            text = obj[_DEC]
            if type(text) is not str:
                raise ValueError("bad decimal")
            value = Decimal(text)
            if not value.is_finite():
                raise ValueError("bad decimal")
            return value
        if _INT in obj:
            text = obj[_INT]
            if type(text) is not str or len(text) > 40:
                raise ValueError("bad integer")
            return YamlInt(int(text.replace("_", "")), text)
    for k in obj:
        if k.startswith("\x00"):
            raise ValueError("bad marker")
    return obj


def _signed_body(blob: bytes | None, key: bytes) -> bytes | None:
    """The body of an entry written by `_write_signed` (MAC line, then the body) if its
    HMAC-SHA256 under `key` verifies; None otherwise."""
    if not blob:
        return None
    mac, sep, body = blob.partition(b"\n")
    if not sep or not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).hexdigest().encode()):
        return None
    return body


def _no_float(text: str) -> Any:
    raise ValueError("no floats in a cache entry")


def _decode(blob: bytes | None, key: bytes, name: str, raw: bytes, file: str) -> Doc | None:
    """The Doc an entry holds (`raw`: the bytes it was made from), or None if anything about it
    is not as loanctl writes it."""
    body = _signed_body(blob, key)
    if body is None:
        return None
    try:
        entry = json.loads(body, object_hook=_hook, parse_float=_no_float,
                           parse_constant=_no_float)
        if (type(entry) is not dict or entry.get("format") != FORMAT or entry.get("entry") != name
                or "data" not in entry):
            return None
        # positions found again, when a diagnostic asks, from the very bytes the entry was made from
        return Doc(file, entry["data"], SourcePositions(raw, file))
    except (ValueError, TypeError, KeyError, ArithmeticError, RecursionError):
        return None
