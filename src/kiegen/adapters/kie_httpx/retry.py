"""How long to wait before trying a KIE call again: capped exponential backoff with full jitter, or Retry-After.

Pure functions of their inputs (the random source and ``now`` are passed in), so the schedule is testable.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs

__all__ = ["RetryPolicy", "backoff_delay", "parse_retry_after"]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    attempts: int = 4
    """Tries per call, the first included (1 = never retry)."""
    base_delay: float = 0.5
    max_delay: float = 8.0
    """Cap of the exponential backoff (before jitter)."""
    max_retry_after: float = 60.0
    """A server's Retry-After is honoured up to this many seconds; absurd values are capped to it."""
    deadline: float = 60.0
    """Overall limit per call in seconds: attempts, waits and the client-side rate limiter together."""

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.deadline <= 0:
            raise ValueError("RetryPolicy.deadline must be positive")


def backoff_delay(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(retry_number - 1))]."""
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** max(0, retry_number - 1))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, now: datetime, cap: float) -> float | None:
    """Retry-After as delta seconds or an HTTP date, in seconds from ``now``, within [0, cap]. None if unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)
