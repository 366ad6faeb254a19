"""scaffolder renders any cookiecutter template exactly as cookiecutter does (issue 11).

Every test renders a template with real cookiecutter and with ``scaffolder new ... --no-input --env none`` and
compares the two trees through ``tests/fidelity.py``. The peer suite does so for every fixture template of
cookiecutter's own test suite, read from the sdist of the installed cookiecutter (downloaded once into a cache);
the other tests each exercise one cookiecutter 2.x feature on a small template written here.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fidelity
import pytest
from conftest import make_template

NAME = fidelity.DEFAULT_NAME  # a display name, as real templates' project_name is


def conformant(verdict: fidelity.Verdict) -> fidelity.Verdict:
    """The test's own template must render with cookiecutter, and scaffolder must match it."""
    assert verdict.rendered, f"cookiecutter refused the test's template: {verdict.cookiecutter_error}"
    assert verdict.conformant, f"scaffolder departs from cookiecutter: {verdict.reason}"
    return verdict


def files_of(verdict: fidelity.Verdict) -> dict[str, str]:
    return {rel: content.decode() for rel, (kind, _, content) in verdict.cookiecutter_tree.items() if kind == "file"}


# ---------------------------------------------------------------------------------------------------------------
# The peer suite: cookiecutter's own fixtures


@pytest.fixture(scope="module")
def cookiecutter_fixtures() -> dict[str, Path]:
    try:
        return fidelity.fetch_fixtures()
    except fidelity.FixturesUnavailable as exc:
        pytest.skip(f"cookiecutter's fixtures could not be fetched (no network?): {exc}")


def test_cookiecutter_fixtures_conform(cookiecutter_fixtures, tmp_path, request):
    assert cookiecutter_fixtures, "the cookiecutter sdist holds no fixture templates"

    def judge(item: tuple[int, tuple[str, Path]]) -> tuple[str, fidelity.Verdict]:
        i, (name, source) = item
        work = tmp_path / f"{i:02d}"
        template = work / source.name
        shutil.copytree(source, template, symlinks=True)  # hooks may touch the template: keep the cache clean
        return name, fidelity.check(template, work)

    with ThreadPoolExecutor(max_workers=2) as pool:  # scaffolder runs as a subprocess: two at a time
        verdicts = list(pool.map(judge, enumerate(cookiecutter_fixtures.items())))
    good = sum(v.conformant for _, v in verdicts)
    summary = f"cookiecutter fixtures: {good}/{len(verdicts)} conformant"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # to the terminal, not the captured output
            reporter.ensure_newline()
            reporter.write_line(summary)
    bad = [f"  {name}: {v.reason}" for name, v in verdicts if not v.conformant]
    assert not bad, summary + "; not conformant:\n" + "\n".join(bad)


def test_fixture_cache_is_reused(cookiecutter_fixtures):
    """The sdist is downloaded once: a second call finds the unpacked tree in the same place."""
    again = fidelity.fetch_fixtures()
    assert again == cookiecutter_fixtures
    assert "test-extensions/local_extension" in again
    assert not any(path.is_relative_to(fidelity.REPO) for path in again.values())


