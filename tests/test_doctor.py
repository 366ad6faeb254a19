"""`scaffolder doctor` on this machine's real tools, with package sources, git and GPU set per test."""

import importlib.metadata
import json
import os
import sys

from click.testing import CliRunner

from scaffolder.cli import cli

pytest_plugins = ["envfixtures"]


def _doctor(*args):
    return CliRunner().invoke(cli, ["doctor", *args])


def test_json_reports_pythons_tools_indexes_and_kernel_dirs(offline, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    (tmp_path / "gitconfig").write_text("[user]\n\tname = G\n\temail = g@example.org\n")
    result = _doctor("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["problems"] == []
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert {"version": running, "path": sys.executable, "source": "running"} in data["pythons"]
    assert data["tools"]["uv"]["version"].startswith("uv ")
    assert data["tools"]["virtualenv"]["version"] == importlib.metadata.version("virtualenv")
    assert data["indexes"]["indexes"] == [{"url": offline, "answers": True}]
    assert "PIP_INDEX_URL" in data["indexes"]["from"]["environment"]
    assert data["kernels"]["user_dir"] == os.path.join(os.environ["JUPYTER_DATA_DIR"], "kernels")
    assert data["git"]["identity_missing"] == []
    assert data["env"] == "venv" and "backend" not in data  # the environment kind


def test_no_answering_package_source_fails_with_the_fix(offline, tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "gone").as_uri())
    result = _doctor()
    assert result.exit_code == 1
    assert f"warning: package index {(tmp_path / 'gone').as_uri()} does not answer (fix: check the URL" in result.stdout
    assert "error: no package source answers, so new cannot lock or install (fix: connect" in result.stdout
    assert result.stderr.strip().splitlines() == [
        "error: 1 problem(s) stop 'scaffolder new': no package source answers, so new cannot lock or install "
        "(apply the fixes listed above)"]


def test_missing_git_identity_is_a_warning_with_its_fix(offline, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "empty"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / "empty").write_text("")
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(key, raising=False)
    result = _doctor("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["git"]["identity_missing"] == ["user.name", "user.email"]
    assert {"severity": "warning", "what": "git has no user.name or user.email, so new makes no first commit",
            "fix": "git config --global user.name ..."} in data["problems"]


def test_the_driver_decides_which_torch_builds_fit(offline, tmp_path, monkeypatch):
    # No GPU here: an nvidia-smi that answers as a machine with driver 550 does (the hardware is the stand-in).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text('#!/bin/sh\ncase "$1" in\n  --query-gpu=driver_version) echo 550.54.15 ;;\n'
                   '  *) echo "NVIDIA H200, 143771 MiB" ;;\nesac\n')
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    data = json.loads(_doctor("--json").stdout)
    assert data["gpu"] == {"gpus": ["NVIDIA H200, 143771 MiB"], "driver": "550.54.15",
                           "torch_builds": ["cu128", "cu126", "cu118", "cpu"], "torch_auto": "cu128"}
    assert "NVIDIA H200, 143771 MiB; driver 550.54.15" in _doctor().stdout
