"""No user-facing literal in a handler; the bot token never in a log line; the command line refuses bad
configuration in one line (the catalogues: ``test_catalogues``; the webhook: ``test_hardening``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from kiegen.adapters.aiogram import token_redaction
from kiegen.apps.telegram.__main__ import main
from kiegen.apps.telegram.config import BotConfig
from kiegen.core.errors import ConfigurationError
from tests.telegram.harness import TOKEN

APP_DIR = Path(__file__).parents[2] / "src" / "kiegen" / "apps" / "telegram"


def test_handlers_hold_no_user_facing_literals() -> None:
    routers = sorted((APP_DIR / "routers").glob("*.py"))
    assert len(routers) > 3
    literal = r"""\.(?:answer|edit_text|send_message|reply)\(\s*(?:text=)?f?["']"""
    for path in routers:
        for call in re.findall(literal, path.read_text()):
            pytest.fail(f"{path.name}: a literal text in {call}")


def test_the_token_is_redacted_from_log_lines_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    with token_redaction(TOKEN):
        logging.getLogger("aiogram.event").warning("request to %s failed", url)
        try:
            raise OSError(f"Cannot connect to {url}")
        except OSError:
            logging.getLogger("aiohttp.client").exception("boom")
    assert TOKEN not in caplog.text
    assert "<bot-token>" in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage() and TOKEN not in (record.exc_text or "")


def test_missing_token_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main({}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TELEGRAM_BOT_TOKEN" in err and "Traceback" not in err


def test_malformed_token_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main({"TELEGRAM_BOT_TOKEN": "not a token", "KIEGEN_DATABASE_URL": "sqlite:///:memory:"}) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "malformed" in err and "not a token" not in err


def test_webhook_mode_refuses_to_start_without_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "KIEGEN_TELEGRAM_WEBHOOK": "1", "KIEGEN_PUBLIC_URL": "https://bot.example"}
    assert main(env) == 2
    assert "KIEGEN_TELEGRAM_WEBHOOK_SECRET" in capsys.readouterr().err
    with pytest.raises(ConfigurationError):
        BotConfig.from_env({"KIEGEN_TELEGRAM_WEBHOOK": "1"})
    with pytest.raises(ConfigurationError):
        BotConfig.from_env({"KIEGEN_TELEGRAM_WEBHOOK": "1", "KIEGEN_TELEGRAM_WEBHOOK_SECRET": "bad secret!"})
