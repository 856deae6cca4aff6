"""A KIE stand-in: the in-process ``SimulatedKie`` gateway (and, over HTTP, the simulator app)."""

from kiegen.simulator.engine import CallbackMode, SimulatedKie, SimulatorConfig

__all__ = ["CallbackMode", "SimulatedKie", "SimulatorConfig"]
