"""``GET /metrics`` (the Prometheus exposition format) on every process of a service."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import Response
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from shared.metrics.http import HttpMetrics
from shared.metrics.registry import scrape_registry
from shared.metrics.service import ServiceCollector

if TYPE_CHECKING:
    from shared.runtime import Runtime


async def consumer_lags(holder: Mapping[str, Runtime]) -> dict[str, dict[int, int]]:
    runtime = holder.get("runtime")
    if runtime is None:
        return {}
    lags = await asyncio.gather(*(progress.lag() for progress in runtime.consumers))
    return {progress.name: lag for progress, lag in zip(runtime.consumers, lags, strict=True)}


def install_metrics(
    app: FastAPI,
    holder: Mapping[str, Runtime],
    broker: KafkaBroker,
    *,
    runs_work: bool,
) -> None:
    """Count the app's HTTP requests and the broker's messages (FastStream's Prometheus
    middleware: received, processed by status, their size and duration, published), and
    serve ``/metrics``. A process that runs the work (role ``all`` or ``worker``) also serves
    what the service knows at scrape time (:class:`ServiceCollector`); an ``api`` process
    serves its requests and counters."""
    app.add_middleware(HttpMetrics)
    broker.add_middleware(KafkaPrometheusMiddleware(registry=REGISTRY, app_name="outreach"))
    collector = ServiceCollector(holder) if runs_work else None
    registry = scrape_registry(*([collector] if collector else []))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if collector is not None:
            collector.consumer_lags = await consumer_lags(holder)
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
