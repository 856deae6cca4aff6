"""KieGateway: the KIE API as kiegen needs it.

Contract:
- ``create_task(model, inputs, callback_url=...)`` returns KIE's task id (an opaque string). It raises only
  ``KieError`` subclasses; each says whether it is ``retryable``. ``KieTransportError.sent`` is False only when
  the request certainly never left; otherwise a failure is ambiguous (the task may exist upstream).
- ``get_task(task_id)`` returns a ``TaskSnapshot``; unknown state strings become ``TaskState.UNKNOWN``; an
  unknown task raises ``KieTaskNotFound``.
- ``upload(data, filename=..., mime=...)`` returns an http(s) URL that KIE can fetch the file from.
- ``credits()`` returns the KIE account balance (may be fractional).
- Adapters retry in one layer only (their own), and never log the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from kiegen.core.jobs import TaskState
from kiegen.core.tasks import TaskSnapshot

__all__ = ["KieGateway", "TaskSnapshot", "TaskState"]


class KieGateway(Protocol):
    async def create_task(self, model: str, inputs: Mapping[str, Any], *, callback_url: str | None) -> str: ...

    async def get_task(self, task_id: str) -> TaskSnapshot: ...

    async def upload(self, data: bytes, *, filename: str, mime: str) -> str: ...

    async def credits(self) -> Decimal: ...
