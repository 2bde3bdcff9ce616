"""Least privilege in template.yaml, checked against what the code really does to the table.

The webhooks, the trigger, the hang-up, the reconciler and the outcomes worker get only the
DynamoDB actions they use (no whole-table CRUD: no Scan, no batches); the stream task role is
limited to the partitions a live call needs (``dynamodb:LeadingKeys``) and cannot Query at all.
The behavioural half records every DynamoDB request a flow makes (through the real repository,
against moto) and checks each one against the template's statements, so a new access path without
a policy change fails here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from callcore.fleet import TaskSlots
from callcore.models import CallStatus, CallSummary, TranscriptTurn
from callcore.repository import CallRepository
from callcore.table import ClientTable, ResourceTable

from tests.conftest import load_template
from tests.factories import call_record, persona

NARROWED = (
    "TwilioAnswerFunction",
    "TwilioStatusFunction",
    "TriggerCallFunction",
    "HangupCallFunction",
    "CallReconcilerFunction",
    "CallOutcomesFunction",
)
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
_OPERATIONS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "query": "Query",
    "scan": "Scan",
    "batch_write_item": "BatchWriteItem",
}
Request = tuple[str, str, str | None]  # (IAM action, leading key, index)


def _dynamodb_statements(policies: list[Any]) -> list[dict[str, Any]]:
    found = []
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            for statement in policy["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                if any(str(a).startswith("dynamodb:") for a in actions):
                    found.append({**statement, "Action": actions})
    return found


def _function_statements(name: str) -> list[dict[str, Any]]:
    return _dynamodb_statements(load_template()["Resources"][name]["Properties"]["Policies"])


def _task_role_statements() -> list[dict[str, Any]]:
    role = load_template()["Resources"]["StreamTaskRole"]["Properties"]
    return _dynamodb_statements([p["PolicyDocument"] for p in role["Policies"]])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _covers(resource: Any, index: str | None) -> bool:
    """tests.conftest.load_template keeps intrinsics' arguments: ``!GetAtt CallsTable.Arn`` is
    ``"CallsTable.Arn"`` and ``!Sub "${CallsTable.Arn}/index/GSI2"`` is its template string."""
    text = str(resource)
    if index is None:
        return text == "CallsTable.Arn"
    return text.startswith("${CallsTable.Arn}/index/") and text.endswith((f"/index/{index}", "/index/*"))


def _allowed(statements: list[dict[str, Any]], request: Request) -> bool:
    action, leading_key, index = request
    for statement in statements:
        if f"dynamodb:{action}" not in statement["Action"]:
            continue
        if not any(_covers(r, index) for r in _as_list(statement["Resource"])):
            continue
        condition = (statement.get("Condition") or {}).get("ForAllValues:StringLike", {})
        patterns = condition.get("dynamodb:LeadingKeys")
        if patterns is not None and not any(fnmatch.fnmatch(leading_key, p) for p in patterns):
            continue
        return True
    return False


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Request]]:
    """Every DynamoDB request made through callcore's table adapters, as IAM would judge it."""
    requests: list[Request] = []

    def recorder(original: Any) -> Any:
        def record(self: Any, operation: str, **params: Any) -> dict[str, Any]:
            note(operation, params)
            return original(self, operation, **params)  # type: ignore[no-any-return]

        return record

    def note(operation: str, params: dict[str, Any]) -> None:
        if operation == "transact_write_items":
            for entry in params["TransactItems"]:
                ((kind, body),) = entry.items()
                key = body.get("Key") or body.get("Item") or {}
                pk = key.get("PK")
                pk = pk.get("S") if isinstance(pk, dict) else pk
                requests.append((_TRANSACT_ACTIONS.get(kind, kind), str(pk), None))
        else:
            key = params.get("Key") or params.get("Item") or {}
            pk = key.get("PK") or (params.get("ExpressionAttributeValues") or {}).get(":pk", "")
            requests.append((_OPERATIONS.get(operation, operation), str(pk), params.get("IndexName")))

    monkeypatch.setattr(ResourceTable, "call", recorder(ResourceTable.call))
    monkeypatch.setattr(ClientTable, "call", recorder(ClientTable.call))
    yield requests


