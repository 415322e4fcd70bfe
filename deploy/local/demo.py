"""Load demo data into the running services and print where to look.

The demo staff are the demo users of the local Keycloak (``deploy/keycloak/demo-users.json``):
every request here carries the access token a demo user gets by signing in.

Idempotent: a case that exists already (409) is left as it is. All people are invented.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import keycloak  # deploy/local/keycloak.py

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.settings import LOCAL_REALM, SERVICE_PORTS  # noqa: E402

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


def token(username: str) -> str:
    """The access token of a demo user, signed in with the demo password."""
    return str(
        keycloak.password_token(keycloak.KeycloakSettings(), username, keycloak.demo_password())
    )


def make_provider_outreach_worker(username: str, provider: str) -> None:
    """Name the provider on the demo user's account (its ``provider`` attribute): the
    provider's id exists only once the coaching service registered it."""
    user = next(u for u in keycloak.demo_users() if u["username"] == username)
    with keycloak.Admin() as admin:
        admin.put_user(
            LOCAL_REALM,
            username,
            user["role"],
            {"districts": user["districts"], "provider": [provider]},
            keycloak.demo_password(),
            user["firstName"],
            user["lastName"],
        )


DEMO_VISIT_CUSTOMER = "Erika Beispiel"
"""The demo person whose home visit is announced (once she is on the planning board)."""


def announce_demo_visit(visits: str) -> str:
    """Announce a home visit for one demo person as soon as she is on Kassel's board.

    Idempotent: a visit announced already (409) is left as it is. Returns what happened.
    """
    worker = token("ayse.yilmaz")
    auth = {"Authorization": f"Bearer {worker}", "X-Purpose": "visit_planning"}
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
                "workers": ["ayse.yilmaz", "marek.zielinski"],
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


TEAM_LEADS = {"kassel": "jonas.becker", "darmstadt-dieburg": "sabine.hoffmann"}
TEAM_LEADS["kreis-borken"] = "fatma.celik"


DEMO_LETTERHEADS: dict[str, dict[str, Any]] = {
    "kassel": {
        "jobcenter": "Jobcenter Stadt Kassel",
        "team": "Team Aufsuchende Beratung",
        "address": ["Grüner Weg 2", "34117 Kassel"],
        "phone": "0561 000-7000",
        "email": "aufsuchend@jobcenter-kassel.example",
        "hours": "Mo-Fr 8-16 Uhr",
        "data_protection_officer": "datenschutz@jobcenter-kassel.example",
    },
    "darmstadt-dieburg": {
        "jobcenter": "Kreisagentur für Beschäftigung Darmstadt-Dieburg",
        "team": "Team Aufsuchende Beratung",
        "address": ["Albinistraße 23", "64807 Dieburg"],
        "phone": "06071 000-800",
        "email": "aufsuchend@kfb-dadi.example",
        "hours": "Mo-Do 8-16 Uhr, Fr 8-12 Uhr",
        "data_protection_officer": "datenschutz@kfb-dadi.example",
    },
}
"""How the demo districts sign their letters (invented addresses and numbers)."""

FORMS_OF_ADDRESS: dict[str, str] = {
    "ayse.yilmaz": "frau",
    "marek.zielinski": "herr",
    "jonas.becker": "herr",
    "katarzyna.nowak": "frau",
    "lena.schmidt": "frau",
    "tobias.krueger": "herr",
    "piotr.wisniewski": "herr",
    "mehmet.demir": "herr",
    "sabine.hoffmann": "frau",
    "tomasz.kowalski": "herr",
    "elif.kaya": "frau",
    "emre.aydin": "herr",
    "anna.zielinska": "frau",
    "lukas.wagner": "herr",
    "fatma.celik": "frau",
    "magdalena.lewandowska": "frau",
    "hannah.fischer": "frau",
}
"""How letters address the demo staff (``name_only`` for anyone not listed)."""

