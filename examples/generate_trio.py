"""The same under trio: kiegen uses anyio, so it runs on either event loop.

python examples/generate_trio.py "a lighthouse at dusk"
"""

from __future__ import annotations

import sys

import trio

import kiegen


async def main(prompt: str) -> int:
    async with kiegen.Client() as kg:
        job = await kg.submit("qwen/text-to-image", {"prompt": prompt, "image_size": "landscape_16_9"})
        print("submitted", job.id, file=sys.stderr)
        job = await kg.wait(job.id, timeout=120)
    print(job.status.value, *job.result_urls)
    return 0 if job.status is kiegen.JobStatus.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(trio.run(main, " ".join(sys.argv[1:]) or "a lighthouse at dusk"))
