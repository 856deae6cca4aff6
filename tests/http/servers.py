"""Real sockets for the end-to-end test and the benchmark: the app as a subprocess (``python -m kiegen.apps.http``), the
KIE simulator and a webhook receiver served by uvicorn in threads of this process."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from kiegen.adapters.system import SystemClock
from kiegen.simulator.app import SimulatorApp, httpx_callback_sink, running_in_thread
from kiegen.simulator.engine import SimulatedKie, SimulatorConfig

ROOT = Path(__file__).resolve().parents[2]
KIE_KEY = "kie-e2e-key-" + "5f0c9a7e31d24b86"
API_KEY = "api-e2e-key-" + "8e2d41c7b9a0f653"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"e2e webhook secret, 32 bytes!!!!").decode()
CALLBACK_SECRET = "callback-e2e-secret-" + "a41f9d0c7e2b5368"

Scope = dict[str, Any]


def subprocess_env(**settings: str) -> dict[str, str]:
    """This process's environment without the developer's own kiegen, KIE or Telegram settings, with the
    repository on PYTHONPATH (for ``python -m apps...``), plus ``settings``."""
    own = ("KIEGEN_", "KIE_", "TELEGRAM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**env, **settings}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RandomDelayKie(SimulatedKie):
    """The simulator with a random task duration in [low, high] seconds, and the wall time each callback
    was answered by the app, per task (for the callback-to-webhook delay)."""

    def __init__(self, low: float, high: float, config: SimulatorConfig, seed: int = 1) -> None:
        self.answered: dict[str, float] = {}
        self._http = httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=200))
        sink = httpx_callback_sink(self._http)

        async def timed_sink(url: str, body: bytes) -> int:
            status = await sink(url, body)
            task_id = json.loads(body).get("data", {}).get("taskId")
            if task_id and task_id not in self.answered:
                self.answered[task_id] = time.monotonic()
            return status

        super().__init__(SystemClock(), config, callback_sink=timed_sink)
        self.low, self.high = low, high
        self._delays = random.Random(seed)

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            await self._http.aclose()  # its pooled sockets, on the loop that opened them

    async def create_task(self, model: str, inputs: Mapping[str, Any], *, callback_url: str | None) -> str:
        self.configure(delay_s=self._delays.uniform(self.low, self.high))
        return await super().create_task(model, inputs, callback_url=callback_url)


@contextlib.contextmanager
def simulator(kie: SimulatedKie) -> Iterator[str]:
    """Serve ``kie`` (run by the app's lifespan, so that it sends callbacks) on a free port."""
    with running_in_thread(SimulatorApp(kie, api_key=KIE_KEY, own_engine=True)) as url:
        yield url


class WebhookReceiver:
    """An ASGI webhook endpoint: verifies each signature, counts deliveries per ``webhook-id``, keeps the
    payloads and the wall time of the first delivery of each job."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.verifier = Webhook(WEBHOOK_SECRET)
        self.counts: Counter[str] = Counter()
        self.payloads: dict[str, dict[str, Any]] = {}
        self.first_seen: dict[str, float] = {}
        self.bad_signatures = 0
        self.cut_off = 0
        """Requests whose sender went away before the body was complete."""
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the sender died mid-request (a SIGKILLed app): no webhook
                with self._lock:
                    self.cut_off += 1
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        now = time.monotonic()
        try:
            payload = self.verifier.verify(body, headers)
        except WebhookVerificationError:
            with self._lock:
                self.bad_signatures += 1
            status = 400
        else:
            job_id = payload["data"]["id"]
            with self._lock:
                self.counts[job_id] += 1
                self.payloads[job_id] = payload
                self.first_seen.setdefault(job_id, now)
            status = self.status
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    def delivered(self, job_ids: list[str]) -> int:
        with self._lock:
            return sum(1 for j in job_ids if self.counts[j] > 0)

    def duplicates(self, job_ids: list[str]) -> int:
        with self._lock:
            return sum(max(0, self.counts[j] - 1) for j in job_ids)


class AppProcess:
    """``python -m kiegen.apps.http`` in a subprocess; its stderr (JSON log lines) is appended to ``log``."""

    def __init__(self, env: Mapping[str, str], *, cwd: Path, log: Path, port: int) -> None:
        self.env = subprocess_env(**env)
        self.cwd = cwd
        self.log = log
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.command = [sys.executable, "-m", "kiegen.apps.http"]

    def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with {self.process.returncode}; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"the app did not become ready; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; leases and the inbox are all that is left."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM: the graceful shutdown. Returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def app_env(*, port: int, kie_url: str, database_url: str, log_level: str = "DEBUG", **extra: str) -> dict[str, str]:
    env = {
        "KIE_API_KEY": KIE_KEY,
        "KIEGEN_KIE_BASE_URL": kie_url,
        "KIEGEN_KIE_UPLOAD_URL": kie_url,
        "KIEGEN_DATABASE_URL": database_url,
        "KIEGEN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "KIEGEN_HOST": "127.0.0.1",
        "KIEGEN_PORT": str(port),
        "KIEGEN_API_KEYS": API_KEY,
        "KIEGEN_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "KIEGEN_CALLBACK_SECRET": CALLBACK_SECRET,
        "KIEGEN_ALLOW_PRIVATE_URLS": "1",
        "KIEGEN_LOG_LEVEL": log_level,
        "KIEGEN_KIE_RATE_LIMIT": "100000/1",  # the simulator has no account limit
    }
    env.update(extra)
    return env


async def submit_many(
    http: httpx.AsyncClient, count: int, webhook_url: str | None, *, concurrency: int = 32, model: str = "z-image"
) -> list[str]:
    """POST ``count`` generations (at most ``concurrency`` at once); returns their ids in order. Each carries an
    ``Idempotency-Key``, so a request that failed on the wire is simply sent again."""
    import uuid

    import anyio

    ids: list[str] = [""] * count
    limiter = anyio.CapacityLimiter(concurrency)
    run = uuid.uuid4().hex[:8]

    async def one(n: int) -> None:
        body: dict[str, Any] = {"model": model, "input": {"prompt": f"fox {n}"}}
        if webhook_url:
            body["webhook_url"] = webhook_url
        headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": f"{run}-{n}"}
        async with limiter:
            for attempt in range(5):
                try:
                    response = await http.post("/v1/generations", json=body, headers=headers)
                    response.raise_for_status()
                except httpx.TransportError:
                    if attempt == 4:
                        raise
                    await anyio.sleep(0.5)
                else:
                    ids[n] = response.json()["id"]
                    return

    async with anyio.create_task_group() as tg:
        for n in range(count):
            tg.start_soon(one, n)
    return ids
