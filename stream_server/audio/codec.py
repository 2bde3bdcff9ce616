"""Telephone audio: G.711 mu-law <-> PCM16, resampling and 20 ms framing.

Twilio Media Streams carry 8 kHz mu-law; voice activity detection and the offline engines want
linear PCM16 at some other rate. Everything here is pure and allocation-light so it can run on
every inbound frame of every call. It deliberately avoids ``audioop`` (removed in Python 3.13,
the container's interpreter) and uses numpy lookup tables instead: a 256-entry decode table and
a 65536-entry encode table, both built once at import.

Nothing here knows about sockets, JSON or base64: callers hand in bytes and get bytes back.
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "SAMPLE_RATE",
    "FrameAssembler",
    "duration_ms",
    "pcm16_to_ulaw",
    "read_wav",
    "resample",
    "silence_ulaw",
    "split_frames",
    "ulaw_to_pcm16",
]

SAMPLE_RATE = 8000
"""Twilio's only media rate (samples per second)."""
FRAME_MS = 20
"""The frame length the VAD and outbound pacing work in."""
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000
"""One 20 ms mu-law frame: one byte per sample at 8 kHz."""

_BIAS = 0x84
_CLIP = 32635
_ULAW_SILENCE = 0xFF

Int16Array = npt.NDArray[np.int16]


def _build_decode_table() -> Int16Array:
    codes = np.arange(256, dtype=np.int32)
    inverted = ~codes & 0xFF
    sign = inverted & 0x80
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_encode_table() -> npt.NDArray[np.uint8]:
    # Index by the sample reinterpreted as uint16, so encoding is a single take().
    samples = np.arange(-32768, 32768, dtype=np.int32)
    sign = np.where(samples < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(samples), _CLIP) + _BIAS
    # Exponent = position of the highest set bit above bit 7, capped at 7.
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    codes = (~(sign | (exponent << 4) | mantissa)) & 0xFF
    table = np.empty(65536, dtype=np.uint8)
    table[samples.astype(np.int16).view(np.uint16)] = codes.astype(np.uint8)
    return table


_DECODE = _build_decode_table()
_ENCODE = _build_encode_table()


