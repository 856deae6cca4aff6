"""HTTP service benchmark over real sockets: callback ingest, and the callback-to-webhook pipeline.

    python benchmarks/bench_http.py [--jobs 1000] [--ingest 2000] [--concurrency 32] [--engines sqlite,postgres]
                                    [--skip-ingest] [--skip-pipeline]

Ingest: the app (``python -m kiegen.apps.http``, uvicorn, WARNING logs) in a subprocess; ``--ingest`` jobs are
created (their KIE tasks never call back), then one authenticated callback per job is POSTed (the first, which
completes the job) and then as many duplicates, ``--concurrency`` at a time; against ``GET /healthz`` on the
same server, the same number of times, as the baseline. Prints callbacks/s and p50/p99 latency, and the
ratio to the baseline. PostgreSQL runs when KIEGEN_BENCH_POSTGRES_URL or KIEGEN_TEST_POSTGRES_URL is set, in a
throwaway database created on that server and dropped afterwards.

Pipeline: ``--jobs`` generations submitted at once, the KIE simulator (another thread of this process) taking
a random 0-2 s per task; a webhook receiver (a third thread). Three runs of the app, side by side:
callbacks (the default policy), and two polling baselines without callbacks (no public URL): fixed 2 s and
fixed 0.5 s polling. Prints, per run: callback (or poll) -> webhook p50/p99 (callback: from the simulator
seeing the app's answer to the receiver seeing the webhook; polling: from the task's end to the webhook), KIE
calls per job, and the time until every webhook arrived. Figures only, no assertions.

The benchmark needs the repository's root on ``sys.path`` (it reuses ``tests/http/servers.py``); it puts it
there itself.
"""

from __future__ import annotations

import argparse
import asyncio  # noqa: TID251 -- uvicorn and the SQLAlchemy adapters are asyncio-only
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from kiegen.core.callbacks import callback_token  # noqa: E402
from kiegen.simulator.app import running_in_thread  # noqa: E402
from kiegen.simulator.engine import SimulatorConfig  # noqa: E402
from tests.http.servers import (  # noqa: E402
    API_KEY,
    CALLBACK_SECRET,
    AppProcess,
    RandomDelayKie,
    WebhookReceiver,
    app_env,
    free_port,
    simulator,
    submit_many,
)

