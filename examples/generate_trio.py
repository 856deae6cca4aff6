"""The same under trio, on the durable store: kiegen uses anyio, and its SQL store runs its drivers on threads
of its own, so it works on either event loop.

Without KIE_API_KEY this runs against the built-in KIE simulator; jobs are kept in ``kiegen.db`` in the
current directory (``KIEGEN_DATABASE_URL`` points elsewhere, e.g. ``postgresql://user@host/db``):

    python examples/generate_trio.py "a lighthouse at dusk"
"""

from __future__ import annotations

import sys

import trio

import kiegen


async def main(prompt: str) -> int:
    async with kiegen.Client.from_env() as kg:
        job = await kg.submit("qwen/text-to-image", {"prompt": prompt, "image_size": "landscape_16_9"})
        print("submitted", job.id, file=sys.stderr)
        job = await kg.wait(job.id, timeout=120)
    print(job.status.value, *job.result_urls)
    return 0 if job.status is kiegen.JobStatus.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(trio.run(main, " ".join(sys.argv[1:]) or "a lighthouse at dusk"))
