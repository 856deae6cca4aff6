"""End to end over real sockets: ``python -m kiegen.apps.http`` (uvicorn, SQLite) in a subprocess, the KIE simulator
on another port calling back over loopback, a webhook receiver verifying signatures. Then: every generation
delivered exactly once; duplicate callback storms bring one webhook; forged callbacks change nothing; the app
SIGKILLed while callbacks arrive and restarted loses nothing; and its DEBUG log holds no secret.

Figures are printed (run with ``-s`` to see them). The test runs once, under asyncio: its servers are uvicorn
(asyncio-only) in threads and in a subprocess, so a trio run would test nothing more.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import anyio
import httpx
import pytest

from kiegen.core.callbacks import callback_token
from kiegen.simulator.app import running_in_thread
from kiegen.simulator.engine import CallbackMode, SimulatorConfig
from tests.http.servers import (
    API_KEY,
    CALLBACK_SECRET,
    KIE_KEY,
    WEBHOOK_SECRET,
    AppProcess,
    RandomDelayKie,
    WebhookReceiver,
    app_env,
    free_port,
    simulator,
    submit_many,
)

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

EVIL = "https://evil.example.net/stolen.png"
STORM_JOBS = 20  # x 50 copies: 1,000 callbacks, sent copy after copy per job as KIE would


@pytest.fixture(params=["asyncio"], ids=["asyncio (uvicorn is asyncio-only)"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return -1.0


def text_after(log: Path, needle: str) -> bool:
    return needle in log.read_text()


async def _until_delivered(receiver: WebhookReceiver, ids: list[str], timeout: float) -> None:
    with anyio.move_on_after(timeout):
        while receiver.delivered(ids) < len(ids):  # noqa: ASYNC110 - the receiver lives in another thread
            await anyio.sleep(0.05)


def _forged(task_id: str | None) -> bytes:
    data = {"taskId": task_id, "state": "success", "resultJson": json.dumps({"resultUrls": [EVIL]})}
    return json.dumps({"code": 200, "msg": "success", "data": data}).encode()


async def test_the_service_end_to_end_over_real_sockets(tmp_path: Path) -> None:
    kie = RandomDelayKie(0.2, 0.8, SimulatorConfig())
    receiver = WebhookReceiver()
    port = free_port()
    log = tmp_path / "app.log"
    env = app_env(
        port=port,
        kie_url="",
        database_url=f"sqlite:///{tmp_path / 'e2e.db'}",
        # Timing knobs for a short test: first KIE check 2 s after submission when a callback is missing,
        # leases of 3 s so that work a killed process held is taken over quickly.
        KIEGEN_CALLBACK_GRACE_S="2",
        KIEGEN_DELIVERY_LEASE_S="3",
        KIEGEN_CHECK_LEASE_S="3",
        KIEGEN_WORKER_INTERVAL_S="0.1",
    )
    all_ids: list[str] = []
    with simulator(kie) as kie_url, running_in_thread(receiver) as hook_base:
        env["KIEGEN_KIE_BASE_URL"] = env["KIEGEN_KIE_UPLOAD_URL"] = kie_url
        app = AppProcess(env, cwd=tmp_path, log=log, port=port)
        hook = f"{hook_base}/hooks/kiegen"
        started = time.monotonic()
        app.start()
        try:
            async with httpx.AsyncClient(base_url=app.url, timeout=30) as http:
                # 1. 200 generations, each delivered exactly once.
                ids = await submit_many(http, 200, hook)
                all_ids += ids
                await _until_delivered(receiver, ids, 60)
                normal = (receiver.delivered(ids), receiver.duplicates(ids))
                print(f"\nE2E normal: {normal[0]}/200 delivered, duplicates={normal[1]}")
                assert normal == (200, 0)
                metrics = (await http.get("/metrics")).text
                assert _sample(metrics, 'kiegen_kie_requests_total{endpoint="createTask",status="200"}') == 200
                assert _sample(metrics, 'kiegen_jobs{status="succeeded"}') == 200
                # Each job's one callback is applied, or ignored when the 2 s poll got there first (both are fine:
                # delivery stayed exactly once above).
                applied = _sample(metrics, 'kiegen_callbacks_total{outcome="applied"}')
                ignored = max(0.0, _sample(metrics, 'kiegen_callbacks_total{outcome="ignored"}'))  # -1: none yet
                assert applied + ignored == 200

                print(f"  ({time.monotonic() - started:.1f} s)")
                # 2. 50 copies of every callback: still one webhook each.
                kie.configure(callbacks=CallbackMode.DUPLICATE, duplicates=50)
                storm = await submit_many(http, STORM_JOBS, hook)
                all_ids += storm
                await _until_delivered(receiver, storm, 60)
                storm_tasks = [
                    t
                    for t in kie.tasks.values()
                    if t.callback_url and t.callback_url.split("/")[-1].split("?")[0] in storm
                ]
                with anyio.fail_after(90):  # the storm is sent copy after copy: wait for its tail
                    while sum(t.callback_sent for t in storm_tasks) < STORM_JOBS * 50:  # noqa: ASYNC110
                        await anyio.sleep(0.05)
                await anyio.sleep(0.5)
                storm_copies = sum(t.callback_sent for t in storm_tasks)
                dup = (receiver.delivered(storm), receiver.duplicates(storm))
                print(f"E2E storm: {storm_copies} callbacks, {STORM_JOBS} jobs: {dup[0]} delivered, dup={dup[1]}")
                assert dup == (STORM_JOBS, 0) and storm_copies == STORM_JOBS * 50

                print(f"  ({time.monotonic() - started:.1f} s)")
                # 3. Forged callbacks while the jobs run: refused or hints, and nothing of theirs is delivered.
                kie.configure(callbacks=CallbackMode.NORMAL)
                kie.low, kie.high = 2.0, 2.5
                forged_ids = await submit_many(http, 20, hook)
                all_ids += forged_ids
                statuses: list[int] = []
                for job_id in forged_ids:
                    job = (
                        await http.get(f"/v1/generations/{job_id}", headers={"Authorization": f"Bearer {API_KEY}"})
                    ).json()
                    for url in (f"/callbacks/kie/{job_id}?token=forged", f"/callbacks/kie/{job_id}", "/callbacks/kie"):
                        statuses.append((await http.post(url, content=_forged(job["task_id"]))).status_code)
                    ghost = f"/callbacks/kie/{'0' * 32}?token={callback_token(b'wrong', '0' * 32)}"
                    statuses.append((await http.post(ghost, content=_forged(job["task_id"]))).status_code)
                await _until_delivered(receiver, forged_ids, 60)
                accepted = sum(1 for s in statuses if s == 200)
                stolen = sum(1 for j in forged_ids if EVIL in receiver.payloads[j]["data"]["result_urls"])
                print(
                    f"E2E forged: {len(statuses)} forged callbacks, accepted={accepted}, forged results sent={stolen}"
                )
                # 429: past its budget of callbacks that proved nothing, this address is refused before any lookup.
                assert accepted == 0 and stolen == 0 and set(statuses) <= {202, 403, 404, 429}
                assert receiver.duplicates(forged_ids) == 0

                print(f"  ({time.monotonic() - started:.1f} s)")
                # 4. SIGKILL while callbacks arrive, then restart: nothing lost.
                kie.low, kie.high = 0.3, 2.5
                crash_ids = await submit_many(http, 100, hook)
                all_ids += crash_ids
                with anyio.fail_after(30):
                    while receiver.delivered(crash_ids) < 15:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
            app.kill()
            at_kill = receiver.delivered(crash_ids)
            await anyio.sleep(1.0)  # callbacks sent meanwhile hit a closed port
            app.start()
            await _until_delivered(receiver, crash_ids, 90)
            lost = len(crash_ids) - receiver.delivered(crash_ids)
            duplicates = receiver.duplicates(crash_ids)
            refused = len(kie.callback_errors)
            print(
                f"E2E crash: SIGKILL with {at_kill}/100 delivered, {refused} callbacks refused while down; "
                f"after restart lost={lost} duplicates={duplicates}"
            )
            print(f"  ({time.monotonic() - started:.1f} s)")
            assert lost == 0
        finally:
            exit_code = app.stop()
    assert exit_code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down gracefully
    assert text_after(log, "Application shutdown complete")
    assert receiver.bad_signatures == 0

    text = log.read_text()
    secrets = [KIE_KEY, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"), CALLBACK_SECRET, API_KEY]
    tokens = [callback_token(CALLBACK_SECRET.encode(), job_id) for job_id in all_ids]
    found = sum(text.count(s) for s in secrets) + sum(text.count(t) for t in tokens)
    lines = text.count("\n")
    print(f"E2E log scan: {lines} lines at DEBUG, {len(secrets)} secrets, {len(tokens)} callback tokens: {found} found")
    assert '"level": "DEBUG"' in text and lines > 1000
    assert found == 0
