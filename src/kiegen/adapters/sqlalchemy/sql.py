"""Statements straight to the driver: one SQL text per statement, prepared once per connection, on SQLite
(the ``sqlite3`` module) and PostgreSQL (asyncpg), with the value conversions each engine needs.

A statement is written once with named parameters (``:job_id``) and compiled at import into each engine's
form: SQLite keeps the names, PostgreSQL gets ``$1, $2 ...`` and the order of the names. Both drivers cache
prepared statements per connection by their text, so a constant text is parsed and planned once.

An operation is ``async def op(conn: Conn) -> T``: the same code runs on both engines. A SQLite connection's
methods never suspend (they call ``sqlite3`` directly), so the SQLite store runs an operation to completion on
its own thread with ``drive(coroutine)``; on PostgreSQL the methods await asyncpg on the store's own loop.

Values cross the boundary through the connection's codec: ``ts``/``read_ts`` (SQLite stores UTC timestamps as
naive ISO text of fixed width, ``YYYY-MM-DD HH:MM:SS.ffffff``, exactly as SQLAlchemy wrote them, so that text
order is time order; PostgreSQL has ``timestamptz``), ``json``/``read_json`` (text on SQLite, ``jsonb`` on
PostgreSQL), ``day``/``read_day`` and ``read_bool``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Coroutine, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

import attrs

from kiegen.core.errors import StoreError

__all__ = [
    "Conn",
    "IntegrityViolation",
    "Sql",
    "drive",
    "postgres_only",
    "sql",
    "store_error",
]

T = TypeVar("T")

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@attrs.frozen
class Sql:
    """One statement in each engine's form (see ``sql``)."""

    sqlite: str
    postgres: str
    names: tuple[str, ...]
    """The parameter names in PostgreSQL's ``$n`` order."""

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


def postgres_only(text: str) -> Sql:
    """A statement only the PostgreSQL store runs (its SQLite form refuses to run)."""
    return attrs.evolve(sql(text, postgres=text), sqlite="SELECT raise(ABORT, 'a PostgreSQL-only statement')")


def sql(text: str, *, postgres: str | None = None) -> Sql:
    """Compile ``text`` (named ``:params``) for both engines; ``postgres`` replaces it where the dialects
    differ (it takes every parameter of ``text``, and may take more: an operation passes them on both)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    pg_text = _PARAM.sub(number, postgres if postgres is not None else text)
    sqlite_names = set(_PARAM.findall(text))
    assert sqlite_names <= set(names), f"the PostgreSQL form lacks parameters: {sqlite_names - set(names)}"
    return Sql(sqlite=text, postgres=pg_text, names=tuple(names))


class IntegrityViolation(Exception):
    """A unique or check constraint refused the statement (the operation decides what that means)."""


class Conn(Protocol):
    """What an operation sees of a connection (inside the writer's transaction, or a reader's statement)."""

    dialect: str

    async def fetchrow(self, statement: Sql, params: Mapping[str, Any] = ...) -> Mapping[str, Any] | None: ...

    async def fetch(self, statement: Sql, params: Mapping[str, Any] = ...) -> Sequence[Mapping[str, Any]]: ...

    async def fetchval(self, statement: Sql, params: Mapping[str, Any] = ...) -> Any: ...

    async def execute(self, statement: Sql, params: Mapping[str, Any] = ...) -> int:
        """Run it; the number of rows it changed."""

    async def executemany(self, statement: Sql, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def notify(self, job_id: str) -> None:
        """Wake waiters of ``job_id`` in other processes once this transaction commits (PostgreSQL's NOTIFY;
        nothing on SQLite, whose other processes read storage at a short interval)."""

    # codec

    def ts(self, value: datetime | None) -> Any: ...

    def read_ts(self, value: Any) -> datetime | None: ...

    def json(self, value: Any) -> Any: ...

    def read_json(self, value: Any) -> Any: ...

    def day(self, value: date) -> Any: ...

    def read_day(self, value: Any) -> date: ...

    def read_bool(self, value: Any) -> bool: ...


class SqliteCodec:
    """Values as SQLAlchemy's SQLite types store them (rows written before this module stay readable)."""

    dialect = "sqlite"

    @staticmethod
    def ts(value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")

    @staticmethod
    def read_ts(value: Any) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(value + "+00:00")  # one parse, already in UTC

    @staticmethod
    def json(value: Any) -> str:
        if not value:
            return "[]" if isinstance(value, list | tuple) else "{}" if isinstance(value, dict) else json.dumps(value)
        return json.dumps(value)

    @staticmethod
    def read_json(value: Any) -> Any:
        if value == "{}":
            return {}  # most metadata and result lists: no parse
        if value == "[]":
            return []
        return json.loads(value)

    @staticmethod
    def day(value: date) -> str:
        return value.isoformat()

    @staticmethod
    def read_day(value: Any) -> date:
        return date.fromisoformat(value)

    @staticmethod
    def read_bool(value: Any) -> bool:
        return bool(value)


class PostgresCodec:
    """asyncpg speaks ``timestamptz``, ``date`` and ``bool`` natively; ``jsonb`` goes through the JSON codec
    the store installs on each connection."""

    dialect = "postgresql"

    @staticmethod
    def ts(value: datetime | None) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)

    @staticmethod
    def read_ts(value: Any) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    @staticmethod
    def json(value: Any) -> Any:
        return value

    @staticmethod
    def read_json(value: Any) -> Any:
        return value

    @staticmethod
    def day(value: date) -> date:
        return value

    @staticmethod
    def read_day(value: Any) -> date:
        assert isinstance(value, date)
        return value

    @staticmethod
    def read_bool(value: Any) -> bool:
        return bool(value)


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an operation whose awaits never suspend (a SQLite connection's) to completion, here and now."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a SQLite store operation awaited something other than its connection")


def store_error(exc: BaseException, *, retryable: bool = True) -> StoreError:
    """A database failure as kiegen's error: the engine's message (first line, no parameters), retryable
    unless the value itself was refused."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    error = StoreError(f"database error: {type(exc).__name__}: {text}"[:500])
    error.retryable = retryable
    return error
