"""Render a template with cookiecutter and with scaffolder, and judge scaffolder against the fidelity contract.

The contract (issue 11, docs/templates.md): ``scaffolder new NAME -t T --no-input --env none -o OUT
[--set k=v ...] [--trust]`` writes the same tree, bytes and file modes as ``cookiecutter --no-input T
<namevar>=NAME k=v ...``, apart from scaffolder's ``[tool.scaffolder]`` table in ``pyproject.toml`` (a
``pyproject.toml`` of its own, holding only that table, when the template makes none). What cookiecutter
refuses, scaffolder refuses: a non-zero exit, exactly one ``error:`` line on stderr, no traceback anywhere and
nothing left in OUT.

cookiecutter runs in this process through its API; scaffolder runs as a subprocess, so that a template's local
extensions (imported from beside its ``cookiecutter.json``) cannot leak between renders. ``fetch_fixtures``
downloads the sdist of the installed cookiecutter once into a cache outside the repository and lists the fixture
templates of its test suite; none of them is copied into this repository.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from importlib.metadata import version as dist_version
from pathlib import Path

import tomlkit
from filelock import FileLock

REPO = Path(__file__).resolve().parent.parent
DEFAULT_NAME = "Fidelity Check"
# Extensions that cookiecutter itself ships or always knows: a template naming only these needs no --trust.
BUILTIN_EXTENSION_PREFIXES = ("cookiecutter.extensions.", "jinja2_time.")
SCAFFOLDER_TIMEOUT = 180

# cookiecutter's API runs in the working directory given, and the process has one: one render at a time.
_COOKIECUTTER_LOCK = threading.Lock()

# path relative to OUT -> (kind, permission bits, content): bytes of a file, target of a link, b"" for a directory
Tree = dict[str, tuple[str, int, bytes]]


class FixturesUnavailable(Exception):
    """cookiecutter's sdist could not be downloaded (no network, or no such version on the index)."""


@dataclass
class Verdict:
    conformant: bool
    reason: str  # why not, or what both did
    cookiecutter_error: str | None  # None when cookiecutter rendered
    cookiecutter_tree: Tree = field(default_factory=dict)
    scaffolder_tree: Tree = field(default_factory=dict)
    scaffolder_argv: list[str] = field(default_factory=list)
    scaffolder_stderr: str = ""
    unstable: list[str] = field(default_factory=list)  # files whose bytes differ between two cookiecutter runs

    @property
    def rendered(self) -> bool:
        return self.cookiecutter_error is None

    def text(self, rel: str) -> str:
        """A file of cookiecutter's output (path relative to OUT), to prove the feature under test was exercised."""
        kind, _, content = self.cookiecutter_tree[rel]
        assert kind == "file", f"{rel} is a {kind}"
        return content.decode()


