"""G.711 values, round trips, resampling and framing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_server.audio.codec import (
    FRAME_BYTES,
    FrameAssembler,
    pcm16_to_ulaw,
    resample,
    silence_ulaw,
    split_frames,
    ulaw_to_pcm16,
)


def test_known_g711_decode_values() -> None:
    # ITU-T G.711 mu-law: 0xFF/0x7F are +/-0, 0x80/0x00 the extremes, 0xEF/0xDF segment starts.
    decoded = ulaw_to_pcm16(bytes([0xFF, 0x7F, 0x80, 0x00, 0xFE, 0x7E, 0xEF, 0xDF]))
    assert decoded.tolist() == [0, 0, 32124, -32124, 8, -8, 132, 396]


def test_known_g711_encode_values() -> None:
    pcm = np.array([0, 8, -8, 32767, -32768, 32124, -32124], dtype=np.int16)
    assert pcm16_to_ulaw(pcm) == bytes([0xFF, 0xFE, 0x7E, 0x80, 0x00, 0x80, 0x00])


def test_every_code_round_trips_exactly() -> None:
    codes = bytes(range(256))
    again = pcm16_to_ulaw(ulaw_to_pcm16(codes))
    # 0x7F (-0) encodes back as 0xFF (+0); every other code is its own fixed point.
    expected = bytes(0xFF if c == 0x7F else c for c in range(256))
    assert again == expected


@given(st.lists(st.integers(-32768, 32767), min_size=0, max_size=400))
def test_pcm_round_trip_error_is_within_quantisation_step(values: list[int]) -> None:
    pcm = np.array(values, dtype=np.int16)
    back = ulaw_to_pcm16(pcm16_to_ulaw(pcm)).astype(np.int32)
    err = np.abs(back - pcm.astype(np.int32))
    # mu-law step grows with amplitude: error bounded by ~1/16 of magnitude plus a small floor.
    bound = np.abs(pcm.astype(np.int32)) // 16 + 8
    bound = np.minimum(bound, 1100)
    assert np.all(err <= bound)


def test_any_chunk_length_is_accepted() -> None:
    for n in (0, 1, 7, 159, 160, 161, 1000):
        assert len(ulaw_to_pcm16(b"\x12" * n)) == n
        assert len(pcm16_to_ulaw(np.zeros(n, dtype=np.int16))) == n


def test_wide_integers_are_clipped_not_wrapped() -> None:
    loud = np.array([70000, -70000], dtype=np.int32)
    assert pcm16_to_ulaw(loud) == bytes([0x80, 0x00])


def test_silence_decodes_to_zero() -> None:
    assert silence_ulaw(20) == b"\xff" * FRAME_BYTES
    assert not ulaw_to_pcm16(silence_ulaw(40)).any()


def _tone(freq: float, rate: int, seconds: float = 0.5, amp: float = 10000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _rms(x: np.ndarray) -> float:
    core = x[len(x) // 8 : -len(x) // 8].astype(np.float64)
    return float(np.sqrt(np.mean(core**2)))


def test_downsampling_keeps_passband_and_length() -> None:
    out = resample(_tone(1000, 22050), 22050, 8000)
    assert len(out) == 4000
    assert abs(_rms(out) - 10000 / np.sqrt(2)) < 300
    # The tone is still at 1 kHz after resampling.
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 8000 / len(out) - 1000) < 5


def test_downsampling_removes_what_would_alias() -> None:
    # 6 kHz is above the 4 kHz output Nyquist: naive decimation folds it to 2 kHz.
    out = resample(_tone(6000, 22050), 22050, 8000)
    assert _rms(out) < 100
    naive = _tone(6000, 22050)[:: 22050 // 8000]
    assert _rms(naive) > 5000


def test_upsampling_preserves_tone() -> None:
    out = resample(_tone(440, 8000), 8000, 16000)
    assert len(out) == 8000
    assert abs(_rms(out) - 10000 / np.sqrt(2)) < 200


def test_resample_identity_and_errors() -> None:
    x = _tone(300, 8000, 0.1)
    assert np.array_equal(resample(x, 8000, 8000), x)
    assert len(resample(np.zeros(0, dtype=np.int16), 22050, 8000)) == 0
    with pytest.raises(ValueError):
        resample(x, 0, 8000)
    with pytest.raises(ValueError):
        resample(np.zeros((2, 2), dtype=np.int16), 8000, 16000)


def test_split_frames() -> None:
    frames = split_frames(b"a" * 350)
    assert [len(f) for f in frames] == [160, 160, 30]


def test_frame_assembler_regroups_odd_chunks() -> None:
    assembler = FrameAssembler()
    data = bytes(range(256)) * 3
    out: list[bytes] = []
    for size in (1, 50, 200, 7, 300, 210):
        chunk, data = data[:size], data[size:]
        out.extend(assembler.push(chunk))
    assert all(len(f) == FRAME_BYTES for f in out)
    assert len(out) == 768 // FRAME_BYTES
    assert b"".join(out) == (bytes(range(256)) * 3)[: len(out) * FRAME_BYTES]
    assert assembler.pending == 768 % FRAME_BYTES
