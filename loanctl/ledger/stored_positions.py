"""Stored report positions (SPEC §10, issue #19): what the report computes per facility —
its position row, its cash flows and its trades for a scope on an as-of date — kept in the
ledger and reused while their inputs are unchanged, so a report re-allocates only the
facilities whose inputs changed since the last report for that scope and date.

Each stored entry is keyed by (deal, facility, context, as_of) and carries a digest of its
inputs: the deal's fingerprint (`source.fingerprints`: its files, the fixings of its
indexes, the book's calendars, rounding and waterfall, loanctl's version) and the facility's
payments dated on or before the as-of date (computed by DuckDB from the `payments` table). The
context digest covers the rest (the scope, the report variant, book.yaml whole, the marks up to
the as-of date), chosen by the caller. An entry whose digest is not the book's is never used
(stale state is never shown); a report replaces it. Money is kept as exact decimal text.

Entries are a cache: deleting them (or `.loanctl/`) changes no output. A report that cannot
take the writer lock at once simply does not store what it computed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ..diagnostics import Diagnostic, DiagnosticError
from ..model.records import LoadedBook
from ..servicing.allocation import Payment
from ..source.cache import package_fingerprint
from ..source.fingerprints import DealFingerprints
from .allocating import payments_of
from .db import connect, diag, ledger_path, writer_lock

TABLE = "stored_positions"
Facility = tuple[str, str]

# the digest of a facility's payments up to the as-of date, from every column: their count, and
# the sum and the xor of their rows' hashes (payments are only ever added — a reversal is a new
# payment — so a new one always changes it; DuckDB computes it in one pass, no sort)
_DIGEST_OF = ("count(*) || ':' || sum(hash(payment_id, value_date, amount, currency, type, reference, reverses, "
              "file, line))::HUGEINT || ':' || bit_xor(hash(payment_id, amount, value_date))")
_PAYMENTS_DIGEST = f"SELECT deal, facility, {_DIGEST_OF} FROM payments WHERE value_date <= ? GROUP BY deal, facility"
# the same for some facilities (a list of deals, a list of facilities)
_SOME_DIGESTS = (f"SELECT deal, facility, {_DIGEST_OF} FROM payments WHERE value_date <= ? AND (deal, facility) IN "
                 "(SELECT unnest(?), unnest(?)) GROUP BY deal, facility")


# --- the payments digests kept by post-payments and rebuild --------------------------------------
# Every facility's digest of all its payments and its last payment date, kept in one `meta` row
# (no schema change) in the transaction that writes the payments, with what they were computed
# from: the archived files (`payment_files`: a post that writes payments always records one) and
# the number of payments. A report uses them when both still match (a loanctl that does not keep
# them posted since, or none was kept: it hashes the payments as before), and for a facility
# whose last payment is after the as-of date it hashes that facility's payments up to it.
PAID_KEY = "payments_digest"
_FILES_TOKEN = "SELECT count(*) || ':' || coalesce(sum(hash(file, sha256)), 0)::HUGEINT FROM payment_files"


def payments_token(con) -> str:
    """What the kept digests were computed from (`keep_payments_digests`): the archived files."""
    return con.execute(_FILES_TOKEN).fetchone()[0]


def _kept(con) -> dict | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [PAID_KEY]).fetchone()
    if row is None:
        return None
    try:
        kept = json.loads(row[0])
    except ValueError:
        return None
    return kept if isinstance(kept, dict) and isinstance(kept.get("digests"), list) else None


def keep_payments_digests(con, changed: list[Facility] | None, before: str | None) -> None:
    """Inside the caller's transaction, after it wrote the payments: keep every facility's
    payments digest. `changed`: the only facilities whose payments it wrote, when the kept
    digests matched the ledger before it (`before`: `payments_token` then); None: all."""
    kept = _kept(con)
    rows: dict[Facility, list] = {}
    query = f"SELECT deal, facility, {_DIGEST_OF}, max(value_date)::VARCHAR, count(*) FROM payments"
    if changed is not None and kept is not None and kept.get("files") == before and before is not None:
        rows = {(d, f): [d, f, h, last, n] for d, f, h, last, n in kept["digests"]}
        if changed:
            for k in set(changed):
                rows.pop(k, None)
            found = con.execute(f"{query} WHERE (deal, facility) IN (SELECT unnest(?), unnest(?)) GROUP BY deal, "
                                "facility", [[k[0] for k in changed], [k[1] for k in changed]]).fetchall()
        else:
            found = []
    else:
        found = con.execute(f"{query} GROUP BY deal, facility").fetchall()
    for d, f, h, last, n in found:
        rows[(d, f)] = [d, f, h, last, n]
    if changed is not None and sum(r[4] for r in rows.values()) != con.execute("SELECT count(*) FROM payments"
                                                                                ).fetchone()[0]:
        keep_payments_digests(con, None, None)  # they did not add up: all of them again
        return
    value = json.dumps({"files": payments_token(con), "digests": [rows[k] for k in sorted(rows)]},
                       separators=(",", ":"), ensure_ascii=True)
    con.execute("DELETE FROM meta WHERE key = ?", [PAID_KEY])
    con.execute("INSERT INTO meta VALUES (?, ?)", [PAID_KEY, value])


def payments_digests(con, as_of: date) -> dict[Facility, str]:
    """Each facility's digest of its payments dated on or before `as_of` (exactly what
    `_PAYMENTS_DIGEST` gives): the kept ones when they still match the ledger, else hashed."""
    kept = _kept(con)
    if kept is not None and kept.get("files") == payments_token(con):
        digests = kept["digests"]
        total, = con.execute("SELECT count(*) FROM payments").fetchone()
        if sum(r[4] for r in digests) == total:
            day = as_of.isoformat()
            out = {(d, f): h for d, f, h, last, _ in digests if last <= day}
            later = [(d, f) for d, f, _, last, _ in digests if last > day]
            if later:
                out.update(((d, f), h) for d, f, h in con.execute(
                    _SOME_DIGESTS, [as_of, [k[0] for k in later], [k[1] for k in later]]).fetchall())
            return out
    return {(d, f): h for d, f, h in con.execute(_PAYMENTS_DIGEST, [as_of]).fetchall()}


# --- the entry codec: exact, typed, JSON ------------------------------------------------------
def _enc(x: Any) -> Any:
    if isinstance(x, bool) or x is None or isinstance(x, int):
        return x
    if isinstance(x, Decimal):
        return "#" + str(x)
    if isinstance(x, str):
        return "'" + x
    if isinstance(x, date):
        return "@" + x.isoformat()
    if isinstance(x, dict):
        return {k: _enc(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_enc(v) for v in x]
    raise TypeError(f"cannot store a {type(x).__name__}")


def _dec(x: Any) -> Any:
    t = type(x)
    if t is str:
        return _dec_str(x)
    if t is dict:
        return {k: _dec_str(v) if type(v) is str else _dec(v) for k, v in x.items()}
    if t is list:
        return [_dec_str(v) if type(v) is str else _dec(v) for v in x]
    return x


def _dec_str(x: str) -> Any:
    """A tagged string's value; the values are immutable (Decimal, date, str), so equal texts
    share one (a book's entries repeat many: 0.00, a share, a date)."""
    value = _VALUES.get(x)
    if value is None:
        tag, rest = x[:1], x[1:]
        if tag == "#":
            value = Decimal(rest)
        elif tag == "@":
            value = date.fromisoformat(rest)
        elif tag == "'":
            value = rest
        else:
            raise ValueError(f"unknown tag {tag!r}")
        if len(_VALUES) >= _MAX_VALUES:
            _VALUES.clear()
        _VALUES[x] = value
    return value


def encode_entry(trades: list[dict], row: dict | None, flows: list[tuple[date, str, Decimal]]) -> str | None:
    """The stored text of a facility's report entry; None when it holds a value we cannot
    store exactly (the entry is then simply recomputed each time)."""
    try:
        body = [_enc(trades), _enc(row), "|".join(f"{d.isoformat()},{k},{a}" for d, k, a in flows)]
    except TypeError:
        return None
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True)


