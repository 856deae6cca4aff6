"""Immutable JSON-shaped values: ``freeze`` turns mappings into ``FrozenDict`` and lists into tuples, all the way
down, so that a frozen domain value (a job's inputs, the model registry) cannot be emptied from a REPL.

``FrozenDict`` subclasses ``dict`` on purpose: ``json.dumps``, SQLAlchemy's JSON type and ``dict(...)`` keep
working on it unchanged, while every mutating method raises ``TypeError``. Like attrs' frozen classes, it guards
against mistakes, not against ``dict.__setitem__(frozen, ...)`` written on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

__all__ = ["FrozenDict", "freeze", "thaw"]

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(dict[K, V]):
    __slots__ = ()

    def _refuse(self, *_: object, **__: object) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is immutable: build a new mapping instead")

    def __setitem__(self, key: K, value: V) -> NoReturn:
        self._refuse()

    def __delitem__(self, key: K) -> NoReturn:
        self._refuse()

    def __ior__(self, other: object) -> NoReturn:  # type: ignore[misc]
        self._refuse()

    def clear(self) -> NoReturn:
        self._refuse()

    def pop(self, *args: object) -> NoReturn:
        self._refuse()

    def popitem(self) -> NoReturn:
        self._refuse()

    def setdefault(self, *args: object) -> NoReturn:
        self._refuse()

    def update(self, *args: object, **kwargs: object) -> NoReturn:
        self._refuse()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle rebuild it instead of setting items one by one
        return (type(self), (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def freeze(value: Any) -> Any:
    """The value with every mapping frozen and every list turned into a tuple (recursively)."""
    if type(value) is FrozenDict:
        return value  # frozen all the way down when it was made (copying a job's inputs on every change is waste)
    if isinstance(value, Mapping):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Plain JSON-shaped data again: mappings become dicts and tuples lists (for callers who mutate)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def frozen_mapping(value: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> FrozenDict[Any, Any]:
    """An attrs converter: a deep-frozen copy of a mapping (a frozen one is kept as it is)."""
    if type(value) is FrozenDict:
        return value
    frozen: FrozenDict[Any, Any] = freeze(dict(value))
    return frozen
