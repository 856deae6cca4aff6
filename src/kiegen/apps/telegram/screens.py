"""Screens of the card: each returns the text and the keyboard, in the user's language. No I/O here beyond
reading balances through ``deps``."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from kiegen.apps.telegram.callbacks import Gen, HistItem, HistPage, Lang, Menu, Opt, Pack, Pick, Res
from kiegen.apps.telegram.deps import Deps, enum_inputs
from kiegen.apps.telegram.i18n import Markup, Translator
from kiegen.core.billing import LedgerKind
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import ModelSpec
from kiegen.ports.bot import Draft

__all__ = ["Screen"]

LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


@attrs.frozen
class Screen:
    text: str
    markup: InlineKeyboardMarkup | None = None


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def keyboard(rows: Sequence[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in rows if row])


def nav_row(tr: Translator) -> list[InlineKeyboardButton]:
    return [
        button(tr.plain("btn_back"), Menu(a="back").pack()),
        button(tr.plain("btn_cancel"), Menu(a="cancel").pack()),
    ]


def excerpt(text: str | None, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def welcome(deps: Deps, tr: Translator, user_id: str) -> Screen:
    left = await deps.free_left(user_id)
    balance = await deps.client.store.balance(user_id)
    text = tr("welcome", free=tr.plain("free_unlimited") if left is None else left, balance=balance)
    return Screen(
        text,
        keyboard(
            [
                [button(tr.plain("btn_create"), Menu(a="create").pack())],
                [button(tr.plain("btn_edit"), Menu(a="edit").pack())],
                [
                    button(tr.plain("btn_balance"), Menu(a="balance").pack()),
                    button(tr.plain("btn_history"), Menu(a="history").pack()),
                ],
                [button(tr.plain("btn_language"), Menu(a="language").pack())],
            ]
        ),
    )


async def models(deps: Deps, tr: Translator, user_id: str, *, edit: bool) -> Screen:
    left = await deps.free_left(user_id)
    rows = []
    for index, spec in enumerate(deps.models()):
        if edit and not spec.needs_image:
            continue
        clip = " 📎" if spec.needs_image else ""
        if spec.price > 0:
            label = tr.plain("model_paid", title=spec.title, clip=clip, price=spec.price)
        elif left is None:
            label = tr.plain("model_free_unlimited", title=spec.title, clip=clip)
        else:
            label = tr.plain("model_free", title=spec.title, clip=clip, left=left)
        rows.append([button(label, Pick(m=index, edit=int(edit)).pack())])
    rows.append(nav_row(tr))
    return Screen(tr("pick_model_edit" if edit else "pick_model"), keyboard(rows))


def option_lines(tr: Translator, spec: ModelSpec, draft: Draft) -> str:
    lines = []
    for spec_input in enum_inputs(spec):
        name_key = f"opt_{spec_input.name}"
        name = tr.plain(name_key) if tr.catalog.has(name_key) else spec_input.name
        value = draft.options.get(spec_input.name, spec_input.default)
        lines.append(tr("option_line", name=name, value=tr.plain("option_unset") if value is None else value))
    return "\n".join(lines)


def settings(deps: Deps, tr: Translator, spec: ModelSpec, draft: Draft) -> Screen:
    rows: list[list[InlineKeyboardButton]] = []
    for i, spec_input in enumerate(enum_inputs(spec)):
        current = draft.options.get(spec_input.name, spec_input.default)
        values = list(spec_input.enum or ())
        row: list[InlineKeyboardButton] = []
        for v, value in enumerate(values):
            mark = "• " if value == current else ""
            row.append(button(f"{mark}{value}", Opt(i=i, v=v).pack()))
            if len(row) == 3:
                rows.append(row)
                row = []
        rows.append(row)
    rows.append(nav_row(tr))
    key = "settings_edit" if spec.needs_image and not draft.image_url else "settings"
    return Screen(tr(key, title=spec.title, options=Markup(option_lines(tr, spec, draft))), keyboard(rows))


def ask_photo(tr: Translator, spec: ModelSpec, draft: Draft) -> Screen:
    return Screen(tr("ask_photo", title=spec.title, prompt=excerpt(draft.prompt, 200)), keyboard([nav_row(tr)]))


def price_text(tr: Translator, price: int) -> str:
    return tr.plain("price_credits", price=price) if price > 0 else tr.plain("price_free")


async def confirm(deps: Deps, tr: Translator, spec: ModelSpec, draft: Draft) -> Screen:
    balance = await deps.client.store.balance(draft.user_id)
    values = {
        "title": spec.title,
        "options": Markup(option_lines(tr, spec, draft)),
        "prompt": excerpt(draft.prompt, 300),
        "photo": Markup(tr("confirm_photo")) if draft.image_url else "",
        "price": price_text(tr, spec.price),
    }
    if spec.price > balance:
        text = tr("confirm_short", balance=balance, needed=spec.price - balance, **values)
        action = button(tr.plain("btn_topup"), Menu(a="balance").pack())
    else:
        text = tr("confirm", after=balance - spec.price, **values)
        action = button(tr.plain("btn_generate"), Gen(d=draft.id).pack())
    return Screen(text, keyboard([[action], nav_row(tr)]))


async def balance(deps: Deps, tr: Translator, user_id: str) -> Screen:
    store = deps.client.store
    left = await deps.free_left(user_id)
    entries = (await store.ledger(user_id))[-5:]
    lines = []
    for entry in reversed(entries):
        if entry.kind is LedgerKind.CAPTURE:
            continue
        sign = "+" if entry.delta > 0 else "-" if entry.delta < 0 else ""
        lines.append(
            tr(
                "entry_line",
                date=entry.created_at.strftime("%d.%m %H:%M"),
                sign=sign,
                amount=entry.amount,
                kind=tr.plain(f"kind_{entry.kind.value}"),
            )
        )
    text = tr(
        "balance",
        balance=await store.balance(user_id),
        free=tr.plain("free_unlimited") if left is None else left,
        entries=Markup("\n".join(lines) if lines else tr("entries_none")),
    )
    rows = [
        [button(tr.plain("pack_button", credits=p.credits, stars=p.stars), Pack(i=i).pack())]
        for i, p in enumerate(deps.config.packs)
    ]
    rows.append([button(tr.plain("btn_menu"), Menu(a="home").pack())])
    return Screen(text, keyboard(rows))


def history(deps: Deps, tr: Translator, jobs: Sequence[Job], page: int, more: bool) -> Screen:
    if not jobs and page == 0:
        return Screen(tr("history_empty"), keyboard([[button(tr.plain("btn_menu"), Menu(a="home").pack())]]))
    icons = {JobStatus.SUCCEEDED: "✅", JobStatus.FAILED: "⚠️", JobStatus.TIMED_OUT: "⌛"}
    lines = [tr("history_title", page=page + 1)]
    rows: list[list[InlineKeyboardButton]] = []
    registry = deps.client.registry
    for n, job in enumerate(jobs, start=1):
        title = registry.get(job.model).title if job.model in registry else job.model
        if job.price > 0 and job.terminal and not job.charged:
            price = tr.plain("history_refunded")
        else:
            price = price_text(tr, job.price)
        line = tr(
            "history_line",
            icon=icons.get(job.status, "⏳"),
            date=job.created_at.strftime("%d.%m %H:%M"),
            title=title,
            prompt=excerpt(str(job.inputs.get("prompt", "")), 40),
            price=price,
        )
        lines.append(f"{n}. {line}")
        if job.status is JobStatus.SUCCEEDED:
            rows.append([button(f"{n}. {excerpt(title, 20)}", HistItem(j=job.id).pack())])
    paging = []
    if page > 0:
        paging.append(button(tr.plain("btn_prev"), HistPage(p=page - 1).pack()))
    if more:
        paging.append(button(tr.plain("btn_next"), HistPage(p=page + 1).pack()))
    rows.append(paging)
    rows.append([button(tr.plain("btn_menu"), Menu(a="home").pack())])
    return Screen("\n".join(lines), keyboard(rows))


def languages(tr: Translator) -> Screen:
    rows = [[button(name, Lang(c=code).pack())] for code, name in LANGUAGE_NAMES.items()]
    rows.append([button(tr.plain("btn_menu"), Menu(a="home").pack())])
    return Screen(tr("language_pick"), keyboard(rows))


def result_buttons(tr: Translator, job: Job) -> InlineKeyboardMarkup:
    return keyboard(
        [
            [
                button(tr.plain("btn_again"), Res(a="again", j=job.id).pack()),
                button(tr.plain("btn_edit_this"), Res(a="edit", j=job.id).pack()),
            ],
            [
                button(tr.plain("btn_original"), Res(a="orig", j=job.id).pack()),
                button(tr.plain("btn_menu"), Res(a="menu", j=job.id).pack()),
            ],
        ]
    )


def failure_buttons(tr: Translator, job: Job) -> InlineKeyboardMarkup:
    return keyboard(
        [
            [
                button(tr.plain("btn_try_again"), Res(a="retry", j=job.id).pack()),
                button(tr.plain("btn_change_prompt"), Res(a="prompt", j=job.id).pack()),
            ]
        ]
    )
