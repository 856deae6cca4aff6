"""The soak's stand-ins for KIE and Telegram, and the person using the bot.

- ``ChaosKie``: the KIE simulator (served from a thread) with a random task duration, some tasks failing, and
  per task a dropped callback, one callback, or several copies of it spread over half a second; it times every
  callback answer, per receiver. ``kie_5xx`` queues 5xx answers for createTask and recordInfo.
- ``SoakTelegram`` / ``SlowBotApiServer``: the fake Bot API (in the test's event loop) that remembers each
  chat's messages, answers 429 or refuses a photo URL when told, and is slow to take photos and documents.
- ``Person``: one Telegram user going through the bot's journey (/start, Create, Z-Image, then the prompt, which
  starts the free generation at once), starting over when a step is not answered in time (the bot was being
  killed).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import httpx
from aiohttp import web

from kiegen.adapters.system import SystemClock
from kiegen.simulator.engine import SimTask, SimulatedKie, SimulatorConfig
from kiegen.simulator.faults import HttpFault
from tests.telegram import updates as up
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.server import FakeBotApiServer

REFUSED, TIMED_OUT = 0, -1


class ChaosKie(SimulatedKie):
    """Per task: dropped callback (``lost``), several copies (``duplicated``: 2-4, up to 0.5 s apart) or one.
    ``answers`` holds (receiver port, seconds, HTTP status) per callback sent; the status is ``REFUSED`` when
    nothing was listening (the process was down) and ``TIMED_OUT`` when no answer came within KIE's 15 s."""

    def __init__(self, *, lost: float, duplicated: float, fail_rate: float, seed: int = 7) -> None:
        self._http = httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=100))
        config = SimulatorConfig(delay_s=1.0, fail_rate=fail_rate, seed=seed)
        super().__init__(SystemClock(), config, callback_sink=self._post)
        self.lost, self.duplicated = lost, duplicated
        self._chaos = random.Random(seed)
        self.answers: list[tuple[str, float, int]] = []
        self.dropped = 0
        self.copies = 0

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            await self._http.aclose()

    async def create_task(self, model: str, inputs: Mapping[str, Any], *, callback_url: str | None) -> str:
        self.configure(delay_s=self._chaos.uniform(0.3, 2.0))
        return await super().create_task(model, inputs, callback_url=callback_url)

    async def _send_callbacks(self, task: SimTask) -> None:
        roll = self._chaos.random()
        if task.callback_url is None or roll < self.lost:
            self.dropped += task.callback_url is not None
            return
        copies = self._chaos.randint(2, 4) if roll < self.lost + self.duplicated else 1
        body = self.callback_body(task)
        for n in range(copies):
            if n:
                await anyio.sleep(self._chaos.uniform(0.0, 0.5))
            task.callback_sent += 1
            self.copies += 1
            with contextlib.suppress(httpx.HTTPError):
                await self._post(task.callback_url, body)

    async def _post(self, url: str, body: bytes) -> int:
        origin = httpx.URL(url).port or 0
        started = time.monotonic()
        try:
            response = await self._http.post(url, content=body, headers={"Content-Type": "application/json"})
        except httpx.TimeoutException:
            self.answers.append((str(origin), time.monotonic() - started, TIMED_OUT))
            raise
        except httpx.HTTPError:
            self.answers.append((str(origin), time.monotonic() - started, REFUSED))
            raise
        self.answers.append((str(origin), time.monotonic() - started, response.status_code))
        return response.status_code


def kie_5xx(app: Any, rng: random.Random) -> None:
    """Queue one round of KIE trouble on the simulator app: a 502 for a createTask, 503s for recordInfo."""
    app.faults.push("createTask", HttpFault.status(rng.choice([500, 502, 503])))
    app.faults.push("recordInfo", HttpFault.status(503), times=rng.randint(1, 3))


