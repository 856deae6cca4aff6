"""What the handlers need, bundled once by the app and handed to aiogram as workflow data (``deps``)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import attrs

from kiegen.adapters.aiogram import AiogramMessenger
from kiegen.apps.telegram.config import BotConfig
from kiegen.apps.telegram.i18n import Catalog
from kiegen.apps.telegram.progress import ProgressWatcher
from kiegen.apps.telegram.prompts import Joiner
from kiegen.client import Client
from kiegen.core.billing import utc_day
from kiegen.core.jobs import Job
from kiegen.core.models import ModelKind, ModelSpec
from kiegen.ports.bot import BotStore

__all__ = ["Deps", "Quota", "new_draft_id", "telegram_id", "user_key"]


def user_key(telegram_user_id: int) -> str:
    """kiegen's user id for a Telegram user (jobs, ledger, quota, drafts)."""
    return f"tg:{telegram_user_id}"


def telegram_id(user_id: str | None) -> int | None:
    """The Telegram user id back from kiegen's (None for a user that is not a Telegram one)."""
    if user_id is None or not user_id.startswith("tg:") or not user_id[3:].lstrip("-").isdigit():
        return None
    return int(user_id[3:])


def new_draft_id(origin: str | None = None) -> str:
    """A random id, or one derived from ``origin`` (the message a draft came from): an update Telegram sends
    again (a new polling leader re-reads the last unconfirmed batch) makes the same draft, and so the same job."""
    if origin is None:
        return uuid.uuid4().hex[:16]
    return hashlib.sha256(f"kiegen draft {origin}".encode()).hexdigest()[:16]


@attrs.frozen
class Quota:
    total: int | None
    """Free generations per day; None: unlimited."""
    left: int | None
    reset_in: timedelta
    """Until the next UTC midnight, when the count starts again."""

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0


@attrs.define(kw_only=True)
class Deps:
    client: Client
    bots: BotStore
    catalog: Catalog
    config: BotConfig
    messenger: AiogramMessenger
    progress: ProgressWatcher
    payload_key: bytes = attrs.field(repr=False)
    joiner: Joiner = attrs.field(factory=Joiner)

    def models(self) -> list[ModelSpec]:
        """The models the operator offers in the bot (``KIEGEN_MODELS_ENABLED``)."""
        return list(self.client.registry.enabled_models())

    def now(self) -> datetime:
        return self.client.clock.now()

    @property
    def all_free(self) -> bool:
        """No model costs credits: balances and Stars packs are beside the point and not shown."""
        return all(spec.price <= 0 for spec in self.models())

    def default_model(self, *, edit: bool) -> ModelSpec | None:
        """The model a prompt (``edit=False``) or a photo (``edit=True``) goes to when the person has not chosen
        one: the first free one of the right kind, else the first of that kind (an edit model before an
        image-to-image one)."""
        if edit:
            kinds = [
                [m for m in self.models() if m.kind is ModelKind.EDIT],
                [m for m in self.models() if m.needs_image],
            ]
        else:
            kinds = [[m for m in self.models() if not m.needs_image]]
        for candidates in kinds:
            free = [m for m in candidates if m.price <= 0]
            if free or candidates:
                return (free or candidates)[0]
        return None

    async def quota(self, user_id: str) -> Quota:
        now = self.now()
        day = utc_day(now)
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
        reset_in = midnight - now
        total = self.client.free_quota
        if total is None:
            return Quota(total=None, left=None, reset_in=reset_in)
        used = await self.client.store.free_uses(user_id, day)
        return Quota(total=total, left=max(0, total - used), reset_in=reset_in)

    async def running(self, user_id: str, *, chat_id: int | None = None) -> list[Job]:
        """The user's jobs still running (in ``chat_id`` only, when given), newest first."""
        jobs = await self.client.jobs(user_id=user_id, limit=max(20, self.config.max_concurrent * 4))
        running = [job for job in jobs if not job.terminal]
        if chat_id is not None:
            running = [job for job in running if job.recipient == f"telegram:{chat_id}"]
        return running