def ulaw_to_pcm16(data: bytes) -> Int16Array:
    """Decode mu-law bytes of any length to int16 samples (one sample per byte)."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def pcm16_to_ulaw(pcm: npt.NDArray[np.integer]) -> bytes:
    """Encode int16 samples to mu-law bytes. Wider integer input is clipped, not wrapped."""
    samples = np.asarray(pcm)
    if samples.dtype != np.int16:
        samples = np.clip(samples, -32768, 32767).astype(np.int16)
    return _ENCODE[samples.view(np.uint16)].tobytes()


def silence_ulaw(ms: int) -> bytes:
    """Digital silence in mu-law (0xFF decodes to exactly 0)."""
    return bytes([_ULAW_SILENCE]) * (SAMPLE_RATE * ms // 1000)


def duration_ms(ulaw: bytes | int) -> float:
    """Playing time of mu-law audio at 8 kHz, given the bytes or their count."""
    count = ulaw if isinstance(ulaw, int) else len(ulaw)
    return count * 1000.0 / SAMPLE_RATE


# --- resampling -----------------------------------------------------------------------------------

_ZERO_CROSSINGS = 16
_KAISER_BETA = 8.6
_ROLLOFF = 0.92


_MAX_PHASES = 4096


def _taps(distance: npt.NDArray[np.float64], cutoff: float, half: int) -> npt.NDArray[np.float64]:
    window_arg = np.clip(1.0 - (distance / (half + 1)) ** 2, 0.0, None)
    window = np.i0(_KAISER_BETA * np.sqrt(window_arg)) / np.i0(_KAISER_BETA)
    result: npt.NDArray[np.float64] = cutoff * np.sinc(cutoff * distance) * window
    return result


@lru_cache(maxsize=16)
def _phase_table(from_rate: int, to_rate: int) -> tuple[int, int, int, npt.NDArray[np.float64]]:
    """Filter taps for every fractional phase of a rational ratio (cached per rate pair)."""
    g = math.gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    cutoff = min(1.0, to_rate / from_rate) * _ROLLOFF
    half = math.ceil(_ZERO_CROSSINGS / cutoff)
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    phases = np.arange(up, dtype=np.float64)[:, None] / up
    table = _taps(phases - offsets[None, :], cutoff, half)
    return up, down, half, table


def resample(pcm: npt.NDArray[np.integer], from_rate: int, to_rate: int) -> Int16Array:
    """Resample int16 audio with a Kaiser-windowed sinc filter.

    When downsampling the filter's cutoff sits just below the *output* Nyquist frequency, so
    content that would alias (e.g. eSpeak's 22.05 kHz sibilants folded into the 4 kHz phone
    band) is removed instead of mirrored. Each output sample is evaluated directly at its
    fractional input position (a polyphase filter with one tap row per phase), which handles any
    rational ratio (22050 -> 8000, 8000 -> 16000) without a huge zero-stuffed intermediate.
    """
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError("sample rates must be positive")
    samples = np.asarray(pcm, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError("resample expects mono audio (a 1-D array)")
    if from_rate == to_rate or samples.size == 0:
        return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)
    g = math.gcd(from_rate, to_rate)
    if to_rate // g > _MAX_PHASES:
        raise ValueError(f"unsupported rate ratio {from_rate}->{to_rate}")
    up, down, half, table = _phase_table(from_rate, to_rate)
    out_len = (samples.size * to_rate) // from_rate
    step = np.arange(out_len, dtype=np.int64) * down
    base, phase = np.divmod(step, up)
    offsets = np.arange(-half, half + 1, dtype=np.int64)
    padded = np.concatenate([np.zeros(half), samples, np.zeros(half + 1)])
    out = np.empty(out_len, dtype=np.float64)
    # Blocks keep the (outputs x taps) gather small for long utterances.
    block = 8192
    for start in range(0, out_len, block):
        stop = min(start + block, out_len)
        idx = base[start:stop, None] + offsets[None, :] + half
        out[start:stop] = np.einsum("ij,ij->i", padded[idx], table[phase[start:stop]])
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


# --- framing --------------------------------------------------------------------------------------


def split_frames(data: bytes, frame_bytes: int = FRAME_BYTES) -> list[bytes]:
    """Cut audio into frames of ``frame_bytes``; the last one may be shorter."""
    if frame_bytes <= 0:
        raise ValueError("frame_bytes must be positive")
    return [data[i : i + frame_bytes] for i in range(0, len(data), frame_bytes)]


class FrameAssembler:
    """Regroups inbound chunks of any length into whole fixed-size frames.

    Twilio's 20 ms inbound cadence is observed, not promised, and the VAD accepts only exact
    10/20/30 ms frames, so every inbound payload passes through one of these per call.
    """

    __slots__ = ("_buffer", "_frame_bytes")

    def __init__(self, frame_bytes: int = FRAME_BYTES) -> None:
        if frame_bytes <= 0:
            raise ValueError("frame_bytes must be positive")
        self._frame_bytes = frame_bytes
        self._buffer = bytearray()

    def push(self, chunk: bytes) -> Iterator[bytes]:
        """Add a chunk and yield every frame it completes."""
        self._buffer.extend(chunk)
        size = self._frame_bytes
        whole = len(self._buffer) - len(self._buffer) % size
        if whole == 0:
            return
        ready = bytes(self._buffer[:whole])
        del self._buffer[:whole]
        for i in range(0, whole, size):
            yield ready[i : i + size]

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)


def read_wav(data: bytes) -> tuple[Int16Array, int]:
    """Read a mono or stereo 16-bit PCM WAV into mono int16 samples and its rate.

    eSpeak NG writes its WAV header with unknown lengths when piping to stdout; ``wave`` reads
    the frames anyway, but the frame count is unreliable, so we read to the end of the data.
    """
    with wave.open(io.BytesIO(data), "rb") as reader:
        if reader.getsampwidth() != 2:
            raise ValueError("only 16-bit PCM WAV is supported")
        channels = reader.getnchannels()
        rate = reader.getframerate()
        raw = reader.readframes(2**31 - 1)
    samples = np.frombuffer(raw[: len(raw) - len(raw) % (2 * channels)], dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples.astype(np.int16), rate
