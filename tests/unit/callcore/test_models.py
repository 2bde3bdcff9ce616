from __future__ import annotations

from callcore.models import CallRecord, CallStatus, Persona, TranscriptTurn

from tests.factories import call_record
from tests.factories import persona as make_persona


def test_status_ranks_are_monotonic_and_terminals_final() -> None:
    order = [CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS]
    assert [s.rank for s in order] == sorted({s.rank for s in order})
    terminals = [s for s in CallStatus if s.is_terminal]
    assert set(terminals) == {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.NO_ANSWER,
        CallStatus.FAILED,
        CallStatus.CANCELED,
    }
    assert all(t.rank > CallStatus.IN_PROGRESS.rank for t in terminals)


def test_call_record_item_round_trip() -> None:
    record = call_record(
        call_id="c1", user_id="u1", status=CallStatus.RINGING, metadata={"order": 7, "ratio": 0.5}
    )
    item = record.to_item()
    assert item["PK"] == "CALL#c1" and item["SK"] == "META"
    assert item["GSI1PK"] == "USER#u1" and item["GSI1SK"].endswith("#c1")
    assert item["status_rank"] == CallStatus.RINGING.rank
    assert CallRecord.from_item(item) == record
    assert "holds_slot" not in record.to_json()


def test_persona_and_turn_round_trip() -> None:
    persona = make_persona(filler_phrases=("um",))
    assert Persona.from_item(persona.to_item()) == persona
    turn = TranscriptTurn(
        index=3, role="caller", text="hi", started_at=1.5, ended_at=2.25, latency_ms={"stt": 12.5}
    )
    item = turn.to_item("c1")
    assert item["SK"] == "TURN#00003"
    assert TranscriptTurn.from_item(item) == turn


def test_twilio_time_limit_leaves_room_for_the_goodbye_and_stays_within_four_hours() -> None:
    short = make_persona(max_duration_seconds=600)
    assert short.goodbye_at_seconds == 600 and short.twilio_time_limit_seconds == 645
    longest = make_persona(max_duration_seconds=4 * 3600)
    assert longest.twilio_time_limit_seconds == 4 * 3600
    assert longest.goodbye_at_seconds == 4 * 3600 - 45
    for seconds in (30, 600, 4 * 3600 - 45, 4 * 3600 - 10, 4 * 3600):
        persona = make_persona(max_duration_seconds=seconds)
        assert persona.twilio_time_limit_seconds - persona.goodbye_at_seconds >= 45
        assert persona.twilio_time_limit_seconds <= 4 * 3600
