"""Prometheus metrics of one app, in its own ``CollectorRegistry`` (two apps in one process never mix).

What is counted where:
- callbacks, by the outcome ``handle_callback`` reported, plus callback_4xx and job_not_found: the callback route;
- deliveries by outcome: read at scrape time from the deliverer's ``DeliveryStats``;
- time to first byte (job created -> KIE's task id), total time (created -> terminal) and delivery lag
  (terminal -> delivered): observed by ``MeteredMessenger`` when a delivery is accepted;
- jobs by status: a gauge, refreshed from the database at each scrape (``JobCounter``);
- KIE requests by endpoint and HTTP status: an httpx response hook on the gateway's client (``kie_hooks``);
  with the in-process simulator, its own call counters (status ``simulated``);
- KIE credits charged, by model (``kiegen_kie_credits_total``: what KIE reported, ``Job.kie_credits``),
  counted by ``MeteredMessenger`` when a job is delivered; KIE spend per model per day is
  ``increase(kiegen_kie_credits_total[1d])``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from kiegen.core.jobs import Job, JobStatus
from kiegen.core.tasks import KIE_ENDPOINTS
from kiegen.ports.messaging import Messenger, Receipt
from kiegen.services import CallbackResult, DeliveryStats

__all__ = ["MeteredMessenger", "Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0)


def _endpoint(url: httpx.URL) -> str:
    """The KIE endpoint a request went to, without ids or query (low cardinality)."""
    name = url.path.rstrip("/").rsplit("/", 1)[-1]
    return name if name in _KNOWN_ENDPOINTS else "other"


_KNOWN_ENDPOINTS = frozenset(KIE_ENDPOINTS)


class _StatsCollector(Collector):
    def __init__(self, stats: Callable[[], DeliveryStats | None], simulator_calls: Callable[[], dict[str, int]]):
        self._stats = stats
        self._simulator_calls = simulator_calls

    def collect(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "kiegen_deliveries", "Deliveries handled by this process's deliverer, by outcome", labels=["outcome"]
        )
        stats = self._stats()
        if stats is not None:
            for outcome in ("sent", "deferred", "gone", "failed", "superseded", "lease_lost"):
                deliveries.add_metric([outcome], getattr(stats, outcome))
        yield deliveries
        calls = self._simulator_calls()
        if calls:
            simulated = CounterMetricFamily(
                "kiegen_kie_simulated_calls", "Calls to the in-process KIE simulator, by endpoint", labels=["endpoint"]
            )
            names = {"create_task": "createTask", "get_task": "recordInfo", "upload": "upload", "credits": "credit"}
            for key, value in calls.items():
                simulated.add_metric([names.get(key, key)], value)
            yield simulated


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.delivery_stats: DeliveryStats | None = None
        self.simulator_calls: Callable[[], dict[str, int]] = dict
        r = self.registry
        self.callbacks = Counter("kiegen_callbacks", "KIE callbacks received, by outcome", ["outcome"], registry=r)
        self.callback_4xx = Counter("kiegen_callback_4xx", "KIE callbacks answered with a 4xx status", registry=r)
        self.job_not_found = Counter(
            "kiegen_callback_job_not_found", "KIE callbacks that named no known job (404)", registry=r
        )
        self.callback_seconds = Histogram(
            "kiegen_callback_seconds",
            "Time to answer a KIE callback (stored before the answer)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.kie_requests = Counter(
            "kiegen_kie_requests",
            "HTTP requests to KIE, by endpoint and HTTP status",
            ["endpoint", "status"],
            registry=r,
        )
        self.ttfb = Histogram(
            "kiegen_time_to_first_byte_seconds",
            "From job creation to KIE's task id (jobs observed when delivered)",
            buckets=_JOB_BUCKETS,
            registry=r,
        )
        self.total_time = Histogram(
            "kiegen_total_time_seconds",
            "From job creation to its terminal state (jobs observed when delivered)",
            ["status"],
            buckets=_JOB_BUCKETS,
            registry=r,
        )
        self.delivery_lag = Histogram(
            "kiegen_delivery_lag_seconds",
            "From a job's terminal state to its delivery being accepted",
            buckets=(*_LATENCY_BUCKETS, 30.0, 60.0, 300.0),
            registry=r,
        )
        self.kie_credits = Counter(
            "kiegen_kie_credits",
            "Credits KIE reported charging for finished jobs (counted when delivered), by model",
            ["model"],
            registry=r,
        )
        self.jobs = Gauge("kiegen_jobs", "Jobs in the database, by status", ["status"], registry=r)
        for status in JobStatus:
            self.jobs.labels(status.value)
        r.register(_StatsCollector(lambda: self.delivery_stats, lambda: self.simulator_calls()))

    def observe_callback(self, result: CallbackResult | None, started: float, *, status: int) -> None:
        """One callback answered with ``status`` (``result`` None when it was refused before the service)."""
        outcome = result.outcome.value if result is not None else ("too_large" if status == 413 else "bad_request")
        self.callbacks.labels(outcome).inc()
        if 400 <= status < 500:
            self.callback_4xx.inc()
        if status == 404:
            self.job_not_found.inc()
        self.callback_seconds.observe(time.perf_counter() - started)

    def observe_delivered(self, job: Job, now: datetime) -> None:
        if job.kie_credits is not None and job.kie_credits > 0:
            self.kie_credits.labels(job.model).inc(job.kie_credits)
        if job.submitted_at is not None:
            self.ttfb.observe(max(0.0, (job.submitted_at - job.created_at).total_seconds()))
        if job.completed_at is not None:
            self.total_time.labels(job.status.value).observe(
                max(0.0, (job.completed_at - job.created_at).total_seconds())
            )
            self.delivery_lag.observe(max(0.0, (now - job.completed_at).total_seconds()))

    def set_job_counts(self, counts: dict[str, int]) -> None:
        for status in JobStatus:
            self.jobs.labels(status.value).set(counts.get(status.value, 0))

    def kie_hooks(self) -> dict[str, list[Callable[..., Any]]]:
        """httpx ``event_hooks`` that count the gateway's requests by endpoint and HTTP status."""

        async def on_response(response: httpx.Response) -> None:
            self.kie_requests.labels(_endpoint(response.request.url), str(response.status_code)).inc()

        return {"response": [on_response]}


class MeteredMessenger:
    """Wraps the messenger the deliverer uses, to time the jobs it delivers; changes nothing else."""

    def __init__(self, inner: Messenger, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    @property
    def schemes(self) -> frozenset[str] | None:
        return self.inner.schemes

    def handles(self, recipient: str) -> bool:
        return self.inner.handles(recipient)

    async def deliver(self, job: Job) -> Receipt:
        receipt = await self.inner.deliver(job)
        self.metrics.observe_delivered(job, datetime.now(UTC))
        return receipt
