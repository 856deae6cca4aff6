"""What the routes share: the client, the settings-derived options, the metrics and the API keys."""

from __future__ import annotations

import hashlib
import hmac

import attrs

from kiegen.apps.http.metrics import Metrics
from kiegen.client import Client

__all__ = ["ApiKeys", "AppState"]


class ApiKeys:
    """Bearer keys, compared in constant time: every configured key is compared, by SHA-256 digest, so neither
    the answer's timing nor its length tells which key, or how much of one, matched."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._digests = tuple(hashlib.sha256(k.encode()).digest() for k in keys)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def caller(self, authorization: str | None) -> str | None:
        """A stable, non-secret id of the key presented in ``authorization`` (``Bearer <key>``), or None."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return "apikey:" + digest[:6].hex() if matched else None


@attrs.define(kw_only=True)
class AppState:
    client: Client
    metrics: Metrics
    api_keys: ApiKeys
    webhooks: bool
    """Whether a webhook messenger is configured (KIEGEN_WEBHOOK_SECRET set)."""
    allow_private_urls: bool = False
    callback_body_limit: int = 1024 * 1024
    api_body_limit: int = 1024 * 1024
    max_wait_s: float = 60.0
