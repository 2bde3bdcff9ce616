"""Stream host settings from the environment: defaults, overrides and clear errors."""

from __future__ import annotations

import pytest

from stream_server.settings import StreamSettings


def test_defaults_work_unconfigured() -> None:
    s = StreamSettings.from_env({})
    assert s.port == 8080 and s.media_path == "/media"
    assert s.drain_deadline_seconds == 110.0 and s.max_calls == 100
    assert s.turn.vad_aggressiveness == 2 and s.turn.barge_in_ms == 240
    assert s.bind_host == "127.0.0.1"
    assert s.event_loop == "asyncio"


def test_event_loop_choice_and_its_loop_factory() -> None:
    import asyncio

    import uvloop

    from stream_server.__main__ import event_loop_factory

    assert StreamSettings.from_env({"STREAM_EVENT_LOOP": "uvloop"}).event_loop == "uvloop"
    assert event_loop_factory("asyncio") is None
    factory = event_loop_factory("uvloop")
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop) and isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()


def test_overrides() -> None:
    s = StreamSettings.from_env(
        {
            "PORT": "9000",
            "STREAM_PUBLIC_URL": "wss://calls.example.com/twilio/stream",
            "DRAIN_DEADLINE_SECONDS": "30",
            "MAX_CALLS": "7",
            "VAD_AGGRESSIVENESS": "3",
            "BARGE_IN_MS": "300",
            "BIND_HOST": "0.0.0.0",
            "PROVIDER_MAX_ATTEMPTS": "3",
        }
    )
    assert s.port == 9000 and s.media_path == "/twilio/stream"
    assert (s.drain_deadline_seconds, s.max_calls) == (30.0, 7)
    assert (s.turn.vad_aggressiveness, s.turn.barge_in_ms) == (3, 300)
    assert s.bind_host == "0.0.0.0" and s.pipeline.max_attempts == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VAD_AGGRESSIVENESS", "4"),
        ("MAX_CALLS", "lots"),
        ("BARGE_IN_MS", "-1"),
        ("STREAM_EVENT_LOOP", "trio"),
    ],
)
def test_bad_values_are_rejected_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        StreamSettings.from_env({name: value})


def test_turn_taking_switches_and_bounds_from_env() -> None:
    from stream_server.settings import StreamSettings

    settings = StreamSettings.from_env(
        {
            "SEMANTIC_END_OF_TURN": "false",
            "SPECULATIVE_REPLIES": "0",
            "ECHO_SUPPRESSION": "off",
            "END_OF_TURN_MIN_SILENCE_MS": "300",
            "END_OF_TURN_MAX_SILENCE_MS": "2000",
            "FALSE_INTERRUPTION_MS": "1200",
            "STT_COMMIT_SILENCE_MS": "300",
            "STT_FINAL_TIMEOUT_MS": "1500",
        }
    )
    turn = settings.turn
    assert (turn.stt_commit_silence_ms, turn.stt_final_timeout_ms) == (300, 1500)
    assert not turn.semantic_end_of_turn and not turn.speculative_replies and not turn.echo_suppression
    assert (turn.min_end_of_turn_silence_ms, turn.max_end_of_turn_silence_ms) == (300, 2000)
    assert turn.false_interruption_ms == 1200
    defaults = StreamSettings.from_env({}).turn
    assert defaults.semantic_end_of_turn and defaults.speculative_replies and defaults.echo_suppression


def test_turn_taking_settings_refuse_nonsense() -> None:
    import pytest

    from stream_server.settings import StreamSettings

    with pytest.raises(ValueError, match="SPECULATIVE_REPLIES"):
        StreamSettings.from_env({"SPECULATIVE_REPLIES": "maybe"})
    with pytest.raises(ValueError, match="STT_COMMIT_SILENCE_MS"):
        StreamSettings.from_env({"STT_COMMIT_SILENCE_MS": "10"})
    with pytest.raises(ValueError, match="MIN_SILENCE"):
        StreamSettings.from_env({"END_OF_TURN_MIN_SILENCE_MS": "900", "END_OF_TURN_MAX_SILENCE_MS": "800"})
