"""The outreach figures without a database: which event counts what in which month, the
suppression of small cells (and that none can be derived from what is published), the
published rows and their CSV, and the route's answers to its readers and to bad input."""

# No "from __future__ import annotations": FastAPI must resolve the fake view's route.

import csv
import io
import itertools
import random
import uuid
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest
from contacts.api import data_protection, deps, reports
from contacts.reporting import report
from contacts.reporting.figures import AT_MOST, FIGURES, GERMANY, RELATIONS, counted, month_of, part
from contacts.reporting.metrics import figures_part
from contacts.reporting.suppression import HIDDEN, SMALL, Shown, suppress
from fastapi.testclient import TestClient

from shared.contracts import Envelope, Payload
from shared.contracts.coaching import (
    CoachingEnded,
    CoachingEndReason,
    ProgrammeParticipationCompleted,
)
from shared.contracts.contacts import (
    ContactChannel,
    ContactLost,
    ContactLostReason,
    ContactRestored,
    Evidence,
    SealedPerson,
)
from shared.contracts.visits import NextStep, VisitCompleted, VisitOutcome
from shared.http.app import PROBLEM_JSON, http_app
from shared.http.auth import Principal, Role, TokenCodec

pytestmark = pytest.mark.unit

TOKEN = "pii:v1:5f0c7ad2a7a94c5e9c1f0e3d2b1a0f9e:AAAA"


def envelope(payload: Payload, at: datetime, district: str = "kassel") -> Envelope[Payload]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    made: Envelope[Payload] = contract(
        event_id=uuid.uuid4(),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=at,
        producer="test",
        district=district,
        subject=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        payload=payload,
    )
    return made


def lost(reason: ContactLostReason = ContactLostReason.MAIL_RETURNED) -> ContactLost:
    return ContactLost(
        case_id=uuid.uuid4(),
        local_office="mitte",
        person=SealedPerson(customer_number=TOKEN, name=TOKEN, address=TOKEN),
        reason=reason,
        evidence=Evidence(unanswered_letters=1, missed_appointments=0),
        case_manager="cm",
        reported_by="cm",
    )


def completed(outcome: VisitOutcome, consent: bool, on: date) -> VisitCompleted:
    return VisitCompleted(
        visit_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        outcome=outcome,
        contact_made=outcome.contact_made,
        completed_on=on,
        attempt_number=1,
        coaching_referral_consent=consent,
        needs=None,
        next_step=NextStep.NONE,
        recorded_by="ow",
    )


# --- what an event counts -------------------------------------------------------------------


def test_a_contact_lost_counts_in_the_month_it_was_reported_in_germany() -> None:
    # 23:30 UTC on 30 November is half past midnight on 1 December in Germany.
    found = counted(envelope(lost(), datetime(2026, 11, 30, 23, 30, tzinfo=UTC)))

    assert found is not None
    assert found.month == date(2026, 12, 1)
    assert found.figures == ("contacts_lost", "contacts_lost.mail_returned")


def test_a_visit_counts_on_its_own_day_and_reached_only_when_the_person_was_met() -> None:
    at = datetime(2026, 12, 2, 9, tzinfo=UTC)
    door = counted(envelope(completed(VisitOutcome.TALKED_AT_DOOR, True, date(2026, 11, 28)), at))
    refused = counted(
        envelope(completed(VisitOutcome.ENTRY_REFUSED, False, date(2026, 11, 29)), at)
    )

    assert door is not None
    assert refused is not None
    assert (door.month, door.figures) == (
        date(2026, 11, 1),
        ("visits_made", "visits_reached", "coaching_referrals_with_consent"),
    )
    assert (refused.month, refused.figures) == (date(2026, 11, 1), ("visits_made",))


def test_restored_ended_and_completed_count_on_the_day_their_payload_names() -> None:
    at = datetime(2027, 2, 1, 8, tzinfo=UTC)
    restored = ContactRestored(
        case_id=uuid.uuid4(),
        channel=ContactChannel.AFTER_ANNOUNCEMENT_LETTER,
        restored_on=date(2027, 1, 31),
        case_manager="cm",
        recorded_by="cm",
    )
    ended = CoachingEnded(
        coaching_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        reason=CoachingEndReason.PERSON_DECLINED,
        ended_on=date(2027, 1, 15),
        sessions_held=3,
        ended_by="pc",
    )
    done = ProgrammeParticipationCompleted(
        programme_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        completed_on=date(2026, 12, 20),
        completed_by="tl",
    )

    found = [counted(envelope(payload, at)) for payload in (restored, ended, done)]

    assert [(c.month, c.figures) for c in found if c is not None] == [
        (date(2027, 1, 1), ("contact_restored", "contact_restored.after_announcement_letter")),
        (date(2027, 1, 1), ("coachings_ended", "coachings_ended.person_declined")),
        (date(2026, 12, 1), ("programme_completions",)),
    ]


