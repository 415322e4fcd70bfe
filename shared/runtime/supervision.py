"""The projection runners of a process: one :class:`BatchingProjectionRunner` per projection
of the service's event log, each restarted when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from uuid import UUID

from eventsourcing.application import Application

from shared.eventsourcing.applier import ViewMoved
from shared.eventsourcing.projections import ViewProjection
from shared.eventsourcing.runner import BatchingProjectionRunner
from shared.runtime.background import every

log = logging.getLogger(__name__)

RESTART_BACKOFF_SECONDS = 30.0
"""The longest wait before a runner that keeps failing is started again."""

Status = dict[str, object]


class ProjectionRunners:
    """Runs each of ``projections`` (each writing into a view the process opened once) over
    ``application_class``'s event log, and restarts the one that stops (:meth:`supervise`)."""

    def __init__(
        self,
        application_class: type[Application[UUID]],
        projections: Sequence[ViewProjection],
        env: dict[str, str],
    ) -> None:
        self.application_class = application_class
        self.projections = list(projections)
        self.env = env
        self.runners: list[BatchingProjectionRunner] = []

    def start(self) -> None:
        """Start a runner per projection (each resumes from its view's tracking record)."""
        self.runners = [self._start(projection) for projection in self.projections]

    def _start(self, projection: ViewProjection) -> BatchingProjectionRunner:
        runner = BatchingProjectionRunner(
            application_class=self.application_class, projection=projection, env=self.env
        )
        # Entered here, so that ``__exit__`` at shutdown (or on a restart) stops and joins
        # its threads.
        return runner.__enter__()

    def ready(self) -> bool:
        return all(not runner.is_interrupted.is_set() for runner in self.runners)

    def status(self) -> dict[str, Status]:
        return {runner.projection.name: runner.status() for runner in self.runners}

    def parked(self) -> int:
        return sum(runner.applier.open_parked for runner in self.runners)

    async def stop(self) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Stop every runner and wait for its threads."""
        for runner in self.runners:
            runner.stop()
            runner.__exit__(None, None, None)

    async def supervise(self, stopping: asyncio.Event) -> None:
        """Restart a runner that stopped: the database went away, or its tracking record
        moved (a rebuild ended).

        It resumes from its tracking record, so nothing is skipped or applied twice: the
        batch that failed was rolled back as a whole, and the new runner applies it again.
        While the database stays away, the restarts back off (up to
        :data:`RESTART_BACKOFF_SECONDS`) and only the first failure of a streak is logged
        with its stack trace.
        """
        restarts = [_Restarts() for _ in self.runners]

        async def check() -> None:
            for index, runner in enumerate(self.runners):
                if stopping.is_set() or not runner.is_interrupted.is_set():
                    continue
                if restarts[index].due():
                    await self._restart(index, restarts[index])

        await every(0.5, check, name="projection supervision")(stopping)

    async def _restart(self, index: int, restarts: _Restarts) -> None:
        runner = self.runners[index]
        if restarts.closed is not runner:  # else: its restart failed, try again
            await restarts.close(runner)
        restarts.wait_more()
        try:
            fresh = await asyncio.to_thread(self._start, runner.projection)
        except Exception as error:
            log.warning(
                "projection could not be restarted yet",
                extra={"projection": runner.projection.name, "error_class": type(error).__name__},
            )
            return
        self.runners[index] = fresh


class _Restarts:
    """One runner's restarts: how many failed in a row, and when the next one may start."""

    def __init__(self) -> None:
        self.streak = 0
        self.not_before = 0.0
        self.closed: BatchingProjectionRunner | None = None

    def due(self) -> bool:
        return time.monotonic() >= self.not_before

    async def close(self, runner: BatchingProjectionRunner) -> None:
        """Take the error that stopped ``runner`` (log it) and stop its threads."""
        name = runner.projection.name
        if runner.status()["last_progress_at"]:
            self.streak = 0  # it worked for a while: not the same failure again
        try:
            runner.run_forever(timeout=0)
        except ViewMoved:
            self.streak = -1  # not a failure: start again from the record at once
        except Exception as error:
            if self.streak == 0:
                log.exception("projection stopped; restarting it", extra={"projection": name})
            else:
                log.warning(
                    "projection stopped again",
                    extra={"projection": name, "error_class": type(error).__name__},
                )
        with contextlib.suppress(Exception):
            await asyncio.to_thread(runner.__exit__, None, None, None)
        self.closed = runner

    def wait_more(self) -> None:
        """Back off: half a second after the first failure, doubling up to the maximum."""
        self.not_before = time.monotonic() + min(RESTART_BACKOFF_SECONDS, 2.0**self.streak / 2)
        self.streak += 1