def decode_entry(text: str, with_flows: bool = True) -> tuple[list[dict], dict | None, list[tuple[date, str, Decimal]]]:
    """The entry `encode_entry` stored; `with_flows=False`: without its flows (summed in SQL
    instead: `PositionStore.summed_flows`)."""
    trades, row, flows = json.loads(text)
    out = []
    if flows and with_flows:
        if flows.count("|") * 2 + 2 != flows.count(","):
            raise ValueError("bad flows")  # every flow is date,kind,amount
        dates = _DATES
        fields = iter(flows.replace("|", ",").split(","))
        for d, k, a in zip(fields, fields, fields):
            day = dates.get(d)
            if day is None:
                day = dates[d] = date.fromisoformat(d)
            out.append((day, k, Decimal(a)))
    return _dec(trades) if trades else trades, _dec(row) if row else row, out


def encode_value(value: Any) -> str | None:
    """The stored text of a command's per-deal or per-facility entry other than the report's
    (covenant tests, the query's tables): strings, Decimals, dates, ints, booleans and None in
    lists and dicts, as a tagged JSON object; None when a value cannot be stored exactly."""
    try:
        return json.dumps({"v": _enc(value)}, separators=(",", ":"), ensure_ascii=True)
    except TypeError:
        return None


def decode_value(text: str) -> Any:
    body = json.loads(text)
    if type(body) is not dict or set(body) != {"v"}:
        raise ValueError("not a stored value")
    return _dec(body["v"])


