"""How long to wait before trying a KIE call again: capped exponential backoff with full jitter (a server's
Retry-After, read by ``kiegen.adapters.httpkit.parse_retry_after``, wins when present).

Pure functions of their inputs (the random source is passed in), so the schedule is testable.
"""

from __future__ import annotations

import random

import attrs

__all__ = ["RetryPolicy", "backoff_delay"]


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
