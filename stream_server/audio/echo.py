"""Is this inbound audio the caller, or the bot's own voice coming back down the line?

A caller on speakerphone (or a phone with poor echo cancellation) returns part of what we play,
delayed by the network and the room, typically 20-500 ms and 10-30 dB quieter. Counted as
speech, that echo makes the bot interrupt itself. This module keeps the loudness envelope of what
we played, on the same clock as the inbound audio, and asks for each voiced inbound frame: does
the inbound envelope over the last ``window_ms`` follow the played envelope at some delay in
``[0, max_delay_ms]`` (normalised cross-correlation), and is the current frame no louder than
that delayed echo predicts? Both yes = echo.

Why envelopes and not samples: the telephone path re-encodes, filters and clips the audio, so
sample-level correlation is fragile; 10 ms log-energy envelopes survive all of that, and cost a
few thousand multiply-adds per frame. A caller talking over the echo ("double talk") breaks
either the correlation or the level test, so real barge-in still gets through.

Sans-I/O: times are passed in; playout of sent audio is scheduled back to back from the moment it
was sent, as Twilio plays its buffer; ``cut`` drops what a ``clear`` flushed.

Lazy on purpose: most of a call is heard while nothing we played can be coming back, and most bot
audio plays while the caller is silent; in both cases no frame needs judging. Heard frames and
played audio are only queued (as far back as a judgement can look) and turned into envelope values,
all at once, when a frame must actually be judged; the decisions are the same as computing every
envelope as the audio comes and goes, at a fraction of the cost.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream_server.audio.codec import SAMPLE_RATE, ulaw_to_pcm16

__all__ = ["EchoDetector", "EchoSettings"]

_HOP_S = 0.01
_HOP_SAMPLES = int(SAMPLE_RATE * _HOP_S)
_RING = 4096  # hops kept (41 s): a whole reply is scheduled at once, as TTS outruns playback
_FLOOR_DB = -70.0
_REFIT_HOPS = 10
_NO_PATH = (-1, 0.0)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EchoSettings:
    """Tunables for echo detection.

    Attributes:
        max_delay_ms: the longest round trip (network + phone) searched for.
        window_ms: how much recent audio the correlation compares.
        min_correlation: envelope correlation at the best delay that counts as echo.
        double_talk_db: a frame this much louder than the predicted echo is the caller.
    """

    max_delay_ms: int = 500
    window_ms: int = 800
    min_correlation: float = 0.7
    double_talk_db: float = 8.0


def _hop_db(pcm: npt.NDArray[np.int16]) -> FloatArray:
    """Log energy (dBFS) of each 10 ms hop; a trailing partial hop counts as a hop."""
    n = pcm.size
    hops = max(1, math.ceil(n / _HOP_SAMPLES))
    if n == hops * _HOP_SAMPLES:
        padded = pcm.astype(np.float64)
    else:
        padded = np.zeros(hops * _HOP_SAMPLES, dtype=np.float64)
        padded[:n] = pcm
    power = np.mean(padded.reshape(hops, _HOP_SAMPLES) ** 2, axis=1) / (32768.0 * 32768.0)
    db: FloatArray = np.maximum(10.0 * np.log10(np.maximum(power, 1e-12)), _FLOOR_DB)
    return db


def _hops(samples: int) -> int:
    """10 ms hops in a frame of ``samples`` (a trailing partial hop counts)."""
    return max(1, math.ceil(samples / _HOP_SAMPLES))


class _Envelope:
    """dB per 10 ms hop on an absolute hop grid (hop = round(t / 10 ms)), in a ring."""

    __slots__ = ("_db", "_hop")

    def __init__(self) -> None:
        self._db = np.full(_RING, _FLOOR_DB)
        self._hop = np.full(_RING, -1, dtype=np.int64)

    def write(self, first_hop: int, values: FloatArray) -> None:
        self.write_hops(np.arange(first_hop, first_hop + values.size, dtype=np.int64), values)

    def write_hops(self, hops: npt.NDArray[np.int64], values: FloatArray) -> None:
        self._db[hops % _RING] = values
        self._hop[hops % _RING] = hops

    def read(self, first_hop: int, count: int) -> FloatArray:
        hops = np.arange(first_hop, first_hop + count, dtype=np.int64)
        slots = hops % _RING
        return np.where(self._hop[slots] == hops, self._db[slots], _FLOOR_DB)


class EchoDetector:
    """Tells the bot's returning echo from the caller's voice, frame by frame."""

    def __init__(self, settings: EchoSettings | None = None) -> None:
        self.settings = settings or EchoSettings()
        self._played = _Envelope()
        self._heard = _Envelope()
        self._play_end = -math.inf
        self._last_played_at = -math.inf
        self._lags = int(self.settings.max_delay_ms / 1000.0 / _HOP_S) + 1
        self._window = int(self.settings.window_ms / 1000.0 / _HOP_S)
        self.checks = 0
        self._path: tuple[int, float] | None = None
        self._path_hop = 0
        # Heard frames and played audio not yet in their envelopes, oldest first:
        # (first hop, hop count, pcm) and (first hop, mu-law).
        self._unheard: deque[tuple[int, int, npt.NDArray[np.int16]]] = deque()
        self._unplayed: deque[tuple[int, bytes]] = deque()

    def played(self, ulaw: bytes, now: float) -> None:
        """Bot audio sent at ``now``: Twilio plays it after whatever is still queued."""
        if not ulaw:
            return
        start = max(now, self._play_end)
        unplayed = self._unplayed
        unplayed.append((round(start / _HOP_S), ulaw))
        self._play_end = start + len(ulaw) / SAMPLE_RATE
        self._last_played_at = self._play_end
        # Audio that finished playing longer ago than any judgement looks back is never read.
        oldest = round(now / _HOP_S) - self._window - self._lags
        while unplayed[0][0] + _hops(len(unplayed[0][1])) <= oldest:
            unplayed.popleft()

    def cut(self, now: float) -> None:
        """A ``clear`` flushed Twilio's buffer: nothing scheduled after ``now`` will play."""
        if self._play_end <= now:
            return
        self._catch_up()
        first = round(now / _HOP_S)
        count = round(self._play_end / _HOP_S) - first + 1
        if count > 0:
            self._played.write(first, np.full(count, _FLOOR_DB))
        self._play_end = now
        self._last_played_at = now

    def hear(self, pcm: npt.NDArray[np.int16], end_at: float) -> None:
        """Record one inbound frame ending at ``end_at`` (every frame, voiced or not)."""
        self._defer(pcm, round(end_at / _HOP_S))

    def is_echo(self, pcm: npt.NDArray[np.int16], end_at: float) -> bool:
        """Record the frame and say whether it is explained by what we played."""
        end_hop = round(end_at / _HOP_S)
        if end_at - self._last_played_at > self.settings.max_delay_ms / 1000.0 + 0.05:
            self._defer(pcm, end_hop)
            return False  # nothing we played can be arriving now
        self._catch_up()
        values = _hop_db(pcm)
        self._heard.write(end_hop - values.size, values)
        self.checks += 1
        # The delay and gain of the echo path change slowly: a found path is reused for 100 ms;
        # without one, or when it cannot explain this frame, the path is searched again at once.
        if self._path is None or self._path is _NO_PATH or end_hop - self._path_hop >= _REFIT_HOPS:
            self._refit(end_hop)
        elif not self._explains(values, end_hop):
            self._refit(end_hop)  # a stale path must not decide a frame it cannot explain
        return self._explains(values, end_hop)

    def _defer(self, pcm: npt.NDArray[np.int16], end_hop: int) -> None:
        """Queue a heard frame; frames older than the correlation window can never be read."""
        hops = _hops(pcm.size)
        unheard = self._unheard
        unheard.append((end_hop - hops, hops, pcm))
        oldest = end_hop - self._window
        while unheard[0][0] + unheard[0][1] <= oldest:
            unheard.popleft()

    def _catch_up(self) -> None:
        """Put the queued audio into the envelopes (one numpy pass each when it is whole hops)."""
        unplayed = self._unplayed
        if unplayed:
            if all(len(ulaw) % _HOP_SAMPLES == 0 for _, ulaw in unplayed):
                values = _hop_db(ulaw_to_pcm16(b"".join(ulaw for _, ulaw in unplayed)))
                at = 0
                for first, ulaw in unplayed:  # in order: a later chunk's hops overwrite, as before
                    hops = len(ulaw) // _HOP_SAMPLES
                    self._played.write(first, values[at : at + hops])
                    at += hops
            else:
                for first, ulaw in unplayed:
                    self._played.write(first, _hop_db(ulaw_to_pcm16(ulaw)))
            unplayed.clear()
        unheard = self._unheard
        if not unheard:
            return
        if all(pcm.size == hops * _HOP_SAMPLES for _, hops, pcm in unheard):
            values = _hop_db(np.concatenate([pcm for _, _, pcm in unheard]))
            hops_at = np.concatenate(
                [np.arange(first, first + hops, dtype=np.int64) for first, hops, _ in unheard]
            )
            self._heard.write_hops(hops_at, values)
        else:
            for first, _, pcm in unheard:
                self._heard.write(first, _hop_db(pcm))
        unheard.clear()

    def _refit(self, end_hop: int) -> None:
        self._path = self._fit_path(end_hop)
        self._path_hop = end_hop

    def _explains(self, values: FloatArray, end_hop: int) -> bool:
        """Is the frame no louder than the echo the current path predicts?"""
        if self._path is None or self._path is _NO_PATH:
            return False
        lag, gain = self._path
        delayed = self._played.read(end_hop - values.size - lag, values.size)
        if not (delayed > _FLOOR_DB + 20.0).any():
            return False  # the bot was silent at this delay: the voice is the caller's
        return bool(np.all(values <= delayed + gain + self.settings.double_talk_db))

    def _fit_path(self, end_hop: int) -> tuple[int, float]:
        """Best delay (hops) and gain (dB) of the echo path, or `_NO_PATH` if nothing correlates."""
        w, lags = self._window, self._lags
        heard = self._heard.read(end_hop - w, w)
        if heard.max() < _FLOOR_DB + 25.0:
            return _NO_PATH  # line noise correlates with anything; only sound can be echo
        played = self._played.read(end_hop - w - lags + 1, w + lags - 1)
        # Row k holds the played envelope delayed by k hops, aligned with `heard`.
        rows = np.lib.stride_tricks.sliding_window_view(played, w)[::-1]
        x = heard - heard.mean()
        y = rows - rows.mean(axis=1, keepdims=True)
        denom = np.sqrt(np.dot(x, x) * np.einsum("ij,ij->i", y, y))
        corr = (y @ x) / np.maximum(denom, 1e-9)
        best = int(np.argmax(corr))
        if corr[best] < self.settings.min_correlation:
            return _NO_PATH
        delayed = rows[best]
        active = delayed > _FLOOR_DB + 20.0
        if not active.any():
            return _NO_PATH
        return best, float(np.median(heard[active] - delayed[active]))
