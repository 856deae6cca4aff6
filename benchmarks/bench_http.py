"""HTTP service benchmark over real sockets. Load comes from ``wrk`` and from a raw asyncio socket client
(``rawhttp.py``), never from an httpx client (it tops out near 300 requests/s here and would measure itself).

    python benchmarks/bench_http.py [--engines sqlite,postgres] [--connections 32] [--duration 10]
                                    [--pipeline 20,200,1000] [--skip-stack] [--skip-ingest] [--skip-pipeline]

**Server stack**: a bare Starlette endpoint served by uvicorn with each HTTP parser (h11, httptools) and event
loop (asyncio, uvloop), to show what the service's stack (``kiegen serve``: httptools and uvloop, from
``kiegen[http]``) is worth; wrk, 2 threads.

**Ingest**, side by side in one run, every server started the same way (``kiegen.apps.http.serve``'s options):
the bare endpoint (the ceiling of the stack), ``GET /healthz`` of the service (its middleware and routing), then
per engine authenticated callbacks that each complete a job (applied/s: jobs found succeeded in the database
afterwards, per second of load) and the same callbacks again (duplicates/s). Jobs are created beforehand
through the store, with no KIE checks due; their results go to the ``none`` recipient, so the deliverer's
claims and marks are part of the load. PostgreSQL (``KIEGEN_BENCH_POSTGRES_URL`` or
``KIEGEN_TEST_POSTGRES_URL``) runs in a throwaway database created on that server and dropped afterwards.

**Pipeline** (task done -> webhook received), per engine, at each number of concurrent generations: the service
with a KIE simulator in another process that never calls back (``kiegen simulate-kie --callbacks lost``);
the benchmark submits the generations to ``/v1`` with a webhook URL, then plays KIE: each task is done at a
random moment within ``--spread`` seconds, when the benchmark POSTs its success callback (raw socket client);
a raw webhook receiver in the benchmark notes when each webhook arrives. Latency = arrival - callback sent.

Figures only, no assertions. ``wrk`` must be on PATH (``nox -s bench`` installs it from Debian's packages).
"""

from __future__ import annotations

import argparse
import asyncio  # noqa: TID251 -- the benchmark drives subprocesses and its own event loop
import contextlib
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from rawhttp import Pool, serve  # noqa: E402

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore  # noqa: E402
from kiegen.adapters.sqlalchemy.engine import redacted  # noqa: E402
from kiegen.core.callbacks import callback_token  # noqa: E402
from kiegen.core.jobs import Job, JobStatus  # noqa: E402
from tests.http.servers import free_port, subprocess_env  # noqa: E402

SECRET = "bench-callback-secret-" + "0f3c9e1d7a2b4c68"
API_KEY = "bench-api-key-" + "7c1e9a3f5d0b2468"
WEBHOOK_SECRET = "whsec_" + "YmVuY2ggd2ViaG9vayBzZWNyZXQsIDMyIGJ5dGVzISE="
KIE_KEY = "bench-kie-key-" + "3a5c7e9b1d0f2468"
WRK_THREADS = 2


@attrs.frozen
class WrkResult:
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: str


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    assert found is not None, text
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    assert found is not None, f"{pattern!r} not in wrk's output:\n{text}"
    return found.group(1)


