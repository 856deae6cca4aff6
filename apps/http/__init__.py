"""``python -m apps.http``: the HTTP service, ``kiegen.apps.http``."""
