"""The bot's own operator settings, read from the environment next to ``kiegen.settings.Settings``.

- ``KIEGEN_TELEGRAM_PACKS``: Stars packs as ``CREDITS=STARS`` pairs, comma-separated (default ``100=50,500=200``).
- ``KIEGEN_TELEGRAM_MAX_CONCURRENT``: generations one user may have running at once (default 2).
- ``KIEGEN_TELEGRAM_WEBHOOK=1``: webhook mode instead of long polling; then ``KIEGEN_TELEGRAM_WEBHOOK_SECRET``
  (the ``X-Telegram-Bot-Api-Secret-Token``: 16-256 of ``A-Za-z0-9_-``; Telegram allows shorter ones, but a
  short secret can be guessed) is required and ``KIEGEN_PUBLIC_URL`` is where Telegram posts
  (``<public url>/telegram/webhook``).
- ``KIEGEN_TELEGRAM_ADMINS``: comma-separated Telegram user ids of the bot's operators (numbers, not @names); they
  have /stats, /user, /grant, /take and /refund in their private chat with the bot (``routers.admin``).
The daily free quota is kiegen's ``KIEGEN_FREE_QUOTA``; prices are kiegen's ``KIEGEN_PRICES``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from kiegen.core.errors import ConfigurationError

__all__ = ["BotConfig", "Pack", "parse_admins", "parse_packs"]

_SECRET = re.compile(r"^[A-Za-z0-9_-]+$")
MIN_SECRET = 16
MAX_SECRET = 256
_MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
WEBHOOK_PATH = "/telegram/webhook"


@attrs.frozen
class Pack:
    credits: int
    stars: int


def parse_packs(raw: str) -> tuple[Pack, ...]:
    packs: list[Pack] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        credits, sep, stars = item.partition("=")
        try:
            if not sep:
                raise ValueError
            pack = Pack(int(credits), int(stars))
            if pack.credits <= 0 or pack.stars <= 0:
                raise ValueError
        except ValueError:
            raise ConfigurationError(
                f"KIEGEN_TELEGRAM_PACKS item {item!r} is not CREDITS=STARS with positive numbers (e.g. 100=50)"
            ) from None
        packs.append(pack)
    return tuple(packs)


def parse_admins(raw: str) -> frozenset[int]:
    admins: set[int] = set()
    for item in filter(None, (part.strip() for part in raw.split(","))):
        if not item.isascii() or not item.isdigit() or int(item) <= 0:
            raise ConfigurationError(
                f"KIEGEN_TELEGRAM_ADMINS item {item!r} is not a Telegram user id: use the numeric ids, "
                "comma-separated (e.g. 123456789,987654321), not @usernames"
            )
        admins.add(int(item))
    return frozenset(admins)


def _check_secret(secret: str) -> None:
    """The secret's value never goes into the message (it is a credential); its length does."""
    if not _SECRET.match(secret):
        raise ConfigurationError(
            f"KIEGEN_TELEGRAM_WEBHOOK_SECRET may hold only A-Z a-z 0-9 _ - (make one with {_MAKE_SECRET})"
        )
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise ConfigurationError(
            f"KIEGEN_TELEGRAM_WEBHOOK_SECRET has {len(secret)} characters; it needs {MIN_SECRET}-{MAX_SECRET}"
            f" (make one with {_MAKE_SECRET})"
        )


@attrs.frozen(kw_only=True)
class BotConfig:
    packs: tuple[Pack, ...] = (Pack(100, 50), Pack(500, 200))
    max_concurrent: int = 2
    webhook: bool = False
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    history_page: int = 5
    progress_tick_s: float = 5.0
    split_window_s: float = 1.0
    """How long a text long enough to be the first part of a split message waits for the rest."""
    admins: frozenset[int] = frozenset()
    """Telegram user ids of the operators (``KIEGEN_TELEGRAM_ADMINS``)."""
    album_window_s: float = 1.0
    """How long after an album's latest photo its card waits for more of the album's photos."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BotConfig:
        raw_max = env.get("KIEGEN_TELEGRAM_MAX_CONCURRENT", "").strip() or "2"
        if not raw_max.isdigit() or int(raw_max) < 1:
            raise ConfigurationError(f"KIEGEN_TELEGRAM_MAX_CONCURRENT={raw_max!r} must be a whole number >= 1")
        webhook = env.get("KIEGEN_TELEGRAM_WEBHOOK", "").strip().lower() in ("1", "true", "yes", "on")
        secret = env.get("KIEGEN_TELEGRAM_WEBHOOK_SECRET", "").strip() or None
        if webhook and secret is None:
            raise ConfigurationError(
                f"KIEGEN_TELEGRAM_WEBHOOK=1 needs KIEGEN_TELEGRAM_WEBHOOK_SECRET ({MIN_SECRET}-{MAX_SECRET} characters"
                f" A-Z a-z 0-9 _ -; make one with {_MAKE_SECRET})"
            )
        if secret is not None:
            _check_secret(secret)
        packs = parse_packs(env.get("KIEGEN_TELEGRAM_PACKS", "")) or cls().packs
        admins = parse_admins(env.get("KIEGEN_TELEGRAM_ADMINS", ""))
        return cls(packs=packs, max_concurrent=int(raw_max), webhook=webhook, webhook_secret=secret, admins=admins)
