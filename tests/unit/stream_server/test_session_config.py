"""The process settings reach each call's decisions: what the environment says is what a call does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from stream_server.session import CallSession
from stream_server.settings import StreamSettings


def test_call_behaviour_tunables_come_from_the_environment() -> None:
    settings = StreamSettings.from_env(
        {
            "FILLER_AFTER_SECONDS": "2.5",
            "DURATION_WARNING_BEFORE_SECONDS": "30",
            "DTMF_INTER_DIGIT_SECONDS": "0.7",
            "SEND_DIGITS_TOOL": "true",
        }
    )
    assert settings.filler_after_seconds == 2.5
    assert settings.duration_warning_before_seconds == 30.0
    assert settings.dtmf_inter_digit_seconds == 0.7
    assert settings.send_digits_tool is True
    assert StreamSettings.from_env({}).send_digits_tool is False


async def test_each_call_is_configured_from_the_process_settings(host: Any) -> None:
    host.services.settings = replace(
        host.services.settings,
        filler_after_seconds=2.5,
        duration_warning_before_seconds=30.0,
        dtmf_inter_digit_seconds=0.7,
        send_digits_tool=True,
    )
    config = CallSession(host.services, socket=None).state.config  # type: ignore[arg-type]
    assert config.filler.after_s == 2.5
    assert config.duration_warning_before_s == 30.0
    assert config.dtmf_inter_digit_s == 0.7
    assert config.send_digits_tool is True
    assert config.turn == host.services.settings.turn
