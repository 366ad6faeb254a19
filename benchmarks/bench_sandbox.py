"""Rendering in Jinja's sandbox vs unsandboxed, on the built-in transformer template (issue 12).

Both sides call ``scaffolder.templates.sources`` directly with the same answers, in one process, alternately:
fetch, build the context (cookiecutter.json rendered) and render every file, with ``trusted=False``
(sandboxed, what an outside template gets) and ``trusted=True`` (unsandboxed). Checks that both trees are
identical, then prints medians and the ratio (target <= 1.1x).

    python benchmarks/bench_sandbox.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _timing import compare, fresh_dir

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scaffolder.templates import rendering  # noqa: E402
from scaffolder.templates import sources as tpl  # noqa: E402

ANSWERS = {"project_name": "bench-app"}


def render_once(out: Path, trusted: bool) -> tuple[float, Path]:
    """One full render into ``out``: (seconds, project directory)."""
    start = time.perf_counter()
    source = tpl.resolve("transformer")
    fetched = tpl.fetch(source, out / "scratch")
    try:
        context = rendering.build_context(fetched, {}, True, dict(ANSWERS), trusted=trusted)
        render_dir = out / "render"
        render_dir.mkdir()
        project = rendering.render(fetched, context["cookiecutter"], render_dir, accept_hooks=False, trusted=trusted,
                             asked=context["_cookiecutter"], final_output_dir=out, template_arg="transformer")
    finally:
        fetched.cleanup()
    return time.perf_counter() - start, project


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        work = Path(tmp)
        _, sandboxed = render_once(fresh_dir(work / "check-sandboxed"), trusted=False)  # warm-up, and
        _, plain = render_once(fresh_dir(work / "check-plain"), trusted=True)  # the same files both ways
        files = tree(sandboxed)
        if files != tree(plain):
            sys.exit("sandboxed and unsandboxed renders differ")
        print(f"transformer template: {len(files)} files, identical sandboxed and unsandboxed", flush=True)

        def sandboxed_run(i: int) -> float:
            return render_once(fresh_dir(work / f"sandboxed{i}"), trusted=False)[0]

        def plain_run(i: int) -> float:
            return render_once(fresh_dir(work / f"plain{i}"), trusted=True)[0]

        compare("render transformer (fetch + context + files)", sandboxed_run, plain_run, runs=args.runs,
                target=1.1, ours_name="sandboxed", theirs_name="unsandboxed")


if __name__ == "__main__":
    main()
