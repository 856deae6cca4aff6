"""A worker stopped (SIGSTOP) while it holds a delivery lease, resumed after another worker took the delivery
over: its writes are rejected (LeaseLost) and the delivery's record stays the other worker's.

The stopped worker has one job and a slow idle loop, so that it is frozen outside any transaction: a process
frozen *inside* one holds its locks (SQLite's write lock, PostgreSQL row locks) until it runs again or dies,
which is a known limit written in docs/RELIABILITY.md, not something leases can fence."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.harness import Database, Workspace, audit, read_deliveries, simulator


def is_stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.slow
def test_a_stopped_worker_resumed_after_its_lease_cannot_mark_the_delivery(
    database: Database, tmp_path: Path, report: Callable[[str], None]
) -> None:
    marker = tmp_path / "claimed"
    with simulator() as sim:
        ws = Workspace(database, sim, tmp_path, jobs=1)
        # --linger: after waking, let the in-flight delivery finish (and be refused) before the worker exits
        stopped = ws.start("--stop-marker", str(marker), "--linger", "3", KIEGEN_WORKER_INTERVAL_S="5")
        try:
            deadline = time.monotonic() + 60
            while not (marker.exists() and is_stopped(stopped.pid)):
                assert stopped.poll() is None, stopped.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the first worker never claimed a delivery"
                time.sleep(0.02)
            stopped_job = marker.read_text().split()[1]

            code, taker, err = ws.run()  # waits out the 1.5 s lease, then delivers everything
            assert code == 0, err[-3000:]
            assert taker is not None

            os.kill(stopped.pid, signal.SIGCONT)
            out, err = stopped.communicate(timeout=60)
        finally:
            if stopped.poll() is None:
                os.kill(stopped.pid, signal.SIGCONT)
                stopped.kill()
                stopped.communicate()
    assert stopped.returncode == 0, err[-3000:]
    resumed = json.loads(out.strip().splitlines()[-1])
    after = audit(database, ws.out_dir, ws.jobs)
    zombie_sends = sum(1 for line in read_deliveries(ws.out_dir) if line.pid == stopped.pid)
    report(
        f"RELIABILITY lease db={database.kind} jobs={ws.jobs} stopped_pid_lease_lost={resumed['lease_lost']} "
        f"stopped_pid_sent={resumed['sent']} zombie_sends={zombie_sends} lost={after.lost} "
        f"duplicates={after.duplicates} undelivered={after.undelivered}"
    )
    assert resumed["lease_lost"] >= 1, "the resumed worker's writes were accepted"
    (receipt,) = after.receipts[stopped_job]
    assert receipt is not None and receipt.startswith(f"{taker['pid']}:"), "the stopped worker overwrote the record"
    assert (after.lost, after.undelivered, after.unfinished) == (0, 0, 0)
    # What the stopped worker sent after it woke is the at-least-once cost of a paused process: counted.
    assert after.duplicates == zombie_sends
