"""FakeTelegram: the Bot API as our bot uses it, in memory, shared by the in-process session
(``session.FakeSession``) and the HTTP server (``server.FakeBotApiServer``).

``handle(method, params, files)`` takes what a real server receives (form fields as strings, JSON-encoded
objects, uploads named by ``attach://``) and returns (HTTP status, JSON body) in the Bot API's envelope, so the
real aiogram error mapping runs on the answers. Knobs: ``fail(...)`` injects errors (429 with retry_after, 403,
400 with migrate_to_chat_id, 413), ``blocked`` chats answer 403, ``bad_urls`` cannot be fetched by "Telegram",
``photo_limit`` makes large photo uploads 413.

A photo by URL whose ``url_bodies`` entry is no image is refused ("wrong type of the web page content").
``sendVideo`` (added for the video path) flags what Telegram would refuse: by URL, a body over
``video_url_limit`` (20 MB: "failed to get HTTP URL content") or one that is not a video ("wrong type of the
web page content"), as far as ``url_bodies`` says what a URL serves; an upload over ``video_upload_limit``
(50 MB) answers 413, one that is not an MP4/MOV/WebM answers 400.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "KIE images", "username": "kie_images_bot"}
_JSON_FIELDS = (
    "reply_markup",
    "media",
    "prices",
    "commands",
    "scope",
    "allowed_updates",
    "link_preview_options",
    "reply_parameters",
)


@attrs.define
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    result: Any = None
    """What the fake answered (a sent message, a list of them, True), or None for an error."""


@attrs.define
class Injected:
    method: str
    status: int
    description: str
    parameters: dict[str, Any] | None = None
    times: int = 1
    when: Callable[[dict[str, Any]], bool] | None = None


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.paths: dict[str, str] = {}
        self.updates: list[dict[str, Any]] = []
        self.blocked: set[int] = set()
        self.migrated: dict[int, int] = {}
        self.bad_urls: set[str] = set()
        self.url_attempts: Counter[str] = Counter()
        self.photo_limit = 10 * 1024 * 1024
        self.url_bodies: dict[str, bytes] = {}
        """What "Telegram" finds when it fetches a URL (sendVideo by URL checks the size and the content)."""
        self.video_url_limit = 20 * 1024 * 1024
        self.video_upload_limit = 50 * 1024 * 1024
        self.injected: list[Injected] = []
        self.pre_checkout_answers: list[dict[str, Any]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        """Messages the bot deleted, as they were."""
        self.charges: dict[str, int] = {}
        """Stars payments Telegram knows: charge id -> the payer's user id (``add_charge``)."""
        self.refunds: list[dict[str, Any]] = []
        """Every refundStarPayment Telegram carried out (a refused one is not here)."""
        self._ids = itertools.count(100)
        self._file_ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self.now = 1_767_268_800

    # what tests look at

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for (chat, _), m in sorted(self.messages.items()) if chat == chat_id]

    def last(self, chat_id: int) -> dict[str, Any]:
        return self.sent_to(chat_id)[-1]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        return self.messages[(chat_id, message_id)]

    def add_file(self, data: bytes, *, kind: str = "photo") -> str:
        file_id = f"{kind}-{next(self._file_ids)}"
        self.files[file_id] = data
        self.paths[f"{kind}s/{file_id}.bin"] = file_id
        return file_id

    def file_bytes(self, path: str) -> bytes | None:
        file_id = self.paths.get(path)
        return None if file_id is None else self.files[file_id]

    def add_charge(self, charge_id: str, user_id: int) -> None:
        """A Stars payment ``user_id`` made (what ``successful_payment`` reports), refundable once."""
        self.charges[charge_id] = user_id

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        times: int = 1,
        retry_after: int | None = None,
        migrate_to: int | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        parameters: dict[str, Any] = {}
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        if migrate_to is not None:
            parameters["migrate_to_chat_id"] = migrate_to
        self.injected.append(Injected(method, status, description, parameters or None, times, when))

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        self.updates.append(update)
        return update

    # the API

    def handle(self, method: str, raw: dict[str, Any], files: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
        params = {k: _decode(k, v) for k, v in raw.items()}
        call = Call(method, params, files)
        self.calls.append(call)
        name = method[0].lower() + method[1:]
        for rule in list(self.injected):
            if rule.method.lower() == name.lower() and (rule.when is None or rule.when(params)):
                rule.times -= 1
                if rule.times <= 0:
                    self.injected.remove(rule)
                return _error(rule.status, rule.description, rule.parameters)
        chat = params.get("chat_id")
        if chat is not None:
            chat = int(chat)
            if chat in self.blocked:
                return _error(403, "Forbidden: bot was blocked by the user")
            if chat in self.migrated:
                return _error(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": self.migrated[chat]},
                )
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            return _ok(True)
        result: tuple[int, dict[str, Any]] = handler(params, files, chat)
        call.result = result[1].get("result")
        return result

    def _new_message(self, chat: int, **fields: Any) -> dict[str, Any]:
        reply = fields.pop("reply_parameters", None)
        chat_type = "private" if chat > 0 else "supergroup"
        if isinstance(reply, dict) and reply.get("message_id"):
            quoted = {"message_id": int(reply["message_id"]), "date": self.now, "chat": {"id": chat, "type": chat_type}}
            fields["reply_to_message"] = quoted
        message_id = next(self._ids)
        message = {
            "message_id": message_id,
            "date": self.now,
            "chat": {"id": chat, "type": chat_type},
            "from": BOT_USER,
            **{k: v for k, v in fields.items() if v is not None},
        }
        self.messages[(chat, message_id)] = message
        return message

    def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes], chat: int | None) -> tuple[int, dict[str, Any]]:
        return _ok(BOT_USER)

    def _m_getUpdates(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        return _ok(list(self.updates))

    def _m_sendMessage(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        assert chat is not None
        return _ok(
            self._new_message(
                chat,
                text=params["text"],
                reply_markup=params.get("reply_markup"),
                reply_parameters=params.get("reply_parameters"),
            )
        )

    def _m_deleteMessage(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        assert chat is not None
        message = self.messages.pop((chat, int(params["message_id"])), None)
        if message is None:
            return _error(400, "Bad Request: message to delete not found")
        self.deleted.append(message)
        return _ok(True)

    def _m_editMessageText(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        assert chat is not None
        message = self.messages.get((chat, int(params["message_id"])))
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if message.get("text") == params["text"] and message.get("reply_markup") == markup:
            return _error(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        message["text"] = params["text"]
        message["edits"] = message.get("edits", 0) + 1
        message["history"] = [*message.get("history", []), params["text"]]
        if markup is not None:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return _ok(message)

    def _media(
        self, value: str, files: dict[str, bytes], *, photo: bool
    ) -> tuple[dict[str, Any] | None, tuple[int, dict[str, Any]] | None]:
        if value.startswith("attach://"):
            data = files[value[len("attach://") :]]
            if photo and len(data) > self.photo_limit:
                return None, _error(413, "Request Entity Too Large")
            file_id = self.add_file(data, kind="photo" if photo else "document")
        elif value.startswith(("http://", "https://")):
            self.url_attempts[value] += 1
            if value in self.bad_urls:
                return None, _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            body = self.url_bodies.get(value)
            if photo and body is not None and not _is_image(body):
                return None, _error(400, "Bad Request: wrong type of the web page content")
            file_id = self.add_file(b"fetched:" + value.encode(), kind="photo" if photo else "document")
        elif value in self.files:
            file_id = value
        else:
            return None, _error(400, "Bad Request: wrong remote file identifier specified")
        size = len(self.files[file_id])
        if photo:
            return {
                "photo": [
                    {
                        "file_id": file_id,
                        "file_unique_id": "u" + file_id,
                        "width": 512,
                        "height": 512,
                        "file_size": size,
                    }
                ]
            }, None
        return {
            "document": {
                "file_id": file_id,
                "file_unique_id": "u" + file_id,
                "file_name": "result.png",
                "mime_type": "image/png",
                "file_size": size,
            }
        }, None

    def _m_sendPhoto(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        assert chat is not None
        media, error = self._media(params["photo"], files, photo=True)
        if error is not None:
            return error
        assert media is not None
        return _ok(
            self._new_message(chat, caption=params.get("caption"), reply_markup=params.get("reply_markup"), **media)
        )

    def _m_sendDocument(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        assert chat is not None
        media, error = self._media(params["document"], files, photo=False)
        if error is not None:
            return error
        assert media is not None
        return _ok(
            self._new_message(chat, caption=params.get("caption"), reply_markup=params.get("reply_markup"), **media)
        )

    def _m_sendVideo(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        assert chat is not None
        value = params["video"]
        if value.startswith("attach://"):
            data = files[value[len("attach://") :]]
            if len(data) > self.video_upload_limit:
                return _error(413, "Request Entity Too Large")
            if not _is_video(data):
                return _error(400, "Bad Request: wrong file type of the video")
            file_id = self.add_file(data, kind="video")
        elif value.startswith(("http://", "https://")):
            self.url_attempts[value] += 1
            if value in self.bad_urls:
                return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            body = self.url_bodies.get(value)
            if body is not None and len(body) > self.video_url_limit:
                return _error(400, "Bad Request: failed to get HTTP URL content")
            if body is not None and not _is_video(body):
                return _error(400, "Bad Request: wrong type of the web page content")
            file_id = self.add_file(body if body is not None else b"fetched:" + value.encode(), kind="video")
        elif value in self.files:
            file_id = value
        else:
            return _error(400, "Bad Request: wrong remote file identifier specified")
        video = {
            "file_id": file_id,
            "file_unique_id": "u" + file_id,
            "width": 64,
            "height": 64,
            "duration": 1,
            "mime_type": "video/mp4",
            "file_size": len(self.files[file_id]),
        }
        return _ok(
            self._new_message(
                chat,
                caption=params.get("caption"),
                reply_markup=params.get("reply_markup"),
                video=video,
            )
        )

    def _m_sendMediaGroup(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        assert chat is not None
        items = params["media"]
        if not 2 <= len(items) <= 10:
            return _error(400, "Bad Request: wrong number of media")
        found = []
        for item in items:
            media, error = self._media(item["media"], files, photo=item["type"] == "photo")
            if error is not None:
                return error
            found.append(media)
        group = str(next(self._ids))
        return _ok(
            [
                self._new_message(chat, media_group_id=group, caption=i.get("caption"), **m)
                for i, m in zip(items, found, strict=True)
            ]
        )

    def _m_getFile(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        file_id = params["file_id"]
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path = next(p for p, f in self.paths.items() if f == file_id)
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": "u" + file_id,
                "file_size": len(self.files[file_id]),
                "file_path": path,
            }
        )

    def _m_sendInvoice(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        assert chat is not None
        invoice = {
            "title": params["title"],
            "description": params["description"],
            "start_parameter": "",
            "currency": params["currency"],
            "total_amount": sum(p["amount"] for p in params["prices"]),
        }
        return _ok(self._new_message(chat, invoice=invoice))

    def _m_answerPreCheckoutQuery(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        self.pre_checkout_answers.append(params)
        return _ok(True)

    def _m_answerCallbackQuery(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        self.callback_answers.append(params)
        return _ok(True)

    def _m_refundStarPayment(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        charge, user = params["telegram_payment_charge_id"], int(params["user_id"])
        if self.charges.get(charge) != user:
            return _error(400, "Bad Request: CHARGE_NOT_FOUND")
        if any(r["telegram_payment_charge_id"] == charge for r in self.refunds):
            return _error(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
        self.refunds.append({"telegram_payment_charge_id": charge, "user_id": user})
        return _ok(True)

    def _m_deleteWebhook(
        self, params: dict[str, Any], files: dict[str, bytes], chat: int | None
    ) -> tuple[int, dict[str, Any]]:
        return _ok(True)


def _decode(key: str, value: Any) -> Any:
    if key in _JSON_FIELDS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key == "chat_id" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def _is_image(data: bytes) -> bool:
    return data.startswith((b"\x89PNG", b"\xff\xd8\xff")) or data[8:12] == b"WEBP"


def _is_video(data: bytes) -> bool:
    """An ISO media (``ftyp`` at offset 4) or Matroska/WebM (EBML) file: what Telegram plays."""
    return data[4:8] == b"ftyp" or data.startswith(b"\x1a\x45\xdf\xa3")


def _ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": result}


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, body
