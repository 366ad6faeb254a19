"""Template answers from the command line (``--set``) and from files (``--answers``).

Unlike cookiecutter's ``key=value``, values arrive typed: ``true`` is a bool, ``3`` an int,
``[a, b]`` a list and ``{k: v}`` a dict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scaffolder import tomlfile
from scaffolder.errors import InvalidAnswer

_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in _BOOLS:
        return _BOOLS[lowered]
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text.strip()[:1] in ("[", "{"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0]
            raise InvalidAnswer(f"cannot parse {text!r}: {first}", "use JSON or YAML flow syntax") from None
    return text


def parse_set(items: tuple[str, ...] | list[str], typed: bool = True) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; with ``typed=False`` values stay text, to be typed by the template's defaults."""
    answers: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidAnswer(f"--set {item!r} is not KEY=VALUE", "write it as --set key=value")
        answers[key.strip()] = parse_value(value) if typed else value
    return answers


def load_answers_file(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidAnswer(f"cannot read answers file {path}: {exc.strerror}", "check the path") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomlfile.loads(text)
        elif suffix in (".yml", ".yaml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidAnswer(f"answers file {path} could not be parsed: {first}", "use JSON, YAML or TOML") from None
    if isinstance(data, dict) and "cookiecutter" in data and isinstance(data["cookiecutter"], dict):
        data = data["cookiecutter"]  # accept cookiecutter replay files
    if not isinstance(data, dict):
        raise InvalidAnswer(f"answers file {path} must hold a mapping of variable names to values",
                            "write it as {\"variable\": value, ...}")
    return data
