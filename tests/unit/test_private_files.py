"""Files kiegen creates are private: the SQLite database with its -wal and -shm (0600), the generated secrets
(0600) in ``.kiegen/`` (0700); a secret is created whole or not at all, and an empty one is refused."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kiegen.bootstrap import build
from kiegen.core.errors import ConfigurationError
from kiegen.settings import Settings, load_or_create_secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.anyio
async def test_the_sqlite_database_and_its_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    db = tmp_path / "kiegen.db"
    # The store creates the file 0600 before anything opens it; SQLite gives -wal and -shm the file's mode.
    async with build(Settings(database_url=f"sqlite+aiosqlite:///{db}"), workers=False) as client:
        await client.submit("z-image", {"prompt": "a fox"})
        modes = {name: mode(Path(f"{db}{name}")) for name in ("", "-wal", "-shm")}  # WAL mode, open: all three
    assert modes == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


def test_a_generated_secret_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / ".kiegen" / "api_key"
    secret = load_or_create_secret(path)
    assert len(secret) >= 32 and path.read_bytes() == secret
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)
    assert load_or_create_secret(path) == secret
    assert [p.name for p in path.parent.iterdir()] == ["api_key"]  # no temporary file left behind


def test_an_existing_open_directory_is_narrowed_to_0700(tmp_path: Path) -> None:
    folder = tmp_path / ".kiegen"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    load_or_create_secret(folder / "callback_secret")
    assert mode(folder) == 0o700


@pytest.mark.parametrize("content", [b"", b"\n", b"   \n"])
def test_an_empty_secret_file_is_refused_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / ".kiegen" / "api_key"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match=r"api_key is empty: delete it"):
        load_or_create_secret(path)


def test_processes_racing_to_create_a_secret_all_get_the_one_written(tmp_path: Path) -> None:
    path = tmp_path / ".kiegen" / "callback_secret"
    results: list[bytes] = []
    barrier = threading.Barrier(16)

    def create() -> None:
        barrier.wait()
        results.append(load_or_create_secret(path))

    threads = [threading.Thread(target=create) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16 and set(results) == {path.read_bytes()}


def test_the_http_service_refuses_an_empty_api_key_file_with_one_line(tmp_path: Path) -> None:
    (tmp_path / ".kiegen").mkdir()
    (tmp_path / ".kiegen" / "api_key").write_bytes(b"")
    env = {"PATH": "/usr/bin:/bin", "KIEGEN_PORT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "kiegen.apps.http"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"kiegen: {Path('.kiegen') / 'api_key'} is empty: delete it and start again to have a new secret made, "
        "or write a secret into it"
    ]
