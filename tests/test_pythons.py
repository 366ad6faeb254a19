import subprocess
import sys
from pathlib import Path

import pytest
from pythonlayout import newest, next_minor, runs

from scaffolder.errors import EnvError, UsageError
from scaffolder.pythons import (
    KNOWN_VERSIONS,
    NoMatchingPython,
    choose,
    current_version,
    find_interpreters,
    find_python,
    satisfies,
)

pytest_plugins = ["pythonlayout"]
HERE = current_version()


def test_running_interpreter_is_found_first():
    assert find_interpreters()[current_version()] == Path(sys.executable)
    assert find_python(None) == (current_version(), Path(sys.executable))


def test_every_found_interpreter_is_the_version_it_claims():
    for version, path in find_interpreters().items():
        out = subprocess.run([str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == version, path


def test_missing_version_lists_what_is_installed():
    with pytest.raises(EnvError) as info:
        find_python("3.99")
    message = info.value.format_message()
    assert "Python 3.99 is not installed" in message and current_version() in message
    assert "\n" not in message


def test_interpreter_path_and_bad_versions():
    assert find_python(sys.executable)[0] == current_version()
    with pytest.raises(UsageError, match="not a version"):
        find_python("three")
    with pytest.raises(EnvError, match="not a working Python"):
        find_python("/nonexistent/python")


# ---------------------------------------------------------------- choosing an interpreter for requires-python
# ``pythons`` (tests/pythonlayout.py) decides what is installed; every interpreter in it is real.


@pytest.mark.parametrize("uv_default_dir", [False, True], ids=["UV_PYTHON_INSTALL_DIR", "XDG_DATA_HOME"])
def test_interpreters_are_found_on_path_in_pyenv_and_among_uv_pythons(pythons, uv_default_dir):
    placed = pythons(uv_default_dir=uv_default_dir)
    assert find_interpreters() == placed
    for version, path in placed.items():
        assert runs(path) == version


def test_pyenv_shims_are_not_interpreters(pythons, tmp_path, monkeypatch):
    pythons([])
    # A shim is named for a version it may not run; this stand-in is named for one that does not exist.
    for name in ("shims", "plain"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "python3.99").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(tmp_path / "shims"))
    assert find_interpreters() == {HERE: Path(sys.executable)}
    monkeypatch.setenv("PATH", str(tmp_path / "plain"))
    assert "3.99" in find_interpreters()


def test_newest_installed_match_wins(pythons):
    placed = pythons()
    choice = choose(f">={HERE}")
    expected = newest(placed, HERE)
    assert (choice.version, choice.interpreter) == (expected, placed[expected])
    assert runs(choice.interpreter) == expected
    assert choice.describe() == \
        f"Python {expected} ({placed[expected]}): newest installed match for requires-python >={HERE}"


def test_the_templates_python_version_is_preferred_when_installed_and_within(pythons):
    placed = pythons()
    oldest = min(placed, key=lambda v: tuple(map(int, v.split("."))))
    choice = choose(f">={oldest}", preferred=HERE)
    assert (choice.version, choice.interpreter) == (HERE, Path(sys.executable))
    assert choice.reason == f"the template's python_version, within requires-python >={oldest}"
    missing = choose(f">={HERE}", preferred="3.99")
    assert missing.version == newest(placed, HERE)
    assert missing.reason.endswith("(the template's python_version 3.99 is not installed)")


def test_without_requires_python_the_running_interpreter_is_kept(pythons):
    pythons()
    choice = choose(None)
    assert (choice.version, choice.interpreter) == (HERE, Path(sys.executable))
    assert choice.reason == "the running interpreter; the project sets no requires-python"


def test_no_match_fails_in_one_line_listing_what_was_found(pythons):
    placed = pythons()
    above = next_minor(newest(placed))
    with pytest.raises(NoMatchingPython) as info:
        choose(f">={above}", preferred=HERE)
    message = info.value.format_message()
    assert "\n" not in message and info.value.exit_code == 1
    assert message.startswith(f"no installed Python satisfies requires-python >={above} (found: ")
    for version, path in placed.items():
        assert f"{version} ({path})" in message
    hint = above if above in KNOWN_VERSIONS else "3.X"
    assert message.endswith(f"(install one (pyenv install {hint} or uv python install {hint}) "
                            "or pass an interpreter with --python)")


def test_only_the_running_interpreter_installed(pythons):
    """What a bare machine has: that one is chosen when it fits, and named when it does not."""
    pythons([])
    assert choose(f">={HERE}").interpreter == Path(sys.executable)
    with pytest.raises(NoMatchingPython, match=rf"\(found: {HERE} \({sys.executable}\)\)"):
        choose(f">{HERE}.99")


def test_an_explicit_python_must_satisfy_requires_python(pythons):
    pythons()
    with pytest.raises(UsageError, match=rf"the project requires Python >={next_minor()}, not {HERE} "):
        choose(f">={next_minor()}", explicit=HERE)
    with pytest.raises(UsageError, match=rf"the project requires Python >={next_minor()}, not {HERE} \("):
        choose(f">={next_minor()}", explicit=sys.executable)  # an interpreter path is run to learn its version
    with pytest.raises(EnvError, match="Python 3.99 is not installed"):
        choose(None, explicit="3.99")
    choice = choose(f">={HERE}", explicit=HERE, explicit_from="SCAFFOLDER_PYTHON", preferred="3.99")
    assert (choice.version, choice.interpreter) == (HERE, Path(sys.executable))
    assert choice.reason == "set by SCAFFOLDER_PYTHON"


def test_conda_gets_a_known_version_within_requires_python():
    conda = dict(installed=False)
    assert choose(">=3.11", preferred="3.11", **conda).describe() == \
        "Python 3.11: the template's python_version, within requires-python >=3.11"
    later = choose(">=3.12", preferred="3.11", **conda)
    assert later.version == KNOWN_VERSIONS[-1] and later.interpreter is None
    assert later.reason == \
        "newest known Python for requires-python >=3.12 (the template's python_version 3.11 is outside it)"
    assert choose(">=3.10,<3.12", **conda).version == "3.11"
    assert choose(None, **conda).version == HERE
    with pytest.raises(NoMatchingPython, match="no known Python .* satisfies requires-python >=4"):
        choose(">=4", **conda)
    with pytest.raises(UsageError, match="requires Python >=3.12, not 3.11"):
        choose(">=3.12", explicit="3.11", **conda)


@pytest.mark.parametrize(("spec", "version", "expected"), [
    (">=3.12", "3.12", True), (">=3.12", "3.11", False), ("<3.12", "3.12", False), ("==3.12.1", "3.12", True),
    ("~=3.11.4", "3.11", True), ("!=3.11.*", "3.11", False), (">=3.10,<3.13", "3.13", False),
    (None, "3.6", True), ("not a specifier", "3.6", True),
])
def test_satisfies_asks_whether_some_release_of_the_minor_fits(spec, version, expected):
    assert satisfies(spec, version) is expected


def test_site_packages_and_installed_distributions_of_venv_and_conda_layouts(tmp_path):
    """One reader for both kinds: a venv (lib/python3.X), a conda prefix left with two minors by an
    upgrade (the newest wins, by number: 3.10 over 3.9), and the Windows layout."""
    from scaffolder.pythons import installed_distributions, site_packages

    def dist(site, name, version):
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody: x\n")

    venv = tmp_path / "venv"
    dist(venv / "lib" / "python3.12" / "site-packages", "Foo.Bar_baz", "1.0")
    assert site_packages(venv) == venv / "lib" / "python3.12" / "site-packages"
    assert installed_distributions(site_packages(venv)) == {"foo-bar-baz": "1.0"}
    conda = tmp_path / "conda"
    (conda / "lib" / "python3.9" / "site-packages").mkdir(parents=True)
    dist(conda / "lib" / "python3.10" / "site-packages", "numpy", "2.0")
    dist(conda / "lib" / "python3.10" / "site-packages", "pip", "24.0")
    assert site_packages(conda) == conda / "lib" / "python3.10" / "site-packages"
    owned = lambda info: info.name.startswith("pip-")  # noqa: E731 - a conda package's own
    assert installed_distributions(site_packages(conda), skip=owned) == {"numpy": "2.0"}
    windows = tmp_path / "win"
    dist(windows / "Lib" / "site-packages", "torch", "2.13.0")
    assert installed_distributions(site_packages(windows)) == {"torch": "2.13.0"}
    assert site_packages(tmp_path / "empty") is None and installed_distributions(None) == {}
