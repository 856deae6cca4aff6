"""The KieGateway over KIE's HTTP API (httpx), its retry policy and rate limiter, and result downloads.

The log redactor lives in the shared toolkit (``kiegen.adapters.httpkit``); it is re-exported here because
the gateway is where most callers meet it.
"""

from kiegen.adapters.httpkit import RedactingFilter, install_log_redaction, redact
from kiegen.adapters.kie_httpx.download import DownloadedFile, download_image, download_results
from kiegen.adapters.kie_httpx.gateway import DEFAULT_BASE_URL, DEFAULT_UPLOAD_URL, HttpxKieGateway
from kiegen.adapters.kie_httpx.limiter import RateLimiter, shared_limiter
from kiegen.adapters.kie_httpx.retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_UPLOAD_URL",
    "DownloadedFile",
    "HttpxKieGateway",
    "RateLimiter",
    "RedactingFilter",
    "RetryPolicy",
    "download_image",
    "download_results",
    "install_log_redaction",
    "redact",
    "shared_limiter",
]
