"""Sessions for {{ cookiecutter.project_name }}: `nox -s tests lint`.

Every session installs exactly what requirements.lock and requirements-dev.lock say, hash-checked,
through scaffolder's nox helpers (install scaffolder beside nox: `pipx inject nox scaffolder`).
"""

import nox

try:
    from scaffolder.nox import install_locked, venv_backend
except ImportError:  # scaffolder is not installed beside nox: install the same locks with pip
    def venv_backend():
        return "virtualenv"

    def install_locked(session, groups=("dev",)):
        locks = ["requirements.lock", *(f"requirements-{g}.lock" for g in groups)]
        session.install("--require-hashes", "--no-deps", *(arg for lock in locks for arg in ("-r", lock)))
        session.install("--no-deps", "-e", ".")


nox.options.default_venv_backend = venv_backend()
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    install_locked(session, groups=["dev"])
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    install_locked(session, groups=["dev"])
    session.run("ruff", "check", ".")
