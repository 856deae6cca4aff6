"""Settings from the environment (the names of DESIGN.md are a public interface: keep them).

``Settings.from_env()`` reads and checks every variable once; a malformed value raises ``ConfigurationError``
naming the variable, the value and the expected form. Secrets are excluded from ``repr``.

Operator knobs for timing (seconds; unset keeps the documented default of ``kiegen.services.Config`` and
``kiegen.core.polling.PollPolicy``): ``KIEGEN_DELIVERY_LEASE_S`` (how long a claimed delivery is a worker's
before another may take it over), ``KIEGEN_CHECK_LEASE_S`` (the same for a claimed remote check),
``KIEGEN_WORKER_INTERVAL_S`` (how often idle workers look at the database), ``KIEGEN_CALLBACK_GRACE_S`` and
``KIEGEN_POLL_GRACE_S`` (first recordInfo check after submission, with and without callbacks),
``KIEGEN_SUBMIT_GRACE_S`` (when a job still PENDING is submitted again). ``KIEGEN_KIE_RATE_LIMIT=<tasks>/<seconds>``
paces createTask per process (default ``20/10``, KIE's documented limit; raise it only if KIE raised yours).

Models and prices: ``KIEGEN_MODELS_FILE`` (extra models, TOML or JSON), ``KIEGEN_PRICES`` (``MODEL=CREDITS,...``)
and ``KIEGEN_PRICES_FILE`` (a ``[prices]`` table; ``KIEGEN_PRICES`` wins over it), ``KIEGEN_PRICE_MARKUP`` (the
default price of a paid model is ``ceil(KIE cost x markup)`` credits, default 1.5; see ``kiegen.core.pricing``),
``KIEGEN_MODELS_ENABLED`` (comma-separated model ids the bot offers, ``*`` for all; default
``kiegen.catalogue.DEFAULT_ENABLED``).

"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path

import attrs

from kiegen.core.errors import ConfigurationError

__all__ = [
    "Settings",
    "load_or_create_secret",
    "normalize_database_url",
]

DEFAULT_KIE_BASE_URL = "https://api.kie.ai"
DEFAULT_KIE_UPLOAD_URL = "https://kieai.redpandaai.co"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///kiegen.db"


def normalize_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver kiegen ships with."""
    url = url.strip()
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise ConfigurationError(
        f"KIEGEN_DATABASE_URL={redact_url(url)!r} is not supported: use sqlite:///path/to/kiegen.db "
        "or postgresql://user:password@host:5432/dbname"
    )


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"{name}={raw!r} is not a boolean: use 1 or 0")


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None


def _seconds(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 86400:  # also rejects nan
        raise ConfigurationError(f"{name}={raw!r} is not a number of seconds between 0 and 86400 (e.g. 2.5)")
    return value


def _rate(env: Mapping[str, str]) -> tuple[int, float] | None:
    raw = env.get("KIEGEN_KIE_RATE_LIMIT", "").strip()
    if not raw:
        return None
    tasks, _, seconds = raw.partition("/")
    try:
        limit, period = int(tasks), float(seconds)
        if limit < 1 or not 0 < period < 86400:
            raise ValueError
    except ValueError:
        raise ConfigurationError(
            f"KIEGEN_KIE_RATE_LIMIT={raw!r} is not TASKS/SECONDS with both positive (e.g. 20/10)"
        ) from None
    return limit, period


CONSOLE_KEY_MIN_LENGTH = 16


def _console_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in env.get("KIEGEN_CONSOLE_KEY", "").split(",") if k.strip())
    for key in keys:
        if len(key) < CONSOLE_KEY_MIN_LENGTH:
            raise ConfigurationError(
                f"KIEGEN_CONSOLE_KEY holds a key of {len(key)} characters: use at least {CONSOLE_KEY_MIN_LENGTH}, "
                "e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
    return keys


def _url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name}={raw!r} must be an http:// or https:// URL")
    return raw.rstrip("/")