# --- suppression ------------------------------------------------------------------------------


def zero_row(**counts: int) -> dict[str, int]:
    row = dict.fromkeys(FIGURES, 0)
    row.update({name.replace("__", "."): value for name, value in counts.items()})
    return row


def test_a_count_of_one_to_four_is_shown_as_less_than_five_and_zero_as_zero() -> None:
    shown = suppress(zero_row(visits_announced=4, visits_made=5, coaches_assigned=1))

    assert shown["visits_announced"] == SMALL
    assert shown["coaches_assigned"] == SMALL
    assert shown["visits_made"] == 5
    assert shown["coachings_extended"] == 0


def test_a_single_small_part_of_a_total_is_not_left_to_be_derived() -> None:
    # 9 lost = 2 mail returned + 7 missed appointments: with the total and one part shown,
    # the other part would be 9 - 7.
    shown = suppress(
        zero_row(
            contacts_lost=9, contacts_lost__mail_returned=2, contacts_lost__missed_appointments=7
        )
    )

    assert shown["contacts_lost.mail_returned"] == SMALL
    assert shown["contacts_lost.missed_appointments"] == HIDDEN
    assert shown["contacts_lost"] == 9


def test_a_bound_between_figures_does_not_give_a_small_cell_away() -> None:
    # 6 restored = 1 by phone + 5 by a visit, and 5 visits reached the person: a reader who
    # knows the visit restorations are at most the visits reached would find 5 and then 1.
    shown = suppress(
        zero_row(
            contact_restored=6,
            contact_restored__phone=1,
            contact_restored__home_visit=5,
            visits_reached=5,
            visits_made=9,
        )
    )

    assert shown["contact_restored.phone"] == SMALL
    assert attacker_values(shown)["contact_restored.phone"] != {1}


SLACK = 5
"""A hidden cell's values are sought up to the row's largest count and this much more: a
reader who could pin a cell without such a cap can pin it with it (the true row is within)."""


def components(names: Collection[str]) -> list[set[str]]:
    """The cells tied together by a published sum or bound (the reader's equations)."""
    groups: list[set[str]] = [{name} for name in names]
    ties = [(r.total, *r.parts) for r in RELATIONS] + [tuple(pair) for pair in AT_MOST]
    for tie in ties:
        joined = [g for g in groups if g & set(tie)]
        groups = [g for g in groups if not g & set(tie)] + [set().union(*joined)]
    return groups


def consistent(values: Mapping[str, int]) -> bool:
    for relation in RELATIONS:
        cells = (relation.total, *relation.parts)
        if all(c in values for c in cells) and values[relation.total] != sum(
            values[p] for p in relation.parts
        ):
            return False
    return all(
        values[low] <= values[high] for low, high in AT_MOST if low in values and high in values
    )


def attacker_values(shown: Mapping[str, Shown], cap: int = 40) -> dict[str, set[int]]:
    """Every value each hidden cell can take given everything published: found by trying
    every assignment of the hidden cells of a group (1-4 for ``<5``, 5 to ``cap`` for ``x``);
    in a published sum, the one cell the others determine is computed, not tried."""
    possible: dict[str, set[int]] = {}
    for group in components(shown):
        hidden = [n for n in sorted(group) if not isinstance(shown[n], int)]
        if not hidden:
            continue
        known = {n: v for n in group if isinstance(v := shown[n], int)}
        dependent = {}
        for relation in RELATIONS:
            cells = [n for n in (relation.total, *relation.parts) if n in hidden]
            if cells:
                dependent[cells[0]] = relation  # the total if hidden, else a part
        free = [n for n in hidden if n not in dependent]

        def allowed(name: str) -> range:
            return range(1, 5) if shown[name] == SMALL else range(5, cap + 1)

        for values in itertools.product(*(allowed(n) for n in free)):
            candidate = {**known, **dict(zip(free, values, strict=True))}
            for name, relation in dependent.items():
                parts = sum(candidate[p] for p in relation.parts if p != name)
                if name == relation.total:
                    candidate[name] = parts
                else:
                    candidate[name] = candidate[relation.total] - parts
            if all(candidate[n] in allowed(n) for n in dependent) and consistent(candidate):
                for name in hidden:
                    possible.setdefault(name, set()).add(candidate[name])
    return possible


