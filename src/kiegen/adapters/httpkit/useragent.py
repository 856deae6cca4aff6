"""The User-Agent kiegen sends on every outgoing request (KIE's API, result downloads, webhooks).

KIE's file hosts sit behind Cloudflare, which other projects report refusing bare library User-Agents
(``python-httpx/0.27``): kiegen names itself instead. ``KIEGEN_USER_AGENT`` replaces the default.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["DEFAULT_USER_AGENT", "user_agent"]


def _version() -> str:
    try:
        return version("kiegen")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


DEFAULT_USER_AGENT = f"kiegen/{_version()}"


def user_agent(configured: str | None = None) -> str:
    """``configured`` (``KIEGEN_USER_AGENT``) when given and not blank, else ``kiegen/<version>``."""
    return configured.strip() if configured and configured.strip() else DEFAULT_USER_AGENT
