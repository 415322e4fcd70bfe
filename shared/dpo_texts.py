"""The German wording of the Art. 15 GDPR answer (``shared.dpo_pdf``): what each service,
purpose, source, right, field, role and stored event is called in the letter to the person.
Declarative data only, kept apart so the layout code reads in one sitting."""

from __future__ import annotations

SERVICES = {
    "contacts": "Ihr Fall in der aufsuchenden Beratung",
    "visits": "Besuche",
    "coaching": "Begleitung durch einen Coach (§ 16k SGB II) und Gruppenangebote",
    "notifications": "Briefe an Sie und Nachrichten über Sie",
}

PURPOSES = {
    "contacts": "Ihr Jobcenter hat den Kontakt zu Ihnen verloren und möchte ihn wieder "
    "aufnehmen, um Sie beraten und unterstützen zu können (aufsuchende Beratung).",
    "visits": "Besuche bei Ihnen zu Hause oder an einem Ort Ihrer Wahl anzukündigen, zu "
    "planen und festzuhalten, was dabei für Ihre Unterstützung nötig ist.",
    "coaching": "Eine Begleitung durch einen Coach eines Trägers zu vermitteln und zu "
    "begleiten (ganzheitliche Betreuung nach § 16k SGB II), wenn Sie das möchten.",
    "notifications": "Ihnen Besuche schriftlich anzukündigen, abzusagen oder den Coach "
    "vorzustellen, und die zuständigen Fachkräfte zu informieren.",
}

SOURCES = (
    "Ihr Jobcenter (die Angaben, die es für die Leistungen nach dem SGB II über Sie führt: "
    "Name, Anschrift, Telefon, Geburtsdatum, Kundennummer, ausgebliebene Termine).",
    "Sie selbst, in Gesprächen bei Besuchen und in der Begleitung.",
    "Der Träger, der Sie begleitet (Termine, Haushaltsangehörige, Vermittlungen an andere "
    "Stellen) \u2013 nur Tatsachen, keine Gesprächsinhalte.",
)

RIGHTS = (
    (
        "Berichtigung (Art. 16 DSGVO)",
        "Sind Angaben falsch oder unvollständig, berichtigen wir sie.",
    ),
    (
        "Löschung (Art. 17 DSGVO, § 84 SGB X)",
        "Sie können verlangen, dass Ihre Daten gelöscht "
        "werden, wenn wir sie nicht mehr brauchen oder nicht hätten verarbeiten dürfen.",
    ),
    (
        "Einschränkung der Verarbeitung (Art. 18 DSGVO)",
        "Sie können verlangen, dass wir Ihre "
        "Daten nur noch speichern und nicht weiter verwenden, etwa solange geprüft wird, ob sie "
        "richtig sind.",
    ),
    (
        "Widerspruch (Art. 21 DSGVO)",
        "Sie können der Verarbeitung aus Gründen, die sich aus "
        "Ihrer besonderen Situation ergeben, widersprechen. Besuche und Begleitung sind ohnehin "
        "freiwillig: Wer sie nicht möchte, hat dadurch keine Nachteile.",
    ),
    (
        "Beschwerde bei einer Aufsichtsbehörde (Art. 77 DSGVO)",
        "Für ein Jobcenter, das Agentur "
        "für Arbeit und Kommune gemeinsam tragen, ist das der Bundesbeauftragte für den "
        "Datenschutz und die Informationsfreiheit (BfDI), Graurheindorfer Straße 153, 53117 Bonn; "
        "für ein Jobcenter in kommunaler Trägerschaft die oder der Landesbeauftragte für den "
        "Datenschutz Ihres Landes.",
    ),
)

LABELS = {
    "name": "Name",
    "address": "Anschrift",
    "phone": "Telefon",
    "date_of_birth": "Geburtsdatum",
    "customer_number": "Kundennummer",
    "district": "Kreis",
    "local_office": "Geschäftsstelle",
    "status": "Stand",
    "reason": "Grund",
    "evidence": "Anhaltspunkte",
    "unanswered_letters": "unbeantwortete Schreiben",
    "missed_appointments": "versäumte Termine",
    "last_contact_on": "letzter Kontakt",
    "deadline": "Frist",
    "case_manager": "zuständige Fachkraft",
    "reported_on": "gemeldet am",
    "closed_reason": "abgeschlossen, weil",
    "person": "Ihre Angaben",
    "state": "Stand",
    "workers": "Wer kommt",
    "purpose": "Zweck",
    "place": "Ort",
    "place_description": "Treffpunkt",
    "first_day": "von",
    "last_day": "bis",
    "time_from": "ab",
    "time_to": "bis",
    "announced_on": "angekündigt am",
    "cancelled_reason": "abgesagt, weil",
    "cancelled_on": "abgesagt am",
    "outcome": "Ergebnis",
    "needs": "Unterstützungsbedarf",
    "note": "Vermerk",
    "coaching_referral_consent": "Einverständnis mit einer Begleitung",
    "next_step": "nächster Schritt",
    "completed_on": "Besuch am",
    "attempt_number": "Besuch Nr.",
    "provider_name": "Träger",
    "coach": "Coach",
    "starts_on": "Beginn",
    "ends_on": "Ende",
    "extensions": "Verlängerungen",
    "sessions_held": "Termine",
    "household": "Haushaltsangehörige",
    "relation": "Beziehung",
    "partner_referrals": "Vermittlungen",
    "partner": "an",
    "referred_on": "am",
    "shared_fields": "weitergegebene Angaben",
    "requested_on": "angefragt am",
    "ended_reason": "beendet, weil",
    "ended_on": "beendet am",
    "title": "Angebot",
    "enrolled_on": "angemeldet am",
    "completed": "abgeschlossen",
    "template": "Art",
    "print_day": "gedruckt am",
    "text": "Text",
    "schedule": "Zeitraum",
}
"""German names of the fields a person is told about; any other field (ids, internal
columns) is left to the technical annex."""

