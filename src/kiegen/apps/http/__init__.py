"""The HTTP service: KIE callbacks, a REST API for other services, signed webhooks, health and metrics.

``create_app(client, settings)`` builds the ASGI app around a ``kiegen.Client``; ``python -m kiegen.apps.http`` serves
it with uvicorn from the environment (``kiegen.apps.http.serve``).
"""

from kiegen.apps.http.app import create_app

__all__ = ["create_app"]
