"""BotStore: what the Telegram bot keeps besides jobs and credits: users (with their language), the one draft a
user is composing, and Telegram Stars payments.

Contract (every adapter passes ``tests/contract/test_bot_store_contract.py``):
- Users. ``ensure_user(user_id, locale=..., now=...)`` creates the user with that locale and
  ``created_at=now`` and returns ``(user, True)``; every later call returns the stored user unchanged and
  ``False``, whatever locale and time it passes (the language a user chose with /language survives /start).
  Calls racing for one new user create it once: exactly one of them returns ``True``.
- ``get_user`` returns the stored user, or None for an unknown one.
- ``set_locale(user_id, locale, now=...)`` changes the language of a known user (``created_at`` kept) and
  returns the stored user; an unknown user is created with that locale and ``created_at=now``.
- Drafts. A user has at most one: ``save_draft(draft)`` stores it under ``draft.user_id``, replacing the
  user's previous draft whatever its id; ``get_draft(user_id)`` returns it equal to what was saved (every
  field, ``options`` as nested JSON values) or None; ``drop_draft(user_id)`` removes it (no error when there is
  none). Other users' drafts are never touched.
- ``update_draft(user_id, change)`` reads the user's draft (None when there is none), calls ``change`` with it
  and stores what it returns (None: leaves the draft as it is), atomically: no other write of that user's
  draft comes between the read and the write, so updates racing for one draft (the photos of one album,
  handled at once) all take effect, in some order, and racing to create it create it once. Returns the draft
  stored afterwards. ``change`` must be a pure function of its argument: an adapter may call it again.
- A draft's ``album`` reads back equal, photos in their order.
- Payments. ``record_payment(payment)`` returns True when stored and False, storing nothing, when a payment
  with the same ``telegram_payment_charge_id`` exists (Telegram may send ``successful_payment`` twice): the
  first record stays as it was. ``payments(user_id)`` lists that user's payments, oldest ``created_at`` first
  (ties in ``telegram_payment_charge_id`` order); an unknown user has none.
  ``payment(charge_id)`` returns the payment recorded under that ``telegram_payment_charge_id``, or None.
- Refunds (one per charge id; an operator's /refund, or Telegram's ``refunded_payment``). ``begin_refund(refund)``
  stores a PENDING refund unless the charge already has one, and returns the refund as stored (the earlier one,
  whatever its status, when there was one). ``finish_refund(charge_id, taken_back=..., now=...)`` moves a PENDING
  refund to DONE with the credits actually taken back and ``done_at=now``, and returns it; a DONE one comes back
  unchanged; None when the charge has no refund. ``drop_refund(charge_id)`` removes a PENDING refund (Telegram
  refused it) and says whether it did; a DONE one stays. ``refund_of(charge_id)`` reads one (None without).
- Figures. ``stars(since, until)`` counts the payments in ``currency`` XTR created in ``[since, until)`` and their
  Stars, and the refunds finished (``done_at``) in that window and the Stars they gave back.
- Values: timestamps are timezone-aware and come back as the same instant (a database adapter returns them in
  UTC); ``locale`` is a language tag of at most 16 characters; ``chat_id``, ``card_message_id`` and
  ``prompt_message_id`` are 64-bit.
- A database adapter keeps all of this across restarts (a new store on the same database reads it back).
The credits themselves are ledger entries in the ``JobStore`` (key ``stars:<charge id>``), never here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import attrs

__all__ = [
    "Album",
    "AlbumPhoto",
    "BotStore",
    "BotUser",
    "Draft",
    "DraftChange",
    "Payment",
    "Refund",
    "RefundStatus",
    "StarsFigures",
]


def _mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(value)


def _photos(values: Iterable[AlbumPhoto]) -> tuple[AlbumPhoto, ...]:
    return tuple(values)


def _ints(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class AlbumPhoto:
    message_id: int
    """The person's message the photo came in (Telegram numbers an album's messages in its order)."""
    url: str
    """KIE's URL of the uploaded photo."""