READ_FIELDS = {
    **LABELS,
    "timeline": "Verlauf",
    "letter": "Brief",
    "visit": "Besuch",
    "coaching": "Begleitung",
    "programme_participation": "Gruppenangebot",
    "place_description": "Treffpunkt",
    "personal_data": "gespeicherte Daten",
    "events": "Vorgänge",
    "recipients": "Empfänger",
    "access_log": "Zugriffe",
}
"""German names of what a read revealed (the access log's ``fields``)."""

VALUES = {
    "contact_lost": "Kontakt verloren",
    "contact_restored": "Kontakt wiederhergestellt",
    "closed": "abgeschlossen",
    "unanswered_invitations": "Einladungen blieben unbeantwortet",
    "missed_appointments": "Termine wurden versäumt",
    "mail_returned": "Post kam zurück",
    "school_leaver_untraced": "nach der Schule nicht mehr erreicht",
    "no_phone_number": "keine Telefonnummer bekannt",
    "other": "anderer Grund",
    "contact_lasting": "der Kontakt besteht wieder dauerhaft",
    "moved_away": "Umzug",
    "no_longer_receiving_benefits": "kein Leistungsbezug mehr",
    "to_plan": "zu planen",
    "announced": "angekündigt",
    "completed": "durchgeführt",
    "cancelled": "abgesagt",
    "revisit": "erneuter Besuch",
    "first_contact": "Kontakt wieder aufnehmen",
    "counselling": "Beratung",
    "coaching_measure": "Gespräch über eine Begleitung",
    "home": "bei Ihnen zu Hause",
    "neutral_place": "an einem Ort Ihrer Wahl",
    "contact_restored_before_visit": "Sie hatten sich vorher gemeldet",
    "person_moved": "Umzug",
    "met_and_talked": "angetroffen, Gespräch geführt",
    "talked_at_door": "Gespräch an der Tür",
    "met_elsewhere": "an einem anderen Ort getroffen",
    "not_met": "nicht angetroffen",
    "entry_refused": "kein Einlass gewünscht (ohne Folgen)",
    "debt": "Schulden",
    "threatened_loss_of_housing": "drohender Wohnungsverlust",
    "health": "Gesundheit",
    "psychosocial_care": "psychosoziale Betreuung",
    "correspondence": "Post von Behörden",
    "accompanying_to_authorities": "Begleitung zu Ämtern",
    "childcare": "Kinderbetreuung",
    "addiction": "Suchthilfe",
    "none": "keiner",
    "coaching_referral": "Vermittlung an einen Coach",
    "handover_to_case_manager": "Übergabe an die Fachkraft",
    "requested": "angefragt",
    "assigned": "begonnen",
    "ended": "beendet",
    "stabilised": "Ziel erreicht",
    "handed_back_to_case_manager": "an die Fachkraft zurückgegeben",
    "person_declined": "auf Ihren Wunsch (ohne Folgen)",
    "moved": "Umzug",
    "partner": "Partner/in",
    "child": "Kind",
    "parent": "Elternteil",
    "other_household_member": "weitere Person im Haushalt",
    "youth_office": "Jugendamt",
    "debt_counselling": "Schuldnerberatung",
    "addiction_counselling": "Suchtberatung",
    "housing_assistance": "Wohnungshilfe",
    "health_service": "Gesundheitsdienst",
    "visit_announcement": "Ankündigung eines Besuchs",
    "visit_rescheduled": "neuer Termin für einen Besuch",
    "visit_cancelled": "Absage eines Besuchs",
    "coach_introduction": "Vorstellung des Coachs",
    "sent": "verschickt",
    "queued": "in Vorbereitung",
    "failed": "noch nicht verschickt",
    "given_up": "nicht verschickt",
    True: "ja",
    False: "nein",
}

ROLES = {
    "case_manager": "Fachkraft im Jobcenter",
    "team_lead": "Teamleitung",
    "outreach_worker": "Außendienst",
    "provider_coach": "Coach des Trägers",
    "provider_outreach": "Außendienst des Trägers",
    "data_protection_officer": "Datenschutzbeauftragte/r",
    "management": "Leitung des Jobcenters",
    "provider": "Träger",
    "system": "automatisch",
}

READ_PURPOSES = {
    "case_work": "Bearbeitung Ihres Falls",
    "visit_planning": "Planung eines Besuchs",
    "coaching": "Begleitung",
    "audit": "Datenschutzkontrolle",
    "break_glass": "Notfallzugriff aus einem anderen Kreis",
}

EVENTS = {
    "ContactLost": "Kontaktverlust gemeldet",
    "ContactRestored": "Kontakt wiederhergestellt",
    "ContactDetailsUpdated": "Kontaktdaten geändert",
    "Closed": "Fall abgeschlossen",
    "CoachingNoted": "Begleitung vermerkt",
    "VisitNoted": "Besuch vermerkt",
    "LetterNoted": "Brief vermerkt",
    "Announced": "Besuch angekündigt",
    "Rescheduled": "Besuch verlegt",
    "Cancelled": "Besuch abgesagt",
    "Completed": "Besuch festgehalten",
    "Requested": "angefragt",
    "CoachAssigned": "Coach zugewiesen",
    "Queued": "Brief oder Nachricht vorbereitet",
    "Sent": "verschickt",
}
