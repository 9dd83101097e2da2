"""The payment archive, `payments/` (SPEC §4.2): every posted file byte for byte under its
archive name, with its sidecars — `<name>.profile` (the payment profile it was read with)
and `<name>.profile.sha256` (that profile's digest, for `validate`) — and the rule that a
file has one reading (E0430). Files are the truth: a file is archived before the ledger
changes, and a rebuild replays the archive.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from datetime import date
from pathlib import Path
from typing import NamedTuple

from ..diagnostics import Diagnostic, DiagnosticError
from ..model.records import LoadedBook
from ..source.bookpath import inside_book, outside_diagnostic
from ..source.fingerprints import PROFILE_DIGEST_SUFFIX, PROFILE_SIDECAR_SUFFIX, profile_digest


class PaymentFile(NamedTuple):
    """One payment file of a post or a rebuild, as the ledger's `payment_files` records it."""

    name: str
    """Its archive name, `<posting day>-<sha256[:12]>.csv`."""
    sha: str
    shown: str
    """How the user named it (diagnostics say this)."""
    rows: int
    size: int
    profile: str | None
    raw: bytes


def archive_dir(root: Path) -> Path:
    """payments/; refused (E0020, raised) when it is a link leading outside the book, so
    that nothing is read from or archived into a folder elsewhere."""
    folder = root / "payments"
    if not inside_book(root, folder):
        raise DiagnosticError([outside_diagnostic(str(folder), "folder")])
    return folder


def archived_files(root: Path) -> list[Path]:
    """The archived payment files; a link leading outside the book is refused (E0020, raised)."""
    folder = archive_dir(root)
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if is_archived_payment_file(p.name) and p.is_file())
    outside = [outside_diagnostic(str(p)) for p in files if not inside_book(root, p)]
    if outside:
        raise DiagnosticError(outside)
    return files


def is_archived_payment_file(name: str) -> bool:
    """What the archive replays: CSV files, not hidden ones (a post's temporary files)."""
    return name.endswith(".csv") and not name.startswith(".")


def archived_profile(root: Path, name: str) -> str | None:
    """The profile an archived file was read with (its `.profile` sidecar), None for none; a
    sidecar that is a link leading outside the book is refused (E0020, raised)."""
    side = archive_dir(root) / f"{name}{PROFILE_SIDECAR_SUFFIX}"
    if not inside_book(root, side):
        raise DiagnosticError([outside_diagnostic(str(side))])
    return side.read_text(encoding="utf-8").strip() if side.is_file() else None


def archive_name(raw: bytes, posting_day: date) -> tuple[str, str]:
    sha = hashlib.sha256(raw).hexdigest()
    return f"{posting_day.isoformat()}-{sha[:12]}.csv", sha


def archive_file(root: Path, name: str, raw: bytes, profile: str | None = None) -> None:
    """The file byte-for-byte under payments/ (temp + fsync + rename); with a profile, a
    `<name>.profile` beside it says which, so a rebuild reads it the same way."""
    folder = archive_dir(root)
    target = folder / name
    try:
        folder.mkdir(exist_ok=True)
        if profile:
            side = folder / f"{name}{PROFILE_SIDECAR_SUFFIX}"
            tmp_side = folder / f".{name}{PROFILE_SIDECAR_SUFFIX}.tmp-{os.getpid()}"
            tmp_side.write_text(profile + "\n", encoding="utf-8")
            os.replace(tmp_side, side)
        if target.exists() and target.read_bytes() == raw:
            return
        tmp = folder / f".{name}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError, UnboundLocalError):
            tmp.unlink()  # type: ignore[possibly-undefined]
        raise DiagnosticError([Diagnostic("E0422", f"cannot archive the payment file: {exc.strerror or exc}",
                                          str(target), hint="check free disk space and permissions; nothing was "
                                                            "posted")]) from None


def profile_conflicts(con, root: Path, records: list[PaymentFile]) -> list[Diagnostic]:
    """A file has one reading: the same bytes posted (or archived) before under another
    profile — or none — are refused, since the archive keeps one `.profile` per file and a
    rebuild would read every row the one way."""
    out = []
    for name, sha, shown, _, _, prof_name, _ in records:
        earlier = con.execute("SELECT profile, CAST(posted_on AS VARCHAR) FROM payment_files WHERE sha256 = ? "
                              "ORDER BY file", [sha]).fetchall() if con is not None else []
        if (archive_dir(root) / name).is_file():
            side = archive_dir(root) / f"{name}{PROFILE_SIDECAR_SUFFIX}"
            earlier.append((side.read_text(encoding="utf-8").strip() if side.is_file() else None, name[:10]))
        for used, day in earlier:
            if (used or None) != (prof_name or None):
                out.append(Diagnostic(
                    "E0430", f"this file was posted before {_with(used)}; now {_with(prof_name)}", shown, 1,
                    hint=f"the file was posted {_with(used)} on {day}: post it {_with(used)} (a duplicate changes "
                         "nothing), or send the payments in a new file"))
                break
    return out


def _with(profile: str | None) -> str:
    return f"with profile {profile!r}" if profile else "without a profile"


def record_profile_digests(loaded: LoadedBook, profile: str | None, archived: list[str]) -> None:
    """Beside each file archived with a profile, `<name>.profile.sha256`: the profile's name and
    the digest of its definition, so `validate` can tell when a profile that archived files
    were read with changes or goes (E0240). Written after the post committed: a crash before it
    leaves a file checked like one posted before digests existed (the profile must exist)."""
    prof = loaded.book.payment_profiles.get(profile) if profile and loaded.book else None
    if prof is None:
        return
    text = f"{profile} {profile_digest(prof)}\n"
    folder = archive_dir(loaded.root)
    for name in archived:
        side = folder / f"{name}{PROFILE_DIGEST_SUFFIX}"
        tmp = folder / f".{side.name}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, side)
