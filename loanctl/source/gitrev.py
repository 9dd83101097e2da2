"""Reading the book as of a git revision, with git plumbing only (the work tree is never
touched): `git rev-parse`, `git ls-tree`, `git cat-file --batch`, `git log`."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath

from ..diagnostics import display_path


class GitProblem(Exception):
    """A git failure the user can act on; `code` is a diagnostics code, exit 2."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def _git(cwd: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitProblem("E0501", "git is not installed", "install git") from None


def repo_root(path: Path) -> Path:
    out = _git(path if path.is_dir() else path.parent, "rev-parse", "--show-toplevel")
    if out.returncode != 0:
        raise GitProblem("E0501", f"{display_path(path)} is not inside a git repository",
                         "run `git init` (loanctl init does), or pass --book inside a repository")
    return Path(out.stdout.decode().strip())


def resolve(repo: Path, rev: str) -> str:
    """The commit id of `rev`; a clear error for an unknown one (and for a shallow clone)."""
    if rev.startswith("-"):
        raise GitProblem("E0502", f"'{rev}' is not a revision")
    out = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if out.returncode == 0:
        return out.stdout.decode().strip()
    shallow = _git(repo, "rev-parse", "--is-shallow-repository").stdout.decode().strip() == "true"
    if shallow:
        raise GitProblem("E0503", f"revision '{rev}' is not in this shallow clone",
                         "fetch the history: `git fetch --unshallow`, or in GitHub Actions "
                         "actions/checkout with fetch-depth: 0")
    raise GitProblem("E0502", f"unknown revision '{rev}'", "check the branch, tag or commit name (git log --oneline)")


class GitTree:
    """The `loader.Tree` of a book folder at a commit."""

    def __init__(self, book_root: Path, rev: str, only: str | None = None, repo: Path | None = None,
                 commit: str | None = None) -> None:
        """`only`: list just this folder of the book (e.g. one deal) — much cheaper."""
        self.repo = repo or repo_root(book_root)
        self.commit = commit or resolve(self.repo, rev)
        self.rev = rev
        self.root = book_root
        rel = Path(book_root).resolve().relative_to(self.repo.resolve())
        self.prefix = "" if str(rel) == "." else rel.as_posix()
        self._display = display_path(book_root)
        scope = "/".join(x for x in (self.prefix, only) if x)
        listing = _git(self.repo, "ls-tree", "-r", "-t", "-z", "--full-tree", self.commit, *([scope] if scope else []))
        self._entries: dict[str, tuple[str, str]] = {}  # rel path → (type, object id)
        for item in listing.stdout.decode("utf-8", "replace").split("\0"):
            if not item:
                continue
            meta, path = item.split("\t", 1)
            _, kind, obj = meta.split()
            rel_path = path[len(self.prefix) + 1:] if self.prefix else path
            if self.prefix and not path.startswith(self.prefix + "/"):
                continue
            self._entries[rel_path] = (kind, obj)
        self._batch: subprocess.Popen | None = None

    def exists(self) -> bool:
        return bool(self._entries)

    def list_dir(self, rel: str) -> list[tuple[str, bool]]:
        base = PurePosixPath(rel) if rel else None
        out = []
        for path, (kind, _) in self._entries.items():
            p = PurePosixPath(path)
            if (base is None and len(p.parts) == 1) or (base is not None and p.parent == base):
                out.append((p.name, kind == "tree"))
        return sorted(out)

    def read(self, rel: str, max_bytes: int) -> bytes | int | None:
        entry = self._entries.get(rel)
        if entry is None or entry[0] != "blob":
            return None
        data = self._cat(entry[1])
        return len(data) if len(data) > max_bytes else data

    def _cat(self, obj: str) -> bytes:
        if self._batch is None:
            self._batch = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.repo, stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE)
        assert self._batch.stdin and self._batch.stdout
        self._batch.stdin.write(obj.encode() + b"\n")
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().split()
        size = int(header[2])
        data = self._batch.stdout.read(size)
        self._batch.stdout.read(1)
        return data

    def display(self, rel: str) -> str:
        return rel if self._display in ("", ".") else f"{self._display}/{rel}"

    def read_display(self, file: str) -> bytes | None:
        """A file named as `display` names it, read at this revision."""
        prefix = "" if self._display in ("", ".") else self._display + "/"
        if prefix and not file.startswith(prefix):
            return None
        data = self.read(file[len(prefix):], 2_000_000)
        return data if isinstance(data, bytes) else None

    def close(self) -> None:
        if self._batch is not None:
            self._batch.stdin.close()  # type: ignore[union-attr]
            self._batch.wait()
            self._batch = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


