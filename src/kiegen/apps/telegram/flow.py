"""What a prompt, a photo or a tap leads to: the draft it goes to, the one card that shows it, and the job.

The draft (``BotStore``, one per user) is the whole state of what a person is composing: aiogram's FSM is not
used, so a restart loses nothing and there is no step a message can arrive "in the wrong" of. A draft is
*open* until it is submitted (``job_id`` set). The person's current model is their draft's: a new prompt after
a generation starts a new draft with the same model and settings.

Starting: a free generation starts as soon as the draft is complete (a prompt, and a photo for a model that
changes photos); a paid one shows its card with the price and Generate: the one confirm. ``Again`` starts at
once either way (its button carries the price).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import attrs
from aiogram import Bot
from aiogram.types import CallbackQuery

from kiegen.apps.telegram import job_screens, screens
from kiegen.apps.telegram.cards import show
from kiegen.apps.telegram.deps import Deps, new_draft_id, telegram_id
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.options import offered
from kiegen.apps.telegram.photos import image_inputs, photos_of
from kiegen.apps.telegram.prompts import visible
from kiegen.core.errors import InsufficientCredits, InvalidInput, QuotaExceeded
from kiegen.core.jobs import Job
from kiegen.core.models import ModelSpec
from kiegen.ports.bot import Draft
from kiegen.services import Cancellation

__all__ = [
    "advance",
    "already_taken",
    "draft_for_photo",
    "draft_for_prompt",
    "draft_from_job",
    "prompt_problem",
    "show_draft",
    "start",
    "stop_job",
]

log = logging.getLogger("kiegen.apps.telegram")


def is_open(draft: Draft | None, deps: Deps, chat_id: int) -> bool:
    return (
        draft is not None and draft.job_id is None and draft.chat_id == chat_id and draft.model in deps.client.registry
    )


def _carried(previous: Draft | None, spec: ModelSpec) -> dict[str, Any]:
    """Settings kept from the previous draft of the same model (the offered ones only: never its seed)."""
    if previous is None or previous.model != spec.id:
        return {}
    names = {o.name for o in offered(spec)}
    return {k: v for k, v in previous.options.items() if k in names}


def fresh(
    deps: Deps,
    user_id: str,
    spec: ModelSpec,
    chat_id: int,
    previous: Draft | None,
    *,
    origin: int | str | None = None,
    **fields: Any,
) -> Draft:
    """A new open draft; ``origin`` is the id of the person's message it comes from, if any."""
    return Draft(
        id=new_draft_id(f"{user_id}:{chat_id}:{origin}" if origin is not None else None),
        user_id=user_id,
        model=spec.id,
        options=fields.pop("options", None) or _carried(previous, spec),
        chat_id=chat_id,
        updated_at=deps.now(),
        **fields,
    )


async def already_taken(deps: Deps, user_id: str, chat_id: int, message_id: int) -> bool:
    """Whether this message was taken as a prompt before (Telegram sent the update again)."""
    draft = await deps.bots.get_draft(user_id)
    if draft is not None and draft.chat_id == chat_id and draft.prompt_message_id == message_id:
        return True
    return any(
        job.metadata.get("prompt_message_id") == message_id and job.recipient == f"telegram:{chat_id}"
        for job in await deps.client.jobs(user_id=user_id, limit=10)
    )


async def draft_for_prompt(
    deps: Deps, user_id: str, chat_id: int, *, origin: int | None = None
) -> tuple[Draft, ModelSpec] | None:
    """The open draft in this chat, or a new one for the person's current model (their last draft's, when it
    draws from text) or the default one. None when the bot has no text model."""
    previous = await deps.bots.get_draft(user_id)
    registry = deps.client.registry
    if previous is not None and is_open(previous, deps, chat_id):
        return previous, registry.get(previous.model)
    spec = None
    if previous is not None and previous.model in registry and not registry.get(previous.model).needs_image:
        spec = registry.get(previous.model)
    spec = spec or deps.default_model(edit=False)
    if spec is None:
        return None
    return fresh(deps, user_id, spec, chat_id, previous, origin=origin), spec


async def draft_for_photo(
    deps: Deps, user_id: str, chat_id: int, *, origin: int | str | None = None
) -> tuple[Draft, ModelSpec] | None:
    """The open draft in this chat when its model changes photos; otherwise a new draft for the person's current
    photo model or the default one (its prompt, if any, comes with the photo's caption). None when the bot has
    no model that changes photos."""
    previous = await deps.bots.get_draft(user_id)
    registry = deps.client.registry
    if previous is not None and is_open(previous, deps, chat_id) and registry.get(previous.model).needs_image:
        return previous, registry.get(previous.model)
    spec = None
    if previous is not None and previous.model in registry and registry.get(previous.model).needs_image:
        spec = registry.get(previous.model)
    spec = spec or deps.default_model(edit=True)
    if spec is None:
        return None
    return fresh(deps, user_id, spec, chat_id, previous, origin=origin), spec


def prompt_problem(tr: Translator, spec: ModelSpec, prompt: str) -> str | None:
    """Why ``prompt`` cannot be used, in the person's language (None: it can): blank or invisible only, or
    longer than the model takes (with both numbers)."""
    if not visible(prompt):
        return tr("prompt_blank")
    limit = spec.input("prompt")
    if limit is not None and limit.max_length is not None and len(prompt) > limit.max_length:
        return tr("prompt_too_long", n=len(prompt), title=spec.title, limit=limit.max_length)
    return None


