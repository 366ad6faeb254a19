"""Reading TOML on every Python scaffolder supports: the standard ``tomllib`` from 3.11, ``tomli`` on 3.10.

``tomli`` is the package ``tomllib`` was made from (same API, same errors); pyproject.toml depends on
it for Python < 3.11 only. Every module that reads TOML imports it from here. Writing goes through
tomlkit, which keeps the user's formatting.
"""

import sys

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:
    import tomli as _toml

TOMLDecodeError = _toml.TOMLDecodeError


def loads(text: str) -> dict:
    """Parse TOML text; raises ``TOMLDecodeError`` when it is not valid TOML."""
    return _toml.loads(text)
