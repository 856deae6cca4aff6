"""Telegram delivery through aiogram 3 (``pip install kiegen[telegram]``). asyncio only, like aiogram."""

from kiegen.adapters.aiogram.messenger import AiogramMessenger, DeliveryLimits, parse_recipient, receipt_files
from kiegen.adapters.aiogram.pacing import Pacer
from kiegen.adapters.aiogram.presenter import CardEnd, Outgoing, PlainPresenter, Presenter
from kiegen.adapters.aiogram.redact import token_redaction
from kiegen.adapters.aiogram.text import CAPTION_LIMIT, escape_cut

__all__ = [
    "CAPTION_LIMIT",
    "AiogramMessenger",
    "CardEnd",
    "DeliveryLimits",
    "Outgoing",
    "Pacer",
    "PlainPresenter",
    "Presenter",
    "escape_cut",
    "parse_recipient",
    "receipt_files",
    "token_redaction",
]