_HOST = re.compile(r"^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def _hosts(env: Mapping[str, str]) -> frozenset[str] | None:
    raw = env.get("KIEGEN_RESULT_HOSTS", "").strip()
    if not raw:
        return None
    hosts = [item.strip().lower().rstrip(".") for item in raw.split(",") if item.strip()]
    for host in hosts:
        if not _HOST.match(host):
            raise ConfigurationError(
                f"KIEGEN_RESULT_HOSTS item {host!r} is not a host name: use names such as file.aiquickdraw.com, "
                "or .aiquickdraw.com for a domain and its subdomains (no scheme, port or path)"
            )
    return frozenset(hosts)


def _user_agent(env: Mapping[str, str]) -> str | None:
    raw = env.get("KIEGEN_USER_AGENT", "").strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F or ord(c) > 0x7E for c in raw):
        raise ConfigurationError(
            f"KIEGEN_USER_AGENT={raw!r} must be printable ASCII on one line, e.g. 'acme-bot/1.2 (ops@acme.example)'"
        )
    return raw or None


def _prices(raw: str) -> dict[str, int]:
    prices: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        model, sep, value = item.rpartition("=")
        try:
            if not sep or not model:
                raise ValueError
            prices[model.strip()] = int(value)
            if prices[model.strip()] < 0:
                raise ValueError
        except ValueError:
            raise ConfigurationError(
                f"KIEGEN_PRICES item {item!r} is not MODEL=CREDITS with credits 0 or more (e.g. qwen/image-edit=5)"
            ) from None
    return prices


def _markup(env: Mapping[str, str]) -> Decimal | None:
    raw = env.get("KIEGEN_PRICE_MARKUP", "").strip()
    if not raw:
        return None
    try:
        markup = Decimal(raw)
        if not markup.is_finite() or not 0 <= markup <= 1000:
            raise InvalidOperation
    except InvalidOperation:
        raise ConfigurationError(
            f"KIEGEN_PRICE_MARKUP={raw!r} is not a number from 0 to 1000 (e.g. 1.5: the end-user price is KIE's cost "
            "times 1.5, rounded up)"
        ) from None
    return markup


