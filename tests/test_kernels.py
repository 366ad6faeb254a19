"""Kernelspecs for real environments, started headless with jupyter_client.

conftest points JUPYTER_DATA_DIR/CONFIG_DIR/RUNTIME_DIR at a temporary home, so nothing here
touches the real ~/.local/share/jupyter. Environments are real venvs that see the running
interpreter's ipykernel through tests/childenv.py (0.3 s each, no install).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from childenv import make_env

from scaffolder.errors import InvalidName, KernelError
from scaffolder.kernels import specs as kernels


def run_in_kernel(name: str, code: str) -> str:
    """Start kernel ``name`` the way Jupyter does, run ``code``, return what it printed."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=name, startup_timeout=60)
    out: list[str] = []
    try:
        reply = kc.execute_interactive(
            code, timeout=60,
            output_hook=lambda msg: out.append(msg["content"]["text"]) if msg["msg_type"] == "stream" else None,
        )
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return "".join(out)


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path / "proj-env")


def test_tests_are_isolated_from_the_real_jupyter_dir(_isolated_home):
    assert kernels.kernels_dir() == _isolated_home / "jupyter_data_dir" / "kernels"
    assert not str(kernels.kernels_dir()).startswith(os.path.expanduser("~/.local"))


def test_registered_kernel_runs_in_the_env(env):
    result = kernels.register(env, "proj", "Python (proj)")
    assert result.kernel.resource_dir == kernels.kernels_dir() / "proj"
    spec = json.loads((result.kernel.resource_dir / "kernel.json").read_text())
    assert spec["argv"][0] == str(env)
    assert spec["display_name"] == "Python (proj)"
    assert (result.kernel.resource_dir / "logo-64x64.png").is_file()

    printed = run_in_kernel("proj", "import os, sys; print(sys.prefix); print(os.environ['VIRTUAL_ENV'])")
    assert printed.split() == [str(env.parent.parent)] * 2

    listed = {k.name: k for k in kernels.list_kernels()}
    assert listed["proj"].exists and listed["proj"].managed
    assert listed["proj"].env == env.parent.parent


def test_kernel_spec_is_readable_by_others_under_umask_022(env):
    old = os.umask(0o022)
    try:
        result = kernels.register(env, "shared", "Python (shared)")
    finally:
        os.umask(old)
    spec = result.kernel.resource_dir / "kernel.json"
    assert oct(spec.stat().st_mode & 0o777) == oct(0o644)
    assert oct(result.kernel.resource_dir.stat().st_mode & 0o777) == oct(0o755)


def test_prune_removes_the_kernel_of_a_deleted_env(env, tmp_path):
    other = make_env(tmp_path / "other-env")
    kernels.register(env, "gone")
    kernels.register(other, "kept")
    shutil.rmtree(env.parent.parent)

    stale = [k.name for k in kernels.list_kernels() if k.stale]
    assert stale == ["gone"]
    removed, failed = kernels.prune(dry_run=True)
    assert [k.name for k in removed] == ["gone"] and not failed
    assert kernels.get_kernel("gone") is not None  # dry run changed nothing

    removed, failed = kernels.prune()
    assert [k.name for k in removed] == ["gone"] and not failed
    assert kernels.get_kernel("gone") is None
    assert kernels.get_kernel("kept") is not None
    assert "kept" in run_in_kernel("kept", "print('kept')")


def test_re_registering_the_same_env_is_idempotent(env):
    first = kernels.register(env, "proj", "Python (proj)")
    before = (first.kernel.resource_dir / "kernel.json").read_bytes()
    again = kernels.register(env, "proj", "Python (proj)")
    assert again.unchanged and again.replaced is None
    assert (first.kernel.resource_dir / "kernel.json").read_bytes() == before
    renamed = kernels.register(env, "proj", "Python (renamed)")  # same env: allowed, no --replace needed
    assert not renamed.unchanged and renamed.replaced is None
    assert kernels.get_kernel("proj").display_name == "Python (renamed)"


