"""Real speech for tests: eSpeak NG rendered once per text per test session, as 8 kHz mu-law."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

import pytest

from stream_server.audio.codec import SAMPLE_RATE, pcm16_to_ulaw, read_wav, resample, silence_ulaw

__all__ = ["speech_ulaw", "utterance"]


@lru_cache(maxsize=64)
def speech_ulaw(text: str) -> bytes:
    """Mu-law 8 kHz audio of eSpeak NG saying ``text`` (cached for the test session)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = subprocess.run(["espeak-ng", "--stdout", text], check=True, capture_output=True).stdout
    pcm, rate = read_wav(wav)
    return pcm16_to_ulaw(resample(pcm, rate, SAMPLE_RATE))


def utterance(text: str, *, lead_ms: int = 200, tail_ms: int = 1000) -> bytes:
    """Speech padded with silence, the way a caller's turn arrives on the line."""
    return silence_ulaw(lead_ms) + speech_ulaw(text) + silence_ulaw(tail_ms)
