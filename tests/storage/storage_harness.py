"""Helpers for the storage tests: databases to test against, and running actor processes side by side."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy.ext.asyncio import AsyncEngine

from kiegen.adapters.sqlalchemy.engine import create_engine

ACTOR = Path(__file__).with_name("actor.py")


@attrs.frozen
class Db:
    kind: str
    url: str
    schema: str | None = None

    def engine(self) -> AsyncEngine:
        return create_engine(self.url, schema=self.schema)

    def actor_args(self) -> list[str]:
        return ["--schema", self.schema] if self.schema else []


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def run_together(db: Db, commands: list[list[str]], *, timeout_s: float = 150) -> list[dict[str, Any]]:
    """Start one actor process per command, release them at once when all are ready, return their reports."""
    env = {**os.environ, "KIEGEN_DATABASE_URL": db.url}
    procs = [
        subprocess.Popen(
            [sys.executable, str(ACTOR), *command, *db.actor_args()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for command in commands
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                _, err = proc.communicate(timeout=timeout_s)
                raise AssertionError(f"actor did not start: {line!r}\n{err}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=timeout_s)
            assert proc.returncode == 0, f"actor failed ({proc.returncode}):\n{err}"
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None and not pipe.closed:
                    pipe.close()
            proc.wait()
