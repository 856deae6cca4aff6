"""The model picker: first the kinds of work that have enabled models (pictures from text, changing a photo,
video), then that kind's models in pages of ``PAGE_SIZE``, each button with the model's title and price, the
page's text with each model's one-line description.

Screens only (text and keyboard, no I/O beyond the quota). Every button belongs to ``owner``; a picker opened
from a draft's card carries the draft's id (``d``), so that its tap changes that draft only while it is the open
one. A kind whose models all fit one screen and a bot with one kind skip what they do not need: with one kind
there is no kinds screen, and Back goes where the picker came from.
"""

from __future__ import annotations

import enum

from kiegen.apps.telegram.callbacks import DraftAct, Kinds, Menu, Page, Pick
from kiegen.apps.telegram.deps import Deps, Quota, user_key
from kiegen.apps.telegram.i18n import Translator
from kiegen.apps.telegram.screens import Screen, button, keyboard
from kiegen.core.models import ModelKind, ModelSpec

__all__ = ["PAGE_SIZE", "Group", "description", "group_of", "groups", "kinds_screen", "model_label", "page_screen"]

PAGE_SIZE = 6


class Group(enum.StrEnum):
    """The picker's kinds, by their one-letter code in callback data."""

    IMAGE = "i"
    """Pictures from text."""
    EDIT = "e"
    """Changing a photo: edit, image-to-image, upscale."""
    VIDEO = "v"


_GROUP_OF = {
    ModelKind.TEXT_TO_IMAGE: Group.IMAGE,
    ModelKind.EDIT: Group.EDIT,
    ModelKind.IMAGE_TO_IMAGE: Group.EDIT,
    ModelKind.UPSCALE: Group.EDIT,
    ModelKind.TEXT_TO_VIDEO: Group.VIDEO,
    ModelKind.IMAGE_TO_VIDEO: Group.VIDEO,
}


def group_of(spec: ModelSpec) -> Group:
    return _GROUP_OF[spec.kind]


def groups(models: list[ModelSpec]) -> dict[Group, list[tuple[int, ModelSpec]]]:
    """The enabled models by group (each with its index in ``models``, which is what a Pick button carries),
    groups in their declared order, empty ones left out."""
    found: dict[Group, list[tuple[int, ModelSpec]]] = {group: [] for group in Group}
    for index, spec in enumerate(models):
        found[group_of(spec)].append((index, spec))
    return {group: specs for group, specs in found.items() if specs}


def description(tr: Translator, spec: ModelSpec) -> str:
    """The model's one line in the person's language: the catalogue's translation (``desc <model id>``) where
    there is one, else the line its model file gives (an operator's own models describe themselves)."""
    key = f"desc {spec.id}"
    text = tr.plain(key)
    return spec.description if text == key else text


def model_label(tr: Translator, spec: ModelSpec, quota: Quota) -> str:
    clip = " 📎" if spec.needs_image else ""
    if spec.price > 0:
        return tr.plain("model_paid", title=spec.title, clip=clip, price=spec.price)
    if quota.left is None:
        return tr.plain("model_free_unlimited", title=spec.title, clip=clip)
    if quota.exhausted:
        return tr.plain("model_free_none", title=spec.title, clip=clip, wait=tr.duration(quota.reset_in))
    return tr.plain("model_free", n=quota.left, title=spec.title, clip=clip)


def _back(owner: int, draft_id: str) -> str:
    """Where the picker's first screen goes back to: the draft's card, or the menu."""
    return (DraftAct(u=owner, d=draft_id, a="card") if draft_id else Menu(u=owner, a="home")).pack()


def kinds_screen(deps: Deps, tr: Translator, owner: int, *, draft_id: str = "") -> Screen:
    rows = [
        [button(tr.plain(f"kind_{group.name.lower()}", n=len(specs)), Page(u=owner, g=group.value, d=draft_id).pack())]
        for group, specs in groups(deps.models()).items()
    ]
    rows.append([button(tr.plain("btn_back"), _back(owner, draft_id))])
    return Screen(tr("pick_kind"), keyboard(rows))


async def page_screen(
    deps: Deps, tr: Translator, owner: int, group: Group, page: int = 0, *, draft_id: str = ""
) -> Screen:
    """One page of ``group``'s models (``page`` is clamped: a page that no longer exists shows the last one)."""
    found = groups(deps.models())
    members = found.get(group, [])
    pages = max(1, -(-len(members) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = members[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    quota = await deps.quota(user_key(owner))
    edit = int(group is Group.EDIT)
    rows = [
        [button(model_label(tr, spec, quota), Pick(u=owner, m=index, e=edit, d=draft_id).pack())]
        for index, spec in shown
    ]
    turn = []
    if page > 0:
        turn.append(button(tr.plain("btn_prev"), Page(u=owner, g=group.value, p=page - 1, d=draft_id).pack()))
    if page < pages - 1:
        turn.append(button(tr.plain("btn_next"), Page(u=owner, g=group.value, p=page + 1, d=draft_id).pack()))
    rows.append(turn)
    if len(found) > 1:
        back = Kinds(u=owner, d=draft_id).pack()
        rows.append([button(tr.plain("btn_kinds"), back)])
    else:
        rows.append([button(tr.plain("btn_back"), _back(owner, draft_id))])
    lines = [tr(f"pick_{group.name.lower()}")]
    if pages > 1:
        lines[0] += " " + tr("page_of", page=page + 1, pages=pages)
    lines += [tr("model_line", title=spec.title, description=description(tr, spec)) for _, spec in shown]
    return Screen("\n".join(lines), keyboard(rows))
