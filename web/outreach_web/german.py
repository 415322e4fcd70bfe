"""Everything the app says, in German: labels of the services' values, dates and times as
Germans write them, and a sentence for every refusal a service can answer with."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

LOCAL_TIME = ZoneInfo("Europe/Berlin")

ROLES = {
    "outreach_worker": "Außendienst",
    "provider_outreach": "Außendienst (Träger)",
    "team_lead": "Teamleitung",
    "case_manager": "Fallmanagement",
    "provider_coach": "Coach (Träger)",
    "data_protection_officer": "Datenschutzbeauftragte/r",
    "management": "Leitung",
}

LABELS: dict[str, dict[str, str]] = {
    "reason": {
        "unanswered_invitations": "Einladungen unbeantwortet",
        "missed_appointments": "Termine versäumt",
        "mail_returned": "Post kommt zurück",
        "school_leaver_untraced": "Schulabgänger/in nicht erreichbar",
        "no_phone_number": "Keine Telefonnummer bekannt",
        "other": "Anderer Grund",
    },
    "channel": {
        "after_announcement_letter": "Nach dem Ankündigungsschreiben",
        "phone": "Telefonisch",
        "home_visit": "Hausbesuch",
        "office_visit": "Vorsprache im Jobcenter",
        "other": "Anders",
    },
    "closed_reason": {
        "contact_lasting": "Kontakt besteht dauerhaft",
        "moved_away": "Verzogen",
        "no_longer_receiving_benefits": "Kein Leistungsbezug mehr",
        "deceased": "Verstorben",
        "other": "Anderer Grund",
    },
    "case_status": {
        "contact_lost": "Kontakt verloren",
        "contact_restored": "Kontakt wiederhergestellt",
        "closed": "Abgeschlossen",
    },
    "purpose": {
        "first_contact": "Erstkontakt",
        "counselling": "Beratung",
        "coaching_measure": "Coaching-Maßnahme",
    },
    "place": {"home": "Zuhause", "neutral_place": "Neutraler Ort"},
    "cancelled_reason": {
        "contact_restored_before_visit": "Person hat sich vorher gemeldet",
        "person_moved": "Person ist verzogen",
        "other": "Anderer Grund",
    },
    "outcome": {
        "met_and_talked": "Angetroffen, Gespräch geführt",
        "talked_at_door": "Gespräch an der Tür",
        "met_elsewhere": "Woanders getroffen",
        "not_met": "Nicht angetroffen",
        "entry_refused": "Kein Einlass gewünscht",
    },
    "need": {
        "debt": "Schulden",
        "threatened_loss_of_housing": "Drohender Wohnungsverlust",
        "health": "Gesundheit",
        "psychosocial_care": "Psychosoziale Betreuung",
        "correspondence": "Post durchsehen",
        "accompanying_to_authorities": "Begleitung zu Ämtern",
        "childcare": "Kinderbetreuung",
        "addiction": "Suchthilfe",
        "other": "Anderes",
    },
    "next_step": {
        "none": "Kein weiterer Schritt",
        "revisit": "Erneuter Besuch",
        "coaching_referral": "Vermittlung an ein Coaching",
        "handover_to_case_manager": "Übergabe ans Fallmanagement",
    },
    "visit_status": {
        "announced": "Angekündigt",
        "cancelled": "Abgesagt",
        "completed": "Durchgeführt",
    },
    "section": {
        "to_plan": "Zu planen",
        "announced": "Angekündigt",
        "overdue": "Überfällig",
        "revisits": "Erneut besuchen",
        "flagged": "Zur Klärung (Teamleitung)",
    },
    "coaching_status": {"requested": "Angefragt", "active": "Läuft", "ended": "Beendet"},
    "extension_reason": {
        "needs_further_stabilisation": "Weitere Stabilisierung nötig",
        "household_situation": "Situation im Haushalt",
        "awaiting_partner_service": "Wartet auf Hilfe eines Partners",
        "other": "Anderer Grund",
    },
    "end_reason": {
        "stabilised": "Stabilisiert",
        "handed_back_to_case_manager": "Zurück ans Fallmanagement",
        "person_declined": "Person möchte nicht (ohne Folgen)",
        "moved": "Verzogen",
        "other": "Anderer Grund",
    },
    "relation": {
        "partner": "Partner/in",
        "child": "Kind",
        "parent": "Elternteil",
        "other_household_member": "Weitere Person im Haushalt",
    },
    "partner": {
        "youth_office": "Jugendamt",
        "debt_counselling": "Schuldnerberatung",
        "addiction_counselling": "Suchtberatung",
        "housing_assistance": "Wohnungshilfe",
        "health_service": "Gesundheitsdienst",
        "other": "Andere Stelle",
    },
    "handover_field": {
        "name": "Name",
        "address": "Anschrift",
        "phone": "Telefon",
        "needs": "Bedarfe",
    },
    "ground": {
        "requested_by_person": "Antrag der Person (Art. 17 DSGVO)",
        "retention_period_ended": "Aufbewahrungsfrist abgelaufen",
        "unlawfully_processed": "Unrechtmäßig verarbeitet",
    },
    "timeline": {
        "ContactLost": "Kontaktverlust gemeldet",
        "ContactRestored": "Kontakt wiederhergestellt",
        "ContactDetailsUpdated": "Kontaktdaten geändert",
        "OutreachCaseClosed": "Fall abgeschlossen",
        "visit_announced": "Besuch angekündigt",
        "visit_rescheduled": "Besuch verlegt",
        "visit_cancelled": "Besuch abgesagt",
        "visit_made": "Besuch durchgeführt",
        "letter_queued": "Brief vorbereitet",
        "letter_held": "Brief angehalten",
        "letter_sent": "Brief im Druckstapel",
        "letter_given_up": "Brief nicht zustellbar",
        "letter_retry_requested": "Brief erneut angestoßen",
        "coach_assigned": "Coach zugewiesen",
        "coaching_ended": "Coaching beendet",
    },
}


def label(kind: str, value: Any) -> str:
    """The German word for a value of the services (the value itself if none is known)."""
    if value is None:
        return "–"
    return LABELS.get(kind, {}).get(str(value), str(value))


def options(kind: str) -> list[tuple[str, str]]:
    return list(LABELS[kind].items())


def _as_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(LOCAL_TIME).date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    if "T" in text:
        return dt.datetime.fromisoformat(text).astimezone(LOCAL_TIME).date()
    return dt.date.fromisoformat(text[:10])


WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


def date_de(value: Any, weekday: bool = False) -> str:
    """``03.12.2026`` (with ``weekday``: ``Do, 03.12.2026``)."""
    day = _as_date(value)
    if day is None:
        return "–"
    text = day.strftime("%d.%m.%Y")
    return f"{WEEKDAYS[day.weekday()]}, {text}" if weekday else text


def moment_de(value: Any) -> str:
    """``03.12.2026, 14:05 Uhr`` in German time."""
    if value is None or value == "":
        return "–"
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(LOCAL_TIME).strftime("%d.%m.%Y, %H:%M Uhr")


def schedule_de(schedule: dict[str, Any]) -> str:
    """A visit's date with its time slot, or its window of days."""
    first, last = schedule.get("first_day"), schedule.get("last_day")
    if first != last:
        return f"zwischen {date_de(first, weekday=True)} und {date_de(last, weekday=True)}"
    text = date_de(first, weekday=True)
    if schedule.get("time_from"):
        text += f", {schedule['time_from'][:5]}–{schedule['time_to'][:5]} Uhr"
    return text


