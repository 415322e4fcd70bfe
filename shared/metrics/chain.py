"""Whether the service's event chain still verifies (``shared.chain``), checked in the
background of the worker: the whole chain against its anchors on Kafka, at most once per
``chain_verify_seconds`` (a walk over every stored event is too much for each scrape). A
scrape starts the check when it is due and serves the last result."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Metric
from prometheus_client.core import GaugeMetricFamily

from shared.chain import Verification, read_anchors

if TYPE_CHECKING:
    from shared.runtime.running import Running

log = logging.getLogger(__name__)


class ChainVerification:
    """The last verification of the chain, and a check started in a thread when due."""

    def __init__(self) -> None:
        self.result: Verification | None = None
        self.verified_at: float | None = None
        self.finished_at: float | None = None
        self.started_at: float | None = None
        self._lock = threading.Lock()

    def due(self, every: float) -> bool:
        with self._lock:
            if self.started_at is not None and self.finished_at is None:
                return False  # a check runs
            if self.finished_at is not None and time.time() - self.finished_at < every:
                return False
            self.started_at, self.finished_at = time.time(), None
            return True

    def check(self, runtime: Running) -> None:
        chain = runtime.chain
        try:
            if chain is not None:
                anchors = read_anchors(runtime.infra.settings.kafka_bootstrap, chain.service)
                self.result, self.verified_at = chain.verify(anchors), time.time()
                if not self.result.intact:
                    log.error(
                        "event chain does not verify",
                        extra={
                            "problem": self.result.problem,
                            "notification_id": self.result.notification_id,
                        },
                    )
        except Exception as error:  # the database or Kafka away: checked again when due
            log.warning("event chain not verified", extra={"error": type(error).__name__})
        finally:
            with self._lock:
                self.finished_at = time.time()

    def part(self, runtime: Running) -> Iterator[Metric]:
        if self.due(runtime.infra.settings.chain_verify_seconds):
            threading.Thread(
                target=self.check, args=(runtime,), name="chain-verification", daemon=True
            ).start()
        result = self.result
        if result is None:
            return
        yield GaugeMetricFamily(
            "outreach_chain_verification_failed",
            "1 if the last verification of the event chain found a problem.",
            0 if result.intact else 1,
        )
        yield GaugeMetricFamily(
            "outreach_chain_verified_events",
            "Stored events the last verification of the event chain checked.",
            result.verified,
        )
        if self.verified_at is not None:
            yield GaugeMetricFamily(
                "outreach_chain_last_verification_timestamp_seconds",
                "When the event chain was last verified (Unix time).",
                self.verified_at,
            )
