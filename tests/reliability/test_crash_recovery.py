"""kill -9 at every named crash point, restart, count: nothing lost, duplicates only from the messenger window.

``in_batch`` is inside the store's group commit, after some of a batch's savepoints and before its COMMIT:
none of that batch's callers was answered, so KIE's callback retry (here: the poller) completes them, and
nothing of the batch is in the database half-applied.

For each point, real worker processes are killed (SIGKILL, no clean-up) there, restarted until the work is
done, and the database and the delivery files are audited. The points run side by side (one simulator,
database and set of files each) to keep the CI-sized run short.

A SIGKILL stops the whole process, so a kill at any point also interrupts whatever else was in flight (other
deliveries, other createTask calls). A duplicate is accepted only when its earlier send came from a killed
worker that had not yet recorded it (``unexplained_duplicates`` counts the others and must be 0); at most one
extra upstream task per job is accepted; a job whose createTask answers were lost to kills more often than
``max_submit_attempts`` times out as ``submit_failed`` (told, not charged: ``gave_up``), and no job may end
unsuccessfully for any other reason (the simulator fails no task).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kiegen.simulator.engine import CallbackMode
from tests.http.servers import free_port
from tests.reliability.harness import (
    SOAK,
    CrashFigures,
    Database,
    Workspace,
    crash_figures,
    run_crash_cycles,
    simulator,
)

POINTS = [
    "after_create_task",
    "after_ledger_entry",
    "after_callback_stored",
    "after_result_stored",
    "after_delivery_claimed",
    "mid_download",
    "after_messenger_accepted",
    "in_batch",
]
# CI runs every point on SQLite and the points where the two stores' claims and transactions differ most on
# PostgreSQL; the soak runs every point on both.
POSTGRES_POINTS = (
    POINTS
    if SOAK
    else [
        "after_create_task",
        "after_callback_stored",
        "after_delivery_claimed",
        "after_messenger_accepted",
        "in_batch",
    ]
)
JOBS = 1000 if SOAK else 16
KILLS = 40 if SOAK else 2
PARALLEL = 2 if SOAK else 4


def crash_at(database: Database, point: str, root: Path) -> CrashFigures:
    root.mkdir()
    # Callbacks come in over HTTP for these points: a callback's write is what fills a batch with several.
    callbacks = point in ("after_callback_stored", "in_batch")
    started = time.monotonic()
    with simulator(callbacks=CallbackMode.NORMAL if callbacks else CallbackMode.LOST) as sim:
        ws = Workspace(database.fresh(point), sim, root, jobs=JOBS, callback_port=free_port() if callbacks else 0)
        kills, runs = run_crash_cycles(ws, point, kills=KILLS)
        return crash_figures(ws, point, kills, runs, started)


@pytest.mark.slow
def test_kill_9_at_every_crash_point_loses_no_job(
    database: Database, tmp_path: Path, report: Callable[[str], None]
) -> None:
    points = POINTS if database.kind == "sqlite" else POSTGRES_POINTS
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(lambda point: crash_at(database, point, tmp_path / point), points))
    for figures in results:
        report(figures.line())

    problems = []
    for f in results:
        a = f.audit
        checks = {
            "reached": f.kills >= 1,
            "all jobs stored": a.jobs == JOBS,
            "lost = 0": a.lost == 0,
            "all terminal": a.unfinished == 0,
            "all delivered": a.undelivered == 0,
            "right recipient": a.wrong_recipient == 0,
            "duplicates explained": a.unexplained_duplicates == 0,
            "one settlement per hold": a.double_settled == 0,
            "charged only successes in time": a.charged_wrongly == 0,
            "balances add up": a.balance_errors == 0,
            "at most one extra task per job": f.max_tasks_per_job <= 2,
            "only interrupted submissions fail": a.not_succeeded == a.gave_up,
        }
        if f.point == "after_messenger_accepted":
            checks["each kill there leaves a duplicate"] = a.duplicates >= f.kills
        problems += [f"{f.point}: {name}" for name, ok in checks.items() if not ok]
    assert not problems, problems
