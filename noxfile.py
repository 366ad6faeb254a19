"""Sessions for developing scaffolder: `nox -s tests lint`, plus `docs` and `bench`."""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite (real envs, locks, kernels and tiny training runs)."""
    session.install("-e", ".[conda,test]")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "scaffolder", "tests", "benchmarks", "scripts", "noxfile.py")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs site in strict mode (broken links and missing pages fail)."""
    session.install("mkdocs>=1.5")
    session.run("mkdocs", "build", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    """Side-by-side benchmarks against what a user would type instead; prints ratios."""
    session.install("-e", ".[conda,test]", "cookiecutter")
    for script in sorted(__import__("pathlib").Path("benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