def test_narrowed_functions_have_no_whole_table_crud() -> None:
    for name in NARROWED:
        policies = load_template()["Resources"][name]["Properties"]["Policies"]
        assert not any(isinstance(p, dict) and "DynamoDBCrudPolicy" in p for p in policies), name
        actions = {a for s in _function_statements(name) for a in s["Action"]}
        assert actions, name
        assert not actions & {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem"}, name


def test_the_stream_task_role_is_bound_to_a_live_calls_partitions() -> None:
    statements = _task_role_statements()
    assert statements
    for statement in statements:
        assert "dynamodb:Query" not in statement["Action"] and "dynamodb:Scan" not in statement["Action"]
        assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    for forbidden in ("USER#u1", "CALLSID#CA1", "CAMPAIGN#c1", "IDEMPOTENCY#trigger_call"):
        assert not _allowed(statements, ("GetItem", forbidden, None)), forbidden


def test_what_the_stream_host_does_is_allowed_to_its_task_role(
    ddb_table: Any, recorded: list[Request]
) -> None:
    """The host's whole repository surface (``stream_server.services.Repository``), exercised."""
    from stream_server.services import Repository

    surface = {name for name in vars(Repository) if not name.startswith("_")}
    exercised = {
        "get_call", "get_persona", "put_turn", "consume_stream_token", "finish_call", "record_opt_out",
        "record_disclosure", "record_consent", "report_task_slots", "withdraw_task_slots",
        "record_update_refusal",
    }  # fmt: skip
    assert surface <= exercised, f"exercise {surface - exercised} here and check the task role"
    repo = CallRepository(ddb_table)
    repo.put_persona(persona())
    repo.create_call(call_record(status=CallStatus.IN_PROGRESS))
    recorded.clear()  # the setup above is the control plane's work, not the host's
    repo.get_call("c1")
    repo.get_persona("p")
    repo.consume_stream_token("nonce-1", 2_000_000_000, claimant="socket-a")
    repo.consume_stream_token("nonce-1", 2_000_000_000, claimant="socket-b")  # a replay: read back
    repo.put_turn("c1", TranscriptTurn(index=0, role="assistant", text="hi", started_at=0.0, ended_at=1.0))
    repo.record_opt_out("c1", at="2026-11-25T12:01:00.000Z")
    repo.record_opt_out("c1", at="2026-11-25T12:02:00.000Z")  # already listed: read back
    repo.record_disclosure("c1", at="2026-11-25T12:00:01.000Z")
    repo.record_consent("c1", given=True, at="2026-11-25T12:00:02.000Z")
    refusal = {"code": "21220", "message": "refused", "source": "update", "update": "transfer"}
    repo.record_update_refusal("c1", {**refusal, "at": "2026-11-25T12:00:03.000Z"})
    repo.report_task_slots(TaskSlots("t1", live=1, capacity=10, reported_at=1.0))
    repo.withdraw_task_slots("t1")
    summary = CallSummary(
        ended_at="2026-11-25T12:03:00.000Z", duration_seconds=60, turns=1, end_reason="hangup"
    )
    repo.finish_call("c1", summary)
    statements = _task_role_statements()
    refused = [r for r in recorded if not _allowed(statements, r)]
    assert recorded and not refused, refused


def test_the_answer_webhook_and_reconciler_stay_within_their_statements(
    handler_env: Any, ddb_table: Any, lambda_context: Any, recorded: list[Request], monkeypatch: Any
) -> None:
    from tests.unit.functions.conftest import signed_event

    repo = CallRepository(ddb_table)
    repo.put_persona(persona(persona_id="receptionist", name="R"))
    repo.report_task_slots(TaskSlots("t1", live=0, capacity=10, reported_at=__import__("time").time()))
    monkeypatch.setenv("TWILIO_FROM_NUMBER", "+15005550006")
    recorded.clear()
    answer = handler_env("twilio_answer")
    form = {"CallSid": "CA77", "From": "+14155550100", "To": "+15005550006"}
    assert answer.lambda_handler(signed_event("/twilio/answer", form), lambda_context)["statusCode"] == 200
    answer_requests = list(recorded)
    refused = [r for r in answer_requests if not _allowed(_function_statements("TwilioAnswerFunction"), r)]
    assert answer_requests and not refused, refused

    recorded.clear()
    reconciler = handler_env("call_reconciler")
    reconciler.lambda_handler({}, lambda_context)
    refused = [r for r in recorded if not _allowed(_function_statements("CallReconcilerFunction"), r)]
    assert recorded and not refused, refused


def test_the_outcomes_worker_stays_within_its_statements(ddb_table: Any, recorded: list[Request]) -> None:
    """A finish job (usage, cost, analysis, events) and delivery attempts, as ``call_outcomes`` runs them."""
    from callcore.analysis import OfflineModel
    from callcore.delivery import PostResult, attempt_delivery
    from callcore.outcomes import finish_call
    from callcore.pricing import PriceTable
    from callcore.webhooks import RetryPolicy

    repo = CallRepository(ddb_table)
    repo.put_persona(persona(analysis={"summary": True}))
    repo.create_call(call_record(status=CallStatus.COMPLETED, webhook_url="https://hooks.example.com/x"))
    repo.put_turn("c1", TranscriptTurn(index=0, role="caller", text="yes", started_at=0.0, ended_at=1.0))
    recorded.clear()
    now = datetime(2026, 11, 30, tzinfo=UTC)
    jobs = finish_call(repo, "c1", model=OfflineModel(), prices=PriceTable(), now=lambda: now)
    assert [j.event_type for j in jobs] == ["call.ended", "call.analyzed"]
    for job, status in zip(jobs, (503, 200), strict=True):
        outcome = attempt_delivery(
            job, repo=repo, post=lambda _, s=status: PostResult(s), policy=RetryPolicy(), now=0.0, at="t"
        )
        assert outcome.state == ("retrying" if status == 503 else "delivered")
    statements = _function_statements("CallOutcomesFunction")
    refused = [r for r in recorded if not _allowed(statements, r)]
    assert recorded and not refused, refused
