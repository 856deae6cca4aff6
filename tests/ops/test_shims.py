"""From the repository root, ``python -m apps.http`` and ``python -m apps.telegram`` still start the apps
(they are shims over ``kiegen.apps``, which ship in the wheel)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops.procs import ROOT, Service, clean_env, free_port

pytestmark = pytest.mark.slow


def test_python_m_apps_http_serves_from_the_repository_root(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        KIEGEN_PORT=str(port),
        # nothing of this run is written into the checkout
        KIEGEN_DATABASE_URL=f"sqlite:///{tmp_path / 'kiegen.db'}",
        KIEGEN_API_KEYS="shim-test-key",
    )
    service = Service([sys.executable, "-m", "apps.http"], cwd=ROOT, env=env, log=tmp_path / "log")
    with service:
        assert service.wait_http(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert service.wait_http(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ready"
    assert (tmp_path / "kiegen.db").exists()
    assert "Traceback" not in service.output()


def test_python_m_apps_telegram_starts_the_bot_from_the_repository_root() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "apps.telegram"], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2  # the bot's own check: no token
    assert "TELEGRAM_BOT_TOKEN is not set" in done.stderr
    assert "Traceback" not in done.stderr