def test_a_name_of_another_env_is_refused_unless_replace(env, tmp_path):
    other = make_env(tmp_path / "other-env")
    kernels.register(other, "proj", "Other")
    before = (kernels.kernels_dir() / "proj" / "kernel.json").read_bytes()

    with pytest.raises(KernelError) as exc:
        kernels.register(env, "proj", "Mine")
    assert "--replace" in str(exc.value) and str(other) in str(exc.value)
    assert (kernels.kernels_dir() / "proj" / "kernel.json").read_bytes() == before

    result = kernels.register(env, "proj", "Mine", replace=True)
    assert result.replaced is not None and result.replaced.interpreter == str(other)
    assert kernels.get_kernel("proj").interpreter == str(env)

    result.undo()  # what a rolled-back `new` does: the other env's kernel comes back byte for byte
    assert (kernels.kernels_dir() / "proj" / "kernel.json").read_bytes() == before


def test_a_stale_kernel_of_the_same_name_is_replaced_and_reported(env, tmp_path):
    old = make_env(tmp_path / "old-env")
    kernels.register(old, "proj")
    shutil.rmtree(old.parent.parent)
    result = kernels.register(env, "proj")
    assert result.replaced is not None and result.replaced.stale
    assert kernels.get_kernel("proj").interpreter == str(env)


def test_undo_of_a_fresh_registration_removes_it(env):
    result = kernels.register(env, "proj")
    result.undo()
    assert kernels.get_kernel("proj") is None
    assert not (kernels.kernels_dir() / "proj").exists()


@pytest.mark.parametrize("bad", ["MyEnv", "My Env!", "..", ".hidden", "-x", "", "a/b", "x" * 129])
def test_bad_names_are_refused_before_anything_is_written(env, bad):
    with pytest.raises(InvalidName) as exc:
        kernels.register(env, bad)
    assert str(exc.value).startswith(f"kernel name {bad!r}")
    assert not kernels.kernels_dir().exists() or not any(kernels.kernels_dir().iterdir())


def test_bad_name_suggestions():
    with pytest.raises(InvalidName, match="upper-case.*try 'myenv'"):
        kernels.validate_name("MyEnv")
    with pytest.raises(InvalidName, match="try 'my-env'"):
        kernels.validate_name("My Env!")
    assert kernels.validate_name("my-env_1.0") == "my-env_1.0"


def test_missing_ipykernel_is_installed_through_the_callback(tmp_path):
    python = make_env(tmp_path / "bare-env", inherit=False)
    with pytest.raises(KernelError, match="ipykernel is not installed"):
        kernels.register(python, "bare")
    assert kernels.get_kernel("bare") is None

    calls = []

    def install() -> None:
        calls.append(1)
        # A real install of ipykernel from uv's cache; the project path goes through the lock instead.
        subprocess.run([sys.executable, "-m", "uv", "pip", "install", "-q", "--python", str(python), "ipykernel"],
                       check=True)

    result = kernels.register(python, "bare", install_ipykernel=install)
    assert calls == [1]
    assert run_in_kernel("bare", "import sys, ipykernel; print(sys.prefix); print(ipykernel.__file__)").split()[0] \
        == str(python.parent.parent)
    assert result.kernel.exists


def test_prefix_install_is_found_with_jupyter_path(env, tmp_path, monkeypatch):
    prefix = tmp_path / "prefix"
    result = kernels.register(env, "scoped", prefix=prefix)
    assert result.kernel.resource_dir == prefix / "share" / "jupyter" / "kernels" / "scoped"
    assert kernels.get_kernel("scoped") is None  # Jupyter does not look there by default
    assert kernels.get_kernel("scoped", extra_dirs=[kernels.kernels_dir(prefix)]) is not None
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    assert str(env.parent.parent) in run_in_kernel("scoped", "import sys; print(sys.prefix)")


