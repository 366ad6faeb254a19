import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from childenv import make_env
from conftest import REPO, make_template

from scaffolder.errors import TemplateError
from scaffolder.templates import sources as tpl


def test_builtins_are_listed_with_descriptions():
    infos, warnings = tpl.list_templates()
    by_name = {i.name: i for i in infos}
    assert {"transformer", "minimal"} <= set(by_name)
    assert all(by_name[n].description for n in ("transformer", "minimal"))
    assert by_name["transformer"].version != "unversioned"
    assert warnings == []


@pytest.mark.parametrize(
    "spec, kind",
    [
        (None, "builtin"),
        ("minimal", "builtin"),
        ("builtin:transformer", "builtin"),
        ("gh:someone/some-template", "git"),
        ("https://example.com/t.git", "git"),
        ("git@github.com:a/b.git", "git"),
        ("https://example.com/t.zip", "zip"),
    ],
)
def test_resolve_kinds(spec, kind):
    source = tpl.resolve(spec)
    assert source.kind == kind
    assert source.trusted == (kind == "builtin")


def test_resolve_local_path_is_untrusted(tmp_path):
    make_template(tmp_path / "t", {"a.txt": "x"})
    source = tpl.resolve(str(tmp_path / "t"))
    assert (source.kind, source.trusted, source.spec) == ("path", False, str((tmp_path / "t").resolve()))


def test_unknown_template_lists_choices():
    with pytest.raises(TemplateError) as info:
        tpl.resolve("no-such-template")
    assert "transformer" in info.value.format_message()


def test_hooks_are_found(tmp_path):
    make_template(tmp_path / "t", {"a.txt": "x"}, hooks={"post_gen_project.py": "print(1)", "README": "not a hook"})
    assert tpl.find_hooks(tmp_path / "t") == ["post_gen_project.py"]


PLUGIN = REPO / "tests" / "data" / "acme-templates"


def _build_plugin_wheel(dest: Path) -> Path:
    """Build the example plugin package that the tests carry (tests/data/acme-templates)."""
    proc = subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "-q", "-o", str(dest), str(PLUGIN)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = dest.glob("acme_templates-*.whl")
    return wheel


def test_plugin_template_discovered_in_a_real_venv(tmp_path):
    """Install a plugin wheel into a fresh venv and generate from it through the entry point."""
    venv = tmp_path / "venv"
    make_env(venv)  # sees scaffolder's dependencies wherever the suite was installed
    wheel = _build_plugin_wheel(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "uv", "pip", "install", "-q", "--offline", "--no-deps", "--python",
         str(venv / "bin" / "python"), str(wheel)],
        check=True,
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = [str(venv / "bin" / "python"), "-m", "scaffolder"]
    listed = subprocess.run([*run, "templates", "--json"], capture_output=True, text=True, env=env, check=True)
    acme = next(t for t in json.loads(listed.stdout) if t["name"] == "acme")
    assert (acme["kind"], acme["package"], acme["version"], acme["description"]) == (
        "plugin", "acme-templates", "1.2.3", "ACME service",
    )
    out = tmp_path / "out"
    made = subprocess.run([*run, "new", "widget", "-t", "acme", "-o", str(out), "--no-input", "--env", "none"],
                          capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    assert (out / "widget" / "hello.txt").read_text() == "hello widget from platform\n"
    assert 'template = "plugin:acme"' in (out / "widget" / "pyproject.toml").read_text()


def test_wheel_ships_builtin_templates(tmp_path):
    """A non-editable install must carry templates/ inside the package."""
    proc = subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "-q", "-o", str(tmp_path), str(REPO)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("scaffolder-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("transformer", "minimal"):
        assert f"scaffolder/builtin_templates/{name}/cookiecutter.json" in names
    src = "scaffolder/builtin_templates/transformer/{{cookiecutter.project_slug}}/src/"
    assert any(n.startswith(src) for n in names)
