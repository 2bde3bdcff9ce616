from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from callcore.models import CallStatus
from callcore.repository import CallRepository
from callcore.status import apply_call_callback, apply_recording_callback, apply_stream_callback

from tests.factories import repository_with_call

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

SEQUENCE = [
    {"CallSid": "CA1", "CallStatus": "initiated", "SequenceNumber": "0"},
    {"CallSid": "CA1", "CallStatus": "ringing", "SequenceNumber": "1"},
    {"CallSid": "CA1", "CallStatus": "in-progress", "SequenceNumber": "2"},
    {"CallSid": "CA1", "AnsweredBy": "human", "MachineDetectionDuration": "1800"},
    # As Twilio sends it once AMD has decided: AnsweredBy again.
    {
        "CallSid": "CA1",
        "CallStatus": "completed",
        "SequenceNumber": "3",
        "CallDuration": "37",
        "AnsweredBy": "human",
    },
]


def _setup(table: Any) -> CallRepository:
    return repository_with_call(table)


@pytest.mark.parametrize("seed", range(8))
def test_shuffled_and_duplicated_callbacks_end_completed(repo_table: Any, seed: int) -> None:
    repo = _setup(repo_table)
    deliveries = SEQUENCE + random.Random(seed).sample(SEQUENCE, k=3)
    random.Random(seed).shuffle(deliveries)
    for form in deliveries:
        apply_call_callback(repo, "c1", form, now=NOW)
    record = repo.get_call("c1")
    assert record is not None
    assert record.status is CallStatus.COMPLETED
    assert record.duration_seconds == 37 and record.answered_by == "human" and record.call_sid == "CA1"
    assert not record.holds_slot and repo.active_calls("u1") == 0
    history = repo.get_call_history("c1")
    assert history is not None
    statuses = [e.status for e in history.events if e.kind == "call"]
    assert statuses.count("completed") == 1
    assert len(statuses) == len(set(statuses))  # duplicates were not accepted


def test_the_amd_result_is_one_history_entry_however_often_twilio_repeats_it(repo_table: Any) -> None:
    repo = _setup(repo_table)
    for second, form in enumerate(SEQUENCE):  # one callback a second, as a call goes
        apply_call_callback(repo, "c1", form, now=NOW.replace(second=second))
    history = repo.get_call_history("c1")
    assert history is not None
    assert [(e.kind, e.detail.get("AnsweredBy")) for e in history.events if e.kind == "amd"] == [
        ("amd", "human")
    ]
    record = repo.get_call("c1")
    assert record is not None and record.answered_by == "human"


def test_competing_terminal_states_release_once(repo_table: Any) -> None:
    repo = _setup(repo_table)
    repo.acquire_slot("u1", 3)  # a second, unrelated live call of the same user
    assert apply_call_callback(repo, "c1", {"CallStatus": "busy"}, now=NOW).outcome == "applied"
    assert apply_call_callback(repo, "c1", {"CallStatus": "no-answer"}, now=NOW).outcome == "stale"
    assert apply_call_callback(repo, "c1", {"CallStatus": "ringing"}, now=NOW).outcome == "stale"
    record = repo.get_call("c1")
    assert record is not None and record.status is CallStatus.BUSY
    assert repo.active_calls("u1") == 1


def test_unknown_status_and_unknown_call(repo_table: Any) -> None:
    repo = _setup(repo_table)
    assert apply_call_callback(repo, "c1", {"CallStatus": "exploded"}, now=NOW).outcome == "ignored"
    assert apply_call_callback(repo, "nope", {"CallStatus": "ringing"}, now=NOW).outcome == "unknown_call"
    assert (
        apply_stream_callback(repo, "nope", {"StreamEvent": "stream-started"}, now=NOW).outcome
        == "unknown_call"
    )


def test_stream_and_recording_facts_land_on_the_record(repo_table: Any) -> None:
    repo = _setup(repo_table)
    apply_stream_callback(
        repo,
        "c1",
        {"StreamEvent": "stream-error", "StreamSid": "MZ1", "StreamError": "handshake failed"},
        now=NOW,
    )
    apply_recording_callback(repo, "c1", {"RecordingStatus": "in-progress"}, now=NOW)
    apply_recording_callback(
        repo,
        "c1",
        {
            "RecordingStatus": "completed",
            "RecordingUrl": "https://api.twilio.com/rec/RE1",
            "RecordingSid": "RE1",
        },
        now=NOW,
    )
    record = repo.get_call("c1")
    assert record is not None
    assert (record.stream_event, record.stream_sid, record.stream_error) == (
        "stream-error",
        "MZ1",
        "handshake failed",
    )
    assert record.recording_url == "https://api.twilio.com/rec/RE1" and record.recording_sid == "RE1"
    assert record.status is CallStatus.QUEUED
