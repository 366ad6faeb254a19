"""A project's conda env end to end with the embedded engine: inputs, lock, sync, check, rollback."""

from __future__ import annotations

from pathlib import Path

import conda_channel as cc
import pytest
import yaml

from scaffolder.envs.conda import manager as condaenv
from scaffolder.envs.conda.rattler import RattlerBackend
from scaffolder.locks import condalock
from scaffolder.transaction import Transaction

pytestmark = pytest.mark.skipif(not RattlerBackend.available(), reason="py-rattler is not installed")
HERE = condalock.current_platform()


@pytest.fixture(autouse=True)
def _rattler_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RATTLER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rattler-cache"))


def inputs(root: Path, channel: Path, requirements=("torch",), variant="cpu") -> condaenv.CondaFiles:
    files = condaenv.CondaFiles.of(root)
    condaenv.write_inputs(files, name="demo", requirements=requirements, torch_variant=variant,
                          channels=[channel.as_uri()], platforms=["osx-arm64"])
    return files


def test_inputs_cover_this_platform_and_keep_user_edits(tmp_path, channel):
    files = inputs(tmp_path, channel)
    data = yaml.safe_load(files.env_file.read_text())
    assert data["platforms"] == ["osx-arm64", HERE]
    assert data["dependencies"] == ["pytorch * cpu*"]
    files.env_file.write_text(files.env_file.read_text().replace("pytorch * cpu*", "tool"))
    assert condaenv.write_inputs(files, name="demo", requirements=["torch"]) == []  # the user's file stays
    assert "tool" in files.env_file.read_text()


def test_lock_sync_check_and_describe(tmp_path, channel):
    files = inputs(tmp_path, channel)
    engine = RattlerBackend()
    prefix = condaenv.prefix_for(tmp_path, {}, engine)
    assert prefix == tmp_path / ".conda"
    condaenv.lock(files, engine)
    assert condaenv.check(files, engine, prefix) == [
        f"environment: no conda environment at {prefix} (run 'scaffolder env create')"]
    condaenv.sync(files, engine, prefix)
    assert condaenv.check(files, engine, prefix) == []
    info = condaenv.describe(files, engine, prefix)
    assert (info["engine"], info["exists"], info["packages"], info["locked_platforms"]) == (
        "rattler", True, 1, sorted(["osx-arm64", HERE]))
    # Editing the inputs makes the lock stale; check says so and names the fix.
    files.env_file.write_text(files.env_file.read_text().replace("pytorch * cpu*", "tool"))
    problems = condaenv.check(files, engine, prefix)
    assert problems[0].startswith("conda-lock.yml is stale for ") and "scaffolder lock" in problems[0]
    assert problems[1:] == []  # the env still matches the (old) lock


def test_named_env_lives_in_the_envs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDA_ENVS_PATH", str(tmp_path / "envs"))
    assert condaenv.prefix_for(tmp_path, {"env_name": "team-env"}, RattlerBackend()) == tmp_path / "envs" / "team-env"


def test_rollback_restores_inputs_and_lock_and_removes_the_new_env(tmp_path, channel):
    files = inputs(tmp_path, channel)
    engine = RattlerBackend()
    condaenv.lock(files, engine)
    before = {p: p.read_bytes() for p in (files.env_file, files.vp_file, files.lock_file)}
    prefix = tmp_path / ".conda"
    with pytest.raises(RuntimeError, match="a later step failed"), Transaction() as txn:
        condaenv.write_inputs(files, name="demo", requirements=["torch"], torch_variant="cu126",
                              channels=[channel.as_uri()], overwrite=True, txn=txn)
        condaenv.lock(files, engine, txn=txn)
        condaenv.sync(files, engine, prefix, txn=txn)
        assert "cuda126" in files.lock_file.read_text() and prefix.is_dir()
        raise RuntimeError("a later step failed")
    assert {p: p.read_bytes() for p in before} == before
    assert not prefix.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conda-lock.yml", "environment.yml", "virtual-packages.yml"]


def test_manager_lock_with_another_torch_variant_retargets_the_inputs(tmp_path, channel, monkeypatch):
    from scaffolder.config import load
    from scaffolder.project import Project, write_recorded

    monkeypatch.setenv("SCAFFOLDER_CONDA_CHANNELS", channel.as_uri())
    monkeypatch.setenv("SCAFFOLDER_CONDA_ENGINE", "rattler")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\ndependencies = ["torch>=2"]\n')
    write_recorded(tmp_path / "pyproject.toml", {"env": "conda", "python": cc.PY})
    from scaffolder.locks import inputs

    gathered = []
    real_gather = inputs.gather
    monkeypatch.setattr(inputs, "gather", lambda *a, **k: gathered.append(a[0]) or real_gather(*a, **k))
    manager = condaenv.CondaManager()
    project = Project.load(tmp_path)
    cpu = manager.lock(project, load(cli={"torch": "cpu"}, project=project))
    assert cpu.torch == "cpu" and cpu.written == ["conda-lock.yml"]
    assert len(gathered) == 1  # the inputs (torch? what goes into environment.yml?) are read once per lock
    project = Project.load(tmp_path)
    assert project.recorded["torch"] == "cpu"
    assert "pytorch >=2 cpu*" in (tmp_path / "environment.yml").read_text()
    result = manager.lock(project, load(cli={"torch": "cu126"}, project=project))
    assert result.torch == "cu126"
    assert "pytorch >=2 cuda126*  # [linux]" in (tmp_path / "environment.yml").read_text()
    assert ("__cuda", "12.6", "") in condalock.virtual_packages_for(tmp_path / "virtual-packages.yml", "linux-64")
    lockfile = condalock.read_lock(tmp_path / "conda-lock.yml")
    assert {p.build for p in lockfile.package if p.name == "pytorch" and p.platform == "linux-64"} == {"cuda126_2"}
    assert manager.lock_states(Project.load(tmp_path), load())["conda-lock.yml"][0] == "fresh"


def test_platform_added_to_environment_yml_gets_virtual_packages_and_a_solution(tmp_path, channel, monkeypatch):
    from scaffolder.config import load
    from scaffolder.project import Project, write_recorded

    monkeypatch.setenv("SCAFFOLDER_CONDA_CHANNELS", channel.as_uri())
    monkeypatch.setenv("SCAFFOLDER_CONDA_ENGINE", "rattler")
    monkeypatch.setenv("SCAFFOLDER_CONDA_PLATFORMS", HERE)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\ndependencies = ["torch"]\n')
    write_recorded(tmp_path / "pyproject.toml", {"env": "conda", "python": cc.PY, "torch": "cu126"})
    manager = condaenv.CondaManager()
    manager.lock(Project.load(tmp_path), load(project=Project.load(tmp_path)))
    env = tmp_path / "environment.yml"
    env.write_text(env.read_text().replace(f"  - {HERE}\n", f"  - {HERE}\n  - win-64\n"))
    manager.lock(Project.load(tmp_path), load(project=Project.load(tmp_path)))
    assert ("__cuda", "12.6", "") in condalock.virtual_packages_for(tmp_path / "virtual-packages.yml", "win-64")
    lockfile = condalock.read_lock(tmp_path / "conda-lock.yml")
    assert {p.build for p in lockfile.package if p.name == "pytorch" and p.platform == "win-64"} == {"cuda126_2"}
