"""The transformer template's progress bars (its progress.py, copied into projects as is): a tqdm bar on a
terminal for rank 0, the plain iterable in logs and on other ranks."""

import os
import re
import sys

from conftest import REPO
from terminal import converse

PROGRESS = REPO / "templates" / "transformer" / "{{cookiecutter.project_slug}}" / "src" / \
    "{{cookiecutter.package_name}}" / "progress.py"
SCRIPT = (
    "import importlib.util, sys\n"
    f"spec = importlib.util.spec_from_file_location('progress', {str(PROGRESS)!r})\n"
    "progress = importlib.util.module_from_spec(spec); spec.loader.exec_module(progress)\n"
    "items = list(range(40))\n"
    "out = progress.bar(items, desc='evaluate', unit='batch')\n"
    "import time\n"
    "total = sum(time.sleep(0.01) or x for x in out)  # slow enough for the bar to move\n"
    "print('plain' if out is items else 'bar', total)\n"
)


def _run(tmp_path, **env):
    return converse([sys.executable, "-c", SCRIPT], [], {**os.environ, "TERM": "xterm", **env}, tmp_path)


def test_a_bar_on_a_terminal(tmp_path):
    code, shown, _ = _run(tmp_path, RANK="0")
    assert code == 0, shown
    assert re.search(r"evaluate:\s+\d+%\|.*\| *\d+/40 ", shown), shown  # a moving tqdm bar on stderr
    assert shown.rstrip().endswith("bar 780")  # cleared when done: the next line starts clean


def test_no_bar_on_other_ranks_or_when_disabled(tmp_path):
    for env in ({"RANK": "1"}, {"TQDM_DISABLE": "1"}):
        code, shown, _ = _run(tmp_path, **env)
        assert code == 0 and shown.strip() == "plain 780", shown


def test_no_bar_in_logs(tmp_path):
    import subprocess

    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "plain 780\n" and proc.stderr == ""
