"""pip's configuration read the way pip reads it, UV_* on top, and uv then picking what pip picks."""

import pytest
from wheelhouse import PY, make_simple_index, make_wheel, write_project

from scaffolder.indexes import (
    IndexConfig,
    load_index_config,
    pip_config_files,
    pip_index_args,
    uv_environ,
    uv_index_args,
)

pytest_plugins = ["envfixtures"]
NO_TEAM = IndexConfig()


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    (home / ".config" / "pip").mkdir(parents=True)
    (tmp_path / "xdg" / "pip").mkdir(parents=True)
    return home, {"HOME": str(home), "XDG_CONFIG_DIRS": str(tmp_path / "xdg")}


def test_files_in_pip_order_and_sections(tmp_path, home):
    home, env = home
    (tmp_path / "xdg" / "pip" / "pip.conf").write_text(
        "[global]\nindex-url = https://global/simple\nextra-index-url = https://a/simple\n  https://b/simple\n"
        "constraint = /etc/c.txt\n")
    (home / ".config" / "pip" / "pip.conf").write_text(
        "[global]\nfind-links = /wheels\n[install]\nindex_url = https://user-install/simple\n")
    files = pip_config_files(env)
    assert files[0] == tmp_path / "xdg" / "pip" / "pip.conf" and home / ".config" / "pip" / "pip.conf" in files
    config = load_index_config(env, team=NO_TEAM)
    assert config == IndexConfig("https://user-install/simple", ("https://a/simple", "https://b/simple"),
                                 ("/wheels",), ("/etc/c.txt",))


def test_env_vars_override_files_and_devnull_disables_them(tmp_path, home):
    home, env = home
    (home / ".config" / "pip" / "pip.conf").write_text("[global]\nfind-links = /from-file\n")
    env["PIP_FIND_LINKS"] = "/from-env /also"
    assert load_index_config(env, team=NO_TEAM).find_links == ("/from-env", "/also")
    assert load_index_config({**env, "PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": ""},
                             team=NO_TEAM).find_links == ()
    assert pip_config_files({**env, "PIP_CONFIG_FILE": "/dev/null"}) == []


def test_uv_variables_and_team_settings_add_up(home):
    _, env = home
    env.update(PIP_EXTRA_INDEX_URL="https://pip/simple", UV_EXTRA_INDEX_URL="https://uv/simple",
               UV_INDEX="named=https://named/simple", UV_FIND_LINKS="/uvwheels", UV_DEFAULT_INDEX="https://uvdef/simple")
    config = load_index_config(env, team=IndexConfig(None, ("https://team/simple",), ("/team-wheels",)))
    assert config.index_url == "https://uvdef/simple"
    assert config.extra_index_urls == ("https://pip/simple", "https://uv/simple", "https://named/simple",
                                       "https://team/simple")
    assert config.find_links == ("/uvwheels", "/team-wheels")
    assert load_index_config(env, team=IndexConfig("https://team-index/simple")).index_url == "https://team-index/simple"


def test_uv_flags_pick_what_pip_would():
    config = IndexConfig("https://i/simple", ("https://x/simple",), ("/w",))
    assert uv_index_args(config, {}) == ["--index-url", "https://i/simple", "--extra-index-url", "https://x/simple",
                                         "--find-links", "/w", "--index-strategy", "unsafe-best-match"]
    assert "--index-strategy" not in uv_index_args(config, {"UV_INDEX_STRATEGY": "first-index"})
    assert uv_index_args(IndexConfig(), {}) == []
    assert uv_index_args(IndexConfig(no_index=True, find_links=("/w",)), {})[0] == "--no-index"
    child = uv_environ({"UV_INDEX_URL": "x", "UV_CACHE_DIR": "/c", "VIRTUAL_ENV": "/v"})
    assert child == {"UV_CACHE_DIR": "/c"}
    assert pip_index_args(IndexConfig(None, ("https://t/simple",))) == ["--extra-index-url", "https://t/simple"]


def test_team_index_from_scaffolder_settings(monkeypatch):
    monkeypatch.setenv("SCAFFOLDER_INDEX_URL", "https://team/simple")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    from scaffolder import config

    sources = config.load().sources
    assert sources.index_url == "https://team/simple"
    assert sources.pip_args == ("--index-url", "https://team/simple")  # pip reads the rest itself


def test_uv_honours_pip_conf_like_pip(tmp_path, offline, monkeypatch):
    """pip.conf's find-links holds a newer build than the index: pip takes it, and so must uv."""
    from scaffolder.locks import lockfile
    from scaffolder.locks.locking import lock_project
    from scaffolder.locks.platforms import current_platform
    from scaffolder.project import Project

    index_files, wheels = tmp_path / "index-files", tmp_path / "wheels"
    make_wheel(index_files, "sc-solo", "1.0")
    make_wheel(wheels, "sc-solo", "1.0+local")
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nindex-url = {make_simple_index(index_files, tmp_path / 'idx')}\n"
                    f"find-links = {wheels}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.delenv("PIP_INDEX_URL")
    pins = {}
    for engine in ("uv", "pip"):
        project = write_project(tmp_path / engine, deps=["sc-solo==1.0"])
        lock_project(project, Project.load(project).pyproject, python=PY, torch="cpu", engine=engine,
                     platforms=(current_platform(),))  # pip-compile locks this machine only
        pins[engine] = {k: (p.version, p.hashes) for k, p in lockfile.read(project / "requirements.lock").pins.items()}
    assert pins["uv"]["sc-solo"][0] == "1.0+local"
    assert pins["uv"] == pins["pip"]


def test_find_links_folders_become_hashed_indexes_for_uv(tmp_path):
    """uv reads a find-links wheel's hash from the index page instead of hashing the file each lock."""
    import hashlib
    import os

    from wheelhouse import make_wheel

    from scaffolder.indexes import IndexConfig, hashed_find_links

    folder = tmp_path / "wheels"
    wheel = make_wheel(folder, "sc-local", "1.0")
    (folder / "notes.txt").write_text("not a distribution")
    config = IndexConfig(extra_index_urls=("https://example.org/simple",),
                         find_links=(str(folder), "https://example.org/links/"))
    hashed = hashed_find_links(config, cache_root=tmp_path / "cache")
    assert hashed.find_links == ("https://example.org/links/",)  # remote find-links stay as they are
    assert hashed.extra_index_urls[0] == "https://example.org/simple" and len(hashed.extra_index_urls) == 2
    from pathlib import Path

    page = Path(hashed.extra_index_urls[1][len("file://"):]) / "sc-local" / "index.html"
    assert f"#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}" in page.read_text()
    assert "notes.txt" not in (page.parent.parent / "index.html").read_text()
    again = hashed_find_links(config, cache_root=tmp_path / "cache")
    assert again == hashed
    wheel.write_bytes(wheel.read_bytes() + b"\0")  # a rebuilt wheel: new size and mtime, new hash
    os.utime(wheel, ns=(1, 1))
    hashed_find_links(config, cache_root=tmp_path / "cache")
    assert f"#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}" in page.read_text()
    # --no-index with a find-links folder (an air-gapped machine): its index is the only source.
    local_only = hashed_find_links(IndexConfig(no_index=True, find_links=(str(folder),)), cache_root=tmp_path / "c")
    assert not local_only.no_index and local_only.index_url.startswith("file://") and not local_only.extra_index_urls