FIELDS = {
    "customer_number": "Kundennummer",
    "name": "Name",
    "address": "Anschrift",
    "phone": "Telefon",
    "date_of_birth": "Geburtsdatum",
    "district": "Bezirk",
    "local_office": "Geschäftsstelle",
    "reason": "Grund",
    "deadline": "Frist",
    "unanswered_letters": "Unbeantwortete Schreiben",
    "missed_appointments": "Versäumte Termine",
    "last_contact_on": "Letzter Kontakt",
    "restored_on": "Datum des Kontakts",
    "channel": "Wie",
    "workers": "Mitarbeitende",
    "date": "Datum",
    "time_slot": "Uhrzeit",
    "window": "Zeitraum",
    "start": "Beginn",
    "end": "Ende",
    "purpose": "Anlass",
    "place": "Ort",
    "place_description": "Beschreibung des Ortes",
    "announced_on": "Versand des Briefes",
    "outcome": "Ergebnis",
    "needs": "Bedarfe",
    "note": "Notiz",
    "completed_on": "Besuchsdatum",
    "next_step": "Nächster Schritt",
    "subject": "Pseudonym der Person",
    "coach": "Coach",
    "held_on": "Datum der Sitzung",
    "relation": "Beziehung",
    "partner": "Stelle",
    "referred_on": "Datum",
    "until": "Neues Ende",
    "ended_on": "Ende",
    "since": "Von",
    "limit": "Anzahl",
    "user": "Benutzer/in",
    "shared_fields": "Freigegebene Angaben",
    "status": "Stand",
    "first_day": "Erster Tag",
    "last_day": "Letzter Tag",
    "time_from": "Uhrzeit (Beginn)",
    "time_to": "Uhrzeit (Ende)",
    "cancelled_reason": "Absagegrund",
    "expected_version": "Stand des Besuchs",
}