def test_the_judge_sees_every_kind_of_difference(tmp_path):
    """compare_trees on a real cookiecutter output and altered copies of it: each departure is reported."""
    tpl = make_template(tmp_path / "t", {"a.txt": "{{ cookiecutter.project_name }}\n", "run.sh": "#!/bin/sh\n"})
    (tpl / "{{cookiecutter.project_slug}}" / "run.sh").chmod(0o755)
    theirs = conformant(fidelity.check(tpl, tmp_path / "work")).cookiecutter_tree
    assert fidelity.compare_trees(theirs, dict(theirs)) == []
    table = b'[tool.scaffolder]\ntemplate = "x"\n'
    own = f"{NAME}/pyproject.toml"
    assert fidelity.compare_trees(theirs, {**theirs, own: ("file", 0o644, table)}) == []
    git = {f"{NAME}/.git": ("dir", 0o755, b""), f"{NAME}/.git/HEAD": ("file", 0o644, b"ref: refs/heads/main\n")}
    assert fidelity.compare_trees(theirs, {**theirs, **git}) == []  # scaffolder's git step
    assert "scaffolder none" in fidelity.compare_trees({**theirs, **git}, theirs)[0]
    cases = {
        "content differs": {**theirs, f"{NAME}/a.txt": ("file", 0o644, b"other\n")},
        "mode 755 vs 644": {**theirs, f"{NAME}/run.sh": ("file", 0o644, theirs[f"{NAME}/run.sh"][2])},
        "missing from scaffolder's output": {k: v for k, v in theirs.items() if k != f"{NAME}/a.txt"},
        "only in scaffolder's output": {**theirs, f"{NAME}/extra.txt": ("file", 0o644, b"")},
        "holds more than [tool.scaffolder]": {**theirs, own: ("file", 0o644, b'[project]\nname = "x"\n' + table)},
    }
    for expected, ours in cases.items():
        problems = fidelity.compare_trees(theirs, ours)
        assert len(problems) == 1 and expected in problems[0], (expected, problems)
    project_x, project_y = b'[project]\nname = "x"\n', b'[project]\nname = "y"\n'
    with_pyproject = {**theirs, own: ("file", 0o644, project_x)}
    assert fidelity.compare_trees(with_pyproject, {**theirs, own: ("file", 0o644, project_x + table)}) == []
    changed = fidelity.compare_trees(with_pyproject, {**theirs, own: ("file", 0o644, project_y + table)})
    assert len(changed) == 1 and "differs beyond [tool.scaffolder]" in changed[0]
    assert fidelity.compare_trees(theirs, {**theirs, f"{NAME}/a.txt": ("file", 0o644, b"x\n")},
                                  frozenset({f"{NAME}/a.txt"})) == []


# ---------------------------------------------------------------------------------------------------------------
# One test per cookiecutter 2.x feature

LOCAL_EXTENSION = '''\
from cookiecutter.utils import simple_filter
from jinja2.ext import Extension


@simple_filter
def shout(value):
    return value.upper() + "!"


class ReverseWords(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["reverse_words"] = lambda value: " ".join(reversed(value.split()))
'''


def test_local_extensions(tmp_path):
    tpl = make_template(
        tmp_path / "t",
        {"x.txt": "{{ cookiecutter.project_name|shout }} {{ cookiecutter.project_name|reverse_words }} "
                  "{{ cookiecutter.loud }}\n"},
        {"loud": "{{ cookiecutter.project_name|shout }}",
         "_extensions": ["fidelity_local_ext.shout", "fidelity_local_ext.ReverseWords"]},
    )
    (tpl / "fidelity_local_ext.py").write_text(LOCAL_EXTENSION)
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    assert "--trust" in verdict.scaffolder_argv
    assert verdict.text(f"{NAME}/x.txt") == "FIDELITY CHECK! Check Fidelity FIDELITY CHECK!\n"


def test_cookiecutter_builtin_extensions_need_no_trust(tmp_path):
    tpl = make_template(
        tmp_path / "t",
        {"x.txt": "{{ cookiecutter.meta|jsonify }} {{ cookiecutter.project_name|slugify }} {% now 'utc', '%Y' %}\n"},
        {"meta": {"b": [1, 2], "a": "x"}, "_extensions": ["cookiecutter.extensions.JsonifyExtension"]},
    )
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    assert "--trust" not in verdict.scaffolder_argv
    year = datetime.datetime.now(datetime.timezone.utc).year
    # jsonify sorts keys and indents; cookiecutter renders the values inside a dict variable to strings
    assert verdict.text(f"{NAME}/x.txt") == (
        '{\n    "a": "x",\n    "b": [\n        "1",\n        "2"\n    ]\n}' + f" fidelity-check {year}\n")


def test_installed_third_party_extensions(tmp_path):
    tpl = make_template(
        tmp_path / "t",
        {"x.txt": "{% set names = [] %}{% do names.append(cookiecutter.project_name) %}{{ names|join(',') }} "
                  "{% for i in [1, 2, 3] %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}\n"},
        {"_extensions": ["jinja2.ext.do", "jinja2.ext.loopcontrols"]},
    )
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    assert verdict.text(f"{NAME}/x.txt") == f"{NAME} 12\n"


def test_jinja2_time_now(tmp_path):
    pytest.importorskip("jinja2_time", reason="jinja2-time is not installed (the `test` extra has it)")
    tpl = make_template(
        tmp_path / "t",
        {"LICENSE": "Copyright (c) {% now 'utc', '%Y' %} {{ cookiecutter.year }}\n"},
        {"year": "{% now 'utc', '%Y' %}", "_extensions": ["jinja2_time.TimeExtension"]},
    )
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    assert "--trust" not in verdict.scaffolder_argv
    year = datetime.datetime.now(datetime.timezone.utc).year
    assert verdict.text(f"{NAME}/LICENSE") == f"Copyright (c) {year} {year}\n"