def decode_any(text: str) -> Any:
    """A stored entry of any kind (`decode_value` or `decode_entry`): ValueError, TypeError or
    ArithmeticError when it cannot be read."""
    return decode_value(text) if text.startswith("{") else decode_entry(text)


_DATES: dict[str, date] = {}
"""Parsed ISO dates (a book's flows share a few thousand dates)."""
_VALUES: dict[str, Any] = {}
"""Decoded tagged strings of entries (`_dec_str`), at most _MAX_VALUES at a time."""
_MAX_VALUES = 1 << 16


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- one read-only connection for a command's reads ---------------------------------------------
_SHARED: dict[str, Any] = {}
"""ledger path → the read-only connection `shared_reads` lends (None until first used)."""


@contextlib.contextmanager
def shared_reads(root):
    """Inside, the stores' reads of this book's ledger (`open_store`, `payments`, `summed_flows`)
    share one read-only connection (opening one costs more than most reads), closed on leaving
    — or before a store writes (`PositionStore.save`: one process cannot hold both kinds)."""
    key = str(ledger_path(root))
    _SHARED.setdefault(key, None)
    try:
        yield
    finally:
        con = _SHARED.pop(key, None)
        if con is not None:
            con.close()


def _reader(root) -> tuple[Any, bool]:
    """A read-only connection to the book's ledger, and whether the caller closes it."""
    path = ledger_path(root)
    key = str(path)
    if key not in _SHARED:
        return connect(path, read_only=True), True
    if _SHARED[key] is None:
        _SHARED[key] = connect(path, read_only=True)
    return _SHARED[key], False


def _release_reader(root) -> None:
    key = str(ledger_path(root))
    con = _SHARED.get(key)
    if con is not None:
        con.close()
        _SHARED[key] = None


# --- the store ---------------------------------------------------------------------------------
@dataclass
class _Stored:
    seq: int
    count: int
    digest: str
    entry: str
    checksum: str


# each used entry's flows ("date,kind,amount|…", `encode_entry`) summed per currency, date, kind
# and sign (as `reports.build._summed_flows` keys them); `places`: the most decimal places of a
# term; `odd`: a term in exponent notation or a negative zero (then the caller sums in Python)
_FLOWS_ROLLUP = f"""
WITH used AS (SELECT unnest(?) AS d, unnest(?) AS f, unnest(?) AS ccy, unnest(?) AS k),
flows AS (SELECT u.ccy, unnest(string_split(json_extract_string(s.entry, '$[2]'), '|')) AS flow
          FROM {TABLE} s JOIN used u ON s.deal = u.d AND s.facility = u.f AND s.checksum = u.k
          WHERE s.context = ? AND s.as_of = ?),
terms AS (SELECT ccy, split_part(flow, ',', 1) AS day, split_part(flow, ',', 2) AS kind,
                 split_part(flow, ',', 3) AS amount FROM flows WHERE flow <> '')
SELECT ccy, day, kind, sum(CAST(amount AS DECIMAL(38, 12)))::VARCHAR AS total,
       max(length(split_part(amount, '.', 2))) AS places,
       bool_or(contains(lower(amount), 'e') OR regexp_full_match(amount, '-0*\\.?0*')) AS odd
FROM terms GROUP BY ccy, day, kind, CAST(amount AS DECIMAL(38, 12)) > 0
"""


