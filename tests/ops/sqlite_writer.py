"""Writes to a kiegen SQLite database as the services do, for the backup test: jobs submitted one after another
through ``kiegen.Client`` (the built-in simulator completes them, in the same file), until ``STOP`` exists.
After each job it rewrites ``COUNT`` with the number of jobs stored so far.

    KIEGEN_DATABASE_URL=sqlite:///path.db python sqlite_writer.py COUNT STOP
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

import kiegen


async def main(count_file: Path, stop_file: Path) -> None:
    count, stop = anyio.Path(count_file), anyio.Path(stop_file)
    async with kiegen.Client.from_env() as kg:
        n = 0
        while not await stop.exists() and n < 5000:
            await kg.submit("z-image", {"prompt": f"a fox, take {n}"}, user_id="backup-test", idempotency_key=f"n{n}")
            n += 1
            await count.write_text(str(n))


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), Path(sys.argv[2]))
