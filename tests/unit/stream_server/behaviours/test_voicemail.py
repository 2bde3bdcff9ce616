"""Answering machines: AMD result or greeting monologue, then the beep, then the message."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from callcore.models import Persona
from callcore.status import apply_call_callback
from websockets.exceptions import ConnectionClosed

from stream_server.audio.codec import pcm16_to_ulaw, silence_ulaw, ulaw_to_pcm16
from stream_server.behaviours.voicemail import MachineVerdict, ToneDetector, VoicemailSettings, VoicemailWatch
from stream_server.conversation.actions import CancelReply, Hangup, Phase, SpeakText
from tests.unit.stream_server.conftest import PERSONA as HOST_PERSONA
from tests.unit.stream_server.conftest import Host
from tests.unit.stream_server.espeak_audio import speech_ulaw
from tests.unit.stream_server.replay import Replay, persona

MESSAGE = "Hello, this is the shop calling about your order. Please call us back. Goodbye."
GREETING = (
    "Hi, you have reached Sam. I can't take your call right now. Please leave a message after the tone."
)


def tone(freq: float = 1000.0, ms: int = 500) -> bytes:
    n = 8 * ms
    return pcm16_to_ulaw((9000 * np.sin(2 * np.pi * freq * np.arange(n) / 8000)).astype(np.int16))


def machine_persona() -> Persona:
    return persona(machine_detection=True, voicemail_message=MESSAGE, greeting="Hi there, is this Sam?")


def test_amd_machine_start_waits_for_the_beep_then_leaves_the_message() -> None:
    r = Replay(machine_persona())
    r.say(silence_ulaw(200))
    out = r.feed(r.state.on_answered_by("machine_start", r.t))
    assert CancelReply in [type(a) for a in out]  # stop talking to a machine at once
    assert r.state.phase is Phase.ENDING and r.state.answering_machine
    r.say(speech_ulaw(GREETING))
    assert not any(k == "goodbye" for k, _ in r.spoken())  # not over the greeting
    r.say(silence_ulaw(300) + tone(1000, 500))
    assert not any(k == "goodbye" for k, _ in r.spoken())  # not over the beep either
    out = r.say(silence_ulaw(100))
    speak = [a for a in out if isinstance(a, SpeakText)]
    assert speak == [SpeakText(MESSAGE, "goodbye")]
    # No reply to whatever the recogniser made of the greeting.
    assert r.state.on_transcript("Hi you have reached Sam", r.t) == []
    assert Hangup("voicemail") in r.play_spoken(speak)
    assert r.state.on_hangup_done(r.t)[-1].reason == "voicemail"  # type: ignore[union-attr]


def test_amd_end_of_greeting_speaks_at_once() -> None:
    r = Replay(machine_persona())
    out = r.feed(r.state.on_answered_by("machine_end_beep", r.t))
    assert SpeakText(MESSAGE, "goodbye") in out


def test_a_greeting_monologue_is_a_machine_even_without_amd_then_silence_is_the_cue() -> None:
    r = Replay(machine_persona())
    r.say(speech_ulaw(GREETING))  # ~6 s of talking, no beep follows
    assert r.state.answering_machine
    r.say(silence_ulaw(1500))
    assert not any(k == "goodbye" for k, _ in r.spoken())
    r.say(silence_ulaw(700))
    assert r.spoken()[-1] == ("goodbye", MESSAGE)


def test_a_human_is_left_alone() -> None:
    r = Replay(machine_persona())
    r.say(silence_ulaw(300) + speech_ulaw("Hello?") + silence_ulaw(3000))
    assert r.feed(r.state.on_answered_by("human", r.t)) == []
    assert not r.state.answering_machine and r.state.phase is Phase.ACTIVE
    # A late machine verdict from audio can no longer happen after AMD said human.
    r.say(speech_ulaw(GREETING))
    assert not r.state.answering_machine


def test_no_message_configured_means_hang_up_on_the_machine() -> None:
    r = Replay(persona(machine_detection=True, voicemail_message=None))
    assert Hangup("machine") in r.feed(r.state.on_answered_by("machine_end_silence", r.t))


def test_a_fax_is_hung_up_on_at_once_without_a_message() -> None:
    r = Replay(machine_persona())
    out = r.feed(r.state.on_answered_by("fax", r.t))
    assert Hangup("machine") in out
    r.say(silence_ulaw(300) + tone(1100, 500) + silence_ulaw(3000))  # fax tones are not a beep
    assert not any(k == "goodbye" for k, _ in r.spoken())


def test_a_fax_after_the_audio_already_said_machine_still_hangs_up_silently() -> None:
    r = Replay(machine_persona())
    r.say(speech_ulaw(GREETING))
    assert r.state.answering_machine
    assert Hangup("machine") in r.feed(r.state.on_answered_by("fax", r.t))
    assert not any(k == "goodbye" for k, _ in r.spoken())


def test_amd_results_are_read_for_longer_than_twilio_tries_to_detect() -> None:
    from callcore.models import AMD_TIMEOUT_SECONDS

    assert VoicemailSettings().amd_poll_for_s >= AMD_TIMEOUT_SECONDS + 10


@pytest.mark.parametrize("freq", [440.0, 850.0, 1000.0, 1013.0, 1400.0, 2000.0])
def test_tone_detector_finds_common_beeps_through_mu_law(freq: float) -> None:
    d = ToneDetector(VoicemailSettings())
    pcm = ulaw_to_pcm16(tone(freq, 300))
    hits = [d.feed(pcm[i : i + 160]) for i in range(0, len(pcm), 160)]
    assert not hits[0] and any(hits)


def test_tone_detector_ignores_speech_and_noise() -> None:
    d = ToneDetector(VoicemailSettings())
    speech = ulaw_to_pcm16(speech_ulaw(GREETING + " Beep. Eee. Ooh."))
    noise = (np.random.default_rng(7).normal(0, 3000, 16000)).astype(np.int16)
    for pcm in (speech, noise):
        assert not any(d.feed(pcm[i : i + 160]) for i in range(0, len(pcm) - 160, 160))


def test_watch_is_bounded_by_the_maximum_wait() -> None:
    s = VoicemailSettings(max_wait_s=3.0, silence_after_greeting_s=10.0)
    w = VoicemailWatch(s, started_at=0.0)
    w.on_answered_by("machine_start", 0.0)
    talk = ulaw_to_pcm16(speech_ulaw("la la la"))[:160]
    verdicts = [w.on_frame(talk, True, 0.02 * i) for i in range(1, 200)]
    assert verdicts[-1] is MachineVerdict.SPEAK_NOW and w.reason == "amd-machine_start+timeout"


async def test_answering_machine_over_a_real_socket(host: Host) -> None:
    """AMD posted to the status callback (real control-plane code) reaches the live stream."""
    host.repository.put_persona(
        replace(HOST_PERSONA, persona_id="p-vm", machine_detection=True, voicemail_message=MESSAGE)
    )
    call_id, call_sid, call = await host.start_call(persona_id="p-vm")
    await call.say(silence_ulaw(200))
    form = {"CallSid": call_sid, "AnsweredBy": "machine_start", "MachineDetectionDuration": "1800"}
    await asyncio.to_thread(apply_call_callback, host.repository, call_id, form, now=datetime.now(UTC))
    with contextlib.suppress(ConnectionClosed):  # the bot may hang up before our last frames
        await call.say(speech_ulaw(GREETING) + silence_ulaw(300) + tone() + silence_ulaw(500), pace_s=0.002)
    await call.wait_for(lambda r: MESSAGE.split(".")[0] + "." in host.tts.texts, 20)
    await asyncio.wait_for(call.closed.wait(), 15)
    await host.idle()
    assert host.rest_requests[-1][1]["Status"] == ["completed"]
    assert host.llm.calls == 0  # the machine was never answered by the model
    record = host.repository.get_call(call_id)
    assert record is not None and record.end_reason == "voicemail" and record.answered_by == "machine_start"