@dataclass
class PositionStore:
    """The stored entries of one (context, as_of), with the book's current digests."""

    loaded: LoadedBook
    as_of: date
    context: str
    fps: DealFingerprints | KnownFingerprints
    paid: dict[Facility, str]
    stored: dict[str, dict[str, _Stored]]
    """deal → facility → stored entry (only those of the deal's current fingerprint)."""
    new: list[tuple] = field(default_factory=list)

    _digests: dict[Facility, str] = field(default_factory=dict, init=False, repr=False)

    def digest(self, deal: str, facility: str) -> str:
        """The digest of a facility's inputs (its deal's fingerprint, its payments): both are fixed
        for the life of the store, so each is computed once."""
        key = (deal, facility)
        d = self._digests.get(key)
        if d is None:
            d = self._digests[key] = hashlib.sha256(
                f"{self.fps.of(deal)}\0{self.paid.get(key, '')}".encode()).hexdigest()
        return d

    def fresh(self, deal: str, facility: str) -> str | None:
        """The stored entry text of a facility, if its inputs are unchanged."""
        s = self.stored.get(deal, {}).get(facility)
        if s is not None and s.digest == self.digest(deal, facility):
            return s.entry
        return None

    def deal_facilities(self, deal: str) -> list[str] | None:
        """The deal's facilities in report order when every one of them has a fresh entry."""
        rows = self.stored.get(deal)
        if not rows:
            return None
        count = next(iter(rows.values())).count
        order = sorted(rows, key=lambda f: rows[f].seq)
        if len(order) != count or any(self.fresh(deal, f) is None for f in order):
            return None
        return order

    def checksum_of(self, deal: str, facility: str) -> str:
        """The checksum of the stored entry `fresh` gives (its text as read and checked)."""
        return self.stored[deal][facility].checksum

    def summed_flows(self, used: list[tuple[str, str, str, str]]) -> dict[str, list[tuple[date, str, Decimal]]] | None:
        """The flows of these stored entries — (deal, facility, currency, checksum of the entry
        read) — summed by currency, date, kind and sign by DuckDB (DECIMAL: exact), each sum with
        the decimal places a Decimal sum of the same amounts has (the most of its terms). The
        report only ever sums flows (`reports.build._series`, XIRR by date, MOIC by sign), so
        its figures are the same as from each entry's own flows. None when it cannot say
        exactly the same (an entry replaced since it was read, an amount in exponent notation,
        more than 12 decimal places, a negative zero): the caller decodes the flows itself."""
        import duckdb
        cols = [[u[i] for u in used] for i in range(4)]
        try:
            con, own = _reader(self.loaded.root)
        except DiagnosticError:
            return None
        try:
            found, = con.execute(
                f"SELECT count(*) FROM {TABLE} s JOIN (SELECT unnest(?) AS d, unnest(?) AS f, unnest(?) AS k) u "
                "ON s.deal = u.d AND s.facility = u.f AND s.checksum = u.k WHERE s.context = ? AND s.as_of = ?",
                [cols[0], cols[1], cols[3], self.context, self.as_of]).fetchone()
            if found != len(used):
                return None
            rows = con.execute(_FLOWS_ROLLUP, [cols[0], cols[1], cols[2], cols[3], self.context, self.as_of]).fetchall()
        except duckdb.Error:
            return None
        finally:
            if own:
                con.close()
        out: dict[str, list[tuple[date, str, Decimal]]] = {}
        dates = _DATES
        for ccy, d, kind, total, places, odd in rows:
            if odd or places > 12:
                return None
            day = dates.get(d)
            if day is None:
                day = dates[d] = date.fromisoformat(d)
            out.setdefault(ccy, []).append((day, kind, Decimal(total).quantize(Decimal(1).scaleb(-places))))
        return out

    def put(self, deal: str, facility: str, seq: int, count: int, text: str | None) -> None:
        if text is not None:
            self.new.append((deal, facility, seq, count, self.digest(deal, facility), text))

    def adopt(self, rows: list[tuple]) -> None:
        """Hold entries `put` by a copy of this store (in a worker process) as fresh and new."""
        for deal, facility, seq, count, digest, text in rows:
            self.new.append((deal, facility, seq, count, digest, text))
            self.stored.setdefault(deal, {})[facility] = _Stored(seq, count, digest, text, checksum(text))

    def release_reads(self) -> None:
        """Close the shared read-only connection, if open (before forking: `shared_reads`)."""
        _release_reader(self.loaded.root)

    def payments(self, keys: list[Facility]) -> list[Payment]:
        """The payments of these facilities (for the facilities to compute)."""
        if not keys:
            return []
        con, own = _reader(self.loaded.root)
        try:
            return [p for ps in payments_of(con, sorted(set(keys))).values() for p in ps]
        finally:
            if own:
                con.close()

    def save(self) -> None:
        """Store the new entries (best effort: a busy or read-only ledger stores nothing), and keep
        the deals' fingerprints beside the parsed-file cache."""
        self.fps.flush()
        if not self.new:
            return
        import duckdb
        root = self.loaded.root
        _release_reader(root)
        with contextlib.suppress(DiagnosticError, OSError, duckdb.Error):
            with writer_lock(root, wait=0):
                con = connect(ledger_path(root))
                try:
                    _write(con, self)
                finally:
                    con.close()
        self.new = []


