"""The scripted caller: waits for the bot, barges in on time, measures latency, hangs up."""

import pytest

from local.twilio_emulator.caller import Caller, CallerScript, Utterance, turn_latencies_ms, voice_to_voice_ms
from local.twilio_emulator.voice import render_speech, trailing_silence_ms


def _voice(text: str) -> bytes:
    return b"\x10" * 800  # 100 ms per utterance


def _run(caller: Caller, bot: dict[float, float], until: float) -> list[tuple[float, str]]:
    """Drive the caller at 20 ms ticks; `bot` maps start time -> seconds of bot audio."""
    ticks: list[tuple[float, str]] = []
    speaking_until = -1.0
    for n in range(int(until / 0.02)):
        now = n * 0.02
        for start, length in bot.items():
            if abs(start - now) < 1e-9:
                speaking_until = now + length
        played = [(now, b"\x00" * 160)] if now < speaking_until else []
        caller.heard_bot(played, speaking=now + 0.02 < speaking_until)
        frame = caller.tick(now)
        if frame.audio != b"\xff" * 160:
            ticks.append((round(now, 2), "speech"))
        if frame.hang_up:
            ticks.append((round(now, 2), "hang_up"))
            break
    return ticks


def test_waits_for_the_greeting_to_end_then_speaks_and_hangs_up() -> None:
    script = CallerScript((Utterance("hello", pause_ms=200),), hang_up=True)
    caller = Caller(script, _voice, started_at=0.0)
    ticks = _run(caller, {0.5: 1.0, 2.2: 0.5}, until=5.0)
    first_speech = next(t for t, kind in ticks if kind == "speech")
    assert 1.7 <= first_speech <= 1.8  # greeting ended at 1.5 s, then a 200 ms pause
    assert ticks[-1][1] == "hang_up" and ticks[-1][0] > 2.7
    # The caller stopped at about 1.82 s and the reply was heard at 2.2 s.
    assert turn_latencies_ms(caller.timeline) == [pytest.approx(380, abs=25)]
    # From the caller's last word: the line's trailing silence (here 40 ms, by its name) added back.
    assert voice_to_voice_ms(caller.timeline, lambda line: {"hello": 40.0}[line]) == [
        pytest.approx(420, abs=25)
    ]


def test_espeak_lines_end_in_silence_that_is_not_speech() -> None:
    """What voice_to_voice_ms adds back: eSpeak pads each line with silence after its last word."""
    line = render_speech("Thank you, goodbye.")
    tail = trailing_silence_ms(line)
    assert 100 < tail < 600
    assert trailing_silence_ms(line + b"\xff" * 800) == pytest.approx(tail + 100, abs=1)


def test_barge_in_starts_during_the_bot_reply() -> None:
    script = CallerScript((Utterance("one", pause_ms=100), Utterance("two", barge_in_ms=300)), hang_up=False)
    caller = Caller(script, _voice, started_at=0.0)
    # greeting 0.1-0.3 s; reply to "one" starts at 1.0 s and would last 2 s
    _run(caller, {0.1: 0.2, 1.0: 2.0}, until=3.5)
    kinds = [(e.kind, e.at) for e in caller.timeline]
    barge = next(at for kind, at in kinds if kind == "barge_in")
    assert 1.28 <= barge <= 1.34
    assert [k for k, _ in kinds].count("caller_stop") == 2


def test_gives_up_waiting_for_a_silent_bot() -> None:
    script = CallerScript((Utterance("anyone there?"),), hang_up=False, max_wait_ms=500)
    caller = Caller(script, _voice, started_at=0.0)
    ticks = _run(caller, {}, until=1.0)
    assert ticks and 0.48 <= ticks[0][0] <= 0.52
    assert any(e.kind == "caller_gave_up_waiting" for e in caller.timeline)


def test_a_stuttering_old_reply_is_not_taken_for_the_next_one() -> None:
    script = CallerScript((Utterance("one", barge_in_ms=100),), hang_up=False)
    caller = Caller(script, _voice, started_at=0.0)
    # Greeting 0.0-0.4 s, then more of it after a 100 ms underrun (0.5-0.9 s); the reply at 2.0 s.
    _run(caller, {0.0: 0.4, 0.5: 0.4, 2.0: 0.5}, until=3.0)
    # The caller barged in at 0.1 s and stopped at 0.2 s; the 0.5 s audio is the old greeting.
    assert turn_latencies_ms(caller.timeline) == [pytest.approx(1800, abs=25)]
