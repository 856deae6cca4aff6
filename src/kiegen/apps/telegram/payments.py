"""Invoice payloads: ``<order id>.<pack>.<telegram user id>.<hmac>``, signed so that a pre-checkout query can
be answered from the payload alone (cheap checks, no database), well within Telegram's 10 seconds."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import attrs

__all__ = ["Order", "payload_key", "read_payload", "sign_payload"]


@attrs.frozen
class Order:
    order_id: str
    pack: int
    telegram_user_id: int


def payload_key(bot_token: str) -> bytes:
    """A signing key derived from the token: stable across restarts, secret, never the token itself."""
    return hmac.new(bot_token.encode(), b"kiegen invoice payload v1", hashlib.sha256).digest()


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:24]


def sign_payload(key: bytes, pack: int, telegram_user_id: int) -> str:
    body = f"{secrets.token_hex(6)}.{pack}.{telegram_user_id}"
    return f"{body}.{_mac(key, body)}"


def read_payload(key: bytes, payload: str) -> Order | None:
    """The order in a payload we signed, or None (wrong signature, wrong shape)."""
    body, _, mac = payload.rpartition(".")
    if not body or not hmac.compare_digest(mac, _mac(key, body)):
        return None
    order_id, pack, user = ([*body.split("."), "", "", ""])[:3]
    if not pack.isdigit() or not user.lstrip("-").isdigit():
        return None
    return Order(order_id, int(pack), int(user))
