"""Sessions: a bare `nox` runs lint, typecheck, tests and reliability (what runs on a fresh machine, and in CI);
`bench`, `soak` and `e2e_live` are run by name."""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "reliability"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

# None: the sessions use the Python that runs nox (any 3.11+), so that `nox` runs the suite on Debian 12
# (3.11), Ubuntu 24.04 (3.12) and macOS alike instead of skipping sessions whose pinned interpreter is missing.
PYTHON: str | None = None
LOCK = "requirements/dev.txt"
"""Every third-party package the sessions use, pinned with hashes (see requirements/README.md)."""


def _install(session: nox.Session) -> None:
    """The locked packages exactly (pip refuses any file whose hash is not in the lock), then kiegen itself
    without resolving anything again."""
    session.install("--require-hashes", "--no-deps", "-r", LOCK)
    session.install("--no-deps", "-e", ".")


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


def _debian(session: nox.Session, command: str, package: str) -> None:
    """Install Debian's ``package`` when ``command`` is missing and apt-get can run (root); elsewhere leave it
    to the caller, which says what is missing."""
    if shutil.which(command) or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", package, external=True, env=env)


def _chromium(session: nox.Session) -> None:
    """The console's browser tests drive Debian's Chromium through Playwright (installed with the dev extra; it
    never downloads a browser of its own). Where they must run (CI, KIEGEN_REQUIRE_BROWSER=1), install it as
    .ci/run does; elsewhere they skip without it."""
    if os.environ.get("CI", "").lower() == "true" or os.environ.get("KIEGEN_REQUIRE_BROWSER") == "1":
        _debian(session, "chromium", "chromium")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, contract, service, storage and app tests, under asyncio and trio, and the console in headless
    Chromium (tests/console/test_browser.py, about 30 s). PostgreSQL tests run when KIEGEN_TEST_POSTGRES_URL is
    set (and must, when KIEGEN_REQUIRE_POSTGRES=1)."""
    _install(session)
    _chromium(session)
    # Coverage of the package, the processes the tests start included (pyproject's [tool.coverage]); the
    # figure is printed, not enforced. Its data files go to .nox/, so that a run leaves nothing in the tree.
    env = {"PYTHONFAULTHANDLER": "1", "COVERAGE_FILE": os.path.abspath(".nox/.coverage")}
    session.run("coverage", "erase", env=env)
    pytest = ["pytest", "-m", "not e2e", "--ignore=tests/reliability", *session.posargs]
    session.run("coverage", "run", "-m", *pytest, env=env)
    session.run("coverage", "combine", "-q", env=env)
    session.run("coverage", "report", "--sort=cover", env=env)


@nox.session(python=PYTHON)
def packaging(session: nox.Session) -> None:
    """The wheel and the README's Quickstart as a user gets them (also part of `tests`): built, installed
    non-editable into fresh venvs, `kiegen serve` and `kiegen bot` run from outside the repository."""
    _install(session)
    session.run("pytest", "-m", "packaging", "tests/ops", *session.posargs)


@nox.session(python=PYTHON)
def reliability(session: nox.Session) -> None:
    """Crash points with SIGKILL, the jobs-and-ledger state machine, callback storms, hostile bodies (CI-sized);
    prints the figures that docs/RELIABILITY.md quotes."""
    _install(session)
    session.run(
        "pytest",
        "tests/reliability",
        "-m",
        "not e2e",
        "--durations=10",
        *session.posargs,
        env={"PYTHONFAULTHANDLER": "1", "KIEGEN_RELIABILITY_FIGURES": "reliability-figures.txt"},
    )


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """The long version of `reliability`: more jobs, more kills, more examples (run by hand; tens of minutes)."""
    _install(session)
    session.run(
        "pytest",
        "tests/reliability",
        "-m",
        "not e2e",
        *session.posargs,
        env={"KIEGEN_SOAK": "1", "PYTHONFAULTHANDLER": "1", "KIEGEN_RELIABILITY_FIGURES": "soak-figures.txt"},
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; figures are printed as ratios against a baseline run side by side (nothing asserted)."""
    _install(session)
    _debian(session, "wrk", "wrk")  # the HTTP benchmark's load generator (never an httpx client)
    if not shutil.which("wrk"):
        session.error("wrk is not on PATH: install it (Debian: apt-get install wrk; macOS: brew install wrk)")
    jobs = os.environ.get("KIEGEN_BENCH_JOBS", "1000000")
    session.run("python", "benchmarks/bench_store.py", "--jobs", jobs, *session.posargs)
    session.run("python", "benchmarks/bench_http.py")
    session.run("python", "benchmarks/bench_waiters.py")


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Resolve requirements/dev.txt again from pyproject.toml, keeping the pins that still fit; pass
    `-- --upgrade` (or `-- --upgrade-package NAME`) to take newer releases. Run by name; commit the result."""
    session.install("uv>=0.9")
    session.run(
        "uv",
        "pip",
        "compile",
        "pyproject.toml",
        "--extra",
        "dev",
        "--universal",
        "--python-version",
        "3.11",  # the oldest Python kiegen supports; --universal adds the markers for newer ones
        "--generate-hashes",
        "--output-file",
        LOCK,
        *session.posargs,
    )


@nox.session(python=PYTHON)
def e2e_live(session: nox.Session) -> None:
    """The four free models against the live KIE API (needs KIE_API_KEY; spends credits)."""
    _install(session)
    session.run("pytest", "-m", "e2e", "tests/kie/test_live.py", env={"RUN_E2E": "1"})
