"""Package hygiene: the public surface, optional dependencies staying optional, and runnable examples."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

import kiegen

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


@pytest.mark.parametrize("example", ["generate_asyncio.py", "generate_trio.py"])
def test_the_examples_run_offline(example: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), "a test picture"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("succeeded https://")
