import os
import signal
from pathlib import Path

import pytest
from conftest import make_template, snapshot

from scaffolder.errors import DestinationExists, InvalidAnswer, StepFailed, TemplateError, UnsafePath, UntrustedTemplate
from scaffolder.lifecycle import new as generate
from scaffolder.lifecycle.new import NewOptions, create_project
from scaffolder.project import Project


def opts(tmp_path: Path, **kw) -> NewOptions:
    kw.setdefault("template", "minimal")
    kw.setdefault("output_dir", tmp_path / "out")
    return NewOptions(name=kw.pop("name", "demo-app"), **kw)


def test_minimal_renders_and_records_provenance(tmp_path):
    result = create_project(opts(tmp_path, overrides={"description": "Typed", "python_version": "3.12"}))
    project = Project.load(result.project_dir)
    assert result.project_dir == tmp_path / "out" / "demo-app"
    assert project.recorded["template"] == "builtin:minimal"
    assert project.recorded["template_version"] == "0.1.0"
    answers = project.recorded["answers"]
    assert answers["package_name"] == "demo_app" and answers["description"] == "Typed"
    assert (result.project_dir / "src" / "demo_app" / "__init__.py").is_file()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".scaffolder")]


def test_recorded_answers_rerender_identically(tmp_path):
    first = create_project(opts(tmp_path, overrides={"description": "Same"}))
    answers = Project.load(first.project_dir).recorded["answers"]
    again = create_project(opts(tmp_path, output_dir=tmp_path / "again", overrides=answers))
    assert snapshot(first.project_dir) == snapshot(again.project_dir)


def test_typed_answers_reach_the_template(tmp_path):
    tpl = make_template(tmp_path / "t", {"v.txt": "{{ cookiecutter.flag is sameas true }} {{ cookiecutter.n + 1 }}"},
                        {"flag": False, "n": 1})
    result = create_project(opts(tmp_path, template=str(tpl), overrides={"flag": True, "n": 41}))
    assert (result.project_dir / "v.txt").read_text() == "True 42"


def test_unknown_answer_is_refused(tmp_path):
    with pytest.raises(InvalidAnswer, match="no variable 'colour'"):
        create_project(opts(tmp_path, overrides={"colour": "red"}))
    assert not (tmp_path / "out").exists()


def test_dry_run_writes_nothing(tmp_path):
    result = create_project(opts(tmp_path, dry_run=True))
    assert result.dry_run and "pyproject.toml" in result.files
    assert result.steps[:2] == ["render template", "move into place"]
    assert not (tmp_path / "out").exists()


def test_existing_destination_is_refused_and_untouched(tmp_path):
    dest = tmp_path / "out" / "demo-app"
    dest.mkdir(parents=True)
    (dest / "mine.txt").write_text("keep")
    before = snapshot(dest)
    with pytest.raises(DestinationExists, match="--force"):
        create_project(opts(tmp_path))
    assert snapshot(dest) == before


def test_force_overwrites_template_files_only(tmp_path):
    dest = tmp_path / "out" / "demo-app"
    (dest / "src").mkdir(parents=True)
    (dest / "mine.txt").write_text("keep")
    (dest / "README.md").write_text("old")
    create_project(opts(tmp_path, force=True))
    assert (dest / "mine.txt").read_text() == "keep"
    assert (dest / "README.md").read_text() != "old"
    assert (dest / "pyproject.toml").is_file()


def test_empty_destination_is_used(tmp_path):
    (tmp_path / "out" / "demo-app").mkdir(parents=True)
    create_project(opts(tmp_path))
    assert (tmp_path / "out" / "demo-app" / "pyproject.toml").is_file()


@pytest.mark.parametrize("value", ["../../evil", "/abs/evil", "a/../../evil"])
def test_path_traversal_is_refused(tmp_path, value):
    tpl = make_template(tmp_path / "t", {"{{ cookiecutter.sub }}/x.txt": "x"}, {"sub": "ok"})
    with pytest.raises(UnsafePath):
        create_project(opts(tmp_path, template=str(tpl), overrides={"sub": value}))
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.rglob("evil"))