class SoakTelegram(FakeTelegram):
    """The fake Bot API, remembering each chat's messages in order (edits change them in place)."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.by_chat: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
        self.changes: collections.Counter[int] = collections.Counter()
        self.throttled = 0

    def handle(self, method: str, raw: dict[str, Any], files: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
        status, body = super().handle(method, raw, files)
        if status == 429:
            self.throttled += 1
        result = body.get("result")
        for message in result if isinstance(result, list) else [result]:
            if status == 200 and isinstance(message, dict) and "chat" in message:
                chat = int(message["chat"]["id"])
                if not method.lower().startswith("edit"):
                    self.by_chat[chat].append(message)
                self.changes[chat] += 1
        return status, body

    def throttle(self, method: str, retry_after: int) -> None:
        self.fail(method, 429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    def refuse_next_photo_url(self) -> None:
        """The next photo sent by URL fails as when Telegram cannot fetch it."""
        self.fail(
            "sendPhoto",
            400,
            "Bad Request: wrong file identifier/HTTP URL specified",
            when=lambda params: str(params.get("photo", "")).startswith("http"),
        )


class SlowBotApiServer(FakeBotApiServer):
    """Takes ``delay_s`` before answering the methods that carry a result (photos, documents, albums)."""

    SLOW = frozenset({"sendphoto", "senddocument", "sendmediagroup"})

    def __init__(self, fake: FakeTelegram, *, delay_s: float) -> None:
        super().__init__(fake)
        self.delay_s = delay_s

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["method"].lower() in self.SLOW:
            await anyio.sleep(self.delay_s)
        return await super()._method(request)


class Person:
    """A Telegram user generating through the bot. ``generate`` gives up (False) when a step is not answered
    within ``step_s``: the bot was down; the next journey starts again from /start."""

    def __init__(self, server: FakeBotApiServer, fake: SoakTelegram, chat: int, *, step_s: float) -> None:
        self.server, self.fake, self.chat, self.step_s = server, fake, chat, step_s
        self.generated: list[str] = []
        """Prompts the bot started (the card went to "queued"): each must be one job."""

    def _card(
        self, predicate: Callable[[dict[str, Any]], bool], message_id: int | None = None
    ) -> dict[str, Any] | None:
        """The latest card (a text message with buttons), or the message ``message_id``, if ``predicate``."""
        for message in reversed(self.fake.by_chat[self.chat]):
            if message_id is not None and message["message_id"] != message_id:
                continue
            if message_id is not None or (
                message.get("reply_markup") and not message.get("photo") and not message.get("document")
            ):
                return copy.deepcopy(message) if predicate(message) else None
        return None

    @staticmethod
    def _button(card: dict[str, Any], label: str) -> str | None:
        rows = card["reply_markup"]["inline_keyboard"]
        return next((b["callback_data"] for row in rows for b in row if label in b["text"]), None)

    async def _step(
        self, action: Callable[[], object], done: Callable[[dict[str, Any]], bool], message_id: int | None = None
    ) -> dict[str, Any] | None:
        before = self.fake.changes[self.chat]
        action()
        deadline = time.monotonic() + self.step_s
        while time.monotonic() < deadline:
            if self.fake.changes[self.chat] > before and (card := self._card(done, message_id)) is not None:
                return card
            await anyio.sleep(0.1)
        return None

    def _tap(self, card: dict[str, Any], label: str) -> Callable[[], object]:
        data = self._button(card, label)
        keep = ("message_id", "date", "chat", "from", "text", "caption")
        return lambda: self.server.push(up.tap(self.chat, data or "", {k: card[k] for k in keep if k in card}))

    async def generate(self, prompt: str) -> bool:
        card = await self._step(
            lambda: self.server.push(up.text(self.chat, "/start")), lambda c: bool(self._button(c, "Create"))
        )
        if card is None:
            return False
        card = await self._step(self._tap(card, "Create"), lambda c: bool(self._button(c, "A picture from text")))
        if card is None:
            return False
        card = await self._step(self._tap(card, "A picture from text"), lambda c: bool(self._button(c, "Z-Image")))
        if card is None:
            return False
        card = await self._step(self._tap(card, "Z-Image"), lambda c: "Write what the picture" in c.get("text", ""))
        if card is None:
            return False
        say = lambda: self.server.push(up.text(self.chat, prompt))  # noqa: E731
        started = lambda c: bool(self._button(c, "Stop") or self._button(c, "Try again"))  # noqa: E731
        queued = await self._step(say, started, message_id=card["message_id"])
        if queued is None:
            return False
        self.generated.append(prompt)
        return True
