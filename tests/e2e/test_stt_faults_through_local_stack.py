"""Calls through the real local stack that meet what the real services do (issue 16).

The stream host runs its real ElevenLabs STT adapter against the strict fake (in this process),
with offline TTS and LLM, and the Twilio emulator counts `TimeLimit` from answer as Twilio does.
- The fake's fault schedule closes the Scribe socket normally (1000, no error, no transcript) on
  the caller's second turn and answers the third turn's commit with `commit_throttled`; the call
  must still answer every caller turn, in order, with their words.
- A call that reaches its persona's maximum duration says its goodbye and hangs up itself, before
  Twilio's `TimeLimit` (which started earlier, at answer) can cut it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from local.fake_providers.elevenlabs import FakeElevenLabs
from local.stack import LocalStack
from local.twilio_emulator.caller import CallerScript, Utterance
from tests.e2e.conftest import api, place_call, record_when, started_stack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

KEY = "e2e-elevenlabs-key"
SAID = ("I would like to change my appointment.", "Tuesday morning works for me.", "Nine o'clock please.")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def faulty_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[LocalStack, FakeElevenLabs]]:
    async with FakeElevenLabs(api_key=KEY, stt_commit_ms=100) as fake:
        base = {
            "STT_PROVIDER": "elevenlabs",
            "TTS_PROVIDER": "offline",
            "LLM_PROVIDER": "offline",
            "ELEVENLABS_API_KEY": KEY,
            "ELEVENLABS_BASE_URL": fake.base_url,
        }
        async with started_stack(tmp_path_factory.mktemp("recordings"), base) as local:
            yield local, fake


async def test_call_survives_a_scribe_normal_close_and_commit_throttled(
    faulty_stack: tuple[LocalStack, FakeElevenLabs],
) -> None:
    stack, fake = faulty_stack
    assert stack.emulator is not None
    fake.say_next(*SAID)
    fake.inject_stt_commit("ok", "normal_close", "commit_throttled")
    to = "+14155550133"
    stack.emulator.scripts[to] = CallerScript(
        tuple(Utterance(text, pause_ms=600) for text in SAID), hang_up=True, max_wait_ms=20_000
    )
    placed, call = await place_call(stack, to)
    story = [(e.at, e.kind, e.detail) for e in call.timeline if e.kind != "mark"]

    # The faults happened: a second socket after the close, and a throttled commit re-sent.
    assert len(fake.stt_sessions) >= 2, story
    sent = [m["message_type"] for s in fake.stt_sessions for m in s.sent]
    assert "commit_throttled" in sent, sent

    # The caller never waited in vain (the bot answered each turn in time) and hung up at the end.
    assert not any(e.kind == "caller_gave_up_waiting" for e in call.timeline), story
    assert [e.detail for e in call.timeline if e.kind == "caller_stop"] == list(SAID), story
    assert call.stream_outcome is not None and call.stream_outcome.ended_by == "caller_hung_up", story

    # The call record: the words of each turn (the lost one replayed on the new socket), each
    # followed by the bot's answer.
    def answered_three_turns(record: dict[str, Any]) -> bool:
        turns = sorted(record.get("turns", []), key=lambda t: t["index"])
        return sum(t["role"] == "caller" for t in turns) >= 3 and turns[-1]["role"] == "assistant"

    record = await record_when(stack, placed["call_id"], answered_three_turns)
    turns = sorted(record["turns"], key=lambda t: t["index"])
    caller_turns = [t["text"] for t in turns if t["role"] == "caller"]
    assert " ".join(caller_turns) == " ".join(SAID), (turns, story)
    for position, turn in enumerate(turns):
        if turn["role"] == "caller":
            assert any(t["role"] == "assistant" for t in turns[position + 1 :]), (turns, story)
    assert turns[-1]["role"] == "assistant", (turns, story)


SHORT_CALL = {
    "name": "Short call",
    "voice_id": "21m00Tcm4TlvDq8ikWAM",
    "prompt": "You are a patient assistant. Answer in one short sentence.",
    "greeting": "Hello, this call is short.",
    "goodbye": "Our time is up. Thank you, and have a good day.",
    "max_duration_seconds": 30,  # the shortest a persona may ask for
    "idle_timeout_seconds": 20,
    "machine_detection": False,
}


async def test_a_call_at_its_maximum_duration_says_goodbye_before_twilios_time_limit(
    faulty_stack: tuple[LocalStack, FakeElevenLabs],
) -> None:
    stack, fake = faulty_stack
    assert stack.emulator is not None
    status, stored = await api(stack, "PUT", "/personas/short-call", json=SHORT_CALL)
    assert status in (200, 201), stored
    lines = [f"Here is point number {n} of my long story." for n in range(1, 16)]
    fake.say_next(*lines)
    to = "+14155550134"
    stack.emulator.scripts[to] = CallerScript(
        tuple(Utterance(text, pause_ms=500) for text in lines), hang_up=True, max_wait_ms=20_000
    )
    placed, call = await place_call(stack, to, {"persona_id": "short-call"})
    story = [(e.at, e.kind, e.detail) for e in call.timeline if e.kind != "mark"]

    # The bot ended the call (its goodbye, then its own hang-up) well before Twilio's TimeLimit,
    # which runs from answer; the caller still had things to say.
    record = await record_when(stack, placed["call_id"], lambda r: r.get("end_reason") is not None)
    turns = sorted(record["turns"], key=lambda t: t["index"])
    assert record["end_reason"] == "max-duration", (record["end_reason"], story)
    assert turns[-1]["role"] == "assistant" and turns[-1]["text"] == SHORT_CALL["goodbye"], turns
    assert call.start_time is not None and call.end_time is not None
    answered_for = (call.end_time - call.start_time).total_seconds()
    assert 30 <= answered_for < call.request.time_limit_seconds - 10, (answered_for, story)
    assert len([e for e in call.timeline if e.kind == "caller_stop"]) < len(lines), story
