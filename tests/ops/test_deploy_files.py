"""The shipped systemd units and settings file: systemd's own checker accepts the units (and rates their
hardening), they run the real commands on the ports the proxy configurations send to, they give the service
time to stop gracefully, and the example settings are settings kiegen reads and accepts."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiegen.apps.http.serve import DRAIN_S, GRACEFUL_S
from kiegen.cli.main import _parser
from kiegen.settings import Settings
from tests.ops.procs import ROOT

SYSTEMD = ROOT / "deploy" / "systemd"
UNITS = ["kiegen-http.service", "kiegen-bot.service", "kiegen-backup.service", "kiegen-backup.timer"]
ENV_EXAMPLE = ROOT / "deploy" / "kiegen.env.example"


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (it comes with systemd; macOS has none)")
    return found


def _kiegen() -> str:
    return shutil.which("kiegen") or str(Path(sys.executable).with_name("kiegen"))


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units with their ExecStart pointed at this environment's kiegen (systemd checks it is executable)."""
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace("/opt/kiegen/bin/kiegen", _kiegen())
        (tmp_path / name).write_text(text)
    return tmp_path


def _setting(unit: str, key: str) -> str:
    (value,) = re.findall(rf"^{key}=(.*)$", (SYSTEMD / unit).read_text(), re.M)
    return value


def test_systemd_accepts_the_units(units: Path) -> None:
    done = subprocess.run(
        [_analyze(), "verify", "--man=no", *(f"./{name}" for name in UNITS)],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


@pytest.mark.parametrize("unit", ["kiegen-http.service", "kiegen-bot.service"])
def test_the_services_are_hardened(units: Path, unit: str) -> None:
    done = subprocess.run(
        [_analyze(), "security", "--offline=yes", f"./{unit}"],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout + done.stderr)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= 2.0  # systemd's scale: 0 (locked down) to 10 (exposed); OK is below 4.5


def test_the_units_run_kiegen_on_the_ports_the_proxies_send_to() -> None:
    ports = {}
    for unit, verb in (("kiegen-http.service", "serve"), ("kiegen-bot.service", "bot")):
        command = shlex.split(_setting(unit, "ExecStart"))
        assert command[0] == "/opt/kiegen/bin/kiegen"
        args = _parser().parse_args(command[1:])
        assert (args.verb, args.host) == (verb, "127.0.0.1")
        ports[verb] = args.port
        assert _setting(unit, "EnvironmentFile") == "/etc/kiegen/kiegen.env"
        assert _setting(unit, "WorkingDirectory") == "/var/lib/kiegen"
    assert ports == {"serve": 8080, "bot": 8081}
    nginx = (ROOT / "deploy" / "nginx" / "kiegen.conf").read_text()
    assert "server 127.0.0.1:8080 " in nginx and "server 127.0.0.1:8081;" in nginx
    caddy = (ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    assert "reverse_proxy 127.0.0.1:8080 {" in caddy and "127.0.0.1:8081" in caddy


def test_systemd_waits_longer_than_the_graceful_shutdown() -> None:
    stop = int(_setting("kiegen-http.service", "TimeoutStopSec").removesuffix("s"))
    assert stop > GRACEFUL_S + DRAIN_S


def _example_lines() -> list[tuple[str, str]]:
    lines = []
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.removeprefix("#")
        if re.fullmatch(r"[A-Z][A-Z0-9_]*=.*", line):
            key, _, value = line.partition("=")
            lines.append((key, value))
    return lines


def test_the_example_settings_are_variables_kiegen_reads() -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "src" / "kiegen").rglob("*.py"))
    names = {key for key, _ in _example_lines()}
    assert len(names) >= 12
    assert {name for name in names if f'"{name}"' not in sources} == set()


def test_the_example_settings_are_accepted_as_they_stand() -> None:
    raw = ENV_EXAMPLE.read_text().splitlines()
    active = dict(line.split("=", 1) for line in raw if line and not line.startswith("#"))
    settings = Settings.from_env(active)
    assert settings.database_url == "sqlite+aiosqlite:////var/lib/kiegen/kiegen.db"
    examples = {key: value for key, value in _example_lines() if value and key.startswith("KIEGEN_")}
    Settings.from_env(examples)  # the commented examples are well-formed too
