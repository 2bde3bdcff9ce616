"""A reply's latency as a waterfall: which stage ran when, in ms after the caller stopped speaking.

Pure. The stream host stores per-turn figures on each assistant turn (`latency_ms`): `end_of_turn`
(the silence waited before the turn was declared over) and `stt` (from that decision to the final
transcript), measured from the caller's last speech; `reply_start_after_speech` (when the reply was
started, on the same clock: a reply started speculatively on the words so far starts *before* the
end of turn is declared, and the bars then overlap); `llm_first_token`, `tts_first_byte` and
`first_audio`, measured from the start of the reply. Without `reply_start_after_speech` the reply is
taken to start when the final transcript is in (`end_of_turn + stt`). A reply that answers no caller
turn (the greeting, a re-ask after silence) has only the reply's own stages, counted from when the
bot chose to speak. The web console draws the same segments (`functions/console/static/waterfall.js`
follows this module; the browser test compares the two).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["STAGES", "Segment", "total_ms", "turn_waterfall"]

# (key in latency_ms, label, measured from): the order segments are drawn in.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("end_of_turn", "end-of-turn wait", "caller"),
    ("stt", "speech-to-text final", "caller"),
    ("llm_first_token", "LLM first token", "reply"),
    ("tts_first_byte", "TTS first audio", "reply"),
    ("first_audio", "first audio sent", "reply"),
)
# When the reply started, in ms after the caller's last speech (stored with the caller's waits).
REPLY_START = "reply_start_after_speech"


@dataclass(frozen=True)
class Segment:
    stage: str
    label: str
    start_ms: float
    end_ms: float

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


def _ms(latency_ms: Mapping[str, float], key: str) -> float | None:
    value = latency_ms.get(key)
    return max(0.0, float(value)) if isinstance(value, int | float) else None


def turn_waterfall(latency_ms: Mapping[str, float]) -> list[Segment]:
    """The segments of one reply, each starting where the stage it waits on ended.

    Caller-side stages chain from 0; reply-side stages chain from the reply's start
    (``reply_start_after_speech``, else ``end_of_turn + stt``), each from the previous reply
    stage's end. Missing stages are skipped.
    """
    segments: list[Segment] = []
    caller_end = 0.0
    for key, label, origin in STAGES:
        value = _ms(latency_ms, key)
        if origin == "caller" and value is not None:
            segments.append(Segment(key, label, caller_end, caller_end + value))
            caller_end += value
    started = _ms(latency_ms, REPLY_START)
    reply_start = started if started is not None else caller_end
    previous = reply_start
    for key, label, origin in STAGES:
        value = _ms(latency_ms, key)
        if origin == "reply" and value is not None:
            end = max(previous, reply_start + value)
            segments.append(Segment(key, label, previous, end))
            previous = end
    return segments


def total_ms(segments: list[Segment]) -> float:
    """Where the waterfall ends: the latest end of any stage (0 when there is none)."""
    return max((s.end_ms for s in segments), default=0.0)
