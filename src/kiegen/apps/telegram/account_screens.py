"""Screens of a person's account: balance (with the Stars packs, unless every model is free), history, language."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton

from kiegen.apps.telegram.callbacks import HistItem, HistPage, Lang, Menu, Pack
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.i18n import Markup, Translator
from kiegen.apps.telegram.screens import Screen, button, excerpt, keyboard, quota_text, when
from kiegen.core.billing import LedgerKind
from kiegen.core.jobs import Job, JobStatus

__all__ = ["balance", "history", "languages", "price_text"]

LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


async def balance(deps: Deps, tr: Translator, owner: int) -> Screen:
    user_id = user_key(owner)
    store = deps.client.store
    now = deps.now()
    lines = []
    for entry in reversed((await store.ledger(user_id))[-6:]):
        if entry.kind is LedgerKind.CAPTURE:
            continue
        sign = "+" if entry.delta > 0 else "-" if entry.delta < 0 else ""
        lines.append(
            tr(
                "entry_line",
                date=when(tr, entry.created_at, now),
                sign=sign,
                amount=entry.amount,
                kind=tr.plain(f"kind_{entry.kind.value}"),
            )
        )
    text = tr(
        "balance",
        n=await store.balance(user_id),
        free=Markup(quota_text(tr, await deps.quota(user_id))),
        entries=Markup("\n".join(lines) if lines else tr("entries_none")),
    )
    rows = []
    if not deps.all_free:
        text += "\n\n" + tr("balance_topup")
        rows = [
            [button(tr.plain("pack_button", n=p.credits, stars=p.stars), Pack(u=owner, i=i).pack())]
            for i, p in enumerate(deps.config.packs)
        ]
    rows.append([button(tr.plain("btn_menu"), Menu(u=owner, a="home").pack())])
    return Screen(text, keyboard(rows))


def price_text(tr: Translator, price: int) -> str:
    return tr.plain("price_credits", n=price) if price > 0 else tr.plain("price_free")


_ICONS = {JobStatus.SUCCEEDED: "✅", JobStatus.FAILED: "⚠️", JobStatus.TIMED_OUT: "⌛", JobStatus.CANCELLED: "✖️"}


def history(deps: Deps, tr: Translator, jobs: Sequence[Job], page: int, more: bool, owner: int) -> Screen:
    home = button(tr.plain("btn_menu"), Menu(u=owner, a="home").pack())
    if not jobs and page == 0:
        return Screen(tr("history_empty"), keyboard([[home]]))
    lines = [tr("history_title", page=page + 1)]
    rows: list[list[InlineKeyboardButton]] = []
    registry = deps.client.registry
    now = deps.now()
    for n, job in enumerate(jobs, start=1):
        title = registry.get(job.model).title if job.model in registry else job.model
        if job.status is JobStatus.CANCELLED:
            price = tr.plain("history_cancelled")
        elif job.price > 0 and job.terminal and not job.charged:
            price = tr.plain("history_refunded")
        else:
            price = price_text(tr, job.price)
        line = tr(
            "history_line",
            icon=_ICONS.get(job.status, "⏳"),
            date=when(tr, job.created_at, now),
            title=title,
            prompt=excerpt(str(job.inputs.get("prompt", "")), 40),
            price=price,
        )
        lines.append(f"{n}. {line}")
        if job.result_urls and job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED):
            rows.append([button(f"{n}. {excerpt(title, 20)}", HistItem(u=owner, j=job.id).pack())])
    paging = []
    if page > 0:
        paging.append(button(tr.plain("btn_prev"), HistPage(u=owner, p=page - 1).pack()))
    if more:
        paging.append(button(tr.plain("btn_next"), HistPage(u=owner, p=page + 1).pack()))
    rows.append(paging)
    rows.append([home])
    return Screen("\n".join(lines), keyboard(rows))


def languages(tr: Translator, owner: int) -> Screen:
    rows = [[button(name, Lang(u=owner, c=code).pack())] for code, name in LANGUAGE_NAMES.items()]
    rows.append([button(tr.plain("btn_menu"), Menu(u=owner, a="home").pack())])
    return Screen(tr("language_pick"), keyboard(rows))
