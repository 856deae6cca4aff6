"""SimulatedKie: a KieGateway that behaves like KIE, in process, on any Clock.

Tasks move waiting -> generating -> success/fail as the clock passes ``delay_s``; ``get_task`` reads that from
the clock, and, when entered as an async context manager, the simulator POSTs (through ``callback_sink``) a
callback in KIE's documented shape when a task ends. Knobs cover what real KIE does to integrations: lost,
duplicated, early (before createTask's answer) and malformed callbacks, the three task-id placements,
failures, and queued errors for createTask/recordInfo. Results are real PNGs (``png_for``) served by the
simulator app at ``result_base_url``.
"""

from __future__ import annotations

import enum
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import anyio.abc
import attrs

from kiegen.core.errors import KieError, KieTaskNotFound
from kiegen.core.jobs import TaskState
from kiegen.core.tasks import TaskSnapshot
from kiegen.ports.clock import Clock
from kiegen.simulator.png import make_png

__all__ = ["CallbackMode", "CallbackSink", "SimTask", "SimulatedKie", "SimulatorConfig"]

CallbackSink = Callable[[str, bytes], Awaitable[Any]]
"""Receives (callBackUrl, body); in process it is the callback service, over HTTP an httpx POST."""


class CallbackMode(enum.StrEnum):
    NORMAL = "normal"
    LOST = "lost"
    DUPLICATE = "duplicate"
    EARLY = "early"
    """The callback arrives before createTask has answered (the task finishes at once)."""
    MALFORMED = "malformed"


class TaskIdPlace(enum.StrEnum):
    DATA_TASK_ID = "data.taskId"
    DATA_TASK_ID_SNAKE = "data.task_id"
    TOP_LEVEL = "taskId"


@attrs.frozen(kw_only=True)
class SimulatorConfig:
    delay_s: float = 3.0
    fail_rate: float = 0.0
    """Share of tasks that end in ``fail`` (0..1), drawn with ``seed``."""
    callbacks: CallbackMode = CallbackMode.NORMAL
    duplicates: int = 3
    """Copies sent in DUPLICATE mode."""
    task_id_place: TaskIdPlace = TaskIdPlace.DATA_TASK_ID
    num_results: int | None = None
    """Result images per task; None reads ``num_images`` from the input (default 1)."""
    seed: int = 0
    result_base_url: str = "https://kie-simulator.invalid"
    credits: Decimal = Decimal("1000")


@attrs.define
class SimTask:
    task_id: str
    model: str
    inputs: Mapping[str, Any]
    callback_url: str | None
    created_at: datetime
    finish_at: datetime
    fails: bool
    results: int
    callback_sent: int = 0


