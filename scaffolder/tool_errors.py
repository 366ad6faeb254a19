"""Turn the many-line output of a failed uv / pip / pip-compile run into one line and a fix."""

from __future__ import annotations

import re

INDEX_HINT = "check your network and index settings (pip.conf, PIP_INDEX_URL, PIP_FIND_LINKS, UV_INDEX_URL)"
# Messages that an unreachable index can cause too.
NOT_FOUND_PREFIXES = ("no package named", "no version of")
_MAX = 300


def summarize(output: str) -> tuple[str, str | None]:
    text = output.replace("`", "")
    for matcher in (_hash_mismatch, _unreachable, _not_found, _no_version, _conflict, _build_failed):
        found = matcher(text)
        if found:
            return _clip(found[0]), found[1]
    return _clip(_last_error_line(text)), None


def _hash_mismatch(text: str):
    match = re.search(r"Hash mismatch for (\S+)", text)
    if not match and "DO NOT MATCH THE HASHES" in text:
        match = re.search(r"^\s+(\S+==\S+) from ", text, re.MULTILINE)
    if match or "DO NOT MATCH THE HASHES" in text:
        what = match.group(1) if match else "a package"
        return (f"hash mismatch for {what}: the file differs from the one the lock was made from",
                "if the lock was edited, run 'scaffolder lock'; otherwise the index now serves another file")
    return None


def _unreachable(text: str):
    network = re.search(r"Connection refused|Failed to establish a new connection|NewConnectionError|dns error"
                        r"|Name or service not known|Temporary failure in name resolution|timed out|"
                        r"tcp connect error|Network is unreachable", text)
    if not network:
        return None
    url = re.search(r"Failed to fetch: (\S+)", text) or re.search(r"Could not fetch URL (\S+?):", text) \
        or re.search(r"for url \((\S+?)\)", text)
    where = _index_root(url.group(1)) if url else "the package index"
    return f"cannot reach {where}", INDEX_HINT


def _not_found(text: str):
    match = re.search(r"Because (\S+) was not found in the (?:package registry|provided package locations)", text)
    if match:
        return f"no package named {match.group(1)} on the configured indexes", "check the name, or add its index"
    match = re.search(r"Could not find a version that satisfies the requirement (\S+) \(from versions: none\)", text)
    if match:
        return f"no package named {match.group(1)} on the configured indexes", "check the name, or add its index"
    return None


def _no_version(text: str):
    match = re.search(r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)",
                      text)
    if match:
        return (f"no version of {match.group(1)} is available (found: {match.group(2)})",
                "loosen the pin in your dependencies")
    match = re.search(r"there is no version of (\S+?)(?: and|,|$)", text, re.MULTILINE)
    if match:
        return f"no version of {match.group(1)} is available", "loosen the pin in your dependencies"
    return None


def _conflict(text: str):
    if "No solution found" in text:
        causes = re.findall(r"cause: (.*(?:\n {9}.*)*)", text)
        detail = " ".join(" ".join(causes).split()) if causes else "the requirements conflict"
        return f"dependencies cannot be satisfied together: {detail}", "relax the conflicting pins"
    if "ResolutionImpossible" in text:
        reqs = list(dict.fromkeys(re.findall(r"SpecifierRequirement\('([^']+)'\)", text)))
        detail = ", ".join(reqs) if reqs else "conflicting requirements"
        return f"dependencies cannot be satisfied together: {detail}", "relax the conflicting pins"
    return None


def _build_failed(text: str):
    match = (re.search(r"Failed building wheel for (\S+)", text)
             or re.search(r"Failed to build installable wheels.*?(?:\(|╰─>\s*)([\w.-]+)", text, re.DOTALL)
             or re.search(r"Failed to build (\S+)", text))
    if match:
        return (f"could not build {match.group(1).rstrip(':')} from source",
                "pin a version that ships a wheel, or install what its build needs")
    return None


def _last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for prefix in ("error:", "ERROR:"):
        hits = [line for line in lines if line.startswith(prefix)]
        if hits:
            causes = [line for line in lines if line.startswith("cause:")]
            tail = f" ({causes[-1][6:].strip()})" if causes else ""
            return hits[-1].split(":", 1)[1].strip() + tail
    return lines[-1] if lines else "it failed without saying why"


def _index_root(url: str) -> str:
    url = url.rstrip(".:,")
    match = re.match(r"(.*?/simple)/", url)
    return match.group(1) if match else url


def _clip(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _MAX else message[: _MAX - 3] + "..."