def _model_ids(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    raw = env.get(name, "")
    ids = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    return ids or None


@attrs.frozen(kw_only=True)
class Settings:
    kie_api_key: str | None = attrs.field(default=None, repr=False)
    kie_base_url: str = DEFAULT_KIE_BASE_URL
    kie_upload_url: str = DEFAULT_KIE_UPLOAD_URL
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str | None = None
    callback_secret: str | None = attrs.field(default=None, repr=False)
    kie_hmac_key: str | None = attrs.field(default=None, repr=False)
    api_keys: tuple[str, ...] = attrs.field(default=(), repr=False)
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    telegram_bot_token: str | None = attrs.field(default=None, repr=False)
    telegram_api_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    allow_private_urls: bool = False
    models_file: Path | None = None
    prices: Mapping[str, int] = attrs.field(factory=dict)
    prices_file: Path | None = None
    price_markup: Decimal | None = None
    """None: ``kiegen.core.pricing.DEFAULT_MARKUP``."""
    models_enabled: tuple[str, ...] | None = None
    """Model ids the bot offers (``("*",)``: all); None: ``kiegen.catalogue.DEFAULT_ENABLED``."""
    free_quota: int | None = None
    delivery_lease_s: float | None = None
    check_lease_s: float | None = None
    worker_interval_s: float | None = None
    callback_grace_s: float | None = None
    poll_grace_s: float | None = None
    submit_grace_s: float | None = None
    kie_rate_limit: tuple[int, float] | None = None
    """createTask calls allowed per period (tasks, seconds); None: KIE's documented 20 per 10 s."""
    result_hosts: frozenset[str] | None = None
    """``KIEGEN_RESULT_HOSTS``: hosts callback result URLs may name (a leading dot allows subdomains); None:
    KIE's file hosts (``kiegen.core.callbacks.DEFAULT_RESULT_HOSTS``). The KIE in use is always allowed."""
    user_agent: str | None = None
    """``KIEGEN_USER_AGENT``: the User-Agent of every outgoing request; None: ``kiegen/<version>``."""
    console_keys: tuple[str, ...] = attrs.field(default=(), repr=False)
    """``KIEGEN_CONSOLE_KEY`` (comma-separated for a rotation): the operator console's credentials; none: no console."""

    @property
    def simulated(self) -> bool:
        """No KIE key: use the built-in KIE simulator."""
        return not self.kie_api_key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        port = _int(env, "KIEGEN_PORT", 8080)
        assert port is not None
        if not 0 < port < 65536:
            raise ConfigurationError(f"KIEGEN_PORT={port} is out of range: use 1-65535")
        models_file = env.get("KIEGEN_MODELS_FILE", "").strip()
        prices_file = env.get("KIEGEN_PRICES_FILE", "").strip()
        return cls(
            kie_api_key=env.get("KIE_API_KEY", "").strip() or None,
            kie_base_url=_url(env, "KIEGEN_KIE_BASE_URL", DEFAULT_KIE_BASE_URL) or DEFAULT_KIE_BASE_URL,
            kie_upload_url=_url(env, "KIEGEN_KIE_UPLOAD_URL", DEFAULT_KIE_UPLOAD_URL) or DEFAULT_KIE_UPLOAD_URL,
            database_url=normalize_database_url(env.get("KIEGEN_DATABASE_URL", "") or DEFAULT_DATABASE_URL),
            public_url=_url(env, "KIEGEN_PUBLIC_URL", None),
            callback_secret=env.get("KIEGEN_CALLBACK_SECRET", "").strip() or None,
            kie_hmac_key=env.get("KIE_WEBHOOK_HMAC_KEY", "").strip() or None,
            api_keys=tuple(k.strip() for k in env.get("KIEGEN_API_KEYS", "").split(",") if k.strip()),
            webhook_secret=env.get("KIEGEN_WEBHOOK_SECRET", "").strip() or None,
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN", "").strip() or None,
            telegram_api_url=_url(env, "KIEGEN_TELEGRAM_API_URL", None),
            host=env.get("KIEGEN_HOST", "").strip() or "127.0.0.1",
            port=port,
            allow_private_urls=_bool(env, "KIEGEN_ALLOW_PRIVATE_URLS"),
            models_file=Path(models_file) if models_file else None,
            prices=_prices(env.get("KIEGEN_PRICES", "")),
            prices_file=Path(prices_file) if prices_file else None,
            price_markup=_markup(env),
            models_enabled=_model_ids(env, "KIEGEN_MODELS_ENABLED"),
            free_quota=_int(env, "KIEGEN_FREE_QUOTA", None),
            delivery_lease_s=_seconds(env, "KIEGEN_DELIVERY_LEASE_S"),
            check_lease_s=_seconds(env, "KIEGEN_CHECK_LEASE_S"),
            worker_interval_s=_seconds(env, "KIEGEN_WORKER_INTERVAL_S"),
            callback_grace_s=_seconds(env, "KIEGEN_CALLBACK_GRACE_S"),
            poll_grace_s=_seconds(env, "KIEGEN_POLL_GRACE_S"),
            submit_grace_s=_seconds(env, "KIEGEN_SUBMIT_GRACE_S"),
            kie_rate_limit=_rate(env),
            result_hosts=_hosts(env),
            user_agent=_user_agent(env),
            console_keys=_console_keys(env),
        )


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) readable by this user only; an existing one is narrowed to 0700."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR_MODE)


def _read_secret(path: Path) -> bytes:
    secret = path.read_bytes().strip()
    if not secret:
        raise ConfigurationError(
            f"{path} is empty: delete it and start again to have a new secret made, or write a secret into it"
        )
    return secret


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret kept at ``path``, creating it on first use: ``path`` 0600 in a directory 0700, written
    whole under a temporary name and linked into place, so that a concurrent reader sees either no file or the
    whole secret (two processes racing both end with the winner's). An empty file is refused with
    ``ConfigurationError`` rather than read as "no secret". Several instances on several hosts must share one
    secret: set it in the environment (``KIEGEN_CALLBACK_SECRET``, ``KIEGEN_API_KEYS``) instead."""
    _private_dir(path.parent)
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(32).encode("ascii")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # atomic, and never replaces a secret another process already put there
        except FileExistsError:  # another process won the race: use its secret
            return _read_secret(path)
    finally:
        temporary.unlink(missing_ok=True)
    return secret
