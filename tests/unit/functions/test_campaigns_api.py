"""POST/GET /campaigns and pause/resume/cancel through the real handler (moto, no clock mocking:
the window is opened all week so the assertions do not depend on when the test runs)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from callcore.repository import CallRepository

from local.proxy_events import api_event
from tests.factories import persona

ALWAYS = {"start": "00:00", "end": "23:59", "outside_default_hours": True}
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PERSONA = persona(persona_id="reminder", prompt="Remind {{name}}.", greeting="Hi {{name}}, {{time}}?")


@pytest.fixture
def handler(handler_env: Any, ddb_table: Any) -> Any:
    CallRepository(ddb_table).put_persona(PERSONA)
    return handler_env("campaigns")


def _call(
    handler: Any,
    context: Any,
    method: str,
    resource: str,
    *,
    body: Any = None,
    params: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    content_type: str = "application/json",
    user: str = "u1",
) -> tuple[int, Any]:
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    event = api_event(
        method,
        resource,
        path_params=params,
        body=text,
        headers={"Content-Type": content_type},
        api_key_id=user,
    )
    event["queryStringParameters"] = query
    response = handler.lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def _json_body(*numbers: str, **extra: Any) -> dict[str, Any]:
    return {
        "persona_id": "reminder",
        "window": ALWAYS,
        "days": ALL_DAYS,
        "recipients": [{"to": n, "variables": {"name": "Ada", "time": "3 pm"}} for n in numbers],
        **extra,
    }


def test_json_campaign_lists_every_refused_row(handler: Any, lambda_context: Any) -> None:
    body = _json_body("+12125550101", "+12125550101", "not-a-number", "+447700900123", "+13125550101")
    status, created = _call(handler, lambda_context, "POST", "/campaigns", body=body)
    assert status == 202 and created["recipients"] == 2
    assert [(r["row"], r["error"]) for r in created["refused"]] == [
        (2, "duplicate"),
        (3, "invalid_phone_number"),
        (4, "destination_not_allowed"),
    ]
    status, got = _call(
        handler,
        lambda_context,
        "GET",
        "/campaigns/{campaign_id}",
        params={"campaign_id": created["campaign_id"]},
    )
    assert status == 200 and got["counts"]["pending"] == 2 and got["refused"] == 3
    assert [r["to"] for r in got["recipient_page"]] == ["+12125550101", "+13125550101"]
    assert got["window"] == ALWAYS and got["days"] == ALL_DAYS and got["max_concurrent"] == 2


def test_csv_campaign_and_recipient_pages(handler: Any, lambda_context: Any) -> None:
    lines = ["to,name,time"] + [f"+1212555{n:04d},Guest {n},{n % 12 + 1} pm" for n in range(100, 105)]
    query = {"persona_id": "reminder", "window_start": "00:00", "window_end": "23:59"}
    query |= {"outside_default_hours": "true", "days": ",".join(ALL_DAYS), "retry_no_answer": "1"}
    status, created = _call(
        handler,
        lambda_context,
        "POST",
        "/campaigns",
        body="\n".join(lines),
        query=query,
        content_type="text/csv",
    )
    assert status == 202 and created["recipients"] == 5 and created["refused"] == []
    cid = created["campaign_id"]
    rows: list[int] = []
    cursor: str | None = None
    while True:
        page_query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        _, got = _call(
            handler,
            lambda_context,
            "GET",
            "/campaigns/{campaign_id}",
            params={"campaign_id": cid},
            query=page_query,
        )
        rows += [r["row"] for r in got["recipient_page"]]
        assert all(r["variables"]["name"].startswith("Guest") for r in got["recipient_page"])
        cursor = got["next_cursor"]
        if cursor is None:
            break
    assert rows == [1, 2, 3, 4, 5] and got["retry"]["no_answer"] == 1
    _, listed = _call(handler, lambda_context, "GET", "/campaigns")
    assert [c["campaign_id"] for c in listed["campaigns"]] == [cid]
    assert _call(handler, lambda_context, "GET", "/campaigns", user="u2")[1]["campaigns"] == []


@pytest.mark.parametrize(
    ("csv_text", "query", "field", "code"),
    [
        ("to,name,time\n+12125550101,Ada\n", {}, "line 2", "invalid_csv_row"),
        ("to,name,time,colour\n+12125550101,Ada,3,red\n", {}, "variables.colour", "unknown_variable"),
        ("to,name\n+12125550101,Ada\n", {}, "variables.time", "missing_variables"),
        ("name,to\nAda,+12125550101\n", {}, "line 1", "invalid_csv"),
        (
            "to,name,time\n+12125550101,Ada,3\n",
            {"window_start": "18:00", "window_end": "10:00"},
            "window.start",
            "invalid_field",
        ),
        ("to,name,time\n+12125550101,Ada,3\n", {"timezone": "Mars/Base"}, "timezone", "invalid_field"),
        (
            "to,name,time\n+12125550101,Ada,3\n",
            {"max_concurrent": "9"},
            "max_concurrent",
            "max_concurrent_above_key_limit",
        ),
        ("to,name,time\n+12125550101,Ada,3\n", {"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_bad_submissions_are_400_naming_the_row_or_field(
    handler: Any,
    lambda_context: Any,
    ddb_table: Any,
    csv_text: str,
    query: dict[str, str],
    field: str,
    code: str,
) -> None:
    status, body = _call(
        handler,
        lambda_context,
        "POST",
        "/campaigns",
        body=csv_text,
        query={"persona_id": "reminder", **query},
        content_type="text/csv",
    )
    assert (status, body["error"], body["field"]) == (400, code, field), body
    assert field.split(".")[-1] in body["message"] or field in body["message"]
    assert not [i for i in ddb_table.scan()["Items"] if str(i["PK"]).startswith("CAMPAIGN")]


def test_missing_variables_are_listed_with_their_rows(handler: Any, lambda_context: Any) -> None:
    body = _json_body("+12125550101")
    body["recipients"].append({"to": "+12125550102", "variables": {"name": "Bo"}})
    status, error = _call(handler, lambda_context, "POST", "/campaigns", body=body)
    assert status == 400 and error["error"] == "missing_variables" and error["details"] == {"time": [2]}


def test_every_row_refused_is_400_with_the_reasons(handler: Any, lambda_context: Any) -> None:
    status, error = _call(handler, lambda_context, "POST", "/campaigns", body=_json_body("nope"))
    assert status == 400 and error["error"] == "no_recipients" and error["details"][0]["row"] == 1


def test_unknown_persona_is_404(handler: Any, lambda_context: Any) -> None:
    status, error = _call(
        handler,
        lambda_context,
        "POST",
        "/campaigns",
        body={**_json_body("+12125550101"), "persona_id": "ghost"},
    )
    assert status == 404 and error["field"] == "persona_id"


def test_pause_resume_cancel_and_ownership(handler: Any, lambda_context: Any) -> None:
    _, created = _call(handler, lambda_context, "POST", "/campaigns", body=_json_body("+12125550101"))
    params = {"campaign_id": created["campaign_id"]}

    def act(action: str, user: str = "u1") -> tuple[int, Any]:
        return _call(
            handler, lambda_context, "POST", f"/campaigns/{{campaign_id}}/{action}", params=params, user=user
        )

    assert act("pause", user="u2")[0] == 404
    assert act("resume")[0] == 409
    assert act("pause") == (202, {"campaign_id": params["campaign_id"], "state": "paused"})
    assert act("resume")[1]["state"] == "active"
    assert act("cancel")[1]["state"] == "cancelled"
    status, error = act("pause")
    assert status == 409 and "cancelled" in error["message"]
    assert (
        _call(handler, lambda_context, "GET", "/campaigns/{campaign_id}", params=params, user="u2")[0] == 404
    )
