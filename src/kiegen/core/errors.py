"""The one error tree of kiegen.

Every error a caller can see is a ``KiegenError``; third-party exceptions are translated once, at the adapter
that met them, and never cross a port. Each error carries what the caller needs to act on it.

    KiegenError                     (retryable: bool)
    ├── InvalidInput                problems: tuple[Problem, ...]   -- every problem, each naming its field
    ├── KieError                    code, retry_after               -- the KIE API said no, or could not be reached
    │   ├── KieAuthError            401: key missing or invalid
    │   ├── KieOutOfCredits         402: the operator's KIE account is empty (the end user is not charged)
    │   ├── KieRateLimited          429: retryable, honours retry_after
    │   ├── KieTaskNotFound         404 / 422 "recordInfo is null": unknown task (or not visible yet)
    │   ├── KieUnavailable          455, 5xx: retryable
    │   ├── KieRejected             400, 408, 433, 501, 505 and any other definite refusal
    │   └── KieTransportError       the request failed on the wire; ``sent`` says whether it may have arrived
    ├── StoreError
    │   ├── JobNotFound             job_id
    │   ├── ConcurrencyConflict     job_id: another writer moved the job first (retryable)
    │   ├── InsufficientCredits     user_id, balance, needed
    │   ├── QuotaExceeded           user_id, limit: the daily free quota is used up
    │   ├── DuplicateEvent          key: this inbound event (a callback) was stored before
    │   └── LeaseLost               delivery_id: a worker whose lease expired tried to mark a delivery
    ├── DeliveryError
    │   ├── RecipientGone           permanent: bot blocked, chat deleted, webhook answered 410
    │   └── DeliveryDeferred        retryable, with retry_after (throttling, network trouble)
    ├── DownloadFailed              url, host, status: a result file could not be fetched (a CDN's 403, a
    │                               timeout, too large, not an image): not KIE's answer (retryable per case)
    ├── UnsafeURL                   url, reason: a URL kiegen refuses to fetch or post to
    └── ConfigurationError          a setting is missing or malformed (names the variable)
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "ConcurrencyConflict",
    "ConfigurationError",
    "DeliveryDeferred",
    "DeliveryError",
    "DownloadFailed",
    "DuplicateEvent",
    "InsufficientCredits",
    "InvalidInput",
    "JobNotFound",
    "KieAuthError",
    "KieError",
    "KieOutOfCredits",
    "KieRateLimited",
    "KieRejected",
    "KieTaskNotFound",
    "KieTransportError",
    "KieUnavailable",
    "KiegenError",
    "LeaseLost",
    "Problem",
    "QuotaExceeded",
    "RecipientGone",
    "StoreError",
    "UnsafeURL",
]


class KiegenError(Exception):
    """Root of every kiegen error. ``retryable`` says whether the same call may succeed later."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@attrs.frozen(kw_only=True)
class Problem:
    """One thing wrong with an input: the field, the value that was given, what is wrong and how to fix it."""

    field: str
    message: str
    value: object = None
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        return f"{text} ({self.fix})" if self.fix else text


class InvalidInput(KiegenError):
    """The request does not fit the model's schema. Lists every problem, not only the first."""

    def __init__(self, problems: Iterable[Problem], *, model: str | None = None) -> None:
        self.problems = tuple(problems)
        self.model = model
        head = f"invalid input for {model}" if model else "invalid input"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(p.field for p in self.problems)


class KieError(KiegenError):
    """KIE refused or failed a request. ``code`` is KIE's body code (or the HTTP status when there is no body)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class KieAuthError(KieError):
    """401: the KIE API key is missing or invalid. Fix the key; retrying will not help."""


class KieOutOfCredits(KieError):
    """402: the operator's KIE account has no credits left. The end user is never charged for this."""


class KieRateLimited(KieError):
    """429: KIE dropped the request. Retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, code: int | None = 429, retry_after: float | None = None) -> None:
        super().__init__(message, code=code, retryable=True, retry_after=retry_after)


class KieTaskNotFound(KieError):
    """KIE does not know the task (404, or 422 "recordInfo is null"); right after createTask it may be lag."""


class KieUnavailable(KieError):
    """455 maintenance or a 5xx: try again later."""

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code, retryable=True, retry_after=retry_after)


class KieRejected(KieError):
    """A definite refusal (bad request, feature disabled, usage cap, generation failed)."""


class KieTransportError(KieError):
    """The HTTP exchange failed. ``sent`` is False only when the request certainly never left this process,
    which is the one case where createTask may be retried blindly (KIE has no idempotency key)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message, retryable=True)
        self.sent = sent


class StoreError(KiegenError):
    """Storage could not do what was asked."""


class JobNotFound(StoreError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class ConcurrencyConflict(StoreError):
    """Another writer changed the job since it was read; re-read and re-apply."""

    retryable = True

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} was changed concurrently")
        self.job_id = job_id


class InsufficientCredits(StoreError):
    def __init__(self, user_id: str, *, balance: int, needed: int) -> None:
        super().__init__(f"user {user_id!r} has {balance} credits, {needed} needed: top up {needed - balance} or more")
        self.user_id = user_id
        self.balance = balance
        self.needed = needed


class QuotaExceeded(StoreError):
    def __init__(self, user_id: str, *, limit: int) -> None:
        super().__init__(f"user {user_id!r} has used today's {limit} free generations; try again tomorrow")
        self.user_id = user_id
        self.limit = limit


class DuplicateEvent(StoreError):
    """An inbound event with this deduplication key is already stored: it was handled once, and nothing of
    this second copy was written."""

    def __init__(self, key: str) -> None:
        super().__init__(f"event {key!r} was already stored")
        self.key = key


class LeaseLost(StoreError):
    """The delivery's lease expired and another attempt owns it now: this worker must not mark it."""

    def __init__(self, delivery_id: str, attempt: int) -> None:
        super().__init__(f"delivery {delivery_id!r} attempt {attempt} no longer holds its lease")
        self.delivery_id = delivery_id
        self.attempt = attempt


class DeliveryError(KiegenError):
    """A result or notice could not be delivered."""


class RecipientGone(DeliveryError):
    """Permanent: the recipient cannot be reached any more (blocked the bot, chat deleted, 410). Not retried."""


class DeliveryDeferred(DeliveryError):
    """Temporary: try again after ``retry_after`` seconds (or the worker's backoff when None)."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DownloadFailed(KiegenError):
    """A file (a result, an input image) could not be downloaded. ``url`` is shown without query or userinfo;
    ``host`` and ``status`` (None when no answer came) say who refused; ``retryable`` is True for network
    trouble, timeouts, 429 and 5xx, False for other statuses, oversized files and files that are not images."""

    def __init__(self, message: str, *, url: str, host: str | None, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.url = url
        self.host = host
        self.status = status
        self.retryable = retryable


class UnsafeURL(KiegenError):
    """kiegen refuses to fetch from or post to this URL (scheme, host or address not allowed)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refusing URL {url!r}: {reason}")
        self.url = url
        self.reason = reason


class ConfigurationError(KiegenError):
    """A setting is missing or malformed; the message names the variable and the expected form."""
