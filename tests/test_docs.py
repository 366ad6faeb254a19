"""The docs site builds in strict mode, and every command is documented."""

import subprocess
import sys

from conftest import REPO

from scaffolder.cli import COMMANDS


def test_docs_build_strict(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(REPO / "mkdocs.yml"),
         "-d", str(tmp_path / "site")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_command_is_documented():
    text = (REPO / "docs" / "commands.md").read_text()
    missing = [name for name in COMMANDS if f"`scaffolder {name}" not in text]
    assert not missing, f"docs/commands.md does not document: {missing}"


def test_error_reference_is_current():
    """docs/error-reference.md lists every error in the source; regenerate it when errors change."""
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_error_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
