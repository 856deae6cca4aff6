"""Who may use the console, and how a request proves it.

Credentials: the keys of ``KIEGEN_CONSOLE_KEY`` only (several, comma-separated, during a rotation). An API key
of ``KIEGEN_API_KEYS`` never opens the console: those keys are handed to other services to make generations,
and one of them leaking must not show every tenant's jobs or let anyone cancel them.

A request is an operator's when it carries, in this order of preference:
- ``Authorization: Bearer <key>`` (scripts);
- ``Authorization: Basic`` with the key as the password (the user name is ignored);
- the console's session cookie, set by logging in at ``/console/login`` with the key. The cookie is signed (not
  readable as the key: it holds the key's fingerprint), ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when the
  service's public URL is https, scoped to ``/console``, and lasts ``SESSION_S``. Any change to
  ``KIEGEN_CONSOLE_KEY`` ends every session (the cookie's signing secret is derived from the keys).

Actions (POST) need a credential a cross-site page cannot make a browser send: a Bearer header, or the session
cookie together with the session's CSRF token in the form's ``csrf`` field (compared in constant time). HTTP
Basic reads only: browsers replay Basic credentials on every request to the site, as they do cookies. A POST
whose ``Origin`` or ``Sec-Fetch-Site`` says it came from another site is refused whatever it carries.

Keys are compared by SHA-256 digest against every configured key, so neither time nor length tells which
key, or how much of one, matched. The audit log names a key by its fingerprint (``console:<12 hex digits>``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any, Literal

import attrs
from starlette.requests import Request

__all__ = ["SESSION_S", "ConsoleKeys", "Operator", "csrf_ok", "new_csrf", "same_origin", "session_secret"]

SESSION_S = 8 * 3600
"""How long a console login lasts."""

Via = Literal["bearer", "basic", "session"]


@attrs.frozen
class Operator:
    actor: str
    """``console:<fingerprint>`` of the key used."""
    via: Via
    csrf: str | None = None
    """The session's CSRF token (None for a header credential)."""

    @property
    def may_act(self) -> bool:
        """Whether this credential may change anything without a CSRF token (only a Bearer header)."""
        return self.via == "bearer"


def fingerprint(digest: bytes) -> str:
    return "console:" + digest[:6].hex()


class ConsoleKeys:
    def __init__(self, keys: tuple[str, ...]) -> None:
        self._digests = tuple(hashlib.sha256(k.encode()).digest() for k in keys)
        self._actors = frozenset(fingerprint(d) for d in self._digests)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def match(self, presented: str) -> str | None:
        """The actor of ``presented`` when it is one of the keys, else None (constant time over all keys)."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return fingerprint(digest) if matched else None

    def current(self, actor: object) -> bool:
        """Whether a session's actor is still one of the configured keys."""
        return isinstance(actor, str) and actor in self._actors


def header_credential(authorization: str | None) -> tuple[Via, str] | None:
    """The scheme and the key an ``Authorization`` header presents, or None when it presents none."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return "bearer", value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "basic", ""
        return "basic", decoded.partition(":")[2]
    return None


def session_operator(keys: ConsoleKeys, session: Mapping[str, Any], now: float | None = None) -> Operator | None:
    actor, csrf, since = session.get("actor"), session.get("csrf"), session.get("since")
    if not keys.current(actor) or not isinstance(csrf, str) or not isinstance(since, int | float):
        return None
    if (now if now is not None else time.time()) - since > SESSION_S:
        return None
    assert isinstance(actor, str)
    return Operator(actor, "session", csrf)


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: object, presented: str | None) -> bool:
    if not isinstance(expected, str) or not expected or presented is None:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode("utf-8", "surrogateescape"))


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site (``Origin``, ``Sec-Fetch-Site``)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def session_secret(keys: tuple[str, ...]) -> str:
    """The cookie signing secret: derived from the console keys (a rotation ends every session)."""
    mac = hmac.new(b"kiegen console session", b"\0".join(sorted(k.encode() for k in keys)), hashlib.sha256)
    return mac.hexdigest()
