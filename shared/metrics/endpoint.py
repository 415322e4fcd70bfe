"""``GET /metrics`` (the Prometheus exposition format) on every process of a service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import Response
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, Metric, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.http.app import READINESS_CHECK_SECONDS, ReadinessCheck
from shared.metrics.http import HttpMetrics
from shared.metrics.registry import scrape_registry
from shared.metrics.service import ServiceCollector

if TYPE_CHECKING:
    from shared.runtime.running import Running


class Readiness(Collector):
    """The process's readiness checks (those of ``/readyz``), run just before each scrape."""

    def __init__(self, checks: Mapping[str, ReadinessCheck]) -> None:
        self.checks = checks
        self.results: dict[str, bool] = {}

    async def check(self) -> None:
        async def bounded(check: ReadinessCheck) -> bool:
            try:
                return await asyncio.wait_for(check(), READINESS_CHECK_SECONDS)
            except Exception:  # failing or too slow: not ready, as /readyz says
                return False

        answers = await asyncio.gather(*(bounded(check) for check in self.checks.values()))
        self.results = dict(zip(self.checks, answers, strict=True))

    def collect(self) -> Iterator[Metric]:
        checks = GaugeMetricFamily(
            "outreach_readiness_check", "1 if a readiness check passes.", labels=["check"]
        )
        for name, passed in sorted(self.results.items()):
            checks.add_metric([name], 1 if passed else 0)
        yield checks
        ready = all(self.results.values())
        yield GaugeMetricFamily("outreach_ready", "1 if /readyz answers ready.", 1 if ready else 0)


async def consumer_lags(running: Callable[[], Running | None]) -> dict[str, dict[int, int]]:
    runtime = running()
    if runtime is None:
        return {}
    lags = await asyncio.gather(*(progress.lag() for progress in runtime.consumers))
    return {progress.name: lag for progress, lag in zip(runtime.consumers, lags, strict=True)}


def install_metrics(
    app: FastAPI,
    running: Callable[[], Running | None],
    broker: KafkaBroker,
    *,
    runs_work: bool,
    readiness: Mapping[str, ReadinessCheck],
) -> None:
    """Count the app's HTTP requests and the broker's messages (FastStream's Prometheus
    middleware: received, processed by status, their size and duration, published), and
    serve ``/metrics`` with the process's readiness. A process that runs the work (role
    ``all`` or ``worker``) also serves what the service knows at scrape time
    (:class:`ServiceCollector`); an ``api`` process serves its requests and counters."""
    app.add_middleware(HttpMetrics)
    broker.add_middleware(KafkaPrometheusMiddleware(registry=REGISTRY, app_name="outreach"))
    ready = Readiness(readiness)
    service = ServiceCollector(running) if runs_work else None
    registry = scrape_registry(ready, *([service] if service else []))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await ready.check()
        if service is not None:
            service.consumer_lags = await consumer_lags(running)
        body = await asyncio.to_thread(generate_latest, registry)
        # The text format every Prometheus 2 reads (2.42 is what Debian packages).
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