async def show_draft(
    bot: Bot, deps: Deps, tr: Translator, draft: Draft, spec: ModelSpec, *, reply_to: int | None = None
) -> Draft:
    """Show the draft's card (edited in place when it has one) and store the draft with its card."""
    owner = telegram_id(draft.user_id) or 0
    assert draft.chat_id is not None
    screen = await screens.draft_card(deps, tr, spec, draft, owner)
    card = await show(bot, draft.chat_id, draft.card_message_id, screen, reply_to=reply_to)
    draft = attrs.evolve(draft, card_message_id=card, updated_at=deps.now())
    await deps.bots.save_draft(draft)
    return draft


async def advance(
    bot: Bot,
    deps: Deps,
    tr: Translator,
    draft: Draft,
    spec: ModelSpec,
    *,
    autostart: bool,
    paid_too: bool = False,
    reply_to: int | None = None,
    query: CallbackQuery | None = None,
) -> Job | None:
    """Start the draft when it may start without a confirm (``autostart``: free, complete, within the quota;
    ``paid_too``: paid ones as well, when the credits are there); otherwise show its card."""
    ready, _, _ = await screens.readiness(deps, spec, draft)
    if autostart and ready.can_start and (spec.price <= 0 or paid_too):
        return await start(bot, deps, tr, draft, spec, reply_to=reply_to, query=query)
    await show_draft(bot, deps, tr, draft, spec, reply_to=reply_to)
    return None


async def start(
    bot: Bot,
    deps: Deps,
    tr: Translator,
    draft: Draft,
    spec: ModelSpec,
    *,
    reply_to: int | None = None,
    query: CallbackQuery | None = None,
) -> Job | None:
    """Submit the draft; its card (or a new one) becomes the job's status card with a Stop button."""
    assert draft.chat_id is not None
    chat = draft.chat_id
    key = f"draft:{draft.id}"
    running = [job for job in await deps.running(draft.user_id) if job.idempotency_key != key]  # not a double tap
    if len(running) >= deps.config.max_concurrent:
        await _tell(bot, chat, tr.plain("busy", n=len(running)), query)
        await show_draft(bot, deps, tr, draft, spec, reply_to=reply_to)
        return None
    card = draft.card_message_id
    if card is None:
        card = await show(bot, chat, None, screens.Screen(tr("starting")), reply_to=reply_to)
        draft = attrs.evolve(draft, card_message_id=card)
    inputs: dict[str, Any] = {**draft.options, "prompt": draft.prompt or "", **image_inputs(spec, draft)}
    metadata = {
        "card_chat_id": chat,
        "card_message_id": card,
        "locale": tr.locale,
        "draft_id": draft.id,
        "prompt_message_id": draft.prompt_message_id,
    }
    if draft.album is not None:
        metadata["album"] = draft.album.id  # a photo of it Telegram sends again is not a new draft
    try:
        job = await deps.client.submit(
            spec.id,
            inputs,
            recipient=f"telegram:{chat}",
            user_id=draft.user_id,
            idempotency_key=key,
            metadata=metadata,
        )
    except (InsufficientCredits, QuotaExceeded):  # spent meanwhile: the card says what is short
        if query is not None:
            await query.answer()
        await show_draft(bot, deps, tr, draft, spec)
        return None
    except InvalidInput as exc:
        problems = "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
        await _tell(bot, chat, tr.plain("invalid_input", problems=problems), query)
        await show_draft(bot, deps, tr, draft, spec)
        return None
    await deps.bots.save_draft(attrs.evolve(draft, job_id=job.id, card_message_id=card, updated_at=deps.now()))
    await show(bot, chat, card, job_screens.status(tr, job, spec.title, None))
    deps.progress.watch(job)
    return job


async def _tell(bot: Bot, chat: int, text: str, query: CallbackQuery | None) -> None:
    if query is not None:
        await query.answer(text[:200], show_alert=True)
    else:
        await bot.send_message(chat, text, parse_mode=None)


def draft_from_job(
    deps: Deps, job: Job, chat_id: int, *, prompt: bool = True, new_seed: bool = False
) -> tuple[Draft, ModelSpec] | None:
    """A new open draft repeating ``job`` (its model, settings, photo; its prompt unless ``prompt=False``)."""
    registry = deps.client.registry
    if job.model not in registry or job.user_id is None:
        return None
    spec = registry.get(job.model)
    names = {o.name for o in offered(spec)}
    options: dict[str, Any] = {k: v for k, v in job.inputs.items() if k in names}
    if new_seed and spec.input("seed") is not None:
        options["seed"] = secrets.randbelow(2**31)
    draft = Draft(
        id=new_draft_id(),
        user_id=job.user_id,
        model=job.model,
        options=options,
        prompt=(str(job.inputs.get("prompt", "")) or None) if prompt else None,
        chat_id=chat_id,
        prompt_message_id=_int(job.metadata.get("prompt_message_id")) if prompt else None,
        updated_at=deps.now(),
        **photos_of(spec, job),
    )
    return draft, spec


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


async def stop_job(bot: Bot, deps: Deps, tr: Translator, job: Job) -> Cancellation:
    """Cancel a running job (hold released, nothing delivered) and turn its status card into the notice."""
    outcome = await deps.client.cancel(job.id)
    card_chat, card = job.metadata.get("card_chat_id"), job.metadata.get("card_message_id")
    if outcome.cancelled and isinstance(card_chat, int) and isinstance(card, int):
        title = deps.client.registry.get(job.model).title if job.model in deps.client.registry else job.model
        await show(bot, card_chat, card, job_screens.cancelled(tr, outcome.job, title))
    return outcome
