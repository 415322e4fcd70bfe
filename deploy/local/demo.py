"""Load demo data into the running services and print where to look.

The demo staff are the demo users of the local Keycloak (``deploy/keycloak/demo-users.json``):
every request here carries the access token a demo user gets by signing in.

Idempotent: a case that exists already (409) is left as it is. All people are invented.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.local import keycloak_realm as keycloak  # noqa: E402
from deploy.local.demo_data import (  # noqa: E402
    DEMO_CASES,
    DEMO_LETTERHEADS,
    DEMO_PROGRAMME,
    DEMO_PROVIDERS,
    DEMO_VISIT_CUSTOMER,
    TEAM_LEADS,
    TODAY,
)
from deploy.local.prometheus import prometheus_url  # noqa: E402
from shared.settings import LOCAL_REALM, SERVICE_PORTS, StackSettings  # noqa: E402


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
            keycloak.demo_attributes(user, provider),
            keycloak.demo_password(),
            user["firstName"],
            user["lastName"],
        )


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


def load_staff_directory(notifications: str) -> str:
    """The demo districts' letterheads, entered by their team leads (idempotent: ``PUT``);
    then the staff directory read from Keycloak at once (the service reads it on start and
    every few minutes; a district's staff enter it once the district has a letterhead)."""
    with httpx.Client(base_url=notifications, timeout=30) as client:
        leads = {district: token(user) for district, user in TEAM_LEADS.items()}
        for district, letterhead in DEMO_LETTERHEADS.items():
            lead = {"Authorization": f"Bearer {leads[district]}"}
            client.put(f"/letterheads/{district}", json=letterhead, headers=lead).raise_for_status()
        lead = {"Authorization": f"Bearer {next(iter(leads.values()))}"}
        synced = client.post("/ops/staff-sync", headers=lead)
        synced.raise_for_status()
    staff = synced.json()
    return (
        f"{len(DEMO_LETTERHEADS)} letterheads; staff from Keycloak: {staff['listed']} listed, "
        f"{staff['written']} written, skipped {staff['skipped'] or 'none'}"
    )


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


def load_cases(contacts: str) -> int | None:
    """The demo cases (a case that exists already is left as it is); how many are new, or
    ``None`` if one was refused."""
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
                return None
    return created


def web_app_lines() -> list[str]:
    """Where the staff web app is and whom to sign in as, by role."""
    from outreach_web.settings import WebSettings

    return [
        f"\nThe staff web app: {WebSettings().public_url}/ — sign in as any demo user above "
        f"(password {keycloak.demo_password()}):",
        "  katarzyna.nowak (case manager), jonas.becker (team lead), ayse.yilmaz (outreach",
        "  worker; on a phone: /unterwegs), lena.schmidt (coach), piotr.wisniewski (officer)",
    ]


def try_it_lines(urls: dict[str, str]) -> list[str]:
    """How to call the services as the demo staff."""
    contacts, visits, coaching = urls["contacts"], urls["visits"], urls["coaching"]
    sign_in = ".venv/bin/python deploy/local/keycloak.py token"
    auth = '-H "Authorization: Bearer $TOKEN"'
    day = TODAY + timedelta(days=7)
    return [
        "\nTry it (a team lead of Kassel; reads of personal data state their X-Purpose):",
        f"  export TOKEN=$({sign_in} jonas.becker)   # valid 5 minutes",
        f'  curl -s {auth} -H "X-Purpose: case_work" "{contacts}/cases?district=kassel"',
        f'  curl -s {auth} -H "X-Purpose: visit_planning" "{visits}/board?district=kassel"',
        f'  curl -s {auth} -H "X-Purpose: visit_planning" '
        f'"{visits}/agenda?day={day}&worker=ayse.yilmaz"',
        f'  curl -s -H "Authorization: Bearer $TOKEN" "{coaching}/providers?district=kassel"',
        f"\nA coach of Sculpture (provider_coach): export COACH=$({sign_in} lena.schmidt)",
        f'  curl -s -H "Authorization: Bearer $COACH" -H "X-Purpose: coaching" '
        f'"{coaching}/provider/caseload"',
        "\nAn outreach worker of KuBus, which runs the outreach there: "
        f"export PW=$({sign_in} emre.aydin)",
        f'  curl -s -H "Authorization: Bearer $PW" -H "X-Purpose: visit_planning" '
        f'"{visits}/board?district=darmstadt-dieburg"',
        f"\nThe data protection officer: export DPO=$({sign_in} piotr.wisniewski)",
        f'  curl -s -H "Authorization: Bearer $DPO" "{contacts}/dpo/access-log?user=jonas.becker"',
        "  .venv/bin/python -m shared.dpo export <subject> --district kassel --out .local/export",
        f"\nAPI docs: {contacts}/docs  {visits}/docs  {coaching}/docs"
        "    AsyncAPI: <service>/asyncapi.json",
        "Development tokens of any user (HS256, development mode only): "
        ".venv/bin/python -m shared.http.auth mint --user U --role ROLE --district D",
        f"\nPrometheus (every service process, the alert rules): {prometheus_url(StackSettings())}"
        "    metrics of one process: <service>/metrics",
    ]


def print_notifications(notifications: str, contacts: str) -> None:
    if not (ROOT / "services" / "notifications").exists():
        return
    print("\nLetters and e-mail (notifications):")
    for line in show_notifications(notifications, contacts):
        print(f"  {line}")
    print(
        f'  curl -s -H "Authorization: Bearer $TOKEN" '
        f'"{notifications}/notifications?district=kassel"'
    )


def main() -> int:
    urls = {name: f"http://127.0.0.1:{port}" for name, port in SERVICE_PORTS.items()}
    created = load_cases(urls["contacts"])
    if created is None:
        return 1
    directory = load_staff_directory(urls["notifications"])
    visit = announce_demo_visit(urls["visits"])
    registry, providers = load_coaching(urls["coaching"])
    make_provider_outreach_worker("emre.aydin", providers["KuBus e.V."])
    print(f"\nDemo data: {created} new case(s) (of {len(DEMO_CASES)}).")
    print(f"Letterheads and staff directory (notifications): {directory}.")
    print(f"Home visit for {DEMO_VISIT_CUSTOMER}: {visit}.")
    print(f"Coaching providers, coaches and a programme: {registry}.")
    print()
    print("\n".join(keycloak.sign_in_lines(keycloak.KeycloakSettings())))
    print("\n".join(web_app_lines()))
    print("\n".join(try_it_lines(urls)))
    print_notifications(urls["notifications"], urls["contacts"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
