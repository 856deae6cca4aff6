"""kiegen as a user gets it. The README's first Quickstart command, run as written in a copy of the checkout
(a bare, non-editable install); the wheel, built from this checkout and installed non-editable into fresh
virtual environments with each extra; each run from a directory outside the repository with none of the test
run's paths or settings. A minute or two: pip resolves the dependencies (from its cache when warm)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

import kiegen
from tests.ops.procs import ROOT, Service, clean_env, free_port
from tests.ops.readme import quickstart_commands
from tests.telegram import updates as up
from tests.telegram.fake_telegram import FakeTelegram
from tests.telegram.harness import TOKEN
from tests.telegram.server import FakeBotApiServer

pytestmark = [pytest.mark.slow, pytest.mark.packaging]


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", out, ROOT, cwd=out)
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("kiegen-*.whl")
    return built


def _venv(where: Path, wheel: Path, extra: str | None) -> Path:
    """A fresh venv (no pip of its own: this run's pip installs into it) with the wheel, non-editable."""
    done = _run(sys.executable, "-m", "venv", "--without-pip", where, cwd=where.parent)
    assert done.returncode == 0, done.stderr
    requirement = f"kiegen[{extra}] @ {wheel.as_uri()}" if extra else str(wheel)
    python = where / "bin" / "python"
    done = _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", requirement, cwd=where.parent)
    assert done.returncode == 0, done.stderr
    located = _run(python, "-c", "import kiegen; print(kiegen.__file__)", cwd=where.parent)
    assert Path(located.stdout.strip()).is_relative_to(where), located  # the wheel's copy, not this checkout
    return where / "bin"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The README's first Quickstart command, as written, in a copy of this checkout (its files as git sees
    them, committed or not: what a fresh clone would hold)."""
    clone = tmp_path_factory.mktemp("clone")
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    done = _run("bash", "-c", quickstart_commands()[0], cwd=clone)
    return clone, done


@pytest.fixture(scope="module")
def bare(quickstart: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    """The Quickstart's venv: kiegen installed from the clone, non-editable, without extras."""
    clone, done = quickstart
    assert done.returncode == 0, done.stderr
    return clone / ".venv" / "bin"


@pytest.fixture(scope="module")
def with_http(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    return _venv(tmp_path_factory.mktemp("http") / "venv", wheel, "http")


@pytest.fixture(scope="module")
def with_telegram(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    return _venv(tmp_path_factory.mktemp("telegram") / "venv", wheel, "telegram")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An operator's working directory, outside the repository."""
    where = tmp_path / "site"
    where.mkdir()
    assert not where.is_relative_to(ROOT)
    return where


def test_the_installed_command_prints_the_packages_version(bare: Path, site: Path, wheel: Path) -> None:
    done = _run(bare / "kiegen", "--version", cwd=site)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"kiegen {kiegen.__version__}"
    assert wheel.name.startswith(f"kiegen-{kiegen.__version__}-")


@pytest.mark.parametrize(("verb", "extra"), [("serve", "http"), ("bot", "telegram")])
def test_an_app_without_its_extra_names_the_extra_in_one_line_and_exits_2(
    bare: Path, site: Path, verb: str, extra: str
) -> None:
    done = _run(bare / "kiegen", verb, cwd=site)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"pip install 'kiegen[{extra}]'" in lines[0]


def test_the_readmes_first_command_generates_on_the_embedded_default(
    quickstart: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    clone, done = quickstart
    assert done.returncode == 0, done.stderr
    (saved,) = done.stdout.split()
    assert saved.startswith("out/") and saved.endswith(".png")
    assert (clone / saved).read_bytes().startswith(b"\x89PNG")
    assert "using the built-in KIE simulator" in done.stderr
    located = _run(clone / ".venv" / "bin" / "python", "-c", "import kiegen; print(kiegen.__file__)", cwd=clone)
    assert "site-packages" in located.stdout  # installed, not the clone's src/ on the path


def test_kiegen_serve_from_the_wheel_serves_health_and_generations_over_a_socket(with_http: Path, site: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(with_http / "kiegen"), "serve", "--port", str(port)]
    service = Service(command, cwd=site, env=clean_env(), log=site / "log")
    with service:
        assert service.wait_http(f"{url}/healthz").json() == {"status": "ok"}
        ready = service.wait_http(f"{url}/readyz").json()
        assert ready["status"] == "ready" and ready["migration"] == ready["head"]
        key = (site / ".kiegen" / "api_key").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}
        created = httpx.post(
            f"{url}/v1/generations", json={"model": "z-image", "input": {"prompt": "a fox"}}, headers=auth, timeout=10
        )
        assert created.status_code == 202, created.text
        job = created.json()
        done = httpx.get(f"{url}/v1/generations/{job['id']}", params={"wait": 30}, headers=auth, timeout=40).json()
        assert done["status"] == "succeeded", done
        assert 'kiegen_jobs{status="succeeded"} 1.0' in httpx.get(f"{url}/metrics", timeout=10).text
        # uvicorn re-raises the SIGTERM once it has shut down gracefully; systemd counts that as a clean stop
        assert service.stop() in (0, -signal.SIGTERM)
    assert "client closed" in service.output()  # the lifespan ran to its end: workers stopped, database closed
    assert "Traceback" not in service.output()
    logged = [json.loads(line)["msg"] for line in service.output().splitlines()]  # JSON lines only
    assert any(message.startswith(f"kiegen HTTP service on 127.0.0.1:{port} ") for message in logged), logged


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiogram, and the fake Bot API server (aiohttp)


@pytest.mark.anyio
async def test_kiegen_bot_from_the_wheel_answers_start_through_a_bot_api_server(
    with_telegram: Path, site: Path
) -> None:
    user = 7001
    async with FakeBotApiServer(FakeTelegram(TOKEN)) as server:
        env = clean_env(TELEGRAM_BOT_TOKEN=TOKEN, KIEGEN_TELEGRAM_API_URL=server.url)
        bot = Service([str(with_telegram / "kiegen"), "bot"], cwd=site, env=env, log=site / "log")
        with bot:
            # a long poll is recorded by the fake when it returns; its path when it arrives
            await bot.wait_for(lambda: any(p.endswith("/getUpdates") for p in server.paths), what="long polling")
            server.push(up.text(user, "/start"))
            await bot.wait_for(lambda: bool(server.fake.sent_to(user)), what="an answer to /start")
            code = await anyio.to_thread.run_sync(bot.stop)
    assert code == 0, bot.output()
    assert server.fake.called("getMe")
    assert "Traceback" not in bot.output()
    assert TOKEN not in bot.output()
