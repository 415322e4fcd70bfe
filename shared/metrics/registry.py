"""What one scrape of ``/metrics`` collects.

A process of role ``all`` or ``worker`` is alone on its port: its metrics are the default
registry's (prometheus_client's process and platform metrics, the HTTP and code-path
counters, FastStream's consumer metrics) and the service's scrape-time collector. The server
processes of role ``api`` share one port (``shared.serve``): a scrape reaches any one of
them, so their counters live in files of a directory shared by them
(``PROMETHEUS_MULTIPROC_DIR``, prometheus_client's multiprocess mode) and every scrape adds
up all of them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR))


@contextlib.contextmanager
def share_between_processes(port: int) -> Iterator[Path]:
    """Make the server processes started inside (they inherit the environment) write their
    metrics into one new, empty directory, removed when they stopped; yields it.

    Must be entered before those processes import prometheus_client (it picks its storage at
    import), and once ``port`` is bound: no other server of the port lives then, so the
    directories that earlier ones left (stopped by ``kill -9``) are removed. A directory
    already named in the environment is emptied and used, and left in place: it is the
    operator's.
    """
    named = os.environ.get(MULTIPROCESS_DIR)
    if named:
        directory = Path(named)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        yield directory
        return
    prefix = f"outreach-metrics-{port}-"
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        if stale.is_dir() and not stale.is_symlink() and stale.stat().st_uid == os.getuid():
            shutil.rmtree(stale, ignore_errors=True)
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ[MULTIPROCESS_DIR] = str(directory)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class _ThisProcess(Collector):
    """The default registry's metrics (a registry can hold only distinct names; this one
    is registered as a whole)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(*collectors: Collector) -> CollectorRegistry:
    """The registry a scrape renders: this process's (or every api process's) metrics and
    ``collectors``."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        # prometheus_client leaves this constructor unannotated.
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    for collector in collectors:
        registry.register(collector)
    return registry
