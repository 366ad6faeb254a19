"""The executable engine (micromamba, mamba, conda) and the choice of engine.

No conda executable can be installed on the machines these tests were written on, so:
- the exact command lines are tested as data (pure functions);
- executable discovery is tested with empty stand-in files on a temporary PATH (found, never run);
- the end-to-end tests at the bottom run only where a real executable is on PATH, and skip saying so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scaffolder.envs.conda import executable as conda
from scaffolder.envs.conda.rattler import RattlerBackend
from scaffolder.errors import EnvError, UsageError
from scaffolder.locks import condalock


def stand_in(directory: Path, name: str) -> Path:
    """An executable file that is only ever looked up, never run."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 99\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bare_env(tmp_path) -> dict[str, str]:
    """An environment with an empty PATH directory and no conda variables."""
    return {"PATH": str(tmp_path / "empty-bin")}


def _lock_entry(name: str, url: str, md5: str):
    from conda_lock.lockfile.v2prelim.models import HashModel, LockedDependency

    return LockedDependency(name=name, version="1.0", manager="conda", platform="linux-64", url=url,
                            hash=HashModel(md5=md5, sha256="b" * 64), categories={"main"})


# ------------------------------------------------------------ command lines


def test_explicit_file_is_url_hash_md5_per_package_in_lock_order():
    packages = [_lock_entry("liba", "https://c.example/ch/noarch/liba-1.0-0.tar.bz2", "a" * 32),
                _lock_entry("libb", "https://c.example/ch/noarch/libb-1.0-0.conda", "c" * 32)]
    assert conda.explicit_lines(packages, "linux-64") == [
        "# platform: linux-64",
        "@EXPLICIT",
        "https://c.example/ch/noarch/liba-1.0-0.tar.bz2#" + "a" * 32,
        "https://c.example/ch/noarch/libb-1.0-0.conda#" + "c" * 32,
    ]


@pytest.mark.parametrize(
    ("exe", "expected"),
    [
        ("/opt/mm/bin/micromamba", ["/opt/mm/bin/micromamba", "create", "--yes", "--prefix", "/p/.conda",
                                    "--file", "/t/explicit.txt"]),
        ("/opt/conda/bin/mamba", ["/opt/conda/bin/mamba", "create", "--yes", "--quiet", "--prefix", "/p/.conda",
                                  "--file", "/t/explicit.txt"]),
        ("/opt/conda/bin/conda", ["/opt/conda/bin/conda", "create", "--yes", "--quiet", "--prefix", "/p/.conda",
                                  "--file", "/t/explicit.txt"]),
    ],
)
def test_create_command(exe, expected):
    assert conda.create_command(Path(exe), Path("/p/.conda"), Path("/t/explicit.txt")) == expected


def test_lock_command_for_micromamba_with_virtual_packages(tmp_path):
    vp = tmp_path / "virtual-packages.yml"
    vp.write_text("subdirs: {}\n")
    cmd = conda.lock_command(Path("/opt/mm/bin/micromamba"), Path("/p/environment.yml"), Path("/s/conda-lock.yml"), vp)
    assert cmd == [
        sys.executable, "-m", "conda_lock", "lock",
        "--file", "/p/environment.yml", "--lockfile", "/s/conda-lock.yml", "--kind", "lock",
        "--conda", "/opt/mm/bin/micromamba", "--micromamba", "--no-mamba",
        "--pypi_to_conda_lookup_file", str(condalock.MAPPING_FILE),
        "--virtual-package-spec", str(vp), "--check-input-hash",
    ]  # fmt: skip


def test_lock_command_for_mamba_updating_packages_without_virtual_package_file(tmp_path):
    cmd = conda.lock_command(Path("/opt/conda/bin/mamba"), Path("/p/environment.yml"), Path("/s/conda-lock.yml"),
                             tmp_path / "missing.yml", update=["numpy", "pytorch"], check_input_hash=False)
    assert cmd[cmd.index("--conda"):] == [
        "--conda", "/opt/conda/bin/mamba", "--no-micromamba", "--mamba",
        "--pypi_to_conda_lookup_file", str(condalock.MAPPING_FILE),
        "--update", "numpy", "--update", "pytorch",
    ]  # fmt: skip


def test_conda_lock_accepts_every_option_we_pass():
    """The options we build must exist in the installed conda-lock (its --help is offline)."""
    out = subprocess.run([sys.executable, "-m", "conda_lock", "lock", "--help"], capture_output=True, text=True,
                         check=True).stdout
    cmd = conda.lock_command(Path("micromamba"), Path("e.yml"), Path("l.yml"), Path(__file__), update=["x"])
    for option in (arg for arg in cmd[4:] if arg.startswith("--")):
        assert option in out, option


@pytest.mark.parametrize(
    ("name", "kind"),
    [("micromamba", "micromamba"), ("micromamba.exe", "micromamba"), ("mamba", "mamba"), ("conda.bat", "conda"),
     ("conda", "conda"), ("mamba.EXE", "mamba")],
)
def test_flavour_from_file_name(name, kind):
    assert conda.flavour(Path("/x") / name) == kind


# ------------------------------------------------------------ finding an executable


def test_search_order_default_prefers_micromamba(tmp_path, bare_env):
    bindir = tmp_path / "bin"
    for name in ("conda", "mamba", "micromamba"):
        stand_in(bindir, name)
    env = {"PATH": str(bindir)}
    assert conda.find_executable(environ=env) == bindir / "micromamba"
    assert conda.find_executable(environ={**env, "SCAFFOLDER_CONDA_SEARCH": "conda,mamba"}) == bindir / "conda"
    assert conda.find_executable(environ=bare_env) is None


