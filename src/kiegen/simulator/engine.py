"""SimulatedKie: a KieGateway that behaves like KIE, in process, on any Clock.

Tasks move waiting -> generating -> success/fail as the clock passes ``delay_s``; ``get_task`` reads that from
the clock, and, when entered as an async context manager, the simulator POSTs (through ``callback_sink``) a
callback when a task ends. Knobs cover what real KIE does to integrations: lost, duplicated, early (before
createTask's answer) and malformed callbacks, the three task-id placements, failures, and queued errors for
createTask/recordInfo. Results are real PNGs, or for the models in ``video_models`` a real MP4 (``file_for_result``),
served by the simulator app at ``result_base_url``.

Answers follow the recorded live shapes of KIE_API.md by default (``Shape.LIVE``): ``failCode``/``failMsg``
null on success, ``costTime`` in seconds, ``creditsConsumed`` in recordInfo and callbacks, ``param`` with
``input`` double-encoded, createTask refusals as body code 500 ("This field is required", "This interface is
temporarily paused.") and unknown models as 404. ``Shape.DOCS`` answers like the older documentation copies
(``costTime`` in milliseconds, ``failCode`` ``""``, no credits in recordInfo, ``consumeCredits`` and
``remainedCredits`` in callbacks, refusals as 422), so that both readings stay tested.
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

from kiegen.core.errors import KieError, KieRejected, KieTaskNotFound
from kiegen.core.jobs import TaskState
from kiegen.core.tasks import TaskSnapshot
from kiegen.ports.clock import Clock
from kiegen.simulator.png import make_png
from kiegen.simulator.video import make_mp4

__all__ = ["REQUIRED_INPUTS", "CallbackMode", "CallbackSink", "Shape", "SimTask", "SimulatedKie", "SimulatorConfig"]

CallbackSink = Callable[[str, bytes], Awaitable[Any]]
"""Receives (callBackUrl, body); in process it is the callback service, over HTTP an httpx POST."""


class CallbackMode(enum.StrEnum):
    NORMAL = "normal"
    LOST = "lost"
    DUPLICATE = "duplicate"
    EARLY = "early"
    """The callback arrives before createTask has answered (the task finishes at once)."""
    MALFORMED = "malformed"


class Shape(enum.StrEnum):
    LIVE = "live"
    """As recorded from the live API (KIE_API.md, [live])."""
    DOCS = "docs"
    """As older copies of KIE's documentation show it."""


