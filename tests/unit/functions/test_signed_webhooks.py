"""Every route Twilio signs goes through the one preamble (``callcore.api.signed_twilio_webhook``).

The routes are taken from template.yaml, so a new ``/twilio/`` route that forgets the preamble
fails here: unsigned → 403 (counted), oversized → 413 before parsing, placeholder secret → 503,
and a genuinely signed request reaches the route.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from callcore.api import MAX_WEBHOOK_BODY_BYTES

from tests.conftest import load_template
from tests.unit.functions.conftest import signed_event


def _signed_routes() -> list[tuple[str, str]]:
    """(handler module, resource path) of every ``/twilio/`` API event in the template."""
    routes = []
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        module = resource["Properties"]["Handler"].split(".")[0]
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "Api" and event["Properties"]["Path"].startswith("/twilio/"):
                routes.append((module, event["Properties"]["Path"]))
    return sorted(routes)


SIGNED_ROUTES = _signed_routes()


def _event(resource: str, form: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    params = {"call_id": "c1"} if "{call_id}" in resource else None
    return signed_event(resource, form, path_params=params, **kwargs)


def test_the_template_has_signed_routes_in_both_webhook_functions() -> None:
    assert {module for module, _ in SIGNED_ROUTES} == {"twilio_answer", "twilio_status"}
    assert len(SIGNED_ROUTES) >= 6


@pytest.mark.parametrize(("module", "resource"), SIGNED_ROUTES)
def test_every_signed_route_refuses_unsigned_oversized_and_unconfigured_requests(
    handler_env: Any,
    ddb_table: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
    resource: str,
) -> None:
    handler = handler_env(module)
    unsigned = _event(resource, {"CallSid": "CA9"})
    del unsigned["headers"]["X-Twilio-Signature"]
    response = handler.lambda_handler(unsigned, lambda_context)
    assert response["statusCode"] == 403 and json.loads(response["body"])["error"] == "invalid_signature"
    assert "WebhookSignatureRejected" in capsys.readouterr().out  # the EMF line of the refusal

    forged = _event(resource, {"CallSid": "CA9"}, token="0" * 32)
    assert handler.lambda_handler(forged, lambda_context)["statusCode"] == 403

    oversized = _event(resource, {"CallSid": "CA9", "Junk": "x" * MAX_WEBHOOK_BODY_BYTES})
    response = handler.lambda_handler(oversized, lambda_context)
    assert response["statusCode"] == 413 and json.loads(response["body"])["error"] == "body_too_large"

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "set-me")
    handler = handler_env(module)
    placeholder = _event(resource, {"CallSid": "CA9"}, token="set-me")
    response = handler.lambda_handler(placeholder, lambda_context)
    assert response["statusCode"] == 503 and json.loads(response["body"])["error"] == "not_configured"


@pytest.mark.parametrize(("module", "resource"), SIGNED_ROUTES)
def test_a_signed_request_reaches_the_route(
    handler_env: Any, ddb_table: Any, lambda_context: Any, module: str, resource: str
) -> None:
    """No call c1 exists: the route itself answers (spoken hang-up or 404), not the preamble."""
    handler = handler_env(module)
    response = handler.lambda_handler(_event(resource, {"CallSid": "CA9"}), lambda_context)
    assert response["statusCode"] in (200, 404)
    if response["statusCode"] == 404:
        assert json.loads(response["body"])["error"] == "call_not_found"
