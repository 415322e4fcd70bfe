"""Management and team leads: the outreach figures ("Kennzahlen") as charts with the table
behind each, small cells shown as ``<5`` or hidden, and the CSV download."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.browser import Screen, check_accessibility
from tests.support.e2e import report_body
from tests.support.helpers import eventually, person

pytestmark = pytest.mark.e2e

MONTHS_DE = [
    "Jan.",
    "Feb.",
    "März",
    "Apr.",
    "Mai",
    "Juni",
    "Juli",
    "Aug.",
    "Sept.",
    "Okt.",
    "Nov.",
    "Dez.",
]


def test_management_reads_the_figures_of_its_district_as_charts_and_csv(
    device: Screen,
    staff: Callable[..., tuple[str, str]],
    clients: dict[str, httpx.Client],
    mint: Callable[..., str],
    district: str,
) -> None:
    manager = {"Authorization": f"Bearer {mint('cm-lange', 'case_manager', district)}"}
    cases = []
    for reason in ["missed_appointments"] * 6 + ["mail_returned"] * 2:
        body = report_body(district, person(), reason=reason)
        created = clients["contacts"].post("/cases", json=body, headers=manager)
        assert created.status_code == 201, created.text
        cases.append(created.json()["case_id"])
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date()
    for case_id in cases[:5]:
        restored = clients["contacts"].post(
            f"/cases/{case_id}/contact-restored",
            json={"channel": "phone", "restored_on": today.isoformat()},
            headers=manager,
        )
        assert restored.status_code == 200, restored.text
    reader = {"Authorization": f"Bearer {mint('mg-test', 'management', district)}"}

    def this_month() -> dict[str, object] | None:
        answer = clients["contacts"].get(
            "/reports/outreach", params={"district": district}, headers=reader
        )
        assert answer.status_code == 200, answer.text
        figures: dict[str, object] = answer.json()["rows"][-1]["figures"]
        return (
            figures if figures["contacts_lost"] == 8 and figures["contact_restored"] == 5 else None
        )

    eventually(this_month, timeout=60, what="the figures of the eight cases")

    user, password = staff("management", district)
    page = device.sign_in(user, password, "/")
    expect(page).to_have_url(f"{device.base_url}/kennzahlen")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kennzahlen")
    month = f"{MONTHS_DE[today.month - 1]} {today.year}"
    lost = page.get_by_role("region", name="Kontakt verloren")
    expect(lost.get_by_role("img")).to_be_visible()
    lost.get_by_text("Tabelle: Kontakt verloren").click()
    row = lost.get_by_role("row", name=month)
    # 8 lost: 2 by returned mail (shown as <5), so the 6 missed appointments are hidden too.
    expect(row.get_by_role("cell")).to_have_text(["8", "0", "x", "<5", "0", "0", "0"])
    restored = page.get_by_role("region", name="Kontakt wiederhergestellt")
    restored.get_by_text("Tabelle: Kontakt wiederhergestellt").click()
    expect(restored.get_by_role("row", name=month).get_by_role("cell").first).to_have_text("5")
    check_accessibility(page, "figures")
    device.shoot("management-figures")

    with page.expect_download() as download:
        page.get_by_role("link", name="Als CSV herunterladen").click()
    text = download.value.path().read_text(encoding="utf-8")
    lines = {r["month"]: r for r in csv.DictReader(io.StringIO(text))}
    current = lines[today.strftime("%Y-%m")]
    assert (current["contacts_lost"], current["contacts_lost.mail_returned"]) == ("8", "<5")
    assert current["contacts_lost.missed_appointments"] == "x"
    assert current["contact_restored.phone"] == "5"
    assert not any(case_id in text for case_id in cases)  # counts only


def test_a_case_manager_has_no_figures_page(
    device: Screen, staff: Callable[..., tuple[str, str]], district: str
) -> None:
    user, password = staff("case_manager", district)
    page = device.sign_in(user, password, "/")
    expect(page.get_by_role("link", name="Kennzahlen")).to_have_count(0)
    answer = page.goto(f"{device.base_url}/kennzahlen")
    assert answer is not None
    assert answer.status == 403