AUTH = {"Authorization": f"Bearer {API_KEY}"}
SCRIPT = str(Path(__file__).resolve())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def hammer(
    http: httpx.AsyncClient, requests: list[tuple[str, str, bytes]], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    """Send ``requests`` (method, url, body) ``concurrency`` at a time; (seconds, latencies, status counts)."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker() -> None:
        while queue:
            method, url, body = queue.pop()
            started = time.perf_counter()
            response = await http.request(method, url, content=body or None)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, statuses


def success(task_id: str) -> bytes:
    data = {
        "taskId": task_id,
        "state": "success",
        "resultJson": json.dumps({"resultUrls": ["https://cdn.example/r.png"]}),
    }
    return json.dumps({"code": 200, "msg": "success", "data": data}).encode()


def report(name: str, seconds: float, latencies: list[float], statuses: dict[int, int]) -> float:
    rate = len(latencies) / seconds
    print(
        f"  {name:<28} {rate:8.0f} req/s   p50 {pct(latencies, 0.5) * 1000:7.2f} ms   "
        f"p99 {pct(latencies, 0.99) * 1000:7.2f} ms   statuses {dict(sorted(statuses.items()))}"
    )
    return rate


async def ingest(engine: str, database_url: str, count: int, concurrency: int, workdir: Path) -> None:
    print(f"\nCallback ingest on {engine}: {count} jobs, concurrency {concurrency}")
    kie = RandomDelayKie(3600, 3600, SimulatorConfig())  # tasks never finish: the callbacks are ours
    port = free_port()
    with simulator(kie) as kie_url:
        # No webhooks and no KIE checks for an hour: the figures are the callback route's alone.
        env = app_env(port=port, kie_url=kie_url, database_url=database_url, log_level="WARNING")
        env["KIEGEN_CALLBACK_GRACE_S"] = "3600"
        app = AppProcess(env, cwd=workdir, log=workdir / f"ingest-{engine}.log", port=port)
        app.start()
        try:
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(base_url=app.url, timeout=60, limits=limits) as http:
                ids = await submit_many(http, count, None, concurrency=concurrency)
                tasks = {}
                for job_id in ids:
                    tasks[job_id] = (await http.get(f"/v1/generations/{job_id}", headers=AUTH)).json()["task_id"]
                secret = CALLBACK_SECRET.encode()
                calls = [
                    ("POST", f"/callbacks/kie/{j}?token={callback_token(secret, j)}", success(tasks[j])) for j in ids
                ]
                health = [("GET", "/healthz", b"")] * count
                base = report("GET /healthz (baseline)", *await hammer(http, health, concurrency))
                first = report("callbacks, first (applied)", *await hammer(http, calls, concurrency))
                again = report("callbacks, duplicates", *await hammer(http, calls, concurrency))
                print(f"  ratio to /healthz: applied {first / base:.2f}, duplicates {again / base:.2f}")
        finally:
            app.stop()


async def pipeline(variant: str, count: int, workdir: Path, database_url: str) -> None:
    kie = RandomDelayKie(0.0, 2.0, SimulatorConfig())
    receiver = WebhookReceiver()
    port = free_port()
    extra: dict[str, str] = {"KIEGEN_WORKER_INTERVAL_S": "0.1"}
    with simulator(kie) as kie_url, running_in_thread(receiver) as hook_base:
        env = app_env(port=port, kie_url=kie_url, database_url=database_url, log_level="WARNING", **extra)
        if variant != "callbacks":
            env["KIEGEN_PUBLIC_URL"] = ""
            env["KIEGEN_BENCH_FIXED_POLL_S"] = variant
        app = AppProcess(env, cwd=workdir, log=workdir / f"pipeline-{variant}.log", port=port)
        app.env["KIEGEN_BENCH_SERVE"] = "1"
        app.command = [sys.executable, SCRIPT]
        app.start()
        try:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(base_url=app.url, timeout=120, limits=limits) as http:
                started = time.monotonic()
                ids = await submit_many(http, count, f"{hook_base}/hook", concurrency=64)
                deadline = time.monotonic() + 600
                # the receiver lives in another thread: polling it is the simple way
                while receiver.delivered(ids) < count and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                elapsed = time.monotonic() - started
        finally:
            app.stop()
    delays = []
    for job_id in ids:
        payload = receiver.payloads.get(job_id)
        if payload is None:
            continue
        task = kie.tasks[payload["data"]["task_id"]]
        if variant == "callbacks":
            origin = kie.answered.get(task.task_id)
        else:  # no callback: count from the moment the task finished (what a callback would have said)
            origin = time.monotonic() - (time.time() - task.finish_at.timestamp())
        if origin is not None:
            delays.append(receiver.first_seen[job_id] - origin)
    calls = (kie.calls["create_task"] + kie.calls["get_task"]) / max(1, count)
    label = "callbacks" if variant == "callbacks" else f"fixed {variant} s polling"
    print(
        f"  {label:<24} delivered {receiver.delivered(ids)}/{count}  duplicates {receiver.duplicates(ids)}  "
        f"-> webhook p50 {pct(delays, 0.5) * 1000:8.1f} ms  p99 {pct(delays, 0.99) * 1000:8.1f} ms   "
        f"KIE calls/job {calls:5.2f} (recordInfo {kie.calls['get_task']})   all delivered in {elapsed:5.1f} s"
    )


def serve() -> None:
    """The app for a pipeline run (a subprocess of this script): ``python -m kiegen.apps.http``, plus, for the
    polling baselines, a fixed-interval PollPolicy (KIEGEN_BENCH_FIXED_POLL_S)."""
    import attrs
    import uvicorn

    from kiegen.apps.http.serve import app_from_env
    from kiegen.core.polling import PollPolicy

    app, settings = app_from_env()
    fixed = os.environ.get("KIEGEN_BENCH_FIXED_POLL_S")
    if fixed:
        every = float(fixed)
        client = app.state.kiegen.client
        policy = PollPolicy(
            callbacks=False,
            grace_without_callback_s=every,
            backoff_base_s=every,
            backoff_factor=1.0,
            backoff_cap_s=every,
        )
        client.ctx.config = attrs.evolve(client.ctx.config, policy=policy)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False, lifespan="on")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000, help="generations in each pipeline run")
    parser.add_argument("--ingest", type=int, default=2000, help="jobs (= callbacks) in the ingest run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    postgres = os.environ.get("KIEGEN_BENCH_POSTGRES_URL") or os.environ.get("KIEGEN_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="kiegen-bench-") as tmp:
        workdir = Path(tmp)
        engines = [e.strip() for e in args.engines.split(",") if e.strip()]
        if not args.skip_ingest:
            for engine in engines:
                if engine == "sqlite":
                    await ingest("SQLite", f"sqlite:///{workdir / 'ingest.db'}", args.ingest, args.concurrency, workdir)
                elif engine == "postgres" and postgres:
                    async with _throwaway_database(postgres) as database_url:
                        await ingest("PostgreSQL", database_url, args.ingest, args.concurrency, workdir)
                elif engine == "postgres":
                    print("\nCallback ingest on PostgreSQL: skipped (set KIEGEN_TEST_POSTGRES_URL)")
        if not args.skip_pipeline:
            print(f"\nPipeline on SQLite: {args.jobs} concurrent generations, tasks take a random 0-2 s")
            for variant in ("callbacks", "2", "0.5"):
                await pipeline(variant, args.jobs, workdir, f"sqlite:///{workdir / f'pipeline-{variant}.db'}")


@contextlib.asynccontextmanager
async def _throwaway_database(url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``url`` (dropped afterwards): the benchmark never touches the
    database ``url`` names, which may be the test suite's."""
    import uuid

    import asyncpg
    from sqlalchemy.engine import make_url

    from kiegen.settings import normalize_database_url

    parsed = make_url(normalize_database_url(url))
    name = f"kiegen_bench_{uuid.uuid4().hex[:8]}"
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield parsed.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


if __name__ == "__main__":
    if os.environ.get("KIEGEN_BENCH_SERVE"):
        serve()
    else:
        asyncio.run(main())