@pytest.mark.parametrize("sets", [{}, {"license": "BSD"}], ids=["defaults", "set-choice"])
def test_prompts(tmp_path, sets):
    tpl = make_template(
        tmp_path / "t",
        {"x.txt": "{{ cookiecutter.project_name }} under {{ cookiecutter.license }}\n"},
        {"license": ["MIT", "BSD"],
         "__prompts__": {"project_name": "What is the project called?",
                         "license": {"__prompt__": "Which license?", "MIT": "MIT License", "BSD": "BSD 3-Clause"}}},
    )
    verdict = conformant(fidelity.check(tpl, tmp_path / "work", sets=sets))
    assert verdict.text(f"{NAME}/x.txt") == f"{NAME} under {sets.get('license', 'MIT')}\n"


TYPED = (
    "{{ cookiecutter.use_ci }} {% if cookiecutter.use_ci %}ci{% else %}no-ci{% endif %} {{ cookiecutter.license }} "
    "{{ cookiecutter.meta.owner }} {{ cookiecutter.meta.tags|join('+') }} {{ cookiecutter.meta|jsonify }} "
    "{{ cookiecutter.version }} {{ cookiecutter.flag }}\n"
)


@pytest.mark.parametrize("sets, expected", [
    ({}, "True ci MIT ada a+b"),
    ({"use_ci": "no", "license": "Apache-2.0"}, "False no-ci Apache-2.0 ada a+b"),
    # cookiecutter's `k=v` is a string for a string variable: "true" stays "true", "2.10" stays "2.10"
    ({"flag": "true", "version": "2.10"}, "True ci MIT ada a+b"),
], ids=["defaults", "set-bool-and-choice", "set-strings-stay-strings"])
def test_boolean_list_and_dict_variables(tmp_path, sets, expected):
    tpl = make_template(
        tmp_path / "t", {"x.txt": TYPED},
        {"use_ci": True, "license": ["MIT", "Apache-2.0"], "meta": {"owner": "ada", "tags": ["a", "b"]},
         "version": "0.1", "flag": "n"},
    )
    verdict = conformant(fidelity.check(tpl, tmp_path / "work", sets=sets))
    assert verdict.text(f"{NAME}/x.txt").startswith(expected)
    assert verdict.text(f"{NAME}/x.txt").endswith(f" {sets.get('version', '0.1')} {sets.get('flag', 'n')}\n")


def test_private_variables(tmp_path):
    tpl = make_template(
        tmp_path / "t",
        {"x.txt": "{{ cookiecutter._raw }}|{{ cookiecutter.__rendered }}|{{ cookiecutter._list|join(',') }}\n"},
        {"_raw": "{{ cookiecutter.project_name|lower }}", "__rendered": "{{ cookiecutter.project_name|lower }}",
         "_list": ["a", "b"]},
    )
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    # cookiecutter 2.x: `_` variables are kept verbatim, `__` variables are rendered
    assert verdict.text(f"{NAME}/x.txt") == "{{ cookiecutter.project_name|lower }}|fidelity check|a,b\n"


def test_copy_without_render_and_file_modes(tmp_path):
    body = "{{ cookiecutter.project_name }} {% if true %}x{% endif %}\n"
    tpl = make_template(
        tmp_path / "t",
        {"rendered.txt": body, "raw/a.txt": body, "raw/{{ cookiecutter.project_slug }}.cfg": body,
         "page.tmpl.html": body, "bin/run.sh": "#!/bin/sh\necho {{ cookiecutter.project_name }}\n",
         "raw/tool.sh": "#!/bin/sh\necho {{ x }}\n", "empty/.keep": ""},
        {"_copy_without_render": ["raw/*", "*.tmpl.html"]},
    )
    project = tpl / "{{cookiecutter.project_slug}}"
    (project / "bin" / "run.sh").chmod(0o755)
    (project / "raw" / "tool.sh").chmod(0o750)
    (project / "rendered.txt").chmod(0o600)
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    files = files_of(verdict)
    assert files[f"{NAME}/rendered.txt"] == f"{NAME} x\n"
    assert files[f"{NAME}/raw/a.txt"] == files[f"{NAME}/raw/{NAME}.cfg"] == files[f"{NAME}/page.tmpl.html"] == body
    assert verdict.cookiecutter_tree[f"{NAME}/bin/run.sh"][1] == 0o755