@dataclass(frozen=True)
class Commit:
    id: str
    author: str
    email: str
    date: str
    message: str


def log(repo: Path, paths: list[str], rev_range: str | None = None) -> list[Commit]:
    """Commits touching `paths`, newest first. Fields are NUL-separated (-z): git keeps NUL out
    of names and messages, while any other byte (\\x1e, \\x1f, invalid UTF-8) may be in them."""
    fmt = "%H%x00%an%x00%ae%x00%aI%x00%s"
    args = ["log", "-z", "--no-show-signature", f"--format={fmt}", *([rev_range] if rev_range else []), "--", *paths]
    out = _git(repo, *args)
    if out.returncode != 0:
        raise GitProblem("E0502", out.stderr.decode("utf-8", "replace").strip().splitlines()[0]
                         if out.stderr.strip() else "git log failed")
    fields = out.stdout.decode("utf-8", "replace").split("\0")
    if fields and fields[-1] in ("", "\n"):
        fields.pop()
    return [Commit(*fields[i:i + 5]) for i in range(0, len(fields) - 4, 5)]


def parent(repo: Path, commit: str) -> str | None:
    out = _git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^")
    return out.stdout.decode().strip() if out.returncode == 0 else None


def created_dates(repo: Path, book_root: Path, rev: str = "HEAD") -> dict[str, tuple[date, str]]:
    """deal id → (author date, commit) of the commit reachable from `rev` that first added the
    deal's deal.yaml (a renamed deal folder keeps its creation), in one `git log` over the
    book. Empty when `rev` does not resolve (a repository without commits)."""
    out = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if out.returncode != 0:
        return {}
    rel = Path(book_root).resolve().relative_to(Path(repo).resolve()).as_posix()
    prefix = "" if rel == "." else rel + "/"
    log_out = _git(repo, "-c", "core.quotepath=off", "log", "--reverse", "-M", "--diff-filter=AR",
                   "--format=%x1e%H%x1f%aI", "--name-status", out.stdout.decode().strip(), "--",
                   f":(glob){prefix}*/deal.yaml")
    if log_out.returncode != 0:
        return {}
    shallow_file = _git(repo, "rev-parse", "--git-path", "shallow").stdout.decode().strip()
    try:  # a shallow clone's boundary commits show every file as added: not a creation
        boundary = set((Path(repo) / shallow_file).read_text().split()) if shallow_file else set()
    except OSError:
        boundary = set()

    def deal_of(name: str) -> str | None:
        parts = name[len(prefix):].split("/") if name.startswith(prefix) else []
        return parts[0] if len(parts) == 2 and parts[1] == "deal.yaml" else None

    created: dict[str, tuple[date, str]] = {}
    for rec in log_out.stdout.decode("utf-8", "replace").split("\x1e"):  # oldest first
        head, _, names = rec.strip("\n").partition("\n")
        if "\x1f" not in head:
            continue
        commit, when = head.split("\x1f")
        day = datetime.fromisoformat(when).date()
        for line in names.split("\n"):
            fields = line.split("\t")
            if fields[0] == "A" and len(fields) == 2 and commit not in boundary:
                deal = deal_of(fields[1])
                if deal is not None:
                    created.setdefault(deal, (day, commit))
            elif fields[0].startswith("R") and len(fields) == 3:
                old, new = deal_of(fields[1]), deal_of(fields[2])
                if new is not None and old in created:
                    created[new] = created[old]
    return created


def is_shallow(repo: Path) -> bool:
    """Whether the repository is a shallow clone (its history is cut short)."""
    return _git(repo, "rev-parse", "--is-shallow-repository").stdout.decode().strip() == "true"