REQUIRED_INPUTS: Mapping[str, tuple[str, ...]] = {
    # What KIE's API itself requires (KIE_API.md); kiegen fills z-image's aspect_ratio before sending.
    "z-image": ("prompt", "aspect_ratio"),
    "qwen/text-to-image": ("prompt",),
    "qwen/image-to-image": ("prompt", "image_url"),
    "qwen/image-edit": ("prompt", "image_url"),
}


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
    shape: Shape = Shape.LIVE
    """The answer shapes: recorded live ones, or the older documentation's."""
    task_credits: float = 0.8
    """What each successful task costs (``creditsConsumed``; z-image's live figure)."""
    required_inputs: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    """Inputs createTask refuses to go without, per model (KIE: body 500 "This field is required");
    ``REQUIRED_INPUTS`` holds KIE's for the four seed models (``kiegen simulate-kie`` uses them)."""
    paused_models: frozenset[str] = frozenset()
    """Models whose createTask answers body 500 "This interface is temporarily paused."."""
    models: frozenset[str] | None = None
    """The models createTask knows (None: any); another answers 404 (live) or 422 (docs)."""
    video_models: frozenset[str] | None = None
    """Models whose results are videos (one MP4 per task); None: none, unless a ``Client`` building the
    simulator fills it from its registry's video models."""


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
    video: bool = False
    callback_sent: int = 0

    @property
    def extension(self) -> str:
        return "mp4" if self.video else "png"


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
        self._refuse(model, inputs)
        now = self.clock.now()
        task_id = uuid.uuid4().hex
        early = self.config.callbacks is CallbackMode.EARLY
        video = model in (self.config.video_models or ())
        # A video task makes one video (KIE's video models take no num_images).
        results = 1 if video else self.config.num_results or _result_count(inputs)
        task = SimTask(
            task_id=task_id,
            model=model,
            inputs=dict(inputs),
            callback_url=callback_url,
            created_at=now,
            finish_at=now if early else now + timedelta(seconds=self.config.delay_s),
            fails=self._random.random() < self.config.fail_rate,
            results=max(1, results),
            video=video,
        )
        self.tasks[task_id] = task
        if callback_url and self.callback_sink is not None:
            if early:
                await self._send_callbacks(task)
            elif self._tg is not None:
                self._tg.start_soon(self._callback_later, task)
        return task_id

    def _refuse(self, model: str, inputs: Mapping[str, Any]) -> None:
        """KIE's own refusals, with KIE's own messages (the HTTP app answers them in the body)."""
        config = self.config
        live = config.shape is Shape.LIVE
        if config.models is not None and model not in config.models:
            raise KieRejected(
                f"The model {model} does not exist" if live else "model is not supported", code=404 if live else 422
            )
        if model in config.paused_models:
            raise KieRejected("This interface is temporarily paused.", code=500)
        missing = [name for name in config.required_inputs.get(model, ()) if inputs.get(name) in (None, "")]
        if missing:
            raise KieRejected(
                "This field is required" if live else f"{missing[0]} is required", code=500 if live else 422
            )

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
        base = f"{self.config.result_base_url}/results/{task.task_id}"
        return tuple(f"{base}/{n}.{task.extension}" for n in range(task.results))

    def snapshot(self, task: SimTask) -> TaskSnapshot:
        state = self.state(task)
        return TaskSnapshot(
            task_id=task.task_id,
            state=state,
            result_urls=self.result_urls(task) if state is TaskState.SUCCESS else (),
            fail_code="500" if state is TaskState.FAIL else None,
            fail_message="simulated generation failure" if state is TaskState.FAIL else None,
            credits=self.config.task_credits if state is TaskState.SUCCESS else None,
            model=task.model,
        )

    def png_for(self, task_id: str, index: int) -> bytes | None:
        found = self.file_for_result(task_id, index, "png")
        return found[0] if found is not None else None

    def file_for_result(self, task_id: str, index: int, extension: str) -> tuple[bytes, str] | None:
        """(content, MIME type) of a finished task's ``index``-th result, if it is one of ``extension``."""
        task = self.tasks.get(task_id)
        if task is None or index >= task.results or self.state(task) is not TaskState.SUCCESS:
            return None
        if extension != task.extension:
            return None
        if task.video:
            return make_mp4(f"{task_id}:{index}"), "video/mp4"
        return make_png(f"{task_id}:{index}"), "image/png"

    def record_info_data(self, task: SimTask) -> dict[str, Any]:
        """recordInfo's ``data`` object, with the JSON-string fields KIE uses, in the configured shape."""
        snap = self.snapshot(task)
        live = self.config.shape is Shape.LIVE
        done = snap.state in (TaskState.SUCCESS, TaskState.FAIL)
        took = (task.finish_at - task.created_at).total_seconds()
        # Live: ``input`` itself is a JSON string inside the JSON string ``param``.
        param_input: Any = json.dumps(dict(task.inputs)) if live else dict(task.inputs)
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "model": task.model,
            "state": snap.state.value,
            "param": json.dumps(
                {"input": param_input, "model": task.model}
                | ({"callBackUrl": task.callback_url} if task.callback_url else {})
            ),
            "resultJson": json.dumps({"resultUrls": list(snap.result_urls)}) if snap.result_urls else "",
            "failCode": snap.fail_code if snap.fail_code or not live else None,
            "failMsg": snap.fail_message if snap.fail_message or not live else None,
            "costTime": (round(took) if live else int(took * 1000)) if done else None,
            "completeTime": int(task.finish_at.timestamp() * 1000) if done else None,
            "createTime": int(task.created_at.timestamp() * 1000),
            "updateTime": int(self.clock.now().timestamp() * 1000),
        }
        if not live:
            data["failCode"] = data["failCode"] or ""
            data["failMsg"] = data["failMsg"] or ""
        elif snap.credits is not None:
            data["creditsConsumed"] = snap.credits
        return data

    def callback_body(self, task: SimTask) -> bytes:
        if self.config.callbacks is CallbackMode.MALFORMED:
            return b'{"code": 200, "data": {"taskId": '
        data = self.record_info_data(task)
        charged = 0 if task.fails else self.config.task_credits
        if self.config.shape is Shape.LIVE:
            data["creditsConsumed"] = charged
        else:
            data["consumeCredits"] = charged
            data["remainedCredits"] = float(self.config.credits)
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
        # A sleep may end a hair early on the wall clock (the loop's clock is another one): sleep the rest, so
        # that the callback always tells the task's end, as KIE's does.
        while (remaining := (task.finish_at - self.clock.now()).total_seconds()) > 0:
            await self.clock.sleep(remaining)
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
