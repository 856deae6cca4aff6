"""Generate one image with kiegen under asyncio.

Without KIE_API_KEY this runs against the built-in KIE simulator and an in-memory store, so it works offline:

    python examples/generate_asyncio.py "a red fox in the snow"
"""

from __future__ import annotations

import asyncio
import sys

import kiegen


async def main(prompt: str) -> int:
    async with kiegen.Client() as kg:
        job = await kg.generate("z-image", {"prompt": prompt, "aspect_ratio": "16:9"}, timeout=120)
    print(job.status.value, *job.result_urls)
    return 0 if job.status is kiegen.JobStatus.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(" ".join(sys.argv[1:]) or "a red fox in the snow")))
