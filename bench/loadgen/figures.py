"""Figures read from call results: pure functions, no I/O, so the smoke test can check them exactly.

Definitions (all times at the emulated phone, in stream seconds):
- voice to voice: the caller's last *speech* sample (the utterance end minus eSpeak's trailing
  silence) to the first bot audio sample played after it;
- barge-in reaction: the caller's speech onset over bot audio to the end of the run of bot audio that
  was playing then (with `clear` that is the flush; without it, the reply playing out); and the same
  onset to the system's `clear` reaching the phone;
- playback gap: bot audio paused for longer than the limit with no caller turn ended (and no
  barge-in) in between, i.e. a stall the caller hears in the middle of a reply;
- send lateness: how far the load generator's 20 ms frames slipped behind schedule (if large, the
  load generator, not the system under test, was the limit).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.loadgen.calls import FRAME_SECONDS, CallResult
from bench.loadgen.stats import percentile
from stream_server.audio.codec import ulaw_to_pcm16

__all__ = [
    "CallFigures",
    "barge_in_clear_ms",
    "barge_in_reactions_ms",
    "call_figures",
    "percentile",
    "playback_gaps_ms",
    "reply_turns",
    "send_lateness_ms",
    "trailing_silence_ms",
    "voice_to_voice_ms",
]

_SPEECH_LEVEL = 500  # PCM16 magnitude above which a sample counts as speech (eSpeak pads with near-zero)


def trailing_silence_ms(ulaw: bytes) -> float:
    """How long rendered speech goes on after its last audible sample."""
    pcm = np.abs(ulaw_to_pcm16(ulaw).astype(np.int32))
    loud = np.flatnonzero(pcm > _SPEECH_LEVEL)
    if loud.size == 0:
        return len(pcm) / 8.0
    return (len(pcm) - 1 - int(loud[-1])) / 8.0


def voice_to_voice_ms(result: CallResult, tail_ms: Callable[[str], float]) -> list[float]:
    """One figure per answered caller turn (the greeting is not a reply to speech)."""
    figures = []
    last_stop: tuple[float, str] | None = None
    for event in result.timeline:
        if event.kind == "caller_stop":
            last_stop = (event.at, event.detail)
        elif event.kind == "bot_reply_start" and last_stop is not None and event.value is not None:
            figures.append(event.value + tail_ms(last_stop[1]))
            last_stop = None
    return figures


def _runs(played: Sequence[tuple[float, float]], join_s: float = 0.001) -> list[tuple[float, float]]:
    runs: list[tuple[float, float]] = []
    for start, end in sorted(played):
        if runs and start <= runs[-1][1] + join_s:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return runs


def barge_in_reactions_ms(result: CallResult) -> list[float]:
    """Speech onset over the bot -> bot audio stopped, per barge-in."""
    runs = _runs(result.played)
    figures = []
    for event in result.timeline:
        if event.kind != "barge_in":
            continue
        for start, end in runs:
            if start <= event.at < end:
                figures.append((end - event.at) * 1000)
                break
    return figures


def barge_in_clear_ms(result: CallResult) -> list[float]:
    """Speech onset over the bot -> the system's `clear` reaching the phone, per barge-in that got one."""
    clears = [e.at for e in result.timeline if e.kind == "clear"]
    figures = []
    for event in result.timeline:
        if event.kind == "barge_in":
            after = [at for at in clears if at >= event.at]
            if after:
                figures.append((after[0] - event.at) * 1000)
    return figures


def reply_turns(result: CallResult, tail_ms: Callable[[str], float]) -> list[tuple[float, float]]:
    """(caller's last voice, first reply sample heard) per answered turn, on the phone's monotonic clock."""
    turns = []
    last_stop: tuple[float, str] | None = None
    for event in result.timeline:
        if event.kind == "caller_stop":
            last_stop = (event.at, event.detail)
        elif event.kind == "bot_reply_start" and last_stop is not None and event.value is not None:
            voice = result.started_at + last_stop[0] - tail_ms(last_stop[1]) / 1000
            turns.append((voice, result.started_at + event.at))
            last_stop = None
    return turns


def playback_gaps_ms(result: CallResult, *, limit_ms: float = 100.0) -> list[float]:
    """Pauses in bot audio longer than `limit_ms` that no caller turn explains."""
    runs = _runs(result.played)
    boundaries = [e.at for e in result.timeline if e.kind in ("caller_stop", "barge_in", "caller_start")]
    gaps = []
    for (_, prev_end), (next_start, _) in itertools.pairwise(runs):
        gap_ms = (next_start - prev_end) * 1000
        if gap_ms <= limit_ms:
            continue
        if any(prev_end <= at <= next_start for at in boundaries):
            continue
        gaps.append(gap_ms)
    return gaps


def send_lateness_ms(result: CallResult) -> list[float]:
    """Per frame: actual send time minus the 20 ms schedule."""
    return [(at - n * FRAME_SECONDS) * 1000 for n, at in enumerate(result.sent_at)]


@dataclass(frozen=True)
class CallFigures:
    """All figures of a batch of calls."""

    calls: int
    completed: int
    voice_to_voice_ms: list[float]
    barge_in_ms: list[float]
    barge_in_clear_ms: list[float]
    gaps_ms: list[float]
    send_lateness_p99_ms: float
    errors: list[str]
    call_seconds: float


def call_figures(results: Iterable[CallResult], tail_ms: Callable[[str], float]) -> CallFigures:
    results = list(results)
    v2v: list[float] = []
    barge: list[float] = []
    barge_clear: list[float] = []
    gaps: list[float] = []
    lateness: list[float] = []
    errors: list[str] = []
    completed = 0
    seconds = 0.0
    for result in results:
        v2v += voice_to_voice_ms(result, tail_ms)
        barge += barge_in_reactions_ms(result)
        barge_clear += barge_in_clear_ms(result)
        gaps += playback_gaps_ms(result)
        lateness += send_lateness_ms(result)
        errors += result.errors
        seconds += len(result.sent_at) * FRAME_SECONDS
        if result.outcome.ended_by == "caller_hung_up":
            completed += 1
    return CallFigures(
        calls=len(results),
        completed=completed,
        voice_to_voice_ms=v2v,
        barge_in_ms=barge,
        barge_in_clear_ms=barge_clear,
        gaps_ms=gaps,
        send_lateness_p99_ms=percentile(lateness, 99),
        errors=errors,
        call_seconds=seconds,
    )