MESSAGES = {
    "open_case_exists": "Für diese Kundennummer gibt es in diesem Bezirk schon einen offenen Fall.",
    "case_closed": "Der Fall ist abgeschlossen; er nimmt keine Änderungen mehr an.",
    "contact_already_restored": "Der Kontakt ist bereits als wiederhergestellt erfasst.",
    "date_before_last_contact": "Die Frist liegt vor dem letzten Kontakt. Bitte prüfen Sie "
    "die Daten.",
    "date_in_future": "Das Datum liegt in der Zukunft.",
    "date_out_of_range": "Das Datum liegt außerhalb des erlaubten Zeitraums.",
    "case_not_found": "Diesen Fall gibt es nicht, oder er gehört nicht zu Ihrem Bezirk.",
    "case_not_known": "Dieser Fall ist hier (noch) nicht bekannt.",
    "case_not_on_board": "Die Person steht nicht (mehr) auf Ihrer Planungstafel.",
    "visit_already_announced": "Für diese Person ist bereits ein Besuch angekündigt.",
    "visit_already_completed": "Das Ergebnis dieses Besuchs ist schon erfasst.",
    "visit_cancelled": "Dieser Besuch wurde abgesagt.",
    "visit_changed": "Der Besuch wurde inzwischen geändert.",
    "visit_not_begun": "Der Besuch hat noch nicht begonnen; das Ergebnis kann erst ab dem "
    "angekündigten Tag erfasst werden.",
    "visit_not_found": "Diesen Besuch gibt es nicht.",
    "not_assigned_to_visit": "Nur die eingeteilten Mitarbeitenden oder die Teamleitung "
    "erfassen das Ergebnis.",
    "window_in_past": "Der Besuch oder der Versand des Briefes läge in der Vergangenheit.",
    "invalid_schedule": "Datum und Uhrzeit passen nicht zusammen (Ende vor Beginn?).",
    "invalid_workers": "Bitte eine oder zwei verschiedene Personen für den Besuch eintragen.",
    "invalid_place": "Ein neutraler Ort braucht eine Beschreibung; ein Hausbesuch keine.",
    "concurrent_change": "Jemand hat gleichzeitig geändert. Bitte laden Sie die Seite neu.",
    "coach_at_full_caseload": "Dieser Coach hat keinen freien Platz mehr.",
    "coach_not_found": "Diesen Coach gibt es bei dem Träger nicht.",
    "coach_not_of_provider": "Der Coach gehört nicht zu diesem Träger.",
    "coach_already_assigned": "Dem Coaching ist schon ein Coach zugewiesen.",
    "coaching_already_open": "Für diesen Fall läuft schon ein Coaching.",
    "coaching_ended": "Das Coaching ist beendet.",
    "coaching_not_active": "Das Coaching läuft nicht (mehr).",
    "coaching_not_found": "Dieses Coaching gibt es nicht.",
    "extension_limit_reached": "Der Vertrag erlaubt keine weitere Verlängerung.",
    "extension_needs_team_lead": "Eine Verlängerung entscheidet die Teamleitung.",
    "provider_does_not_serve_district": "Der Träger ist für diesen Bezirk nicht zuständig.",
    "provider_not_found": "Diesen Träger gibt es nicht.",
    "no_outreach_contract": "Ihr Träger hat keinen Auftrag für die aufsuchende Arbeit hier.",
    "legal_hold": "Für diese Person gilt eine Aufbewahrungssperre; sie kann nicht gelöscht werden.",
    "legal_hold_already_placed": "Für diese Person gilt bereits eine Aufbewahrungssperre.",
    "no_legal_hold": "Für diese Person gilt keine Aufbewahrungssperre.",
    "erasure_not_found": "Diese Löschung gibt es nicht.",
    "subject_erased": "Die Daten dieser Person sind gelöscht.",
    "category_not_erasable": "Diese Datenart kann nicht einzeln gelöscht werden.",
    "purpose_required": "Der Zweck des Zugriffs fehlt.",
    "invalid_purpose": "Der Zweck des Zugriffs ist ungültig (Notiz zu lang?).",
    "unauthorized": "Ihre Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an.",
    "forbidden": "Das dürfen Sie mit Ihrer Rolle nicht.",
    "not_found": "Das gibt es nicht, oder es gehört nicht zu Ihrem Bezirk.",
    "view_behind": "Die Daten werden gerade aktualisiert. Bitte versuchen Sie es gleich noch "
    "einmal.",
    "view_busy": "Die Daten werden gerade neu aufgebaut. Bitte versuchen Sie es gleich noch "
    "einmal.",
    "identity_provider_unavailable": "Die Anmeldung ist gerade nicht erreichbar.",
    "service_unavailable": "Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es "
    "gleich noch einmal.",
    "service_unreachable": "Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es "
    "gleich noch einmal.",
    "letterhead_missing": "Für den Bezirk fehlt der Briefkopf.",
    "calendar_link_not_found": "Diesen Kalender-Link gibt es nicht (mehr): vielleicht ist er "
    "schon widerrufen.",
}

