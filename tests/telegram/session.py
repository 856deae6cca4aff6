"""FakeSession: an aiogram ``BaseSession`` subclass that hands every method to a ``FakeTelegram`` and answers
through aiogram's own ``check_response``, so error mapping (429, 403, 400, 413...) runs exactly as in
production. The idea is aiogram's ``tests/mocked_bot.py``; the code is ours."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile

from tests.telegram.fake_telegram import FakeTelegram


class FakeSession(BaseSession):
    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__()
        self.fake = fake
        self.requested_urls: list[str] = []

    async def close(self) -> None:
        pass

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.requested_urls.append(self.api.api_url(bot.token, method.__api_method__))
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:  # aiohttp's form builder skips empty values too
                params[key] = prepared
        uploads = {}
        for key, input_file in files.items():
            uploads[key] = b"".join([chunk async for chunk in input_file.read(bot)])
        status, body = self.fake.handle(method.__api_method__, params, uploads)
        response = self.check_response(bot=bot, method=method, status_code=status, content=json.dumps(body))
        return cast(TelegramType, response.result)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        self.requested_urls.append(url)
        path = url.split(f"/file/bot{self.fake.token}/", 1)[-1]
        data = self.fake.file_bytes(path)
        if data is None:
            raise OSError("404 file not found")
        yield data
