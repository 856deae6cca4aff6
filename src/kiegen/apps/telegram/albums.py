"""Albums: several photos sent at once. Telegram sends each as its own message (sharing a ``media_group_id``),
each a separate update that the Dispatcher may handle at the same time as the others, and any of them may come
again (a new polling leader re-reads the last unconfirmed batch). For a model that takes several photos
(``url_list``) they are collected into the draft, up to as many as it takes; a model that takes one keeps the
first. Either way the person gets one card for the album, and is told when photos were left out.

How it stays right:
- Every change to the album draft is ``BotStore.update_draft`` with a pure change below: photos recorded at
  the same moment all land, in message order whatever order they arrive in, and the draft is created once
  (its id comes from the album, so every photo's handler names the same draft).
- A message already taken (kept or left out) is not taken again; nor is an album already submitted.
- A photo is *pending* while it downloads and uploads. The handler that records the album's latest photo waits
  ``album_window_s`` and, if no photo was recorded after it, shows the card (the album's one message, edited
  in place later if a slow photo still comes); a free model starts at once only when no photo is pending.
- The draft is durable: after a restart the photos taken stay, and the photos Telegram sends again join it.
"""

from __future__ import annotations

from datetime import datetime

import anyio
import attrs
from aiogram import Bot
from aiogram.types import Message

from kiegen.apps.telegram import screens
from kiegen.apps.telegram.cards import show
from kiegen.apps.telegram.deps import Deps, telegram_id, user_key
from kiegen.apps.telegram.flow import draft_for_photo, prompt_problem, start
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.photos import photo_limit, receive_image
from kiegen.apps.telegram.prompts import visible
from kiegen.core.models import ModelSpec
from kiegen.ports.bot import Album, AlbumPhoto, Draft, DraftChange

__all__ = ["abandon", "add_photo", "reserve", "take_album_photo"]


def _base(stored: Draft | None, template: Draft, group: str) -> tuple[Draft, Album] | None:
    """The draft a photo of album ``group`` goes to (the stored one if it is the album's, else ``template``)
    and its album so far; None when the album's draft was submitted already."""
    if stored is not None and stored.id == template.id:
        if stored.job_id is not None:
            return None
        base = stored
    else:
        base = template
    album = base.album if base.album is not None and base.album.id == group else Album(id=group)
    return base, album


def reserve(template: Draft, group: str, message_id: int, now: datetime) -> DraftChange:
    """The photo of ``message_id`` is on its way (pending), in the album's draft."""

    def change(stored: Draft | None) -> Draft | None:
        found = _base(stored, template, group)
        if found is None:
            return None
        base, album = found
        if message_id in album.seen or message_id in album.pending:
            return None if base is stored else attrs.evolve(base, album=album, updated_at=now)
        album = attrs.evolve(album, pending=(*album.pending, message_id))
        return attrs.evolve(base, album=album, updated_at=now)

    return change


def add_photo(
    template: Draft,
    group: str,
    message_id: int,
    url: str | None,
    *,
    limit: int,
    now: datetime,
    prompt: str | None = None,
) -> DraftChange:
    """Record the photo of ``message_id`` (``url`` None: it is beyond what the model takes, not uploaded);
    keep the first ``limit`` photos in message order; ``prompt`` is the photo's caption, if it gives one."""

    def change(stored: Draft | None) -> Draft | None:
        found = _base(stored, template, group)
        if found is None:
            return None
        base, album = found
        pending = tuple(m for m in album.pending if m != message_id)
        if message_id in album.seen:
            return attrs.evolve(base, album=attrs.evolve(album, pending=pending), updated_at=now)
        photos = list(album.photos)
        dropped = set(album.dropped)
        if url is None:
            dropped.add(message_id)
        else:
            photos.append(AlbumPhoto(message_id=message_id, url=url))
        photos.sort(key=lambda p: p.message_id)
        dropped |= {p.message_id for p in photos[limit:]}
        kept = photos[:limit]
        album = Album(id=group, photos=kept, dropped=sorted(dropped), pending=pending, last=message_id)
        draft = attrs.evolve(base, album=album, image_url=kept[0].url if kept else None, updated_at=now)
        if prompt is not None:
            draft = attrs.evolve(draft, prompt=prompt, prompt_message_id=message_id)
        return draft

    return change


