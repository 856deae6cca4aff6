"""``build(settings, **overrides)``: a ``kiegen.Client`` from settings (``Client.from_settings``), for the apps and
the command line; the factories of single parts are ``kiegen.composition``'s.

    client = build(Settings.from_env())
    async with client:
        ...
"""

from __future__ import annotations

from typing import Any

from kiegen.client import Client
from kiegen.composition import SECRET_FILE, kie_gateway_for, registry_for, sql_store_for
from kiegen.settings import Settings

__all__ = ["SECRET_FILE", "build", "kie_gateway_for", "registry_for", "sql_store_for"]


def build(settings: Settings, **overrides: Any) -> Client:
    """A client from ``settings``; any adapter given in ``overrides`` (``store=``, ``kie=``, ``messengers=``,
    ``clock=``, ``notifier=``, ``workers=``, ``simulator=``, ``kie_event_hooks=``) replaces the one the settings
    would build (``kiegen.composition.client_options``)."""
    return Client.from_settings(settings, **overrides)
