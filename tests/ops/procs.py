"""Processes as an operator runs them: a command in its own working directory and a clean environment, its
output kept in a log file, stopped with SIGTERM (what systemd sends) and its exit code returned."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[2]

_OWN = ("KIEGEN_", "KIE_", "TELEGRAM_")
_PYTHON = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without the developer's kiegen, KIE and Telegram settings and without any
    Python path or virtualenv of the test run (an installed command must find its own), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN) and k not in _PYTHON}
    return {**env, **settings}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A long-running command (``kiegen serve``, ``kiegen bot``, nginx) started in ``cwd`` with ``env``."""

    def __init__(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path) -> None:
        self.command = list(command)
        self.cwd, self.env, self.log = cwd, dict(env), log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _check_running(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.command[0]} exited with {self.process.returncode}:\n{self.output()}")

    def wait_http(self, url: str, *, status: int = 200, timeout: float = 60.0) -> httpx.Response:
        """Poll ``url`` over a socket until it answers ``status`` (fail at once if the process exits)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            self._check_running()
            try:
                response = httpx.get(url, timeout=2)
                if response.status_code == status:
                    return response
                last = response.status_code
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"{url} did not answer {status} in {timeout} s (last: {last!r}):\n{self.output()}")

    def wait_until(self, done: Callable[[], bool], *, what: str, timeout: float = 60.0) -> None:
        """Block until ``done()`` (for work that happens in other threads or processes)."""
        deadline = time.monotonic() + timeout
        while not done():
            self._check_running()
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen in {timeout} s:\n{self.output()}")
            time.sleep(0.1)

    async def wait_for(self, done: Callable[[], bool], *, what: str, timeout: float = 60.0) -> None:
        """Wait on the event loop (a server of the test may run on it) until ``done()``."""
        with anyio.move_on_after(timeout):
            while not done():
                self._check_running()
                await anyio.sleep(0.1)
            return
        raise AssertionError(f"{what} did not happen in {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as systemd stops a unit; the exit code (SIGKILL after ``timeout``: a failure to stop)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise AssertionError(f"{self.command[0]} ignored SIGTERM for {timeout} s:\n{self.output()}") from None
        return self.process.returncode

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(AssertionError):
                self.stop()
