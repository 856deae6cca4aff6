"""Budgets against floods: per-source token buckets for callbacks that prove nothing, a per-task damper for
hints, and a budget for the log lines floods would write.

Why. A bare callback (no per-job token) is a hint: it costs a database read and, through ``check_soon``, a
recordInfo call to KIE on the operator's account; a forged one costs a WARNING line. Unbounded, an outsider
turns requests into KIE calls and log volume. What is bounded (numbers are the defaults):

- **per source** (the client address uvicorn reports: the peer, or the forwarded address from a trusted proxy;
  IPv6 by its /64), callbacks answered with anything but 200 spend a token of a bucket of ``burst`` (20)
  refilled at ``rate`` (0.5 per second). A source with an empty bucket gets 429 with Retry-After: at once, before
  any lookup, on the bare path; on the job path after the token check (a callback with a valid per-job token
  is never refused, whoever relays it, and a wrong token costs one HMAC and no I/O).
- **per task**, a hint for a task already hinted within ``hint_interval_s`` (10 s) is answered 202 without
  asking for another check: the check the first one asked for is already due. KIE-signed bare callbacks are
  not damped.
- **log lines** about refused callbacks (``LogBudget``): ``per_window`` (10) lines per ``window_s`` (60 s) per
  kind of line, then one line saying how many were left out.

State is per process and bounded (``max_tracked`` sources and tasks, the least recently seen dropped first).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import attrs

__all__ = ["CallbackThrottle", "LogBudget", "LogBudgetFilter", "source_key"]


def source_key(host: str | None) -> str:
    """What one source is: an IPv4 address, an IPv6 /64 (one host's usual allocation), else the name as given."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@attrs.define
class _Bucket:
    tokens: float
    at: float


class _Lru(OrderedDict[str, object]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def touch(self, key: str, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class CallbackThrottle:
    def __init__(
        self,
        *,
        burst: int = 20,
        rate: float = 0.5,
        hint_interval_s: float = 10.0,
        max_tracked: int = 10_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate = rate
        self.hint_interval_s = hint_interval_s
        self.now = now
        self._buckets = _Lru(max_tracked)
        self._hinted = _Lru(max_tracked)
        self.refused = 0
        """Callbacks answered 429 by this throttle."""
        self.damped = 0
        """Hints answered without asking for another check."""

    def _bucket(self, source: str) -> _Bucket:
        now = self.now()
        bucket = self._buckets.get(source)
        if not isinstance(bucket, _Bucket):
            bucket = _Bucket(tokens=float(self.burst), at=now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets.touch(source, bucket)
        return bucket

    def exhausted(self, source: str) -> bool:
        """Whether ``source`` has no budget left for callbacks that prove nothing."""
        return self._bucket(source).tokens < 1.0

    def spend(self, source: str) -> None:
        """Charge ``source`` for one callback that proved nothing (a hint, a forgery, an unknown job)."""
        bucket = self._bucket(source)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def retry_after_s(self, source: str) -> int:
        """Seconds until ``source`` has one token again."""
        missing = 1.0 - self._bucket(source).tokens
        return max(1, math.ceil(missing / self.rate)) if self.rate > 0 else 3600

    def recently_hinted(self, task_id: str) -> bool:
        """Whether a hint for ``task_id`` was taken within the last ``hint_interval_s``."""
        last = self._hinted.get(task_id)
        return isinstance(last, float) and self.now() - last < self.hint_interval_s

    def remember_hint(self, task_id: str) -> None:
        self._hinted.touch(task_id, self.now())


class LogBudget:
    """At most ``per_window`` lines per ``window_s`` seconds for each kind of line. ``admit(kind)`` answers
    whether a line may be written and, on the first line of a new window, how many were left out before it."""

    def __init__(self, *, per_window: int = 10, window_s: float = 60.0, now: Callable[[], float] = time.monotonic):
        self.per_window = per_window
        self.window_s = window_s
        self.now = now
        self._windows: dict[str, tuple[float, int, int]] = {}
        """kind -> (window start, lines written in it, lines left out since the last line written)."""
        self._guard = threading.Lock()  # logging may be called from threads (uvicorn, SQLAlchemy's pool)

    def admit(self, kind: str) -> tuple[bool, int]:
        with self._guard:
            now = self.now()
            start, written, dropped = self._windows.get(kind, (now, 0, 0))
            if now - start >= self.window_s:
                start, written = now, 0
            if written >= self.per_window:
                self._windows[kind] = (start, written, dropped + 1)
                return False, 0
            self._windows[kind] = (start, written + 1, 0)
            if len(self._windows) > 1000:  # kinds are templates: few; never let them grow without bound
                self._windows.pop(next(iter(self._windows)))
            return True, dropped


class LogBudgetFilter(logging.Filter):
    """A logger filter that spends a ``LogBudget`` per message template at WARNING and below (errors always
    pass); the first line let through after some were left out says how many."""

    def __init__(self, budget: LogBudget) -> None:
        super().__init__()
        self.budget = budget

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        admitted, dropped = self.budget.admit(f"{record.name}:{record.msg}")
        if admitted and dropped:
            record.msg = f"{record.getMessage()} ({dropped} similar lines left out)"
            record.args = None
        return admitted
