"""The README's Quickstart is two commands that make their own virtual environment (a system Python that is
externally managed, PEP 668, is never installed into), and CI runs the second one word for word."""

from __future__ import annotations

import re

from tests.ops.procs import ROOT
from tests.ops.readme import quickstart_commands


def test_the_quickstart_is_two_one_line_commands_in_their_own_venv() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    for command in commands:
        assert "\n" not in command
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install ")
        assert "sudo" not in command and "--break-system-packages" not in command and "--user" not in command
    generate, test = commands
    assert generate.endswith('.venv/bin/kiegen generate z-image --prompt "a red fox in the snow" --out out/')
    assert test.endswith("&& .venv/bin/nox")


def test_ci_runs_the_readmes_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert quickstart_commands()[1] in script  # a line of its own, as written


def test_every_setting_the_package_reads_is_documented_in_the_readme() -> None:
    """A variable added to the code and not to the README's configuration is one nobody can find."""
    read: set[str] = set()
    for path in (ROOT / "src" / "kiegen").rglob("*.py"):
        read |= set(re.findall(r"[\"'](KIEGEN_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(KIEGEN_[A-Z0-9_]+)[`=]", readme))
    assert len(read) > 30  # the search found the settings module
    assert read - documented == set()
