"""Settings come from the environment names of DESIGN.md; mistakes name the variable and keep secrets out."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kiegen.core.errors import ConfigurationError
from kiegen.settings import Settings, load_or_create_secret, normalize_database_url, redact_url


def test_defaults_are_the_embedded_ones() -> None:
    settings = Settings.from_env({})
    assert settings.simulated
    assert settings.database_url == "sqlite+aiosqlite:///kiegen.db"
    assert settings.kie_base_url == "https://api.kie.ai"
    assert settings.kie_upload_url == "https://kieai.redpandaai.co"
    assert settings.public_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)


def test_every_documented_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "KIE_API_KEY": " key ",
            "KIEGEN_KIE_BASE_URL": "http://127.0.0.1:9000/",
            "KIEGEN_KIE_UPLOAD_URL": "http://127.0.0.1:9001",
            "KIEGEN_DATABASE_URL": "postgresql://u:pw@db:5432/kiegen",
            "KIEGEN_PUBLIC_URL": "https://bot.example.com",
            "KIEGEN_CALLBACK_SECRET": "cb",
            "KIE_WEBHOOK_HMAC_KEY": "hmac",
            "KIEGEN_API_KEYS": "a, b,,",
            "KIEGEN_WEBHOOK_SECRET": "whsec",
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "KIEGEN_TELEGRAM_API_URL": "http://127.0.0.1:8081",
            "KIEGEN_HOST": "0.0.0.0",
            "KIEGEN_PORT": "9999",
            "KIEGEN_ALLOW_PRIVATE_URLS": "1",
            "KIEGEN_PRICES": "qwen/image-edit=5",
            "KIEGEN_FREE_QUOTA": "10",
        }
    )
    assert settings.kie_api_key == "key" and not settings.simulated
    assert settings.kie_base_url == "http://127.0.0.1:9000"
    assert settings.database_url == "postgresql+asyncpg://u:pw@db:5432/kiegen"
    assert settings.api_keys == ("a", "b")
    assert settings.port == 9999 and settings.allow_private_urls
    assert settings.prices == {"qwen/image-edit": 5} and settings.free_quota == 10


def test_the_pricing_and_model_choice_variables_are_read() -> None:
    settings = Settings.from_env(
        {
            "KIEGEN_PRICE_MARKUP": " 2.25 ",
            "KIEGEN_PRICES_FILE": "ops/prices.toml",
            "KIEGEN_MODELS_ENABLED": "z-image, google/nano-banana,,z-image",
        }
    )

    assert settings.price_markup == Decimal("2.25")
    assert settings.prices_file == Path("ops/prices.toml")
    assert settings.models_enabled == ("z-image", "google/nano-banana")
    unset = Settings.from_env({})
    assert (unset.price_markup, unset.prices_file, unset.models_enabled) == (None, None, None)


def test_secrets_stay_out_of_repr() -> None:
    text = repr(
        Settings.from_env(
            {
                "KIE_API_KEY": "sekrit-1",
                "TELEGRAM_BOT_TOKEN": "sekrit-2",
                "KIEGEN_WEBHOOK_SECRET": "sekrit-3",
                "KIEGEN_API_KEYS": "sekrit-4",
            }
        )
    )
    assert "sekrit" not in text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KIEGEN_PORT": "http"}, "KIEGEN_PORT"),
        ({"KIEGEN_PORT": "70000"}, "KIEGEN_PORT"),
        ({"KIEGEN_PUBLIC_URL": "bot.example.com"}, "KIEGEN_PUBLIC_URL"),
        ({"KIEGEN_ALLOW_PRIVATE_URLS": "perhaps"}, "KIEGEN_ALLOW_PRIVATE_URLS"),
        ({"KIEGEN_PRICES": "z-image:3"}, "KIEGEN_PRICES"),
        ({"KIEGEN_PRICES": "z-image=-3"}, "KIEGEN_PRICES"),
        ({"KIEGEN_PRICE_MARKUP": "lots"}, "KIEGEN_PRICE_MARKUP"),
        ({"KIEGEN_PRICE_MARKUP": "-1"}, "KIEGEN_PRICE_MARKUP"),
        ({"KIEGEN_PRICE_MARKUP": "nan"}, "KIEGEN_PRICE_MARKUP"),
        ({"KIEGEN_DATABASE_URL": "mysql://root:hunter2@db/x"}, "KIEGEN_DATABASE_URL"),
    ],
)
def test_a_malformed_value_names_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named) as caught:
        Settings.from_env(env)
    assert "hunter2" not in str(caught.value)


def test_database_urls_get_the_async_drivers() -> None:
    assert normalize_database_url("sqlite:///data/k.db") == "sqlite+aiosqlite:///data/k.db"
    assert normalize_database_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert redact_url("postgresql+asyncpg://u:pw@h/d") == "postgresql+asyncpg://u:***@h/d"


def test_the_generated_callback_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / ".kiegen" / "callback_secret"
    first = load_or_create_secret(path)
    assert len(first) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == first


def test_result_hosts_and_user_agent_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {"KIEGEN_RESULT_HOSTS": " .AIQuickDraw.com., cdn.example.com ", "KIEGEN_USER_AGENT": "acme/1"}
    )
    assert settings.result_hosts == frozenset({".aiquickdraw.com", "cdn.example.com"})
    assert settings.user_agent == "acme/1"
    assert Settings.from_env({}).result_hosts is None and Settings.from_env({}).user_agent is None
    for bad in ("https://cdn.example.com", "cdn.example.com:443", "cdn example.com", "cdn.example.com/x"):
        with pytest.raises(ConfigurationError, match="KIEGEN_RESULT_HOSTS"):
            Settings.from_env({"KIEGEN_RESULT_HOSTS": bad})
    with pytest.raises(ConfigurationError, match="KIEGEN_USER_AGENT"):
        Settings.from_env({"KIEGEN_USER_AGENT": "acme\r\nX-Evil: 1"})
