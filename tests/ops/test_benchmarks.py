"""The benchmarks still run, at toy sizes: a change to the schema or an API the benchmarks use breaks a test here
rather than the next `nox -s bench`. Nothing about their figures is checked (speed is measured, never asserted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.ops.procs import ROOT

pytestmark = pytest.mark.slow


def bench(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def engines() -> str:
    return "sqlite,postgres" if os.environ.get("KIEGEN_TEST_POSTGRES_URL") else "sqlite"


def test_the_store_benchmark_runs() -> None:
    out = bench("bench_store.py", "--jobs", "3000", "--queries", "20", "--writes", "64", "--engines", engines())
    assert out.count("get_by_task") == 2 * len(engines().split(","))  # asyncio and trio, per engine
    assert "group commit" in out


def test_the_waiters_benchmark_runs() -> None:
    out = bench("bench_waiters.py", "--waiters", "50")
    assert "asyncio" in out and "trio" in out and "a waiter" in out


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (nox -s bench installs it)")
def test_the_http_benchmark_runs() -> None:
    out = bench("bench_http.py", "--engines", "sqlite", "--duration", "1", "--pipeline", "5", "--max-rate", "300")
    assert "callbacks, first copy (applied)" in out and "delivered 5/5" in out