@attrs.frozen(kw_only=True)
class Album:
    """The photos of one Telegram album (messages sharing a ``media_group_id``) that a draft holds, as they
    arrive: each message is a separate update, possibly handled at once with the others, possibly sent again."""

    id: str
    """The album's ``media_group_id``."""
    photos: tuple[AlbumPhoto, ...] = attrs.field(default=(), converter=_photos)
    """Kept, in message order: at most as many as the draft's model takes."""
    dropped: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    """Messages whose photos were beyond what the model takes."""
    pending: tuple[int, ...] = attrs.field(default=(), converter=_ints)
    """Messages whose photos are being downloaded and uploaded."""
    last: int | None = None
    """The message recorded last: its handler shows the album's card."""

    @property
    def seen(self) -> frozenset[int]:
        """Messages taken (kept or dropped): one sent again is not taken twice."""
        return frozenset(p.message_id for p in self.photos) | frozenset(self.dropped)


@attrs.frozen(kw_only=True)
class BotUser:
    user_id: str
    locale: str | None = None
    created_at: datetime


@attrs.frozen(kw_only=True)
class Draft:
    """A generation being composed: model, chosen options, prompt and uploaded image. Its ``id`` is the
    idempotency key of the job it becomes, so a double tap on Generate submits one job."""

    id: str
    user_id: str
    model: str
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    prompt: str | None = None
    image_url: str | None = None
    """A URL KIE can fetch (KIE's own upload or a KIE result), never a Telegram file URL."""
    chat_id: int | None = None
    card_message_id: int | None = None
    prompt_message_id: int | None = None
    """The person's message the prompt came from (an edit of that message changes the prompt)."""
    job_id: str | None = None
    """Set once submitted."""
    updated_at: datetime
    album: Album | None = None
    """Photos that came as an album, for a model that takes several; ``image_url`` is the first of them."""

    @property
    def images(self) -> tuple[str, ...]:
        """Every photo of the draft, in order: the album's, else the one ``image_url``."""
        if self.album is not None and self.album.photos:
            return tuple(p.url for p in self.album.photos)
        return (self.image_url,) if self.image_url else ()


DraftChange = Callable[[Draft | None], Draft | None]


@attrs.frozen(kw_only=True)
class Payment:
    telegram_payment_charge_id: str
    provider_payment_charge_id: str | None = None
    user_id: str
    currency: str
    total_amount: int
    credits: int
    payload: str
    ledger_key: str
    created_at: datetime


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    """Written before Telegram is asked: a crash from here on is finished by the next attempt."""
    DONE = "done"
    """Telegram gave the Stars back and the credits were reversed."""


@attrs.frozen(kw_only=True)
class Refund:
    telegram_payment_charge_id: str
    user_id: str
    status: RefundStatus = RefundStatus.PENDING
    credits: int
    """What the payment credited: what the reversal takes back, as far as the balance allows."""
    taken_back: int | None = None
    """Credits actually taken back (set when DONE)."""
    actor: str
    """Who asked: ``telegram:<operator id>``, or ``telegram`` for a refund Telegram reported."""
    created_at: datetime
    done_at: datetime | None = None


@attrs.frozen(kw_only=True)
class StarsFigures:
    payments: int = 0
    stars: int = 0
    refunds: int = 0
    refunded_stars: int = 0


class BotStore(Protocol):
    async def ensure_user(self, user_id: str, *, locale: str | None, now: datetime) -> tuple[BotUser, bool]: ...

    async def get_user(self, user_id: str) -> BotUser | None: ...

    async def set_locale(self, user_id: str, locale: str, *, now: datetime) -> BotUser: ...

    async def save_draft(self, draft: Draft) -> None: ...

    async def get_draft(self, user_id: str) -> Draft | None: ...

    async def drop_draft(self, user_id: str) -> None: ...

    async def update_draft(self, user_id: str, change: DraftChange) -> Draft | None: ...

    async def record_payment(self, payment: Payment) -> bool: ...

    async def payments(self, user_id: str) -> list[Payment]: ...

    async def payment(self, charge_id: str) -> Payment | None: ...

    async def begin_refund(self, refund: Refund) -> Refund: ...

    async def finish_refund(self, charge_id: str, *, taken_back: int, now: datetime) -> Refund | None: ...

    async def drop_refund(self, charge_id: str) -> bool: ...

    async def refund_of(self, charge_id: str) -> Refund | None: ...

    async def stars(self, since: datetime, until: datetime) -> StarsFigures: ...
