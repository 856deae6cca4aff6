"""A photo from the user: downloaded from Telegram by the bot and uploaded to KIE's file API as bytes.

A Telegram file URL contains the bot token, so it never leaves the bot: KIE only ever sees the URL of its own
upload. Photos (Telegram re-encodes them as JPEG) and image documents (JPEG, PNG, WEBP) are accepted, up to
KIE's 10 MB; the bytes must look like an image, whatever the file claims.
"""

from __future__ import annotations

import io
import logging

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

from kiegen.adapters.httpkit import sniff_image
from kiegen.apps.telegram.deps import Deps
from kiegen.apps.telegram.i18n import Translator
from kiegen.core.errors import KiegenError
from kiegen.core.models import InputType, ModelSpec

__all__ = ["ALBUM_MAX", "MAX_IMAGE_BYTES", "photo_limit", "receive_image"]

log = logging.getLogger("kiegen.apps.telegram.photos")

MAX_IMAGE_BYTES = 10 * 1024 * 1024
_MIMES = frozenset({"image/jpeg", "image/png", "image/webp"})
"""Image documents accepted by their declared type (the bytes are checked again after download)."""
ALBUM_MAX = 10
"""Telegram's largest album: what a list input without a stated maximum takes from one."""


def photo_limit(spec: ModelSpec) -> int:
    """How many photos ``spec`` takes at once: a list input's ``max_items`` (``ALBUM_MAX`` when unstated), one
    for a single URL, none for a model without an image input."""
    image = spec.image_input
    if image is None:
        return 0
    if image.type is InputType.URL_LIST:
        return max(1, image.max_items or ALBUM_MAX)
    return 1


async def receive_image(message: Message, bot: Bot, deps: Deps, tr: Translator) -> str | None:
    """The KIE URL of the image in ``message``, or None after telling the person why not."""
    if message.photo:
        size = message.photo[-1]
        file_id, file_size = size.file_id, size.file_size
    elif message.document is not None:
        document = message.document
        if (document.mime_type or "").lower() not in _MIMES:
            await message.answer(tr("refuse_not_image"))
            return None
        file_id, file_size = document.file_id, document.file_size
    else:
        await message.answer(tr("hint_photo_expected"))
        return None
    if file_size is not None and file_size > MAX_IMAGE_BYTES:
        await message.answer(tr("refuse_too_big", mb=MAX_IMAGE_BYTES // (1024 * 1024)))
        return None
    try:
        buffer = await bot.download(file_id, destination=io.BytesIO())
    except (TelegramAPIError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        # aiohttp's errors (a non-2xx answer, a cut-off body, the network) may hold the file URL, and so the
        # token, in their text: log the type only.
        log.warning("photo download failed: %s", type(exc).__name__)
        await message.answer(tr("photo_failed"))
        return None
    data = buffer.read() if buffer is not None else b""
    if len(data) > MAX_IMAGE_BYTES:
        await message.answer(tr("refuse_too_big", mb=MAX_IMAGE_BYTES // (1024 * 1024)))
        return None
    kind = sniff_image(data[:16])  # png, jpeg or webp
    if kind is None:
        await message.answer(tr("refuse_not_image"))
        return None
    try:
        return await deps.client.upload(data, filename=f"input.{kind}", mime=f"image/{kind}")
    except KiegenError as exc:
        log.warning("photo upload to KIE failed: %s", exc.message)
        await message.answer(tr("photo_failed"))
        return None