BY_STATUS = {
    400: "Die Anfrage war unvollständig.",
    401: MESSAGES["unauthorized"],
    403: MESSAGES["forbidden"],
    404: MESSAGES["not_found"],
    409: "Das geht im jetzigen Zustand nicht.",
    422: "Bitte prüfen Sie Ihre Eingaben.",
}


def field_name(loc: list[Any]) -> str:
    names = [str(p) for p in loc if p not in ("body", "query", "path") and not isinstance(p, int)]
    return FIELDS.get(names[-1], names[-1]) if names else "Eingabe"


def problem_message(status: int, problem: dict[str, Any]) -> str:
    """One sentence a person understands, for a service's refusal."""
    code = str(problem.get("code") or "")
    if code == "lead_time_too_short":
        return (
            f"Der Brief muss mindestens {problem.get('minimum_days')} Tage vor dem Besuch "
            f"verschickt werden; es wären nur {problem.get('lead_days')}."
        )
    if code == "invalid_input" and problem.get("errors"):
        fields = sorted({field_name(e.get("loc", [])) for e in problem["errors"]})
        return "Bitte prüfen Sie: " + ", ".join(fields) + "."
    if code in MESSAGES:
        return MESSAGES[code]
    if status >= 500:
        return "Das hat nicht geklappt. Bitte versuchen Sie es gleich noch einmal."
    return BY_STATUS.get(status, "Das hat nicht geklappt.")


def field_errors(problem: dict[str, Any]) -> dict[str, str]:
    """The fields a refusal names, each with a short German hint."""
    found: dict[str, str] = {}
    for error in problem.get("errors") or []:
        names = [str(p) for p in error.get("loc", []) if p not in ("body", "query", "path")]
        if names:
            found[names[-1]] = "Bitte prüfen."
    if problem.get("field"):
        found[str(problem["field"])] = problem_message(409, problem)
    return found
