"""The git repository of a generated project: ``git init`` and a first commit, and the commit ``update`` starts from.

Author and email come from git's own configuration (or GIT_AUTHOR_* / GIT_COMMITTER_*); scaffolder never
invents an identity. Without one, the repository is created and the commit is left to the user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class GitResult:
    initialized: bool = False
    commit: str | None = None  # full hash of the first commit
    note: str | None = None  # why there is no repository, or no commit

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _git(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def available() -> bool:
    return shutil.which("git") is not None


def enclosing_repo(path: Path) -> Path | None:
    """The work tree ``path`` lies in, or None."""
    proc = _git(path, "rev-parse", "--show-toplevel")
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def identity(root: Path) -> dict[str, str]:
    """git's ``user.name`` and ``user.email`` as a commit in ``root`` would see them (one ``git config`` call);
    empty without git."""
    try:
        proc = _git(root, "config", "--get-regexp", r"^user\.(name|email)$", timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, str] = {}
    for line in proc.stdout.splitlines():  # global before local: the last value wins, as with --get
        key, _, value = line.partition(" ")
        if value.strip():
            found[key] = value.strip()
    return found


def identity_missing(root: Path) -> list[str]:
    """The identity settings git lacks for a commit in ``root`` (user.name, user.email)."""
    have = identity(root)
    return [key for key, envs in (("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
                                  ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")))
            if key not in have and not all(os.environ.get(e) for e in envs)]


def init_and_commit(root: Path, message: str, exclude: list[str] = ()) -> GitResult:
    """``git init`` in ``root`` and commit everything not ignored. ``exclude`` (paths relative to ``root``,
    such as the env) are added to .git/info/exclude when the project's own .gitignore does not ignore them.
    Never raises: a project without its first commit is still a project, so problems become the note."""
    try:
        return _init_and_commit(Path(root), message, exclude)
    except (OSError, subprocess.SubprocessError) as exc:  # e.g. a signing key that waits for a passphrase
        return GitResult(initialized=(Path(root) / ".git").is_dir(),
                         note=f"git did not finish ({exc}); commit yourself with 'git add -A && git commit'")


def _init_and_commit(root: Path, message: str, exclude: list[str]) -> GitResult:
    if not available():
        return GitResult(note="git is not installed, so no repository was created")
    outer = enclosing_repo(root)
    if outer is not None:
        return GitResult(note=f"{root} is inside the git repository {outer}, so no repository was created")
    proc = _git(root, "init", "-q")
    if proc.returncode != 0:
        return GitResult(note=f"git init failed: {proc.stderr.strip() or proc.stdout.strip()}")
    local = []
    for rel in exclude:
        if (root / rel).exists() and _git(root, "check-ignore", "-q", "--", rel).returncode != 0:
            local.append(f"/{rel.strip('/')}/")
    if local:
        info = root / ".git" / "info"
        info.mkdir(parents=True, exist_ok=True)
        with open(info / "exclude", "a", encoding="utf-8") as fh:
            fh.write("# added by scaffolder new: the environment is not source\n" + "\n".join(local) + "\n")
    missing = identity_missing(root)
    if missing:
        return GitResult(initialized=True, note=f"git has no {' or '.join(missing)}, so nothing was committed "
                                                f"(set it with 'git config --global {missing[0]} ...', then "
                                                "'git add -A && git commit')")
    add = _git(root, "add", "-A")
    commit = add if add.returncode != 0 else _git(root, "commit", "-q", "--no-verify", "-m", message)
    if commit.returncode != 0:
        why = (commit.stderr.strip() or commit.stdout.strip()).splitlines()
        return GitResult(initialized=True, note=f"the first commit failed ({why[-1] if why else 'git said nothing'}); "
                                                "commit yourself with 'git add -A && git commit'")
    head = _git(root, "rev-parse", "HEAD").stdout.strip()
    return GitResult(initialized=True, commit=head or None)


def describe_head(root: Path) -> str | None:
    """``HASH subject`` of the commit checked out in ``root``; None outside a repository or before a commit."""
    proc = _git(root, "log", "-1", "--format=%h %s")
    return proc.stdout.strip() or None if proc.returncode == 0 else None