def plausible_row(rng: random.Random) -> dict[str, int]:
    """A row as the month of a small district may look: most parts zero or small."""

    def sparse() -> int:
        return rng.choice([0, 0, 0, 1, 2, 3, 4, 5, 6, 8, 11])

    row = dict.fromkeys(FIGURES, 0)
    for relation in RELATIONS:
        for name in rng.sample(relation.parts, k=rng.randint(0, 3)):
            row[name] = sparse()
        row[relation.total] = sum(row[p] for p in relation.parts)
    home = row[part("contact_restored", ContactChannel.HOME_VISIT)]
    row["visits_reached"] = home + rng.choice([0, 0, 1, 3, 5])
    row["visits_made"] = row["visits_reached"] + rng.choice([0, 2, 4, 7])
    row["coaching_referrals_with_consent"] = min(sparse(), row["visits_made"])
    for name in ("visits_announced", "coaches_assigned", "coachings_extended"):
        row[name] = sparse()
    return row


def test_no_suppressed_cell_can_be_derived_from_any_combination_of_the_published_cells() -> None:
    rng = random.Random(17)
    rows = [plausible_row(rng) for _ in range(300)]
    checked = 0
    for row in rows:
        assert consistent(row)
        shown = suppress(row)
        for name, value in shown.items():
            if isinstance(value, int):
                assert value == row[name]
            else:
                assert (value == SMALL) == (0 < row[name] < 5), name
        for name, values in attacker_values(shown, cap=max(row.values()) + SLACK).items():
            assert row[name] in values
            assert len(values) > 1, f"{name} = {values} from {shown}"
            checked += 1
    assert checked > 300  # the rows did hide cells


def test_the_check_finds_what_showing_only_the_small_cells_as_less_than_five_would_give_away() -> (
    None
):
    rng = random.Random(17)
    pinned = 0
    for row in [plausible_row(rng) for _ in range(100)]:
        primary_only = {name: SMALL if 0 < v < 5 else v for name, v in row.items()}
        found = attacker_values(primary_only, cap=max(row.values()) + SLACK)
        pinned += sum(len(values) == 1 for values in found.values())
    assert pinned > 0


def test_no_sum_over_rows_is_published_so_rows_do_not_tie_each_other() -> None:
    found = report.rows(["kassel"], date(2026, 1, 1), date(2026, 3, 1), {}, {})

    assert [sorted(row.cells) for row in found] == [sorted(FIGURES)] * 3
    assert all(relation.total in FIGURES for relation in RELATIONS)


# --- the published rows -----------------------------------------------------------------------


def test_the_rows_cover_every_district_and_month_with_zeros_where_nothing_happened() -> None:
    counts = {("kassel", date(2026, 12, 1)): {"visits_made": 10, "visits_reached": 6}}
    found = report.rows(["kassel", "kreis-borken"], date(2026, 11, 1), date(2027, 1, 1), counts, {})

    assert [(r.district, report.month_text(r.month)) for r in found] == [
        ("kassel", "2026-11"),
        ("kassel", "2026-12"),
        ("kassel", "2027-01"),
        ("kreis-borken", "2026-11"),
        ("kreis-borken", "2026-12"),
        ("kreis-borken", "2027-01"),
    ]
    assert found[1].reach_rate == 0.6
    assert found[0].reach_rate is None  # no visit made
    assert found[3].cells["contacts_lost"] == 0


def test_the_reach_rate_is_not_published_when_the_reached_visits_are_not() -> None:
    cells = suppress(zero_row(visits_made=9, visits_reached=3))

    assert report.reach_rate(cells) is None


def test_the_median_days_need_five_restored_contacts() -> None:
    assert report.median([(3, 2), (10, 2)]) is None
    assert report.median([(3, 2), (10, 2), (40, 1)]) == 10.0
    assert report.median([(3, 2), (10, 2), (40, 2)]) == 10.0
    assert report.median([(1, 3), (7, 3)]) == 4.0


def test_months_run_across_the_turn_of_the_year() -> None:
    assert report.shift(date(2027, 1, 1), -11) == date(2026, 2, 1)
    assert report.shift(date(2026, 12, 1), 1) == date(2027, 1, 1)
    assert len(report.months(date(2025, 12, 1), date(2027, 11, 1))) == 24


