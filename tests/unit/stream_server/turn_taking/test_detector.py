"""Turn-taking decisions, from synthetic flags and from real (eSpeak) speech."""

from __future__ import annotations

import numpy as np
import pytest

from stream_server.audio.codec import FRAME_BYTES, split_frames, ulaw_to_pcm16
from stream_server.turn_taking.detector import (
    BargeIn,
    EndOfTurn,
    SpeechStarted,
    TurnDetector,
    TurnEvent,
    TurnSettings,
    VoiceActivityDetector,
    frame_dbfs,
)
from tests.unit.stream_server.espeak_audio import speech_ulaw, utterance

FRAME_S = 0.02


def run(pattern: str, detector: TurnDetector, *, bot: str | None = None) -> list[tuple[int, TurnEvent]]:
    """Feed a pattern of 'x' (speech) and '.' (silence) frames; returns (frame index, event)."""
    out: list[tuple[int, TurnEvent]] = []
    for i, ch in enumerate(pattern):
        speaking = bot is not None and bot[i] == "b"
        for ev in detector.feed(ch == "x", (i + 1) * FRAME_S, bot_speaking=speaking):
            out.append((i, ev))
    return out


def test_end_of_turn_after_configured_silence() -> None:
    det = TurnDetector(TurnSettings(end_of_turn_silence_ms=200, min_speech_ms=60))
    events = run("....xxxxxxxxxx" + "." * 15, det)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStarted", "EndOfTurn"]
    idx, eot = events[1]
    assert isinstance(eot, EndOfTurn)
    assert eot.onset_at == pytest.approx(4 * FRAME_S)
    assert eot.last_speech_at == pytest.approx(14 * FRAME_S)
    # 200 ms of silence = 10 frames after the last voiced frame (index 13).
    assert idx == 23
    assert not det.caller_speaking


def test_short_pauses_do_not_end_the_turn() -> None:
    det = TurnDetector(TurnSettings(end_of_turn_silence_ms=300, min_speech_ms=60))
    events = run("xxxxx" + "." * 10 + "xxxxx" + "." * 20, det)
    assert [type(e) for _, e in events] == [SpeechStarted, EndOfTurn]


def test_blips_never_open_a_turn() -> None:
    det = TurnDetector(TurnSettings(min_speech_ms=100, speech_gap_ms=60))
    assert run("x....x....xx......x" + "." * 60, det) == []


def test_barge_in_needs_sustained_speech_over_the_bot() -> None:
    det = TurnDetector(TurnSettings(min_speech_ms=60, barge_in_ms=200, end_of_turn_silence_ms=400))
    pattern = "....xxx......" + "xxxxxxxxxxxx" + "." * 30
    bot = "b" * len(pattern)
    events = run(pattern, det, bot=bot)
    barge = [(i, e) for i, e in events if isinstance(e, BargeIn)]
    assert len(barge) == 1
    idx, ev = barge[0]
    assert (
        idx == 13 + 9
    )  # the 10th voiced frame of the second run = 200 ms; the first run (60 ms) is not enough
    assert ev.decided_at - ev.onset_at == pytest.approx(0.2)


def test_no_barge_in_when_bot_is_silent() -> None:
    det = TurnDetector(TurnSettings(min_speech_ms=60, barge_in_ms=100))
    events = run("xxxxxxxxxxxxx" + "." * 50, det)
    assert not any(isinstance(e, BargeIn) for _, e in events)


def test_persona_silence_threshold_applies() -> None:
    det = TurnDetector(TurnSettings(end_of_turn_silence_ms=1000, min_speech_ms=40))
    det.set_end_of_turn_silence(100)
    events = run("xxxx" + "." * 8, det)
    assert isinstance(events[-1][1], EndOfTurn)
    assert events[-1][0] == 3 + 5


def test_dbfs() -> None:
    assert frame_dbfs(np.zeros(160, dtype=np.int16)) == float("-inf")
    full = np.full(160, 32767, dtype=np.int16)
    assert frame_dbfs(full) == pytest.approx(0.0, abs=0.01)


def _speech_flags(ulaw: bytes, vad: VoiceActivityDetector) -> list[bool]:
    return [vad.is_speech(ulaw_to_pcm16(f)) for f in split_frames(ulaw) if len(f) == FRAME_BYTES]


def test_vad_hears_real_speech_and_not_silence() -> None:
    vad = VoiceActivityDetector(aggressiveness=2)
    speech = _speech_flags(speech_ulaw("Hello, I would like to book a table for two."), vad)
    assert sum(speech) / len(speech) > 0.6
    hiss = (np.random.default_rng(1).normal(0, 30, 8000)).astype(np.int16)
    from stream_server.audio.codec import pcm16_to_ulaw

    assert sum(_speech_flags(pcm16_to_ulaw(hiss), vad)) == 0


def test_real_utterance_gives_one_turn() -> None:
    vad = VoiceActivityDetector(aggressiveness=2)
    det = TurnDetector(TurnSettings(end_of_turn_silence_ms=600))
    audio = utterance("Can you tell me the opening hours, please?", tail_ms=1200)
    events: list[TurnEvent] = []
    for i, frame in enumerate(split_frames(audio)):
        if len(frame) == FRAME_BYTES:
            events += det.feed(vad.is_speech(ulaw_to_pcm16(frame)), (i + 1) * FRAME_S, bot_speaking=False)
    assert [type(e) for e in events] == [SpeechStarted, EndOfTurn]
    start = events[0]
    assert isinstance(start, SpeechStarted)
    assert 0.15 <= start.onset_at <= 0.35


def test_two_backchannels_do_not_add_up_to_a_barge_in() -> None:
    det = TurnDetector(TurnSettings(min_speech_ms=60, barge_in_ms=200, speech_gap_ms=100))
    pattern = "xxxxxxx" + "......" + "xxxxxxx" + "." * 60
    events = run(pattern, det, bot="b" * len(pattern))
    assert not any(isinstance(e, BargeIn) for _, e in events)
