from __future__ import annotations

import json
from typing import Any

import pytest
from callcore.repository import CallRepository

from local.fake_twilio_rest import FakeTwilioRest
from local.proxy_events import api_event
from tests.factories import persona
from tests.unit.functions.conftest import PUBLIC_API_URL


def _seed(table: Any) -> CallRepository:
    repo = CallRepository(table)
    repo.put_persona(persona())
    return repo


def _post(
    handler: Any, context: Any, body: Any, *, key: str | None = None, api_key_id: str | None = "u1"
) -> Any:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    text = body if isinstance(body, str) else json.dumps(body)
    response = handler.lambda_handler(
        api_event("POST", "/calls", body=text, headers=headers, api_key_id=api_key_id), context
    )
    return response["statusCode"], json.loads(response["body"])


def _call_items(table: Any) -> list[dict[str, Any]]:
    return [i for i in table.scan()["Items"] if str(i["PK"]).startswith("CALL")]


def test_places_a_call(
    handler_env: Any, ddb_table: Any, fake_twilio: FakeTwilioRest, lambda_context: Any
) -> None:
    repo = _seed(ddb_table)
    handler = handler_env("trigger_call")
    status, body = _post(
        handler, lambda_context, {"to": "+14155550123", "persona_id": "p", "metadata": {"a": 1}}
    )
    assert status == 202 and body["status"] == "queued"
    [request] = fake_twilio.calls_created
    assert request.form["Url"] == [f"{PUBLIC_API_URL}/twilio/answer/{body['call_id']}"]
    record = repo.get_call(body["call_id"])
    assert record is not None and record.user_id == "u1" and record.metadata == {"a": 1}


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ("{not json", 400, "invalid_json", None),
        ({"persona_id": "p"}, 400, "missing_field", "to"),
        ({"to": "+1 415 555 0123", "persona_id": "p"}, 400, "invalid_phone_number", "to"),
        ({"to": "+447700900123", "persona_id": "p"}, 403, "destination_not_allowed", "to"),
        ({"to": "+14155550123", "persona_id": "ghost"}, 404, "persona_not_found", "persona_id"),
        (
            {"to": "+14155550123", "persona_id": "p", "variables": {"a": 1}},
            400,
            "invalid_variables",
            "variables",
        ),
        ({"to": "+14155550123", "persona_id": "p", "metadata": []}, 400, "invalid_metadata", "metadata"),
        ({"to": "+14155550123", "persona_id": "p", "colour": "red"}, 400, "unknown_field", "colour"),
    ],
)
def test_refusals_write_nothing_and_never_dial(
    handler_env: Any,
    ddb_table: Any,
    fake_twilio: FakeTwilioRest,
    lambda_context: Any,
    body: Any,
    status: int,
    code: str,
    field: str | None,
) -> None:
    _seed(ddb_table)
    handler = handler_env("trigger_call")
    got_status, got = _post(handler, lambda_context, body)
    assert (got_status, got["error"]) == (status, code) and got["message"]
    assert got.get("field") == field  # the field at fault, as the listing routes name it
    assert fake_twilio.requests == [] and _call_items(ddb_table) == []


def test_missing_api_key_identity_is_403(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    _seed(ddb_table)
    status, body = _post(
        handler_env("trigger_call"),
        lambda_context,
        {"to": "+14155550123", "persona_id": "p"},
        api_key_id=None,
    )
    assert status == 403 and body["error"] == "forbidden"


def test_concurrency_limit(
    handler_env: Any, ddb_table: Any, fake_twilio: FakeTwilioRest, lambda_context: Any
) -> None:
    _seed(ddb_table)
    handler = handler_env("trigger_call")
    ok = {"to": "+14155550123", "persona_id": "p"}
    assert _post(handler, lambda_context, ok)[0] == 202
    assert _post(handler, lambda_context, ok)[0] == 202
    status, body = _post(handler, lambda_context, ok)
    assert status == 429 and body["error"] == "too_many_active_calls"
    assert (
        len(fake_twilio.calls_created) == 2 and len(_call_items(ddb_table)) == 2 + 2
    )  # records + CallSid maps


def test_idempotency_key_means_one_twilio_call(
    handler_env: Any, ddb_table: Any, fake_twilio: FakeTwilioRest, lambda_context: Any
) -> None:
    _seed(ddb_table)
    handler = handler_env("trigger_call")
    body = {"to": "+14155550123", "persona_id": "p"}
    first = _post(handler, lambda_context, body, key="order-42")
    second = _post(handler, lambda_context, body, key="order-42")
    assert first == second and first[0] == 202
    assert len(fake_twilio.calls_created) == 1
    assert any(str(i["PK"]) == "IDEMPOTENCY#trigger_call" for i in ddb_table.scan()["Items"])
    # Same key, different body: refused, still one call.
    status, err = _post(handler, lambda_context, {**body, "to": "+14155550199"}, key="order-42")
    assert status == 422 and err["error"] == "idempotency_key_reused"
    # Another user may use the same key string.
    assert _post(handler, lambda_context, body, key="order-42", api_key_id="u2")[0] == 202
    assert len(fake_twilio.calls_created) == 2


def test_twilio_error_is_502_with_twilio_code(
    handler_env: Any, ddb_table: Any, fake_twilio: FakeTwilioRest, lambda_context: Any
) -> None:
    repo = _seed(ddb_table)
    fake_twilio.fail_with = (400, 21211, "Invalid 'To' Phone Number")
    handler = handler_env("trigger_call")
    status, body = _post(handler, lambda_context, {"to": "+14155550123", "persona_id": "p"}, key="k")
    assert status == 502 and body["error"] == "twilio_error" and "21211" in body["message"]
    record = repo.get_call(body["call_id"])
    assert (
        record is not None
        and record.status.value == "failed"
        and record.error is not None
        and record.error["code"] == "21211"
        and record.error["source"] == "dial"
        and record.error["message"].startswith("Invalid 'To' Phone Number (")
    )
    assert repo.active_calls("u1") == 0
    again = _post(handler, lambda_context, {"to": "+14155550123", "persona_id": "p"}, key="k")
    assert again[0] == 502 and len(fake_twilio.calls_created) == 1