def _write(con, store: PositionStore) -> None:
    rows = store.new
    cols = [[r[i] for r in rows] for i in range(6)]
    deals = sorted({r[0] for r in rows})
    fps = [store.fps.of(d) or "" for d in deals]
    con.execute("BEGIN TRANSACTION")
    try:
        # drop what these deals' older versions left, and the entries being replaced
        con.execute(f"DELETE FROM {TABLE} USING (SELECT unnest(?) AS d, unnest(?) AS f) x "
                    f"WHERE {TABLE}.deal = x.d AND {TABLE}.fingerprint <> x.f", [deals, fps])
        con.execute(f"DELETE FROM {TABLE} WHERE context = ? AND as_of = ? AND (deal, facility) IN "
                    f"(SELECT unnest(?), unnest(?))", [store.context, store.as_of, cols[0], cols[1]])
        fp_of = dict(zip(deals, fps))
        con.execute(f"INSERT INTO {TABLE} SELECT unnest(?), unnest(?), ?, ?, unnest(?), unnest(?), unnest(?), "
                    f"unnest(?), unnest(?), unnest(?)",
                    [cols[0], cols[1], store.context, store.as_of, [fp_of[d] for d in cols[0]], cols[2], cols[3],
                     cols[4], cols[5], [checksum(t) for t in cols[5]]])
        con.execute("COMMIT")
    except Exception:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise


class KnownFingerprints:
    """`DealFingerprints` of a book whose deals are not all loaded: a deal not loaded has the
    fingerprint it was known by (`known`: its folder unchanged since, reports.stored.DealIndex)."""

    def __init__(self, loaded: LoadedBook, known: dict[str, str]) -> None:
        self.fps = DealFingerprints(loaded)
        self.known = known

    def of(self, deal_id: str) -> str | None:
        fp = self.known.get(deal_id)
        return fp if fp is not None else self.fps.of(deal_id)

    def flush(self) -> None:
        self.fps.flush()


