"""Sessions: a bare `nox` runs lint, typecheck and tests (what runs on a fresh machine); `bench`, `soak` and
`e2e_live` are run by name."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

PYTHON = "3.11"


def _install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and the layer contracts (import-linter)."""
    _install(session)
    session.run("ruff", "check", "src", "apps", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "apps", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and the apps."""
    _install(session)
    session.run("mypy")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, contract, service, storage and app tests, under asyncio and trio. PostgreSQL tests run when
    KIEGEN_TEST_POSTGRES_URL is set (and must, when KIEGEN_REQUIRE_POSTGRES=1)."""
    _install(session)
    session.run("pytest", "-m", "not e2e", *session.posargs, env={"PYTHONFAULTHANDLER": "1"})


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; figures are printed as ratios against a baseline run side by side (nothing asserted)."""
    _install(session)
    jobs = os.environ.get("KIEGEN_BENCH_JOBS", "1000000")
    session.run("python", "benchmarks/bench_store.py", "--jobs", jobs, *session.posargs)


@nox.session(python=PYTHON)
def e2e_live(session: nox.Session) -> None:
    """The four free models against the live KIE API (needs KIE_API_KEY; spends credits)."""
    _install(session)
    session.run("pytest", "-m", "e2e", "tests/kie/test_live.py", env={"RUN_E2E": "1"})
