"""A complete emulated call through the real local stack, and its hang-up paths.

POST /calls (API key) -> trigger handler -> Twilio emulator -> signed answer webhook -> our TwiML
(parsed strictly) -> signed stream handshake -> stream host (offline engines) -> turns in
DynamoDB, read back with GET /calls/{id}. Kept to two calls: they are the slowest tests we have.
"""

from __future__ import annotations

import dataclasses
import wave

import aiohttp
import pytest

from local.demo import DEMO_SCRIPT, run_demo
from local.stack import LocalStack
from local.twilio_emulator.caller import CallerScript, Utterance
from tests.e2e.conftest import api, place_call, record_when

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

# Everything XML and URLs care about, in places that end up in TwiML and webhooks.
AWKWARD = 'Tom & Jerry\'s <"Dental"> Clinic'
REFUSALS = {11200, 12100, 12200, 31920, 31921, 31922, 31923, 31924}


async def _awkward_persona(stack: LocalStack, persona_id: str) -> None:
    status, persona = await api(stack, "GET", "/personas/appointment-reminder")
    assert status == 200, persona
    persona = {k: v for k, v in persona.items() if k != "persona_id"}
    persona["name"] = AWKWARD
    persona["greeting"] = f"Hi, this is {AWKWARD}. Do you have a moment?"
    status, body = await api(stack, "PUT", f"/personas/{persona_id}", json=persona)
    assert status in {200, 201}, body


async def test_api_refuses_calls_without_the_key(stack: LocalStack) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{stack.api_url}/calls", json={"to": "+15555550100", "persona_id": "x"}) as response,
    ):
        assert response.status == 403
        body = await response.json()
        assert body["error"] == "invalid_api_key" and "x-api-key" in body["message"]


async def test_complete_call_with_barge_in_and_caller_hang_up(stack: LocalStack) -> None:
    await _awkward_persona(stack, "awkward-persona")
    # The demo's caller, but hanging up after the bot's last reply instead of waiting for its goodbye.
    script = dataclasses.replace(DEMO_SCRIPT, hang_up=True)
    result = await run_demo(stack, persona_id="awkward-persona", to="+14155550111", script=script)
    call, record = result.call, result.record
    assert call is not None and record is not None
    story = [(e.at, e.kind, e.detail) for e in call.timeline if e.kind != "mark"]
    assert result.ok, (result.reasons, story)

    # Our TwiML never trips Twilio's refusals, even with & < > " ' in what it carries.
    assert not REFUSALS & set(call.error_codes()), call.errors
    assert call.stream_parameters.get("persona_id") == "awkward-persona"

    # Every webhook was accepted (signatures valid), and callbacks arrived in order.
    assert all(c.status is not None and c.status < 300 for c in call.callbacks), call.callbacks
    statuses = [c.params["CallStatus"] for c in call.callbacks if c.kind == "status"]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    history = [e["status"] for e in record["status_history"] if e.get("kind") == "call"]
    assert history == ["initiated", "ringing", "in-progress", "completed"]

    # The caller hung up (stop sent), after speaking every line of the script.
    assert call.stream_outcome is not None and call.stream_outcome.ended_by == "caller_hung_up"
    spoken = [e.detail for e in call.timeline if e.kind == "caller_stop"]
    assert spoken == [u.text for u in DEMO_SCRIPT.utterances]
    assert any(e.kind == "barge_in" for e in call.timeline), story
    assert any(e.kind == "clear" for e in call.timeline), ("no clear after the barge-in", story)

    # Turns in DynamoDB match what the emulator heard and said.
    turns = record["turns"]
    caller_turns = [t for t in turns if t["role"] == "caller"]
    bot_turns = [t for t in turns if t["role"] == "assistant"]
    assert 1 <= len(caller_turns) <= len(spoken)
    replies_heard = sum(1 for e in call.timeline if e.kind in {"greeting_start", "bot_reply_start"})
    assert replies_heard >= 2 and len(bot_turns) >= 2, (turns, story)
    # (Counts need not match exactly: a reply cut short by the hang-up may not be stored.)
    assert bot_turns[0]["text"] == f"Hi, this is {AWKWARD}. Do you have a moment?"
    assert any(t.get("interrupted") for t in bot_turns), (turns, story)
    assert [t["index"] for t in turns] == sorted(t["index"] for t in turns)

    # The recording holds both sides.
    assert call.recording_path is not None
    with wave.open(str(call.recording_path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        assert wav.getnframes() > 8000 * 3


async def test_bot_hangs_up_when_the_caller_says_goodbye(stack: LocalStack) -> None:
    assert stack.emulator is not None
    to = "+14155550122"
    stack.emulator.scripts[to] = CallerScript(
        (Utterance("Goodbye.", barge_in_ms=400),), hang_up=False, max_wait_ms=10_000
    )
    placed, call = await place_call(stack, to)
    # The bot ends the call: by the REST API (call_ended) or by closing the socket (server_closed).
    story = [(e.at, e.kind, e.detail) for e in call.timeline]
    assert call.stream_outcome is not None, story
    assert call.stream_outcome.ended_by in {"call_ended", "server_closed"}, story
    assert not any(e.kind == "caller_hang_up" for e in call.timeline)
    assert call.status == "completed" and not REFUSALS & set(call.error_codes())
    record = await record_when(stack, placed["call_id"], lambda r: r.get("status") == "completed")
    assert record["status"] == "completed"
