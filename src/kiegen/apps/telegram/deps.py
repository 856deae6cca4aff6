"""What the handlers need, bundled once by the app and handed to aiogram as workflow data (``deps``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import attrs

from kiegen.adapters.aiogram import AiogramMessenger
from kiegen.apps.telegram.config import BotConfig
from kiegen.apps.telegram.i18n import Catalog
from kiegen.apps.telegram.progress import ProgressWatcher
from kiegen.client import Client
from kiegen.core.billing import utc_day
from kiegen.core.models import InputSpec, ModelSpec
from kiegen.ports.bot import BotStore

__all__ = ["Deps", "enum_inputs", "new_draft_id", "user_key"]


def user_key(telegram_user_id: int) -> str:
    """kiegen's user id for a Telegram user (jobs, ledger, quota, drafts)."""
    return f"tg:{telegram_user_id}"


def new_draft_id() -> str:
    return uuid.uuid4().hex[:16]


def enum_inputs(spec: ModelSpec) -> list[InputSpec]:
    """The inputs offered as buttons: those with a fixed set of values."""
    return [i for i in spec.inputs if i.enum]


@attrs.define(kw_only=True)
class Deps:
    client: Client
    bots: BotStore
    catalog: Catalog
    config: BotConfig
    messenger: AiogramMessenger
    progress: ProgressWatcher
    payload_key: bytes = attrs.field(repr=False)

    def models(self) -> list[ModelSpec]:
        """The models the operator offers in the bot (``KIEGEN_MODELS_ENABLED``)."""
        return list(self.client.registry.enabled_models())

    def model_index(self, model_id: str) -> int:
        return [m.id for m in self.models()].index(model_id)

    def now(self) -> datetime:
        return self.client.clock.now()

    async def free_left(self, user_id: str) -> int | None:
        """Free generations left today, or None when there is no daily quota."""
        quota = self.client.free_quota
        if quota is None:
            return None
        used = await self.client.store.free_uses(user_id, utc_day(self.now()))
        return max(0, quota - used)

    async def running(self, user_id: str) -> int:
        jobs = await self.client.jobs(user_id=user_id, limit=max(20, self.config.max_concurrent * 4))
        return sum(1 for job in jobs if not job.terminal)