EXTRA_STAFF: dict[str, tuple[str, str]] = {"tobias.krueger": ("Tobias Krüger", "kassel")}
"""Demo staff without an account (a provider's coach who never signs in)."""


def demo_staff() -> dict[str, tuple[str, str, str]]:
    """The staff directory of the demo: user id -> (display name, form of address, district),
    from the demo users of the local Keycloak (their names as the identity provider knows
    them). Letters name the staff who come by these names."""
    staff = {
        str(user["username"]): (
            f"{user['firstName']} {user['lastName']}",
            FORMS_OF_ADDRESS.get(str(user["username"]), "name_only"),
            str(user["districts"][0]),
        )
        for user in keycloak.demo_users()
    }
    for user, (name, district) in EXTRA_STAFF.items():
        staff[user] = (name, FORMS_OF_ADDRESS.get(user, "name_only"), district)
    return staff


def load_staff_directory(notifications: str) -> str:
    """The demo districts' letterheads and staff, entered by their team leads (idempotent:
    ``PUT``)."""
    with httpx.Client(base_url=notifications, timeout=10) as client:
        leads = {district: token(user) for district, user in TEAM_LEADS.items()}
        for district, letterhead in DEMO_LETTERHEADS.items():
            lead = {"Authorization": f"Bearer {leads[district]}"}
            client.put(f"/letterheads/{district}", json=letterhead, headers=lead).raise_for_status()
        staff = demo_staff()
        for user, (name, form, district) in staff.items():
            lead = {"Authorization": f"Bearer {leads[district]}"}
            client.put(
                f"/staff/{user}",
                json={"display_name": name, "form_of_address": form, "district": district},
                headers=lead,
            ).raise_for_status()
    return f"{len(DEMO_LETTERHEADS)} letterheads, {len(staff)} members of staff"


DEMO_PROVIDERS: list[dict[str, Any]] = [
    {
        "provider": {
            "name": "Sculpture - Institut für Qualifizierung",
            "districts": ["kassel"],
            "initial_term_months": 4,
            "extension_months": 2,
            "max_extensions": 2,
        },
        "coaches": [
            {
                "coach": "lena.schmidt",
                "display_name": "Lena Schmidt",
                "max_caseload": 8,
                "emergency_line": "0561 000900",
            },
            {
                "coach": "tobias.krueger",
                "display_name": "Tobias Krüger",
                "max_caseload": 6,
                "emergency_line": "0561 000901",
            },
        ],
    },
    {
        "provider": {"name": "KuBus e.V.", "districts": ["darmstadt-dieburg"]},
        "runs_outreach": True,
        "coaches": [
            {
                "coach": "elif.kaya",
                "display_name": "Elif Kaya",
                "max_caseload": 10,
                "emergency_line": "06071 000900",
            }
        ],
    },
]

DEMO_PROGRAMME: dict[str, Any] = {
    "district": "kreis-borken",
    "local_office": "bocholt",
    "title": "Neue Wege: Lebensgeschichten und berufliche Neuorientierung",
    "target_group": "Alleinerziehende mit Berufserfahrung",
    "dates": [str(TODAY + timedelta(days=7 * week)) for week in range(1, 7)],
    "capacity": 12,
    "open_to_neighbouring": True,
    "mobile": False,
}


