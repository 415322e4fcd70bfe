"""Load demo data into the running services and print where to look.

Idempotent: a case that exists already (409) is left as it is. All people are invented.
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.auth import Principal, Role, TokenCodec  # noqa: E402
from shared.settings import SERVICE_PORTS, ServiceSettings  # noqa: E402

TODAY = date.today()

DEMO_CASES = [
    {
        "district": "kassel",
        "local_office": "mitte",
        "person": {
            "customer_number": "123D000001",
            "name": "Erika Beispiel",
            "address": "Friedrich-Ebert-Straße 12, 34117 Kassel",
            "phone": "0561 000001",
        },
        "reason": "missed_appointments",
        "evidence": {
            "missed_appointments": 2,
            "unanswered_letters": 3,
            "last_contact_on": str(TODAY - timedelta(days=200)),
        },
        "deadline": str(TODAY + timedelta(days=10)),
    },
    {
        "district": "kassel",
        "local_office": "nord",
        "person": {
            "customer_number": "123D000002",
            "name": "Jonas Muster",
            "address": "Holländische Straße 40, 34127 Kassel",
        },
        "reason": "school_leaver_untraced",
        "evidence": {"unanswered_letters": 2, "last_contact_on": str(TODAY - timedelta(days=240))},
    },
    {
        "district": "kassel",
        "local_office": "mitte",
        "person": {
            "customer_number": "123D000003",
            "name": "Aylin Probe",
            "address": "Wilhelmshöher Allee 200, 34119 Kassel",
            "date_of_birth": "1988-05-17",
        },
        "reason": "mail_returned",
        "evidence": {"unanswered_letters": 1, "last_contact_on": str(TODAY - timedelta(days=190))},
        "deadline": str(TODAY + timedelta(days=40)),
    },
    {
        "district": "darmstadt-dieburg",
        "local_office": "dieburg",
        "person": {
            "customer_number": "456E000001",
            "name": "Peter Platzhalter",
            "address": "Marktplatz 3, 64807 Dieburg",
        },
        "reason": "unanswered_invitations",
        "evidence": {"unanswered_letters": 4, "missed_appointments": 2},
    },
]


def token(user: str, role: Role, *districts: str) -> str:
    codec = TokenCodec.from_settings(ServiceSettings())
    return codec.mint(Principal(user=user, role=role, districts=frozenset(districts)))


DEMO_VISIT_CUSTOMER = "Erika Beispiel"
"""The demo person whose home visit is announced (once she is on the planning board)."""


def announce_demo_visit(visits: str) -> str:
    """Announce a home visit for one demo person as soon as she is on Kassel's board.

    Idempotent: a visit announced already (409) is left as it is. Returns what happened.
    """
    worker = token("ow-demo-kassel", Role.OUTREACH_WORKER, "kassel")
    auth = {"Authorization": f"Bearer {worker}"}
    with httpx.Client(base_url=visits, timeout=10) as client:
        entry: dict[str, Any] | None = None
        deadline = time.monotonic() + 30
        while entry is None and time.monotonic() < deadline:
            response = client.get("/board", params={"district": "kassel"}, headers=auth)
            response.raise_for_status()
            sections = response.json()["sections"]
            waiting = [e for name in ("to_plan", "revisits") for e in sections[name]]
            entry = next((e for e in waiting if e["name"] == DEMO_VISIT_CUSTOMER), None)
            if entry is None:
                if any(e["name"] == DEMO_VISIT_CUSTOMER for e in sections["announced"]):
                    return "announced already"
                time.sleep(0.5)
        if entry is None:
            return "not on the board yet (try again in a moment)"
        response = client.post(
            "/visits",
            json={
                "case_id": entry["case_id"],
                "workers": ["ow-demo-kassel", "ow-demo-kassel-2"],
                "purpose": "first_contact",
                "window": {
                    "start": str(TODAY + timedelta(days=7)),
                    "end": str(TODAY + timedelta(days=9)),
                },
            },
            headers=auth,
        )
        if response.status_code == 409:
            return "announced already"
        response.raise_for_status()
        return f"announced: visit {response.json()['visit_id']}"


def main() -> int:
    contacts = f"http://127.0.0.1:{SERVICE_PORTS['contacts']}"
    visits = f"http://127.0.0.1:{SERVICE_PORTS['visits']}"
    tokens = {
        "kassel": token("cm-demo-kassel", Role.CASE_MANAGER, "kassel"),
        "darmstadt-dieburg": token("cm-demo-dadi", Role.CASE_MANAGER, "darmstadt-dieburg"),
    }
    created = 0
    with httpx.Client(base_url=contacts, timeout=10) as client:
        for case in DEMO_CASES:
            auth = {"Authorization": f"Bearer {tokens[str(case['district'])]}"}
            response = client.post("/cases", json=case, headers=auth)
            if response.status_code == 201:
                created += 1
            elif response.status_code != 409:
                print(f"demo case rejected: {response.status_code} {response.text}")
                return 1
    visit = announce_demo_visit(visits)
    lead = token("tl-demo-kassel", Role.TEAM_LEAD, "kassel")
    print(f"\nDemo data: {created} new case(s) (of {len(DEMO_CASES)}).")
    print(f"Home visit for {DEMO_VISIT_CUSTOMER}: {visit}.")
    print("\nTry it (a team lead of Kassel):")
    print(f"  export TOKEN={lead}")
    print(f'  curl -s -H "Authorization: Bearer $TOKEN" "{contacts}/cases?district=kassel"')
    print(f'  curl -s -H "Authorization: Bearer $TOKEN" "{visits}/board?district=kassel"')
    day = TODAY + timedelta(days=7)
    print(
        f'  curl -s -H "Authorization: Bearer $TOKEN" '
        f'"{visits}/agenda?day={day}&worker=ow-demo-kassel"'
    )
    print(f"\nAPI docs: {contacts}/docs  {visits}/docs    AsyncAPI: <service>/asyncapi.json")
    print("Other tokens: .venv/bin/python -m shared.auth mint --user U --role ROLE --district D")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
