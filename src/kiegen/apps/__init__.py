"""The reference apps, shipped in the wheel: ``kiegen.apps.http`` (the HTTP service: KIE callbacks, ``/v1``,
health and metrics) and ``kiegen.apps.telegram`` (the Telegram bot). Each needs its extra
(``kiegen[http]``, ``kiegen[telegram]``); importing ``kiegen`` imports neither."""
