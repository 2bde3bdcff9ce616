"""The call recording: caller on the left channel, bot on the right, aligned in time.

Both sides write mu-law at an offset in seconds from the start of the stream, so the WAV shows
exactly what overlapped (a barge-in is visible as both channels speaking at once).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from stream_server.audio.codec import ulaw_to_pcm16

__all__ = ["StereoRecording"]

_RATE = 8000


class StereoRecording:
    """Two PCM16 tracks at 8 kHz, grown on demand."""

    def __init__(self) -> None:
        self._tracks: list[np.ndarray] = [np.zeros(0, np.int16), np.zeros(0, np.int16)]

    def _write(self, channel: int, at: float, ulaw: bytes) -> None:
        if not ulaw or at < 0:
            return
        pcm = ulaw_to_pcm16(ulaw)
        start = round(at * _RATE)
        end = start + len(pcm)
        track = self._tracks[channel]
        if end > len(track):
            track = np.concatenate([track, np.zeros(end - len(track), np.int16)])
        track[start:end] = pcm
        self._tracks[channel] = track

    def caller(self, at: float, ulaw: bytes) -> None:
        self._write(0, at, ulaw)

    def bot(self, at: float, ulaw: bytes) -> None:
        self._write(1, at, ulaw)

    @property
    def seconds(self) -> float:
        return max(len(t) for t in self._tracks) / _RATE

    def save(self, path: Path) -> Path:
        length = max(len(t) for t in self._tracks)
        stereo = np.zeros((length, 2), np.int16)
        for channel, track in enumerate(self._tracks):
            stereo[: len(track), channel] = track
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(_RATE)
            out.writeframes(stereo.astype("<i2").tobytes())
        return path
