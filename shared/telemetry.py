"""One OpenTelemetry set-up for every service.

Spans go to an OTLP endpoint when one is configured, and to a JSON-lines file when
``OUTREACH_TRACE_FILE`` is set (used by the end-to-end tests to join spans across processes).
The trace context of the request that recorded a domain event is stored with the event, so
the relay's publish span, the Kafka hop and every consumer continue the same trace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

_configured = False


def configure_telemetry(
    service: str, otlp_endpoint: str | None = None, exporter: SpanExporter | None = None
) -> TracerProvider:
    """Install the tracer provider and the psycopg instrumentation (once per process).

    Must run before any eventsourcing application is created, so its pool is traced.
    """
    global _configured
    provider = trace.get_tracer_provider()
    if _configured and isinstance(provider, TracerProvider):
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace_file = os.environ.get("OUTREACH_TRACE_FILE")
    if trace_file:
        out = open(trace_file, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        provider.add_span_processor(
            SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=_json_line))
        )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    PsycopgInstrumentor().instrument(skip_dep_check=True, enable_commenter=False)
    _configured = True
    return provider


def _json_line(span: ReadableSpan) -> str:
    """One span as a line of JSON.

    Kafka spans carry the message key as a ``bytes`` attribute, which JSON cannot hold
    (``to_json`` would raise and the span would be lost): such values are written as hex.
    """
    attributes = span.attributes or {}
    if any(isinstance(value, bytes) for value in attributes.values()):
        span = ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes={
                key: value.hex() if isinstance(value, bytes) else value
                for key, value in attributes.items()
            },
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
    line: str = span.to_json(indent=None)
    return line + "\n"


def current_trace_carrier() -> dict[str, str]:
    """The W3C trace context of the current span, to be stored with a domain event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def continued_from(carrier: Mapping[str, Any] | None) -> Iterator[None]:
    """Make a stored trace context current for the duration of the block."""
    if not carrier:
        yield
        return
    token = otel_context.attach(propagate.extract(dict(carrier)))
    try:
        yield
    finally:
        otel_context.detach(token)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