def test_conda_exe_is_respected_before_path(tmp_path):
    on_path = stand_in(tmp_path / "bin", "micromamba")
    activated = stand_in(tmp_path / "miniforge" / "bin", "conda")
    env = {"PATH": str(on_path.parent), "CONDA_EXE": str(activated)}
    assert conda.find_executable(environ=env) == activated
    # ... unless it points nowhere, or the search order excludes its kind
    assert conda.find_executable(environ={**env, "CONDA_EXE": str(tmp_path / "gone")}) == on_path
    assert conda.find_executable(environ={**env, "SCAFFOLDER_CONDA_SEARCH": "micromamba"}) == on_path


def test_explicit_override_wins_and_must_exist(tmp_path, bare_env):
    chosen = stand_in(tmp_path / "custom", "mamba")
    assert conda.find_executable(str(chosen), environ=bare_env) == chosen
    assert conda.find_executable(environ={**bare_env, "SCAFFOLDER_CONDA_EXE": str(chosen)}) == chosen
    with pytest.raises(UsageError, match="not found"):
        conda.find_executable(str(tmp_path / "nope"), environ=bare_env)


def test_bad_search_order_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown executables: pixi"):
        conda.search_order({"SCAFFOLDER_CONDA_SEARCH": "micromamba,pixi"})


def test_select_engine_falls_back_to_rattler_when_no_executable(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.delenv("SCAFFOLDER_CONDA_EXE", raising=False)
    monkeypatch.delenv("SCAFFOLDER_CONDA_ENGINE", raising=False)
    assert isinstance(conda.select_engine(), RattlerBackend)
    assert isinstance(conda.select_engine("rattler"), RattlerBackend)
    with pytest.raises(EnvError, match="micromamba not found"):
        conda.select_engine("micromamba")
    with pytest.raises(UsageError, match="unknown conda engine"):
        conda.select_engine("pixi")


def test_select_engine_prefers_an_executable(monkeypatch, tmp_path):
    exe = stand_in(tmp_path / "bin", "mamba")
    monkeypatch.setenv("PATH", str(exe.parent))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.delenv("SCAFFOLDER_CONDA_ENGINE", raising=False)
    engine = conda.select_engine()
    assert isinstance(engine, conda.CondaExecutableBackend)
    assert (engine.exe, engine.name, engine.kind) == (exe, "mamba", "conda")
    monkeypatch.setenv("SCAFFOLDER_CONDA_ENGINE", "rattler")
    assert isinstance(conda.select_engine(), RattlerBackend)
    assert isinstance(conda.select_engine(search=["micromamba", "conda"], engine="auto"), RattlerBackend)
    with pytest.raises(UsageError, match="unknown executables: pixi"):
        conda.select_engine("auto", search=["pixi"])


def test_failing_executable_becomes_a_one_line_error(tmp_path):
    """A stand-in that exits 99 with a message: the error names the tool, the code and the last lines."""
    exe = tmp_path / "bin" / "micromamba"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\necho 'critical libmamba Could not open lockfile' >&2\nexit 99\n")
    exe.chmod(0o755)
    engine = conda.CondaExecutableBackend(exe)
    with pytest.raises(EnvError, match=r"creating the conda environment failed \(micromamba exit 99\): "
                                       "critical libmamba Could not open lockfile"):
        engine.link(tmp_path / ".conda", [], "linux-64")
    assert engine.envs_dirs()[-1] == Path.home() / ".conda" / "envs"  # `info --json` failed: conda's defaults


# ------------------------------------------------------------ with a real executable

REAL = conda.find_executable()
needs_real = pytest.mark.skipif(
    REAL is None, reason="no micromamba, mamba or conda on PATH (cannot be installed here); command lines tested above"
)


def _project(root: Path, channel: Path) -> tuple[Path, Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "environment.yml").write_text(
        condalock.render_environment("demo", [channel.as_uri()], [condalock.CondaDependency("tool")],
                                     platforms=[condalock.current_platform()])
    )
    vp = root / "virtual-packages.yml"
    vp.write_text(condalock.render_virtual_packages("cpu", [condalock.current_platform()]))
    return root / "environment.yml", root / "conda-lock.yml", vp


@needs_real
def test_real_executable_installs_a_lock_made_by_rattler(tmp_path, channel, monkeypatch):
    monkeypatch.setenv("RATTLER_CACHE_DIR", str(tmp_path / "cache"))
    env, lock, vp = _project(tmp_path, channel)
    RattlerBackend().lock(env, lock, vp)
    engine = conda.CondaExecutableBackend(REAL)
    prefix = tmp_path / ".conda"
    engine.sync(prefix, lock)
    out = subprocess.run([str(prefix / "bin" / "tool")], capture_output=True, text=True, check=True)
    assert out.stdout == "tool 0.1\n"
    assert engine.drift(prefix, condalock.read_lock(lock)) == []


@needs_real
def test_real_executable_locks_like_rattler_through_conda_lock(tmp_path, channel, monkeypatch):
    monkeypatch.setenv("RATTLER_CACHE_DIR", str(tmp_path / "cache"))
    env, lock, vp = _project(tmp_path / "exe", channel)
    theirs = conda.CondaExecutableBackend(REAL).lock(env, lock, vp)
    env2, lock2, vp2 = _project(tmp_path / "rattler", channel)
    ours = RattlerBackend().lock(env2, lock2, vp2)
    assert theirs.metadata.content_hash == ours.metadata.content_hash
    assert {(p.name, p.version, p.url) for p in theirs.package} == {(p.name, p.version, p.url) for p in ours.package}
    assert theirs.metadata.sources == ["environment.yml"]