def test_remove_and_remove_for_env(env, tmp_path):
    other = make_env(tmp_path / "other-env")
    kernels.register(env, "a")
    kernels.register(env, "b", prefix=env.parent.parent)  # --sys-prefix style, inside the env
    kernels.register(other, "c")
    extra = [kernels.kernels_dir(env.parent.parent)]
    assert sorted(k.name for k in kernels.kernels_for_env(env.parent.parent, extra)) == ["a", "b"]

    removed, failed = kernels.remove_for_env(env.parent.parent, extra_dirs=extra)
    assert sorted(k.name for k in removed) == ["a", "b"] and not failed
    assert kernels.get_kernel("c", extra) is not None

    kernels.remove("c")
    assert kernels.get_kernel("c") is None
    with pytest.raises(KernelError, match="no kernel named 'c'"):
        kernels.remove("c")


def test_check_reports_missing_foreign_and_stale(env, tmp_path):
    envdir = env.parent.parent
    assert "not registered" in str(kernels.check("proj", env)[0])
    kernels.register(env, "proj")
    assert kernels.check("proj", env) == []

    other = make_env(tmp_path / "other-env")
    assert "not this project's environment" in str(kernels.check("proj", other)[0])

    shutil.rmtree(envdir)
    assert "no longer exists" in str(kernels.check("proj", env)[0])


def test_check_reports_env_without_ipykernel(tmp_path):
    bare = make_env(tmp_path / "bare-env", inherit=False)
    full = make_env(tmp_path / "full-env")
    kernels.register(full, "proj")
    shutil.rmtree(tmp_path / "full-env")
    # The same path now holds an env without ipykernel: the kernel is registered but cannot start.
    shutil.copytree(tmp_path / "bare-env", tmp_path / "full-env", symlinks=True)
    (problem,) = kernels.check("proj", full)
    assert "ipykernel is not installed" in str(problem)
    assert bare.exists()


def test_a_broken_spec_is_listed_not_fatal(env):
    kernels.register(env, "good")
    broken = kernels.kernels_dir() / "broken"
    broken.mkdir()
    (broken / "kernel.json").write_text("{not json")
    listed = {k.name: k for k in kernels.list_kernels()}
    assert listed["broken"].error and listed["good"].exists
    with pytest.raises(KernelError, match="--replace"):
        kernels.register(env, "broken")
    assert kernels.register(env, "broken", replace=True).kernel.exists


def test_failed_install_restores_the_previous_spec(env, tmp_path, monkeypatch):
    other = make_env(tmp_path / "other-env")
    kernels.register(other, "proj")
    before = {p.name: p.read_bytes() for p in (kernels.kernels_dir() / "proj").iterdir()}

    from jupyter_client.kernelspec import KernelSpecManager

    real = KernelSpecManager.install_kernel_spec

    def half_then_fail(self, source_dir, *args, **kwargs):
        dest = real(self, source_dir, *args, **kwargs)
        (Path(dest) / "logo-32x32.png").unlink()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(KernelSpecManager, "install_kernel_spec", half_then_fail)
    with pytest.raises(OSError):
        kernels.register(env, "proj", replace=True)
    after = {p.name: p.read_bytes() for p in (kernels.kernels_dir() / "proj").iterdir()}
    assert after == before


def test_a_conda_prefix_registers_the_same_way(tmp_path):
    # No conda can be installed here and the local channel has no Python, so the prefix is a real
    # venv given conda's marker directory: <prefix>/bin/python, as in every conda env on POSIX.
    python = make_env(tmp_path / "conda-env")
    (tmp_path / "conda-env" / "conda-meta").mkdir()
    result = kernels.register(python, "condaproj")
    assert result.kernel.env == tmp_path / "conda-env"
    printed = run_in_kernel("condaproj", "import os, sys; print(sys.prefix); print(os.environ['CONDA_PREFIX'])")
    assert printed.split() == [str(tmp_path / "conda-env")] * 2
    removed, _ = kernels.remove_for_env(tmp_path / "conda-env")
    assert [k.name for k in removed] == ["condaproj"]


def test_default_kernel_dirs_match_jupyter_client(monkeypatch, tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager

    assert kernels.default_kernel_dirs() == KernelSpecManager().kernel_dirs
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipy"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jp"))
    assert kernels.default_kernel_dirs() == KernelSpecManager().kernel_dirs


def test_listing_does_not_import_ipython():
    code = "import sys; from scaffolder.kernels import specs; specs.list_kernels(); print('IPython' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
