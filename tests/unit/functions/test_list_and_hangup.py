"""GET /calls (own calls, newest first, paged, filtered), GET /personas paging, and the hang-up route."""

from __future__ import annotations

import json
from typing import Any

from callcore.models import CallStatus
from callcore.repository import CallRepository

from local.fake_twilio_rest import FakeTwilioRest
from local.proxy_events import api_event
from tests.factories import call_record, persona


def _call(
    repo: CallRepository, call_id: str, user: str, minute: int, status: CallStatus, sid: str | None = None
) -> None:
    at = f"2026-11-30T12:{minute:02d}:00.000Z"
    repo.create_call(call_record(call_id=call_id, user_id=user, status=status, at=at, call_sid=sid))


def _list(handler: Any, context: Any, user: str, **query: str) -> tuple[int, dict[str, Any]]:
    event = api_event("GET", "/calls", api_key_id=user)
    event["queryStringParameters"] = query or None
    response = handler.lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def test_list_calls_pages_newest_first_and_only_own(
    handler_env: Any, ddb_table: Any, lambda_context: Any
) -> None:
    repo = CallRepository(ddb_table)
    for minute in range(7):
        _call(repo, f"a{minute}", "u1", minute, CallStatus.COMPLETED)
    _call(repo, "b0", "u2", 30, CallStatus.COMPLETED)
    handler = handler_env("get_call")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        status, body = _list(handler, lambda_context, "u1", **query)
        assert status == 200 and len(body["calls"]) <= 3
        seen += [c["call_id"] for c in body["calls"]]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            break
    assert seen == [f"a{m}" for m in range(6, -1, -1)] and pages == 3
    # A cursor of user u1 is refused for user u2 (it names the field), never another user's page.
    _, first = _list(handler, lambda_context, "u1", limit="3")
    status, body = _list(handler, lambda_context, "u2", cursor=first["next_cursor"])
    assert status == 400 and body["error"] == "invalid_cursor" and body["field"] == "cursor"


def test_list_calls_filters_by_status_and_time(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    repo = CallRepository(ddb_table)
    for minute in range(10):
        status = CallStatus.IN_PROGRESS if minute % 3 == 0 else CallStatus.COMPLETED
        _call(repo, f"c{minute}", "u1", minute, status)
    handler = handler_env("get_call")
    status, body = _list(handler, lambda_context, "u1", status="in-progress", limit="2")
    assert status == 200 and [c["call_id"] for c in body["calls"]] == ["c9", "c6"]
    _, rest = _list(handler, lambda_context, "u1", status="in-progress", cursor=body["next_cursor"])
    assert [c["call_id"] for c in rest["calls"]] == ["c3", "c0"] and rest["next_cursor"] is None
    _, window = _list(
        handler, lambda_context, "u1", **{"from": "2026-11-30T12:02:00Z", "to": "2026-11-30T12:05:00Z"}
    )
    assert [c["call_id"] for c in window["calls"]] == ["c4", "c3", "c2"]
    status, bad = _list(handler, lambda_context, "u1", limit="1000")
    assert status == 400 and bad["field"] == "limit"


def test_personas_are_paged(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    repo = CallRepository(ddb_table)
    for name in ("a", "b", "c"):
        repo.put_persona(persona(persona_id=name, name=name))
    handler = handler_env("personas")
    event = api_event("GET", "/personas")
    event["queryStringParameters"] = {"limit": "2"}
    first = json.loads(handler.lambda_handler(event, lambda_context)["body"])
    assert [p["persona_id"] for p in first["personas"]] == ["a", "b"] and first["next_cursor"]
    event["queryStringParameters"] = {"cursor": first["next_cursor"]}
    second = json.loads(handler.lambda_handler(event, lambda_context)["body"])
    assert [p["persona_id"] for p in second["personas"]] == ["c"] and second["next_cursor"] is None


def _hangup(handler: Any, context: Any, call_id: str, user: str = "u1") -> tuple[int, dict[str, Any]]:
    event = api_event("POST", "/calls/{call_id}/hangup", path_params={"call_id": call_id}, api_key_id=user)
    response = handler.lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def test_hangup_asks_twilio_and_notes_it(
    handler_env: Any, ddb_table: Any, lambda_context: Any, fake_twilio: FakeTwilioRest
) -> None:
    repo = CallRepository(ddb_table)
    _call(repo, "live", "u1", 0, CallStatus.IN_PROGRESS, sid="CA" + "1" * 32)
    _call(repo, "ringing", "u1", 1, CallStatus.RINGING, sid="CA" + "2" * 32)
    handler = handler_env("hangup_call")
    status, body = _hangup(handler, lambda_context, "live")
    assert status == 202 and body == {"call_id": "live", "status": "in-progress", "hangup": "requested"}
    assert fake_twilio.requests[-1].path.endswith(f"/Calls/CA{'1' * 32}.json")
    assert fake_twilio.requests[-1].form["Status"] == ["completed"]
    history = repo.get_call_history("live")
    assert history is not None and history.record.hangup_requested_at
    assert any(e.kind == "trigger" and e.detail.get("action") == "hangup_requested" for e in history.events)
    status, _ = _hangup(handler, lambda_context, "live")  # again while live: harmless
    assert status == 202
    status, _ = _hangup(handler, lambda_context, "ringing")
    assert status == 202 and fake_twilio.requests[-1].form["Status"] == ["canceled"]


def test_hangup_refusals(
    handler_env: Any, ddb_table: Any, lambda_context: Any, fake_twilio: FakeTwilioRest
) -> None:
    repo = CallRepository(ddb_table)
    _call(repo, "done", "u1", 0, CallStatus.COMPLETED, sid="CA" + "3" * 32)
    _call(repo, "queued", "u1", 1, CallStatus.QUEUED)
    handler = handler_env("hangup_call")
    status, body = _hangup(handler, lambda_context, "done")
    assert status == 409 and body["error"] == "call_ended"
    status, body = _hangup(handler, lambda_context, "done", user="u2")
    assert status == 404 and body["error"] == "call_not_found"
    # Not yet handed to Twilio: cancelled in the table, nobody is asked.
    status, body = _hangup(handler, lambda_context, "queued")
    assert status == 202 and body["status"] == "canceled" and not fake_twilio.requests
    record = repo.get_call("queued")
    assert record is not None and record.status is CallStatus.CANCELED
    # Twilio says the call is no longer in progress: it ended while we asked.
    _call(repo, "racing", "u1", 2, CallStatus.IN_PROGRESS, sid="CA" + "4" * 32)
    fake_twilio.fail_with = (400, 21220, "Call is not in-progress. Cannot redirect.")
    status, body = _hangup(handler, lambda_context, "racing")
    assert status == 409 and body["error"] == "call_ended"


def test_hangup_of_a_call_answered_meanwhile_completes_it(
    handler_env: Any, ddb_table: Any, lambda_context: Any, fake_twilio: FakeTwilioRest
) -> None:
    repo = CallRepository(ddb_table)
    _call(repo, "answering", "u1", 0, CallStatus.RINGING, sid="CA" + "5" * 32)
    fake_twilio.updated_call_status = "in-progress"  # Twilio answered between our read and our request
    status, _ = _hangup(handler_env("hangup_call"), lambda_context, "answering")
    assert status == 202
    assert [r.form["Status"] for r in fake_twilio.requests] == [["canceled"], ["completed"]]
