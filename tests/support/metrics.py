"""Reading what a service process serves on ``/metrics`` and what the stack's Prometheus
makes of it."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from deploy.local.prometheus import prometheus_url
from shared.settings import ServiceSettings


def scrape(client: httpx.Client) -> str:
    """The process's ``/metrics`` (it must answer)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def series(text: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every series of a scrape: its name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels``."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def query(settings: ServiceSettings, path: str, **params: str) -> Any:
    """The ``data`` of a successful answer of the stack's Prometheus HTTP API."""
    url = f"{prometheus_url(settings)}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]