def test_the_csv_has_a_column_per_figure_and_shows_the_suppressed_cells_as_published() -> None:
    counts = {("kassel", date(2026, 12, 1)): {"contacts_lost": 2, "contacts_lost.other": 2}}
    text = report.to_csv(report.rows(["kassel"], date(2026, 12, 1), date(2026, 12, 1), counts, {}))
    (header, line) = list(csv.reader(io.StringIO(text)))

    assert header == list(report.CSV_COLUMNS)
    values = dict(zip(header, line, strict=True))
    assert (values["district"], values["month"]) == ("kassel", "2026-12")
    assert values["contacts_lost"] == "<5"
    assert values["contacts_lost.other"] == "<5"
    assert values["visits_made"] == "0"
    assert values["reach_rate"] == ""


# --- the route ------------------------------------------------------------------------------

CODEC = TokenCodec("unit-test-secret-unit-test-secret", "HS256", "outreach-test")


class FakeReport:
    """The view's reads, and the reads it records."""

    def __init__(self, counts: dict[tuple[str, date], dict[str, int]]) -> None:
        self._counts = counts
        self.recorded: list[dict[str, Any]] = []

    def counts(
        self, districts: Collection[str], first: date, last: date
    ) -> dict[tuple[str, date], dict[str, int]]:
        return {
            key: value
            for key, value in self._counts.items()
            if key[0] in districts and first <= key[1] <= last
        }

    def restored_days(
        self, districts: Collection[str], first: date, last: date
    ) -> dict[tuple[str, date], list[tuple[int, int]]]:
        return {}

    def record_read(self, **read: Any) -> None:
        self.recorded.append(read)

    def reads(self, districts: Collection[str], **filters: Any) -> list[dict[str, Any]]:
        """The reads of figures: those recorded, as the table keeps them, whatever the
        filters (the query is tested on PostgreSQL)."""
        self.asked = {"districts": set(districts), **filters}
        return [
            {
                "at": datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
                "user_id": read["user"],
                "role": read["role"],
                "districts": read["districts"],
                "first_month": read["first"],
                "last_month": read["last"],
                "form": read["form"],
            }
            for read in self.recorded
        ]


@pytest.fixture
def fake() -> FakeReport:
    return FakeReport({("kassel", date(2026, 11, 1)): {"visits_made": 7, "visits_reached": 2}})


@pytest.fixture
def client(fake: FakeReport) -> Iterator[TestClient]:
    http = http_app(title="probe", description="")
    http.state.verifier = CODEC
    http.include_router(reports.router)
    http.include_router(data_protection.router)
    http.dependency_overrides[deps._report] = lambda: fake
    with TestClient(http) as test_client:
        yield test_client


def token(role: Role, *districts: str) -> dict[str, str]:
    who = Principal(user="someone", role=role, districts=frozenset(districts or {"kassel"}))
    return {"Authorization": f"Bearer {CODEC.mint(who)}"}


def figures(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    return client.get("/reports/outreach", params=params, headers=headers)


def test_management_reads_the_figures_of_its_districts_and_the_read_is_recorded(
    client: TestClient, fake: FakeReport
) -> None:
    answer = figures(
        client,
        token(Role.MANAGEMENT, "kassel", "kreis-borken"),
        **{"from": "2026-11", "to": "2026-12"},
    )

    assert answer.status_code == 200
    body = answer.json()
    assert [(r["district"], r["month"]) for r in body["rows"]] == [
        ("kassel", "2026-11"),
        ("kassel", "2026-12"),
        ("kreis-borken", "2026-11"),
        ("kreis-borken", "2026-12"),
    ]
    assert body["rows"][0]["figures"]["visits_made"] == 7
    assert body["rows"][0]["figures"]["visits_reached"] == "<5"
    assert body["rows"][0]["reach_rate"] is None
    assert fake.recorded == [
        {
            "user": "someone",
            "role": "management",
            "user_districts": ["kassel", "kreis-borken"],
            "districts": ["kassel", "kreis-borken"],
            "first": date(2026, 11, 1),
            "last": date(2026, 12, 1),
            "form": "json",
        }
    ]


def test_the_figures_come_as_csv_with_the_format_parameter(client: TestClient) -> None:
    answer = figures(client, token(Role.TEAM_LEAD), district="kassel", to="2026-11", format="csv")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(answer.text)))
    assert len(lines) == 1 + 12  # the header and twelve months up to November
    assert lines[-1][:2] == ["kassel", "2026-11"]


@pytest.mark.parametrize("role", [Role.CASE_MANAGER, Role.OUTREACH_WORKER, Role.PROVIDER_COACH])
def test_other_roles_may_not_read_the_figures(client: TestClient, role: Role) -> None:
    assert figures(client, token(role), district="kassel").status_code == 403