class SimulatedKie:
    def __init__(
        self,
        clock: Clock,
        config: SimulatorConfig | None = None,
        *,
        callback_sink: CallbackSink | None = None,
    ) -> None:
        self.clock = clock
        self.config = config or SimulatorConfig()
        self.callback_sink = callback_sink
        self.tasks: dict[str, SimTask] = {}
        self.uploads: dict[str, tuple[bytes, str]] = {}
        self.calls: dict[str, int] = {"create_task": 0, "get_task": 0, "upload": 0, "credits": 0}
        self.callback_errors: list[BaseException] = []
        self._create_errors: list[KieError] = []
        self._get_errors: list[KieError] = []
        self._random = random.Random(self.config.seed)
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> SimulatedKie:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._tg is not None
        tg, self._tg = self._tg, None
        tg.cancel_scope.cancel()
        # The body's own exception is not the task group's business: it must reach the caller unwrapped.
        await tg.__aexit__(None, None, None)

    # knobs for tests

    def fail_create(self, *errors: KieError) -> None:
        self._create_errors.extend(errors)

    def fail_get(self, *errors: KieError) -> None:
        self._get_errors.extend(errors)

    def configure(self, **changes: Any) -> None:
        self.config = attrs.evolve(self.config, **changes)

    # the gateway

    async def create_task(self, model: str, inputs: Mapping[str, Any], *, callback_url: str | None) -> str:
        await anyio.lowlevel.checkpoint()
        self.calls["create_task"] += 1
        if self._create_errors:
            raise self._create_errors.pop(0)
        now = self.clock.now()
        task_id = uuid.uuid4().hex
        early = self.config.callbacks is CallbackMode.EARLY
        results = self.config.num_results or _result_count(inputs)
        task = SimTask(
            task_id=task_id,
            model=model,
            inputs=dict(inputs),
            callback_url=callback_url,
            created_at=now,
            finish_at=now if early else now + timedelta(seconds=self.config.delay_s),
            fails=self._random.random() < self.config.fail_rate,
            results=max(1, results),
        )
        self.tasks[task_id] = task
        if callback_url and self.callback_sink is not None:
            if early:
                await self._send_callbacks(task)
            elif self._tg is not None:
                self._tg.start_soon(self._callback_later, task)
        return task_id

    async def get_task(self, task_id: str) -> TaskSnapshot:
        await anyio.lowlevel.checkpoint()
        self.calls["get_task"] += 1
        if self._get_errors:
            raise self._get_errors.pop(0)
        task = self.tasks.get(task_id)
        if task is None:
            raise KieTaskNotFound(f"recordInfo: no task {task_id!r}", code=404)
        return self.snapshot(task)

    async def upload(self, data: bytes, *, filename: str, mime: str) -> str:
        await anyio.lowlevel.checkpoint()
        self.calls["upload"] += 1
        key = f"{uuid.uuid4().hex}/{filename}"
        self.uploads[key] = (data, mime)
        return f"{self.config.result_base_url}/uploads/{key}"

    async def credits(self) -> Decimal:
        await anyio.lowlevel.checkpoint()
        self.calls["credits"] += 1
        return self.config.credits

    # what the simulator knows

    def state(self, task: SimTask) -> TaskState:
        now = self.clock.now()
        if now >= task.finish_at:
            return TaskState.FAIL if task.fails else TaskState.SUCCESS
        if now >= task.created_at + (task.finish_at - task.created_at) * 0.2:
            return TaskState.GENERATING
        return TaskState.WAITING

    def result_urls(self, task: SimTask) -> tuple[str, ...]:
        return tuple(f"{self.config.result_base_url}/results/{task.task_id}/{n}.png" for n in range(task.results))

    def snapshot(self, task: SimTask) -> TaskSnapshot:
        state = self.state(task)
        return TaskSnapshot(
            task_id=task.task_id,
            state=state,
            result_urls=self.result_urls(task) if state is TaskState.SUCCESS else (),
            fail_code="500" if state is TaskState.FAIL else None,
            fail_message="simulated generation failure" if state is TaskState.FAIL else None,
            credits=0.8 if state is TaskState.SUCCESS else None,
            model=task.model,
        )

    def png_for(self, task_id: str, index: int) -> bytes | None:
        task = self.tasks.get(task_id)
        if task is None or index >= task.results or self.state(task) is not TaskState.SUCCESS:
            return None
        return make_png(f"{task_id}:{index}")

    def record_info_data(self, task: SimTask) -> dict[str, Any]:
        """recordInfo's ``data`` object, with the JSON-string fields KIE uses."""
        snap = self.snapshot(task)
        ms = int(task.created_at.timestamp() * 1000)
        done = snap.state in (TaskState.SUCCESS, TaskState.FAIL)
        return {
            "taskId": task.task_id,
            "model": task.model,
            "state": snap.state.value,
            "param": json.dumps({"model": task.model, "input": dict(task.inputs)}),
            "resultJson": json.dumps({"resultUrls": list(snap.result_urls)}) if snap.result_urls else "",
            "failCode": snap.fail_code or "",
            "failMsg": snap.fail_message or "",
            "costTime": int((task.finish_at - task.created_at).total_seconds() * 1000) if done else None,
            "createTime": ms,
            "updateTime": int(self.clock.now().timestamp() * 1000),
            "completeTime": int(task.finish_at.timestamp() * 1000) if done else None,
        }

    def callback_body(self, task: SimTask) -> bytes:
        if self.config.callbacks is CallbackMode.MALFORMED:
            return b'{"code": 200, "data": {"taskId": '
        data = self.record_info_data(task)
        data["creditsConsumed"] = 0.8 if not task.fails else 0
        data["costTime"] = round((task.finish_at - task.created_at).total_seconds())
        place = self.config.task_id_place
        body: dict[str, Any] = {"code": 501 if task.fails else 200, "msg": "fail" if task.fails else "success"}
        if place is not TaskIdPlace.DATA_TASK_ID:
            del data["taskId"]
            if place is TaskIdPlace.DATA_TASK_ID_SNAKE:
                data["task_id"] = task.task_id
            else:
                body["taskId"] = task.task_id
        if task.fails:
            data["resultJson"] = None
        body["data"] = data
        return json.dumps(body).encode()

    async def _callback_later(self, task: SimTask) -> None:
        await self.clock.sleep((task.finish_at - self.clock.now()).total_seconds())
        await self._send_callbacks(task)

    async def _send_callbacks(self, task: SimTask) -> None:
        mode = self.config.callbacks
        if mode is CallbackMode.LOST or task.callback_url is None or self.callback_sink is None:
            return
        copies = self.config.duplicates if mode is CallbackMode.DUPLICATE else 1
        body = self.callback_body(task)
        for _ in range(copies):
            task.callback_sent += 1
            try:
                await self.callback_sink(task.callback_url, body)
            except Exception as exc:  # a receiver error must not kill the simulator; tests inspect it
                self.callback_errors.append(exc)


def _result_count(inputs: Mapping[str, Any]) -> int:
    """How many results a task makes: ``num_images`` when it reads as a number (raw inputs may hold anything)."""
    try:
        return max(1, int(str(inputs.get("num_images", "1"))))
    except ValueError:
        return 1
