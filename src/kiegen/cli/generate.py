"""``kiegen generate``: validate, (upload,) submit, wait with a progress line, download the results."""

from __future__ import annotations

import argparse
import json
import mimetypes
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx

from kiegen.adapters.httpkit import sniff_image
from kiegen.cli.output import EXIT_FAILED, EXIT_OK, job_dict, print_json, say
from kiegen.client import Client
from kiegen.core.errors import InvalidInput, KiegenError, Problem
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import InputType, ModelSpec
from kiegen.core.validation import check_raw, coerce_text
from kiegen.settings import Settings

__all__ = ["collect_inputs", "collect_raw_inputs", "generate", "result_client"]

PLACEHOLDER = "https://upload.pending/local-file/"
"""Stands for a local file until it is uploaded (validation needs a URL to check)."""

MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""KIE's limit for an input image (KIE_API.md): a bigger file is refused before anything is uploaded."""
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _image_problem(image: str) -> Problem | None:
    """What is wrong with ``--image`` as a local file (or a URL of another scheme), or None."""
    scheme = _SCHEME.match(image)
    if scheme is not None:
        return Problem(
            field="--image",
            value=image,
            message=f"{scheme.group(1)}:// is not a supported scheme",
            fix="give a local file or an http(s):// URL",
        )
    path = Path(image)
    if not path.is_file():
        return Problem(field="--image", value=image, message="no such file", fix="give an existing file or a URL")
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        return Problem(
            field="--image",
            value=image,
            message=f"{size / 1024 / 1024:.1f} MB, more than the 10 MB KIE takes",
            fix="give a smaller image",
        )
    with path.open("rb") as handle:
        kind = sniff_image(handle.read(16))
    if kind is None:
        return Problem(
            field="--image",
            value=image,
            message="not a JPEG, PNG or WEBP image (by its first bytes)" if size else "an empty file",
            fix="give a .jpg, .png or .webp image",
        )
    return None


