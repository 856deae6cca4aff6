"""Update builders: the JSON Telegram sends, as dicts (fed to ``dp.feed_update`` or to getUpdates)."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)
_messages = itertools.count(10_000)
DATE = 1_767_268_800


def user(uid: int, lang: str = "en") -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": f"User{uid}", "language_code": lang}


def _message(
    uid: int, lang: str, chat: int | None = None, *, kind: str = "message", message_id: int | None = None, **fields: Any
) -> dict[str, Any]:
    chat_id = uid if chat is None else chat
    return {
        kind: {
            "message_id": next(_messages) if message_id is None else message_id,
            "date": DATE,
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": user(uid, lang),
            **fields,
        }
    }


def _entities(body: str, mention: str | None) -> list[dict[str, Any]]:
    entities = []
    if body.startswith("/"):
        entities.append({"type": "bot_command", "offset": 0, "length": len(body.split()[0])})
    if mention and mention in body:
        offset = len(body[: body.index(mention)].encode("utf-16-le")) // 2
        entities.append({"type": "mention", "offset": offset, "length": len(mention)})
    return entities


def text(
    uid: int,
    body: str,
    *,
    lang: str = "en",
    chat: int | None = None,
    reply_to: dict[str, Any] | None = None,
    mention: str | None = "@kie_images_bot",
    message_id: int | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"text": body}
    entities = _entities(body, mention)
    if entities:
        fields["entities"] = entities
    if reply_to is not None:
        fields["reply_to_message"] = reply_to
    return _message(uid, lang, chat, message_id=message_id, **fields)


def edited(uid: int, message_id: int, body: str, *, lang: str = "en", chat: int | None = None) -> dict[str, Any]:
    """An ``edited_message`` update: the person changed the text of their message ``message_id``."""
    update = _message(uid, lang, chat, kind="edited_message", message_id=message_id, text=body)
    update["edited_message"]["edit_date"] = DATE + 60
    return update


def photo(
    uid: int,
    file_id: str,
    *,
    size: int = 1000,
    caption: str | None = None,
    lang: str = "en",
    chat: int | None = None,
    media_group_id: str | None = None,
    message_id: int | None = None,
) -> dict[str, Any]:
    """A photo; with ``media_group_id``, one photo of an album (each is its own message and update)."""
    fields: dict[str, Any] = {
        "photo": [{"file_id": file_id, "file_unique_id": "u" + file_id, "width": 800, "height": 600, "file_size": size}]
    }
    if caption:
        fields["caption"] = caption
        entities = _entities(caption, "@kie_images_bot")
        if entities:
            fields["caption_entities"] = entities
    if media_group_id is not None:
        fields["media_group_id"] = media_group_id
    return _message(uid, lang, chat, message_id=message_id, **fields)


def document(
    uid: int, file_id: str, *, mime: str, size: int = 1000, name: str = "file.bin", lang: str = "en"
) -> dict[str, Any]:
    doc = {"file_id": file_id, "file_unique_id": "u" + file_id, "file_name": name, "mime_type": mime, "file_size": size}
    return _message(uid, lang, document=doc)


def sticker(uid: int, *, lang: str = "en", chat: int | None = None) -> dict[str, Any]:
    st = {
        "file_id": "st1",
        "file_unique_id": "ust1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    return _message(uid, lang, chat, sticker=st)


def tap(uid: int, data: str, message: dict[str, Any], *, lang: str = "en") -> dict[str, Any]:
    """A tap by ``uid`` on a button of ``message`` (a message as the bot sent it, in whatever chat)."""
    return {
        "callback_query": {
            "id": str(next(_ids)),
            "from": user(uid, lang),
            "chat_instance": "ci",
            "data": data,
            "message": message,
        }
    }


def pre_checkout(uid: int, payload: str, amount: int, *, currency: str = "XTR") -> dict[str, Any]:
    return {
        "pre_checkout_query": {
            "id": str(next(_ids)),
            "from": user(uid),
            "currency": currency,
            "total_amount": amount,
            "invoice_payload": payload,
        }
    }


def successful_payment(
    uid: int, payload: str, amount: int, charge_id: str, *, currency: str = "XTR", lang: str = "en"
) -> dict[str, Any]:
    payment = {
        "currency": currency,
        "total_amount": amount,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
    }
    return _message(uid, lang, successful_payment=payment)
