"""AiogramMessenger: delivers finished jobs to ``telegram:<chat_id>`` recipients.

The ladder, for each result URL, stops at the first rung Telegram accepts:
1. ``sendPhoto`` with the URL (Telegram fetches it; photos by URL up to 5 MB);
2. our own download (size cap, timeout, allowed hosts) uploaded as a photo (up to 10 MB);
3. the same bytes as a document (up to 50 MB);
4. a text message with the link.
Telegram caches a failed URL fetch, so a URL that failed on rung 1 is never sent again. 413 is not a network
error: it moves down the ladder. Several results go as albums (``sendMediaGroup``, 2-10 per album) followed by
one message carrying the buttons.

A video job (``Job.media``) has its own ladder, for each result URL:
1. ``sendVideo`` with the URL (Telegram fetches videos by URL up to 20 MB);
2. our own download (the same guarded GET, up to 50 MB) uploaded with ``sendVideo``;
3. the same bytes as a document (a container Telegram will not play is still a file the person can open);
4. a text message with the link: a video over 50 MB is never downloaded whole, it goes as a link.
Several videos go one by one (the last carries the caption and the buttons). A picture job whose download
turns out to be a video (a raw job of a model kiegen does not know) continues on the video ladder's rung 2.

The status card (``metadata["card_message_id"]``, a message the app sent before the job started): a failure
notice the presenter marks ``on_card`` is written over it (edited; sent as a new message only when the card
cannot be edited, and "message is not modified" counts as written: the app may have written the same already);
after a result, ``Presenter.card_done`` says whether the card gets a final text, is deleted or is left.

Errors: 403 (blocked, deactivated) and "chat not found" → ``RecipientGone``; 429 → that chat is held for
``retry_after`` (others go on) and the call is repeated once when the wait is short, otherwise
``DeliveryDeferred(retry_after)`` hands the retry to the deliverer's schedule; ``migrate_to_chat_id`` is
followed once (and remembered for later deliveries); network and 5xx → ``DeliveryDeferred``. The deliverer
owns retries: nothing here loops beyond those two rules. The receipt lists the ``file_id``s sent
(``p:<id>`` photo, ``v:<id>`` video, ``d:<id>`` document, ``l:<message id>`` link), comma-separated, for /history.

Our own downloads go through ``http`` (an ``httpx.AsyncClient``, the toolkit's guarded GET): a test that must
stop the process in the middle of one gives a client whose transport does that.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn, TypeVar

import attrs
import httpx
from aiogram import Bot
from aiogram.enums import ChatAction, ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InputMediaPhoto, Message

from kiegen.adapters.aiogram.pacing import Pacer
from kiegen.adapters.aiogram.presenter import CardEnd, Outgoing, PlainPresenter, Presenter
from kiegen.adapters.aiogram.text import CAPTION_LIMIT, TEXT_LIMIT, escape_cut
from kiegen.adapters.httpkit import SNIFF_BYTES, guarded_get, sniff_video
from kiegen.core.errors import DeliveryDeferred, DownloadFailed, KiegenError, RecipientGone
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media
from kiegen.ports.messaging import Receipt

__all__ = ["AiogramMessenger", "DeliveryLimits", "parse_recipient", "receipt_files"]

log = logging.getLogger("kiegen.telegram.deliver")

T = TypeVar("T")
PREFIX = "telegram:"
_GONE_MARKERS = ("chat not found", "user is deactivated", "bot was kicked", "bot was blocked", "have no rights")


def parse_recipient(recipient: str) -> int | None:
    if not recipient.startswith(PREFIX):
        return None
    try:
        return int(recipient[len(PREFIX) :])
    except ValueError:
        return None


@attrs.frozen(kw_only=True)
class DeliveryLimits:
    photo_upload_bytes: int = 10 * 1024 * 1024
    document_upload_bytes: int = 50 * 1024 * 1024
    video_upload_bytes: int = 50 * 1024 * 1024
    """sendVideo uploads (Telegram's 50 MB for bots); bigger videos go as a link. By URL, Telegram fetches up to
    20 MB itself: a bigger one is refused and comes down the ladder to our upload."""
    download_timeout_s: float = 30.0
    video_download_timeout_s: float = 120.0
    """A video of up to 50 MB needs longer than a picture."""
    max_inline_wait_s: float = 5.0
    """A 429 asking for at most this long is waited out here; longer ones go back to the deliverer."""
    allowed_hosts: frozenset[str] | None = None
    """Hosts our own downloads may fetch from (a leading dot allows subdomains); None: any public host."""
    allow_private: bool = False
    user_agent: str | None = None
    """The User-Agent of our own downloads (``KIEGEN_USER_AGENT``; default names kiegen and its version)."""


class _NextRung(Exception):
    """Telegram refused this rung for a reason another rung may not have (bad URL, too large, bad photo)."""


@attrs.define
class _Chat:
    chat_id: int
    migrated: bool = False
    waited: bool = False


class AiogramMessenger:
    schemes = frozenset({"telegram"})

    def __init__(
        self,
        bot: Bot,
        *,
        presenter: Presenter | None = None,
        http: httpx.AsyncClient | None = None,
        pacer: Pacer | None = None,
        limits: DeliveryLimits | None = None,
    ) -> None:
        self.bot = bot
        self.presenter: Presenter = presenter or PlainPresenter()
        self.pacer = pacer or Pacer()
        self.limits = limits or DeliveryLimits()
        self._http = http
        self._own_http: httpx.AsyncClient | None = None
        self._migrated: dict[int, int] = {}
        self.rungs: dict[str, int] = {
            "photo_url": 0,
            "photo_upload": 0,
            "video_url": 0,
            "video_upload": 0,
            "document": 0,
            "link": 0,
            "album": 0,
        }
        """How often each rung delivered (a figure for tests and reports)."""

    async def aclose(self) -> None:
        if self._own_http is not None:
            await self._own_http.aclose()
            if self._http is self._own_http:
                self._http = None  # a later fetch opens a new one instead of using the closed client
            self._own_http = None

    def handles(self, recipient: str) -> bool:
        return parse_recipient(recipient) is not None

    def chat_for(self, chat_id: int) -> int:
        """The chat to use now for ``chat_id`` (a group may have become a supergroup)."""
        return self._migrated.get(chat_id, chat_id)

    async def fetch(self, url: str, *, max_bytes: int | None = None, timeout: float | None = None) -> bytes:
        """Download a result ourselves (also used for "Original file") with the toolkit's guarded GET. Raises
        ``DownloadFailed`` or ``UnsafeURL``."""
        if self._http is None:
            if self._own_http is None:
                self._own_http = httpx.AsyncClient()
            self._http = self._own_http
        fetched = await guarded_get(
            self._http,
            url,
            max_bytes=max_bytes or self.limits.document_upload_bytes,
            timeout=timeout or self.limits.download_timeout_s,
            allowed_hosts=self.limits.allowed_hosts,
            allow_private=self.limits.allow_private,
            user_agent=self.limits.user_agent,
        )
        return fetched.body

    async def deliver(self, job: Job) -> Receipt:
        original = parse_recipient(job.recipient)
        if original is None:
            raise RecipientGone(f"not a Telegram recipient: {job.recipient!r}")
        chat = _Chat(self.chat_for(original))
        on_card = False
        if job.status is JobStatus.SUCCEEDED and job.result_urls:
            await self._chat_action(chat.chat_id, job.media)
            receipt = await self._deliver_results(chat, job)
        else:
            receipt, on_card = await self._deliver_notice(chat, job)
        if chat.chat_id != self.chat_for(original):
            self._migrated[original] = chat.chat_id
        if not on_card:
            await self._finish_card(chat.chat_id, job)
        return Receipt(detail=receipt)

    # the ladder

    async def _deliver_results(self, chat: _Chat, job: Job) -> str:
        outgoing = self.presenter.result(job)
        urls = list(job.result_urls)
        if job.media is Media.VIDEO:
            # No albums for videos: each goes down its own ladder, the last with the caption and the buttons.
            sent = [await self._video_ladder(chat, job, url, Outgoing(text="")) for url in urls[:-1]]
            sent.append(await self._video_ladder(chat, job, urls[-1], outgoing))
            return ",".join(sent)
        if len(urls) == 1:
            return await self._ladder(chat, job, urls[0], outgoing)
        ids: list[str] = []
        for start in range(0, len(urls), 10):
            ids.extend(await self._album(chat, job, urls[start : start + 10]))
        message = await self._call(
            chat,
            lambda c: self.bot.send_message(
                c, escape_cut(outgoing.text, TEXT_LIMIT), parse_mode=ParseMode.HTML, reply_markup=outgoing.markup
            ),
        )
        ids.append(f"l:{message.message_id}")
        return ",".join(ids)

    async def _ladder(self, chat: _Chat, job: Job, url: str, outgoing: Outgoing) -> str:
        caption = escape_cut(outgoing.text, CAPTION_LIMIT)
        try:
            message = await self._call(
                chat,
                lambda c: self.bot.send_photo(
                    c, url, caption=caption, parse_mode=ParseMode.HTML, reply_markup=outgoing.markup
                ),
            )
            self.rungs["photo_url"] += 1
            return _photo_id(message)
        except _NextRung as exc:
            log.info("job %s: photo by URL refused (%s); uploading it ourselves", job.id, exc)
        data = await self._download(job, url)
        if data is not None and sniff_video(data[:SNIFF_BYTES]) is not None:
            # A video where a picture was expected (a raw job of a model kiegen does not know): send it as one.
            log.info("job %s: the result is a video; sending it with sendVideo", job.id)
            return await self._upload_video(chat, job, url, data, outgoing)
        if data is not None:
            name = _filename(url, data)
            if len(data) <= self.limits.photo_upload_bytes:
                try:
                    message = await self._call(
                        chat,
                        lambda c: self.bot.send_photo(
                            c,
                            BufferedInputFile(data, name),
                            caption=caption,
                            parse_mode=ParseMode.HTML,
                            reply_markup=outgoing.markup,
                        ),
                    )
                    self.rungs["photo_upload"] += 1
                    return _photo_id(message)
                except _NextRung as exc:
                    log.info("job %s: photo upload refused (%s); sending a document", job.id, exc)
            sent = await self._document(chat, job, data, name, caption, outgoing)
            if sent is not None:
                return sent
        return await self._link(chat, job, url, outgoing)

    async def _video_ladder(self, chat: _Chat, job: Job, url: str, outgoing: Outgoing) -> str:
        try:
            sent = await self._send_video(chat, url, outgoing)
            self.rungs["video_url"] += 1
            return sent
        except _NextRung as exc:
            log.info("job %s: video by URL refused (%s); uploading it ourselves", job.id, exc)
        data = await self._download(
            job, url, max_bytes=self.limits.video_upload_bytes, timeout=self.limits.video_download_timeout_s
        )
        if data is None:
            return await self._link(chat, job, url, outgoing)
        if sniff_video(data[:SNIFF_BYTES]) is None:
            # What came back is no video (an error page, an expired link's HTML): only the link is honest.
            log.warning("job %s: the result is not a video (starts %r); sending the link", job.id, data[:8])
            return await self._link(chat, job, url, outgoing)
        return await self._upload_video(chat, job, url, data, outgoing)

    async def _upload_video(self, chat: _Chat, job: Job, url: str, data: bytes, outgoing: Outgoing) -> str:
        """Rungs 2-4 of the video ladder, for a video we hold: sendVideo, a document, the link."""
        name = _filename(url, data)
        try:
            sent = await self._send_video(chat, BufferedInputFile(data, name), outgoing)
            self.rungs["video_upload"] += 1
            return sent
        except _NextRung as exc:
            log.info("job %s: video upload refused (%s); sending a document", job.id, exc)
        caption = escape_cut(outgoing.text, CAPTION_LIMIT) or None
        sent_as_file = await self._document(chat, job, data, name, caption, outgoing)
        return sent_as_file if sent_as_file is not None else await self._link(chat, job, url, outgoing)

    async def _send_video(self, chat: _Chat, video: str | BufferedInputFile, outgoing: Outgoing) -> str:
        """sendVideo by URL or by upload; raises ``_NextRung`` when Telegram refuses it."""
        caption = escape_cut(outgoing.text, CAPTION_LIMIT) or None
        message = await self._call(
            chat,
            lambda c: self.bot.send_video(
                c,
                video,
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=outgoing.markup,
                supports_streaming=True,
            ),
        )
        return _video_id(message)

    async def _document(
        self, chat: _Chat, job: Job, data: bytes, name: str, caption: str | None, outgoing: Outgoing
    ) -> str | None:
        """The document rung of both ladders: the file as it is, or None when it is too large or refused (the
        link comes next)."""
        if len(data) > self.limits.document_upload_bytes:
            return None
        try:
            message = await self._call(
                chat,
                lambda c: self.bot.send_document(
                    c,
                    BufferedInputFile(data, name),
                    caption=caption,
                    parse_mode=ParseMode.HTML,
                    reply_markup=outgoing.markup,
                ),
            )
        except _NextRung as exc:
            log.info("job %s: document refused (%s); sending the link", job.id, exc)
            return None
        self.rungs["document"] += 1
        return f"d:{message.document.file_id}" if message.document else f"l:{message.message_id}"

    async def _link(self, chat: _Chat, job: Job, url: str, outgoing: Outgoing) -> str:
        text = escape_cut(self.presenter.link(job, url), TEXT_LIMIT)
        try:
            message = await self._call(
                chat, lambda c: self.bot.send_message(c, text, parse_mode=ParseMode.HTML, reply_markup=outgoing.markup)
            )
        except _NextRung as exc:
            raise DeliveryDeferred(f"Telegram refused every rung of the ladder: {exc}") from None
        self.rungs["link"] += 1
        return f"l:{message.message_id}"

    async def _album(self, chat: _Chat, job: Job, urls: Sequence[str]) -> list[str]:
        if len(urls) == 1:
            return [await self._ladder(chat, job, urls[0], Outgoing(text=""))]
        try:
            messages = await self._call(
                chat, lambda c: self.bot.send_media_group(c, [InputMediaPhoto(media=u) for u in urls])
            )
            self.rungs["album"] += 1
            return [_photo_id(m) for m in messages]
        except _NextRung as exc:
            log.info("job %s: album by URL refused (%s); uploading it ourselves", job.id, exc)
        files: list[tuple[str, bytes]] = []
        for url in urls:
            data = await self._download(job, url)
            if data is None or len(data) > self.limits.photo_upload_bytes:
                break
            files.append((url, data))
        if len(files) == len(urls):
            try:
                messages = await self._call(
                    chat,
                    lambda c: self.bot.send_media_group(
                        c, [InputMediaPhoto(media=BufferedInputFile(d, _filename(u, d))) for u, d in files]
                    ),
                )
                self.rungs["album"] += 1
                return [_photo_id(m) for m in messages]
            except _NextRung as exc:
                log.info("job %s: album upload refused (%s); sending one by one", job.id, exc)
        # One at a time down the document/link rungs: the URLs already failed as photos.
        ids: list[str] = []
        for url in urls:
            ids.append(await self._ladder_without_url(chat, job, url))
        return ids

    async def _ladder_without_url(self, chat: _Chat, job: Job, url: str) -> str:
        data = await self._download(job, url)
        if data is not None and len(data) <= self.limits.document_upload_bytes:
            try:
                message = await self._call(
                    chat, lambda c: self.bot.send_document(c, BufferedInputFile(data, _filename(url, data)))
                )
                self.rungs["document"] += 1
                return f"d:{message.document.file_id}" if message.document else f"l:{message.message_id}"
            except _NextRung:
                pass
        text = escape_cut(self.presenter.link(job, url), TEXT_LIMIT)
        message = await self._call(chat, lambda c: self.bot.send_message(c, text, parse_mode=ParseMode.HTML))
        self.rungs["link"] += 1
        return f"l:{message.message_id}"

    async def _download(
        self, job: Job, url: str, *, max_bytes: int | None = None, timeout: float | None = None
    ) -> bytes | None:
        try:
            return await self.fetch(url, max_bytes=max_bytes, timeout=timeout)
        except DownloadFailed as exc:
            log.warning(
                "job %s: could not download the result ourselves (host %s, status %s): %s",
                job.id,
                exc.host,
                exc.status if exc.status is not None else "none",
                exc.message,
                extra={"job_id": job.id},
            )
            return None
        except KiegenError as exc:
            log.warning("job %s: could not download the result ourselves: %s", job.id, exc, extra={"job_id": job.id})
            return None

    async def _deliver_notice(self, chat: _Chat, job: Job) -> tuple[str, bool]:
        """The notice, and whether it was written on the status card."""
        outgoing = self.presenter.failure(job)
        text = escape_cut(outgoing.text, TEXT_LIMIT)
        card = job.metadata.get("card_message_id")
        if outgoing.on_card and isinstance(card, int):
            try:
                await self._call(
                    chat,
                    lambda c: self.bot.edit_message_text(
                        text=text, chat_id=c, message_id=card, parse_mode=ParseMode.HTML, reply_markup=outgoing.markup
                    ),
                )
                return f"l:{card}", True
            except _NextRung as exc:
                if "not modified" in str(exc):
                    return f"l:{card}", True
                log.info("job %s: status card not editable (%s); sending the notice", job.id, exc)
        try:
            message = await self._call(
                chat, lambda c: self.bot.send_message(c, text, parse_mode=ParseMode.HTML, reply_markup=outgoing.markup)
            )
        except _NextRung as exc:
            raise DeliveryDeferred(f"Telegram refused the notice: {exc}") from None
        return f"l:{message.message_id}", False

    # the status card and chat actions are cosmetic: their failures never fail a delivery

    async def _finish_card(self, chat_id: int, job: Job) -> None:
        message_id = job.metadata.get("card_message_id")
        end = self.presenter.card_done(job)
        if not isinstance(message_id, int) or end is CardEnd.LEAVE:
            return
        try:
            if end is CardEnd.REMOVE:
                await self.bot.delete_message(chat_id, message_id)
            else:
                await self.bot.edit_message_text(
                    text=end, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML
                )
        except TelegramAPIError as exc:
            if "not modified" not in exc.message:
                log.info("job %s: status card not finished: %s", job.id, exc.message)

    async def _chat_action(self, chat_id: int, media: Media) -> None:
        action = ChatAction.UPLOAD_VIDEO if media is Media.VIDEO else ChatAction.UPLOAD_PHOTO
        with contextlib.suppress(TelegramAPIError):
            await self.bot.send_chat_action(chat_id, action)

    # one Telegram call with the error rules

    async def _call(self, chat: _Chat, make: Callable[[int], Awaitable[T]]) -> T:
        while True:
            await self.pacer.slot(chat.chat_id)
            try:
                return await make(chat.chat_id)
            except TelegramRetryAfter as exc:
                self.pacer.hold(chat.chat_id, exc.retry_after)
                if chat.waited or exc.retry_after > self.limits.max_inline_wait_s:
                    raise DeliveryDeferred(
                        f"Telegram asked to wait {exc.retry_after} s", retry_after=float(exc.retry_after)
                    ) from None
                chat.waited = True
            except TelegramMigrateToChat as exc:
                if chat.migrated:
                    raise DeliveryDeferred("the chat migrated twice in one delivery") from None
                log.info("chat %s migrated to %s", chat.chat_id, exc.migrate_to_chat_id)
                chat.migrated = True
                chat.chat_id = exc.migrate_to_chat_id
            except TelegramForbiddenError as exc:
                raise RecipientGone(f"Telegram: {exc.message}") from None
            except TelegramEntityTooLarge as exc:  # a subclass of TelegramNetworkError, and not a network error
                raise _NextRung(exc.message) from None
            except (TelegramBadRequest, TelegramNotFound) as exc:
                _gone_or_next(exc)
            except (TelegramNetworkError, TelegramServerError) as exc:
                raise DeliveryDeferred(f"Telegram unreachable: {type(exc).__name__}") from None
            except TelegramAPIError as exc:
                raise DeliveryDeferred(f"Telegram: {exc.message}") from None


def _gone_or_next(exc: TelegramAPIError) -> NoReturn:
    lowered = exc.message.lower()
    if any(marker in lowered for marker in _GONE_MARKERS):
        raise RecipientGone(f"Telegram: {exc.message}") from None
    raise _NextRung(exc.message) from None


def _photo_id(message: Message) -> str:
    if message.photo:
        return f"p:{message.photo[-1].file_id}"
    if message.document:
        return f"d:{message.document.file_id}"
    return f"l:{message.message_id}"


def _video_id(message: Message) -> str:
    if message.video:
        return f"v:{message.video.file_id}"
    if message.document:  # Telegram keeps some containers as documents
        return f"d:{message.document.file_id}"
    return f"l:{message.message_id}"


def _filename(url: str, data: bytes) -> str:
    video = sniff_video(data[:SNIFF_BYTES])
    if video is not None:
        return f"result.{video}"
    if data.startswith(b"\x89PNG"):
        ext = "png"
    elif data.startswith(b"\xff\xd8"):
        ext = "jpg"
    elif data[8:12] == b"WEBP":
        ext = "webp"
    else:
        ext = url.rsplit(".", 1)[-1][:4] if "." in url.rsplit("/", 1)[-1] else "bin"
    return f"result.{ext}"


def receipt_files(detail: str | None) -> list[tuple[str, str]]:
    """(kind, id) pairs from a receipt: kind ``p`` photo file_id, ``v`` video file_id, ``d`` document file_id,
    ``l`` message id."""
    pairs: list[tuple[str, str]] = []
    for part in (detail or "").split(","):
        kind, sep, value = part.partition(":")
        if sep and kind in ("p", "v", "d", "l") and value:
            pairs.append((kind, value))
    return pairs
