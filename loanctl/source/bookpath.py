"""Which paths belong to the book: a file or folder reached through a symbolic link that
leads outside the book folder is never read (E0020).

A pull request can add a symlink as easily as a file; without this check `deals/x/deal.yaml
-> ~/.ssh/id_rsa` would be read, and quoted back in a diagnostic's source line. Links that
stay inside the book are fine. Every reader of book files asks `inside_book` first.
"""

from __future__ import annotations

import os

from ..diagnostics import Diagnostic

OUTSIDE_HINT = ("move what it points to into the book (or point the link at a path inside the book); "
                "loanctl reads nothing outside the book folder")


def inside_book(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether `path`, with every symbolic link followed, lies within the book folder `root`
    (itself followed too). A path that does not exist yet counts by where it would be."""
    root_s, path_s = os.fspath(root), os.fspath(path)
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


def outside_diagnostic(file: str, what: str = "file") -> Diagnostic:
    """E0020 for `file` (as displayed); names the path only, never the link's target or its content."""
    return Diagnostic("E0020", f"a symbolic link leads outside the book: this {what} is not used",
                      file, hint=OUTSIDE_HINT)
