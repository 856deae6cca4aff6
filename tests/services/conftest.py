"""A kiegen wired from the shipped in-memory adapters, a FakeClock and the in-process KIE simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

from kiegen import Client
from kiegen.adapters.memory import FakeClock, InMemoryJobStore, RecordingMessenger, SimulatedKie, SimulatorConfig
from kiegen.catalogue import default_registry
from kiegen.client import IN_PROCESS_URL
from kiegen.services import Config


@attrs.define
class Kit:
    clock: FakeClock
    store: InMemoryJobStore
    kie: SimulatedKie
    messenger: RecordingMessenger
    client: Client

    async def settle(self) -> None:
        """Let the background workers finish what is runnable now (no time passes)."""
        await self.clock.advance(0)

    async def submit(self, model: str = "z-image", inputs: dict[str, Any] | None = None, **kw: Any) -> Any:
        kw.setdefault("recipient", "test:alice")
        return await self.client.submit(model, inputs or {"prompt": "a red fox in the snow"}, **kw)


def make_config(**changes: Any) -> Config:
    base = Config(
        registry=default_registry().with_prices({"qwen/image-edit": 5}),
        public_url=IN_PROCESS_URL,
        callback_secret=b"test-secret",
    )
    return attrs.evolve(base, **changes)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(delay_s=5.0)


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
async def kit(sim_config: SimulatorConfig, config: Config) -> AsyncIterator[Kit]:
    clock = FakeClock()
    store = InMemoryJobStore()
    kie = SimulatedKie(clock, sim_config)
    messenger = RecordingMessenger(prefixes=["test:"])
    client = Client(store=store, kie=kie, messengers=[messenger], clock=clock, config=config, resources=[kie])
    kie.callback_sink = client.receive_callback
    async with client:
        yield Kit(clock=clock, store=store, kie=kie, messenger=messenger, client=client)
