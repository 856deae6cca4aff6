"""kiegen: reliable AI image generation on KIE.ai.

Validated, paid for, persisted, submitted, completed by callback or polling, and delivered to the person who
asked exactly once. Start with ``kiegen.Client``; see the README.
"""

from kiegen.catalogue import default_registry
from kiegen.client import Client
from kiegen.core.errors import (
    ConfigurationError,
    InsufficientCredits,
    InvalidInput,
    JobNotFound,
    KieError,
    KiegenError,
    Problem,
    QuotaExceeded,
    RecipientGone,
)
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import ModelSpec
from kiegen.core.registry import ModelRegistry
from kiegen.services import Config

__all__ = [
    "Client",
    "Config",
    "ConfigurationError",
    "InsufficientCredits",
    "InvalidInput",
    "Job",
    "JobNotFound",
    "JobStatus",
    "KieError",
    "KiegenError",
    "ModelRegistry",
    "ModelSpec",
    "Problem",
    "QuotaExceeded",
    "RecipientGone",
    "default_registry",
]

__version__ = "0.1.0"
