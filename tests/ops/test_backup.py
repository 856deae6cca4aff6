"""Backing up the SQLite database while it is written to, the two ways docs/OPERATIONS.md gives: the shipped
kiegen-backup.service's own command (sqlite3's ``.backup``) and ``VACUUM INTO`` (Python's sqlite3 module, for
hosts without the sqlite3 command). The copy, alone in a directory, must pass SQLite's integrity check and
open as kiegen's database with every job stored before the backup began."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ops.procs import ROOT, Service, clean_env

pytestmark = pytest.mark.slow

UNIT = ROOT / "deploy" / "systemd" / "kiegen-backup.service"


def backup_with_the_units_command(database: Path, backups: Path) -> None:
    """ExecStart of kiegen-backup.service, with its two paths pointed here and systemd's %% unescaped."""
    sqlite = shutil.which("sqlite3")
    if sqlite is None:
        pytest.skip("the sqlite3 command is not installed (Debian: apt install sqlite3); VACUUM INTO is tested")
    (line,) = re.findall(r"^ExecStart=/bin/sh -c '(.*)'$", UNIT.read_text(), re.M)
    assert line.count("/var/lib/kiegen/kiegen.db") == 1 and line.count("/var/lib/kiegen-backups/") == 1
    command = (
        line.replace("%%", "%")
        .replace("/var/lib/kiegen/kiegen.db", str(database))
        .replace("/var/lib/kiegen-backups/", f"{backups}/")
    )
    subprocess.run(["/bin/sh", "-c", command], check=True, timeout=120)


def backup_with_vacuum_into(database: Path, backups: Path) -> None:
    with sqlite3.connect(database, timeout=30) as conn:
        conn.execute("VACUUM INTO ?", (str(backups / "kiegen-vacuum.db"),))
    conn.close()


METHODS: dict[str, Callable[[Path, Path], None]] = {
    "sqlite3 .backup (kiegen-backup.service)": backup_with_the_units_command,
    "VACUUM INTO": backup_with_vacuum_into,
}


@pytest.mark.parametrize("method", list(METHODS))
def test_a_backup_taken_under_writes_opens_and_holds_the_jobs(tmp_path: Path, method: str) -> None:
    database, backups, restored = tmp_path / "kiegen.db", tmp_path / "backups", tmp_path / "restored"
    backups.mkdir()
    restored.mkdir()
    count, stop = tmp_path / "count", tmp_path / "stop"
    env = clean_env(KIEGEN_DATABASE_URL=f"sqlite:///{database}")
    writer = Service(
        [sys.executable, str(Path(__file__).with_name("sqlite_writer.py")), str(count), str(stop)],
        cwd=tmp_path,
        env=env,
        log=tmp_path / "writer.log",
    )
    with writer:
        writer.wait_until(lambda: count.exists() and int(count.read_text() or 0) >= 30, what="30 jobs written")
        before = int(count.read_text())
        METHODS[method](database, backups)
        writer.wait_until(lambda: int(count.read_text() or 0) > before + 10, what="more jobs after the backup")
        stop.touch()
        writer.process.wait(60)  # type: ignore[union-attr]
    assert writer.process is not None and writer.process.returncode == 0, writer.output()
    written = int(count.read_text())

    (copy,) = backups.glob("kiegen-*.db")
    shutil.copy(copy, restored / "kiegen.db")  # the file alone: no -wal or -shm beside it
    with sqlite3.connect(restored / "kiegen.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        held = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    conn.close()
    assert before <= held <= written

    listed = subprocess.run(
        [sys.executable, "-m", "kiegen", "jobs", "list", "--limit", "10000", "--json"],
        cwd=restored,
        env=clean_env(KIEGEN_DATABASE_URL=f"sqlite:///{restored / 'kiegen.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    jobs = json.loads(listed.stdout)
    assert len(jobs) == held
    prompts = {job["input"]["prompt"] for job in jobs}
    assert {f"a fox, take {n}" for n in range(before)} <= prompts
