"""HTTP-level faults for the simulator app: what a network and a busy API do to a client.

Faults are queued per route (``"createTask"``, ``"recordInfo"``, ``"credit"``, ``"download-url"``, the three
upload routes, or ``"*"`` for any API route) and each queued fault is served once, in order:

- ``HttpFault.body(code, message)``: HTTP 200 carrying a failure code in the body (KIE's usual way);
- ``HttpFault.status(status, retry_after=...)``: a bare HTTP status (429, 502, 503...), optional Retry-After;
- ``HttpFault.hang(seconds)``: no answer for ``seconds`` (or until the client goes away), then the normal one;
- ``HttpFault.hang_after(seconds)``: the request is carried out (createTask creates the task) but the answer
  never comes: the ambiguous case a client must not retry blindly;
- ``HttpFault.malformed()``: HTTP 200 with a truncated JSON body.

From the command line or settings the same faults are strings, ``ROUTE:KIND[=ARG][,retry-after=V][,times=N]``:
``createTask:body=433``, ``createTask:status=429,retry-after=2``, ``recordInfo:hang=5``, ``*:malformed,times=3``.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable

import attrs

from kiegen.core.tasks import KIE_ENDPOINTS

__all__ = ["FaultKind", "HttpFault", "HttpFaults", "parse_fault"]

ROUTES = KIE_ENDPOINTS


class FaultKind(enum.StrEnum):
    BODY = "body"
    STATUS = "status"
    HANG = "hang"
    HANG_AFTER = "hang-after"
    MALFORMED = "malformed"


@attrs.frozen(kw_only=True)
class HttpFault:
    kind: FaultKind
    code: int = 500
    """The body code (BODY) or the HTTP status (STATUS)."""
    message: str = "simulated fault"
    retry_after: str | None = None
    """Sent verbatim as the Retry-After header: seconds or an HTTP date."""
    seconds: float = 3600.0

    @classmethod
    def body(cls, code: int, message: str = "simulated fault", *, retry_after: str | None = None) -> HttpFault:
        return cls(kind=FaultKind.BODY, code=code, message=message, retry_after=retry_after)

    @classmethod
    def status(cls, status: int, *, retry_after: str | float | None = None) -> HttpFault:
        header = None if retry_after is None else str(retry_after)
        return cls(kind=FaultKind.STATUS, code=status, retry_after=header)

    @classmethod
    def hang(cls, seconds: float = 3600.0) -> HttpFault:
        return cls(kind=FaultKind.HANG, seconds=seconds)

    @classmethod
    def hang_after(cls, seconds: float = 3600.0) -> HttpFault:
        return cls(kind=FaultKind.HANG_AFTER, seconds=seconds)

    @classmethod
    def malformed(cls) -> HttpFault:
        return cls(kind=FaultKind.MALFORMED)


class HttpFaults:
    """Per-route queues of faults, plus a count of the requests each route received (faulted or not)."""

    def __init__(self) -> None:
        self._queues: dict[str, collections.deque[HttpFault]] = collections.defaultdict(collections.deque)
        self.hits: collections.Counter[str] = collections.Counter()

    def push(self, route: str, *faults: HttpFault, times: int = 1) -> None:
        if route != "*" and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}: use one of {', '.join(ROUTES)} or '*'")
        for fault in faults:
            self._queues[route].extend([fault] * times)

    def take(self, route: str) -> HttpFault | None:
        for name in (route, "*"):
            queue = self._queues.get(name)
            if queue:
                return queue.popleft()
        return None

    def pending(self, route: str | None = None) -> int:
        if route is None:
            return sum(len(q) for q in self._queues.values())
        return len(self._queues.get(route, ()))

    def clear(self) -> None:
        self._queues.clear()

    def load(self, specs: Iterable[str]) -> None:
        for spec in specs:
            route, fault, times = parse_fault(spec)
            self.push(route, fault, times=times)


def parse_fault(spec: str) -> tuple[str, HttpFault, int]:
    """``"createTask:status=429,retry-after=2,times=3"`` -> ("createTask", HttpFault.status(429, ...), 3)."""
    head, *options = [part.strip() for part in spec.split(",")]
    route, sep, kind_text = head.partition(":")
    if not sep or not route:
        raise ValueError(f"fault {spec!r}: expected ROUTE:KIND[=ARG], e.g. createTask:body=433")
    kind_name, _, arg = kind_text.partition("=")
    try:
        kind = FaultKind(kind_name.strip().lower())
    except ValueError:
        raise ValueError(f"fault {spec!r}: kind must be one of {', '.join(k.value for k in FaultKind)}") from None
    extra: dict[str, str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq:
            raise ValueError(f"fault {spec!r}: option {option!r} must be KEY=VALUE")
        extra[key.strip().lower().replace("_", "-")] = value.strip()
    unknown = set(extra) - {"retry-after", "times", "message"}
    if unknown:
        raise ValueError(f"fault {spec!r}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        times = int(extra.get("times", "1"))
        fault = HttpFault(
            kind=kind,
            code=int(arg) if arg and kind in (FaultKind.BODY, FaultKind.STATUS) else 500,
            seconds=float(arg) if arg and kind in (FaultKind.HANG, FaultKind.HANG_AFTER) else 3600.0,
            retry_after=extra.get("retry-after"),
            message=extra.get("message", "simulated fault"),
        )
    except ValueError:
        raise ValueError(f"fault {spec!r}: numbers expected for the code, seconds and times") from None
    if route != "*" and route not in ROUTES:
        raise ValueError(f"fault {spec!r}: unknown route {route!r}: use one of {', '.join(ROUTES)} or '*'")
    return route, fault, times