def load_coaching(coaching: str) -> tuple[str, dict[str, str]]:
    """Providers with their coaches (KuBus also runs the outreach in Darmstadt-Dieburg), and
    a group programme in Kreis Borken.

    Idempotent: a provider or programme of the same name (title) is left as it is, and a
    coach registered already (409) too. Returns what happened, and the providers' ids.
    """
    created: list[str] = []
    providers: dict[str, str] = {}
    with httpx.Client(base_url=coaching, timeout=10) as client:
        for demo in DEMO_PROVIDERS:
            district = demo["provider"]["districts"][0]
            lead = {"Authorization": f"Bearer {token(TEAM_LEADS[district])}"}
            known = client.get("/providers", params={"district": district}, headers=lead)
            known.raise_for_status()
            existing = [p for p in known.json() if p["name"] == demo["provider"]["name"]]
            if existing:
                provider_id = existing[0]["provider_id"]
            else:
                response = client.post("/providers", json=demo["provider"], headers=lead)
                response.raise_for_status()
                provider_id = response.json()["id"]
                created.append(demo["provider"]["name"])
            for coach in demo["coaches"]:
                response = client.post(
                    f"/providers/{provider_id}/coaches", json=coach, headers=lead
                )
                if response.status_code != 409:
                    response.raise_for_status()
                    created.append(coach["coach"])
            if demo.get("runs_outreach"):
                client.put(
                    f"/providers/{provider_id}/outreach/{district}", headers=lead
                ).raise_for_status()
            providers[demo["provider"]["name"]] = provider_id
        lead = {"Authorization": f"Bearer {token(TEAM_LEADS['kreis-borken'])}"}
        known = client.get("/programmes", params={"district": "kreis-borken"}, headers=lead)
        known.raise_for_status()
        if not any(p["title"] == DEMO_PROGRAMME["title"] for p in known.json()):
            client.post("/programmes", json=DEMO_PROGRAMME, headers=lead).raise_for_status()
            created.append("programme in Bocholt")
    return ("created " + ", ".join(created)) if created else "there already", providers


def show_notifications(notifications: str, contacts: str) -> list[str]:
    """Where the demo's letters and e-mails are: the print batch of Kassel (the announced
    visit's letter) saved as a PDF, and the mail sink's folder. For an e-mail, a demo case of
    Darmstadt-Dieburg gets its contact restored by phone (its case manager is told)."""
    lead = {"Authorization": f"Bearer {token('jonas.becker')}"}
    mail = ROOT / ".local" / "mail"
    lines = []
    with httpx.Client(timeout=10) as client:
        cm = {"Authorization": f"Bearer {tokens_dadi()}"}
        queue = client.get(
            f"{contacts}/cases",
            params={"district": "darmstadt-dieburg"},
            headers={**cm, "X-Purpose": "case_work"},
        )
        if queue.status_code == 200 and not any(mail.glob("*.eml")):
            for case in queue.json()["cases"]:
                if case["status"] == "contact_lost":
                    client.post(
                        f"{contacts}/cases/{case['case_id']}/contact-restored",
                        json={"channel": "phone", "restored_on": TODAY.isoformat()},
                        headers=cm,
                    )
                    break
        batches: list[dict[str, Any]] = []
        for _ in range(60):
            response = client.get(
                f"{notifications}/print-batches", params={"district": "kassel"}, headers=lead
            )
            batches = response.json() if response.status_code == 200 else []
            if batches and any(mail.glob("*.eml")):
                break
            time.sleep(0.5)
        for batch in batches[:1]:
            pdf = client.get(
                f"{notifications}{batch['pdf']}",
                headers={**lead, "X-Purpose": "visit_planning: demo print batch"},
            )
            target = ROOT / ".local" / "letters" / Path(batch["pdf"]).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(pdf.content)
            lines.append(f"Print batch of Kassel ({batch['letters']} letter(s)): {target}")
    received = sorted(mail.glob("*.eml"))
    lines.append(
        f"Received e-mail ({len(received)}): {mail}/"
        + (f"  e.g. {received[-1].name}" if received else "")
    )
    return lines


def tokens_dadi() -> str:
    return token("tomasz.kowalski")