def test_project_directory_traversal_is_refused(tmp_path):
    with pytest.raises(UnsafePath):
        create_project(opts(tmp_path, overrides={"project_slug": "../escaped"}))
    assert not (tmp_path / "escaped").exists()


def test_failure_mid_render_leaves_nothing(tmp_path):
    tpl = make_template(tmp_path / "t", {"a.txt": "fine", "b.txt": "{{ cookiecutter.undefined_var }}"})
    with pytest.raises(TemplateError):
        create_project(opts(tmp_path, template=str(tpl)))
    assert not (tmp_path / "out").exists()


HOOK = "from pathlib import Path\nPath('hook-ran').write_text('yes')\n"


def test_outside_hooks_need_trust(tmp_path):
    tpl = make_template(tmp_path / "t", {"a.txt": "x"}, hooks={"post_gen_project.py": HOOK})
    with pytest.raises(UntrustedTemplate, match="--trust"):
        create_project(opts(tmp_path, template=str(tpl)))
    assert not (tmp_path / "out").exists()
    declined = []
    with pytest.raises(UntrustedTemplate):
        create_project(opts(tmp_path, template=str(tpl)), confirm_trust=lambda f: declined.append(f) or False)
    assert declined and not (tmp_path / "out").exists()
    result = create_project(opts(tmp_path, template=str(tpl), trust=True))
    assert (result.project_dir / "hook-ran").read_text() == "yes"


def test_confirmed_hooks_run(tmp_path):
    tpl = make_template(tmp_path / "t", {"a.txt": "x"}, hooks={"post_gen_project.py": HOOK})
    result = create_project(opts(tmp_path, template=str(tpl)), confirm_trust=lambda f: True)
    assert (result.project_dir / "hook-ran").is_file()


def test_failing_hook_leaves_nothing(tmp_path):
    tpl = make_template(tmp_path / "t", {"a.txt": "x"}, hooks={"pre_gen_project.py": "raise SystemExit(1)\n"})
    with pytest.raises(TemplateError, match="hook"):
        create_project(opts(tmp_path, template=str(tpl), trust=True))
    assert not (tmp_path / "out").exists()


def _failing_step(exc: BaseException, touch: bool = True):
    def run(ctx):
        if touch:  # a step's own output is registered with the transaction, as real steps do
            (ctx.project_dir / "half-made").write_text("x")
            ctx.txn.created_path(ctx.project_dir / "half-made")
        raise exc

    return ("explode", lambda o: True, run)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_step_rolls_back_everything(tmp_path, monkeypatch, exc):
    monkeypatch.setattr(generate, "POST_RENDER_STEPS", [_failing_step(exc)])
    with pytest.raises(type(exc)):
        create_project(opts(tmp_path))
    assert not (tmp_path / "out").exists()


def test_failed_step_error_names_the_step(tmp_path, monkeypatch):
    from scaffolder.errors import EnvError

    monkeypatch.setattr(generate, "POST_RENDER_STEPS", [_failing_step(EnvError("no space", "free some"))])
    with pytest.raises(StepFailed) as info:
        create_project(opts(tmp_path))
    assert info.value.format_message() == "explode failed: no space (free some)"


def test_failed_step_with_force_restores_existing_files(tmp_path, monkeypatch):
    dest = tmp_path / "out" / "demo-app"
    dest.mkdir(parents=True)
    (dest / "README.md").write_text("old readme")
    (dest / "mine.txt").write_text("keep")
    before = snapshot(dest)
    monkeypatch.setattr(generate, "POST_RENDER_STEPS", [_failing_step(RuntimeError("boom"))])
    with pytest.raises(RuntimeError):
        create_project(opts(tmp_path, force=True))
    assert snapshot(dest) == before
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "mine.txt"]


def test_sigterm_rolls_back(tmp_path, monkeypatch):
    def run(ctx):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(generate, "POST_RENDER_STEPS", [("wait", lambda o: True, run)])
    with pytest.raises(SystemExit):
        create_project(opts(tmp_path))
    assert not (tmp_path / "out").exists()
