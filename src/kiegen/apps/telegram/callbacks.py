"""Callback data: short codes only. Telegram allows 64 bytes and aiogram separates fields with ``:``, so model
ids and enum values (``16:9``) never go in raw: a model is its index in the registry, an option value its index
in the input's enum."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

__all__ = ["Gen", "HistItem", "HistPage", "Lang", "Menu", "Opt", "Pack", "Pick", "Res"]


class Menu(CallbackData, prefix="m"):
    a: str
    """create, edit, balance, history, language, home, back, cancel."""


class Pick(CallbackData, prefix="p"):
    m: int
    edit: int = 0


class Opt(CallbackData, prefix="o"):
    i: int
    v: int


class Gen(CallbackData, prefix="g"):
    d: str
    """The draft id: the job's idempotency key, so a double tap makes one job."""


class Res(CallbackData, prefix="r"):
    a: str
    """again, edit, orig, menu, retry, prompt."""
    j: str


class Pack(CallbackData, prefix="k"):
    i: int


class HistPage(CallbackData, prefix="h"):
    p: int


class HistItem(CallbackData, prefix="hi"):
    j: str


class Lang(CallbackData, prefix="l"):
    c: str
