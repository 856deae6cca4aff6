"""Screens of a job: its status card (with Stop), its end when stopped, and the buttons under a result or a
failure notice; each button belongs to the job's owner."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup

from kiegen.apps.telegram.callbacks import JobAct, Res
from kiegen.apps.telegram.deps import telegram_id
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.screens import Screen, button, keyboard, menu_only, pairs
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media

__all__ = ["cancelled", "failure_buttons", "result_buttons", "status"]


def status(tr: Translator, job: Job, title: str, seconds: int | None) -> Screen:
    """Queued until KIE has accepted the task (or when ``seconds`` is None), then drawing for ``seconds``; with
    the Stop button. A video counts in minutes (KIE takes minutes to make one): "under a minute", then whole
    minutes, so the card changes once a minute, not every few seconds."""
    if seconds is not None and job.status in (JobStatus.SUBMITTED, JobStatus.RUNNING):
        if job.media is Media.VIDEO:
            minutes = seconds // 60
            text = tr("video_minutes", n=minutes, title=title) if minutes else tr("video_starting", title=title)
        else:
            text = tr("generating", title=title, seconds=seconds)
    else:
        text = tr("queued", title=title)
    owner = telegram_id(job.user_id) or 0
    return Screen(text, keyboard([[button(tr.plain("btn_stop"), JobAct(u=owner, a="x", j=job.id).pack())]]))


def cancelled(tr: Translator, job: Job, title: str) -> Screen:
    money = tr("credits_back", n=job.price) if job.price > 0 and job.user_id else tr("nothing_charged")
    return Screen(f"{tr('job_cancelled', title=title)}\n{money}", menu_only(tr, telegram_id(job.user_id) or 0))


# results


def result_buttons(tr: Translator, job: Job) -> InlineKeyboardMarkup:
    owner = telegram_id(job.user_id) or 0
    again = tr.plain("btn_again_paid", price=job.price) if job.price > 0 else tr.plain("btn_again")
    again_button = button(again, Res(u=owner, a="a", j=job.id).pack())
    menu = button(tr.plain("btn_menu"), Res(u=owner, a="m", j=job.id).pack())
    count = len(job.result_urls)
    if job.media is Media.VIDEO:
        # No "edit this" for a video: the image editors take pictures. The original file is offered as it is.
        original = button(tr.plain("btn_original"), Res(u=owner, a="o", j=job.id).pack())
        return keyboard([[again_button, original], [menu]])
    if count <= 1:
        return keyboard(
            [
                [again_button, button(tr.plain("btn_edit_this"), Res(u=owner, a="e", j=job.id).pack())],
                [button(tr.plain("btn_original"), Res(u=owner, a="o", j=job.id).pack()), menu],
            ]
        )
    per_picture = []
    for n in range(1, count + 1):
        per_picture.append(button(tr.plain("btn_edit_nth", number=n), Res(u=owner, a="e", n=n, j=job.id).pack()))
        per_picture.append(button(tr.plain("btn_original_nth", number=n), Res(u=owner, a="o", n=n, j=job.id).pack()))
    return keyboard([*pairs(per_picture), [again_button, menu]])


def failure_buttons(tr: Translator, job: Job) -> InlineKeyboardMarkup:
    owner = telegram_id(job.user_id) or 0
    return keyboard(
        [
            [
                button(tr.plain("btn_try_again"), Res(u=owner, a="r", j=job.id).pack()),
                button(tr.plain("btn_change_prompt"), Res(u=owner, a="p", j=job.id).pack()),
            ],
            [button(tr.plain("btn_menu"), Res(u=owner, a="m", j=job.id).pack())],
        ]
    )
