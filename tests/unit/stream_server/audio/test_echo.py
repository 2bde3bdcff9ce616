"""Echo detection on real speech: the bot's own voice coming back vs the caller talking over it."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from stream_server.audio.codec import pcm16_to_ulaw, split_frames, ulaw_to_pcm16
from stream_server.audio.echo import EchoDetector
from stream_server.turn_taking.detector import VoiceActivityDetector
from tests.unit.stream_server.espeak_audio import speech_ulaw

BOT = "We are open from nine in the morning until six in the evening, every day except Sunday."


def line(delay_ms: int, gain_db: float, caller_at: float | None = None) -> tuple[bytes, int, int]:
    bot = ulaw_to_pcm16(speech_ulaw(BOT)).astype(np.float64)
    inbound = np.zeros(bot.size + 8000)
    d = delay_ms * 8
    inbound[d : d + bot.size] += bot * 10 ** (gain_db / 20)
    span = (0, 0)
    if caller_at is not None:
        caller = ulaw_to_pcm16(speech_ulaw("No wait, I need something else.")).astype(np.float64)
        s = int(caller_at * 8000)
        inbound[s : s + caller.size] += caller
        span = (s // 160, (s + caller.size) // 160)
    inbound += np.random.default_rng(3).normal(0, 30, inbound.size)
    return pcm16_to_ulaw(np.clip(inbound, -32768, 32767).astype(np.int16)), *span


def classify(
    delay_ms: int, gain_db: float, caller_at: float | None = None
) -> tuple[list[int], list[int], int, int]:
    audio, c0, c1 = line(delay_ms, gain_db, caller_at)
    det, vad = EchoDetector(), VoiceActivityDetector()
    bot = speech_ulaw(BOT)
    for i in range(0, len(bot), 400):
        det.played(bot[i : i + 400], 1.0)  # TTS outruns playback: all sent at once
    echo_flags: list[int] = []
    voiced: list[int] = []
    for k, frame in enumerate(split_frames(audio)):
        pcm = ulaw_to_pcm16(frame)
        if vad.is_speech(pcm):
            voiced.append(k)
            if det.is_echo(pcm, 1.0 + (k + 1) * 0.02):
                echo_flags.append(k)
        else:
            det.hear(pcm, 1.0 + (k + 1) * 0.02)
    return voiced, echo_flags, c0, c1


@pytest.mark.parametrize(("delay_ms", "gain_db"), [(0, -10.0), (150, -15.0), (300, -20.0), (480, -6.0)])
def test_echo_at_any_delay_in_range_is_recognised(delay_ms: int, gain_db: float) -> None:
    voiced, echo, _, _ = classify(delay_ms, gain_db)
    assert len(echo) >= 0.9 * len(voiced)
    missed = set(voiced) - set(echo)
    # Never a run of missed frames long enough to open a turn (100 ms = 5 frames).
    longest = run = 0
    for k in range(max(voiced) + 1):
        run = run + 1 if k in missed else 0
        longest = max(longest, run)
    assert longest < 5


def test_the_caller_talking_over_the_echo_is_not_echo() -> None:
    voiced, echo, c0, c1 = classify(150, -15.0, caller_at=1.5)
    caller_voiced = [k for k in voiced if c0 <= k < c1]
    caller_as_echo = [k for k in echo if c0 <= k < c1]
    assert len(caller_voiced) > 50
    assert len(caller_as_echo) <= 0.1 * len(caller_voiced)


def test_nothing_played_means_nothing_is_echo() -> None:
    det = EchoDetector()
    pcm = ulaw_to_pcm16(speech_ulaw(BOT)[:160])
    assert not det.is_echo(pcm, 5.0)
    assert det.checks == 0


class _EagerEchoDetector(EchoDetector):
    """The same detector with all audio put into the envelopes at once (the old behaviour)."""

    def hear(self, pcm: np.ndarray, end_at: float) -> None:
        super().hear(pcm, end_at)
        self._catch_up()

    def played(self, ulaw: bytes, now: float) -> None:
        super().played(ulaw, now)
        self._catch_up()

    def is_echo(self, pcm: np.ndarray, end_at: float) -> bool:
        echo = super().is_echo(pcm, end_at)
        self._catch_up()
        return echo


def _decisions(
    lazy: EchoDetector, eager: EchoDetector, bot_at: float, *, chunk: int, all_at_once: bool, echo_db: float
) -> list[bool]:
    """A caller who speaks, falls silent, then hears the bot (with its echo) and barges in; the bot's
    audio goes out all at once or a chunk per frame, and a second reply follows the cut. Both
    detectors get the same audio; after every frame, the envelope a judgement could read is compared."""
    audio, _, _ = line(150, echo_db, caller_at=3.5)
    vad = VoiceActivityDetector()
    early = ulaw_to_pcm16(speech_ulaw("Hello, is anybody there?"))
    frames = [ulaw_to_pcm16(f) for f in split_frames(pcm16_to_ulaw(early))] + [
        ulaw_to_pcm16(f) for f in split_frames(audio)
    ]
    bot = speech_ulaw(BOT)
    chunks = [bot[i : i + chunk] for i in range(0, len(bot), chunk)]
    sent = 0
    cut_at = bot_at + 1.0
    decisions: list[bool] = []
    for k, pcm in enumerate(frames):
        at = (k + 1) * 0.02
        if at >= bot_at and sent < len(chunks):
            for piece in chunks[sent:] if all_at_once else chunks[sent : sent + 1]:
                lazy.played(piece, at)
                eager.played(piece, at)
                sent += 1
        if cut_at <= at < cut_at + 0.02:
            lazy.cut(at)
            eager.cut(at)
            chunks += chunks[:20]  # the next reply
        if vad.is_speech(pcm):
            decision = lazy.is_echo(pcm, at)
            assert decision == eager.is_echo(pcm, at), f"frame {k}"
            decisions.append(decision)
        else:
            lazy.hear(pcm, at)
            eager.hear(pcm, at)
        # What the next judgement may read: the played envelope from its longest delay back up to the
        # last audio scheduled, the heard one over the correlation window.
        caught_up = copy.deepcopy(lazy)
        caught_up._catch_up()
        end = round(at / 0.01)
        span = lazy._window + lazy._lags + round(max(0.0, lazy._play_end - at) / 0.01) + 2
        first = end - lazy._window - lazy._lags
        assert np.array_equal(caught_up._played.read(first, span), eager._played.read(first, span)), k
        heard = end - lazy._window
        assert np.array_equal(caught_up._heard.read(heard, 80), eager._heard.read(heard, 80)), k
    return decisions


@pytest.mark.parametrize("bot_at", [0.5, 2.3, 3.0])
@pytest.mark.parametrize(("chunk", "all_at_once"), [(400, True), (320, False), (333, False)])
@pytest.mark.parametrize("echo_db", [-15.0, -60.0])
def test_deferred_envelopes_decide_exactly_as_eager_ones(
    bot_at: float, chunk: int, all_at_once: bool, echo_db: float
) -> None:
    lazy, eager = EchoDetector(), _EagerEchoDetector()
    decided = _decisions(lazy, eager, bot_at, chunk=chunk, all_at_once=all_at_once, echo_db=echo_db)
    assert lazy.checks == eager.checks
    assert not all(decided)
    if echo_db > -20.0:  # an audible line: frames near the bot's audio were judged
        assert lazy.checks > 0


def test_a_long_silence_keeps_only_the_correlation_window() -> None:
    det = EchoDetector()
    quiet = np.zeros(160, dtype=np.int16)
    for k in range(10_000):
        det.hear(quiet, (k + 1) * 0.02)
    window_frames = det.settings.window_ms // 20
    assert len(det._unheard) <= window_frames + 1
