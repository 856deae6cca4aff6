"""The bot as ``python -m kiegen.apps.telegram`` runs it, except that the messenger's own download of a result
kills the process (SIGKILL, no clean-up) once the first part of the body has arrived: the ``mid_download``
crash point, reached through the messenger's HTTP client (its transport) instead of a hook in the messenger.

    python tests/telegram/dying_bot.py      # the environment of python -m kiegen.apps.telegram
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator

import httpx

from kiegen.apps.telegram.__main__ import main


class _DiesAfterTheFirstPart(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:
            yield part
            os.kill(os.getpid(), signal.SIGKILL)  # the reader asked for more: it has the first part


class DyingTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_DiesAfterTheFirstPart(response.stream),
            extensions=response.extensions,
        )


if __name__ == "__main__":
    sys.exit(main(app_options={"messenger_http": httpx.AsyncClient(transport=DyingTransport())}))
