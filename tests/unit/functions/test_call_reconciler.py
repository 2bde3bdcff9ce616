"""The stale-call reconciler: the real handler and the real ``twilio`` SDK against the Twilio emulator.

Calls whose final status callback was "lost" (the emulator was given no StatusCallback) are
looked up at Twilio and closed; a call Twilio still has live past its limit is ended there first;
a call never dialled or unknown to Twilio is closed as failed. Slots come back exactly once, and
a second run changes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from callcore.models import CallRecord, CallStatus
from callcore.reconcile import TwilioCallView, reconcile_stuck_calls
from callcore.repository import CallRepository
from twilio.rest import Client

from local.twilio_emulator.emulator import EmulatorSettings, TwilioEmulator
from tests.factories import call_record, persona

STUCK = "2020-01-01T00:00:00Z"  # reconcile_after long past
NOT_YET = "2999-01-01T00:00:00Z"


def _record(call_id: str, *, sid: str | None, status: CallStatus, after: str = STUCK) -> CallRecord:
    return call_record(call_id=call_id, status=status, holds_slot=True, call_sid=sid, reconcile_after=after)


async def _emulated_call(emulator: TwilioEmulator, client: Client, twiml: str) -> str:
    call = await asyncio.to_thread(
        client.calls.create, to="+14155550123", from_="+15005550006", twiml=twiml
    )  # no status_callback: every callback of this call is "lost"
    return str(call.sid)


async def test_lost_callbacks_are_reconciled_through_twilios_rest_api(
    handler_env: Any, ddb_table: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = TwilioEmulator(EmulatorSettings(ring_seconds=0.02))
    await emulator.start()
    try:
        monkeypatch.setenv("TWILIO_API_BASE_URL", emulator.base_url)
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", emulator.settings.account_sid)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", emulator.settings.auth_token)
        from callcore.twilio_rest import RebasedTwilioHttpClient

        client = Client(
            emulator.settings.account_sid,
            emulator.settings.auth_token,
            http_client=RebasedTwilioHttpClient(emulator.base_url),
        )
        ended = await _emulated_call(emulator, client, "<Response><Hangup/></Response>")
        live = await _emulated_call(emulator, client, '<Response><Pause length="600"/></Response>')
        await asyncio.wait_for(emulator.calls[ended].finished.wait(), 20)

        repo = CallRepository(ddb_table)
        repo.put_persona(persona())
        records = [
            _record("ended", sid=ended, status=CallStatus.IN_PROGRESS),
            _record("live", sid=live, status=CallStatus.IN_PROGRESS),
            _record("never-dialled", sid=None, status=CallStatus.QUEUED),
            _record("unknown", sid="CA" + "0" * 32, status=CallStatus.RINGING),
            _record("young", sid="CA" + "1" * 32, status=CallStatus.IN_PROGRESS, after=NOT_YET),
        ]
        for record in records:
            assert repo.acquire_slot("u1", 10)
            assert repo.create_call(record)
        assert repo.active_calls("u1") == 5

        handler = handler_env("call_reconciler")
        first = await asyncio.to_thread(handler.lambda_handler, {}, lambda_context)
        assert first == {"examined": 4, "closed": 3, "ended_at_twilio": 1}
        status = {r.call_id: repo.get_call(r.call_id) for r in records}
        assert status["ended"] is not None and status["ended"].status is CallStatus.COMPLETED
        assert status["ended"].end_reason == "reconciled"
        assert status["never-dialled"] is not None and status["never-dialled"].status is CallStatus.FAILED
        assert status["unknown"] is not None and status["unknown"].status is CallStatus.FAILED
        assert status["unknown"].end_reason == "reconciled_unknown_at_twilio"
        assert status["live"] is not None and status["live"].status is CallStatus.IN_PROGRESS
        assert status["young"] is not None and status["young"].status is CallStatus.IN_PROGRESS
        assert repo.active_calls("u1") == 2  # three slots back, once each

        # Twilio was asked to end the live call; once it has, the next run closes the record.
        await asyncio.wait_for(emulator.calls[live].finished.wait(), 20)
        assert emulator.calls[live].status == "completed"
        second = await asyncio.to_thread(handler.lambda_handler, {}, lambda_context)
        assert second == {"examined": 1, "closed": 1}
        closed = repo.get_call("live")
        assert closed is not None and closed.status is CallStatus.COMPLETED
        assert repo.active_calls("u1") == 1  # only the young call still holds one

        third = await asyncio.to_thread(handler.lambda_handler, {}, lambda_context)
        assert third == {"examined": 0}  # idempotent: nothing left to do
    finally:
        await emulator.stop()


def test_each_run_is_bounded_and_takes_the_longest_stuck_first(ddb_table: Any) -> None:
    repo = CallRepository(ddb_table)
    for n in range(5):
        repo.acquire_slot("u1", 10)
        repo.create_call(
            _record(
                f"c{n}", sid=f"CA{n:032d}", status=CallStatus.IN_PROGRESS, after=f"202{4 - n}-01-01T00:00:00Z"
            )
        )
    asked: list[str] = []

    def fetch(sid: str) -> TwilioCallView:
        asked.append(sid)
        return TwilioCallView("completed", duration_seconds=30)

    def end(sid: str, status: str) -> None:
        raise AssertionError("nothing is live here")

    now = datetime.now(UTC)
    done = reconcile_stuck_calls(repo, fetch_call=fetch, end_call=end, now=now, limit=2)
    assert [d.call_id for d in done] == ["c4", "c3"]  # the oldest reconcile_after first
    assert len(asked) == 2
    late_callback = {"CallSid": f"CA{4:032d}", "CallStatus": "completed"}
    from callcore.status import apply_call_callback

    assert apply_call_callback(repo, "c4", late_callback, now=now).outcome == "stale"  # no double move
    rest = reconcile_stuck_calls(repo, fetch_call=fetch, end_call=end, now=now, limit=10)
    assert sorted(d.call_id for d in rest) == ["c0", "c1", "c2"]
    assert repo.active_calls("u1") == 0


def test_a_twilio_fault_leaves_the_call_for_the_next_run(ddb_table: Any) -> None:
    repo = CallRepository(ddb_table)
    repo.acquire_slot("u1", 10)
    repo.create_call(_record("c1", sid="CA" + "2" * 32, status=CallStatus.IN_PROGRESS))

    def fetch(sid: str) -> TwilioCallView:
        raise OSError("Twilio unreachable")

    done = reconcile_stuck_calls(
        repo, fetch_call=fetch, end_call=lambda *_: None, now=datetime.now(UTC), limit=5
    )
    assert [(d.call_id, d.action) for d in done] == [("c1", "twilio_error")]
    record = repo.get_call("c1")
    assert record is not None and record.status is CallStatus.IN_PROGRESS and repo.active_calls("u1") == 1
