"""The opening disclosure is said first and never cut; recording starts only after a clear yes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from callcore.disclosure import DEFAULT_AI_DISCLOSURE, RECORDING_CONSENT_QUESTION
from callcore.models import CallRecord, CallStatus
from websockets.exceptions import ConnectionClosed

from stream_server.audio.codec import silence_ulaw
from stream_server.behaviours.disclosure import consent_given
from stream_server.conversation.actions import (
    CancelReply,
    EndCall,
    FeedStt,
    NoteDisclosure,
    PersistTurn,
    RecordConsent,
    Send,
    SpeakReply,
    SpeakText,
)
from stream_server.telephony.twilio_protocol import OutboundClear
from tests.factories import call_record
from tests.shell_frames import feed_frame
from tests.unit.stream_server.conftest import PERSONA as HOST_PERSONA
from tests.unit.stream_server.conftest import Host
from tests.unit.stream_server.espeak_audio import speech_ulaw, utterance
from tests.unit.stream_server.replay import Replay, persona, start_frame

DISCLOSURE = "Hello, this is P, an AI assistant. This call is recorded."
ASKING = f"Hello, this is P, an AI assistant. {RECORDING_CONSENT_QUESTION}"


def _opened(text: str = DISCLOSURE, *, ask_consent: bool = False) -> Replay:
    r = Replay(start=False)
    r.feed(feed_frame(r.state, start_frame(), r.t))
    r.feed(r.state.authenticated("call-1", persona(), r.t, disclosure=text, ask_consent=ask_consent))
    return r


def _dtmf(digit: str) -> str:
    return json.dumps(
        {"event": "dtmf", "streamSid": "MZ1", "dtmf": {"track": "inbound_track", "digit": digit}}
    )


def test_the_disclosure_is_said_before_the_greeting() -> None:
    r = _opened()
    assert r.spoken() == [("disclosure", DISCLOSURE)]  # nothing else yet, not even the greeting
    names = r.speak([DISCLOSURE])
    assert r.feed(r.state.on_reply_finished(r.t)) == []
    assert not any(isinstance(a, NoteDisclosure) for a in r.marks(names[:-1]))
    after = r.marks(names[-1:])  # the last mark back: heard in full
    assert [type(a) for a in after if isinstance(a, NoteDisclosure | SpeakText)] == [
        NoteDisclosure,
        SpeakText,
    ]
    assert r.spoken()[-1] == ("greeting", "Hi there.")


def test_the_caller_cannot_talk_over_the_disclosure_or_key_through_it() -> None:
    """Speech that would be a barge-in anywhere else neither cuts the disclosure nor becomes a turn."""
    r = _opened()
    names = r.speak([DISCLOSURE])
    r.feed(r.state.on_reply_finished(r.t))
    over = r.say(speech_ulaw("Wait, stop, who is this, I want to talk to someone.") + silence_ulaw(600))
    over += r.feed(feed_frame(r.state, _dtmf("5"), r.t))
    assert not any(isinstance(a, CancelReply | SpeakReply | PersistTurn) for a in over)
    assert not any(isinstance(a, Send) and isinstance(a.message, OutboundClear) for a in over)
    # The recogniser hears silence while the disclosure plays: the words cannot come back as a turn.
    fed = b"".join(a.audio for a in over if isinstance(a, FeedStt))
    assert fed and set(fed) == {0xFF}
    assert r.state.barge_ins == 0 and r.state.disclosing
    after = r.marks(names)
    assert NoteDisclosure() in after and r.spoken()[-1] == ("greeting", "Hi there.")
    assert not r.state.disclosing


def test_the_same_speech_over_a_greeting_does_cut_it() -> None:
    """The control for the test above: without a disclosure the caller can barge in."""
    r = _opened(text="")
    r.speak(["Hi there, this is a long greeting that goes on and on."])
    r.feed(r.state.on_reply_finished(r.t))
    over = r.say(speech_ulaw("Wait, stop, who is this, I want to talk to someone.") + silence_ulaw(600))
    assert any(isinstance(a, Send) and isinstance(a.message, OutboundClear) for a in over)


def test_a_disclosure_cut_by_a_hang_up_is_not_noted() -> None:
    r = _opened()
    r.speak([DISCLOSURE])
    r.feed(r.state.on_reply_finished(r.t))
    ended = r.feed(r.state.on_socket_closed(r.t))
    assert any(isinstance(a, EndCall) for a in ended)
    assert NoteDisclosure() not in r.actions
    assert ("greeting", "Hi there.") not in r.spoken()


def _answer(r: Replay, words: str) -> list[Any]:
    names = r.speak([ASKING])
    r.feed(r.state.on_reply_finished(r.t))
    heard = r.marks(names)
    assert NoteDisclosure() in heard and not any(isinstance(a, SpeakText) for a in heard)  # waits
    r.say(speech_ulaw(words) + silence_ulaw(400))
    return r.feed(r.state.on_transcript(words, r.t))


def test_a_yes_gives_consent_then_the_greeting() -> None:
    r = _opened(ASKING, ask_consent=True)
    out = _answer(r, "Yes, that's fine.")
    assert RecordConsent(True) in out
    assert not any(isinstance(a, SpeakReply) for a in out)  # the answer is not a question to the model
    assert r.spoken()[-1] == ("greeting", "Hi there.")


def test_anything_but_a_clear_yes_is_no_consent() -> None:
    r = _opened(ASKING, ask_consent=True)
    out = _answer(r, "No, I'd rather not.")
    assert RecordConsent(False) in out and RecordConsent(True) not in out
    assert r.spoken()[-1] == ("greeting", "Hi there.")


@pytest.mark.parametrize(
    ("answer", "given"),
    [
        ("Yes.", True),
        ("Sure, go ahead.", True),
        ("Okay, no problem.", True),
        ("No.", False),
        ("Yes, no wait, don't.", False),
        ("Who is this?", False),
        ("I'd rather not, thanks.", False),
        ("", False),
    ],
)
def test_consent_is_a_clear_yes(answer: str, given: bool) -> None:
    assert consent_given(answer) is given


# --- over a real socket: the record (moto) and Twilio's REST (a fake) -------------------------------


async def _until(host: Host, call_id: str, ready: Callable[[CallRecord], bool]) -> None:
    """Poll the call record (generous deadline: the machine is shared)."""
    async with asyncio.timeout(20):
        while True:
            record = await asyncio.to_thread(host.repository.get_call, call_id)
            if record is not None and ready(record):
                return
            await asyncio.sleep(0.05)


async def _call(
    host: Host,
    persona_id: str,
    words: str,
    *,
    metadata: dict[str, Any] | None = None,
    disclosed: bool = True,
    answered: Callable[[CallRecord], bool] = lambda r: True,
) -> str:
    """One call: wait until the disclosure was heard (or the first mark), say ``words``, wait until
    ``answered`` holds on the record, hang up."""
    host.stt.script = [words]
    call_id, call_sid, params = host.new_call(persona_id=persona_id)
    if metadata is not None:
        record = host.repository.get_call(call_id)
        assert record is not None
        host.repository.table.put_item(Item=replace(record, metadata=metadata).to_item())
    call = await host.connect()
    await call.start(call_sid, params)
    if disclosed:
        await _until(host, call_id, lambda r: r.disclosure_played_at is not None)
    else:
        await call.wait_for(lambda r: "mark" in [m["event"] for m in r])
    with contextlib.suppress(ConnectionClosed):
        await call.say(utterance(words))
        await _until(host, call_id, answered)
        await call.close()
    await asyncio.wait_for(call.closed.wait(), 15)
    await host.idle()
    return call_id


def _consent_noted(record: CallRecord) -> bool:
    return record.recording_consent is not None


async def test_consent_by_voice_starts_twilios_recording_mid_call(host: Host) -> None:
    host.repository.put_persona(replace(HOST_PERSONA, persona_id="rec", record=True, recording_consent=True))
    call_id = await _call(
        host, "rec", "Yes, that's fine.", answered=lambda r: r.recording_consent is not None
    )
    asked = f"{DEFAULT_AI_DISCLOSURE.format(name=HOST_PERSONA.name)} {RECORDING_CONSENT_QUESTION}"
    assert " ".join(host.tts.texts[:4]) == f"{asked} {HOST_PERSONA.greeting}"  # sentence by sentence
    [(path, form)] = [(p, f) for p, f in host.rest_requests if p.endswith("/Recordings.json")]
    record = host.repository.get_call(call_id)
    assert record is not None
    assert f"/Calls/{record.call_sid}/Recordings.json" in path
    assert form["RecordingChannels"] == ["dual"]
    assert form["RecordingStatusCallback"][0].endswith(f"/twilio/recording/{call_id}")
    assert record.recording_consent == "given" and record.recording_consent_at
    assert record.disclosure_played_at


async def test_a_refusal_goes_on_unrecorded(host: Host) -> None:
    host.repository.put_persona(replace(HOST_PERSONA, persona_id="rec", record=True, recording_consent=True))
    call_id = await _call(
        host, "rec", "No, please don't.", answered=lambda r: r.recording_consent is not None
    )
    assert not any(p.endswith("/Recordings.json") for p, _ in host.rest_requests)
    record = host.repository.get_call(call_id)
    assert record is not None and record.recording_consent == "refused" and record.disclosure_played_at


async def test_a_campaign_call_discloses_even_when_its_persona_does_not(host: Host) -> None:
    assert HOST_PERSONA.disclosure is None and not HOST_PERSONA.record
    call_id = await _call(host, "p1", "Thanks.", metadata={"campaign_id": "cmp-1", "campaign_row": 1})
    assert host.tts.texts[:2] == [DEFAULT_AI_DISCLOSURE.format(name=HOST_PERSONA.name), HOST_PERSONA.greeting]
    record = host.repository.get_call(call_id)
    assert record is not None and record.disclosure_played_at and record.recording_consent is None


async def test_a_plain_call_says_no_disclosure(host: Host) -> None:
    call_id = await _call(host, "p1", "Thanks.", disclosed=False)
    assert host.tts.texts[0] == HOST_PERSONA.greeting
    record = host.repository.get_call(call_id)
    assert record is not None and record.disclosure_played_at is None


def test_call_record_shape_is_public() -> None:
    record = call_record(
        status=CallStatus.COMPLETED,
        disclosure_played_at="2026-11-30T16:00:00+00:00",
        recording_consent="given",
    )
    public = record.to_json()
    assert public["disclosure_played_at"] and public["recording_consent"] == "given"
