"""``kiegen serve`` and ``kiegen bot``: the reference apps shipped in the package (``kiegen.apps.http``,
``kiegen.apps.telegram``), started from any directory.

Each needs its extra. Without it the verb prints one line naming the extra to install and exits with 2, before
importing anything of the app (so a missing module inside an installed extra is still a real error).
"""

from __future__ import annotations

import importlib.util
import os

from kiegen.cli.output import EXIT_USAGE, say

__all__ = ["EXTRAS", "missing_extra", "run_bot", "serve"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "http": ("starlette", "uvicorn", "prometheus_client", "standardwebhooks"),
    "telegram": ("aiogram",),
}
"""The top-level modules each extra brings (see ``[project.optional-dependencies]`` in pyproject.toml)."""


def missing_extra(extra: str) -> str | None:
    """The first module of ``extra`` that is not installed, or None when all are."""
    for module in EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def _refuse(verb: str, what: str, extra: str, module: str) -> int:
    say(f"kiegen {verb}: {what} needs the {extra} extra ({module} is not installed): pip install 'kiegen[{extra}]'")
    return EXIT_USAGE


def _listen_on(host: str | None, port: int | None) -> None:
    # The apps read their settings from the environment, like every kiegen entry point: the flags are
    # shorthands for the two variables, and this process is the app's only user of them.
    if host is not None:
        os.environ["KIEGEN_HOST"] = host
    if port is not None:
        os.environ["KIEGEN_PORT"] = str(port)


def serve(host: str | None, port: int | None) -> int:
    """The HTTP service until SIGINT/SIGTERM; ``host`` and ``port`` override KIEGEN_HOST and KIEGEN_PORT."""
    module = missing_extra("http")
    if module is not None:
        return _refuse("serve", "the HTTP service", "http", module)
    _listen_on(host, port)
    from kiegen.apps.http.serve import main

    return main()


def run_bot(host: str | None, port: int | None) -> int:
    """The Telegram bot until SIGINT/SIGTERM; ``host`` and ``port`` (its webhook and KIE callbacks, when
    KIEGEN_PUBLIC_URL is set) override KIEGEN_HOST and KIEGEN_PORT."""
    module = missing_extra("telegram")
    if module is not None:
        return _refuse("bot", "the Telegram bot", "telegram", module)
    _listen_on(host, port)
    from kiegen.apps.telegram.__main__ import main

    return main()
