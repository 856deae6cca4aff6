"""The crash harness: real worker processes, a real SIGKILL at a named crash point, restarts, and a count.

``run_crash_cycles`` serves the KIE simulator over HTTP (a thread of the test process, so it outlives every
worker), starts ``worker.py`` with ``KIEGEN_TEST_CRASH_AT=<point>:<nth>`` (nth drawn so that each run makes some
progress before it dies) until it was killed ``kills`` times, then once more unarmed to finish, and
``audit`` reads the database and the delivery files to count what was lost, duplicated or mis-sent.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.adapters.sqlalchemy.engine import create_engine
from kiegen.adapters.system import SystemClock
from kiegen.core.billing import LedgerKind
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.jobs import Job, JobStatus
from kiegen.simulator.app import create_app, running_in_thread
from kiegen.simulator.asgi import SimulatorApp
from kiegen.simulator.engine import CallbackMode, SimulatorConfig

WORKER = Path(__file__).with_name("worker.py")
ROOT = Path(__file__).resolve().parents[2]
SOAK = os.environ.get("KIEGEN_SOAK") == "1"

# Short leases and grace periods, through the operator knobs, so that a killed worker's work is taken over in
# about a second rather than a minute.
TIMINGS = {
    "KIEGEN_DELIVERY_LEASE_S": "1.5",
    "KIEGEN_CHECK_LEASE_S": "1.5",
    "KIEGEN_WORKER_INTERVAL_S": "0.05",
    "KIEGEN_POLL_GRACE_S": "0.3",
    "KIEGEN_CALLBACK_GRACE_S": "1.0",
    "KIEGEN_SUBMIT_GRACE_S": "1.5",
    "KIEGEN_KIE_RATE_LIMIT": "1000/1",
}
SEED_CREDITS = 10_000  # worker.SEED_CREDITS


@attrs.frozen
class Database:
    """A database to run against. ``fresh(name)`` gives a separate one beside it (a SQLite file next to this
    one; for PostgreSQL a new database, dropped with this one's fixture)."""

    kind: str
    url: str
    base_url: str | None = None
    created: list[str] = attrs.field(factory=list, eq=False)

    def fresh(self, name: str) -> Database:
        if self.kind == "sqlite":
            path = Path(make_url(self.url).database or "kiegen.db")
            return Database("sqlite", f"sqlite+aiosqlite:///{path.with_name(f'{name}.db')}")
        assert self.base_url is not None
        db_name = f"{make_url(self.url).database}_{name}"[:63]
        self.created.append(db_name)
        return Database("postgres", create_database(self.base_url, db_name))


def _run_outside_transaction(base_url: str, statement: str) -> None:
    """CREATE/DROP DATABASE cannot run inside a transaction: run it in autocommit on a throwaway engine."""

    async def run() -> None:
        engine = create_engine(base_url)
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def create_database(base_url: str, name: str) -> str:
    _run_outside_transaction(base_url, f'CREATE DATABASE "{name}"')
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def drop_database(base_url: str, name: str) -> None:
    _run_outside_transaction(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@attrs.define
class Simulator:
    app: SimulatorApp
    url: str

    def tasks_per_prompt(self) -> collections.Counter[str]:
        return collections.Counter(str(t.inputs.get("prompt")) for t in list(self.app.engine.tasks.values()))


@contextmanager
def simulator(*, callbacks: CallbackMode = CallbackMode.LOST, delay_s: float = 0.3) -> Iterator[Simulator]:
    app = create_app(clock=SystemClock(), config=SimulatorConfig(delay_s=delay_s, callbacks=callbacks))
    with running_in_thread(app) as url:
        yield Simulator(app, url)


@attrs.define
class Workspace:
    """Everything a run of workers shares: database, simulator, delivery files, environment."""

    db: Database
    sim: Simulator
    root: Path
    jobs: int
    callback_port: int = 0
    killed: set[int] = attrs.field(factory=set)
    """Pids of the workers that died by SIGKILL."""

    @property
    def out_dir(self) -> Path:
        path = self.root / "deliveries"
        path.mkdir(exist_ok=True)
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            **TIMINGS,
            "KIEGEN_DATABASE_URL": self.db.url,
            "KIE_API_KEY": "test",
            "KIEGEN_KIE_BASE_URL": self.sim.url,
            "KIEGEN_KIE_UPLOAD_URL": self.sim.url,
            "KIEGEN_PRICES": "z-image=1",
            "KIEGEN_CALLBACK_SECRET": "reliability-secret",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        env.pop("KIEGEN_TEST_CRASH_AT", None)
        env.pop("KIEGEN_PUBLIC_URL", None)
        if self.callback_port:
            env["KIEGEN_PUBLIC_URL"] = f"http://127.0.0.1:{self.callback_port}"
        env.update(extra)
        return env

    def command(self, *extra: str) -> list[str]:
        args = [sys.executable, str(WORKER), "--jobs", str(self.jobs), "--out-dir", str(self.out_dir)]
        if self.callback_port:
            args += ["--callback-port", str(self.callback_port)]
        return [*args, *extra]

    def start(self, *extra: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*extra),
            env=self.env(**env),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *extra: str, timeout: float = 120.0, **env: str) -> tuple[int, dict[str, Any] | None, str]:
        proc = self.start(*extra, **env)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"worker hung for {timeout} s:\n{err[-3000:]}") from None
        if proc.returncode == -signal.SIGKILL:
            self.killed.add(proc.pid)
        report = json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 and out.strip() else None
        return proc.returncode, report, err


