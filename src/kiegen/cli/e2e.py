"""``kiegen e2e``: every free model end to end, then the figures the old bot never had.

Against a simulator (the built-in one, or a separately started ``kiegen simulate-kie``) it also runs one model of
each kind the free ones leave out, so that text-to-image, image-to-image/edit, text-to-video and image-to-video
are all covered: the first model of that kind whose inputs a prompt and one image fill (``pick_models``). With
``--real`` only the free models run (a video costs hundreds of KIE credits) unless ``--model`` names others;
``--model ID`` (repeatable) runs exactly the models named. A video result is downloaded and checked like an
image (its container by magic bytes).

Simulated by default (the built-in simulator, callbacks through the real token check); with ``KIE_API_KEY`` and
``KIEGEN_KIE_BASE_URL`` pointing at a separately started ``kiegen simulate-kie`` it runs against that; ``--real``
runs against the live KIE API with ``KIE_API_KEY`` (callbacks when ``KIEGEN_PUBLIC_URL`` reaches a running
``kiegen serve``, polling otherwise). Prints one line per model, ``SUMMARY: N/N passed, M failed`` and ``METRICS:`` with
callback_4xx (callbacks answered 4xx), job_not_found (callbacks that found no job), avg_ttfb (seconds from
submit to KIE's task id), avg_total_time (seconds from submit to the result saved on disk) and kie_credits
(what KIE reported charging for the run's tasks, summed).

``--record DIR`` saves every raw KIE answer the gateway received and every callback this process was sent, as
corpus files (``kiegen.cli.record``: secrets and tokens redacted, each with what kiegen made of it), so that a
person with a key adds live shapes in one command. Callbacks sent to a separate ``kiegen serve`` (at
``KIEGEN_PUBLIC_URL``) are that process's, not this one's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

import anyio
import attrs

from kiegen.adapters.httpkit import install_log_redaction
from kiegen.cli.generate import result_client
from kiegen.cli.output import EXIT_FAILED, EXIT_OK, say
from kiegen.cli.record import Recorder
from kiegen.client import Client
from kiegen.core.errors import ConfigurationError, KiegenError
from kiegen.core.jobs import JobStatus
from kiegen.core.models import InputType, ModelKind, ModelSpec
from kiegen.core.registry import ModelRegistry
from kiegen.services.callbacks import CallbackOutcome, CallbackResult
from kiegen.settings import DEFAULT_KIE_BASE_URL, Settings
from kiegen.simulator.png import make_png

__all__ = ["e2e"]

PROMPT = "a red fox in the snow, watercolour"
KINDS = (ModelKind.TEXT_TO_IMAGE, ModelKind.IMAGE_TO_IMAGE, ModelKind.TEXT_TO_VIDEO, ModelKind.IMAGE_TO_VIDEO)
"""The kinds a simulated run covers (an edit model stands for image-to-image)."""
_FROM_AN_IMAGE = frozenset({ModelKind.IMAGE_TO_IMAGE, ModelKind.EDIT, ModelKind.IMAGE_TO_VIDEO})


def inputs_for(spec: ModelSpec, image_url: str) -> dict[str, Any]:
    """A prompt, and the image where the model needs one or its kind starts from one (grok-imagine's
    image-to-video marks no input required), as one URL or a list of one."""
    inputs: dict[str, Any] = {"prompt": PROMPT}
    image = spec.image_input
    if image is not None and (spec.needs_image or spec.kind in _FROM_AN_IMAGE):
        inputs[image.name] = [image_url] if image.type is InputType.URL_LIST else image_url
    return inputs


def _fillable(registry: ModelRegistry, spec: ModelSpec) -> bool:
    try:
        registry.validate(spec.id, inputs_for(spec, "https://example.com/e2e.png"))
    except KiegenError:
        return False
    return True


def pick_models(registry: ModelRegistry, *, every_kind: bool, named: list[str] | None = None) -> list[ModelSpec]:
    """The models a run covers: ``named`` ones exactly; else the free ones, plus (``every_kind``) the first
    fillable model of each of ``KINDS`` that no free model covers. Raises ``InvalidInput`` for an unknown name."""
    if named:
        return [registry.get(model) for model in dict.fromkeys(named)]
    picked = [spec for spec in registry if spec.price == 0]
    if every_kind:
        covered = {ModelKind.IMAGE_TO_IMAGE if s.kind is ModelKind.EDIT else s.kind for s in picked}
        for kind in KINDS:
            if kind not in covered:
                spec = next((s for s in registry if s.kind is kind and _fillable(registry, s)), None)
                if spec is not None:
                    picked.append(spec)
    return picked


@attrs.define
class Run:
    model: str
    ok: bool = False
    ttfb: float | None = None
    total: float | None = None
    kie_credits: float | None = None
    detail: str = ""


async def _one(
    client: Client, spec: ModelSpec, image_url: str, out: str, timeout: float, allow_private: bool, agent: str | None
) -> Run:
    run = Run(spec.id)
    inputs = inputs_for(spec, image_url)
    started = time.monotonic()
    try:
        job = await client.submit(spec.id, inputs)
        run.ttfb = time.monotonic() - started if job.task_id else None
        job = await client.wait(job.id, timeout=timeout)
        run.kie_credits = job.kie_credits
        if job.status is not JobStatus.SUCCEEDED:
            run.detail = f"{job.status.value}: {job.error_message or 'no result'}"
            return run
        from kiegen.adapters.kie_httpx.download import download_results, limits_for

        async with result_client(client) as http:
            files = await download_results(
                http,
                job.result_urls,
                out,
                stem=f"{spec.id.replace('/', '_')}-{job.id}",
                **limits_for(job.media),
                allow_private=allow_private,
                user_agent=agent,
            )
        run.total = time.monotonic() - started
        run.ok = True
        run.detail = ", ".join(f"{f.path.name} ({f.size} bytes)" for f in files)
    except KiegenError as exc:
        run.detail = exc.message
    return run


async def e2e(args: argparse.Namespace, settings: Settings) -> int:
    from kiegen.bootstrap import build

    live = settings.kie_base_url == DEFAULT_KIE_BASE_URL
    if args.real and settings.simulated:
        raise ConfigurationError("kiegen e2e --real needs KIE_API_KEY (your KIE.ai API key)")
    if settings.simulated or (live and not args.real):
        # Spending live credits takes --real; a KIE_API_KEY with another base URL (a separately started
        # `kiegen simulate-kie`) is used as it is.
        settings = attrs.evolve(settings, kie_api_key=None)
        where = "the built-in KIE simulator"
        say("kiegen e2e: against the built-in KIE simulator (use --real for the live API)")
    else:
        where = settings.kie_base_url
        say(f"kiegen e2e: against {settings.kie_base_url}")
    answers: list[CallbackResult] = []
    recorder = Recorder(args.record, source=f"kiegen e2e against {where}") if args.record else None
    if recorder is not None:
        install_log_redaction(*(s for s in (settings.kie_api_key, settings.callback_secret) if s))
    hooks = recorder.hooks() if recorder is not None else None
    async with build(settings, kie_event_hooks=hooks) as client:
        if client.simulator is not None:
            receive = client.receive_callback

            async def counted(url: str, body: bytes) -> CallbackResult:
                if recorder is not None:
                    await recorder.save("callback", body)
                result = await receive(url, body)
                answers.append(result)
                return result

            client.simulator.callback_sink = counted
        image_url = await client.upload(make_png("kiegen-e2e-input"), filename="e2e.png", mime="image/png")
        models = pick_models(client.registry, every_kind=not args.real, named=args.model)
        runs: list[Run] = []
        allow_private = settings.allow_private_urls or client.simulator is not None
        with tempfile.TemporaryDirectory(prefix="kiegen-e2e-") as out:

            async def go(spec: ModelSpec) -> None:
                runs.append(await _one(client, spec, image_url, out, args.timeout, allow_private, settings.user_agent))

            async with anyio.create_task_group() as tg:
                for spec in models:
                    tg.start_soon(go, spec)
    runs.sort(key=lambda r: r.model)
    for run in runs:
        print(f"{'PASS' if run.ok else 'FAIL'} {run.model}: {run.detail}")
    passed = sum(r.ok for r in runs)
    callback_4xx = sum(1 for a in answers if 400 <= a.status < 500)
    not_found = sum(1 for a in answers if a.outcome is CallbackOutcome.UNKNOWN_JOB)
    ttfbs = [r.ttfb for r in runs if r.ttfb is not None]
    totals = [r.total for r in runs if r.total is not None]
    charged = [r.kie_credits for r in runs if r.kie_credits is not None]
    print(f"SUMMARY: {passed}/{len(runs)} passed, {len(runs) - passed} failed")
    print(
        f"METRICS: callback_4xx={callback_4xx} job_not_found={not_found} "
        f"avg_ttfb={_avg(ttfbs)} avg_total_time={_avg(totals)} callbacks={len(answers)} "
        f"kie_credits={sum(charged):g}"
        + ("" if len(charged) == len(runs) else f" (unknown for {len(runs) - len(charged)})")
    )
    if recorder is not None:
        say(f"kiegen e2e: {len(recorder.saved)} recorded shapes in {args.record}")
    return EXIT_OK if runs and passed == len(runs) else EXIT_FAILED


def _avg(values: list[float]) -> str:
    return f"{sum(values) / len(values):.3f}s" if values else "n/a"
