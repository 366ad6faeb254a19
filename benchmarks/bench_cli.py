"""scaffolder's start-up and plain rendering, side by side with cookiecutter.

    python benchmarks/bench_cli.py [--runs N]

Targets: `scaffolder --help` <= 0.5x `cookiecutter --help`; rendering within 1.2x of plain `cookiecutter`
on the same template: `scaffolder new NAME -t TEMPLATE --no-input --env none` against
`cookiecutter --no-input TEMPLATE project_name=NAME`, for the built-in minimal template (by name) and the
transformer template (by its directory, as any outside template is given).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import compare, fresh_dir, time_command  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    # cookiecutter of the same environment as scaffolder, else the one on PATH
    cookiecutter = (shutil.which("cookiecutter", path=str(Path(sys.executable).parent)) or shutil.which("cookiecutter")
                    or sys.exit("cookiecutter is not on PATH"))
    scaffolder = [sys.executable, "-m", "scaffolder"]
    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        compare(
            "--help", lambda i: time_command([*scaffolder, "--help"]), lambda i: time_command([cookiecutter, "--help"]),
            runs=args.runs, target=0.5, theirs_name="cookiecutter",
        )

        # The fidelity contract is about rendering, so `new` runs with --no-git against plain cookiecutter; the
        # git step (init + first commit) is then timed against cookiecutter followed by those git commands.
        git_env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
                   "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.org"}

        def render(label: str, scaffolder_template: str, template: Path, git: bool = False) -> None:
            def ours(i: int) -> float:
                out = fresh_dir(work / "ours")
                return time_command([*scaffolder, "new", "bench-proj", "-t", scaffolder_template, "-o", str(out),
                                     "--no-input", "--env", "none", *([] if git else ["--no-git"])], env=git_env)

            def theirs(i: int) -> float:
                out = fresh_dir(work / "theirs")
                took = time_command([cookiecutter, "--no-input", str(template), "-o", str(out),
                                     "project_name=bench-proj"], env=git_env)
                if git:
                    project = out / "bench-proj"
                    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "init"]):
                        took += time_command(argv, cwd=project, env=git_env)
                return took

            compare(label, ours, theirs, runs=args.runs, target=1.2,
                    theirs_name="cookiecutter + git init/add/commit" if git else "cookiecutter")

        render("new -t minimal --no-git", "minimal", REPO / "templates" / "minimal")
        transformer = REPO / "templates" / "transformer"
        render("new -t templates/transformer --no-git", str(transformer), transformer)
        render("new -t templates/transformer (git step)", str(transformer), transformer, git=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
