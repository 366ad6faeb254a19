"""Where packages come from: the user's pip configuration and UV_* variables, as one ``IndexConfig``.

pip reads pip.conf and PIP_* by itself, but uv ignores pip.conf. Without the same find-links and
extra indexes, uv resolves differently from pip (on some machines it even fetches a multi-GB CUDA
torch instead of a local CPU wheel), so scaffolder reads pip's configuration the way pip does and
hands it to uv as flags, with ``--index-strategy unsafe-best-match`` so uv picks what pip picks.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scaffolder.fsutil import atomic_write_text

# Child processes get these as flags instead, so they are dropped from uv's environment.
_UV_INDEX_VARS = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX", "UV_FIND_LINKS",
                  "UV_NO_INDEX", "UV_CONSTRAINT")
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class IndexConfig:
    index_url: str | None = None  # None: PyPI
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()  # constraint files
    no_index: bool = False
    # What pip and pip-compile are given: pip reads its own configuration, so only scaffolder's [index].
    pip_args: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"index {self.index_url or 'https://pypi.org/simple'}" if not self.no_index else "no index"]
        parts += [f"extra index {u}" for u in self.extra_index_urls]
        parts += [f"find-links {u}" for u in self.find_links]
        return ", ".join(parts)


def pip_config_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """pip's configuration files in the order pip reads them (later ones win); empty when disabled."""
    env = os.environ if environ is None else environ
    env_file = env.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "darwin":
        global_dirs = [Path("/Library/Application Support/pip")]
        user_dirs = [home / "Library/Application Support/pip", home / ".config/pip"]
    else:
        xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        global_dirs = [Path(d) / "pip" for d in xdg_dirs.split(os.pathsep) if d] + [Path("/etc")]
        user_dirs = [Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip"]
    files = [d / "pip.conf" for d in global_dirs]
    if not (env_file and os.path.exists(env_file)):
        files += [home / ".pip" / "pip.conf"] + [d / "pip.conf" for d in user_dirs]
    files.append(Path(sys.prefix) / "pip.conf")
    if env_file:
        files.append(Path(env_file))
    return [f for f in files if f.is_file()]


def pip_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """pip's effective settings for ``pip install``: files, then their [install] sections, then PIP_*."""
    env = os.environ if environ is None else environ
    settings: dict[str, str] = {}
    for path in pip_config_files(env):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue  # pip itself would refuse this file; let pip say so when it runs
        for section in ("global", "install"):
            if parser.has_section(section):
                settings.update({_norm(k): v for k, v in parser.items(section)})
    for key, value in env.items():
        if key.startswith("PIP_") and key != "PIP_CONFIG_FILE":
            settings[_norm(key[4:])] = value
    return settings


def load_index_config(environ: Mapping[str, str] | None = None, team: IndexConfig | None = None) -> IndexConfig:
    """The user's package sources: pip's configuration, UV_* variables on top, then scaffolder's
    [index] (``team``; a command's ``config.Settings.sources`` passes it, and its ``team_sources``)."""
    env = os.environ if environ is None else environ
    team = IndexConfig() if team is None else team
    pip = pip_settings(env)
    index_url = pip.get("index-url") or None
    extra = pip.get("extra-index-url", "").split()
    find_links = pip.get("find-links", "").split()
    constraints = pip.get("constraint", "").split()
    no_index = pip.get("no-index", "").lower() in _TRUE
    index_url = env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL") or index_url
    extra += env.get("UV_EXTRA_INDEX_URL", "").split()
    extra += [item.split("=", 1)[1] if "=" in item and "://" not in item.split("=", 1)[0] else item
              for item in env.get("UV_INDEX", "").split()]
    find_links += env.get("UV_FIND_LINKS", "").replace(",", " ").split()
    constraints += env.get("UV_CONSTRAINT", "").split()
    no_index = no_index or env.get("UV_NO_INDEX", "").lower() in _TRUE
    index_url = team.index_url or index_url
    extra += team.extra_index_urls
    find_links += team.find_links
    return IndexConfig(index_url, _unique(extra), _unique(find_links), _unique(constraints), no_index,
                       tuple(pip_index_args(team)))


def uv_index_args(config: IndexConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Flags that make uv look where pip looks."""
    env = os.environ if environ is None else environ
    args: list[str] = []
    if config.no_index:
        args.append("--no-index")
    elif config.index_url:
        args += ["--index-url", config.index_url]
    for url in config.extra_index_urls:
        args += ["--extra-index-url", url]
    for link in config.find_links:
        args += ["--find-links", link]
    if (config.extra_index_urls or config.find_links) and not env.get("UV_INDEX_STRATEGY"):
        # pip considers every source for every package; uv's default stops at the first index.
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def pip_index_args(team: IndexConfig) -> list[str]:
    """Flags for pip and pip-compile: pip reads its own configuration, so only scaffolder's [index]
    (``config.Settings.team_sources``) is added."""
    args = ["--index-url", team.index_url] if team.index_url else []
    for url in team.extra_index_urls:
        args += ["--extra-index-url", url]
    for link in team.find_links:
        args += ["--find-links", link]
    return args


def uv_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a uv child process: index variables are passed as flags instead."""
    env = dict(os.environ if environ is None else environ)
    for key in _UV_INDEX_VARS:
        env.pop(key, None)
    env.pop("VIRTUAL_ENV", None)  # uv would otherwise act on the caller's activated env
    return env


def unreachable_index(config: IndexConfig, timeout: float = 5.0) -> str | None:
    """The first configured index that cannot be reached at all, if any (used to explain a failure).

    pip reports an index it cannot reach as "no versions found", so a failed resolution is checked
    against this before it is blamed on the requirements.
    """
    import urllib.error
    import urllib.request
    from urllib.parse import urlparse

    urls = [] if config.no_index else [config.index_url or "https://pypi.org/simple/"]
    for url in [*urls, *config.extra_index_urls]:
        if url.startswith("file:"):
            if not Path(urllib.request.url2pathname(urlparse(url).path)).exists():
                return url
            continue
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
        except urllib.error.HTTPError:
            continue  # it answered
        except (urllib.error.URLError, OSError, ValueError):
            return url
    return None


def _norm(key: str) -> str:
    return key.strip().lower().replace("_", "-").lstrip("-")


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def hashed_find_links(config: IndexConfig, cache_root: Path | None = None) -> IndexConfig:
    """``config`` with each local find-links folder replaced by a PEP 503 index over it whose links
    carry ``#sha256=`` (hashes cached by size and mtime), so uv reads a wheel's hash instead of
    hashing the file on every universal lock (a 190 MB torch wheel costs about a second each time)."""
    import hashlib
    import json

    if not config.find_links:
        return config
    if cache_root is None:
        from platformdirs import user_cache_dir

        cache_root = Path(user_cache_dir("scaffolder")) / "find-links"
    kept: list[str] = []
    indexes: list[str] = []
    for link in config.find_links:
        folder = Path(link[len("file://"):] if link.startswith("file://") else link)
        if ("://" in link and not link.startswith("file://")) or not folder.is_dir():
            kept.append(link)
            continue
        folder = folder.resolve()
        root = cache_root / hashlib.sha256(str(folder).encode()).hexdigest()[:16]
        known_file = root / "hashes.json"
        try:
            known = json.loads(known_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        projects: dict[str, list[str]] = {}
        changed = False
        for path in sorted(folder.iterdir()):
            project = _distribution_project(path.name)
            if project is None or not path.is_file():
                continue
            stat = path.stat()
            entry = known.get(path.name)
            if not entry or entry[:2] != [stat.st_size, stat.st_mtime_ns]:
                digest = hashlib.sha256()
                with path.open("rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(block)
                known[path.name] = entry = [stat.st_size, stat.st_mtime_ns, digest.hexdigest()]
                changed = True
            projects.setdefault(project, []).append(f'<a href="{path.as_uri()}#sha256={entry[2]}">{path.name}</a>')
        pages = {f"simple/{p}/index.html": "<!DOCTYPE html><html><body>\n" + "\n".join(a) + "\n</body></html>\n"
                 for p, a in projects.items()}
        pages["simple/index.html"] = "<!DOCTYPE html><html><body>\n" + "".join(
            f'<a href="{p}/">{p}</a>\n' for p in sorted(projects)) + "</body></html>\n"
        for rel, text in pages.items():
            page = root / rel
            if changed or not page.is_file() or page.read_text(encoding="utf-8") != text:
                page.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(page, text)
        if changed:
            atomic_write_text(known_file, json.dumps(known))
        indexes.append((root / "simple").as_uri())
    import dataclasses

    if not indexes:
        return config
    if config.no_index:  # only local sources: the folders' indexes stand in for them, and nothing else
        return dataclasses.replace(config, no_index=False, index_url=indexes[0], extra_index_urls=tuple(indexes[1:]),
                                   find_links=tuple(kept))
    extra = tuple(dict.fromkeys((*config.extra_index_urls, *indexes)))
    return dataclasses.replace(config, extra_index_urls=extra, find_links=tuple(kept))


def _distribution_project(filename: str) -> str | None:
    from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        if filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None
