"""Marks come back only after the audio before them has played; clear flushes and echoes."""

from local.twilio_emulator.playback import PlaybackBuffer


def test_mark_waits_for_audio_queued_before_it() -> None:
    speaker = PlaybackBuffer(now=0.0)
    speaker.push_audio(b"\x00" * 800, now=0.0)  # 100 ms of audio
    assert speaker.push_mark("m1", now=0.0).marks == []
    assert speaker.advance(0.05).marks == []
    step = speaker.advance(0.1)
    assert step.marks == ["m1"]
    assert sum(len(chunk) for _, chunk in step.played) == 400


def test_mark_with_nothing_queued_returns_at_once() -> None:
    speaker = PlaybackBuffer(now=0.0)
    assert speaker.push_mark("idle", now=1.0).marks == ["idle"]


def test_audio_arriving_after_idle_starts_when_it_arrives() -> None:
    speaker = PlaybackBuffer(now=0.0)
    speaker.advance(5.0)
    speaker.push_audio(b"\x01" * 160, now=5.0)
    step = speaker.advance(5.02)
    assert step.played == [(5.0, b"\x01" * 160)]


def test_clear_flushes_audio_and_echoes_pending_marks_in_order() -> None:
    speaker = PlaybackBuffer(now=0.0)
    speaker.push_audio(b"\x00" * 8000, now=0.0)
    speaker.push_mark("a", now=0.0)
    speaker.push_audio(b"\x00" * 8000, now=0.0)
    speaker.push_mark("b", now=0.0)
    step = speaker.clear(now=0.25)
    assert step.marks == ["a", "b"]
    assert sum(len(chunk) for _, chunk in step.played) == 2000  # what played before the clear
    assert not speaker.speaking()
    assert speaker.advance(10.0).played == []


def test_playback_is_real_time() -> None:
    speaker = PlaybackBuffer(now=0.0)
    speaker.push_audio(b"\x00" * 16000, now=0.0)
    played = sum(len(c) for _, c in speaker.advance(1.0).played)
    assert played == 8000
    assert speaker.speaking()
