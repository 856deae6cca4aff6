"""Adapters backed by the operating system: the real clock."""

from kiegen.adapters.system.clock import SystemClock

__all__ = ["SystemClock"]
