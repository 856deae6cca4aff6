"""Whose a job is, when it came through the HTTP API: the API key's tenant is written into the stored user id.

A tenant (``owner``) is either the name an operator gave a key (``KIEGEN_API_KEYS=acme:<key>``: the same name
on an old and a new key keeps one tenant across a rotation) or, for a key without a name, its fingerprint: the
first 12 hex digits of the SHA-256 of the key (never the key itself). A request's ``user_id`` is stored scoped to
its tenant, and so are the credits, the free quota and the ``Idempotency-Key`` scope that hang on the user id:

- ``apikey:<owner>`` for the tenant's own generations (no ``user_id`` in the request);
- ``apikey:<owner>:<user_id>`` for one of the tenant's users.

An owner never contains ``:``, so the two forms cannot be confused and no tenant can name another's users. Other
user ids (``tg:<id>`` of the Telegram bot, the ids an SDK embedder chooses, None for the CLI) belong to no tenant.
"""

from __future__ import annotations

__all__ = ["API_PREFIX", "owner_of", "scoped_user_id", "shown_user_id"]

API_PREFIX = "apikey:"


def scoped_user_id(owner: str, user_id: str | None) -> str:
    """The stored user id of ``user_id`` (None: the tenant itself) of tenant ``owner``."""
    if ":" in owner or not owner:
        raise ValueError(f"not a tenant name: {owner!r}")
    return f"{API_PREFIX}{owner}" if user_id is None else f"{API_PREFIX}{owner}:{user_id}"


def owner_of(stored: str | None) -> str | None:
    """The tenant a stored user id belongs to, or None for ids of no tenant."""
    if stored is None or not stored.startswith(API_PREFIX):
        return None
    return stored[len(API_PREFIX) :].split(":", 1)[0] or None


def shown_user_id(stored: str | None) -> str | None:
    """The user id as its tenant named it (None for the tenant's own generations); other ids unchanged."""
    if stored is None or not stored.startswith(API_PREFIX):
        return stored
    _, sep, user = stored[len(API_PREFIX) :].partition(":")
    return user if sep else None
