"""The staff web app without a network: its checks of every request (session, CSRF, origin),
the headers of every answer, the session cookie, and what it says in German."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from outreach_web import german
from outreach_web.app import create_app
from outreach_web.core import Web, safe_next
from outreach_web.oidc import Identity, PendingSignIn, Tokens, pkce_challenge
from outreach_web.pages.calendar import subscription
from outreach_web.services import Services, purpose_header
from outreach_web.sessions import Session, SessionStore
from outreach_web.settings import WebSettings

pytestmark = pytest.mark.unit

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers
IDENTITY = Identity("katarzyna.nowak", "Katarzyna Nowak", "case_manager", ("kassel",), None)
OFFICER = Identity(
    "piotr.wisniewski", "Piotr Wiśniewski", "data_protection_officer", ("kassel",), None
)


def settings(public_url: str = "http://127.0.0.1:8100") -> WebSettings:
    return WebSettings(
        web_public_url=public_url,
        oidc_issuer="http://127.0.0.1:9/realms/outreach",
        web_contacts_url=UNREACHABLE,
        web_visits_url=UNREACHABLE,
        web_coaching_url=UNREACHABLE,
        web_notifications_url=UNREACHABLE,
        web_service_timeout_seconds=1,
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(settings()), base_url="http://127.0.0.1:8100") as test:
        yield test


def web_of(client: TestClient) -> Web:
    web: Web = client.app.state.web  # type: ignore[attr-defined]
    return web


def signed_in(client: TestClient, identity: Identity = IDENTITY) -> Session:
    tokens = Tokens("access", "refresh", "id", time.time() + 300, time.time() + 1800)
    session = web_of(client).store.create(identity, tokens)
    client.cookies.set("outreach_session", session.id)
    return session


def test_a_state_change_without_the_sessions_token_is_refused_before_any_service_call(
    client: TestClient,
) -> None:
    session = signed_in(client)
    close = f"/faelle/{uuid.uuid4()}/abschliessen"
    origin = {"Origin": "http://127.0.0.1:8100"}

    missing = client.post(close, data={"reason": "other"}, headers=origin)
    wrong = client.post(close, data={"reason": "other", "csrf": "forged"}, headers=origin)
    elsewhere = client.post(
        close,
        data={"reason": "other", "csrf": session.csrf},
        headers={"Origin": "https://evil.example"},
    )

    for refused in (missing, wrong, elsewhere):
        assert refused.status_code == 403
        assert "nicht von dieser Anwendung" in refused.text
    # With its token and from its origin the request goes on: to a service that is down,
    # told in a sentence (no internals).
    accepted = client.post(close, data={"reason": "other", "csrf": session.csrf}, headers=origin)
    assert accepted.status_code == 502
    assert "Der Dienst ist gerade nicht erreichbar" in accepted.text
    assert "127.0.0.1:9" not in accepted.text


def test_the_field_apps_commands_need_the_token_in_their_header(client: TestClient) -> None:
    worker = Identity("ayse.yilmaz", "Ayşe Yılmaz", "outreach_worker", ("kassel",), None)
    session = signed_in(client, worker)
    outcome = f"/api/visits/{uuid.uuid4()}/outcome"
    refused = client.post(outcome, json={"outcome": "not_met", "expected_version": 1})
    assert refused.status_code == 403
    sent = client.post(
        outcome,
        json={"outcome": "not_met", "expected_version": 1},
        headers={"X-CSRF-Token": session.csrf},
    )
    assert sent.status_code == 503  # past the check: the visits service is down
    assert sent.json()["message"].startswith("Der Dienst ist gerade nicht erreichbar")


def test_without_a_session_pages_go_to_the_sign_in_and_the_field_apps_data_is_401(
    client: TestClient,
) -> None:
    page = client.get("/faelle?sortierung=age", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/anmelden?weiter=/faelle%3Fsortierung%3Dage"
    assert client.get("/api/agenda").status_code == 401
    assert client.get("/api/session").status_code == 401


def test_every_answer_carries_a_content_security_policy_without_unsafe_inline(
    client: TestClient,
) -> None:
    for answer in (client.get("/abgemeldet"), client.get("/unterwegs/start")):
        policy = answer.headers["content-security-policy"]
        assert "unsafe-inline" not in policy
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"
        assert 'lang="de"' in answer.text
        assert "<script>" not in answer.text
        assert " style=" not in answer.text


@pytest.mark.parametrize("path", ["/datenschutz", "/datenschutz/kennzahlen"])
@pytest.mark.parametrize("role", ["case_manager", "management"])
def test_a_role_sees_only_its_own_pages(client: TestClient, path: str, role: str) -> None:
    signed_in(client, Identity("someone", "Some One", role, ("kassel",), None))
    refused = client.get(path)
    assert refused.status_code == 403
    assert "Das dürfen Sie mit Ihrer Rolle nicht." in refused.text


def fake_contacts(client: TestClient, monkeypatch: pytest.MonkeyPatch, answer: Any) -> list[Any]:
    """The contacts service answering every request with ``answer``: the requests it got."""
    asked: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json=answer)

    web = web_of(client)
    http = httpx.Client(transport=httpx.MockTransport(handle))
    monkeypatch.setattr(web, "services", Services(web.settings.service_urls, http))
    return asked


FIGURES_READS = {
    "districts": ["kassel"],
    "reads": [
        {
            "at": "2026-12-01T09:30:00+00:00",
            "user": "ursula.brandt",
            "role": "management",
            "districts": ["kassel"],
            "first_month": "2026-01",
            "last_month": "2026-06",
            "form": "csv",
        },
        {
            "at": "2026-12-02T14:05:00+00:00",
            "user": "jonas.becker",
            "role": "team_lead",
            "districts": ["kassel"],
            "first_month": "2026-12",
            "last_month": "2026-12",
            "form": "json",
        },
    ],
}


def test_the_officer_sees_who_read_the_figures_newest_first(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = fake_contacts(client, monkeypatch, FIGURES_READS)
    signed_in(client, OFFICER)
    page = client.get("/datenschutz/kennzahlen")
    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 2
    assert "02.12.2026, 15:05 Uhr" in rows[0]
    assert "jonas.becker (Teamleitung)" in rows[0]
    assert "Dez. 2026</td>" in rows[0]  # one month: no range
    assert "JSON" in rows[0]
    assert "01.12.2026, 10:30 Uhr" in rows[1]
    assert "ursula.brandt (Leitung)" in rows[1]
    assert "Jan. 2026 – Juni 2026" in rows[1]
    assert "CSV" in rows[1]
    assert "2 Abrufe (neueste zuerst)." in page.text
    assert 'role="alert"' not in page.text
    (request,) = asked
    assert request.url.path == "/dpo/figures-reads"
    assert dict(request.url.params) == {"limit": "500"}  # no filter: none sent


def test_the_filter_of_the_figures_reads_reaches_the_service_as_german_days(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = fake_contacts(client, monkeypatch, FIGURES_READS)
    signed_in(client, OFFICER)
    page = client.get(
        "/datenschutz/kennzahlen",
        params={"benutzer": "ursula.brandt", "von": "2026-12-01", "bis": "2026-12-31"},
    )
    assert page.status_code == 200
    assert 'value="ursula.brandt"' in page.text
    assert 'value="2026-12-01"' in page.text
    assert dict(asked[0].url.params) == {
        "user": "ursula.brandt",
        "since": "2026-12-01T00:00:00+01:00",
        "until": "2026-12-31T23:59:59.999999+01:00",
        "limit": "500",
    }
    not_a_day = client.get("/datenschutz/kennzahlen", params={"von": "gestern", "bis": ""})
    assert not_a_day.status_code == 200
    assert dict(asked[1].url.params) == {"limit": "500"}


def test_the_figures_reads_page_says_so_when_the_service_is_away(client: TestClient) -> None:
    signed_in(client, OFFICER)
    overview = client.get("/datenschutz")
    assert 'href="/datenschutz/kennzahlen"' in overview.text
    page = client.get("/datenschutz/kennzahlen", params={"benutzer": "ursula.brandt"})
    assert page.status_code == 200
    assert 'role="alert"' in page.text
    assert "Der Dienst ist gerade nicht erreichbar" in page.text
    assert "127.0.0.1:9" not in page.text
    assert "0 Abrufe" in page.text


@pytest.mark.parametrize(
    ("public_url", "cookie", "secure"),
    [
        ("http://127.0.0.1:8100", "outreach_session", False),
        ("https://outreach.example", "__Host-outreach_session", True),
    ],
)
def test_the_session_cookie_is_http_only_same_site_and_secure_over_tls(
    public_url: str, cookie: str, secure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings(public_url))
    web: Web = app.state.web
    tokens = Tokens("access", "refresh", "id", time.time() + 300, None)
    monkeypatch.setattr(web.oidc, "exchange", lambda code, pending: (tokens, IDENTITY))
    web.store.remember(PendingSignIn("state-1", "nonce", "verifier", "/faelle", time.time()))
    with TestClient(app, base_url=public_url) as client:
        answer = client.get("/anmelden/zurueck?state=state-1&code=c", follow_redirects=False)
        replayed = client.get("/anmelden/zurueck?state=state-1&code=c", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/faelle"
    set_cookie = answer.headers["set-cookie"]
    assert set_cookie.startswith(f"{cookie}=")
    assert "HttpOnly" in set_cookie
    assert "SameSite=lax" in set_cookie
    assert ("Secure" in set_cookie) is secure
    assert "access" not in set_cookie  # the tokens stay on the server
    assert replayed.status_code == 400  # a sign-in's answer counts once


def test_signing_out_ends_the_session_and_clears_the_browsers_storage(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = signed_in(client)
    web = web_of(client)
    monkeypatch.setattr(
        web.oidc, "logout_url", lambda id_token, after: f"https://idp/logout?{after}"
    )
    answer = client.post(
        "/abmelden",
        data={"csrf": session.csrf},
        headers={"Origin": "http://127.0.0.1:8100"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "https://idp/logout?http://127.0.0.1:8100/abgemeldet"
    assert answer.headers["clear-site-data"] == '"cache", "storage"'
    assert web.store.get(session.id) is None


def test_a_sign_in_returns_only_to_a_path_of_this_app() -> None:
    assert safe_next("/faelle?sortierung=age") == "/faelle?sortierung=age"
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "", None):
        assert safe_next(elsewhere) == "/"


def test_pkce_uses_the_s256_challenge_of_rfc_7636() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636, appendix B
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_sessions_end_after_their_time() -> None:
    now = [1000.0]
    store = SessionStore(lifetime_seconds=60, clock=lambda: now[0])
    session = store.create(IDENTITY, Tokens("a", None, None, 2000, None))
    assert store.get(session.id) is session
    now[0] += 61
    assert store.get(session.id) is None


def test_the_stated_purposes_note_is_sent_as_percent_encoded_ascii() -> None:
    assert purpose_header("case_work") == "case_work"
    assert purpose_header("audit", "Antrag Müller, 100 %") == "audit: Antrag M%C3%BCller, 100 %25"
    with pytest.raises(ValueError, match="unknown purpose"):
        purpose_header("curiosity")


def test_every_refusal_of_a_service_reads_as_a_german_sentence() -> None:
    lead = {"code": "lead_time_too_short", "minimum_days": 5, "lead_days": 2}
    assert german.problem_message(422, lead) == (
        "Der Brief muss mindestens 5 Tage vor dem Besuch verschickt werden; es wären nur 2."
    )
    invalid = {
        "code": "invalid_input",
        "errors": [{"loc": ["body", "person", "customer_number"]}, {"loc": ["body", "reason"]}],
    }
    assert german.problem_message(422, invalid) == "Bitte prüfen Sie: Grund, Kundennummer."
    assert german.problem_message(409, {"code": "open_case_exists"}).startswith(
        "Für diese Kundennummer gibt es in diesem Bezirk schon einen offenen Fall."
    )
    assert german.problem_message(409, {"code": "something_new"}) == (
        "Das geht im jetzigen Zustand nicht."
    )
    assert german.problem_message(500, {}).startswith("Das hat nicht geklappt.")


def test_dates_and_times_are_written_as_germans_write_them() -> None:
    assert german.date_de("2026-12-03") == "03.12.2026"
    assert german.date_de(dt.date(2026, 12, 3), weekday=True) == "Do, 03.12.2026"
    assert german.moment_de("2026-07-01T10:05:00+00:00") == "01.07.2026, 12:05 Uhr"
    assert german.moment_de("2026-12-01T10:05:00Z") == "01.12.2026, 11:05 Uhr"
    one_day = {"first_day": "2026-12-03", "last_day": "2026-12-03", "time_from": "09:00"}
    assert german.schedule_de({**one_day, "time_to": "11:00"}) == "Do, 03.12.2026, 09:00–11:00 Uhr"
    window = {"first_day": "2026-12-03", "last_day": "2026-12-05"}
    assert german.schedule_de(window) == "zwischen Do, 03.12.2026 und Sa, 05.12.2026"


def test_the_pages_ship_less_than_100_kb_of_script() -> None:
    static = Path(german.__file__).parent / "static"
    scripts = sum(p.stat().st_size for p in static.glob("*.js") if p.name != "sw.js")
    assert 0 < scripts < 100_000


def test_calendar_links_are_made_and_revoked_only_with_the_sessions_token(
    client: TestClient,
) -> None:
    worker = Identity("ayse.yilmaz", "Ayşe Yılmaz", "outreach_worker", ("kassel",), None)
    session = signed_in(client, worker)
    origin = {"Origin": "http://127.0.0.1:8100"}
    revoke = f"/kalender/links/{uuid.uuid4()}/widerrufen"
    for path in ("/kalender/links", revoke):
        for data in ({}, {"csrf": "forged"}):
            refused = client.post(path, data=data, headers=origin)
            assert refused.status_code == 403
            assert "nicht von dieser Anwendung" in refused.text
        # With the token the request goes on, to the visits service (down here): a sentence.
        accepted = client.post(path, data={"csrf": session.csrf}, headers=origin)
        assert accepted.status_code == 502
        assert "Der Dienst ist gerade nicht erreichbar" in accepted.text
        assert "127.0.0.1:9" not in accepted.text


def test_a_providers_outreach_worker_is_told_why_there_is_no_calendar_link(
    client: TestClient,
) -> None:
    provider_id = str(uuid.uuid4())
    provider = Identity("p.worker", "P. Worker", "provider_outreach", ("kassel",), provider_id)
    session = signed_in(client, provider)
    page = client.get("/kalender")  # no service call: the visits service is down here
    assert page.status_code == 200
    assert "Ihr Zugang endet mit dem Auftrag Ihres Trägers" in page.text
    made = client.post(
        "/kalender/links", data={"csrf": session.csrf}, headers={"Origin": "http://127.0.0.1:8100"}
    )
    assert made.status_code == 403
    assert "Das dürfen Sie mit Ihrer Rolle nicht." in made.text


def test_a_calendar_link_is_offered_for_a_tap_and_to_paste() -> None:
    url = "https://visits.example/agenda/feeds/s3cr3t.ics"
    assert subscription(url) == {
        "https": url,
        "webcal": "webcal://visits.example/agenda/feeds/s3cr3t.ics",
    }
    inside = "http://visits:8080/agenda/feeds/s3cr3t.ics"
    assert subscription(inside, "https://visits.example") == subscription(url)


def test_the_apps_files_are_versioned_kept_for_a_year_and_compressed(client: TestClient) -> None:
    version = web_of(client).assets.version
    page = client.get("/abgemeldet", headers={"Accept-Encoding": "gzip"})
    assert f'src="/static/{version}/signed-out.js"' in page.text
    assert "content-encoding" not in page.headers  # a page is never compressed (BREACH)

    script = client.get(f"/static/{version}/field.js", headers={"Accept-Encoding": "gzip"})
    assert script.status_code == 200
    assert script.headers["content-encoding"] == "gzip"
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["content-type"].startswith("text/javascript")
    assert int(script.headers["content-length"]) < len(script.content)  # decoded by httpx
    plain = client.get(f"/static/{version}/field.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == script.content

    for other in ("/static/field.js", "/static/0123456789ab/field.js"):
        again = client.get(other)
        assert again.headers["cache-control"] == "no-cache"
        etag = again.headers["etag"]
        assert client.get(other, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(f"/static/{version}/nothing.js").status_code == 404
    assert client.get("/static/../settings.py").status_code == 404

    worker = client.get("/sw.js")
    assert f'const VERSION = "{version}";' in worker.text
    assert worker.headers["cache-control"] == "no-cache"
