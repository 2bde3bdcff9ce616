from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from callcore.models import CallStatus, TranscriptTurn
from callcore.repository import CallRepository

from local.proxy_events import api_event
from tests.factories import call_record

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "personas" / "receptionist.json"


def _call(repo: CallRepository, call_id: str, user: str) -> None:
    repo.create_call(call_record(call_id=call_id, user_id=user, status=CallStatus.IN_PROGRESS))


def test_owner_gets_record_history_and_turns(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    repo = CallRepository(ddb_table)
    _call(repo, "c1", "u1")
    repo.put_turn("c1", TranscriptTurn(index=0, role="assistant", text="Hello", started_at=0.0, ended_at=1.0))
    handler = handler_env("get_call")
    event = api_event("GET", "/calls/{call_id}", path_params={"call_id": "c1"}, api_key_id="u1")
    response = handler.lambda_handler(event, lambda_context)
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert body["call_id"] == "c1" and body["status"] == "in-progress" and body["turns"][0]["text"] == "Hello"
    assert "status_history" in body and "holds_slot" not in body


def test_other_users_and_missing_calls_are_404(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    _call(CallRepository(ddb_table), "c1", "u1")
    handler = handler_env("get_call")
    for call_id, user in (("c1", "u2"), ("nope", "u1")):
        event = api_event("GET", "/calls/{call_id}", path_params={"call_id": call_id}, api_key_id=user)
        response = handler.lambda_handler(event, lambda_context)
        assert response["statusCode"] == 404 and json.loads(response["body"])["error"] == "call_not_found"


def test_personas_put_get_list(handler_env: Any, ddb_table: Any, lambda_context: Any) -> None:
    handler = handler_env("personas")
    data = {**json.loads(EXAMPLE.read_text()), "persona_id": "front-desk"}
    put = api_event("PUT", "/personas/{persona_id}", path_params={"persona_id": "front-desk"}, body=data)
    assert handler.lambda_handler(put, lambda_context)["statusCode"] == 200
    got = handler.lambda_handler(
        api_event("GET", "/personas/{persona_id}", path_params={"persona_id": "front-desk"}), lambda_context
    )
    assert json.loads(got["body"])["greeting"] == data["greeting"]
    listed = json.loads(handler.lambda_handler(api_event("GET", "/personas"), lambda_context)["body"])
    assert [p["persona_id"] for p in listed["personas"]] == ["front-desk"]
    bad = api_event(
        "PUT",
        "/personas/{persona_id}",
        path_params={"persona_id": "x"},
        body={**data, "persona_id": "x", "language": "??"},
    )
    response = handler.lambda_handler(bad, lambda_context)
    refused = json.loads(response["body"])
    assert (
        response["statusCode"] == 400 and "language" in refused["message"] and refused["field"] == "language"
    )
    for body, field in [
        ({k: v for k, v in data.items() if k != "voice_id"}, "voice_id"),
        ({**data, "max_duration_seconds": 0}, "max_duration_seconds"),
        ({**data, "colour": "red"}, None),  # "unknown field(s): colour": no one field of the persona
    ]:
        put_bad = api_event(
            "PUT", "/personas/{persona_id}", path_params={"persona_id": "front-desk"}, body=body
        )
        refused = json.loads(handler.lambda_handler(put_bad, lambda_context)["body"])
        assert refused["error"] == "invalid_persona" and refused.get("field") == field, refused
    missing = handler.lambda_handler(
        api_event("GET", "/personas/{persona_id}", path_params={"persona_id": "ghost"}), lambda_context
    )
    assert missing["statusCode"] == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"analysis": {"summary": "yes"}}, "analysis.summary"),
        (
            {"analysis": {"data": {"type": "object", "properties": {"n": {"type": 7}}, "required": ["n"]}}},
            "analysis.data.properties.n.type",
        ),
        (
            {
                "analysis": {
                    "data": {
                        "type": "object",
                        "properties": {"when": {"anyOf": [{"type": "string"}, {"type": ["string", "null"]}]}},
                        "required": ["when"],
                    }
                }
            },
            "analysis.data.properties.when.anyOf[1]",
        ),
        ({"filler_phrases": ["One moment.", ""]}, "filler_phrases[1]"),
    ],
    ids=["summary", "schema-keyword", "list-index", "filler-entry"],
)
def test_a_nested_refusal_names_the_member_as_a_dotted_path(
    handler_env: Any, ddb_table: Any, lambda_context: Any, changes: dict[str, Any], field: str
) -> None:
    handler = handler_env("personas")
    data = {**json.loads(EXAMPLE.read_text()), "persona_id": "nested", **changes}
    put = api_event("PUT", "/personas/{persona_id}", path_params={"persona_id": "nested"}, body=data)
    response = handler.lambda_handler(put, lambda_context)
    refused = json.loads(response["body"])
    assert response["statusCode"] == 400 and refused["error"] == "invalid_persona", refused
    assert refused["field"] == field and refused["message"].startswith(f"'{field}'"), refused
    assert CallRepository(ddb_table).get_stored_persona("nested") is None  # nothing was written


def test_persona_changes_are_audited(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: Any
) -> None:
    handler = handler_env("personas")
    logged: list[dict[str, Any]] = []
    monkeypatch.setattr(handler.logger, "info", lambda message, extra: logged.append(extra))
    body = {"voice_id": "v", "prompt": "p", "greeting": "Hello"}
    for greeting in ("Hello", "Hi there"):
        event = api_event(
            "PUT",
            "/personas/{persona_id}",
            path_params={"persona_id": "mine"},
            body={**body, "greeting": greeting},
            api_key_id="user-7",
        )
        assert handler.lambda_handler(event, lambda_context)["statusCode"] == 200
    lines = [extra for extra in logged if extra.get("audit") == "persona_changed"]
    assert [(a["user_id"], a["persona_id"], a["action"]) for a in lines] == [
        ("user-7", "mine", "created"),
        ("user-7", "mine", "updated"),
    ]
    assert "greeting" in lines[0]["fields_changed"] and lines[1]["fields_changed"] == ["greeting"]


@pytest.mark.parametrize(
    ("function", "method", "resource", "path_params"),
    [
        ("get_call", "GET", "/calls", None),
        ("get_call", "GET", "/calls/{call_id}", {"call_id": "c1"}),
        ("hangup_call", "POST", "/calls/{call_id}/hangup", {"call_id": "c1"}),
        ("personas", "GET", "/personas", None),
        ("personas", "GET", "/personas/{persona_id}", {"persona_id": "p"}),
        ("personas", "PUT", "/personas/{persona_id}", {"persona_id": "p"}),
    ],
)
def test_a_request_without_an_api_key_is_forbidden(
    handler_env: Any,
    ddb_table: Any,
    lambda_context: Any,
    function: str,
    method: str,
    resource: str,
    path_params: dict[str, str] | None,
) -> None:
    _call(CallRepository(ddb_table), "c1", "u1")
    event = api_event(method, resource, path_params=path_params, body={}, api_key_id=None)
    response = handler_env(function).lambda_handler(event, lambda_context)
    assert response["statusCode"] == 403 and json.loads(response["body"])["error"] == "forbidden"


def test_a_persona_body_that_is_not_json_is_a_400(
    handler_env: Any, ddb_table: Any, lambda_context: Any
) -> None:
    event = api_event("PUT", "/personas/{persona_id}", path_params={"persona_id": "p"}, body="{not json")
    response = handler_env("personas").lambda_handler(event, lambda_context)
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"] == "invalid_json"
    assert CallRepository(ddb_table).get_stored_persona("p") is None
