"""Callback data: short codes only. Telegram allows 64 bytes and aiogram separates fields with ``:``, so model
ids and enum values (``16:9``) never go in raw: a model is its index in the registry, an option its index in
the model's offered options (``options.offered``), a value its index among that option's values.

Every button carries its owner's Telegram user id first (``u``): a tap by anyone else changes nothing
(``middleware.OwnerCheck`` answers it). Buttons of a draft's card carry the draft id (``d``) too, so that a
button of an older card cannot change the current draft. A job's buttons carry the job id last (``j``), as
the reliability suite's conservation check reads them (``r:...:<job id>``).
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

__all__ = [
    "DraftAct",
    "Gen",
    "HistItem",
    "HistPage",
    "JobAct",
    "Kinds",
    "Lang",
    "Menu",
    "Opt",
    "Owned",
    "Pack",
    "Page",
    "Pick",
    "Res",
    "Val",
    "owner_of",
]


class Owned(CallbackData, prefix="_"):
    u: int
    """The Telegram user id of the person whose card this is."""


class Menu(Owned, prefix="m"):
    a: str
    """create, edit, balance, history, language, home."""


class Pick(Owned, prefix="p"):
    m: int
    e: int = 0
    """1: the picker of models that change a photo."""
    d: str = ""
    """The draft whose card opened the picker: its prompt and photo go to the new draft."""


class Kinds(Owned, prefix="pk"):
    """The picker's first screen: the kinds of work."""

    d: str = ""
    """The draft whose card opened the picker ("" from the menu)."""


class Page(Owned, prefix="pg"):
    """One page of one kind's models."""

    g: str
    """The kind (``picker.Group``): i pictures from text, e changing a photo, v video."""
    p: int = 0
    d: str = ""


class DraftAct(Owned, prefix="d"):
    d: str
    a: str
    """card (back to the draft's card), models (change the model), cancel."""


class Opt(Owned, prefix="o"):
    d: str
    i: int


class Val(Owned, prefix="v"):
    d: str
    i: int
    v: int


class Gen(Owned, prefix="g"):
    d: str
    """The draft id: the job's idempotency key, so a double tap makes one job."""


class JobAct(Owned, prefix="j"):
    a: str
    """x: stop the job."""
    j: str


class Res(Owned, prefix="r"):
    a: str
    """a again, e change this picture, o original file, m menu, r try again, p change the prompt."""
    n: int = 0
    """Which picture of an album (1-based); 0 for the first or only one."""
    j: str


class Pack(Owned, prefix="k"):
    i: int


class HistPage(Owned, prefix="h"):
    p: int


class HistItem(Owned, prefix="hi"):
    j: str


class Lang(Owned, prefix="l"):
    c: str


_PREFIXES = frozenset(
    c.__prefix__
    for c in (Menu, Pick, Kinds, Page, DraftAct, Opt, Val, Gen, JobAct, Res, Pack, HistPage, HistItem, Lang)
)


def owner_of(data: str | None) -> int | None:
    """The owner id in one of our buttons' data, or None for data that is not ours (or malformed)."""
    prefix, _, rest = (data or "").partition(":")
    owner = rest.split(":", 1)[0]
    if prefix not in _PREFIXES or not owner.lstrip("-").isdigit():
        return None
    return int(owner)
