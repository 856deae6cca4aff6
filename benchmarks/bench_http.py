"""HTTP service benchmark over real sockets, load from ``wrk`` (never an httpx client: it saturates near 300
requests/s here and would measure itself).

    python benchmarks/bench_http.py [--engines sqlite,postgres] [--connections 32] [--duration 10]
                                    [--pipeline 20,200,1000] [--skip-ingest] [--skip-pipeline]

**Ingest**, side by side in one run, every server started the same way (uvicorn as ``kiegen serve`` runs it):
a bare Starlette endpoint (the ceiling of the server stack), ``GET /healthz`` of the kiegen service (its
middleware and routing), then per engine: authenticated callbacks that each complete a job (applied/s: jobs
found succeeded in the database afterwards, per second of load), and the same callbacks again (duplicates/s).
Jobs are created beforehand through the store, with no KIE checks due; their results go to the ``none``
recipient, so the deliverer's claims and marks are part of the load. PostgreSQL (``KIEGEN_BENCH_POSTGRES_URL``
or ``KIEGEN_TEST_POSTGRES_URL``) runs in a throwaway database created on that server and dropped afterwards.

**Pipeline**: see ``pipeline.py`` (task done -> webhook received at several numbers of concurrent generations).

Figures only, no assertions. ``wrk`` must be on PATH (``nox -s bench`` installs it from Debian's packages).
"""

from __future__ import annotations

import argparse
import asyncio  # noqa: TID251 -- the benchmark drives subprocesses and its own event loop
import contextlib
import json
import os
import re
import shutil
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

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore  # noqa: E402
from kiegen.adapters.sqlalchemy.engine import redacted  # noqa: E402
from kiegen.core.callbacks import callback_token  # noqa: E402
from kiegen.core.jobs import Job, JobStatus  # noqa: E402
from tests.http.servers import free_port, subprocess_env  # noqa: E402

SECRET = "bench-callback-secret-" + "0f3c9e1d7a2b4c68"
API_KEY = "bench-api-key-" + "7c1e9a3f5d0b2468"
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
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


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
    seconds = float(total.group(2)) * (0.001 if total.group(3) == "ms" else 1.0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=seconds,
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=errors.group(1) if errors else "",
    )


# servers