def open_store(loaded: LoadedBook, as_of: date, context: str, with_payments: bool = True,
               known: dict[str, str] | None = None) -> PositionStore | None:
    """The stored entries of `context` on `as_of`; None without a ledger (nothing to keep them in).
    `with_payments=False` for entries that no payment changes (covenant tests): their digest
    is the deal's fingerprint alone. `known`: the fingerprints of deals not loaded (KnownFingerprints)."""
    import duckdb
    path = ledger_path(loaded.root)
    if not path.exists():
        return None
    fps: Any = DealFingerprints(loaded) if known is None else KnownFingerprints(loaded, known)
    stored: dict[str, dict[str, _Stored]] = {}
    try:
        con, own = _reader(loaded.root)
    except DiagnosticError:
        return None
    try:
        paid = payments_digests(con, as_of) if with_payments else {}
        if _has_table(con):
            for deal, fac, fp, seq, count, dg, entry, ck in con.execute(
                    f"SELECT deal, facility, fingerprint, seq, count, digest, entry, checksum FROM {TABLE} "
                    "WHERE context = ? AND as_of = ?", [context, as_of]).fetchall():
                if fp == fps.of(deal) and ck == checksum(entry):
                    stored.setdefault(deal, {})[fac] = _Stored(seq, count, dg, entry, ck)
    except duckdb.Error:
        return None
    finally:
        if own:
            con.close()
    fps.flush()
    return PositionStore(loaded, as_of, context, fps, paid, stored)


def _has_table(con) -> bool:
    return bool(con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [TABLE]).fetchall())


def context_digest(*parts: Any) -> str:
    """The digest of what else a stored entry depends on (canonical JSON of `parts`), and of
    loanctl's own sources (`source.cache.package_fingerprint`): an entry is used only by the
    exact code that computed it."""
    text = json.dumps([package_fingerprint(), *parts], sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- ledger check / refresh ----------------------------------------------------------------------
_CORRUPT = "checksum IS DISTINCT FROM substr(sha256(entry), 1, 32)"  # the same as `checksum`, in SQL


def _stale_deals(con, fps: DealFingerprints) -> list[tuple[str, str]]:
    """(deal, stored fingerprint) pairs that are not the book's."""
    return [(d, fp) for d, fp in con.execute(f"SELECT DISTINCT deal, fingerprint FROM {TABLE} ORDER BY 1, 2")
            .fetchall() if fp != fps.of(d)]


def needs_pruning(con, fps: DealFingerprints) -> bool:
    """Whether the ledger holds stored positions that are stale or corrupt."""
    if not _has_table(con):
        return False
    return bool(_stale_deals(con, fps)) or bool(con.execute(f"SELECT 1 FROM {TABLE} WHERE {_CORRUPT} LIMIT 1")
                                                .fetchall())


def prune_stored(con, fps: DealFingerprints) -> None:
    """Inside the caller's transaction: drop the stored positions that are stale (their
    deal's fingerprint is not the book's) or corrupt."""
    if not _has_table(con):
        return
    stale = _stale_deals(con, fps)
    if stale:
        con.execute(f"DELETE FROM {TABLE} WHERE (deal, fingerprint) IN (SELECT unnest(?), unnest(?))",
                    [[d for d, _ in stale], [f for _, f in stale]])
    con.execute(f"DELETE FROM {TABLE} WHERE {_CORRUPT}")


def check_stored(loaded: LoadedBook, con, limit: int = 100) -> list[Diagnostic]:
    """E0920 for a stored entry that is corrupt (its checksum or its text is wrong); E0921
    (a warning) for entries of a deal whose files changed after they were stored — never
    used, dropped by `ledger refresh` or the next report of that deal."""
    if not _has_table(con):
        return []
    path = str(ledger_path(loaded.root))
    fps = DealFingerprints(loaded)
    diags: list[Diagnostic] = []
    stale = 0
    for deal, fac, as_of, fp, entry, ck in con.execute(
            f"SELECT deal, facility, as_of, fingerprint, entry, checksum FROM {TABLE} ORDER BY deal, facility, as_of"
            ).fetchall():
        bad = ck != checksum(entry)
        if not bad:
            try:
                decode_any(entry)
            except (ValueError, TypeError, ArithmeticError):
                bad = True
        if bad:
            if len(diags) < limit:
                diags.append(diag("E0920", f"the stored position of deal '{deal}' facility '{fac}' as of {as_of} is "
                                           "corrupt", path, "run `loanctl ledger refresh` (it drops stored positions "
                                                            "that are corrupt or stale) or delete .loanctl/"))
        elif fp != fps.of(deal):
            stale += 1
    if stale:
        diags.append(Diagnostic("E0921", f"{stale} stored positions were computed from earlier versions of their "
                                         "deals (never shown: reports recompute them)", path,
                                hint="run `loanctl ledger refresh` to drop them", severity="warning"))
    return diags
