"""Families of RELIABILITY.md proven in one process: hostile callback bodies, backward evidence, ambiguous
createTask, ledger concurrency. Each test prints a ``RELIABILITY <family> ...`` line with its figures.

The stores are the real ones (memory, SQLite, PostgreSQL when configured); SQL stores are asyncio-only, so
those parametrizations skip trio with that reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio
import attrs
import pytest

from kiegen.adapters.memory import FakeClock, InMemoryJobStore, InProcessNotifier, RecordingMessenger, SimulatedKie
from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.catalogue import default_registry
from kiegen.core.billing import LedgerKind, topup
from kiegen.core.callbacks import callback_token
from kiegen.core.errors import InsufficientCredits, KieTransportError
from kiegen.core.jobs import JobStatus
from kiegen.ports.store import JobStore
from kiegen.services import Config, Context, deliver_due, handle_callback, poll_due, submit
from kiegen.simulator.engine import SimulatorConfig
from tests.conftest import drop_schema
from tests.reliability.harness import Database
from tests.reliability.test_ledger_stateful import RANK, callback_body

SECRET = b"families-secret"
PAID = "qwen/image-edit"
PAID_INPUTS = {"prompt": "make it blue", "image_url": "https://example.com/in.png"}


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, anyio_backend: str) -> AsyncIterator[JobStore]:
    if request.param == "memory":
        yield InMemoryJobStore()
        return
    if request.param == "sqlite":
        database: Database = request.getfixturevalue("sqlite_database")
        async with await SqlAlchemyJobStore.open(database.url) as sql:
            yield sql
        return
    url: str = request.getfixturevalue("postgres_url")
    schema = f"kiegen_families_{uuid.uuid4().hex[:10]}"
    try:
        async with await SqlAlchemyJobStore.open(url, schema=schema) as sql:
            yield sql
    finally:
        await drop_schema(url, schema)


def make_ctx(store: JobStore, clock: FakeClock, kie: Any, messenger: RecordingMessenger) -> Context:
    return Context(
        store=store,
        kie=kie,
        messenger=messenger,
        clock=clock,
        notifier=InProcessNotifier(),
        config=Config(
            registry=default_registry().with_prices({PAID: 2}),
            public_url="http://kiegen.test",
            callback_secret=SECRET,
            # The simulator's own results, as kiegen.Client allows them for the simulator in use.
            own_result_urls=(f"{SimulatorConfig().result_base_url}/",),
        ),
    )


async def fund(store: JobStore, user: str, amount: int, clock: FakeClock) -> None:
    await store.add_entry(topup(user, amount, key=f"fund:{user}", at=clock.now()))


def hostile_bodies(task_id: str) -> Mapping[str, bytes]:
    good = json.loads(callback_body(task_id, success=True))
    as_object = json.loads(json.dumps(good))
    as_object["data"]["resultJson"] = {"resultUrls": [f"https://tempfile.aiquickdraw.com/{task_id}.png"]}
    return {
        "10 MB": b'{"code": 200, "data": {"taskId": "%s", "pad": "%s"}}' % (task_id.encode(), b"x" * 10_000_000),
        "deep nesting": b"[" * 100_000 + b"]" * 100_000,
        "deep object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "invalid UTF-8": b'{"code": 200, "data": {"taskId": "\xff\xfe", "state": "success"}}',
        "invalid JSON": b'{"code": 200, "data": {"taskId": ',
        "JSON array": b"[1, 2, 3]",
        "empty": b"",
        "NaN and huge numbers": b'{"code": NaN, "data": {"taskId": 1e999999, "state": Infinity}}',
        "data as a JSON string of garbage": json.dumps({"code": 200, "data": "{not json"}).encode(),
        "resultJson as object": json.dumps(as_object).encode(),
        "double-encoded": json.dumps(json.dumps(good)).encode(),
    }


VALID_WHEN_TRUSTED = {"resultJson as object", "double-encoded"}


@pytest.mark.anyio
async def test_hostile_callback_bodies_never_raise_and_change_only_what_a_trusted_valid_body_may(
    store: JobStore, report: Callable[[str], None]
) -> None:
    clock = FakeClock()
    kie = SimulatedKie(clock, SimulatorConfig(delay_s=10_000))
    ctx = make_ctx(store, clock, kie, RecordingMessenger())
    exceptions = server_errors = changed_untrusted = changed_unreadable = applied_valid = 0
    for name in hostile_bodies("t"):
        for trusted in (False, True):
            job = await submit(ctx, "z-image", {"prompt": "a fox"}, recipient="test:x")
            assert job.task_id is not None
            body = hostile_bodies(job.task_id)[name]
            before = await store.get(job.id)
            token = callback_token(SECRET, job.id) if trusted else "forged-token"
            try:
                result = await handle_callback(ctx, job_id=job.id, token=token, body=body)
            except Exception:
                exceptions += 1
                continue
            server_errors += result.status >= 500
            after = await store.get(job.id)
            assert before is not None and after is not None
            moved = after.status is not before.status
            if not trusted:
                changed_untrusted += after != before
            elif name in VALID_WHEN_TRUSTED:
                applied_valid += after.status is JobStatus.SUCCEEDED
            else:
                changed_unreadable += moved
    report(
        f"RELIABILITY hostile-bodies store={type(store).__name__} bodies={len(hostile_bodies('t'))} "
        f"exceptions={exceptions} status_5xx={server_errors} changed_by_untrusted={changed_untrusted} "
        f"moved_by_unreadable={changed_unreadable} applied_trusted_valid={applied_valid}"
    )
    assert (exceptions, server_errors, changed_untrusted, changed_unreadable) == (0, 0, 0, 0)
    assert applied_valid == len(VALID_WHEN_TRUSTED)


def progress_body(task_id: str, state: str) -> bytes:
    return json.dumps({"code": 200, "msg": "ok", "data": {"taskId": task_id, "state": state}}).encode()


@pytest.mark.anyio
async def test_out_of_order_and_backward_evidence_never_moves_a_job_backward(
    store: JobStore, report: Callable[[str], None]
) -> None:
    clock = FakeClock()
    kie = SimulatedKie(clock, SimulatorConfig(delay_s=30))
    ctx = make_ctx(store, clock, kie, RecordingMessenger())
    backward = evidence = 0
    orders = [
        ["generating", "success", "waiting", "generating", "fail", "success"],
        ["success", "queuing", "waiting", "fail"],
        ["fail", "success", "generating"],
        ["waiting", "generating", "queuing", "waiting", "success"],
    ]
    for order in orders:
        job = await submit(ctx, "z-image", {"prompt": "a fox"}, recipient="test:x")
        assert job.task_id is not None
        token = callback_token(SECRET, job.id)
        last = job.status
        for state in order:
            if state in ("success", "fail"):
                body = callback_body(job.task_id, success=state == "success")
            else:
                body = progress_body(job.task_id, state)
            await handle_callback(ctx, job_id=job.id, token=token, body=body)
            await clock.advance(40)  # the poller also asks KIE (which says success after 30 s)
            await poll_due(ctx)
            now = await store.get(job.id)
            assert now is not None
            evidence += 2
            if last.terminal:
                backward += now.status is not last
            else:
                backward += RANK[now.status] < RANK[last]
            last = now.status
        first_final = next(s for s in order if s in ("success", "fail"))
        assert last is (JobStatus.SUCCEEDED if first_final == "success" else JobStatus.FAILED)
    name = type(store).__name__
    report(f"RELIABILITY backward-evidence store={name} evidence={evidence} backward_transitions={backward}")
    assert backward == 0


class AnswerLostKie:
    """A gateway whose createTask creates the task upstream and then loses the answer, ``lose`` times: the
    ambiguous case (a timeout after the request was sent)."""

    def __init__(self, inner: SimulatedKie, lose: int) -> None:
        self.inner = inner
        self.lose = lose

    async def create_task(self, model: str, inputs: Mapping[str, Any], *, callback_url: str | None) -> str:
        task_id = await self.inner.create_task(model, inputs, callback_url=callback_url)
        if self.lose > 0:
            self.lose -= 1
            raise KieTransportError("read timeout after the request was sent", sent=True)
        return task_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.anyio
@pytest.mark.parametrize("callbacks", [True, False], ids=["callbacks", "polling"])
async def test_an_ambiguous_create_task_makes_at_most_one_extra_task_and_charges_and_delivers_once(
    store: JobStore, callbacks: bool, report: Callable[[str], None]
) -> None:
    clock = FakeClock()
    messenger = RecordingMessenger()
    sim = SimulatedKie(clock, SimulatorConfig(delay_s=5))
    jobs_n = 12
    kie = AnswerLostKie(sim, lose=jobs_n)
    ctx = make_ctx(store, clock, kie, messenger)
    if not callbacks:
        ctx = attrs.evolve(ctx, config=attrs.evolve(ctx.config, public_url=None))

    async def sink(url: str, body: bytes) -> None:
        from kiegen.client import parse_callback_url

        job_id, token, query = parse_callback_url(url)
        await handle_callback(ctx, job_id=job_id, token=token, body=body, query=query)

    sim.callback_sink = sink
    await fund(store, "payer", 2 * jobs_n, clock)
    async with sim:
        ids = [
            (await submit(ctx, PAID, PAID_INPUTS, user_id="payer", recipient="test:payer")).id for _ in range(jobs_n)
        ]
        for _ in range(40):
            await clock.advance(5)
            await poll_due(ctx)
            while await deliver_due(ctx):
                pass
    jobs = [j for j in [await store.get(i) for i in ids] if j is not None]
    assert len(jobs) == jobs_n
    entries = await store.ledger("payer")
    captures = [e for e in entries if e.kind is LedgerKind.CAPTURE]
    per_job_sends = [messenger.count(i) for i in ids]
    tasks = len(sim.tasks)
    report(
        f"RELIABILITY ambiguous-create store={type(store).__name__} mode={'callbacks' if callbacks else 'polling'} "
        f"jobs={jobs_n} upstream_tasks={tasks} extra_tasks={tasks - jobs_n} succeeded="
        f"{sum(j.status is JobStatus.SUCCEEDED for j in jobs)} captures={len(captures)} "
        f"max_sends_per_job={max(per_job_sends)} balance={await store.balance('payer')}"
    )
    # with callbacks the first task's callback completes its job; polling only, each job is submitted once more
    assert tasks == (jobs_n if callbacks else 2 * jobs_n)
    assert all(j.terminal for j in jobs)
    assert per_job_sends == [1] * jobs_n
    assert len(captures) == sum(j.charged for j in jobs)
    assert len({e.job_id for e in captures}) == len(captures)
    assert await store.balance("payer") == 2 * jobs_n - 2 * len(captures)


@pytest.mark.anyio
async def test_concurrent_spending_from_many_tasks_never_overspends_and_payments_count_once(
    store: JobStore, report: Callable[[str], None]
) -> None:
    clock = FakeClock()
    kie = SimulatedKie(clock, SimulatorConfig(delay_s=10_000))
    ctx = make_ctx(store, clock, kie, RecordingMessenger())
    accepted = refused = 0
    credited = 0

    async def pay(n: int) -> None:
        nonlocal credited
        added = await store.add_entry(topup("spender", 7, key=f"tg-charge:{n % 3}", at=clock.now()))
        credited += added

    async with anyio.create_task_group() as tg:  # 30 deliveries of 3 payments, at once
        for n in range(30):
            tg.start_soon(pay, n)

    async def spend() -> None:
        nonlocal accepted, refused
        try:
            await submit(ctx, PAID, PAID_INPUTS, user_id="spender", recipient="test:x")
            accepted += 1
        except InsufficientCredits:
            refused += 1

    async with anyio.create_task_group() as tg:  # 21 credits, 2 per job: 10 affordable of 25
        for _ in range(25):
            tg.start_soon(spend)
    balance = await store.balance("spender")
    report(
        f"RELIABILITY ledger-concurrency store={type(store).__name__} payments_delivered=30 distinct_payments=3 "
        f"credited={credited} spends=25 accepted={accepted} refused={refused} balance={balance}"
    )
    assert credited == 3
    assert (accepted, refused, balance) == (10, 15, 1)
