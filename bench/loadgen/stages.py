"""Where a reply's time goes: per-stage latencies of our host's answered turns, read from what it stored.

Our stream host stores each reply's timings on its assistant turn (`latency_ms`), measured from the
caller's last voiced frame on the host's own clock: the end-of-turn decision (`end_of_turn`), the
final transcript's arrival (`final_after_speech`), the reply's start (`reply_start_after_speech`) plus
the LLM's first token and the TTS's first audio byte after that start. The phone's side
(voice-to-voice, measured by the load generator) closes the waterfall: what is left after the TTS's
first audio is sending, Twilio-side buffering and playback ("transport").

Pure reading; the harness passes the turns it fetched from the bench table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["STAGES", "reply_stages"]

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
