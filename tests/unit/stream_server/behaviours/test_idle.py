"""Idle caller and maximum duration, replayed through CallState on an invented clock."""

from __future__ import annotations

from stream_server.behaviours.idle import IdleWatch, Nudge, closing_warning_at
from stream_server.conversation.actions import EndCall, Hangup, SpeakReply
from stream_server.conversation.call_state import CallConfig
from stream_server.turn_taking.detector import TurnSettings
from tests.unit.stream_server.espeak_audio import utterance
from tests.unit.stream_server.replay import Replay, persona


def test_silent_caller_is_prompted_then_told_goodbye_then_hung_up() -> None:
    r = Replay()
    r.play(["Hi there."])  # the greeting ends at t=100
    r.quiet(4.5)
    assert r.spoken() == [("greeting", "Hi there.")]  # not yet: 5 s of silence is the limit
    r.quiet(1.0)
    assert r.spoken()[-1] == ("idle-prompt", "Are you still there?")
    r.quiet(5.5)
    assert [k for k, _ in r.spoken()] == ["greeting", "idle-prompt", "idle-prompt"]
    out = r.quiet(5.5)
    assert r.spoken()[-1] == ("goodbye", "Bye now.")
    assert Hangup("idle") in out
    assert r.state.on_hangup_done(r.t) == [EndCall("idle")]
    # The prompts are in the history the LLM would see, as the caller heard them.
    assert [m.content for m in r.state.history if m.role == "assistant"].count("Are you still there?") == 2


def test_a_caller_who_answers_resets_the_count() -> None:
    r = Replay()
    r.play(["Hi there."])
    r.quiet(5.5)
    assert r.spoken()[-1][0] == "idle-prompt"
    r.say(utterance("Yes I am still here.", tail_ms=400))
    reply = r.feed(r.state.on_transcript("Yes I am still here.", r.t))
    assert any(isinstance(a, SpeakReply) for a in reply)
    r.play(["Great."])
    r.quiet(5.5)
    r.quiet(5.5)
    # Two more prompts are allowed again: the count restarted when the caller spoke.
    assert [k for k, _ in r.spoken()].count("idle-prompt") == 3
    assert ("goodbye", "Bye now.") not in r.spoken()


def test_no_prompt_while_the_bot_talks_or_a_reply_is_pending() -> None:
    r = Replay()
    r.quiet(30.0)  # the greeting never finishes playing: the bot has the floor
    assert r.spoken() == [("greeting", "Hi there.")]


def test_max_duration_warns_then_closes_politely() -> None:
    r = Replay(persona(max_duration_seconds=150, idle_timeout_seconds=0))
    r.play(["Hi there."])
    r.quiet(89.0)
    assert [k for k, _ in r.spoken()] == ["greeting"]
    r.quiet(1.5)
    assert r.spoken()[-1] == ("duration-warning", CallConfig().duration_warning)
    out = r.quiet(60.0)
    assert r.spoken()[-1] == ("goodbye", "Bye now.")
    assert Hangup("max-duration") in out
    assert [k for k, _ in r.spoken()].count("duration-warning") == 1


def test_a_four_hour_call_says_goodbye_before_twilios_time_limit() -> None:
    longest = persona(max_duration_seconds=4 * 3600, idle_timeout_seconds=0)
    r = Replay(longest)
    r.play(["Hi there."])
    start = r.state.started_at
    assert start is not None
    # Twilio's TimeLimit (from answer, before the stream starts) is capped at 4 h: the bot's own
    # goodbye comes 45 s earlier on its clock, so it is always said in full.
    assert longest.twilio_time_limit_seconds == 4 * 3600
    assert not any(
        getattr(a, "kind", "") == "goodbye" for a in r.state.on_tick(start + longest.goodbye_at_seconds - 1)
    )
    out = r.state.on_tick(start + 4 * 3600 - 45)
    assert any(getattr(a, "kind", "") == "goodbye" for a in out)


def test_short_calls_get_no_warning() -> None:
    assert closing_warning_at(90, 60) is None
    assert closing_warning_at(600, 60) == 540
    r = Replay(persona(max_duration_seconds=60, idle_timeout_seconds=0), CallConfig(turn=TurnSettings()))
    r.play(["Hi there."])
    r.quiet(61.0)
    assert [k for k, _ in r.spoken()] == ["greeting", "goodbye"]


def test_idle_watch_decides_once_per_silence() -> None:
    w = IdleWatch(0.0)

    def decide(now: float, *, busy: bool = False) -> Nudge | None:
        d = w.decide(now, busy=busy, idle_timeout_s=5.0, max_prompts=1, elapsed_s=0.0, warn_at_s=None)
        return d.nudge if d is not None else None

    assert decide(4.9) is None
    assert decide(6.0, busy=True) is None
    assert decide(6.0) is Nudge.IDLE_PROMPT
    assert decide(6.1) is None
    assert decide(11.5) is Nudge.IDLE_GOODBYE