def main() -> int:
    contacts = f"http://127.0.0.1:{SERVICE_PORTS['contacts']}"
    visits = f"http://127.0.0.1:{SERVICE_PORTS['visits']}"
    tokens = {"kassel": token("katarzyna.nowak"), "darmstadt-dieburg": tokens_dadi()}
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
    notifications = f"http://127.0.0.1:{SERVICE_PORTS['notifications']}"
    directory = load_staff_directory(notifications)
    visit = announce_demo_visit(visits)
    coaching = f"http://127.0.0.1:{SERVICE_PORTS['coaching']}"
    registry, providers = load_coaching(coaching)
    make_provider_outreach_worker("emre.aydin", providers["KuBus e.V."])
    print(f"\nDemo data: {created} new case(s) (of {len(DEMO_CASES)}).")
    print(f"Letterheads and staff directory (notifications): {directory}.")
    print(f"Home visit for {DEMO_VISIT_CUSTOMER}: {visit}.")
    print(f"Coaching providers, coaches and a programme: {registry}.")
    print()
    print("\n".join(keycloak.sign_in_lines(keycloak.KeycloakSettings())))
    web = f"http://127.0.0.1:{os.environ.get('OUTREACH_WEB_PORT', '8100')}"
    print(f"\nThe staff web app: {web}/ — sign in as any demo user above (password demo):")
    print("  katarzyna.nowak (case manager), jonas.becker (team lead), ayse.yilmaz (outreach")
    print("  worker; on a phone: /unterwegs), lena.schmidt (coach), piotr.wisniewski (officer)")
    sign_in = ".venv/bin/python deploy/local/keycloak.py token"
    print("\nTry it (a team lead of Kassel; reads of personal data state their X-Purpose):")
    print(f"  export TOKEN=$({sign_in} jonas.becker)   # valid 5 minutes")
    auth = '-H "Authorization: Bearer $TOKEN"'
    print(f'  curl -s {auth} -H "X-Purpose: case_work" "{contacts}/cases?district=kassel"')
    print(f'  curl -s {auth} -H "X-Purpose: visit_planning" "{visits}/board?district=kassel"')
    day = TODAY + timedelta(days=7)
    print(
        f'  curl -s {auth} -H "X-Purpose: visit_planning" '
        f'"{visits}/agenda?day={day}&worker=ayse.yilmaz"'
    )
    print(f'  curl -s -H "Authorization: Bearer $TOKEN" "{coaching}/providers?district=kassel"')
    print(f"\nA coach of Sculpture (provider_coach): export COACH=$({sign_in} lena.schmidt)")
    print(
        f'  curl -s -H "Authorization: Bearer $COACH" -H "X-Purpose: coaching" '
        f'"{coaching}/provider/caseload"'
    )
    print(
        "\nAn outreach worker of KuBus, which runs the outreach there: "
        f"export PW=$({sign_in} emre.aydin)"
    )
    print(
        f'  curl -s -H "Authorization: Bearer $PW" -H "X-Purpose: visit_planning" '
        f'"{visits}/board?district=darmstadt-dieburg"'
    )
    print(f"\nThe data protection officer: export DPO=$({sign_in} piotr.wisniewski)")
    print(
        f'  curl -s -H "Authorization: Bearer $DPO" "{contacts}/dpo/access-log?user=jonas.becker"'
    )
    print("  .venv/bin/python -m shared.dpo export <subject> --district kassel --out .local/export")
    print(
        f"\nAPI docs: {contacts}/docs  {visits}/docs  {coaching}/docs"
        "    AsyncAPI: <service>/asyncapi.json"
    )
    print(
        "Development tokens of any user (HS256, development mode only): "
        ".venv/bin/python -m shared.auth mint --user U --role ROLE --district D"
    )
    notifications = f"http://127.0.0.1:{SERVICE_PORTS['notifications']}"
    if (ROOT / "services" / "notifications").exists():
        print("\nLetters and e-mail (notifications):")
        for line in show_notifications(notifications, contacts):
            print(f"  {line}")
        print(
            f'  curl -s -H "Authorization: Bearer $TOKEN" '
            f'"{notifications}/notifications?district=kassel"'
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