def test_nested_templates(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "cookiecutter.json").write_text(json.dumps({"templates": {
        "lib": {"path": "./lib", "title": "A library", "description": "a package to import"},
        "app": {"path": "./app", "title": "An application", "description": "a program to run"},
    }}))
    for kind in ("lib", "app"):
        make_template(root / kind, {"README.md": kind + ": {{ cookiecutter.project_name }}\n"},
                      {"project_name": f"demo {kind}",
                       "project_slug": "{{ cookiecutter.project_name|lower|replace(' ', '-') }}"})
    verdict = conformant(fidelity.check(root, tmp_path / "work"))
    readmes = [text for rel, text in files_of(verdict).items() if rel.endswith("/README.md")]
    assert len(readmes) == 1 and readmes[0].startswith("lib: "), readmes  # --no-input takes the first


def test_include_extends_and_super(tmp_path):
    tpl = make_template(
        tmp_path / "t",
        {"child.txt": "{% extends 'base.txt' %}{% block head %}{{ super() }} + child{% endblock %}"
                      "{% block body %}{% include 'part.inc' %}{% endblock %}",
         "local.txt": "local {{ cookiecutter.project_name }}\n",
         "includer.txt": "{% include 'local.txt' %}and more\n"},
    )
    (tpl / "templates").mkdir()
    (tpl / "templates" / "base.txt").write_text(
        "{% block head %}base {{ cookiecutter.project_name }}{% endblock %}\n{% block body %}{% endblock %}\n")
    (tpl / "templates" / "part.inc").write_text("part of {{ cookiecutter.project_slug }}\n")
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    assert verdict.text(f"{NAME}/child.txt") == f"base {NAME} + child\npart of {NAME}\n\n"
    assert verdict.text(f"{NAME}/includer.txt") == f"local {NAME}\nand more\n"


HOOKS = {
    "pre_gen_project.py": "from pathlib import Path\nPath('pre.txt').write_text('{{ cookiecutter.project_name }}')\n",
    "post_gen_project.py": "import os\nos.symlink('pre.txt', 'link.txt')\n",
    "post_gen_project.sh": "#!/bin/sh\nprintf '%s' '{{ cookiecutter.project_slug }}' > post.sh.txt\n"
                           "chmod 755 post.sh.txt\n",
}


def test_python_and_shell_hooks(tmp_path):
    tpl = make_template(tmp_path / "t", {"a.txt": "a\n"}, hooks=HOOKS)
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    assert "--trust" in verdict.scaffolder_argv
    tree = verdict.cookiecutter_tree
    assert verdict.text(f"{NAME}/pre.txt") == verdict.text(f"{NAME}/post.sh.txt") == NAME
    assert tree[f"{NAME}/post.sh.txt"][1] == 0o755
    assert tree[f"{NAME}/link.txt"] == ("link", 0, b"pre.txt")


PRE_PROMPT = """\
import json
from pathlib import Path

data = json.loads(Path("cookiecutter.json").read_text())
data["flavour"] = "set by pre_prompt"
Path("cookiecutter.json").write_text(json.dumps(data))
"""


def test_pre_prompt_hook(tmp_path):
    tpl = make_template(tmp_path / "t", {"x.txt": "{{ cookiecutter.flavour }}\n"}, {"flavour": "original"},
                        hooks={"pre_prompt.py": PRE_PROMPT})
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    assert verdict.text(f"{NAME}/x.txt") == "set by pre_prompt\n"
    assert json.loads((tpl / "cookiecutter.json").read_text())["flavour"] == "original"


@pytest.mark.parametrize("case", ["failing-hook", "undefined-variable", "invalid-choice"])
def test_refusals_match(tmp_path, case):
    files, sets, hooks = {"a.txt": "a\n"}, {}, None
    if case == "failing-hook":
        hooks = {"pre_gen_project.py": "import sys\nsys.exit(3)\n"}
    elif case == "undefined-variable":
        files["b.txt"] = "{{ cookiecutter.not_a_variable }}\n"
    else:
        sets = {"license": "GPL"}
    tpl = make_template(tmp_path / "t", files, {"license": ["MIT", "BSD"]}, hooks=hooks)
    verdict = fidelity.check(tpl, tmp_path / "work", sets=sets)
    assert not verdict.rendered, "cookiecutter rendered a template it should refuse"
    assert verdict.conformant, verdict.reason


