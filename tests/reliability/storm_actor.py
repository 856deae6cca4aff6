"""One OS process of the callback storm: sends every copy of every job's callback, then delivers.

    python storm_actor.py URL JOBS_FILE COPIES

Prints ``ready``, waits for ``go`` on stdin (so that both processes start together), then for each job id in
JOBS_FILE (``<job id> <task id>`` per line) calls ``handle_callback`` COPIES times, ten at a time, runs
``deliver_due`` until nothing is left, and prints one JSON line: outcomes and the job ids it delivered.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
from pathlib import Path

from kiegen.adapters.memory import InProcessNotifier, RecordingMessenger, SimulatedKie
from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.adapters.system import SystemClock
from kiegen.catalogue import default_registry
from kiegen.core.callbacks import callback_token
from kiegen.services import Config, Context, deliver_due, handle_callback

SECRET = b"storm-secret"


def body(task_id: str) -> bytes:
    result = json.dumps({"resultUrls": [f"https://tempfile.aiquickdraw.com/{task_id}.png"]})
    data = {"taskId": task_id, "state": "success", "resultJson": result}
    return json.dumps({"code": 200, "msg": "success", "data": data}).encode()


async def main(url: str, jobs: list[list[str]], copies: int) -> dict[str, object]:
    store = await SqlAlchemyJobStore.open(url, migrate=False, pool_size=10)
    clock = SystemClock()
    messenger = RecordingMessenger()
    ctx = Context(
        store=store,
        kie=SimulatedKie(clock),
        messenger=messenger,
        clock=clock,
        notifier=InProcessNotifier(),
        config=Config(
            registry=default_registry().with_prices({"z-image": 1}),
            public_url="http://kiegen.test",
            callback_secret=SECRET,
        ),
    )
    outcomes: collections.Counter[str] = collections.Counter()
    limit = asyncio.Semaphore(10)

    async def send(job_id: str, task_id: str) -> None:
        async with limit:
            result = await handle_callback(ctx, job_id=job_id, token=callback_token(SECRET, job_id), body=body(task_id))
            outcomes[f"{result.status}:{result.outcome.value}"] += 1

    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("no go")
    async with store:
        async with asyncio.TaskGroup() as tg:
            for _ in range(copies):
                for job_id, task_id in jobs:
                    tg.create_task(send(job_id, task_id))
        idle = 0
        while idle < 5:
            idle = 0 if await deliver_due(ctx) else idle + 1
            await asyncio.sleep(0.05)
    return {"outcomes": dict(outcomes), "delivered": [sent.job.id for sent in messenger.sent]}


if __name__ == "__main__":
    job_lines = [line.split() for line in Path(sys.argv[2]).read_text().splitlines()]
    print(json.dumps(asyncio.run(main(sys.argv[1], job_lines, int(sys.argv[3])))), flush=True)
