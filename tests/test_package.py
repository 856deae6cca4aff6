"""Package hygiene: the public surface, optional dependencies staying optional, and runnable examples."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import types
from pathlib import Path

import pytest

import kiegen
from tests.conftest import throwaway_database

ROOT = Path(__file__).resolve().parents[1]


def test_the_public_all_names_every_public_attribute_and_nothing_else() -> None:
    public = {
        name
        for name, value in vars(kiegen).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(kiegen.__all__) == sorted(public)
    for name in kiegen.__all__:
        assert getattr(kiegen, name) is not None


@pytest.mark.parametrize("module", ["aiogram", "starlette", "asyncpg", "uvicorn"])
def test_importing_kiegen_does_not_import_optional_dependencies(module: str) -> None:
    code = f"import kiegen, kiegen.cli, kiegen.bootstrap, sys; print({module!r} in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _run_example(example: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), "a test picture"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **env},
    )


@pytest.mark.parametrize("example", ["generate_asyncio.py", "generate_trio.py"])
def test_the_examples_run_offline(example: str, tmp_path: Path) -> None:
    done = _run_example(example, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("succeeded https://")


def test_the_trio_example_keeps_its_job_in_the_sqlite_file(tmp_path: Path) -> None:
    done = _run_example("generate_trio.py", tmp_path)
    assert done.returncode == 0, done.stderr
    job_id = done.stderr.split("submitted ", 1)[1].split()[0]
    with sqlite3.connect(tmp_path / "kiegen.db") as db:
        assert db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchall() == [("succeeded",)]


@pytest.mark.postgres
def test_the_trio_example_runs_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    with throwaway_database(postgres_url) as url:
        done = _run_example("generate_trio.py", tmp_path, KIEGEN_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("succeeded https://")