def abandon(draft_id: str, group: str, message_id: int) -> DraftChange:
    """The photo of ``message_id`` could not be taken (the person was told why): no longer pending."""

    def change(stored: Draft | None) -> Draft | None:
        if stored is None or stored.id != draft_id or stored.album is None or stored.album.id != group:
            return None
        pending = tuple(m for m in stored.album.pending if m != message_id)
        return attrs.evolve(stored, album=attrs.evolve(stored.album, pending=pending))

    return change


def _would_be_left_out(stored: Draft | None, draft_id: str, group: str, message_id: int, limit: int) -> bool:
    """The album's draft holds as many photos as the model takes, all from earlier messages: this one would be
    left out whatever happens, so it need not be downloaded."""
    if stored is None or stored.id != draft_id or stored.album is None or stored.album.id != group:
        return False
    photos = stored.album.photos
    return len(photos) >= limit and all(p.message_id < message_id for p in photos)


async def _taken_before(deps: Deps, user_id: str, chat_id: int, group: str, message_id: int) -> bool:
    draft = await deps.bots.get_draft(user_id)
    if draft is not None and draft.album is not None and draft.album.id == group and message_id in draft.album.seen:
        return True
    return any(
        job.metadata.get("album") == group and job.recipient == f"telegram:{chat_id}"
        for job in await deps.client.jobs(user_id=user_id, limit=10)
    )


async def take_album_photo(message: Message, bot: Bot, deps: Deps, tr: Translator, *, caption: str) -> None:
    """One photo of an album (``message.media_group_id``); ``caption`` is its cleaned caption."""
    assert message.from_user is not None and message.media_group_id is not None
    group, chat, mid = message.media_group_id, message.chat.id, message.message_id
    user_id = user_key(message.from_user.id)
    if await _taken_before(deps, user_id, chat, group, mid):
        return
    found = await draft_for_photo(deps, user_id, chat, origin=f"album {group}")
    if found is None:
        await message.answer(tr("no_editor"))
        return
    template, spec = found
    limit = photo_limit(spec)
    stored = await deps.bots.update_draft(user_id, reserve(template, group, mid, deps.now()))
    url = None
    if not _would_be_left_out(stored, template.id, group, mid, limit):
        url = await receive_image(message, bot, deps, tr)
        if url is None:
            await deps.bots.update_draft(user_id, abandon(template.id, group, mid))
            return
    prompt = None
    if visible(caption):
        problem = prompt_problem(tr, spec, caption)
        if problem is not None:
            await message.answer(problem)
        else:
            prompt = caption
    change = add_photo(template, group, mid, url, limit=limit, now=deps.now(), prompt=prompt)
    await deps.bots.update_draft(user_id, change)
    await anyio.sleep(deps.config.album_window_s)  # the album's other photos arrive meanwhile
    await _show_album(bot, deps, tr, user_id, template.id, group, mid, spec, limit)


async def _show_album(
    bot: Bot, deps: Deps, tr: Translator, user_id: str, draft_id: str, group: str, mid: int, spec: ModelSpec, limit: int
) -> None:
    """The album's card, by the handler of the photo recorded last (the others leave it to that one)."""
    draft = await deps.bots.get_draft(user_id)
    if draft is None or draft.id != draft_id or draft.job_id is not None:
        return
    album = draft.album
    if album is None or album.id != group or album.last != mid:
        return
    if album.dropped:
        sent = len(album.seen)
        if limit == 1:
            note = tr.plain("album_one", n=sent, title=spec.title)
        else:
            note = tr.plain("album_over", n=sent, title=spec.title, limit=limit)
        await bot.send_message(draft.chat_id or 0, note, parse_mode=None)
    ready, _, _ = await screens.readiness(deps, spec, draft)
    if not album.pending and ready.can_start and spec.price <= 0:
        await start(bot, deps, tr, draft, spec)
        return
    owner = telegram_id(user_id) or 0
    assert draft.chat_id is not None
    screen = await screens.draft_card(deps, tr, spec, draft, owner)
    card = await show(bot, draft.chat_id, draft.card_message_id, screen)

    def with_card(stored: Draft | None) -> Draft | None:
        # Only the card id: a photo recorded since the draft was read stays.
        if stored is None or stored.id != draft_id:
            return None
        return attrs.evolve(stored, card_message_id=card)

    await deps.bots.update_draft(user_id, with_card)
