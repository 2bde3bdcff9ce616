"""Real speech for tests: eSpeak NG through the emulator's caller voice, as 8 kHz mu-law.

`speech_ulaw` is the emulator's `render_speech` with eSpeak's own default voice and speed (the audio
the turn-taking tests were tuned on), skipping the test where eSpeak NG is not installed.
"""

from __future__ import annotations

import shutil

import pytest

from local.twilio_emulator.voice import render_speech
from stream_server.audio.codec import silence_ulaw

__all__ = ["speech_ulaw", "utterance"]


def speech_ulaw(text: str) -> bytes:
    """Mu-law 8 kHz audio of eSpeak NG saying ``text`` (cached by `render_speech`)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    return render_speech(text, voice="en", words_per_minute=175)


def utterance(text: str, *, lead_ms: int = 200, tail_ms: int = 1000) -> bytes:
    """Speech padded with silence, the way a caller's turn arrives on the line."""
    return silence_ulaw(lead_ms) + speech_ulaw(text) + silence_ulaw(tail_ms)
