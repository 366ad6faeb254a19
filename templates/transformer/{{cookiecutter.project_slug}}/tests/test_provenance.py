import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.device import DistInfo
from {{ cookiecutter.package_name }}.provenance import compare, environment, main, record_run
from {{ cookiecutter.package_name }}.train import TrainConfig

LOCK = """# This file was written by scaffolder lock.
# scaffolder-lock: format=1 set=main python=3.11 torch=cpu inputs=sha256:{inputs} content=sha256:{content}
numpy==2.1.0 \\
    --hash=sha256:{hash}
"""


def write_lock(root: Path, version: str = "2.1.0") -> None:
    import hashlib

    body = f"numpy=={version} \\\n    --hash=sha256:{'a' * 64}\n"
    content = hashlib.sha256(body.encode()).hexdigest()
    header = LOCK.split("numpy")[0].format(inputs="b" * 64, content=content)
    (root / "requirements.lock").write_text(header + body)


@pytest.fixture
def project(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / ".gitignore").write_text("runs/\n")
    write_lock(root)

    def git(*args):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return root


def test_run_json_records_the_environment_and_a_check_finds_what_changed(project, capsys):
    out = project / "runs" / "a"
    cfg = TrainConfig(seed=7)
    record = record_run(out, cfg, DistInfo(torch.device("cpu"), world_size=1), root=project, precision="fp32")
    saved = json.loads((out / "run.json").read_text())
    assert saved == json.loads(json.dumps(record))
    commit = subprocess.run(["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert saved["git_commit"] == commit.stdout.strip() and saved["git_dirty"] is False
    assert saved["lock"]["content"].startswith("sha256:") and saved["lock"]["intact"] is True
    assert saved["torch"] == torch.__version__ and saved["cuda"] == torch.version.cuda
    assert saved["seed"] == 7 and saved["world_size"] == 1 and saved["device"] == "cpu"
    assert saved["config"]["seed"] == 7 and saved["precision"] == "fp32"
    assert "torch" in saved["packages"] and "transformers" in saved["packages"]

    assert compare(saved, environment(project)) == []
    assert main([str(out), "--project", str(project)]) == 0
    assert "matches" in capsys.readouterr().out

    # Edit the code, re-lock with another numpy, and pretend the run had another transformers.
    (project / "model.py").write_text("x = 1\n")
    write_lock(project, "2.2.0")
    saved["packages"]["transformers"] = "0.0.1"
    (out / "run.json").write_text(json.dumps(saved))
    assert main([str(out), "--project", str(project)]) == 1
    text = capsys.readouterr().out
    assert "git_dirty: False (run) -> True (now)" in text
    assert "lock: sha256:" in text
    assert "package transformers: 0.0.1 (run) ->" in text

    # A hand-edited lock is called out; a second record keeps the first as history.
    lock = project / "requirements.lock"
    lock.write_text(lock.read_text().replace("2.2.0", "9.9.9"))
    assert any("edited by hand" in line for line in compare(saved, environment(project)))
    again = record_run(out, cfg, DistInfo(torch.device("cpu")), root=project)
    assert len(again["history"]) == 1 and again["git_dirty"] is True


def test_only_rank_0_writes_and_a_missing_run_is_one_line(tmp_path, capsys):
    assert record_run(tmp_path, TrainConfig(), DistInfo(torch.device("cpu"), rank=1, world_size=2)) is None
    assert not (tmp_path / "run.json").exists()
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "run.json not found" in err and "\n" not in err
