"""The demo's data (all people, addresses and numbers invented): what ``demo.py`` loads
into the running services."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

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


DEMO_VISIT_CUSTOMER = "Erika Beispiel"
"""The demo person whose home visit is announced (once she is on the planning board)."""


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
    "ursula.brandt": "frau",
}
"""How letters address the demo staff (``name_only`` for anyone not listed)."""

EXTRA_STAFF: dict[str, tuple[str, str]] = {"tobias.krueger": ("Tobias Krüger", "kassel")}
"""Demo staff without an account (a provider's coach who never signs in)."""


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
