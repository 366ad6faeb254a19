import subprocess
import sys
from pathlib import Path

import pytest

from scaffolder.errors import EnvError, UsageError
from scaffolder.pythons import current_version, find_interpreters, find_python


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
