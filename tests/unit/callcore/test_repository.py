from __future__ import annotations

from typing import Any

from callcore.models import CallRecord, CallStatus, CallSummary, StatusEvent, TranscriptTurn
from callcore.repository import CallRepository

from tests.factories import call_record, persona


def _record(call_id: str = "c1", *, created: str = "2026-01-01T00:00:00Z") -> CallRecord:
    return call_record(call_id=call_id, at=created, holds_slot=True)


def _event(call_id: str, status: str, seq: str) -> StatusEvent:
    return StatusEvent(call_id=call_id, kind="call", at=f"2026-01-01T00:00:0{seq}Z", seq=seq, status=status)


def test_create_is_conditional(repo_table: Any) -> None:
    repo = CallRepository(repo_table)
    assert repo.create_call(_record())
    assert not repo.create_call(_record())
    got = repo.get_call("c1")
    assert got is not None and got.status is CallStatus.QUEUED
    assert repo.get_call("missing") is None


def test_dial_claim_is_granted_once(repo_table: Any) -> None:
    repo = CallRepository(repo_table)
    repo.create_call(_record())
    assert repo.mark_dial_started("c1", "t1")
    assert not repo.mark_dial_started("c1", "t2")
    assert not repo.mark_dial_started("nope", "t1")


def test_slots_respect_the_limit_and_release(repo_table: Any) -> None:
    repo = CallRepository(repo_table)
    assert repo.acquire_slot("u1", 2) and repo.acquire_slot("u1", 2)
    assert not repo.acquire_slot("u1", 2)
    repo.release_slot("u1")
    assert repo.active_calls("u1") == 1
    repo.release_slot("u1")
    repo.release_slot("u1")  # never below zero
    assert repo.active_calls("u1") == 0


def test_advance_status_is_monotonic_and_releases_once(repo_table: Any) -> None:
    repo = CallRepository(repo_table)
    repo.acquire_slot("u1", 3)
    repo.create_call(_record())
    rec = repo.get_call("c1")
    assert rec is not None
    assert repo.advance_status(rec, CallStatus.RINGING, fields={}, event=_event("c1", "ringing", "1"))
    assert not repo.advance_status(rec, CallStatus.INITIATED, fields={}, event=_event("c1", "initiated", "2"))
    rec = repo.get_call("c1")
    assert rec is not None
    assert repo.advance_status(
        rec, CallStatus.COMPLETED, fields={"duration_seconds": 42}, event=_event("c1", "completed", "3")
    )
    # A second terminal callback (stale copy of the record still says holds_slot) changes nothing.
    assert not repo.advance_status(rec, CallStatus.FAILED, fields={}, event=_event("c1", "failed", "4"))
    final = repo.get_call("c1")
    assert final is not None
    assert final.status is CallStatus.COMPLETED and final.duration_seconds == 42 and not final.holds_slot
    assert repo.active_calls("u1") == 0
    history = repo.get_call_history("c1")
    assert history is not None
    assert [e.status for e in history.events] == ["ringing", "completed"]


def test_turns_are_idempotent_and_history_is_one_query(repo_table: Any) -> None:
    repo = CallRepository(repo_table)
    repo.create_call(_record())
    turn = TranscriptTurn(index=0, role="assistant", text="Hello", started_at=0.0, ended_at=1.0)
    repo.put_turn("c1", turn)
    repo.put_turn(
        "c1", TranscriptTurn(index=0, role="assistant", text="changed", started_at=0.0, ended_at=1.0)
    )
    repo.put_turn("c1", TranscriptTurn(index=1, role="caller", text="Hi", started_at=1.0, ended_at=2.0))
    history = repo.get_call_history("c1")
    assert history is not None
    assert [t.text for t in history.turns] == ["Hello", "Hi"]
    assert history.to_json()["turns"][1]["role"] == "caller"


def test_stream_token_nonce_is_single_use(repo_table: Any) -> None:
    repo = CallRepository(repo_table)
    assert repo.consume_stream_token("n1", 2000, claimant="socket-a")
    assert not repo.consume_stream_token("n1", 2000, claimant="socket-b")


def test_a_retried_token_claim_that_already_landed_is_still_the_sockets_own(repo_table: Any) -> None:
    """botocore retries the conditional write after a read timeout; when the first attempt did
    land, the retry meets its own claim. That must not end the call as a replayed token."""
    repo = CallRepository(repo_table)
    assert repo.consume_stream_token("n2", 2000, claimant="socket-a")
    assert repo.consume_stream_token("n2", 2000, claimant="socket-a")  # the retry
    assert not repo.consume_stream_token("n2", 2000, claimant="socket-b")  # a real replay


def test_call_sid_link_and_finish(repo_table: Any) -> None:
    repo = CallRepository(repo_table)
    repo.create_call(_record())
    repo.link_call_sid("c1", "CA123")
    assert repo.find_call_id_by_sid("CA123") == "c1"
    repo.finish_call(
        "c1", CallSummary(ended_at="2026-01-01T00:01:00Z", duration_seconds=60, turns=4, end_reason="hangup")
    )
    repo.finish_call("unknown", CallSummary(ended_at="x", duration_seconds=1, turns=0, end_reason="x"))
    got = repo.get_call("c1")
    assert got is not None and got.call_sid == "CA123" and got.end_reason == "hangup" and got.turn_count == 4


def test_personas_and_user_calls_by_time(repo_table: Any) -> None:
    repo = CallRepository(repo_table)
    repo.put_persona(persona(persona_id="b", name="B"))
    repo.put_persona(persona(persona_id="a", name="A"))
    assert [p.persona_id for p in repo.list_personas()] == ["a", "b"]
    got = repo.get_persona("a")
    assert got is not None and got.name == "A"
    repo.create_call(_record("old", created="2026-01-01T00:00:00Z"))
    repo.create_call(_record("new", created="2026-02-01T00:00:00Z"))
    assert [c.call_id for c in repo.list_calls_for_user("u1")] == ["new", "old"]


def test_live_call_clients_have_short_timeouts_and_bounded_retries(aws_env: None) -> None:
    from callcore.aws_session import LIVE_CALL_TIMEOUTS, reset_aws_session
    from callcore.repository import build_table
    from callcore.settings import Settings

    reset_aws_session()
    client = build_table(Settings(), timeouts=LIVE_CALL_TIMEOUTS).client
    config = client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1.0, 2.0)
    assert config.retries["total_max_attempts"] == 3
    default = build_table(Settings()).client.meta.config
    assert default.read_timeout == 60


def test_warm_client_builds_the_botocore_client_once_before_the_first_request(ddb_table: Any) -> None:
    from callcore.aws_session import aws_client
    from callcore.table import ClientTable

    built: list[Any] = []

    def dynamodb_client() -> Any:
        built.append(aws_client("dynamodb", region_name="us-east-1"))
        return built[-1]

    repo = CallRepository(ClientTable(ddb_table.name, dynamodb_client))
    assert built == []  # nothing is loaded until asked
    repo.warm_client()
    repo.warm_client()
    assert len(built) == 1
    # The requests then go through that same client (to moto's table), building nothing more.
    assert repo.create_call(_record()) and repo.get_call("c1") is not None
    assert len(built) == 1 and built[0].meta.service_model.service_name == "dynamodb"


def test_warm_client_over_a_boto3_resource_changes_nothing(ddb_table: Any) -> None:
    repo = CallRepository(ddb_table)
    repo.warm_client()
    assert repo.create_call(_record()) and repo.get_call("c1") is not None
