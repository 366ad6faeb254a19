"""The project's kernel in `scaffolder new`: registered last, recorded, and removed on rollback."""

from pathlib import Path

import pytest
from childenv import make_env
from test_kernels import run_in_kernel

from scaffolder.errors import EnvError, StepFailed
from scaffolder.kernels import project as project_kernel
from scaffolder.kernels import specs as kernels
from scaffolder.lifecycle import new as generate
from scaffolder.lifecycle.new import NewOptions, create_project
from scaffolder.project import Project


def _venv_step(ctx) -> None:
    # Stands in for the environment steps (lock + install take ~15 s; the last test runs them for
    # real): a real venv that sees the running interpreter's ipykernel.
    make_env(ctx.project_dir / ".venv")
    ctx.recorded["env_path"] = ".venv"


def _failing_step(ctx) -> None:
    raise EnvError("disk full", "free some space")


def _new(tmp_path: Path, monkeypatch, *extra_steps, **kw) -> NewOptions:
    kernel_step = generate.POST_RENDER_STEPS[-1]
    monkeypatch.setattr(generate, "POST_RENDER_STEPS",
                        [("create environment", lambda o: True, _venv_step), kernel_step, *extra_steps])
    return NewOptions(name=kw.pop("name", "Sentiment-Bot"), template="minimal", output_dir=tmp_path / "out",
                      env="venv", **kw)


def test_kernel_is_the_last_step_and_skipped_without_env_or_with_no_kernel():
    name, applies, run = generate.POST_RENDER_STEPS[-1]
    assert name == "register kernel" and run is project_kernel.register_for_new
    assert applies(NewOptions(name="x", env="venv"))
    assert applies(NewOptions(name="x", env="conda"))
    assert not applies(NewOptions(name="x", env="venv", kernel=False))
    assert not applies(NewOptions(name="x", env="none"))
    assert not applies(NewOptions(name="x", env="venv", lock=False))  # an empty env has no ipykernel


def test_new_registers_and_records_the_kernel(tmp_path, monkeypatch):
    result = create_project(_new(tmp_path, monkeypatch))
    assert result.steps[-1] == "register kernel"
    settings = Project.load(result.project_dir).recorded
    assert settings["kernel"] == "sentiment-bot"
    info = kernels.get_kernel("sentiment-bot")
    assert info.display_name == "Python (Sentiment-Bot)"
    assert run_in_kernel("sentiment-bot", "import sys; print(sys.prefix)").strip() == \
        str(result.project_dir / ".venv")
    assert project_kernel.check(Project.load(result.project_dir)) == []


def test_no_kernel_registers_nothing(tmp_path, monkeypatch):
    result = create_project(_new(tmp_path, monkeypatch, kernel=False))
    assert "kernel" not in Project.load(result.project_dir).recorded
    assert kernels.get_kernel("sentiment-bot") is None


def test_a_failed_new_removes_its_kernel(tmp_path, monkeypatch):
    options = _new(tmp_path, monkeypatch, ("fail after kernel", lambda o: True, _failing_step))
    with pytest.raises(StepFailed, match="fail after kernel failed: disk full"):
        create_project(options)
    assert kernels.get_kernel("sentiment-bot") is None
    assert not (tmp_path / "out").exists()


def test_new_refuses_a_name_of_another_env_and_leaves_it_alone(tmp_path, monkeypatch):
    other = make_env(tmp_path / "other")
    kernels.register(other, "sentiment-bot", "Other")
    before = (kernels.kernels_dir() / "sentiment-bot" / "kernel.json").read_bytes()
    with pytest.raises(StepFailed) as exc:
        create_project(_new(tmp_path, monkeypatch))
    message = str(exc.value)
    assert message.startswith("register kernel failed: kernel 'sentiment-bot' already exists")
    assert "scaffolder kernel remove NAME" in message and "--no-kernel" in message
    assert (kernels.kernels_dir() / "sentiment-bot" / "kernel.json").read_bytes() == before
    assert not (tmp_path / "out").exists()


def test_a_rolled_back_new_restores_the_stale_kernel_it_replaced(tmp_path, monkeypatch):
    import shutil

    old = make_env(tmp_path / "old")
    kernels.register(old, "sentiment-bot", "Old")
    shutil.rmtree(tmp_path / "old")
    before = (kernels.kernels_dir() / "sentiment-bot" / "kernel.json").read_bytes()
    with pytest.raises(StepFailed):
        create_project(_new(tmp_path, monkeypatch, ("fail after kernel", lambda o: True, _failing_step)))
    assert (kernels.kernels_dir() / "sentiment-bot" / "kernel.json").read_bytes() == before


@pytest.mark.slow
def test_new_installs_ipykernel_through_the_lock_and_env_remove_unregisters(tmp_path, monkeypatch):
    # The real steps, no stand-ins: the minimal template's dev group lacks ipykernel, so the kernel
    # step adds it there, locks again (hashed) and syncs the env before registering.
    from click.testing import CliRunner

    from scaffolder.cli import cli

    result = create_project(NewOptions(name="demo-app", template="minimal", output_dir=tmp_path, env="venv"))
    project = Project.load(result.project_dir)
    env = result.project_dir / ".venv"
    assert "ipykernel>=6.25" in project.pyproject["dependency-groups"]["dev"]
    dev_lock = (result.project_dir / "requirements-dev.lock").read_text()
    assert "\nipykernel==" in dev_lock and "--hash=sha256:" in dev_lock
    assert project.recorded["kernel"] == "demo-app"
    prefix, ipykernel_file = run_in_kernel("demo-app", "import sys, ipykernel; print(sys.prefix); "
                                                       "print(ipykernel.__file__)").split()
    assert prefix == str(env) and ipykernel_file.startswith(str(env))
    assert project_kernel.check(project) == []

    monkeypatch.chdir(result.project_dir)
    removed = CliRunner().invoke(cli, ["env", "remove"])
    assert removed.exit_code == 0 and not env.exists(), removed.output
    assert kernels.get_kernel("demo-app") is None
    assert "is not registered" in str(project_kernel.check(project)[0])