def read_variables(template_dir: Path) -> dict:
    """The template's parsed ``cookiecutter.json``; {} when it is missing or not JSON (cookiecutter refuses those)."""
    try:
        data = json.loads((Path(template_dir) / "cookiecutter.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def name_variable(variables: dict) -> str | None:
    """The variable NAME fills, as scaffolder decides it."""
    from scaffolder.templates.rendering import name_variable as decide

    return decide(variables)


def needs_trust(template_dir: Path, variables: dict) -> bool:
    """Hooks, or ``_extensions`` other than cookiecutter's own built-ins, are code: scaffolder needs --trust.
    A template offering nested templates needs it when any of them does."""
    from scaffolder.templates.sources import nested_templates

    for where in [Path(template_dir), *nested_templates(Path(template_dir))]:
        if (where / "hooks").is_dir():
            return True
        extensions = (variables if where == Path(template_dir) else read_variables(where)).get("_extensions") or []
        if any(not str(ext).startswith(BUILTIN_EXTENSION_PREFIXES) for ext in extensions):
            return True
    return False


def chosen_variables(template_dir: Path, variables: dict) -> dict:
    """The variables of the template --no-input renders: nested templates (the ``templates`` key) pick
    their first entry, and cookiecutter hands NAME on to it."""
    from scaffolder.templates.sources import nested_templates

    nested = nested_templates(Path(template_dir))
    while nested:
        template_dir = nested[0]
        variables = read_variables(template_dir)
        nested = nested_templates(template_dir)
    return variables


def snapshot_tree(root: Path) -> Tree:
    tree: Tree = {}
    if not root.exists():
        return tree
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("link", 0, os.readlink(path).encode())
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir", stat.S_IMODE(st.st_mode), b"")
            else:
                tree[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
    return tree


def _first_line(text: str, limit: int = 160) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _module_in(module, root: Path) -> bool:
    path = getattr(module, "__file__", None)
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _scratch(work: Path) -> Path:
    """The temporary directory of both renders, inside ``work``: what they leave there stays out of /tmp."""
    path = work / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_cookiecutter(template: str, out: Path, extra: dict, cwd: Path, template_dir: Path) -> str | None:
    """Render with cookiecutter's API; None when it rendered, else its refusal as ``Type: message``."""
    from cookiecutter.main import cookiecutter

    with _COOKIECUTTER_LOCK:
        before = set(sys.modules)
        old_cwd, old_tempdir = os.getcwd(), tempfile.tempdir
        os.chdir(cwd)
        tempfile.tempdir = str(_scratch(cwd))  # where a pre_prompt hook's copy of the template goes
        try:
            cookiecutter(template, no_input=True, extra_context=dict(extra), output_dir=str(out), accept_hooks=True)
        except Exception as exc:  # noqa: BLE001 - any exception is cookiecutter refusing the template
            return f"{type(exc).__name__}: {_first_line(str(exc)) or repr(exc)}"
        finally:
            os.chdir(old_cwd)
            tempfile.tempdir = old_tempdir
            # Local extensions are imported from the template: forget them, or the next template's namesake is
            # served from this one.
            root = Path(template_dir).resolve()
            for name in set(sys.modules) - before:
                if _module_in(sys.modules.get(name), root):
                    sys.modules.pop(name, None)
    return None


def _toml(data: bytes):
    try:
        return tomlkit.parse(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 - not TOML: compared byte for byte instead
        return None


def _pyproject_difference(rel: str, theirs: tuple | None, ours: tuple) -> str | None:
    """scaffolder's pyproject.toml against cookiecutter's, once its ``[tool.scaffolder]`` table is taken out."""
    kind, mode, content = ours
    ours_doc = _toml(content) if kind == "file" else None
    if ours_doc is None:
        return f"{rel}: scaffolder wrote a {kind} that is not TOML"
    tool = ours_doc.get("tool")
    has_table = tool is not None and "scaffolder" in tool
    if has_table:
        del tool["scaffolder"]
    if theirs is None:
        if has_table and ours_doc.unwrap() == {"tool": {}}:
            return None
        return f"{rel}: only in scaffolder's output, and holds more than [tool.scaffolder]: {ours_doc.unwrap()}"
    if theirs[0] != "file":
        return f"{rel}: cookiecutter made a {theirs[0]}, scaffolder a file"
    theirs_doc = _toml(theirs[2])
    if theirs_doc is None:
        return None if theirs[2] == content else f"{rel}: bytes differ (cookiecutter's is not TOML)"
    if tool is not None and not tool and "tool" not in theirs_doc:
        del ours_doc["tool"]
    if ours_doc.unwrap() != theirs_doc.unwrap():
        return f"{rel}: differs beyond [tool.scaffolder]: {theirs_doc.unwrap()} vs {ours_doc.unwrap()}"
    if theirs[1] != mode:
        return f"{rel}: mode {theirs[1]:o} vs {mode:o}"
    return None


def _first_difference(a: bytes, b: bytes) -> str:
    a_lines, b_lines = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(a_lines, b_lines, strict=False)):
        if x != y:
            return f"line {i + 1}: {x[:60]!r} vs {y[:60]!r}"
    if len(a_lines) != len(b_lines):
        return f"{len(a_lines)} vs {len(b_lines)} lines"
    return "line endings or final newline"


def compare_trees(theirs: Tree, ours: Tree, unstable: frozenset[str] = frozenset()) -> list[str]:
    """Differences between cookiecutter's output (theirs) and scaffolder's (ours), both relative to OUT.

    The bytes of ``unstable`` files (which differ between two cookiecutter runs, e.g. ``{{ uuid4() }}``) are not
    compared; their presence, kind and mode are. The project's ``.git`` is scaffolder's git step (allowed by the
    contract): its contents are never compared, and it must be there only where cookiecutter made one too.
    """
    problems = []
    tops = {rel for rel, (kind, _, _) in (theirs | ours).items() if "/" not in rel and kind == "dir"}
    for rel in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(rel), ours.get(rel)
        top, _, inside = rel.partition("/")
        if top in tops and (inside == ".git" or inside.startswith(".git/")):
            if inside == ".git" and a is not None and (b is None or a[0] != b[0]):
                problems.append(f"{rel}: cookiecutter made a {a[0]}, scaffolder {'none' if b is None else 'a ' + b[0]}")
            continue
        if rel.count("/") == 1 and rel.split("/")[0] in tops and rel.endswith("/pyproject.toml") and b is not None:
            problem = _pyproject_difference(rel, a, b)
            if problem:
                problems.append(problem)
        elif b is None:
            problems.append(f"{rel}: missing from scaffolder's output")
        elif a is None:
            problems.append(f"{rel}: only in scaffolder's output")
        elif a[0] != b[0]:
            problems.append(f"{rel}: cookiecutter made a {a[0]}, scaffolder a {b[0]}")
        elif a[2] != b[2] and rel not in unstable:
            problems.append(f"{rel}: content differs, {_first_difference(a[2], b[2])}")
        elif a[1] != b[1]:
            problems.append(f"{rel}: mode {a[1]:o} vs {b[1]:o}")
    return problems


def scaffolder_command(name: str, template: str, out: Path, sets: dict[str, str], trust: bool) -> list[str]:
    argv = [sys.executable, "-m", "scaffolder", "new", name, "-t", template, "--no-input", "--env", "none",
            "-o", str(out)]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    if trust:
        argv.append("--trust")
    return argv


def check(
    template: str | Path,
    work: Path,
    *,
    name: str = DEFAULT_NAME,
    sets: dict[str, str] | None = None,
    trust: bool | None = None,
    template_dir: Path | None = None,
) -> Verdict:
    """Render ``template`` with cookiecutter and with scaffolder, both from ``work`` (an empty directory, which
    becomes the working directory of both), and say whether scaffolder kept the contract.

    ``template`` is passed to both as typed (a path, or e.g. an abbreviation from the cookiecutter config);
    ``template_dir`` is where its ``cookiecutter.json`` lies when ``template`` is not that directory itself.
    ``trust`` defaults to what the template needs (``needs_trust``). Paths under ``work`` read ``WORK`` in the reason.
    """
    verdict = _check(str(template), Path(work), name, dict(sets or {}), trust, template_dir)
    verdict.reason = verdict.reason.replace(str(Path(work)), "WORK")
    return verdict


def _check(template: str, work: Path, name: str, sets: dict[str, str], trust: bool | None,
           template_dir: Path | None) -> Verdict:
    template_dir = Path(template_dir or template)
    if not template_dir.is_absolute():
        template_dir = work / template_dir
    variables = read_variables(template_dir)
    if trust is None:
        trust = needs_trust(template_dir, variables)
    namevar = name_variable(chosen_variables(template_dir, variables))
    extra = {namevar: name} if namevar else {}
    extra.update(sets)
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"

    error = run_cookiecutter(template, out, extra, work, template_dir)
    theirs = snapshot_tree(out)
    shutil.rmtree(out, ignore_errors=True)  # the same OUT for both: cookiecutter's `_output_dir` then matches

    argv = scaffolder_command(name, template, out, sets, trust)
    verdict = Verdict(False, "", error, theirs, scaffolder_argv=argv)
    try:
        proc = subprocess.run(argv, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=SCAFFOLDER_TIMEOUT, env={**os.environ, "TMPDIR": str(_scratch(work))})
    except subprocess.TimeoutExpired:
        verdict.reason = f"scaffolder did not finish within {SCAFFOLDER_TIMEOUT}s"
        return verdict
    verdict.scaffolder_stderr = proc.stderr
    verdict.scaffolder_tree = ours = snapshot_tree(out)
    leaked = "Traceback" in proc.stdout or "Traceback" in proc.stderr

    if error is not None:
        lines = proc.stderr.splitlines()
        if proc.returncode == 0:
            verdict.reason = f"scaffolder rendered what cookiecutter refuses ({error})"
        elif leaked:
            verdict.reason = f"scaffolder refused ({error}) but printed a traceback"
        elif len(lines) != 1 or not lines[0].startswith("error:"):
            shown = [_first_line(line, 140) for line in lines[:4]] + (["..."] if len(lines) > 4 else [])
            verdict.reason = (f"scaffolder refused ({error}) but its stderr has {len(lines)} lines, "
                              f"not one 'error:' line: {shown}")
        elif ours:
            verdict.reason = f"scaffolder refused ({error}) but left {sorted(ours)[:3]} in OUT"
        else:
            verdict.conformant, verdict.reason = True, f"both refused ({error})"
        return verdict

    if proc.returncode != 0:
        verdict.reason = (f"scaffolder refused what cookiecutter renders (exit {proc.returncode}): "
                          f"{_first_line(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '')}")
        return verdict
    if leaked:
        verdict.reason = "scaffolder rendered but printed a traceback"
        return verdict
    problems = compare_trees(theirs, ours)
    if any("content differs" in problem for problem in problems):
        # Is cookiecutter's own output stable? Render it again into the same OUT (scaffolder's moved aside).
        out.rename(work / "scaffolder-out")
        again_error = run_cookiecutter(template, out, extra, work, template_dir)
        again = snapshot_tree(out)
        shutil.rmtree(out, ignore_errors=True)
        (work / "scaffolder-out").rename(out)
        if again_error is None:
            verdict.unstable = sorted(rel for rel in theirs if rel in again and theirs[rel] != again[rel])
            problems = compare_trees(theirs, ours, frozenset(verdict.unstable))
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        verdict.reason = "; ".join(problems[:3]) + more
        return verdict
    verdict.conformant, verdict.reason = True, "same tree, bytes and modes"
    if verdict.unstable:
        verdict.reason += f" (bytes of {', '.join(verdict.unstable)} vary between cookiecutter runs too)"
    return verdict


def cache_dir() -> Path:
    """Where downloads are kept between runs: ``SCAFFOLDER_TEST_CACHE``, else the user's cache directory."""
    override = os.environ.get("SCAFFOLDER_TEST_CACHE")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("scaffolder-tests"))


def _unpack(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tf:
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, filter="data")
        else:  # Python without extraction filters (3.10 before 3.10.12): check every member by hand
            root = dest.resolve()
            for member in tf.getmembers():
                target = (dest / member.name).resolve()
                if not target.is_relative_to(root) or member.issym() or member.islnk() or member.isdev():
                    raise FixturesUnavailable(f"{archive.name}: unsafe member {member.name!r}")
            tf.extractall(dest)


def fetch_fixtures(cache: Path | None = None) -> dict[str, Path]:
    """cookiecutter's own fixture templates (every ``tests/**/cookiecutter.json``), from the sdist of the installed
    cookiecutter, downloaded once into ``cache``; name (path under ``tests/``) -> template directory.

    Raises ``FixturesUnavailable`` when the sdist cannot be downloaded.
    """
    version = dist_version("cookiecutter")
    cache = Path(cache or cache_dir())
    cache.mkdir(parents=True, exist_ok=True)
    unpacked = cache / f"cookiecutter-{version}-sdist"
    with FileLock(str(cache / f"cookiecutter-{version}.lock")):
        if not (unpacked / ".complete").exists():
            shutil.rmtree(unpacked, ignore_errors=True)
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                download = Path(tmp) / "download"
                proc = subprocess.run(
                    [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                     "--disable-pip-version-check", "--timeout", "30", "--retries", "1",
                     f"cookiecutter=={version}", "-d", str(download)],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
                )
                archives = sorted(download.glob("cookiecutter-*.tar.gz")) if download.is_dir() else []
                if proc.returncode != 0 or not archives:
                    detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no sdist was saved"]
                    raise FixturesUnavailable(f"pip download cookiecutter=={version} failed: {detail[0]}")
                staging = Path(tmp) / "unpacked"
                _unpack(archives[0], staging)
                (staging / ".complete").write_text(archives[0].name + "\n")
                os.replace(staging, unpacked)
    sources = [p for p in unpacked.iterdir() if p.is_dir() and (p / "tests").is_dir()]
    if len(sources) != 1:
        raise FixturesUnavailable(f"{unpacked} does not hold one cookiecutter source tree with tests/")
    tests = sources[0] / "tests"
    return {cj.parent.relative_to(tests).as_posix(): cj.parent for cj in sorted(tests.rglob("cookiecutter.json"))}
