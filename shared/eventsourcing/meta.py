"""Who caused a change and which request or event it follows from: the ``meta`` of every
domain event (the audit trail's "who", and the trace context the relay and the consumers
continue)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from shared.telemetry import current_trace_carrier


@dataclass(frozen=True)
class CommandContext:
    """Who asked for a change, and which request or event it follows from.

    Every domain event records this as its ``meta``: the audit trail's "who" and the trace
    context that lets the relay and consumers continue the request's trace.
    """

    actor: str
    role: str
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None
    trace: dict[str, str] = field(default_factory=current_trace_carrier)

    def as_meta(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "role": self.role,
            "correlation_id": str(self.correlation_id),
            "causation_id": str(self.causation_id) if self.causation_id else None,
            "trace": dict(self.trace),
        }