def _user_config(home: Path, monkeypatch, **settings) -> None:
    path = home / "fidelity-cookiecutterrc"
    settings.setdefault("replay_dir", str(home / "replay"))
    settings.setdefault("cookiecutters_dir", str(home / "cookiecutters"))
    path.write_text(json.dumps(settings))  # JSON is YAML
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(path))


def test_user_config_default_context(tmp_path, monkeypatch):
    _user_config(tmp_path, monkeypatch, default_context={"full_name": "Ada Lovelace", "license": "BSD"})
    tpl = make_template(tmp_path / "t", {"x.txt": "{{ cookiecutter.full_name }} {{ cookiecutter.license }}\n"},
                        {"full_name": "Somebody", "license": ["MIT", "BSD"]})
    verdict = conformant(fidelity.check(tpl, tmp_path / "work"))
    assert verdict.text(f"{NAME}/x.txt") == "Ada Lovelace BSD\n"


def test_user_config_abbreviations(tmp_path, monkeypatch):
    store = tmp_path / "store"
    _user_config(tmp_path, monkeypatch, abbreviations={"mine": str(store) + os.sep + "{0}"})
    tpl = make_template(store / "library", {"x.txt": "from the store: {{ cookiecutter.project_name }}\n"})
    verdict = conformant(fidelity.check("mine:library", tmp_path / "work", template_dir=tpl))
    assert verdict.text(f"{NAME}/x.txt") == f"from the store: {NAME}\n"


def test_user_config_cookiecutters_dir(tmp_path, monkeypatch):
    cookiecutters = tmp_path / "cookiecutters"
    _user_config(tmp_path, monkeypatch, cookiecutters_dir=str(cookiecutters))
    tpl = make_template(cookiecutters / "kept-template", {"x.txt": "kept: {{ cookiecutter.project_name }}\n"})
    # cookiecutter finds a template name that is not a directory here in its cookiecutters_dir
    verdict = conformant(fidelity.check("kept-template", tmp_path / "work", template_dir=tpl))
    assert verdict.text(f"{NAME}/x.txt") == f"kept: {NAME}\n"


def test_display_name_is_accepted_and_template_derivations_kept(tmp_path):
    tpl = make_template(
        tmp_path / "t",
        {"pyproject.toml": '[project]\nname = "{{ cookiecutter.package_name }}"\nversion = "0.1"\n\n'
                           "[tool.ruff]\nline-length = 100\n",
         "src/{{ cookiecutter.module_name }}/__init__.py": '"""{{ cookiecutter.project_name }}."""\n',
         "README.md": "# {{ cookiecutter.project_name }}\n\npip install {{ cookiecutter.distribution_name }}\n"},
        {"project_name": "Example Lib",
         "project_slug": "{{ cookiecutter.project_name|lower|replace(' ', '-') }}",
         # here package_name means the distribution's name, as in popular templates
         "package_name": "{{ cookiecutter.project_slug }}",
         "distribution_name": "{{ cookiecutter.package_name }}-dist",
         "module_name": "{{ cookiecutter.project_slug|replace('-', '_') }}"},
    )
    verdict = conformant(fidelity.check(tpl, tmp_path / "work", name="My Lib"))
    files = files_of(verdict)
    assert 'name = "my-lib"' in files["my-lib/pyproject.toml"]
    assert files["my-lib/src/my_lib/__init__.py"] == '"""My Lib."""\n'
    assert "pip install my-lib-dist" in files["my-lib/README.md"]
    assert "my-lib/pyproject.toml" in verdict.scaffolder_tree


def test_template_without_project_name(tmp_path):
    root = tmp_path / "t"
    (root / "{{cookiecutter.repo_name}}").mkdir(parents=True)
    (root / "cookiecutter.json").write_text(json.dumps({
        "repo_name": "default-repo", "author": "Somebody", "module": "{{ cookiecutter.repo_name|replace('-', '_') }}",
    }))
    (root / "{{cookiecutter.repo_name}}" / "{{cookiecutter.module}}.py").write_text(
        "# {{ cookiecutter.repo_name }} by {{ cookiecutter.author }}\n")
    verdict = conformant(fidelity.check(root, tmp_path / "work"))
    assert len([rel for rel in verdict.cookiecutter_tree if "/" not in rel]) == 1
