"""Filler phrases when the reply is late: once, never twice in a row, never over the caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from stream_server.behaviours.filler import FillerSettings, choose_filler, filler_due
from stream_server.conversation.actions import PersistTurn, SpeakFiller, SpeakReply
from stream_server.speech.pipeline import ReplyAudio
from tests.unit.stream_server.conftest import PERSONA as HOST_PERSONA
from tests.unit.stream_server.conftest import Host
from tests.unit.stream_server.espeak_audio import utterance
from tests.unit.stream_server.replay import Replay, persona

FILLERS = ("Let me check.", "One moment.")


def asked(r: Replay, question: str = "When do you open?") -> None:
    reply = r.feed(r.state.on_transcript(question, r.t))
    assert any(isinstance(a, SpeakReply) for a in reply)


def fillers(actions: Sequence[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, SpeakFiller)]


def test_a_late_reply_gets_one_filler_and_it_comes_first_in_what_was_heard() -> None:
    r = Replay(persona(filler_phrases=FILLERS))
    r.play(["Hi there."])
    asked(r)
    assert fillers(r.feed(r.state.on_tick(r.t + 0.5))) == []
    assert fillers(r.feed(r.state.on_tick(r.t + 0.95))) == ["Let me check."]
    assert fillers(r.feed(r.state.on_tick(r.t + 1.5))) == []  # once per reply
    r.feed(r.state.on_filler_audio("Let me check.", b"\x55" * 400, r.t + 1.0))
    out = r.play(["We open at nine."])
    turn = [a.turn for a in out if isinstance(a, PersistTurn)][-1]
    assert turn.text == "Let me check. We open at nine."


def test_never_twice_in_a_row_and_rotating() -> None:
    r = Replay(persona(filler_phrases=FILLERS))
    r.play(["Hi there."])
    said: list[str] = []
    for question in ("One?", "Two?", "Three?"):
        asked(r, question)
        new = fillers(r.feed(r.state.on_tick(r.t + 2.0)))
        for text in new:
            r.feed(r.state.on_filler_audio(text, b"\x55" * 400, r.t))
        said += new
        r.play(["Answer."])
        r.t += 3.0
    # A filler, then a late reply without one (never two in a row), then a filler again.
    assert said == ["Let me check.", "One moment."]


def test_no_filler_when_the_reply_is_fast_or_the_caller_talks_or_none_configured() -> None:
    r = Replay(persona(filler_phrases=FILLERS))
    r.play(["Hi there."])
    asked(r)
    r.feed(r.state.on_reply_audio(ReplyAudio(0, "We open at nine.", b"\x55" * 400), r.t + 0.3))
    assert fillers(r.feed(r.state.on_tick(r.t + 2.0))) == []
    # A clip that arrives after the reply's own audio is dropped, not played over it.
    assert r.state.on_filler_audio("Let me check.", b"\x55" * 400, r.t) == []
    assert not filler_due(
        waited_s=5, settings=FillerSettings(), has_phrases=True, reply_audio_started=False,
        caller_speaking=True, filler_last_time=False,
    )  # fmt: skip
    plain = Replay(persona(filler_phrases=()))
    plain.play(["Hi there."])
    asked(plain)
    assert fillers(plain.feed(plain.state.on_tick(plain.t + 3.0))) == []
    assert choose_filler(FILLERS, 3) == "One moment."


async def test_filler_plays_before_a_slow_reply_over_a_real_socket(host: Host) -> None:
    host.repository.put_persona(replace(HOST_PERSONA, persona_id="p-fill", filler_phrases=("Let me check.",)))
    host.llm.first_token_s = 1.8
    call_id, call_sid, call = await host.start_call(persona_id="p-fill")
    await call.wait_for(lambda r: "mark" in [m["event"] for m in r])
    async with asyncio.timeout(10):
        while not host.services.filler_clips:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await call.say(utterance("What are your opening hours?"))
    async with asyncio.timeout(20):  # turns land in DynamoDB, not on the socket: poll them
        while len(host.turns(call_id)) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    reply = host.turns(call_id)[2]
    assert reply["role"] == "assistant"
    assert reply["text"].startswith("Let me check. Reply number")
    await call.stop(call_sid)
    await asyncio.wait_for(call.closed.wait(), 10)