def wrk(
    url: str, *, duration: float, connections: int, script: Path | None = None, args: tuple[str, ...] = ()
) -> WrkResult:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{round(duration)}s", "--latency", "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if args:
        command += ["--", *args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert total is not None, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * (0.001 if total.group(3) == "ms" else 1.0),
        rate=float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        p50_ms=_ms(_find(r"^\s+50%\s+(\S+)", out)),
        p99_ms=_ms(_find(r"^\s+99%\s+(\S+)", out)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=errors.group(1) if errors else "",
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# servers


def serve_bare(port: int, stack: str) -> None:
    """A bare Starlette endpoint. ``service``: exactly as ``kiegen.apps.http.serve`` serves the service;
    ``<loop>-<http>``: uvicorn with that loop and parser and nothing else."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ok(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/", ok, methods=["GET", "POST"])])
    if stack == "service":
        from kiegen.apps.http.limits import ServerLimits
        from kiegen.apps.http.serve import server_options

        uvicorn.run(app, host="127.0.0.1", port=port, **server_options(ServerLimits()))
        return
    loop, http = stack.split("-")
    uvicorn.run(app, host="127.0.0.1", port=port, loop=loop, http=http, log_config=None, access_log=False)


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=log.parent)
    try:
        _wait_listening(port, proc, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-2000:]}")


def app_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    return subprocess_env(
        KIEGEN_DATABASE_URL=database_url,
        KIEGEN_PORT=str(port),
        KIEGEN_PUBLIC_URL=f"http://127.0.0.1:{port}",
        KIEGEN_CALLBACK_SECRET=SECRET,
        KIEGEN_API_KEYS=API_KEY,
        KIEGEN_LOG_LEVEL="WARNING",
        **extra,
    )


# the server stack


def stack(args: argparse.Namespace, work: Path) -> WrkResult:
    """Every parser and loop for the bare endpoint, then the service's own stack (the ingest's baseline)."""
    print(f"\nServer stack: a bare Starlette endpoint, wrk -t{WRK_THREADS} -c{args.connections} -d{args.duration:g}s")
    results: dict[str, WrkResult] = {}
    stacks = [] if args.skip_stack else ["asyncio-h11", "asyncio-httptools", "uvloop-h11", "uvloop-httptools"]
    for name in [*stacks, "service"]:
        port = free_port()
        command = [sys.executable, __file__, "--serve-bare", str(port), "--stack", name]
        with process(command, subprocess_env(), port, work / f"bare-{name}.log"):
            wrk(f"http://127.0.0.1:{port}/", duration=2, connections=args.connections)
            results[name] = wrk(f"http://127.0.0.1:{port}/", duration=args.duration, connections=args.connections)
    base = results.get("asyncio-h11")
    for name, result in results.items():
        ratio = f"{result.rate / base.rate:5.2f}x asyncio+h11" if base else ""
        label = "kiegen serve's options" if name == "service" else name.replace("-", " + ")
        latency = f"p50 {result.p50_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms"
        print(f"  {label:<26} {result.rate:9.0f} req/s   {latency}   {ratio}")
    return results["service"]


# ingest


def _job(n: int, now: datetime, recipient: str = "none") -> Job:
    return Job(
        id=f"bench{n:07d}{uuid.uuid4().hex[:8]}",
        model="z-image",
        inputs={"prompt": "a fox", "aspect_ratio": "1:1"},
        recipient=recipient,
        status=JobStatus.SUBMITTED,
        task_id=f"task{n:07d}{uuid.uuid4().hex[:8]}",
        created_at=now,
        updated_at=now,
        submitted_at=now,
        deadline_at=now + timedelta(hours=2),
        next_check_at=None,
    )


def success_body(task_id: str, model: str = "z-image") -> bytes:
    """A success callback in the shape KIE sends (KIE_API.md)."""
    return json.dumps(
        {
            "code": 200,
            "msg": "Playground task completed successfully.",
            "data": {
                "taskId": task_id,
                "model": model,
                "state": "success",
                "param": json.dumps({"model": model, "input": json.dumps({"prompt": "a fox"})}),
                "resultJson": json.dumps({"resultUrls": [f"https://file.aiquickdraw.com/s/{task_id}.png"]}),
                "failCode": None,
                "failMsg": None,
                "costTime": 8,
                "completeTime": 1787567409000,
                "createTime": 1787567320000,
                "creditsConsumed": 0.8,
            },
        }
    ).encode()


def callback_path(job_id: str) -> str:
    return f"/callbacks/kie/{job_id}?token={callback_token(SECRET.encode(), job_id)}"


async def prefill(url: str, count: int) -> list[str]:
    """``count`` submitted jobs, created through the store; their callback requests for wrk."""
    now = datetime.now(UTC)
    jobs = [_job(n, now) for n in range(count)]
    async with await SqlAlchemyJobStore.open(url) as store:
        for start in range(0, count, 500):
            await asyncio.gather(*(store.create_job(job) for job in jobs[start : start + 500]))
    return [f"{callback_path(job.id)}\t{success_body(job.task_id or '').decode()}" for job in jobs]


async def counts(url: str) -> dict[str, int]:
    async with await SqlAlchemyJobStore.open(url, migrate=False) as store:
        return await store.job_counts()


Row = tuple[str, WrkResult, "int | None"]


def ingest(database_url: str, label: str, args: argparse.Namespace, work: Path) -> list[Row]:
    # Enough jobs that no wrk thread comes round to its first callback again within the run.
    requests = asyncio.run(prefill(database_url, int(args.max_rate * args.duration)))
    script_args = work / f"callbacks-{label}.txt"
    script_args.write_text("\n".join(requests) + "\n")
    port = free_port()
    rows: list[Row] = []
    lua = HERE / "wrk_callbacks.lua"
    with process(
        [sys.executable, "-m", "kiegen.apps.http"], app_env(database_url, port), port, work / f"app-{label}.log"
    ):
        base = f"http://127.0.0.1:{port}"
        wrk(f"{base}/healthz", duration=2, connections=args.connections)  # warm-up
        healthz = wrk(f"{base}/healthz", duration=args.duration, connections=args.connections)
        rows.append((f"{label} GET /healthz", healthz, None))
        cb_args = (str(script_args), str(WRK_THREADS))
        applied = wrk(base, duration=args.duration, connections=args.connections, script=lua, args=cb_args)
        succeeded = asyncio.run(counts(database_url)).get("succeeded", 0)
        rows.append((f"{label} callbacks, first copy (applied)", applied, succeeded))
        duplicate = wrk(base, duration=args.duration, connections=args.connections, script=lua, args=cb_args)
        rows.append((f"{label} callbacks, same again (duplicates)", duplicate, None))
    return rows


def report_ingest(rows: list[Row], bare: WrkResult) -> None:
    header = f"load (wrk -t{WRK_THREADS})"
    print(f"\n{header:<46} {'req/s':>9} {'applied/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'÷ bare':>7}")
    for name, result, applied in [("bare Starlette endpoint (same options)", bare, None), *rows]:
        rate = applied / result.seconds if applied is not None else None
        shown = f"{rate:10.0f}" if rate is not None else f"{'':>10}"
        ratio = (rate if rate is not None else result.rate) / bare.rate
        errors = f"  ({result.errors})" if result.errors else ""
        print(
            f"{name:<46} {result.rate:9.0f} {shown} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
            f"{result.non_2xx:8d} {ratio:7.3f}{errors}"
        )


# the pipeline


async def pipeline_level(
    app: Pool, callbacks: Pool, hook: str, count: int, spread_s: float, arrived: dict[str, float]
) -> dict[str, float]:
    """``count`` generations submitted, then completed within ``spread_s``; their webhook latencies."""
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    async def submit(i: int) -> tuple[str, str]:
        body = json.dumps({"model": "z-image", "input": {"prompt": f"pipeline {i}"}, "webhook_url": hook}).encode()
        status, content = await app.request("POST", "/v1/generations", body, headers)
        assert status == 202, (status, content[:300])
        job = json.loads(content)
        return job["id"], job["task_id"]

    submitted = await asyncio.gather(*(submit(i) for i in range(count)))
    sent: dict[str, float] = {}
    start = time.monotonic() + 0.2

    async def complete(job_id: str, task_id: str) -> None:
        await asyncio.sleep(max(0.0, start + random.uniform(0, spread_s) - time.monotonic()))
        sent[job_id] = time.time()
        status, content = await callbacks.request("POST", callback_path(job_id), success_body(task_id))
        assert status == 200, (status, content[:300])

    began = time.monotonic()
    await asyncio.gather(*(complete(job_id, task_id) for job_id, task_id in submitted))
    deadline = time.monotonic() + 120
    # Arrival times are stamped by the receiver as webhooks come in; this loop only waits for the last one.
    while any(job_id not in arrived for job_id, _ in submitted) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    latencies = [arrived[j] - sent[j] for j, _ in submitted if j in arrived]
    return {
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": pct(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
        "delivered": len(latencies),
        "all_in_s": time.monotonic() - began,
    }


async def pipeline_runs(
    app_port: int, levels: list[int], spread_s: float, receiver_port: int, arrived: dict[str, float]
) -> list[tuple[int, dict[str, float]]]:
    app = Pool("127.0.0.1", app_port, 32)
    callbacks = Pool("127.0.0.1", app_port, 64)
    hook = f"http://127.0.0.1:{receiver_port}/hook"
    try:
        await pipeline_level(app, callbacks, hook, 10, 0.2, arrived)  # warm-up
        return [(n, await pipeline_level(app, callbacks, hook, n, spread_s, arrived)) for n in levels]
    finally:
        await app.close()
        await callbacks.close()


def pipeline(database_url: str, label: str, args: argparse.Namespace, work: Path) -> None:
    levels = [int(n) for n in args.pipeline.split(",") if n]
    sim_port, app_port = free_port(), free_port()
    sim = [
        sys.executable,
        "-m",
        "kiegen",
        "simulate-kie",
        "--port",
        str(sim_port),
        "--callbacks",
        "lost",
        "--delay",
        "3600",
    ]
    sim_env = subprocess_env(KIE_API_KEY=KIE_KEY)
    arrived: dict[str, float] = {}

    def on_webhook(body: bytes, at: float) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            arrived.setdefault(json.loads(body)["data"]["id"], at)

    async def run() -> list[tuple[int, dict[str, float]]]:
        async with serve(on_webhook) as receiver_port:
            env = app_env(
                database_url,
                app_port,
                KIE_API_KEY=KIE_KEY,
                KIEGEN_KIE_BASE_URL=f"http://127.0.0.1:{sim_port}",
                KIEGEN_KIE_UPLOAD_URL=f"http://127.0.0.1:{sim_port}",
                KIEGEN_WEBHOOK_SECRET=WEBHOOK_SECRET,
                KIEGEN_ALLOW_PRIVATE_URLS="1",
                KIEGEN_KIE_RATE_LIMIT="100000/1",  # the simulator is not KIE: no createTask budget to keep
            )
            with process([sys.executable, "-m", "kiegen.apps.http"], env, app_port, work / f"pipeline-{label}.log"):
                return await pipeline_runs(app_port, levels, args.spread, receiver_port, arrived)

    with process(sim, sim_env, sim_port, work / f"simulator-{label}.log"):
        results = asyncio.run(run())
    print(
        f"\nPipeline, {label}: task done (its callback sent) -> webhook received; tasks done within {args.spread:g} s"
    )
    for n, r in results:
        print(
            f"  {n:5d} concurrent: p50 {r['p50'] * 1000:8.1f} ms   p99 {r['p99'] * 1000:8.1f} ms   "
            f"max {r['max'] * 1000:8.1f} ms   delivered {r['delivered']}/{n}   all in {r['all_in_s']:.2f} s"
        )


@contextlib.contextmanager
def database(engine: str, work: Path, pg_server: str | None) -> Iterator[str | None]:
    if engine == "sqlite":
        yield f"sqlite:///{work / f'kiegen-{uuid.uuid4().hex[:6]}.db'}"
    elif pg_server is None:
        print("postgres: skipped (set KIEGEN_BENCH_POSTGRES_URL or KIEGEN_TEST_POSTGRES_URL)")
        yield None
    else:
        from tests.conftest import throwaway_database

        with throwaway_database(pg_server) as url:
            yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-rate", type=float, default=6000.0, help="jobs prepared per second of ingest load")
    parser.add_argument("--pipeline", default="20,200,1000", help="numbers of concurrent generations")
    parser.add_argument("--spread", type=float, default=2.0, help="tasks are done within this many seconds")
    parser.add_argument("--skip-stack", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stack", default="service", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.stack)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("bench_http: wrk is not on PATH (apt-get install wrk; nox -s bench installs it)")
    random.seed(1)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    pg_server = os.environ.get("KIEGEN_BENCH_POSTGRES_URL") or os.environ.get("KIEGEN_TEST_POSTGRES_URL")
    if pg_server and "postgres" in engines:
        print(f"postgres: {redacted(pg_server)} (throwaway databases)")
    with tempfile.TemporaryDirectory(prefix="kiegen-bench-") as tmp:
        work = Path(tmp)
        bare = stack(args, work)
        rows: list[Row] = []
        for engine in engines:
            if not args.skip_ingest:
                with database(engine, work, pg_server) as url:
                    if url:
                        rows += ingest(url, engine, args, work)
        if rows:
            report_ingest(rows, bare)
        for engine in engines:
            if not args.skip_pipeline:
                with database(engine, work, pg_server) as url:
                    if url:
                        pipeline(url, engine, args, work)


if __name__ == "__main__":
    main()
