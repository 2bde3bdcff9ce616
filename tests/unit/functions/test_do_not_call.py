"""The do-not-call API and its enforcement on POST /calls (through the real handlers, moto, fake Twilio)."""

from __future__ import annotations

import json
from typing import Any

from callcore.repository import CallRepository

from local.fake_twilio_rest import FakeTwilioRest
from local.proxy_events import api_event
from tests.factories import persona

NUMBER = "+14155550123"


def _dnc(handler: Any, context: Any, method: str, number: str, user: str = "u1") -> tuple[int, Any]:
    event = api_event(method, "/do-not-call/{number}", path_params={"number": number}, api_key_id=user)
    response = handler.lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def _get(handler: Any, context: Any, query: dict[str, str] | None, user: str = "u1") -> tuple[int, Any]:
    event = api_event("GET", "/do-not-call", api_key_id=user)
    event["queryStringParameters"] = query
    response = handler.lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def test_put_get_delete_round_trip_is_per_key(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    handler = handler_env("do_not_call")
    status, body = _dnc(handler, lambda_context, "PUT", NUMBER)
    assert status == 200 and body["listed"] is True and body["source"] == "api"
    first_added = body["added_at"]
    # Idempotent: a second PUT keeps the first entry.
    assert _dnc(handler, lambda_context, "PUT", "%2B14155550123")[1]["added_at"] == first_added
    # "+" decoded as a space by a query string still finds the number.
    assert _get(handler, lambda_context, {"number": " 14155550123"})[1]["listed"] is True
    assert _get(handler, lambda_context, {"number": NUMBER}, user="u2")[1]["listed"] is False
    status, body = _dnc(handler, lambda_context, "DELETE", NUMBER)
    assert status == 200 and body == {"number": NUMBER, "listed": False, "removed": True}
    assert _get(handler, lambda_context, {"number": NUMBER})[1]["listed"] is False
    assert _dnc(handler, lambda_context, "DELETE", NUMBER)[1]["removed"] is False


def test_list_pages_with_a_cursor(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    handler = handler_env("do_not_call")
    numbers = [f"+1415555010{i}" for i in range(5)]
    for number in numbers:
        _dnc(handler, lambda_context, "PUT", number)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, body = _get(handler, lambda_context, query)
        assert status == 200 and len(body["numbers"]) <= 2
        seen += [n["number"] for n in body["numbers"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == numbers


def test_bad_numbers_and_limits_are_400_naming_the_field(
    handler_env: Any, ddb_table: Any, lambda_context: Any
) -> None:
    handler = handler_env("do_not_call")
    status, body = _dnc(handler, lambda_context, "PUT", "call-me-maybe")
    assert status == 400 and body["error"] == "invalid_phone_number" and "'number'" in body["message"]
    status, body = _get(handler, lambda_context, {"limit": "0"})
    assert status == 400 and "'limit'" in body["message"]
    status, body = _get(handler, lambda_context, {"cursor": "x"})
    assert status == 400 and "'cursor'" in body["message"]
    assert ddb_table.scan()["Items"] == []


def test_a_cursor_walks_only_the_list_it_came_from_and_no_key_means_403(
    handler_env: Any, ddb_table: Any, lambda_context: Any
) -> None:
    handler = handler_env("do_not_call")
    for n in ("+14155550121", "+14155550122", "+14155550123"):
        assert _dnc(handler, lambda_context, "PUT", n)[0] == 200
    status, page = _get(handler, lambda_context, {"limit": "1"})
    assert status == 200 and page["next_cursor"] and "+1415" not in page["next_cursor"]  # opaque
    status, body = _get(handler, lambda_context, {"cursor": page["next_cursor"]}, user="u2")
    assert status == 400 and body["error"] == "invalid_cursor" and body["field"] == "cursor"
    status, rest = _get(handler, lambda_context, {"cursor": page["next_cursor"]})
    assert status == 200 and [e["number"] for e in rest["numbers"]] == ["+14155550122", "+14155550123"]
    event = api_event("GET", "/do-not-call", api_key_id=None)
    response = handler.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 403 and json.loads(response["body"])["error"] == "forbidden"


def test_post_calls_refuses_a_listed_number_and_dials_nothing(
    handler_env: Any, ddb_table: Any, fake_twilio: FakeTwilioRest, lambda_context: Any
) -> None:
    repo = CallRepository(ddb_table)
    repo.put_persona(persona())
    _dnc(handler_env("do_not_call"), lambda_context, "PUT", NUMBER)
    trigger = handler_env("trigger_call")
    event = api_event("POST", "/calls", body={"to": NUMBER, "persona_id": "p"}, api_key_id="u1")
    response = trigger.lambda_handler(event, lambda_context)
    body = json.loads(response["body"])
    assert response["statusCode"] == 403 and body["error"] == "number_on_do_not_call_list"
    assert "do-not-call" in body["message"] and NUMBER not in body["message"]
    assert fake_twilio.requests == [] and repo.active_calls("u1") == 0
    # Another key's list does not apply.
    other = api_event("POST", "/calls", body={"to": NUMBER, "persona_id": "p"}, api_key_id="u2")
    assert trigger.lambda_handler(other, lambda_context)["statusCode"] == 202
