"""Where a reply's time goes: per-stage latencies of our host's answered turns, read from what it stored.

Our stream host stores each reply's timings on its assistant turn (`latency_ms`), measured from the
caller's last voiced frame on the host's own clock: the end-of-turn decision (`end_of_turn`), the
final transcript's arrival (`final_after_speech`), the reply's start (`reply_start_after_speech`) plus
the LLM's first token and the TTS's first audio byte after that start. The phone's side
(voice-to-voice, measured by the load generator) closes the waterfall: what is left after the TTS's
first audio is sending, Twilio-side buffering and playback ("transport").

The second half measures both systems alike from outside (`phone_waterfall`).

Pure reading; the harness passes the turns it fetched from the bench table, the phone's timeline and
the fakes' milestones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["PHONE_STAGES", "STAGES", "STRETCHES", "phone_waterfall", "reply_stages", "stretch_totals"]

# Milestones after the caller's last voiced audio, in the order a reply passes them.
STAGES = ("end of turn decided", "STT final", "LLM first token", "TTS first audio")


def reply_stages(turns: Iterable[Any]) -> list[dict[str, float]]:
    """One dict per answered caller turn: each milestone in ms after the caller's last voice.

    `turns` are `TranscriptTurn`s (or anything with `role` and `latency_ms`); replies without the
    timings (the greeting, an interrupted reply, a host that does not record them) are skipped.
    """
    out: list[dict[str, float]] = []
    for turn in turns:
        if turn.role != "assistant":
            continue
        latency: Mapping[str, float] = turn.latency_ms
        needed = ("end_of_turn", "final_after_speech", "reply_start_after_speech", "llm_first_token")
        if not all(key in latency for key in needed) or "tts_first_byte" not in latency:
            continue
        start = latency["reply_start_after_speech"]
        out.append(
            {
                "end of turn decided": latency["end_of_turn"],
                "STT final": latency["final_after_speech"],
                "LLM first token": start + latency["llm_first_token"],
                "TTS first audio": start + latency["tts_first_byte"],
            }
        )
    return out


# Milestones measured outside both systems, on one clock: the shared fakes note each request's
# milestones (bench/loadgen/fakes.py), the emulated phone notes the caller's last voice and the
# first reply sample heard. Same stages for ours and Pipecat, so their waterfalls compare.
PHONE_STAGES = (
    "STT commit",
    "STT final",
    "LLM request",
    "LLM first token",
    "TTS request",
    "TTS first audio",
    "heard",
)
# What each stretch between two milestones is: a provider's latency, a deliberate wait for silence
# (or for the turn to be confirmed), or the system's own processing and transport.
STRETCHES = (
    ("silence to commit", "wait", None, "STT commit"),
    ("STT final", "provider", "STT commit", "STT final"),
    ("turn decision", "wait", "STT final", "LLM request"),
    ("LLM first token", "provider", "LLM request", "LLM first token"),
    ("text to TTS", "own", "LLM first token", "TTS request"),
    ("TTS first audio", "provider", "TTS request", "TTS first audio"),
    ("to the ear", "own", "TTS first audio", "heard"),
)


def _first(events: Sequence[tuple[float, str]], name: str, after: float, before: float) -> float | None:
    return next((t for t, n in events if n == name and after <= t <= before), None)


def _last(events: Sequence[tuple[float, str]], name: str, after: float, before: float) -> float | None:
    found = [t for t, n in events if n == name and after <= t <= before]
    return found[-1] if found else None


def phone_waterfall(
    turns: Iterable[tuple[float, float]], milestones: Sequence[tuple[float, str]]
) -> list[dict[str, float]]:
    """Each answered turn's milestones, in ms after the caller's last voice.

    `turns`: (last voice, first reply sample heard) per answered turn, in monotonic seconds;
    `milestones`: (monotonic seconds, name) from the fakes, for a call that had them to itself. The
    reply heard is the one whose LLM request came last before it; the STT commit is the last before
    that request; every later milestone is the first of its kind after the one before. Turns missing
    a milestone are skipped.
    """
    events = sorted(milestones)
    out: list[dict[str, float]] = []
    for voice, heard in turns:
        earliest = voice - 1.0  # a reply started on words said before the last pause still counts
        request = _last(events, "llm_request", earliest, heard)
        if request is None:
            continue
        commit = _last(events, "stt_commit", earliest, request)
        final = _first(events, "stt_final", commit, heard) if commit is not None else None
        token = _first(events, "llm_first_token", request, heard)
        tts = _first(events, "tts_request", token, heard) if token is not None else None
        audio = _first(events, "tts_first_audio", tts, heard) if tts is not None else None
        times = (commit, final, request, token, tts, audio, heard)
        if any(t is None for t in times):
            continue
        out.append(
            {
                name: round((t - voice) * 1000.0, 1)
                for name, t in zip(PHONE_STAGES, times, strict=True)
                if t is not None
            }
        )
    return out


def stretch_totals(row: Mapping[str, float]) -> dict[str, float]:
    """One turn's milestones summed by kind: ms waiting, in providers, and in the system's own work."""
    totals = {"wait": 0.0, "provider": 0.0, "own": 0.0}
    for _, kind, start, end in STRETCHES:
        totals[kind] += row[end] - (row[start] if start is not None else 0.0)
    return totals
