"""The running service keeps its event chain and anchors its head outside the database."""

from __future__ import annotations

import pytest

from tests.support.e2e import ContactsApi
from tests.support.helpers import eventually

pytestmark = pytest.mark.e2e


def test_the_data_protection_officer_verifies_the_chain_against_its_anchors(
    api: ContactsApi, district: str
) -> None:
    case_manager = api.auth("cm-chain", "case_manager", district)
    assert api.report(case_manager, district).status_code == 201
    officer = api.auth("dpo-chain", "data_protection_officer", district)

    def anchored() -> dict[str, object] | None:
        response = api.client.get("/dpo/chain", headers=officer)
        assert response.status_code == 200
        body = response.json()
        return body if body["anchors"] and body["verified"] else None

    result = eventually(anchored, timeout=30, what="an anchored, verified chain")

    assert result["problem"] is None, result
    assert result["intact"] is True


def test_only_the_data_protection_officer_may_verify_the_chain(
    api: ContactsApi, district: str
) -> None:
    lead = api.auth("tl-chain", "team_lead", district)

    assert api.client.get("/dpo/chain", headers=lead).status_code == 403
