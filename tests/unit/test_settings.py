"""The settings of a deployment: its database and where its consumer groups start."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from shared.settings import ServiceSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("OUTREACH_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_a_deployment_uses_the_database_named_after_it(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    assert ServiceSettings(service_name="visits_blue").database == "visits_blue"


def test_a_deployment_can_be_given_a_database_of_another_name(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """A benchmark run: consumer groups named after the run, on a database recreated under
    a fixed name."""
    settings = ServiceSettings(service_name="bench_visits_1a2b3c4d", database_name="bench_visits")

    assert settings.database == "bench_visits"
    assert settings.service_name == "bench_visits_1a2b3c4d"


def test_consumer_groups_start_at_the_beginning_of_their_topics_by_default(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    assert ServiceSettings().consumer_offset_reset == "earliest"


def test_starting_new_consumer_groups_at_the_end_is_refused_outside_development(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """Skipping what a topic held is for benchmark runs only: a deployment that did it would
    never apply the events published before its groups first joined."""
    for name in ("JWT_SECRET", "KEYRING_KEK", "BLIND_INDEX_KEY"):
        clean_environment.setenv(f"OUTREACH_{name}", "x" * 44)

    with pytest.raises(ValidationError, match="OUTREACH_CONSUMER_OFFSET_RESET"):
        ServiceSettings(mode="production", consumer_offset_reset="latest")
