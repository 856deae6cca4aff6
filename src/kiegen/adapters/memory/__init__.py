"""In-memory adapters, shipped so that users can test their own code without network or database."""

from kiegen.adapters.memory.bot_store import InMemoryBotStore
from kiegen.adapters.memory.clock import FakeClock
from kiegen.adapters.memory.messaging import ConsoleMessenger, RecordingMessenger
from kiegen.adapters.memory.notify import InProcessNotifier
from kiegen.adapters.memory.store import InMemoryJobStore
from kiegen.simulator.engine import SimulatedKie, SimulatorConfig

__all__ = [
    "ConsoleMessenger",
    "FakeClock",
    "InMemoryBotStore",
    "InMemoryJobStore",
    "InProcessNotifier",
    "RecordingMessenger",
    "SimulatedKie",
    "SimulatorConfig",
]
