"""A photo from the user: downloaded from Telegram by the bot and uploaded to KIE's file API as bytes; and a
draft's photos as a model's image input (one URL, or a list: ``photo_limit``).

A Telegram file URL contains the bot token, so it never leaves the bot: KIE only ever sees the URL of its own
upload. Photos (Telegram re-encodes them as JPEG) and image documents (JPEG, PNG, WEBP) are accepted, up to
KIE's 10 MB; the bytes must look like an image, whatever the file claims.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import aiohttp
import attrs
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

from kiegen.adapters.httpkit import sniff_image
from kiegen.apps.telegram.deps import Deps
from kiegen.apps.telegram.i18n import Translator
from kiegen.core.errors import KiegenError
from kiegen.core.jobs import Job
from kiegen.core.models import InputType, ModelSpec
from kiegen.ports.bot import Album, AlbumPhoto, Draft

__all__ = [
    "ALBUM_MAX",
    "MAX_IMAGE_BYTES",
    "carried_photos",
    "image_inputs",
    "photo_limit",
    "photos_of",
    "receive_image",
]

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


# the draft's photos


def image_inputs(spec: ModelSpec, draft: Draft) -> dict[str, Any]:
    """The draft's photos as the model's image input: a list (as many as it takes) or the first one's URL."""
    image, photos = spec.image_input, draft.images
    if image is None or not photos:
        return {}
    if image.type is InputType.URL_LIST:
        return {image.name: list(photos[: photo_limit(spec)])}
    return {image.name: photos[0]}


def carried_photos(previous: Draft, spec: ModelSpec) -> dict[str, Any]:
    """The photos a draft's new model takes from the previous draft: all it takes of an album, else the one."""
    limit = photo_limit(spec)
    if not limit or not previous.image_url:
        return {}
    album = previous.album
    if album is None or limit == 1:
        return {"image_url": previous.image_url, "album": None}
    kept = album.photos[:limit]
    dropped = sorted({*album.dropped, *(p.message_id for p in album.photos[limit:])})
    return {"image_url": previous.image_url, "album": attrs.evolve(album, photos=kept, dropped=dropped, pending=())}


def photos_of(spec: ModelSpec, job: Job) -> dict[str, Any]:
    """A job's photos, for a draft repeating it: the first as ``image_url``, a list as the draft's album (each
    photo numbered by its place in the list)."""
    image = spec.image_input
    value = job.inputs.get(image.name) if image is not None else None
    if isinstance(value, (list, tuple)) and value:  # a stored job's lists come back as tuples
        photos = [AlbumPhoto(message_id=i, url=str(url)) for i, url in enumerate(value)]
        return {"image_url": str(value[0]), "album": Album(id=f"job {job.id}", photos=photos)}
    return {"image_url": str(value)} if value else {}


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
