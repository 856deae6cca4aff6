"""``kiegen generate``: validate, (upload,) submit, wait with a progress line, download the results."""

from __future__ import annotations

import argparse
import mimetypes
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx

from kiegen.cli.output import EXIT_FAILED, EXIT_OK, job_dict, print_json, say
from kiegen.client import Client
from kiegen.core.errors import InvalidInput, KiegenError, Problem
from kiegen.core.jobs import JobStatus
from kiegen.core.models import InputType, ModelSpec, coerce_text
from kiegen.settings import Settings

__all__ = ["collect_inputs", "generate", "result_client"]

PLACEHOLDER_URL = "https://upload.pending/local-file"


def collect_inputs(spec: ModelSpec, prompt: str | None, sets: list[str], image: str | None) -> dict[str, Any]:
    """Turn the command line into model inputs, typed by the model's schema; every mistake is reported."""
    inputs: dict[str, Any] = {}
    problems: list[Problem] = []
    if prompt is not None:
        inputs["prompt"] = prompt
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(Problem(field="--set", value=item, message="is not KEY=VALUE", fix="e.g. --set seed=42"))
            continue
        field = spec.input(key.strip())
        inputs[key.strip()] = coerce_text(field, value) if field is not None else value
    if image is not None:
        field = next((i for i in spec.inputs if i.type is InputType.URL), None)
        if field is None:
            problems.append(
                Problem(field="--image", value=image, message=f"{spec.id} takes no input image", fix="drop --image")
            )
        elif image.startswith(("http://", "https://")):
            inputs[field.name] = image
        else:
            path = Path(image)
            if not path.is_file():
                problems.append(
                    Problem(field="--image", value=image, message="no such file", fix="give an existing file or a URL")
                )
            inputs[field.name] = PLACEHOLDER_URL
    if problems:
        raise InvalidInput(problems, model=spec.id)
    return inputs


@asynccontextmanager
async def result_client(client: Client) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for result downloads; with the built-in simulator its URLs are served in process."""
    mounts: dict[str, httpx.AsyncBaseTransport] = {}
    if client.simulator is not None:
        from kiegen.simulator.files import FilesTransport

        mounts[client.simulator.config.result_base_url] = FilesTransport(client.simulator)
    async with httpx.AsyncClient(mounts=mounts, follow_redirects=False, timeout=30) as http:
        yield http


async def _upload(client: Client, path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return await client.upload(await anyio.Path(path).read_bytes(), filename=path.name, mime=mime)


async def _progress(client: Client, job_id: str, timeout: float | None, quiet: bool) -> Any:
    started = time.monotonic()
    interactive = sys.stderr.isatty()
    last = ""
    while True:
        job = await client.wait(job_id, timeout=1.0)
        elapsed = time.monotonic() - started
        line = f"{job.status.value} ({elapsed:.0f} s)"
        if not quiet and line != last:
            if interactive:
                print(f"\r{line}   ", end="", file=sys.stderr, flush=True)
            elif job.status.value != last.split(" ")[0]:
                say(line)
            last = line
        if job.terminal or (timeout is not None and elapsed >= timeout):
            if interactive and not quiet:
                print(file=sys.stderr)
            return job


async def generate(args: argparse.Namespace, settings: Settings) -> int:
    from kiegen.adapters.kie_httpx.download import download_results
    from kiegen.bootstrap import build, registry_for

    registry = registry_for(settings)
    spec = registry.get(args.model)
    raw = collect_inputs(spec, args.prompt, args.sets, args.image)
    registry.validate(args.model, raw)  # every problem is reported before anything is uploaded or sent
    if settings.simulated:
        say("kiegen: no KIE_API_KEY set: using the built-in KIE simulator (images are made locally)")
    async with build(settings) as client:
        inputs: Mapping[str, Any] = raw
        if args.image is not None and not args.image.startswith(("http://", "https://")):
            url = await _upload(client, Path(args.image))
            inputs = {k: (url if v == PLACEHOLDER_URL else v) for k, v in raw.items()}
        job = await client.submit(args.model, inputs, recipient="none")
        if args.no_wait:
            print_json(job_dict(job)) if args.json else print(job.id)
            return EXIT_OK
        if not args.json:
            say(f"job {job.id} submitted (task {job.task_id or 'pending'})")
        job = await _progress(client, job.id, args.timeout, args.json)
        files: list[str] = []
        error_exit = job.status is not JobStatus.SUCCEEDED
        if job.status is JobStatus.SUCCEEDED:
            try:
                async with result_client(client) as http:
                    downloaded = await download_results(
                        http,
                        job.result_urls,
                        args.out,
                        stem=job.id,
                        allow_private=settings.allow_private_urls or client.simulator is not None,
                        user_agent=settings.user_agent,
                    )
                files = [str(f.path) for f in downloaded]
            except KiegenError as exc:
                say(f"kiegen: the image is ready but could not be downloaded: {exc.message}")
                error_exit = True
    if args.json:
        print_json(job_dict(job, files=files))
    elif job.status is JobStatus.SUCCEEDED:
        for name in files:
            print(name)
    else:
        say(f"kiegen: job {job.id} {job.status.value}: {job.error_message or 'no result'}")
    return EXIT_FAILED if error_exit else EXIT_OK