def serve_bare(port: int) -> None:
    """A bare Starlette endpoint, served exactly as ``kiegen.apps.http.serve.main`` serves the service."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ok(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    from kiegen.apps.http.serve import server_options

    uvicorn.run(
        Starlette(routes=[Route("/", ok, methods=["GET", "POST"])]), host="127.0.0.1", port=port, **server_options()
    )


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
    import socket

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


# ingest


def _job(n: int, now: datetime) -> Job:
    return Job(
        id=f"bench{n:07d}{uuid.uuid4().hex[:8]}",
        model="z-image",
        inputs={"prompt": "a fox", "aspect_ratio": "1:1"},
        recipient="none",
        status=JobStatus.SUBMITTED,
        task_id=f"task{n:07d}{uuid.uuid4().hex[:8]}",
        created_at=now,
        updated_at=now,
        submitted_at=now,
        deadline_at=now + timedelta(hours=2),
        next_check_at=None,
    )


def _callback(job: Job) -> str:
    body = {
        "code": 200,
        "msg": "Playground task completed successfully.",
        "data": {
            "taskId": job.task_id,
            "model": job.model,
            "state": "success",
            "param": json.dumps({"model": job.model, "input": dict(job.inputs)}),
            "resultJson": json.dumps({"resultUrls": [f"https://file.aiquickdraw.com/s/{job.task_id}.png"]}),
            "failCode": None,
            "failMsg": None,
            "costTime": 8,
            "completeTime": 1787567409000,
            "createTime": 1787567320000,
            "creditsConsumed": 0.8,
        },
    }
    return f"/callbacks/kie/{job.id}?token={callback_token(SECRET.encode(), job.id)}\t{json.dumps(body)}"


async def prefill(url: str, count: int) -> list[str]:
    """``count`` submitted jobs, created through the store; their callback requests."""
    now = datetime.now(UTC)
    jobs = [_job(n, now) for n in range(count)]
    async with await SqlAlchemyJobStore.open(url) as store:
        for start in range(0, count, 500):
            await asyncio.gather(*(store.create_job(job) for job in jobs[start : start + 500]))
    return [_callback(job) for job in jobs]


async def counts(url: str) -> dict[str, int]:
    async with await SqlAlchemyJobStore.open(url, migrate=False) as store:
        return await store.job_counts()


def ingest(
    database_url: str, label: str, args: argparse.Namespace, work: Path
) -> list[tuple[str, WrkResult, int | None]]:
    # Enough jobs that no wrk thread comes round to its first callback again within the run.
    jobs = int(args.max_rate * args.duration)
    requests = asyncio.run(prefill(database_url, jobs))
    script_args = work / f"callbacks-{label}.txt"
    script_args.write_text("\n".join(requests) + "\n")
    port = free_port()
    env = app_env(database_url, port)
    rows: list[tuple[str, WrkResult, int | None]] = []
    with process([sys.executable, "-m", "kiegen.apps.http"], env, port, work / f"app-{label}.log"):
        base = f"http://127.0.0.1:{port}"
        wrk(f"{base}/healthz", duration=2, connections=args.connections)  # warm-up
        rows.append(
            (
                f"{label} GET /healthz",
                wrk(f"{base}/healthz", duration=args.duration, connections=args.connections),
                None,
            )
        )
        applied = wrk(
            base,
            duration=args.duration,
            connections=args.connections,
            script=HERE / "wrk_callbacks.lua",
            args=(str(script_args), str(WRK_THREADS)),
        )
        succeeded = asyncio.run(counts(database_url)).get("succeeded", 0)
        rows.append((f"{label} callbacks, first copy (applied)", applied, succeeded))
        duplicate = wrk(
            base,
            duration=args.duration,
            connections=args.connections,
            script=HERE / "wrk_callbacks.lua",
            args=(str(script_args), str(WRK_THREADS)),
        )
        rows.append((f"{label} callbacks, same again (duplicates)", duplicate, None))
    return rows


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    from tests.conftest import throwaway_database

    with throwaway_database(server_url) as url:
        yield url


def report(rows: list[tuple[str, WrkResult, int | None]], bare: WrkResult, duration: float) -> None:
    print(
        f"\n{'load (wrk, ' + str(WRK_THREADS) + ' threads)':<46} {'req/s':>9} {'applied/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'÷ bare':>7}"
    )
    for name, result, applied in [("bare Starlette endpoint", bare, None), *rows]:
        rate = applied / result.seconds if applied is not None else None
        shown = f"{rate:10.0f}" if rate is not None else f"{'':>10}"
        ratio = (rate if rate is not None else result.rate) / bare.rate
        print(
            f"{name:<46} {result.rate:9.0f} {shown} {result.p50_ms:8.2f} {result.p99_ms:8.2f} "
            f"{result.non_2xx:8d} {ratio:7.3f}" + (f"  ({result.errors})" if result.errors else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-rate", type=float, default=6000.0, help="jobs prepared per second of load")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("bench_http: wrk is not on PATH (apt-get install wrk; nox -s bench installs it)")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    pg_server = os.environ.get("KIEGEN_BENCH_POSTGRES_URL") or os.environ.get("KIEGEN_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="kiegen-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        env = subprocess_env()
        with process([sys.executable, __file__, "--serve-bare", str(port)], env, port, work / "bare.log"):
            wrk(f"http://127.0.0.1:{port}/", duration=2, connections=args.connections)
            bare = wrk(f"http://127.0.0.1:{port}/", duration=args.duration, connections=args.connections)
        rows: list[tuple[str, WrkResult, int | None]] = []
        if "sqlite" in engines:
            rows += ingest(f"sqlite:///{work / 'kiegen.db'}", "sqlite", args, work)
        if "postgres" in engines:
            if pg_server is None:
                print("postgres: skipped (set KIEGEN_BENCH_POSTGRES_URL or KIEGEN_TEST_POSTGRES_URL)")
            else:
                print(f"postgres: {redacted(pg_server)} (a throwaway database)")
                with postgres_database(pg_server) as url:
                    rows += ingest(url, "postgres", args, work)
        report(rows, bare, args.duration)


if __name__ == "__main__":
    main()
