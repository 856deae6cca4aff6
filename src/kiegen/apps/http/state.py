"""What the routes share: the client, the settings-derived options, the metrics and the API keys."""

from __future__ import annotations

import hashlib
import hmac
import re

import attrs

from kiegen.adapters.kie_httpx import install_log_redaction
from kiegen.apps.http.metrics import Metrics
from kiegen.apps.http.throttle import CallbackThrottle
from kiegen.client import Client
from kiegen.core.errors import ConfigurationError
from kiegen.core.tenancy import API_PREFIX, owner_of, scoped_user_id

__all__ = ["LEGACY_OWNER", "ApiKeys", "AppState", "Caller", "fingerprint"]

LEGACY_OWNER = "legacy"
"""The tenant name that takes over the user ids of kiegen before tenancy (see ``Caller``)."""
RESERVED_USER_PREFIXES = ("tg:", API_PREFIX)
_OWNER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{12}$")


def fingerprint(key: str) -> str:
    """A key's stable, non-secret id: the first 12 hex digits of its SHA-256 (what rows of kiegen 0.1 hold as
    ``apikey:<fingerprint>``). Keys must be random, long strings: this identifies a key, it does not hide a
    guessable one."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@attrs.frozen
class Caller:
    """The tenant behind a request's key.

    ``owner`` is the key's tenant name, or its fingerprint when it has none. A caller owns the jobs stored under
    its owner and under its own fingerprint (a key named after it was first used keeps what it made before).

    The tenant named ``legacy`` is the upgrade path from kiegen 0.1, whose ``/v1`` stored ``user_id`` as sent,
    shared by every key (and indistinguishable from the user ids of SDK code): its users are stored unscoped as
    before, and it owns every unscoped user id but the Telegram bot's. Name one key ``legacy`` (and only when one
    tenant used the API before) to keep those jobs, credits and quotas reachable; no other key can reach them.
    """

    owner: str
    fingerprint: str

    @property
    def legacy(self) -> bool:
        return self.owner == LEGACY_OWNER

    def user_id(self, requested: str | None) -> str:
        """The stored user id for the request's ``user_id`` (None: the key's own generations)."""
        if self.legacy:
            return requested if requested is not None else scoped_user_id(self.fingerprint, None)
        return scoped_user_id(self.owner, requested)

    def owns(self, stored: str | None) -> bool:
        owner = owner_of(stored)
        if owner is not None:
            return owner in (self.owner, self.fingerprint)
        return self.legacy and stored is not None and not stored.startswith(RESERVED_USER_PREFIXES)


def _parse(entry: str) -> tuple[str | None, str]:
    """``[TENANT:]KEY`` -> (tenant or None, key)."""
    name, sep, key = entry.partition(":")
    if not sep:
        return None, entry
    if not _OWNER.match(name) or not key:
        raise ConfigurationError(
            f"KIEGEN_API_KEYS has an entry {name[:20]!r}:...: write TENANT:KEY with a tenant name of letters, digits, "
            "'_', '.' or '-' (keys themselves cannot contain ':')"
        )
    if _FINGERPRINT.match(name):
        raise ConfigurationError(
            f"KIEGEN_API_KEYS tenant name {name!r} looks like a key fingerprint (12 hex digits): choose another name"
        )
    return name, key


class ApiKeys:
    """Bearer keys, compared in constant time: every configured key is compared, by SHA-256 digest, so neither
    the answer's timing nor its length tells which key, or how much of one, matched.

    Entries are ``KEY`` or ``TENANT:KEY`` (``KIEGEN_API_KEYS=acme:k1,acme:k2,beta:k3``); see ``Caller``."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        keys: list[tuple[bytes, Caller]] = []
        seen: dict[str, str] = {}
        for entry in entries:
            name, key = _parse(entry)
            fp = fingerprint(key)
            owner = name or fp
            if seen.setdefault(fp, owner) != owner:
                raise ConfigurationError(f"KIEGEN_API_KEYS lists one key (fingerprint {fp}) under two tenants")
            keys.append((hashlib.sha256(key.encode()).digest(), Caller(owner=owner, fingerprint=fp)))
        install_log_redaction(*(key for _, key in map(_parse, entries)))
        self._keys = tuple(keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def caller(self, authorization: str | None) -> Caller | None:
        """The tenant of the key presented in ``authorization`` (``Bearer <key>``), or None."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        found: Caller | None = None
        for known, caller in self._keys:
            if hmac.compare_digest(digest, known):
                found = caller
        return found


@attrs.define(kw_only=True)
class AppState:
    client: Client
    metrics: Metrics
    api_keys: ApiKeys
    webhooks: bool
    """Whether a webhook messenger is configured (KIEGEN_WEBHOOK_SECRET set)."""
    throttle: CallbackThrottle = attrs.field(factory=CallbackThrottle)
    allow_private_urls: bool = False
    kie_hmac_key: bytes | None = attrs.field(default=None, repr=False)
    """KIE's signing key: a validly signed bare callback is not damped as a hint (``kiegen.apps.http.throttle``)."""
    callback_body_limit: int = 1024 * 1024
    api_body_limit: int = 1024 * 1024
    max_wait_s: float = 60.0
