"""Fixtures for the environment and locking tests (load with ``pytest_plugins = ["envfixtures"]``)."""

import os

import pytest
from wheelhouse import build_standard_index, offline_environ

_CLEARED = ("PIP_", "UV_", "SCAFFOLDER_TORCH", "SCAFFOLDER_INDEX", "SCAFFOLDER_EXTRA", "SCAFFOLDER_FIND",
            "SCAFFOLDER_PYTHON", "SCAFFOLDER_INSTALLER", "SCAFFOLDER_ENV", "SCAFFOLDER_BACKEND")


@pytest.fixture(scope="session")
def local_index(tmp_path_factory):
    """(find-links dir, simple index URL) of the standard test packages."""
    return build_standard_index(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture
def offline(local_index, uv_cache, monkeypatch):
    """pip and uv see only the local test index: no pip.conf, no PyPI, no UV/SCAFFOLDER settings."""
    _, url = local_index
    for key in list(os.environ):
        if key.startswith(_CLEARED):
            monkeypatch.delenv(key)
    for key, value in offline_environ({}, index_url=url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    monkeypatch.setenv("SCAFFOLDER_LOCK_TIMEOUT", "60")
    return url
