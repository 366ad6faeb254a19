"""``scaffolder doctor``: what this machine offers ``new``, and every problem with its fix.

It only reads: Pythons (PATH, pyenv, uv-managed), installers and conda engines with their versions, the
GPU driver and the torch builds it runs, the package indexes configured and whether they answer, git,
and the Jupyter kernel directories. The detection is the one the other commands use (pythons,
torch_variant, indexes, kernels, envs.conda), so doctor says what they will do.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scaffolder.config import Settings, config_path, load
from scaffolder.envs.conda.executable import EXECUTABLES, find_executable
from scaffolder.indexes import IndexConfig, pip_config_files, unreachable_index
from scaffolder.kernels import specs as kernels
from scaffolder.lifecycle.gitrepo import available, identity_missing
from scaffolder.locks.torch_variant import AUTO_CANDIDATES, choose_variant, detect_driver_version, minimum_driver
from scaffolder.pythons import find_interpreters, uv_python_dir
from scaffolder.tools import find_uv

ERROR, WARNING = "error", "warning"


@dataclass
class Problem:
    severity: str  # error: `new` cannot work as configured; warning: it works, with less
    what: str
    fix: str


@dataclass
class Report:
    sections: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def problem(self, severity: str, what: str, fix: str) -> None:
        self.problems.append(Problem(severity, what, fix))

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.sections, "problems": [asdict(p) for p in self.problems]}


def _version_of(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (proc.stdout or proc.stderr).strip().splitlines()
    return text[0].strip() if proc.returncode == 0 and text else None


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def pythons(report: Report, settings: Settings) -> None:
    pyenv = str(Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions")
    uv_dir = str(uv_python_dir())
    found = []
    for version, path in sorted(find_interpreters().items(), key=lambda kv: tuple(map(int, kv[0].split(".")))):
        where = ("running" if Path(path) == Path(sys.executable) else "uv" if str(path).startswith(uv_dir)
                 else "pyenv" if str(path).startswith(pyenv) else "PATH")
        found.append({"version": version, "path": str(path), "source": where})
    report.sections["pythons"] = found
    if not any(item["version"] in ("3.11", "3.12", "3.13") for item in found):
        report.problem(WARNING, "no Python 3.11 or newer besides the running one; the built-in templates want 3.11",
                       "install one: uv python install 3.11 (or pyenv install 3.11)")


def installers(report: Report, settings: Settings) -> None:
    kind = settings.get("env") or "venv"
    uv = find_uv()
    tools = {
        "uv": {"path": uv, "version": _version_of([uv, "--version"]) if uv else None},
        "pip": {"path": sys.executable, "version": _dist_version("pip")},
        "virtualenv": {"version": _dist_version("virtualenv")},
        "pip-tools": {"version": _dist_version("pip-tools")},
    }
    for name in EXECUTABLES:
        try:
            exe = find_executable(order=[name], environ={**os.environ, "SCAFFOLDER_CONDA_EXE": ""})
        except Exception:  # a bad SCAFFOLDER_CONDA_SEARCH is reported by the conda commands
            exe = None
        tools[name] = {"path": str(exe) if exe else None,
                       "version": _version_of([str(exe), "--version"]) if exe else None}
    tools["rattler (embedded conda engine)"] = {"version": _dist_version("py-rattler")}
    report.sections["tools"] = tools
    have = {name: bool(info.get("version") or (name == "uv" and info.get("path"))) for name, info in tools.items()}
    if not have["uv"] and not have["virtualenv"]:
        report.problem(ERROR, "neither uv nor virtualenv is installed, so new cannot create a venv",
                       "pip install uv (or reinstall scaffolder, which depends on both)")
    elif not have["uv"]:
        report.problem(WARNING, "uv is not installed: new falls back to virtualenv + pip, about 10x slower",
                       "pip install uv")
    if not have["uv"] and not have["pip-tools"]:
        report.problem(ERROR, "neither uv nor pip-tools is installed, so new cannot lock dependencies",
                       "pip install uv")
    conda_ready = any(have[n] for n in EXECUTABLES) or have["rattler (embedded conda engine)"]
    if kind == "conda" and not conda_ready:
        report.problem(ERROR, "the configured env is conda, but there is no micromamba, mamba, conda or "
                              "py-rattler", "install micromamba, or: pip install 'scaffolder[conda]'")


def gpu(report: Report, settings: Settings) -> None:
    driver = detect_driver_version()
    names: list[str] = []
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            proc = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
            names = [line.strip() for line in proc.stdout.splitlines() if line.strip()] if proc.returncode == 0 else []
        except (OSError, subprocess.SubprocessError):
            names = []
    fits = [v for v in AUTO_CANDIDATES if driver is not None and (minimum_driver(v) or (999,)) <= driver]
    report.sections["gpu"] = {
        "gpus": names,
        "driver": ".".join(map(str, driver)) if driver else None,
        "torch_builds": fits + ["cpu"],
        "torch_auto": choose_variant(driver),
    }
    if names and driver is None:
        report.problem(WARNING, "nvidia-smi lists a GPU but its driver version could not be read, so --torch auto "
                                "picks cpu", "check 'nvidia-smi', or pass --torch cu126 (a CUDA build) yourself")
    elif driver is not None and not fits:
        report.problem(WARNING, f"driver {'.'.join(map(str, driver))} is older than every CUDA build torch "
                                "publishes, so --torch auto picks cpu", "update the NVIDIA driver")


def _answers(url: str) -> bool:
    return unreachable_index(IndexConfig(index_url=url), timeout=4.0) is None


def _link_ok(link: str) -> bool:
    """A find-links directory exists, or a find-links URL answers."""
    if "://" in link and not link.startswith("file:"):
        return _answers(link)
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    return Path(url2pathname(urlparse(link).path) if link.startswith("file:") else link).exists()


def indexes(report: Report, settings: Settings) -> None:
    config = settings.sources
    urls = [] if config.no_index else [config.index_url or "https://pypi.org/simple/"]
    urls += list(config.extra_index_urls)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(zip(urls, pool.map(_answers, urls), strict=True))
    links = [{"location": link, "ok": _link_ok(link)} for link in config.find_links]
    team = config_path()
    report.sections["indexes"] = {
        "indexes": [{"url": url, "answers": ok} for url, ok in answers.items()],
        "find_links": links,
        "constraints": list(config.constraints),
        "from": {
            "pip_config": [str(p) for p in pip_config_files()],
            "environment": sorted(k for k in os.environ if k.startswith(("PIP_", "UV_")) and "INDEX" in k
                                  or k in ("PIP_FIND_LINKS", "UV_FIND_LINKS", "PIP_CONSTRAINT", "UV_CONSTRAINT")),
            "team_config": str(team) if team.is_file() else None,
        },
    }
    for url, ok in answers.items():
        if not ok:
            report.problem(WARNING, f"package index {url} does not answer",
                           "check the URL, proxy or network, or remove it from where it is configured")
    for link in links:
        if not link["ok"]:
            report.problem(WARNING, f"find-links {link['location']} cannot be read", "fix or remove it")
    if not any(answers.values()) and not any(link["ok"] for link in links):
        report.problem(ERROR, "no package source answers, so new cannot lock or install",
                       "connect to the network, or configure a reachable index or find-links directory")


def git(report: Report, settings: Settings) -> None:
    if not available():
        report.sections["git"] = {"version": None}
        report.problem(WARNING, "git is not installed, so new makes no repository (update needs one)",
                       "install git")
        return
    missing = identity_missing(Path.cwd())
    report.sections["git"] = {"version": _version_of(["git", "--version"]), "identity_missing": missing}
    if missing:
        report.problem(WARNING, f"git has no {' or '.join(missing)}, so new makes no first commit",
                       f"git config --global {missing[0]} ...")


def jupyter(report: Report, settings: Settings) -> None:
    dirs = kernels.default_kernel_dirs()
    user = kernels.kernels_dir()
    stale = [k.name for k in kernels.list_kernels() if k.stale]
    report.sections["kernels"] = {"user_dir": str(user), "search_dirs": dirs, "stale": stale}
    probe = user
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        report.problem(ERROR, f"the Jupyter kernel directory {user} is not writable, so new cannot register a kernel",
                       "set JUPYTER_DATA_DIR to a writable directory, or pass --no-kernel")
    if stale:
        report.problem(WARNING, f"{len(stale)} kernel(s) point at deleted environments: {', '.join(stale)}",
                       "scaffolder kernel prune")


CHECKS = (pythons, installers, gpu, indexes, git, jupyter)


def diagnose() -> Report:
    report = Report()
    settings = load()
    report.sections["env"] = settings.get("env") or "venv"
    for check in CHECKS:
        check(report, settings)
    return report


def render(report: Report) -> list[str]:
    """One screen: a line per fact, then the problems with their fixes."""
    s = report.sections
    lines = ["Pythons"] + [f"  {p['version']:<6} {p['path']}  ({p['source']})" for p in s["pythons"]]
    lines.append("Tools")
    for name, info in s["tools"].items():
        shown = info.get("version") or ("found" if info.get("path") else "not found")
        lines.append(f"  {name:<32} {shown}")
    g = s["gpu"]
    lines += ["GPU", f"  {', '.join(g['gpus']) or 'none'}; driver {g['driver'] or 'none'}",
              f"  torch builds that run here: {', '.join(g['torch_builds'])} (--torch auto: {g['torch_auto']})"]
    ix = s["indexes"]
    lines.append("Package indexes")
    lines += [f"  {i['url']}  {'answers' if i['answers'] else 'NO ANSWER'}" for i in ix["indexes"]]
    lines += [f"  find-links {f['location']}  {'ok' if f['ok'] else 'MISSING'}" for f in ix["find_links"]]
    origin = ix["from"]
    sources = ([f"pip config {', '.join(origin['pip_config'])}"] if origin["pip_config"] else []) + \
        ([", ".join(origin["environment"])] if origin["environment"] else []) + \
        ([f"team config {origin['team_config']}"] if origin["team_config"] else [])
    lines.append(f"  from: {'; '.join(sources) or 'defaults (PyPI)'}")
    gt = s["git"]
    lines += ["git", f"  {gt.get('version') or 'not installed'}"]
    k = s["kernels"]
    lines += ["Jupyter kernels", f"  registers into {k['user_dir']}",
              f"  searched: {', '.join(k['search_dirs'])}"]
    if report.problems:
        lines.append("Problems")
        lines += [f"  {p.severity}: {p.what} (fix: {p.fix})" for p in report.problems]
    else:
        lines.append("No problems found.")
    return lines
