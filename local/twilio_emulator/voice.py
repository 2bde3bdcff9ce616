"""The caller's voice: text rendered to 8 kHz mu-law with eSpeak NG, as a phone would carry it.

eSpeak NG writes a 22050 Hz WAV; the stream host's own audio module resamples and encodes, so
the emulator and the product share one definition of G.711.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

import numpy as np

from stream_server.audio.codec import pcm16_to_ulaw, read_wav, resample, ulaw_to_pcm16

__all__ = ["SpeechRenderingError", "render_speech", "trailing_silence_ms"]

_SPEECH_LEVEL = 500  # PCM16 magnitude above which a sample counts as speech (eSpeak pads with near-zero)


class SpeechRenderingError(RuntimeError):
    """eSpeak NG is missing or failed; the script cannot be spoken."""


@lru_cache(maxsize=64)
def render_speech(text: str, *, voice: str = "en-us", words_per_minute: int = 165) -> bytes:
    """Speak `text` and return 8 kHz mu-law (cached: scripts repeat across tests)."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SpeechRenderingError("espeak-ng is not installed (apt-get install espeak-ng)")
    try:
        wav = subprocess.run(
            [binary, "--stdout", "-v", voice, "-s", str(words_per_minute), text],
            check=True,
            capture_output=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SpeechRenderingError(f"espeak-ng failed: {exc}") from exc
    pcm, rate = read_wav(wav)
    return pcm16_to_ulaw(resample(pcm, rate, 8000))


def trailing_silence_ms(ulaw: bytes) -> float:
    """How long rendered speech goes on after its last audible sample (eSpeak ends each line with
    about a third of a second of silence, which is not the caller speaking)."""
    pcm = np.abs(ulaw_to_pcm16(ulaw).astype(np.int32))
    loud = np.flatnonzero(pcm > _SPEECH_LEVEL)
    if loud.size == 0:
        return len(pcm) / 8.0
    return (len(pcm) - 1 - int(loud[-1])) / 8.0
