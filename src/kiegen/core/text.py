"""Text no database stores: what makes a string unfit for a job row, whatever the engine.

PostgreSQL refuses NUL in ``text`` and ``\\u0000`` in ``jsonb``; neither engine can encode a lone surrogate
(``"\\ud800"``, which ``json.loads`` accepts) as UTF-8. Such a string must be refused where it comes in, naming
its field, rather than reach the store and come back as a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["unstorable", "unstorable_strings"]


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL character, an unpaired surrogate), or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not valid Unicode text)"
    return None


def unstorable_strings(value: Any, field: str) -> Iterator[tuple[str, str]]:
    """(field path, reason) for every string in a JSON value (keys included) that cannot be stored;
    ``field`` names ``value`` itself, nested fields are ``field.key`` and ``field[index]``."""
    if isinstance(value, str):
        reason = unstorable(value)
        if reason is not None:
            yield field, reason
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{field}.{key}" if isinstance(key, str) and unstorable(key) is None else f"{field}.<key>"
            if isinstance(key, str) and (reason := unstorable(key)) is not None:
                yield name, f"a key {reason}"
            yield from unstorable_strings(item, name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from unstorable_strings(item, f"{field}[{index}]")
