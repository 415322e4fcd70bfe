"""The Art. 15 GDPR export as a letter to the person, in German.

Art. 15(1) GDPR says what the answer contains: the personal data, the purposes, the
recipients, the storage period, the rights to rectification, erasure, restriction and
objection, the right to lodge a complaint with a supervisory authority, where the data
came from, and whether decisions are automated. The PDF says that first, in plain German
and in that order; the technical annex (every stored event and every access) follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from shared.dates import german_day
from shared.dpo_texts import (
    EVENTS,
    LABELS,
    PURPOSES,
    READ_FIELDS,
    READ_PURPOSES,
    RIGHTS,
    ROLES,
    SERVICES,
    SOURCES,
    VALUES,
)
from shared.pdf import FAMILY, Document


def german_date(value: Any) -> str:
    """``2026-12-01`` (or a time stamp) as ``1. Dezember 2026``; anything else unchanged."""
    if isinstance(value, str):
        try:
            parsed: date = (
                datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
            )
        except ValueError:
            return value
    elif isinstance(value, date):
        parsed = value
    else:
        return str(value)
    text = german_day(parsed)
    if isinstance(parsed, datetime):
        text += f", {parsed:%H:%M} Uhr (UTC)"
    return text


def shown(value: Any) -> str:
    if isinstance(value, bool) or (isinstance(value, str) and value in VALUES):
        return str(VALUES.get(value, value))
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value) or "\u2013"
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        return german_date(value)
    return "\u2013" if value is None else str(value)


class _Answer:
    def __init__(self, texts: Iterable[str]) -> None:
        self.pdf = Document(texts)
        self.pdf.set_auto_page_break(True, margin=18)
        self.pdf.set_margins(20, 18, 20)
        self.pdf.set_title("Auskunft nach Art. 15 DSGVO")

    def heading(self, text: str, size: int = 13) -> None:
        self.pdf.ln(2)
        self.pdf.set_font(FAMILY, "B", size)
        self.pdf.write_text(0, size * 0.5, text)
        self.pdf.ln(1)

    def para(self, text: str, size: float = 10, style: str = "") -> None:
        self.pdf.set_font(FAMILY, style, size)
        self.pdf.write_text(0, size * 0.5, text)
        self.pdf.ln(1)

    def facts(self, row: Mapping[str, Any], indent: int = 0) -> None:
        """The fields a person is told about, with German names; nested ones indented."""
        for key, value in row.items():
            label = LABELS.get(key)
            if label is None or value in (None, [], {}):
                continue
            self.pdf.set_x(self.pdf.l_margin + indent)
            if isinstance(value, Mapping):
                self.para(f"{label}:", 10, "B")
                self.facts(value, indent + 5)
            elif isinstance(value, list) and value and isinstance(value[0], Mapping):
                self.para(f"{label}:", 10, "B")
                for item in value:
                    self.facts(item, indent + 5)
            else:
                self.pdf.set_font(FAMILY, "", 10)
                self.pdf.write_text(0, 5, f"{label}: {shown(value)}")

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())


def _all_texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _all_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _all_texts(item)


def _addressee(services: Mapping[str, Any]) -> tuple[str | None, str | None]:
    for case in services.get("contacts", {}).get("personal_data", {}).get("cases", []):
        person = case.get("person") or {}
        if person.get("name") and person.get("name") != "[erased]":
            return person.get("name"), person.get("address")
    return None, None


def render_pdf(
    export: Mapping[str, Any], retention: Mapping[str, tuple[int, int]] | None = None
) -> bytes:
    """The answer to the person (see the module's docstring). ``retention``: district ->
    (years the case record is kept, years visit notes are kept) after the last case ended."""
    services: Mapping[str, Any] = export.get("services") or {}
    answer = _Answer(_all_texts(export))
    answer.pdf.add_page()
    districts = sorted({d for part in services.values() for d in part.get("districts", [])})
    _opening(answer, export, services, districts)
    _stored_data(answer, services)
    _purposes(answer, services)
    _recipients(answer, services)
    _retention(answer, districts, retention or {})
    _sources_and_rights(answer)
    answer.pdf.add_page()
    answer.heading("Anhang: technische Angaben", 13)
    answer.para(
        "Jeder gespeicherte Vorgang zu Ihrer Person (wann, was, durch wen) und jeder Zugriff "
        "auf Ihre Daten (wann, wer, welche Angaben, zu welchem Zweck). Fachkräfte sind mit "
        "ihrer Benutzerkennung genannt.",
        9,
    )
    for service, part in services.items():
        answer.heading(SERVICES.get(service, service), 11)
        _annex(answer, part)
    return answer.bytes()


def _opening(
    answer: _Answer,
    export: Mapping[str, Any],
    services: Mapping[str, Any],
    districts: Sequence[str],
) -> None:
    """The addressee, the title, what the answer holds, and what could not be asked."""
    name, address = _addressee(services)
    if name:
        answer.pdf.set_font(FAMILY, "", 10)
        answer.pdf.write_text(0, 5, name)
        for line in (address or "").split(","):
            answer.pdf.write_text(0, 5, line.strip())
        answer.pdf.ln(4)
    answer.heading("Auskunft über Ihre Daten (Art. 15 DSGVO, § 83 SGB X)", 15)
    answer.para(f"Stand: {german_date(export.get('generated_at', ''))}")
    answer.para(
        "Sie haben Auskunft darüber verlangt, welche Daten wir über Sie speichern. Hier "
        "steht, welche Daten das sind, wofür wir sie verwenden, an wen sie gegangen sind, wie "
        "lange wir sie aufbewahren, woher sie stammen und welche Rechte Sie haben. Am Ende "
        "folgt ein technischer Anhang: jeder gespeicherte Vorgang und jeder Zugriff auf Ihre "
        "Daten."
    )
    if districts:
        answer.para(
            "Diese Auskunft umfasst die Daten, die für folgende Jobcenter-Bezirke über Sie "
            f"gespeichert sind: {', '.join(districts)}."
        )
    answer.para(f"Ihr Kennzeichen in unseren Unterlagen (Pseudonym): {export.get('subject')}", 8)
    unavailable = export.get("unavailable") or {}
    if unavailable:
        answer.para(
            "Nicht alle Teile konnten abgefragt werden; diese Auskunft wird nachgereicht für: "
            + ", ".join(SERVICES.get(k, k) for k in unavailable),
            10,
            "B",
        )


def _stored_data(answer: _Answer, services: Mapping[str, Any]) -> None:
    answer.heading("1. Welche Daten wir über Sie speichern")
    if not services:
        answer.para("Wir speichern keine Daten über Sie.")
    for service, part in services.items():
        answer.heading(SERVICES.get(service, service), 11)
        personal = part.get("personal_data") or {}
        rows = [row for group in personal.values() for row in group]
        if not rows:
            answer.para("Keine Daten.")
        for row in rows:
            answer.facts(row)
            answer.pdf.ln(2)


def _purposes(answer: _Answer, services: Mapping[str, Any]) -> None:
    answer.heading("2. Wofür wir Ihre Daten verwenden")
    for service in services:
        answer.para(f"{SERVICES.get(service, service)}: {PURPOSES.get(service, '')}")
    answer.para(
        "Rechtsgrundlage ist Art. 6 Abs. 1 Buchst. e DSGVO in Verbindung mit den §§ 67a ff. "
        "SGB X und den §§ 50 ff. SGB II; Ihre Daten sind Sozialdaten und durch das "
        "Sozialgeheimnis (§ 35 SGB I) geschützt. Ob Sie bei einem Besuch angetroffen wurden "
        "oder uns nicht hereingelassen haben, hat keine Folgen für Ihre Leistungen."
    )


def _recipients(answer: _Answer, services: Mapping[str, Any]) -> None:
    answer.heading("3. An wen Ihre Daten gegangen sind")
    recipients = [r for part in services.values() for r in part.get("recipients") or []]
    if not recipients:
        answer.para("Ihre Daten sind an niemanden außerhalb des Jobcenters gegangen.")
    for recipient in recipients:
        answer.para("\u2013 " + _recipient(recipient))
    answer.para(
        "Innerhalb des Jobcenters sehen Ihre Daten nur die Fachkräfte Ihres Bezirks, die sie "
        "für ihre Aufgabe brauchen; jeder Zugriff wird protokolliert (siehe Anhang). Daten "
        "gehen nicht in Länder außerhalb der EU."
    )


def _retention(
    answer: _Answer, districts: Sequence[str], retention: Mapping[str, tuple[int, int]]
) -> None:
    answer.heading("4. Wie lange wir Ihre Daten aufbewahren")
    for district in districts or ["\u2013"]:
        case_years, note_years = retention.get(district, (5, 1))
        answer.para(
            f"{district}: Ihre Fallakte (Fall, Besuche, Begleitung, Briefe) wird {case_years} "
            f"Jahre nach dem Abschluss Ihres letzten Falls gelöscht, Vermerke von Besuchen "
            f"schon nach {note_years} Jahr{'en' if note_years != 1 else ''}. Solange ein Fall "
            "offen ist, bleibt alles erhalten."
        )


def _sources_and_rights(answer: _Answer) -> None:
    answer.heading("5. Woher Ihre Daten stammen")
    for source in SOURCES:
        answer.para("\u2013 " + source)
    answer.para(
        "Es gibt keine automatisierte Entscheidung und kein Profiling (Art. 22 DSGVO): "
        "Jede Entscheidung trifft ein Mensch."
    )
    answer.heading("6. Ihre Rechte")
    for right, text in RIGHTS:
        answer.para(right, 10, "B")
        answer.para(text)
    answer.para(
        "Wenden Sie sich dafür an Ihr Jobcenter oder an seine Datenschutzbeauftragte. Eine "
        "Kopie Ihrer Daten erhalten Sie mit dieser Auskunft (Art. 15 Abs. 3 DSGVO)."
    )


def _recipient(recipient: Mapping[str, Any]) -> str:
    if recipient.get("channel") == "letter":
        day = recipient.get("print_day") or recipient.get("queued_at")
        return (
            f"Sie selbst, per Brief ({shown(recipient.get('template'))}, "
            f"{german_date(day) if day else 'noch nicht gedruckt'})"
        )
    if recipient.get("channel") == "email":
        kind = ROLES.get(str(recipient.get("recipient_kind")), recipient.get("recipient_kind"))
        when = recipient.get("sent_at") or recipient.get("queued_at")
        return (
            f"{kind} ({recipient.get('address') or recipient.get('recipient')}), eine "
            f"Nachricht ohne Ihre persönlichen Angaben, {german_date(when)}"
        )
    fields = ", ".join(LABELS.get(f, f) for f in recipient.get("fields") or [])
    since = recipient.get("since")
    return (
        f"{recipient.get('recipient')} (Träger, der Sie begleitet): {fields or 'keine Angaben'}"
        + (f", seit {german_date(since)}" if since else "")
    )


def _annex(answer: _Answer, part: Mapping[str, Any]) -> None:
    events: Sequence[Mapping[str, Any]] = part.get("events") or []
    answer.para(f"Gespeicherte Vorgänge ({len(events)})", 9, "B")
    for event in events:
        kind = str(event.get("event_type"))
        role = ROLES.get(str(event.get("role")), event.get("role"))
        answer.para(
            f"{german_date(event.get('occurred_at'))}: {EVENTS.get(kind, kind)} "
            f"({event.get('aggregate')}.{kind}) \u2013 {event.get('actor')} ({role})",
            8,
            "B",
        )
        data = event.get("data") or {}
        details = "; ".join(
            f"{LABELS.get(k, k)}: {shown(v) if not isinstance(v, Mapping) else _flat(v)}"
            for k, v in data.items()
        )
        if details:
            answer.para(details, 8)
    entries: Sequence[Mapping[str, Any]] = part.get("access_log") or []
    answer.para(f"Zugriffe auf Ihre Daten ({len(entries)})", 9, "B")
    for entry in entries:
        note = f" \u2013 {entry['note']}" if entry.get("note") else ""
        fields = ", ".join(READ_FIELDS.get(f, f) for f in entry.get("fields") or [])
        role = ROLES.get(str(entry.get("role")), entry.get("role"))
        purpose = READ_PURPOSES.get(str(entry.get("purpose")), entry.get("purpose"))
        answer.para(
            f"{german_date(entry.get('at'))}: {entry.get('user')} ({role}, "
            f"{entry.get('district') or ', '.join(entry.get('user_districts') or [])}) sah "
            f"{fields}; Zweck: {purpose}{note}",
            8,
        )
    grants: Sequence[Mapping[str, Any]] = part.get("break_glass") or []
    if grants:
        answer.para(f"Notfallzugriffe aus einem anderen Bezirk ({len(grants)})", 9, "B")
        for grant in grants:
            answer.para(
                f"{german_date(grant.get('granted_at'))} bis "
                f"{german_date(grant.get('expires_at'))}: {grant.get('user')} \u2013 Grund: "
                f"{grant.get('reason')}",
                8,
            )


def _flat(value: Mapping[str, Any]) -> str:
    return ", ".join(f"{LABELS.get(k, k)}: {shown(v)}" for k, v in value.items())
