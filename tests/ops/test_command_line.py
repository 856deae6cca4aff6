"""The command line's own surface: --version, every verb's --help, the hints of a usage error, and the apps'
verbs without their extras (the wheel test runs them without the extras installed for real)."""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import kiegen
from kiegen.cli import apps, main
from kiegen.cli.main import _parser
from tests.ops.procs import clean_env


def kiegen_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiegen", *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=60
    )


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_version_prints_the_installed_distributions_version(tmp_path: Path) -> None:
    done = kiegen_cli("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"kiegen {importlib.metadata.version('kiegen')}"
    assert kiegen.__version__ == importlib.metadata.version("kiegen")


def test_every_verb_and_every_argument_says_what_it_is_for() -> None:
    undocumented = []
    verbs = 0
    for parser in _parsers(_parser()):
        verbs += 1
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest for choice in action._choices_actions if choice.help}
                undocumented += [f"{parser.prog} {name}" for name in action.choices if name not in helps]
            elif not action.help:
                undocumented.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}")
    assert verbs >= 12  # kiegen, its verbs, and jobs list/show
    assert undocumented == []


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        ((), "`kiegen --help`"),
        (("jobs", "show"), "`kiegen jobs show --help`"),
        (("generate",), "`kiegen generate --help`"),
        (("serve", "--port", "http"), "`kiegen serve --help`"),
    ],
)
def test_a_usage_error_exits_2_and_its_hint_names_the_real_command(
    tmp_path: Path, args: tuple[str, ...], hint: str
) -> None:
    done = kiegen_cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert f"(see {hint})" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_and_bot_help_describe_their_arguments(tmp_path: Path) -> None:
    serve = kiegen_cli("serve", "--help", cwd=tmp_path)
    assert serve.returncode == 0
    assert "--port PORT" in serve.stdout and "KIEGEN_PORT" in serve.stdout and "KIEGEN_DATABASE_URL" in serve.stdout
    bot = kiegen_cli("bot", "--help", cwd=tmp_path)
    assert bot.returncode == 0
    assert "TELEGRAM_BOT_TOKEN" in bot.stdout and "KIEGEN_TELEGRAM_WEBHOOK" in bot.stdout


@pytest.mark.parametrize(("verb", "extra"), [("serve", "http"), ("bot", "telegram")])
def test_an_app_verb_without_its_extra_names_it_in_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], verb: str, extra: str
) -> None:
    monkeypatch.setitem(apps.EXTRAS, extra, ("kiegen_tests_no_such_module",))
    assert main([verb]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert f"pip install 'kiegen[{extra}]'" in captured.err
    assert "kiegen_tests_no_such_module is not installed" in captured.err
