"""Schemathesis hooks of the contract run (``tests/e2e/test_openapi_contract.py``).

Loaded by the schemathesis command line (``hooks`` in its configuration), not by pytest.

One check is added to schemathesis' own: the services answer two kinds of 422, and the
check tells them apart where schemathesis cannot.

- ``invalid_input``: the request does not fit the OpenAPI document (a field too long, a
  control character, a boolean where a number belongs). A request schemathesis generated
  from the document (a *positive* one) must never get it: that would mean the document and
  the service disagree. This check fails the run if it happens.
- A rule of the domain with its own code (``lead_time_too_short``, ``date_in_future``,
  ``window_in_past``, ``feed_field_not_allowed`` ...): the request has the right form, but
  today's date or the state of other records does not allow it. JSON Schema cannot say
  "at least five days after today", so a schema-valid request can meet such a rule.
  schemathesis' ``positive_data_acceptance`` counts every 422 as a rejected valid request;
  the run therefore lets it accept 422, and this check keeps the part of that check that
  applies: the 422 must be a rule of the domain, never ``invalid_input``.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def schema_valid_requests_pass_request_validation(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A request generated from the document is never refused as ``invalid_input``."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    if code == "invalid_input" or not isinstance(code, str):
        raise AssertionError(
            "a request that fits the OpenAPI document was refused as invalid input: "
            f"{response.text[:500]}"
        )
    return None
