"""Ports: one ``typing.Protocol`` per role, and the value types that cross it. Each module's docstring is the
contract that every adapter of that port must keep (enforced by ``tests/contract``)."""
