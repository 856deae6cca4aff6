"""Screens: each returns the text and the keyboard, in the user's language, with buttons that belong to
``owner`` (a Telegram user id). No I/O here beyond reading balances and quotas through ``deps``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from kiegen.apps.telegram.callbacks import DraftAct, Gen, Menu, Opt, Val
from kiegen.apps.telegram.deps import Deps, Quota, user_key
from kiegen.apps.telegram.i18n import Markup, Translator
from kiegen.apps.telegram.options import Option, name_label, offered, value_label
from kiegen.apps.telegram.photos import photo_limit
from kiegen.core.models import Media, ModelSpec
from kiegen.ports.bot import Draft

__all__ = ["Screen"]


@attrs.frozen
class Screen:
    text: str
    markup: InlineKeyboardMarkup | None = None


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def keyboard(rows: Sequence[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in rows if row])


def pairs(buttons: Sequence[InlineKeyboardButton], width: int = 2) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def menu_only(tr: Translator, owner: int) -> InlineKeyboardMarkup:
    return keyboard([[button(tr.plain("btn_menu"), Menu(u=owner, a="home").pack())]])


def excerpt(text: str | None, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def when(tr: Translator, moment: datetime, now: datetime) -> str:
    """Recent moments relative to now ("5 h ago"), older ones by date: no time zone is needed either way."""
    span = now - moment
    return tr.ago(span) if timedelta(0) <= span < timedelta(days=1) else moment.strftime("%d.%m")


def quota_text(tr: Translator, quota: Quota) -> str:
    if quota.total is None or quota.left is None:
        return tr("quota_unlimited")
    if quota.exhausted:
        return tr("quota_none", wait=tr.duration(quota.reset_in))
    return tr("quota_left", n=quota.left, total=quota.total)


# the menu


async def welcome(deps: Deps, tr: Translator, owner: int, *, private: bool = True) -> Screen:
    user_id = user_key(owner)
    lines = [quota_text(tr, await deps.quota(user_id))]
    balance = await deps.client.store.balance(user_id)
    show_balance = private and (not deps.all_free or balance > 0)  # a balance is nobody else's business
    if show_balance:
        lines.append(tr("balance_line", n=balance))
    rows = [[button(tr.plain("btn_create"), Menu(u=owner, a="create").pack())]]
    if any(spec.needs_image for spec in deps.models()):
        rows.append([button(tr.plain("btn_edit"), Menu(u=owner, a="edit").pack())])
    second = [button(tr.plain("btn_history"), Menu(u=owner, a="history").pack())]
    if not deps.all_free:
        second.insert(0, button(tr.plain("btn_balance"), Menu(u=owner, a="balance").pack()))
    rows.append(second)
    rows.append([button(tr.plain("btn_language"), Menu(u=owner, a="language").pack())])
    return Screen(tr("welcome", lines=Markup("\n".join(lines))), keyboard(rows))


# the draft's card


@attrs.frozen
class Readiness:
    """What a draft still lacks, and whether it can be generated now."""

    needs_photo: bool
    needs_prompt: bool
    short_by: int
    """Credits missing for a paid model (0: enough)."""
    quota_exhausted: bool

    @property
    def complete(self) -> bool:
        return not self.needs_photo and not self.needs_prompt

    @property
    def can_start(self) -> bool:
        return self.complete and not self.short_by and not self.quota_exhausted


async def readiness(deps: Deps, spec: ModelSpec, draft: Draft) -> tuple[Readiness, Quota, int]:
    quota = await deps.quota(draft.user_id)
    balance = await deps.client.store.balance(draft.user_id)
    ready = Readiness(
        needs_photo=spec.needs_image and not draft.image_url,
        needs_prompt=not draft.prompt,
        short_by=max(0, spec.price - balance) if spec.price > 0 else 0,
        quota_exhausted=spec.price <= 0 and quota.exhausted,
    )
    return ready, quota, balance


def _value(tr: Translator, option: Option, draft: Draft) -> str:
    return value_label(tr, option.name, option.current(draft.options))


def option_lines(tr: Translator, spec: ModelSpec, draft: Draft) -> list[str]:
    return [tr("option_line", name=name_label(tr, o.name), value=_value(tr, o, draft)) for o in offered(spec)]


def _price_lines(tr: Translator, spec: ModelSpec, ready: Readiness, quota: Quota, balance: int) -> list[str]:
    if spec.price > 0:
        if ready.short_by:
            return [tr("price_short", n=spec.price, balance=balance), tr("hint_short", n=ready.short_by)]
        return [tr("price_paid", n=spec.price, balance=balance, after=balance - spec.price)]
    if quota.total is None or quota.left is None:
        return [tr("price_free_unlimited")]
    if quota.exhausted:
        return [tr("price_free_none", wait=tr.duration(quota.reset_in))]
    return [tr("price_free_left", n=quota.left, total=quota.total)]


def _hint(tr: Translator, spec: ModelSpec, ready: Readiness) -> str | None:
    if ready.needs_photo:
        limit = photo_limit(spec)
        return tr("hint_photos", n=limit, title=spec.title) if limit > 1 else tr("hint_photo")
    if ready.needs_prompt:
        if spec.media is Media.VIDEO:
            return tr("hint_animate_prompt" if spec.needs_image else "hint_video_prompt")
        return tr("hint_edit_prompt" if spec.needs_image else "hint_prompt")
    return tr("hint_ready") if ready.can_start else None


async def draft_card(deps: Deps, tr: Translator, spec: ModelSpec, draft: Draft, owner: int) -> Screen:
    """Model, settings, prompt, photo, price (or the free quota, with when it comes back), and what is still
    missing; Generate when nothing is (the one confirm), Top up when credits are short."""
    ready, quota, balance = await readiness(deps, spec, draft)
    lines = [tr("card_head", title=spec.title), *option_lines(tr, spec, draft)]
    if draft.prompt:
        lines.append(tr("prompt_line", prompt=excerpt(draft.prompt, 300)))
    if len(draft.images) > 1:
        lines.append(tr("photos_line", n=len(draft.images)))
    elif draft.image_url:
        lines.append(tr("photo_line"))
    lines.append("")
    lines.extend(_price_lines(tr, spec, ready, quota, balance))
    hint = _hint(tr, spec, ready)
    if hint:
        lines.append(hint)
    option_buttons = [
        button(
            tr.plain(
                "option_line", name=name_label(tr, o.name), value=value_label(tr, o.name, o.current(draft.options))
            ),
            Opt(u=owner, d=draft.id, i=i).pack(),
        )
        for i, o in enumerate(offered(spec))
    ]
    rows = pairs(option_buttons)
    if ready.complete and ready.short_by:
        rows.append([button(tr.plain("btn_topup"), Menu(u=owner, a="balance").pack())])
    elif ready.can_start:
        label = tr.plain("btn_generate_paid", price=spec.price) if spec.price > 0 else tr.plain("btn_generate")
        rows.append([button(label, Gen(u=owner, d=draft.id).pack())])
    rows.append(
        [
            button(tr.plain("btn_model"), DraftAct(u=owner, d=draft.id, a="models").pack()),
            button(tr.plain("btn_cancel"), DraftAct(u=owner, d=draft.id, a="cancel").pack()),
        ]
    )
    return Screen("\n".join(lines), keyboard(rows))


def option_values(tr: Translator, spec: ModelSpec, draft: Draft, index: int, owner: int) -> Screen:
    option = offered(spec)[index]
    current = option.current(draft.options)
    choices = [
        button(
            ("• " if value == current else "") + value_label(tr, option.name, value),
            Val(u=owner, d=draft.id, i=index, v=v).pack(),
        )
        for v, value in enumerate(option.values)
    ]
    rows = [*pairs(choices), [button(tr.plain("btn_back"), DraftAct(u=owner, d=draft.id, a="card").pack())]]
    return Screen(tr("choose_value", title=spec.title, name=name_label(tr, option.name)), keyboard(rows))