def check_out_dir(out: str) -> Problem | None:
    """Whether results can be saved in ``out`` (created if missing), checked before anything is submitted or
    charged: a result that cannot be written after the job succeeded is a paid-for image lost."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        return Problem(field="--out", value=out, message="is a file, not a directory", fix="give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Problem(
            field="--out", value=out, message=f"cannot write there ({reason})", fix="give a writable directory"
        )
    return None


def _placeholder(index: int) -> str:
    return f"{PLACEHOLDER}{index}"


def _parse_sets(sets: list[str], typed: Callable[[str, str], Any], problems: list[Problem]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(Problem(field="--set", value=item, message="is not KEY=VALUE", fix="e.g. --set seed=42"))
            continue
        inputs[key.strip()] = typed(key.strip(), value)
    return inputs


def _images(images: list[str], problems: list[Problem]) -> tuple[list[str], list[Path]]:
    """The --image values as URLs, local files replaced by placeholders; and the files to upload."""
    values: list[str] = []
    files: list[Path] = []
    for image in images:
        if image.startswith(("http://", "https://")):
            values.append(image)
            continue
        problem = _image_problem(image)
        if problem is not None:
            problems.append(problem)
        values.append(_placeholder(len(files)))
        files.append(Path(image))
    return values, files


def collect_inputs(
    spec: ModelSpec, prompt: str | None, sets: list[str], images: list[str]
) -> tuple[dict[str, Any], list[Path]]:
    """Turn the command line into model inputs, typed by the model's schema, and the local files to upload
    (``--image`` goes to the model's image input: all of them for a list of URLs, one for a single URL)."""
    problems: list[Problem] = []
    inputs: dict[str, Any] = {} if prompt is None else {"prompt": prompt}

    def typed(key: str, value: str) -> Any:
        field = spec.input(key)
        return coerce_text(field, value) if field is not None else value

    inputs |= _parse_sets(sets, typed, problems)
    values, files = _images(images, problems)
    field = spec.image_input
    if values and field is None:
        problems.append(
            Problem(field="--image", value=images[0], message=f"{spec.id} takes no input image", fix="drop --image")
        )
    elif values and field is not None and field.type is InputType.URL_LIST:
        inputs[field.name] = values
    elif values and field is not None:
        if len(values) > 1:
            problems.append(
                Problem(
                    field="--image",
                    value=f"<{len(values)} images>",
                    message=f"{spec.id} takes one input image",
                    fix="give --image once",
                )
            )
        inputs[field.name] = values[0]
    if problems:
        raise InvalidInput(problems, model=spec.id)
    return inputs, files


def _json_or_text(_: str, value: str) -> Any:
    """A raw --set value: JSON when it parses (42, true, ["a"], {"k": 1}, "quoted text"), else the text itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def collect_raw_inputs(model: str, prompt: str | None, sets: list[str], images: list[str]) -> dict[str, Any]:
    """The command line as KIE input without a schema; local images cannot be placed without one."""
    problems: list[Problem] = []
    inputs: dict[str, Any] = {} if prompt is None else {"prompt": prompt}
    inputs |= _parse_sets(sets, _json_or_text, problems)
    if images:
        problems.append(
            Problem(
                field="--image",
                value=images[0],
                message="with --raw kiegen does not know which input takes the image",
                fix="pass URLs with --set, e.g. --set image_urls='[\"https://...\"]'",
            )
        )
    if problems:
        raise InvalidInput(problems, model=model)
    return check_raw(model, inputs)


def _with_uploads(inputs: Mapping[str, Any], urls: list[str]) -> dict[str, Any]:
    def swap(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(PLACEHOLDER):
            return urls[int(value.removeprefix(PLACEHOLDER))]
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    return {key: swap(value) for key, value in inputs.items()}


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
    from kiegen.adapters.kie_httpx.download import download_results, limits_for
    from kiegen.bootstrap import build, registry_for

    if args.raw:
        raw = collect_raw_inputs(args.model, args.prompt, args.sets, args.images)
        files: list[Path] = []
        say(
            f"kiegen: --raw: the input for {args.model} goes to KIE unvalidated "
            "(kiegen's schema is not applied; KIE may still refuse it)"
        )
    else:
        registry = registry_for(settings)
        spec = registry.get(args.model)
        raw, files = collect_inputs(spec, args.prompt, args.sets, args.images)
        registry.validate(args.model, raw)  # every problem is reported before anything is uploaded or sent
    if not args.no_wait and (problem := check_out_dir(args.out)) is not None:
        raise InvalidInput([problem], model=args.model)
    if settings.simulated:
        say("kiegen: no KIE_API_KEY set: using the built-in KIE simulator (images are made locally)")
    async with build(settings) as client:
        inputs: Mapping[str, Any] = raw
        if files:
            inputs = _with_uploads(raw, [await _upload(client, path) for path in files])
        job = await client.submit(args.model, inputs, recipient="none", raw=args.raw)
        if args.no_wait:
            print_json(job_dict(job)) if args.json else print(job.id)
            return EXIT_OK
        if not args.json:
            say(f"job {job.id} submitted (task {job.task_id or 'pending'})")
        job = await _progress(client, job.id, args.timeout, args.json)
        saved: list[str] = []
        error_exit = job.status is not JobStatus.SUCCEEDED
        if job.status is JobStatus.SUCCEEDED:
            try:
                async with result_client(client) as http:
                    downloaded = await download_results(
                        http,
                        job.result_urls,
                        args.out,
                        stem=job.id,
                        **limits_for(job.media),
                        allow_private=settings.allow_private_urls or client.simulator is not None,
                        user_agent=settings.user_agent,
                    )
                saved = [str(f.path) for f in downloaded]
            except KiegenError as exc:
                say(f"kiegen: the {job.media.value} is ready but could not be downloaded: {exc.message}")
                error_exit = True
    if args.json:
        print_json(job_dict(job, files=saved))
    elif job.status is JobStatus.SUCCEEDED:
        for name in saved:
            print(name)
    elif not job.terminal:
        say(
            f"kiegen: timed out after {args.timeout:g} s waiting for job {job.id} (still {job.status.value}; it goes "
            f"on without us): `kiegen wait {job.id}` waits for it again and prints its result"
        )
    else:
        say(f"kiegen: {failure_line(job)}")
    return EXIT_FAILED if error_exit else EXIT_OK


def failure_line(job: Job) -> str:
    """``job <id> failed: <reason> (<code>)`` for a failed or timed-out job."""
    reason = job.error_message or "no reason given"
    code = f" ({job.error_code})" if job.error_code else ""
    return f"job {job.id} {job.status.value.replace('_', ' ')}: {reason}{code}"
