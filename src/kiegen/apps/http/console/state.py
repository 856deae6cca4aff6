"""What the console's routes share (``request.app.state.console``)."""

from __future__ import annotations

import attrs
from starlette.templating import Jinja2Templates

from kiegen.apps.http.console.auth import ConsoleKeys
from kiegen.apps.http.console.limits import Window
from kiegen.apps.http.metrics import Metrics
from kiegen.client import Client
from kiegen.ports.console import ConsoleQueries

__all__ = ["ConsoleState"]


@attrs.define(kw_only=True)
class ConsoleState:
    client: Client
    queries: ConsoleQueries
    """The client's store, as the console's queries."""
    keys: ConsoleKeys
    metrics: Metrics
    templates: Jinja2Templates
    login_failures: Window
    """Wrong keys per client address (a login form, a Bearer or a Basic header)."""
    all_login_failures: Window
    """Wrong keys from every address together."""
    requests: Window
    """Console requests per client address."""
    page_size: int = 50
