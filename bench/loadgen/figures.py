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
from dataclasses import dataclass, field

from bench.loadgen.calls import FRAME_SECONDS, CallResult
from bench.loadgen.stats import percentile
from local.twilio_emulator.caller import voice_to_voice_ms as timeline_voice_to_voice_ms
from local.twilio_emulator.voice import trailing_silence_ms

__all__ = [
    "CallFigures",
    "GapDetail",
    "barge_in_clear_ms",
    "barge_in_reactions_ms",
    "call_figures",
    "percentile",
    "playback_gap_details",
    "playback_gaps_ms",
    "reply_turns",
    "send_lateness_ms",
    "trailing_silence_ms",
    "voice_to_voice_ms",
]


def voice_to_voice_ms(result: CallResult, tail_ms: Callable[[str], float]) -> list[float]:
    """One figure per answered caller turn (the greeting is not a reply to speech)."""
    return timeline_voice_to_voice_ms(result.timeline, tail_ms)


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


@dataclass(frozen=True)
class GapDetail:
    """Where one playback gap fell: the call, its time, and the bot utterances on either side of it.

    Mark names are the host's `u<utterance>.<sentence>.<chunk>` (`stream_server/telephony/playback.py`):
    the same utterance on both sides means the caller heard the pause inside one bot utterance.
    """

    call_sid: str
    start_s: float  # stream seconds when the bot audio stopped
    gap_ms: float
    after_caller_stop_ms: float | None  # since the caller's last utterance (with its trailing silence) ended
    audio_before_ms: float  # the stretch of bot audio that ended at the gap
    mark_before: str  # the first mark echoed after the audio before the gap began
    mark_after: str  # the first mark echoed after the audio resumed
    phone_started_at: float = 0.0  # the phone's monotonic clock at stream second 0
    # What the phone saw from 4 s before the gap to 1 s after it: caller events, clears, the first and last
    # mark of each bot utterance, and the stretches of bot audio played ("t kind detail").
    nearby: tuple[str, ...] = ()

    @property
    def inside_one_utterance(self) -> bool:
        before, after = self.mark_before.split(".")[0], self.mark_after.split(".")[0]
        return bool(before) and before == after

    def describe(self) -> str:
        since = "-" if self.after_caller_stop_ms is None else f"{self.after_caller_stop_ms:.0f} ms"
        where = "inside one utterance" if self.inside_one_utterance else "between utterances"
        return (
            f"{self.call_sid[-8:]} at {self.start_s:.2f} s: {self.gap_ms:.0f} ms silent after "
            f"{self.audio_before_ms:.0f} ms of bot audio, {since} after the caller's turn ended; "
            f"marks {self.mark_before or '-'} -> {self.mark_after or '-'} ({where})"
        )


def _nearby(
    result: CallResult, runs: Sequence[tuple[float, float]], start: float, end: float
) -> tuple[str, ...]:
    seen = [(a, f"bot audio until {b:.2f}") for a, b in runs if b >= start and a <= end]
    last_mark: tuple[float, str] | None = None
    for event in result.timeline:
        if not start <= event.at <= end:
            continue
        if event.kind == "mark":
            utterance = event.detail.split(".")[0]
            if last_mark is None or last_mark[1].split(".")[0] != utterance:
                if last_mark is not None:
                    seen.append((last_mark[0], f"mark {last_mark[1]} (last)"))
                seen.append((event.at, f"mark {event.detail} (first)"))
            last_mark = (event.at, event.detail)
        else:
            seen.append((event.at, f"{event.kind} {event.detail[:40]}".rstrip()))
    if last_mark is not None:
        seen.append((last_mark[0], f"mark {last_mark[1]} (last in window)"))
    return tuple(f"{at:7.2f} {what}" for at, what in sorted(seen))


def playback_gap_details(result: CallResult, *, limit_ms: float = 100.0) -> list[GapDetail]:
    """The gaps `playback_gaps_ms` counts, each with where it fell."""
    runs = _runs(result.played)
    boundaries = [e.at for e in result.timeline if e.kind in ("caller_stop", "barge_in", "caller_start")]
    stops = [e.at for e in result.timeline if e.kind == "caller_stop"]
    marks = [(e.at, e.detail) for e in result.timeline if e.kind == "mark"]
    details = []
    for (prev_start, prev_end), (next_start, _) in itertools.pairwise(runs):
        gap_ms = (next_start - prev_end) * 1000
        if gap_ms <= limit_ms or any(prev_end <= at <= next_start for at in boundaries):
            continue
        # A mark can be echoed well after its chunk played (it arrives after the audio it follows, and a
        # drained buffer echoes it on arrival), so each side is named by the first mark echoed after
        # that stretch of audio began.
        before = [name for at, name in marks if at >= prev_start]
        after = [name for at, name in marks if at >= next_start]
        earlier_stops = [at for at in stops if at <= prev_end]
        details.append(
            GapDetail(
                call_sid=result.call_sid,
                start_s=prev_end,
                gap_ms=gap_ms,
                after_caller_stop_ms=(prev_end - earlier_stops[-1]) * 1000 if earlier_stops else None,
                audio_before_ms=(prev_end - prev_start) * 1000,
                mark_before=before[0] if before else "",
                mark_after=after[0] if after else "",
                phone_started_at=result.started_at,
                nearby=_nearby(result, runs, prev_end - 4.0, next_start + 1.0),
            )
        )
    return details


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
    gap_details: list[GapDetail] = field(default_factory=list)


def call_figures(results: Iterable[CallResult], tail_ms: Callable[[str], float]) -> CallFigures:
    results = list(results)
    v2v: list[float] = []
    barge: list[float] = []
    barge_clear: list[float] = []
    gaps: list[float] = []
    details: list[GapDetail] = []
    lateness: list[float] = []
    errors: list[str] = []
    completed = 0
    seconds = 0.0
    for result in results:
        v2v += voice_to_voice_ms(result, tail_ms)
        barge += barge_in_reactions_ms(result)
        barge_clear += barge_in_clear_ms(result)
        gaps += playback_gaps_ms(result)
        details += playback_gap_details(result)
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
        gap_details=details,
    )