@attrs.frozen
class CrashFigures:
    db: str
    point: str
    kills: int
    runs: int
    audit: Audit
    extra_tasks: int
    max_tasks_per_job: int
    elapsed_s: float

    def line(self) -> str:
        fields: dict[str, Any] = {"db": self.db, "point": self.point, "kills": self.kills, "runs": self.runs}
        fields |= {k: v for k, v in attrs.asdict(self.audit).items() if not isinstance(v, Mapping)}
        fields |= {"extra_tasks": self.extra_tasks, "max_tasks_per_job": self.max_tasks_per_job}
        fields["elapsed_s"] = f"{self.elapsed_s:.1f}"
        return "RELIABILITY crash " + " ".join(f"{k}={v}" for k, v in fields.items())


# How often each point is passed per job: the ledger point only for paid jobs (every second job); a batch of
# several writes a few times per job.
HITS_PER_JOB = {"after_ledger_entry": 0.5, "in_batch": 2.0}


def run_crash_cycles(ws: Workspace, point: str, *, kills: int, seed: int = 0) -> tuple[int, int]:
    """Kill a worker at ``point`` ``kills`` times (or until the work ran out), then finish unarmed.
    Returns (kills, runs)."""
    rng = random.Random(f"{point}:{seed}")
    hits = max(1, int(ws.jobs * HITS_PER_JOB.get(point, 1.0)))
    spread = max(1, hits // (kills + 1))
    done_kills = runs = 0
    while done_kills < kills:
        nth = rng.randint(1, spread)
        code, _, err = ws.run(KIEGEN_TEST_CRASH_AT=f"{point}:{nth}")
        runs += 1
        if code == -signal.SIGKILL:
            done_kills += 1
        elif code == 0:
            break  # everything was delivered before the nth pass
        else:
            raise AssertionError(f"worker armed at {point}:{nth} exited {code}:\n{err[-3000:]}")
    code, _, err = ws.run()
    runs += 1
    assert code == 0, f"the unarmed worker exited {code}:\n{err[-3000:]}"
    return done_kills, runs


@attrs.frozen
class Audit:
    jobs: int
    lost: int
    duplicates: int
    unexplained_duplicates: int
    wrong_recipient: int
    unfinished: int
    undelivered: int
    succeeded: int
    not_succeeded: int
    gave_up: int
    double_settled: int
    charged_wrongly: int
    balance_errors: int
    lines_per_job: Mapping[str, int]
    receipts: Mapping[str, tuple[str | None, ...]]
    """Per job, the receipt recorded on each delivery (``<pid>:<n>`` of the worker that recorded it)."""


@attrs.frozen
class Line:
    job_id: str
    status: str
    recipient: str
    file: str
    pid: int


def read_deliveries(out_dir: Path) -> list[Line]:
    """Every line the FileMessenger wrote, with the file it was written to."""
    lines = []
    for path in sorted(out_dir.glob("*.log")):
        for raw in path.read_text().splitlines():
            job_id, status, recipient, _digest, pid = raw.split(" ")
            lines.append(Line(job_id, status, recipient, f"file:{path}", int(pid)))
    return lines


async def _audit(db: Database, out_dir: Path, expected_jobs: int, killed: set[int]) -> Audit:
    """A duplicate is *explained* when the earlier send came from a worker that was SIGKILLed before it could
    record the delivery as sent (the messenger-accepted window); any other duplicate is a bug."""
    store = await SqlAlchemyJobStore.open(db.url, migrate=False)
    async with store:
        jobs = await store.list_jobs(limit=expected_jobs * 2 + 10)
        by_id = {j.id: j for j in jobs}
        lines = read_deliveries(out_dir)
        per_job = collections.Counter(line.job_id for line in lines)
        wrong = sum(1 for ln in lines if ln.job_id not in by_id or by_id[ln.job_id].recipient != ln.file)
        wrong += sum(1 for ln in lines if ln.recipient != ln.file)
        undelivered = unexplained = 0
        receipts: dict[str, tuple[str | None, ...]] = {}
        for job in jobs:
            deliveries = await store.deliveries_for(job.id)
            receipts[job.id] = tuple(d.receipt for d in deliveries)
            if not deliveries or any(d.status is not DeliveryStatus.SENT for d in deliveries):
                undelivered += 1
            for delivery in deliveries:
                status = delivery.id.rsplit(":", 1)[-1]
                pids = [ln.pid for ln in lines if ln.job_id == job.id and ln.status == status]
                recorded_by = int((delivery.receipt or "0:").split(":")[0] or 0)
                if delivery.receipt == "superseded":
                    unexplained += sum(1 for pid in pids if pid not in killed)
                    continue
                extra = list(pids)
                if recorded_by in extra:
                    extra.remove(recorded_by)
                unexplained += sum(1 for pid in extra if pid not in killed)
        ledger = await ledger_audit(store, jobs, lambda _user: SEED_CREDITS)
        return Audit(
            jobs=len(jobs),
            lost=sum(1 for j in jobs if per_job[j.id] == 0) + max(0, expected_jobs - len(jobs)),
            duplicates=sum(n - 1 for n in per_job.values() if n > 1),
            unexplained_duplicates=unexplained,
            wrong_recipient=wrong,
            unfinished=sum(1 for j in jobs if not j.terminal),
            undelivered=undelivered,
            succeeded=sum(1 for j in jobs if j.status is JobStatus.SUCCEEDED),
            not_succeeded=sum(1 for j in jobs if j.terminal and j.status is not JobStatus.SUCCEEDED),
            gave_up=sum(1 for j in jobs if j.error_code == "submit_failed"),
            double_settled=ledger.double_settled,
            charged_wrongly=ledger.charged_wrongly,
            balance_errors=ledger.balance_errors,
            lines_per_job=dict(per_job),
            receipts=receipts,
        )


@attrs.frozen
class LedgerAudit:
    double_settled: int
    """Jobs with more than one hold, or more than one capture/release."""
    charged_wrongly: int
    """Paid terminal jobs whose settlement is not the one their outcome calls for; ledger entries of free jobs."""
    balance_errors: int
    """Users whose balance is not their seed minus what their charged jobs cost."""


async def ledger_audit(store: SqlAlchemyJobStore, jobs: Sequence[Job], seed: Callable[[str], int]) -> LedgerAudit:
    by_id = {j.id: j for j in jobs}
    double_settled = charged_wrongly = balance_errors = 0
    for user in sorted({j.user_id for j in jobs if j.user_id}):
        entries = await store.ledger(user)
        settles = collections.Counter(e.job_id for e in entries if e.kind in (LedgerKind.CAPTURE, LedgerKind.RELEASE))
        holds = collections.Counter(e.job_id for e in entries if e.kind is LedgerKind.HOLD)
        double_settled += sum(1 for n in settles.values() if n > 1) + sum(1 for n in holds.values() if n > 1)
        charged = 0
        for job in (j for j in jobs if j.user_id == user and j.price > 0):
            kinds = [e.kind for e in entries if e.job_id == job.id and e.kind is not LedgerKind.HOLD]
            expected = [LedgerKind.CAPTURE if job.charged else LedgerKind.RELEASE] if job.terminal else []
            charged_wrongly += kinds != expected
            charged += job.price if job.charged else 0
        charged_wrongly += sum(1 for e in entries if e.job_id in by_id and by_id[e.job_id].price == 0)
        balance_errors += await store.balance(user) != seed(user) - charged
    return LedgerAudit(double_settled=double_settled, charged_wrongly=charged_wrongly, balance_errors=balance_errors)


def audit(db: Database, out_dir: Path, expected_jobs: int, killed: Collection[int] = ()) -> Audit:
    return asyncio.run(_audit(db, out_dir, expected_jobs, set(killed)))


def crash_figures(ws: Workspace, point: str, kills: int, runs: int, started: float) -> CrashFigures:
    tasks = ws.sim.tasks_per_prompt()
    return CrashFigures(
        db=ws.db.kind,
        point=point,
        kills=kills,
        runs=runs,
        audit=audit(ws.db, ws.out_dir, ws.jobs, ws.killed),
        extra_tasks=sum(tasks.values()) - len(tasks),
        max_tasks_per_job=max(tasks.values(), default=0),
        elapsed_s=time.monotonic() - started,
    )
