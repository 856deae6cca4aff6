"""Argument parsing and dispatch for ``kiegen``. Each verb runs on anyio (asyncio) and returns an exit code."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from kiegen import __version__
from kiegen.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    job_dict,
    models_json,
    models_text,
    prices_text,
    print_json,
    say,
)
from kiegen.core.errors import ConfigurationError, InvalidInput, JobNotFound, KieError, KiegenError, UnsafeURL
from kiegen.settings import Settings

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exits with 2 too; keep its message, add the hint
        self.print_usage(sys.stderr)
        say(f"{self.prog}: error: {message} (see `{self.prog} --help`)")
        raise SystemExit(EXIT_USAGE)


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number (1-65535)")
    return port


_EPILOG = "Exit codes: 0 ok, 1 generation failed or timed out, 2 bad usage or invalid input."


def _seconds(raw: str) -> float:
    """A ``--timeout``: a positive, finite number of seconds."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{raw!r} is not a positive number of seconds (e.g. 120)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kiegen",
        description="Reliable image generation on KIE.ai. Settings come from the environment (KIE_API_KEY, "
        "KIEGEN_DATABASE_URL, ...; see the README); without KIE_API_KEY the built-in KIE simulator is used.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"kiegen {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser, metavar="VERB")

    models = verbs.add_parser("models", help="list the models by kind, with their inputs, KIE's cost and the price")
    models.add_argument("--json", action="store_true", help="print JSON")
    models.add_argument("--prices", action="store_true", help="a price list: KIE's cost, the end-user price, margin")
    models.add_argument("--enabled", action="store_true", help="only the models offered to people (the bot)")

    gen = verbs.add_parser("generate", help="generate an image or a video and download it", epilog=_EPILOG)
    gen.add_argument("model", help="model id, e.g. z-image (see `kiegen models`)")
    gen.add_argument("--prompt", help="what the image (or video) should show")
    gen.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="any model input")
    gen.add_argument(
        "--image",
        dest="images",
        action="append",
        default=[],
        metavar="PATH_OR_URL",
        help="input image: a local file (uploaded to KIE) or an http(s) URL; repeat for models that take several",
    )
    gen.add_argument(
        "--raw",
        action="store_true",
        help="send --prompt and --set to KIE unvalidated (a model kiegen does not know yet); values parse as JSON",
    )
    gen.add_argument("--out", default="out", help="directory for the results (default: out)")
    gen.add_argument("--timeout", type=_seconds, default=None, help="give up waiting after this many seconds")
    gen.add_argument("--no-wait", action="store_true", help="submit and print the job id; do not wait")
    gen.add_argument("--json", action="store_true", help="print one JSON object")

    jobs = verbs.add_parser("jobs", help="stored jobs")
    job_verbs = jobs.add_subparsers(dest="jobs_verb", required=True, parser_class=_Parser, metavar="VERB")
    listing = job_verbs.add_parser("list", help="the newest jobs first")
    listing.add_argument("--limit", type=int, default=20, help="how many jobs (default: 20)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    show = job_verbs.add_parser("show", help="one job and its deliveries")
    show.add_argument("id", help="the job id (as `kiegen generate` or `kiegen jobs list` printed it)")
    show.add_argument("--json", action="store_true", help="print one JSON object")

    wait = verbs.add_parser("wait", help="wait for a job to finish", epilog=_EPILOG)
    wait.add_argument("id", help="the job id")
    wait.add_argument("--timeout", type=_seconds, default=None, help="give up after this many seconds (exit 1)")
    wait.add_argument("--json", action="store_true", help="print one JSON object")

    verbs.add_parser(
        "migrate",
        help="create or upgrade the database schema",
        description="Bring KIEGEN_DATABASE_URL to the latest schema (the apps also do this when they start).",
    )
    verbs.add_parser("credits", help="the KIE account balance", description="Print the KIE account's credits.")

    serve = verbs.add_parser(
        "serve",
        help="run the HTTP service (needs kiegen[http])",
        description="Serve KIE callbacks, the REST API (/v1/generations), /healthz, /readyz and /metrics with "
        "uvicorn until SIGINT or SIGTERM. Reads KIE_API_KEY, KIEGEN_DATABASE_URL, KIEGEN_PUBLIC_URL, "
        "KIEGEN_API_KEYS, KIEGEN_WEBHOOK_SECRET, KIEGEN_LOG_LEVEL and the rest from the environment.",
    )
    serve.add_argument("--host", help="address to listen on (default: KIEGEN_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port to listen on (default: KIEGEN_PORT, else 8080)")

    bot = verbs.add_parser(
        "bot",
        help="run the Telegram bot (needs kiegen[telegram])",
        description="Run the reference Telegram bot until SIGINT or SIGTERM: long polling, or a webhook with "
        "KIEGEN_TELEGRAM_WEBHOOK=1 (then also KIEGEN_TELEGRAM_WEBHOOK_SECRET and KIEGEN_PUBLIC_URL). Needs "
        "TELEGRAM_BOT_TOKEN; KIEGEN_TELEGRAM_API_URL points it at another Bot API server. With "
        "KIEGEN_PUBLIC_URL it also serves KIE callbacks (and the webhook) on --host/--port.",
    )
    bot.add_argument("--host", help="address for the webhook and KIE callbacks (default: KIEGEN_HOST, else 127.0.0.1)")
    bot.add_argument(
        "--port", type=_port, help="port for the webhook and KIE callbacks (default: KIEGEN_PORT, else 8080)"
    )

    sim = verbs.add_parser(
        "simulate-kie",
        help="serve the KIE simulator over HTTP",
        description="A fake KIE API for tests and demos: point KIEGEN_KIE_BASE_URL and KIEGEN_KIE_UPLOAD_URL at it.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    sim.add_argument("--port", type=_port, default=8090, help="port to listen on (default: 8090)")
    sim.add_argument("--delay", type=float, default=3.0, help="seconds a task takes (default: 3)")
    sim.add_argument("--fail-rate", type=float, default=0.0, help="share of tasks that fail, 0 to 1 (default: 0)")
    sim.add_argument(
        "--callbacks", default="normal", help="normal, lost, duplicate, early or malformed (default: normal)"
    )

    e2e = verbs.add_parser(
        "e2e", help="run every free model (and, simulated, one of each kind: image and video) end to end"
    )
    e2e.add_argument("--real", action="store_true", help="against the live KIE API (needs KIE_API_KEY)")
    e2e.add_argument("--timeout", type=float, default=300.0, help="per job, in seconds (default: 300)")
    e2e.add_argument(
        "--model", action="append", metavar="ID", help="run exactly this model (repeatable; e.g. a video with --real)"
    )
    e2e.add_argument(
        "--record", metavar="DIR", help="save every raw KIE answer and callback as corpus files (secrets redacted)"
    )
    return parser


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


async def _models(args: argparse.Namespace, settings: Settings) -> int:
    from kiegen.bootstrap import registry_for

    registry = registry_for(settings)
    if args.json:
        print_json(models_json(registry, enabled_only=args.enabled))
    elif args.prices:
        print(prices_text(registry, enabled_only=args.enabled))
    else:
        print(models_text(registry, enabled_only=args.enabled))
    return EXIT_OK


async def _jobs(args: argparse.Namespace, settings: Settings) -> int:
    from kiegen.bootstrap import build

    async with build(settings, workers=False) as client:
        if args.jobs_verb == "list":
            jobs = await client.jobs(limit=args.limit)
            if args.json:
                print_json([job_dict(j) for j in jobs])
            else:
                for j in jobs:
                    print(f"{j.id}  {j.status.value:<10} {j.model:<20} {j.created_at:%Y-%m-%d %H:%M}")
            return EXIT_OK
        job = await client.get(args.id)
        if job is None:
            raise JobNotFound(args.id)
        if args.json:
            print_json(job_dict(job))
        else:
            for key, value in job_dict(job).items():
                print(f"{key:<13} {value}")
            for delivery in await client.store.deliveries_for(job.id):
                # pending until a process with a messenger for its recipient's scheme sends it
                print(f"{'delivery':<13} {delivery.recipient} {delivery.status.value} (attempt {delivery.attempt})")
        return EXIT_OK


async def _wait(args: argparse.Namespace, settings: Settings) -> int:
    from kiegen.bootstrap import build

    async with build(settings) as client:
        job = await client.wait(args.id, timeout=args.timeout)
    if args.json:
        print_json(job_dict(job))
    elif job.status.value == "succeeded":
        print(f"{job.id} {job.status.value} {' '.join(job.result_urls)}")
    elif job.terminal:  # failed or timed out: why, in the same line
        code = f" ({job.error_code})" if job.error_code else ""
        print(f"{job.id} {job.status.value}: {job.error_message or 'no reason given'}{code}")
    else:
        print(f"{job.id} {job.status.value}")
        say(f"kiegen: timed out after {args.timeout:g} s: job {job.id} is still {job.status.value}; run this again")
    return EXIT_OK if job.status.value == "succeeded" else EXIT_FAILED


async def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from kiegen.adapters.sqlalchemy import migrate
    from kiegen.settings import redact_url

    await migrate(settings.database_url)
    say(f"database {redact_url(settings.database_url)} is at the latest schema")
    return EXIT_OK


async def _credits(_args: argparse.Namespace, settings: Settings) -> int:
    from kiegen.bootstrap import build

    async with build(settings, workers=False) as client:
        print(await client.credits())
    return EXIT_OK


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from kiegen.adapters.system import SystemClock
    from kiegen.simulator.engine import REQUIRED_INPUTS, CallbackMode, SimulatorConfig

    try:
        from kiegen.simulator.app import run
    except ModuleNotFoundError as exc:  # Starlette and python-multipart come with the [http] extra
        say(f"kiegen simulate-kie needs {exc.name}: pip install 'kiegen[http]'")
        return EXIT_USAGE
    try:
        mode = CallbackMode(args.callbacks)
    except ValueError:
        say(f"kiegen: --callbacks {args.callbacks!r} is not one of {', '.join(m.value for m in CallbackMode)}")
        return EXIT_USAGE
    from kiegen.composition import registry_for
    from kiegen.core.models import Media

    videos = frozenset(spec.id for spec in registry_for(settings) if spec.media is Media.VIDEO)
    config = SimulatorConfig(
        delay_s=args.delay,
        fail_rate=args.fail_rate,
        callbacks=mode,
        required_inputs=REQUIRED_INPUTS,
        video_models=videos,
    )
    say(f"KIE simulator on http://{args.host}:{args.port} (use it with KIEGEN_KIE_BASE_URL and KIEGEN_KIE_UPLOAD_URL)")
    run(args.host, args.port, clock=SystemClock(), config=config, public_url=f"http://{args.host}:{args.port}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb in ("serve", "bot"):  # the apps set up their own logging and read their own settings
        from kiegen.cli.apps import run_bot, serve

        return serve(args.host, args.port) if args.verb == "serve" else run_bot(args.host, args.port)
    _configure_logging(args.verbose)
    try:
        settings = Settings.from_env()
        if args.verb == "simulate-kie":
            return _simulate(args, settings)
        handlers: dict[str, Callable[[argparse.Namespace, Settings], Awaitable[int]]] = {
            "models": _models,
            "jobs": _jobs,
            "wait": _wait,
            "migrate": _migrate,
            "credits": _credits,
        }
        handler: Callable[[argparse.Namespace, Settings], Awaitable[int]]
        if args.verb == "generate":
            from kiegen.cli.generate import generate

            handler = generate
        elif args.verb == "e2e":
            from kiegen.cli.e2e import e2e

            handler = e2e
        else:
            handler = handlers[args.verb]

        async def run() -> int:
            return await handler(args, settings)

        return anyio.run(run)
    except InvalidInput as exc:
        say(f"kiegen: {exc.message}")
        return EXIT_USAGE
    except (ConfigurationError, JobNotFound, UnsafeURL) as exc:
        say(f"kiegen: {exc.message}")
        return EXIT_USAGE
    except KieError as exc:
        say(f"kiegen: KIE refused: {exc.message}")
        return EXIT_FAILED
    except KiegenError as exc:
        say(f"kiegen: {exc.message}")
        return EXIT_FAILED
    except BrokenPipeError:  # the reader went away (`kiegen models --json | head`): nothing left to say
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        say("kiegen: interrupted; jobs already submitted keep running (see `kiegen jobs list`)")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
