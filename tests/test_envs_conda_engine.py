"""The parts every conda engine shares: rebuilding a prefix all-or-nothing, reading conda-meta."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scaffolder.envs.conda.engine import default_envs_dirs, installed_conda, rebuilt_prefix


def _prefix(path: Path, marker: str) -> Path:
    (path / "conda-meta").mkdir(parents=True)
    (path / "conda-meta" / "liba-1.0-0.json").write_text(
        json.dumps({"name": "liba", "version": "1.0", "build": "0", "sha256": "ab", "files": ["share/a"]})
    )
    (path / "share").mkdir()
    (path / "share" / "a").write_text(marker)
    return path


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_failed_rebuild_puts_the_old_prefix_back(tmp_path, interrupt):
    prefix = _prefix(tmp_path / ".conda", "old")
    with pytest.raises(interrupt), rebuilt_prefix(prefix) as fresh:
        assert fresh == prefix and not prefix.exists()  # the old one waits beside it
        _prefix(fresh, "half-built")
        raise interrupt()
    assert (prefix / "share" / "a").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".conda"]


def test_successful_rebuild_drops_the_backup(tmp_path):
    prefix = _prefix(tmp_path / ".conda", "old")
    with rebuilt_prefix(prefix) as fresh:
        _prefix(fresh, "new")
    assert (prefix / "share" / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".conda"]


def test_stale_backup_from_a_killed_run_does_not_block(tmp_path):
    prefix = _prefix(tmp_path / ".conda", "old")
    _prefix(tmp_path / f".conda.scaffolder-old-{os.getpid()}", "stale")
    with rebuilt_prefix(prefix) as fresh:
        _prefix(fresh, "new")
    assert (prefix / "share" / "a").read_text() == "new"


def test_installed_conda_reads_records_and_skips_broken_ones(tmp_path):
    prefix = _prefix(tmp_path / "p", "x")
    (prefix / "conda-meta" / "broken.json").write_text("{not json")
    (prefix / "conda-meta" / "history").write_text("")
    records = installed_conda(prefix)
    assert list(records) == ["liba"]
    assert (records["liba"].version, records["liba"].build, records["liba"].sha256) == ("1.0", "0", "ab")


def test_named_env_dirs_follow_conda_order(monkeypatch, tmp_path):
    monkeypatch.setenv("CONDA_ENVS_PATH", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    monkeypatch.setenv("MAMBA_ROOT_PREFIX", str(tmp_path / "mamba"))
    assert default_envs_dirs() == [tmp_path / "a", tmp_path / "b", tmp_path / "mamba" / "envs",
                                   Path.home() / ".conda" / "envs"]