def test_another_districts_figures_do_not_exist_for_the_reader(client: TestClient) -> None:
    assert figures(client, token(Role.TEAM_LEAD), district="darmstadt-dieburg").status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13"}, "from"),
        ({"to": "2026-1"}, "to"),
        ({"from": "11/2026"}, "from"),
        ({"to": "0000-01"}, "to"),
        ({"from": "2026-12", "to": "2026-11"}, "from"),
        ({"from": "2024-11", "to": "2026-11"}, "from"),
        ({"district": "kassel mitte"}, "district"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    client: TestClient, fake: FakeReport, params: dict[str, str], field: str
) -> None:
    answer = figures(client, token(Role.TEAM_LEAD), **params)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert [e["loc"] for e in answer.json()["errors"]] == [["query", field]]
    assert f"query.{field}" in answer.json()["detail"]
    assert fake.recorded == []


def test_the_officer_sees_who_read_the_figures_of_their_districts_and_of_no_other(
    client: TestClient, fake: FakeReport
) -> None:
    both = token(Role.MANAGEMENT, "kassel", "kreis-borken")
    assert figures(client, both, **{"from": "2026-11", "format": "csv"}).status_code == 200

    answer = client.get(
        "/dpo/figures-reads",
        params={"user": "someone", "since": "2026-12-01T00:00:00Z"},
        headers=token(Role.DATA_PROTECTION_OFFICER, "kassel"),
    )

    assert answer.status_code == 200
    assert answer.json() == {
        "districts": ["kassel"],
        "reads": [
            {
                "at": "2026-12-03T09:00:00Z",
                "user": "someone",
                "role": "management",
                "districts": ["kassel"],
                "first_month": "2026-11",
                "last_month": month_text_now(),
                "form": "csv",
            }
        ],
    }
    assert fake.asked["districts"] == {"kassel"}
    assert fake.asked["user"] == "someone"
    assert fake.asked["since"] == datetime(2026, 12, 1, tzinfo=UTC)


def month_text_now() -> str:
    return report.month_text(month_of(datetime.now(GERMANY)))


@pytest.mark.parametrize("role", [Role.TEAM_LEAD, Role.MANAGEMENT, Role.CASE_MANAGER])
def test_only_the_officer_sees_who_read_the_figures(client: TestClient, role: Role) -> None:
    assert client.get("/dpo/figures-reads", headers=token(role)).status_code == 403


@pytest.mark.parametrize(
    ("params", "field"),
    [({"since": "gestern"}, "since"), ({"limit": "0"}, "limit"), ({"user": "a b"}, "user")],
)
def test_a_bad_filter_of_the_figures_reads_is_a_problem_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    answer = client.get(
        "/dpo/figures-reads", params=params, headers=token(Role.DATA_PROTECTION_OFFICER)
    )

    assert answer.status_code == 422
    assert [e["loc"] for e in answer.json()["errors"]] == [["query", field]]


# --- the gauges -------------------------------------------------------------------------------


class GaugeView(FakeReport):
    def districts_in(self, month: date, limit: int) -> list[str]:
        return sorted({district for district, m in self._counts if m == month})[:limit]


def test_the_gauges_show_this_months_published_figures_of_districts_with_a_number_above_zero() -> (
    None
):
    december = date(2026, 12, 1)
    view = GaugeView(
        {
            ("kassel", december): {"visits_made": 7, "visits_reached": 5, "coaches_assigned": 2},
            ("kreis-borken", december): {"contacts_lost": 3, "contacts_lost.other": 3},
            ("kassel", date(2026, 11, 1)): {"visits_made": 40},
        }
    )
    part = figures_part(view, today=lambda: datetime(2026, 12, 3, 9, tzinfo=UTC))
    metrics = {metric.name: metric for metric in part()}

    samples = {
        (s.labels["district"], s.labels["figure"]): s.value
        for s in metrics["outreach_figure"].samples
    }
    assert samples[("kassel", "visits_made")] == 7
    assert samples[("kassel", "visits_reached")] == 5
    assert samples[("kassel", "contacts_lost")] == 0
    assert ("kassel", "coaches_assigned") not in samples  # <5
    assert not any(district == "kreis-borken" for district, _ in samples)  # only small counts
    assert [(s.labels, s.value) for s in metrics["outreach_figure_reach_rate"].samples] == [
        ({"district": "kassel"}, round(5 / 7, 3))
    ]
