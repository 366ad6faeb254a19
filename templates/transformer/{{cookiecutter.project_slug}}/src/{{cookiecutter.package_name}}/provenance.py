"""Runs that prove their environment: OUT/run.json, and `python -m PACKAGE provenance RUN`.

Every `train`, `pretrain` and `finetune` run writes OUT/run.json when it starts (rank 0): the git
commit of the project and whether the work tree was dirty (with a fingerprint of the uncommitted
change), the content fingerprint of requirements.lock (the ``content=sha256:...`` that `scaffolder
lock` writes in its ``# scaffolder-lock:`` line), the Python, torch, CUDA and cuDNN versions, every
installed package's version, the device, seed, world size and the resolved config. A resumed run
writes it again and keeps the earlier records under ``history``.

    python -m PACKAGE provenance runs/tiny          # "matches" (exit 0), or what differs (exit 1)
    python -m PACKAGE provenance runs/tiny --json   # the comparison as one JSON object

The check compares the run with the code and environment of today: commit, uncommitted change, lock,
Python, torch, CUDA and package versions. The device is shown, not compared (a check may run on a
login node without the run's GPUs).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

FORMAT = 1
LOCK_FILE = "requirements.lock"
LOCK_META = "# scaffolder-lock:"
# Compared by `provenance`, in this order; a difference in any of them is reported.
COMPARED = ("git_commit", "git_dirty", "git_diff", "lock", "python", "torch", "cuda", "cudnn")


def project_root(start: Path | None = None) -> Path:
    """The project folder: the nearest parent holding pyproject.toml, from this package's source (an
    editable install or a checkout), else from the current directory."""
    for origin in ([start] if start else []) + [Path(__file__).resolve().parent, Path.cwd().resolve()]:
        for folder in (origin, *origin.parents):
            if (folder / "pyproject.toml").is_file():
                return folder
    return Path.cwd().resolve()


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(root: Path) -> dict[str, Any]:
    """Commit, dirty flag and a fingerprint of the uncommitted change (None outside a git checkout)."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None, "git_diff": None}
    status = _git(root, "status", "--porcelain") or ""
    diff = (_git(root, "diff", "HEAD", "--binary") or "") + status  # untracked files are named by status
    return {
        "git_commit": commit.strip(),
        "git_dirty": bool(status.strip()),
        "git_diff": "sha256:" + hashlib.sha256(diff.encode()).hexdigest() if status.strip() else None,
    }


def lock_state(root: Path) -> dict[str, Any] | None:
    """requirements.lock's recorded fingerprints, and whether its body still matches ``content``."""
    path = root / LOCK_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    meta: dict[str, str] = {}
    body_start = None
    offset = 0
    for line in text.splitlines(keepends=True):
        offset += len(line)
        if line.startswith(LOCK_META):
            meta = dict(item.split("=", 1) for item in line[len(LOCK_META) :].split() if "=" in item)
            body_start = offset
            break
    actual = "sha256:" + hashlib.sha256(text[body_start or 0 :].encode()).hexdigest()
    return {
        "content": meta.get("content"),
        "inputs": meta.get("inputs"),
        "intact": meta.get("content") == actual if "content" in meta else None,
        "sha256": "sha256:" + hashlib.sha256(text.encode()).hexdigest(),
    }


def installed_packages() -> dict[str, str]:
    from importlib import metadata

    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(name.lower().replace("_", "-"), dist.version)
    return dict(sorted(found.items()))


def environment(root: Path | None = None) -> dict[str, Any]:
    """What `provenance` compares: code, lock, interpreter, torch build and packages, as of now."""
    import torch

    root = root or project_root()
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        **git_state(root),
        "lock": lock_state(root),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "packages": installed_packages(),
    }


def record_run(
    out: Path, cfg: Any, dist: Any, root: Path | None = None, **extra: Any
) -> dict[str, Any] | None:
    """Write OUT/run.json for this run (rank 0 only; others return None). ``dist`` is the DistInfo;
    ``extra`` adds fields (precision, compile, ...). A resumed run keeps the earlier records."""
    if getattr(dist, "rank", 0) != 0:
        return None
    import torch

    out = Path(out)
    root = root or project_root()
    device = dist.device
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    config = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    record = {
        "format": FORMAT,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "project": str(root),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        **environment(root),
        "device": str(device),
        "gpu": gpu,
        "world_size": dist.world_size,
        "seed": config.get("seed"),
        **extra,
        "config": config,
    }
    path = out / "run.json"
    history: list[dict[str, Any]] = []
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            history = old.pop("history", []) + [old]
        except (OSError, ValueError):
            pass
    if history:
        record["history"] = history
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return record


def compare(run: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """One line per difference between a run's record and today's environment; empty: they match."""
    lines = []
    for key in COMPARED:
        then, today = run.get(key), now.get(key)
        if key == "lock":
            then = (then or {}).get("content") if then is not None else None
            today_lock = today or {}
            if today_lock.get("intact") is False:
                lines.append(f"lock: {LOCK_FILE} was edited by hand (its content check fails)")
            today = today_lock.get("content") if today is not None else None
        if then != today:
            lines.append(f"{key}: {_show(then)} (run) -> {_show(today)} (now)")
    was, now_pkgs = run.get("packages") or {}, now.get("packages") or {}
    for name in sorted(set(was) | set(now_pkgs)):
        if name in ("torch",):  # reported above
            continue
        if was.get(name) != now_pkgs.get(name):
            then, today = was.get(name, "absent"), now_pkgs.get(name, "absent")
            lines.append(f"package {name}: {then} (run) -> {today} (now)")
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str) and value.startswith("sha256:"):
        return value[:19]
    return str(value)


def load_record(run: Path) -> dict[str, Any]:
    from .config import ConfigError

    path = run / "run.json" if run.is_dir() else run
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} not found; give a folder that train, pretrain or finetune wrote") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .config import ConfigError, fail

    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__.rpartition('.')[0]} provenance",
        description="Say whether today's code and environment match a run's (OUT/run.json).",
    )
    parser.add_argument("run", type=Path, help="run folder (or its run.json)")
    parser.add_argument("--json", action="store_true", help="print the comparison as one JSON object")
    parser.add_argument("--project", type=Path, help="project folder (default: found from this package)")
    args = parser.parse_args(argv)
    try:
        record = load_record(args.run)
    except ConfigError as exc:
        fail(str(exc))
    now = environment(args.project.resolve() if args.project else None)
    differences = compare(record, now)
    if args.json:
        shown = {k: record.get(k) for k in (*COMPARED, "device", "gpu", "world_size", "seed")}
        print(json.dumps({"matches": not differences, "differences": differences, "run": shown}))
    else:
        where = f"{record.get('device')}" + (f" ({record['gpu']})" if record.get("gpu") else "")
        print(f"run: {args.run} | started {record.get('started')} | {where} x{record.get('world_size')} "
              f"| seed {record.get('seed')} | commit {_show(record.get('git_commit'))[:12]}"
              f"{' (dirty)' if record.get('git_dirty') else ''}")  # fmt: skip
        if differences:
            n = len(differences)
            print(f"differs from today's code and environment in {n} way{'s' if n > 1 else ''}:")
            for line in differences:
                print(f"  {line}")
        else:
            print("matches: same commit, uncommitted change, lock, Python, torch, CUDA and packages")
    return 1 if differences else 0
