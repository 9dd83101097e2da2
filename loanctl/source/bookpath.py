"""Which paths belong to the book: a file or folder reached through a symbolic link that
leads outside the book folder is never read (E0020).

A pull request can add a symlink as easily as a file; without this check `deals/x/deal.yaml
-> ~/.ssh/id_rsa` would be read, and quoted back in a diagnostic's source line. Links that
stay inside the book are fine. Every reader of book files asks `inside_book` first.
"""

from __future__ import annotations

import os
import stat

from ..diagnostics import Diagnostic

OUTSIDE_HINT = ("move what it points to into the book (or point the link at a path inside the book); "
                "loanctl reads nothing outside the book folder")


def inside_book(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether `path`, with every symbolic link followed, lies within the book folder `root`
    (itself followed too). A path that does not exist yet counts by where it would be."""
    root_s, path_s = os.fspath(root), os.fspath(path)
    prefix = root_s if root_s.endswith(os.sep) else root_s + os.sep
    rel = path_s[len(prefix):] if path_s.startswith(prefix) else ""
    parts = rel.split(os.sep)
    if not rel or any(p in ("", ".", "..") for p in parts):  # not plainly below the root: as relpath sees it
        try:
            rel = os.path.relpath(path_s, root_s)
        except ValueError:  # another drive (Windows)
            return False
        parts = rel.split(os.sep)
    if rel != os.curdir and ".." not in parts and ".." not in path_s.replace("\\", "/").split("/"):
        here = root_s  # the common case, cheaply: no link on the way down from the root
        for part in parts:
            here = os.path.join(here, part)
            if os.path.islink(here):
                break
        else:
            return True
    try:
        real_root = os.path.realpath(root_s)
        real = os.path.realpath(path_s)
    except (OSError, ValueError):
        return False
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def read_regular(path: str, limit: int) -> bytes | int | None:
    """Up to `limit` + 1 bytes of the regular file at `path` (links followed); its size when it
    is larger than `limit`; None when it is anything else (a FIFO or device would block or
    never end), missing or unreadable. Plain system calls: no Python file object per file."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > limit:
            return st.st_size
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError):
        return None
    try:
        parts: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, max(st.st_size + 1, 1 << 16)))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)
    except OSError:
        return None
    finally:
        os.close(fd)


def outside_diagnostic(file: str, what: str = "file") -> Diagnostic:
    """E0020 for `file` (as displayed); names the path only, never the link's target or its content."""
    return Diagnostic("E0020", f"a symbolic link leads outside the book: this {what} is not used",
                      file, hint=OUTSIDE_HINT)
