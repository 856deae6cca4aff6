"""Slow clients and floods against the service as it runs (``python -m kiegen.apps.http``, uvicorn, SQLite) over
real sockets on loopback: slowloris heads and drip-fed bodies are cut off at their deadlines, connections past
the cap are refused at once, and hint and forged-callback floods cost a bounded number of KIE calls and log
lines. Figures are printed as ``RELIABILITY attack ...`` lines (``-s`` to see them); docs/RELIABILITY.md
quotes them ("Attacks tried")."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import anyio.abc
import httpx
import pytest

from kiegen.adapters.system import SystemClock
from kiegen.simulator.engine import SimulatedKie, SimulatorConfig
from tests.http.servers import API_KEY, AppProcess, app_env, free_port, simulator

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

SLOWLORIS = 1000
MAX_CONNECTIONS = 500
HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
BOUND_S = 20.0
"""How long the test waits for the server to let go of a connection (on the old code: never)."""


@pytest.fixture(params=["asyncio"], ids=["asyncio (the servers are uvicorn)"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def figures(**values: object) -> None:
    print("\nRELIABILITY attack " + " ".join(f"{k}={v}" for k, v in values.items()))


async def _slowloris(port: int, opened: list[float], answers: list[tuple[bytes, float]]) -> None:
    """One connection that sends a request head a header line at a time, 0.5 s apart, until the server ends it."""
    started = time.monotonic()
    try:
        stream = await anyio.connect_tcp("127.0.0.1", port)
    except OSError:
        answers.append((b"connect refused", 0.0))
        return
    opened.append(started)
    async with stream:
        await stream.send(b"POST /callbacks/kie HTTP/1.1\r\nHost: kiegen\r\n")
        answer = b""
        with anyio.move_on_after(BOUND_S):
            while True:
                with anyio.move_on_after(0.5):
                    try:
                        answer = await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        answer = answer or b"closed"
                    break
                try:
                    await stream.send(b"X-Slow: 1\r\n")
                except (anyio.BrokenResourceError, OSError):
                    answer = b"closed"
                    break
        answers.append((answer.split(b"\r\n", 1)[0] if answer else b"still open", time.monotonic() - started))


async def _drip_body(port: int, answers: list[tuple[bytes, float]]) -> None:
    """A complete head for a 100-byte JSON body, then one byte every 0.5 s."""
    started = time.monotonic()
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        head = (
            f"POST /v1/generations HTTP/1.1\r\nHost: kiegen\r\nAuthorization: Bearer {API_KEY}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        await stream.send(head.encode())
        answer = b""
        with anyio.move_on_after(BOUND_S):
            while not answer:
                with anyio.move_on_after(0.5):
                    try:
                        answer = await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        answer = b"closed"
                if not answer:
                    try:
                        await stream.send(b" ")
                    except (anyio.BrokenResourceError, OSError):
                        answer = b"closed"
        answers.append((answer.split(b"\r\n", 1)[0] if answer else b"still open", time.monotonic() - started))


def _jobs(metrics: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("kiegen_jobs{"))


def _count(log: Path, *needles: str) -> int:
    return sum(1 for line in log.read_text().splitlines() if all(n in line for n in needles))


async def test_slow_clients_and_floods_are_bounded(tmp_path: Path) -> None:
    kie = SimulatedKie(SystemClock(), SimulatorConfig(delay_s=120.0))  # tasks stay running for the whole test
    port = free_port()
    log = tmp_path / "app.log"
    env = app_env(
        port=port,
        kie_url="",
        database_url=f"sqlite:///{tmp_path / 'attacks.db'}",
        log_level="INFO",
        KIEGEN_HTTP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        KIEGEN_HTTP_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        KIEGEN_HTTP_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        KIEGEN_WORKER_INTERVAL_S="0.1",
    )
    auth = {"Authorization": f"Bearer {API_KEY}"}
    checks: dict[str, bool] = {}
    with simulator(kie) as kie_url:
        env["KIEGEN_KIE_BASE_URL"] = env["KIEGEN_KIE_UPLOAD_URL"] = kie_url
        app = AppProcess(env, cwd=tmp_path, log=log, port=port)
        app.start()
        try:
            # 1. Slowloris: 1000 connections feeding a request head line by line.
            opened: list[float] = []
            answers: list[tuple[bytes, float]] = []
            served_after = -1.0
            async with anyio.create_task_group() as tg:
                for _ in range(SLOWLORIS):
                    tg.start_soon(_slowloris, port, opened, answers)
                await anyio.sleep(0.5)
                flood_started = time.monotonic()
                async with httpx.AsyncClient(base_url=app.url, timeout=5) as http:
                    with anyio.move_on_after(BOUND_S):
                        while served_after < 0:
                            try:
                                if (await http.get("/healthz")).status_code == 200:
                                    served_after = time.monotonic() - flood_started
                            except httpx.HTTPError:
                                pass
                            await anyio.sleep(0.1)
            kinds = {kind: sum(1 for k, _ in answers if k == kind) for kind in {k for k, _ in answers}}
            held = max((t for k, t in answers if k.startswith(b"HTTP/1.1 408")), default=0.0)
            figures(
                slowloris=SLOWLORIS,
                max_connections=MAX_CONNECTIONS,
                header_timeout_s=HEADER_TIMEOUT_S,
                refused_503=kinds.get(b"HTTP/1.1 503 Service Unavailable", 0),
                cut_off_408=kinds.get(b"HTTP/1.1 408 Request Timeout", 0),
                still_open_after_bound=kinds.get(b"still open", 0),
                longest_held_s=round(held, 1),
                healthz_served_after_s=round(served_after, 1),
            )
            checks["slowloris: every connection let go"] = len(answers) == SLOWLORIS and not kinds.get(b"still open")
            checks["slowloris: heads cut off (408)"] = kinds.get(b"HTTP/1.1 408 Request Timeout", 0) >= 1
            refused = kinds.get(b"HTTP/1.1 503 Service Unavailable", 0)
            checks["slowloris: past the cap refused (503)"] = refused >= SLOWLORIS - MAX_CONNECTIONS - 10
            checks["slowloris: a normal request served"] = served_after >= 0

            # 2. Bodies fed a byte at a time: cut off at the body deadline, nothing stored.
            drips: list[tuple[bytes, float]] = []
            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(_drip_body, port, drips)
            async with httpx.AsyncClient(base_url=app.url, timeout=10) as http:
                metrics = (await http.get("/metrics")).text
            figures(
                drip_bodies=50,
                cut_off_408=sum(1 for k, _ in drips if k.startswith(b"HTTP/1.1 408")),
                longest_held_s=round(max(t for _, t in drips), 1),
                jobs_stored=_jobs(metrics),
            )
            checks["drip: every body cut off (408)"] = all(k.startswith(b"HTTP/1.1 408") for k, _ in drips)
            checks["drip: nothing stored"] = _jobs(metrics) == 0

            async with httpx.AsyncClient(base_url=app.url, timeout=30) as http:
                # 3. 312 hints for one running task, from one source.
                job = (
                    await http.post(
                        "/v1/generations", json={"model": "z-image", "input": {"prompt": "x"}}, headers=auth
                    )
                ).json()
                await anyio.sleep(0.5)
                job = (await http.get(f"/v1/generations/{job['id']}", headers=auth)).json()
                before = kie.calls["get_task"]
                hint = json.dumps({"code": 200, "data": {"taskId": job["task_id"], "state": "success"}}).encode()
                hinted = [(await http.post("/callbacks/kie", content=hint)).status_code for _ in range(312)]
                await anyio.sleep(3.0)  # thirty poller rounds
                calls = kie.calls["get_task"] - before
                figures(
                    hints=312, answered_202=hinted.count(202), answered_429=hinted.count(429), record_info_calls=calls
                )
                # One check asked for by the first hint; the others are the poller's own backoff after that check
                # (about 2 s, then 4 s), which any running job gets: on the old code, 63 calls.
                checks["hints: at most 3 recordInfo calls"] = calls <= 3
                checks["hints: refused past the budget (429)"] = hinted.count(429) >= 280

                # 4. 2000 forged callbacks: log lines.
                lines_before = log.read_text().count("\n")
                forged = [
                    (await http.post(f"/callbacks/kie/{job['id']}?token=forged-{n}", content=b"{}")).status_code
                    for n in range(2000)
                ]
                await anyio.sleep(0.5)
                added = log.read_text().count("\n") - lines_before
                figures(
                    forged=2000,
                    answered_403=forged.count(403),
                    answered_429=forged.count(429),
                    log_lines_written=added,
                    warning_lines=_count(log, '"level": "WARNING"', "refused"),
                )
                checks["forged: at most 30 log lines"] = added <= 30
        finally:
            app.stop()
    assert [name for name, held in checks.items() if not held] == []
